/*
 * store/store: the dispatcher of store.h.  It chooses the backend by the database value, opens
 * the database through the backend's table (lib/store/backend.h), and runs every call there,
 * doing once what every backend would do the same way: the argument checks, the transactions of
 * the writes that touch several rows, taking a connection for the call, and the reopen of
 * store_check().
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

enum store_status store_error_set(struct store_error *err, enum store_status status,
                                  const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return status;
    err->sqlstate[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return status;
}

/* Whether the database is lost (store_check), with why in err. */
static bool store_lost(struct store *s, struct store_error *err)
{
    bool lost;

    pthread_mutex_lock(&s->lost_lock);
    lost = s->lost;
    if (lost)
        store_error_set(err, STORE_ERROR, "%s", s->lost_why);
    pthread_mutex_unlock(&s->lost_lock);
    return lost;
}

/* Asked with the connection held: store_check() detaches the old database with it held. */
struct store_conn *store_conn_get(struct store *s, struct store_error *err)
{
    struct store_conn *c = s->be->acquire(s->db);

    if (!store_lost(s, err))
        return c;
    s->be->release(c);
    return NULL;
}

void store_conn_put(struct store *s, struct store_conn *c)
{
    s->be->release(c);
}

/*
 * Timed from its begin to its commit or rollback, whatever the backend, for the daemon's counters
 * (lib/metrics.h).  A read transaction refused as busy is the greylist's upgrade that lost to
 * another writer (greylist_txn.c): it runs again as a write, so it is "retried", not a failure.
 */
void store_txn_count(enum store_txn kind, enum store_status status, int64_t start_us)
{
    metrics_store_txn(status == STORE_ERROR     ? METRICS_STORE_ERROR
                      : status != STORE_BUSY    ? METRICS_STORE_OK
                      : kind != STORE_TXN_WRITE ? METRICS_STORE_RETRIED
                                                : METRICS_STORE_BUSY,
                      metrics_now_us() - start_us);
}

enum store_status store_txn(struct store *s, struct store_conn *c, enum store_txn kind,
                            store_txn_body body, const void *arg, struct store_error *err)
{
    int64_t start = metrics_now_us();
    enum store_status status;

    /* A dry run writes nothing, so it never needs the write lock (nor a file it may write), and
     * the engine refuses any write its stubs (dry_run.c) would miss. */
    if (s->dry_run_backend != NULL)
        kind = STORE_TXN_READ_ONLY;
    status = s->be->begin(c, kind, err);

    if (status == STORE_OK)
        status = body(s, c, arg, err);
    if (status == STORE_OK)
        status = s->be->commit(c, err);
    if (status != STORE_OK)
        s->be->rollback(c);
    store_txn_count(kind, status, start);
    return status;
}

enum store_status store_write_txn(struct store *s, store_txn_body body, const void *arg,
                                  struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = store_txn(s, c, STORE_TXN_WRITE, body, arg, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_expire_step(struct store *s,
                                    enum store_status (*op)(struct store_conn *c, int64_t before,
                                                            size_t *left, struct store_error *err),
                                    int64_t before, size_t batch, size_t *deleted,
                                    struct store_error *err)
{
    size_t left = batch;
    struct store_conn *c = store_conn_get(s, err);

    *deleted = 0;
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = op(c, before, &left, err);

    store_conn_put(s, c);
    *deleted = batch - left;
    return status;
}

/* ---- the database value ---- */

/*
 * libpq's connection strings: a URI, or "keyword = value" settings (a keyword is letters and
 * '_', so a path, which has a '/' or a '.' before any '=', is never one).
 */
static bool is_postgresql(const char *database)
{
    const char *p = database;

    if (strncmp(p, "postgresql://", 13) == 0 || strncmp(p, "postgres://", 11) == 0)
        return true;
    while (isspace((unsigned char)*p))
        p++;
    if (!isalpha((unsigned char)*p) && *p != '_')
        return false;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    while (isspace((unsigned char)*p))
        p++;
    return *p == '=';
}

/* The backend for database, or NULL with err.  The value is not repeated in a message: a
 * PostgreSQL one may hold a password. */
static const struct store_backend *backend_for(const char *database, struct store_error *err)
{
    if (database == NULL || *database == '\0') {
        store_error_set(err, STORE_ERROR, "no database given");
        return NULL;
    }
    return is_postgresql(database) ? &store_backend_postgresql : &store_backend_sqlite;
}

bool store_database_is_postgresql(const char *database)
{
    return database != NULL && is_postgresql(database);
}

void store_database_shown(const char *database, char *out, size_t outlen)
{
    if (database != NULL && is_postgresql(database))
        store_pg_shown(database, out, outlen);
    else
        snprintf(out, outlen, "%s", database != NULL ? database : "");
}

bool store_check_location(const char *database, const struct store_runas *who,
                          struct store_error *err)
{
    const struct store_backend *be = backend_for(database, err);

    return be != NULL && (be->check_location == NULL || be->check_location(database, who, err));
}

void store_set_owner(const char *database, uid_t uid, gid_t gid)
{
    const struct store_backend *be = backend_for(database, NULL);

    if (be != NULL && be->set_owner != NULL)
        be->set_owner(database, uid, gid);
}

/* ---- opening ---- */

/*
 * Opens database with be: the connection, then the migrations it lacks, then what needs the
 * tables (prepared statements).  NULL with err (never NULL here) on failure.
 */
static struct store_db *open_migrated(const struct store_backend *be, const char *database,
                                      int64_t busy_timeout_ms, bool create, mode_t mode,
                                      struct store_error *err)
{
    struct store_db *db = be->open(database, busy_timeout_ms, create, mode, err);
    bool ok;

    if (db == NULL)
        return NULL;
    struct store_conn *c = be->acquire(db);
    ok = store_schema_migrate(be, c, be->display_name(db), err);
    be->release(c);
    if (ok && be->prepare(db, err) == STORE_OK)
        return db;
    be->close(db);
    return NULL;
}

static struct store *open_store(const char *database, int64_t busy_timeout_ms, bool create,
                                mode_t mode, struct store_error *err)
{
    struct store_error own;
    const struct store_backend *be;
    struct store_db *db;
    struct store *s;

    if (err == NULL)
        err = &own;
    be = backend_for(database, err);
    if (be == NULL)
        return NULL;
    db = open_migrated(be, database, busy_timeout_ms, create, mode, err);
    if (db == NULL)
        return NULL;
    s = xcalloc(1, sizeof *s);
    s->be = be;
    s->db = db;
    s->database = xstrdup(database);
    s->busy_timeout_ms = busy_timeout_ms;
    s->mode = mode;
    pthread_mutex_init(&s->lost_lock, NULL);
    store_dmarc_init(s);
    return s;
}

struct store *store_open(const char *database, int64_t busy_timeout_ms, struct store_error *err)
{
    return open_store(database, busy_timeout_ms, true, STORE_MODE_DEFAULT, err);
}

struct store *store_open_mode(const char *database, int64_t busy_timeout_ms, mode_t mode,
                              struct store_error *err)
{
    return open_store(database, busy_timeout_ms, true, mode, err);
}

struct store *store_open_existing(const char *database, int64_t busy_timeout_ms,
                                  struct store_error *err)
{
    return open_store(database, busy_timeout_ms, false, 0, err);
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    store_decision_writer_stop(s);
    store_dmarc_stop(s);
    s->be->close(s->db);
    free(s->dry_run_backend);
    pthread_mutex_destroy(&s->lost_lock);
    free(s->database);
    free(s);
}

/* ---- store_check: the database gone, and back ---- */

/* Marks s lost with why (every call fails with it), or, with NULL, usable again. */
static void store_set_lost(struct store *s, const char *why)
{
    pthread_mutex_lock(&s->lost_lock);
    s->lost = why != NULL;
    str_copy(s->lost_why, sizeof s->lost_why, why != NULL ? why : "");
    pthread_mutex_unlock(&s->lost_lock);
}

/* Whether the database must be opened again: lost already, or no longer what the value names. */
static bool store_moved(struct store *s)
{
    struct store_conn *c = s->be->acquire(s->db);
    bool moved = store_lost(s, NULL) || s->be->identity_changed(c);

    s->be->release(c);
    return moved;
}

/*
 * Lets the old database go, once, then opens the one the value names now (creating it, with its
 * schema).  The old one is closed first, with the writer's part (its own connection), so that
 * nothing reads or writes it any more, its space comes back, and its files are not mistaken for
 * the new one's.  From then on until a new one is adopted every call fails (store_conn_get):
 * reads too, as what the old one held is not the truth any more.
 */
static enum store_status store_reopen(struct store *s, bool *reopened, struct store_error *err)
{
    const struct store_backend *be = s->be;
    struct store_error why;
    struct store_conn *c;
    struct store_db *fresh;

    if (!store_lost(s, NULL)) {
        if (s->writer.running && be->writer_stop != NULL)
            be->writer_stop(s->db);
        c = be->acquire(s->db);
        be->detach(c);
        store_error_set(&why, STORE_ERROR,
                        "database %s was removed or replaced under the running milter",
                        be->display_name(s->db));
        store_set_lost(s, why.text);
        be->release(c);
    }
    fresh = open_migrated(be, s->database, s->busy_timeout_ms, true, s->mode, err);
    if (fresh == NULL) {
        store_error_set(&why, STORE_ERROR,
                        "database %s was removed or replaced under the running milter, and none "
                        "can be opened there: %s",
                        be->display_name(s->db), err->text);
        store_set_lost(s, why.text);
        return store_error_set(err, STORE_ERROR, "%s", why.text);
    }
    c = be->acquire(s->db);
    be->adopt(c, fresh, err);
    store_set_lost(s, NULL);
    be->release(c);
    be->close(fresh); /* now what the old connection left */
    *reopened = true;
    if (s->writer.running && be->writer_start != NULL && be->writer_start(s->db, &why) != STORE_OK)
        log_msg(LOG_WARNING, "decision log: %s (the engine's own housekeeping meanwhile)",
                why.text);
    return STORE_OK;
}

/*
 * One look under the connection when nothing moved.  Otherwise the decision writer's batches
 * and housekeeping wait (its write_lock) while the database is let go and opened again.
 */
enum store_status store_check(struct store *s, bool *reopened, struct store_error *err)
{
    struct store_error own;
    struct decision_writer *w = &s->writer;
    enum store_status status;

    *reopened = false;
    if (s->be->identity_changed == NULL || !store_moved(s))
        return STORE_OK;
    if (w->running)
        pthread_mutex_lock(&w->write_lock);
    status = store_reopen(s, reopened, err != NULL ? err : &own);
    if (w->running)
        pthread_mutex_unlock(&w->write_lock);
    return status;
}

/* ---- greylist ---- */

struct greylist_expiry {
    int64_t pending_before, confirmed_before, autoallow_before;
    size_t *left;
};

static enum store_status greylist_expire_body(struct store *s, struct store_conn *c,
                                              const void *arg, struct store_error *err)
{
    const struct greylist_expiry *e = arg;

    return s->be->greylist_expire(c, e->pending_before, e->confirmed_before, e->autoallow_before,
                                  e->left, err);
}

enum store_status store_greylist_expire(struct store *s, int64_t pending_before,
                                        int64_t confirmed_before, int64_t autoallow_before,
                                        size_t batch, size_t *deleted, struct store_error *err)
{
    size_t left = batch;
    struct greylist_expiry e = {pending_before, confirmed_before, autoallow_before, &left};
    enum store_status status;

    *deleted = 0;
    status = store_write_txn(s, greylist_expire_body, &e, err);
    if (status == STORE_OK)
        *deleted = batch - left;
    return status;
}

/* ---- lists ---- */

enum store_status store_lists_version(struct store *s, int64_t *version, struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->lists_version(c, version, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_list_each(struct store *s, const char *kind, int64_t live_at,
                                  void (*fn)(const struct list_entry *e, void *arg), void *arg,
                                  struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->list_each(c, kind, live_at, fn, arg, err);

    store_conn_put(s, c);
    return status;
}

static enum store_status list_entry_check(const struct list_entry *e, struct store_error *err)
{
    if (e->kind != NULL && e->value != NULL && e->action != NULL)
        return STORE_OK;
    return store_error_set(err, STORE_ERROR, "a list entry needs a kind, a value and an action");
}

enum store_status store_list_add(struct store *s, const struct list_entry *e, char *previous,
                                 size_t previous_len, struct store_error *err)
{
    enum store_status status = list_entry_check(e, err);

    if (status == STORE_OK) {
        struct store_conn *c = store_conn_get(s, err);
        if (c == NULL)
            return STORE_ERROR;
        status = s->be->list_put(c, e, previous, previous_len, err);
        store_conn_put(s, c);
    }
    return status;
}

struct entries {
    const struct list_entry *e;
    size_t n;
};

static enum store_status list_import_body(struct store *s, struct store_conn *c, const void *arg,
                                          struct store_error *err)
{
    const struct entries *entries = arg;
    enum store_status status = STORE_OK;

    for (size_t i = 0; status == STORE_OK && i < entries->n; i++) {
        status = list_entry_check(&entries->e[i], err);
        if (status == STORE_OK)
            status = s->be->list_put(c, &entries->e[i], NULL, 0, err);
    }
    return status;
}

enum store_status store_list_import(struct store *s, const struct list_entry *entries, size_t n,
                                    struct store_error *err)
{
    struct entries all = {entries, n};

    return store_write_txn(s, list_import_body, &all, err);
}

enum store_status store_list_del(struct store *s, const char *kind, const char *value,
                                 struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->list_del(c, kind, value, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_rule_add(struct store *s, const struct rcpt_rule *r, char *previous,
                                 size_t previous_len, struct store_error *err)
{
    enum store_status status;

    if (r->recipient == NULL || r->sender == NULL || r->action == NULL)
        return store_error_set(err, STORE_ERROR,
                               "a rule needs a recipient, a sender and an action");
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    status = s->be->rule_put(c, r, previous, previous_len, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_rule_del(struct store *s, const char *recipient, const char *sender,
                                 struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->rule_del(c, recipient, sender, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_rule_each(struct store *s, const char *recipient,
                                  void (*fn)(const struct rcpt_rule *r, void *arg), void *arg,
                                  struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->rule_each(c, recipient, fn, arg, err);

    store_conn_put(s, c);
    return status;
}

/* ---- accounts ---- */

static enum store_status need_account_name(const char *name, struct store_error *err)
{
    if (name != NULL)
        return STORE_OK;
    return store_error_set(err, STORE_ERROR, "an account needs a name");
}

enum store_status store_account_add(struct store *s, const char *name, int64_t now, bool *created,
                                    struct store_error *err)
{
    enum store_status status;

    if (created != NULL)
        *created = false;
    status = need_account_name(name, err);
    if (status == STORE_OK) {
        struct store_conn *c = store_conn_get(s, err);
        if (c == NULL)
            return STORE_ERROR;
        status = s->be->account_add(c, name, now, created, err);
        store_conn_put(s, c);
    }
    return status;
}

enum store_status store_account_each(struct store *s, const char *name,
                                     void (*fn)(const struct store_account *a, void *arg),
                                     void *arg, struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->account_each(c, name, fn, arg, err);

    store_conn_put(s, c);
    return status;
}

struct alias_add {
    const struct store_alias *alias;
    bool *created;
};

static enum store_status alias_add_body(struct store *s, struct store_conn *c, const void *arg,
                                        struct store_error *err)
{
    const struct alias_add *a = arg;
    enum store_status status =
        s->be->account_add(c, a->alias->account, a->alias->added_at, NULL, err);

    if (status == STORE_OK)
        status = s->be->alias_add(c, a->alias, a->created, err);
    return status;
}

enum store_status store_alias_add(struct store *s, const struct store_alias *alias, bool *created,
                                  struct store_error *err)
{
    struct alias_add a = {alias, created};

    if (created != NULL)
        *created = false;
    if (alias->account == NULL || alias->address == NULL)
        return store_error_set(err, STORE_ERROR, "an alias needs an account and an address");
    return store_write_txn(s, alias_add_body, &a, err);
}

enum store_status store_alias_del(struct store *s, const char *account, const char *address,
                                  struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->alias_del(c, account, address, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_alias_each(struct store *s, const char *account,
                                   void (*fn)(const struct store_alias *a, void *arg), void *arg,
                                   struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->alias_each(c, account, fn, arg, err);

    store_conn_put(s, c);
    return status;
}

struct suspend {
    const char *name, *reason;
    int64_t now;
    bool *changed;
};

static enum store_status suspend_body(struct store *s, struct store_conn *c, const void *arg,
                                      struct store_error *err)
{
    const struct suspend *a = arg;
    enum store_status status = s->be->account_add(c, a->name, a->now, NULL, err);

    if (status == STORE_OK)
        status = s->be->account_suspend(c, a->name, a->now, a->reason, a->changed, err);
    return status;
}

enum store_status store_account_suspend(struct store *s, const char *name, int64_t now,
                                        const char *reason, bool *changed, struct store_error *err)
{
    struct suspend a = {name, reason, now, changed};
    enum store_status status;

    if (changed != NULL)
        *changed = false;
    status = need_account_name(name, err);
    if (status == STORE_OK)
        status = store_write_txn(s, suspend_body, &a, err);
    return status;
}

enum store_status store_account_suspended(struct store *s, const char *name, int64_t *since,
                                          char *reason, size_t reason_len, struct store_error *err)
{

    *since = 0;
    reason[0] = '\0';
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->account_suspended(c, name, since, reason, reason_len, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_account_resume(struct store *s, const char *name, struct store_error *err)
{

    if (name == NULL)
        return STORE_NOTFOUND;
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->account_resume(c, name, err);
    store_conn_put(s, c);
    return status;
}

/* ---- held ---- */

/* A copy of text made valid UTF-8 (str_utf8_sanitize), NULL for NULL; the caller frees it. */
static char *text_valid(const char *text)
{
    char *copy = text != NULL ? xstrdup(text) : NULL;

    if (copy != NULL)
        str_utf8_sanitize(copy);
    return copy;
}

/*
 * The texts of a held row come from the network (a raw 8-bit Subject is common, the addresses and
 * the queue id are the MTA's word): they are made valid UTF-8 first, as a decision's are, or a
 * PostgreSQL database refuses the row and the message is deferred at every try.
 */
enum store_status store_held_add(struct store *s, const struct store_held *h,
                                 struct store_error *err)
{
    if (h->queue_id == NULL || h->queue_id[0] == '\0' || h->account == NULL)
        return store_error_set(err, STORE_ERROR, "a held message needs a queue id and an account");
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    char *texts[] = {text_valid(h->queue_id),   text_valid(h->account), text_valid(h->sender),
                     text_valid(h->recipients), text_valid(h->subject), text_valid(h->reason)};
    struct store_held valid = *h;
    valid.queue_id = texts[0];
    valid.account = texts[1];
    valid.sender = texts[2];
    valid.recipients = texts[3];
    valid.subject = texts[4];
    valid.reason = texts[5];
    enum store_status status = s->be->held_add(c, &valid, err);
    store_conn_put(s, c);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        free(texts[i]);
    return status;
}

enum store_status store_held_each(struct store *s, const char *queue_id, const char *account,
                                  const char *state,
                                  void (*fn)(const struct store_held *h, void *arg), void *arg,
                                  struct store_error *err)
{
    struct store_held_query q = {.queue_id = queue_id, .account = account, .state = state};

    return store_held_list(s, &q, fn, arg, NULL, err);
}

enum store_status store_held_list(struct store *s, const struct store_held_query *q,
                                  void (*fn)(const struct store_held *h, void *arg), void *arg,
                                  int64_t *total, struct store_error *err)
{
    struct store_held_query page = *q;

    if (q->limit < 0 || q->offset < 0) {
        store_error_set(err, STORE_ERROR, "held list: a negative limit or offset");
        return STORE_ERROR;
    }
    if (page.limit == 0)
        page.limit = INT64_MAX;
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->held_each(c, &page, fn, arg, total, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_held_decide(struct store *s, const char *queue_id, const char *host,
                                    const char *state, const char *by, const char *reason,
                                    int64_t now, struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->held_decide(c, queue_id, host, state, by, reason, now, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_held_undo(struct store *s, const char *queue_id, const char *host,
                                  const char *state, const char *by, int64_t at,
                                  struct store_error *err)
{
    if (queue_id == NULL || state == NULL || by == NULL)
        return STORE_NOTFOUND;
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->held_undo(c, queue_id, host, state, by, at, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_maintenance_lock(struct store *s, bool *held, struct store_error *err)
{
    *held = false;
    if (s->be->maintenance_lock == NULL) {
        *held = true;
        return STORE_OK;
    }
    return s->be->maintenance_lock(s->db, held, err);
}

enum store_status store_held_expire(struct store *s, int64_t before, size_t batch, size_t *deleted,
                                    struct store_error *err)
{
    return store_expire_step(s, s->be->held_expire, before, batch, deleted, err);
}

/* ---- changes ---- */

enum store_status store_change_add(struct store *s, const struct store_change *ch,
                                   struct store_error *err)
{
    if (ch->who == NULL || ch->who[0] == '\0' || ch->what == NULL || ch->what[0] == '\0' ||
        ch->key == NULL || ch->key[0] == '\0')
        return store_error_set(err, STORE_ERROR, "a change needs who made it, what and its key");
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->change_add(c, ch, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_change_each(struct store *s, const char *key, int64_t since, int64_t until,
                                    size_t limit,
                                    void (*fn)(const struct store_change *ch, void *arg), void *arg,
                                    struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    /* -1: SQLite's and PostgreSQL's LIMIT with no limit (PostgreSQL: NULL; see the backends) */
    int64_t most = limit > 0 && limit < INT64_MAX ? (int64_t)limit : -1;
    enum store_status status =
        s->be->change_each(c, key, since, until > 0 ? until : INT64_MAX, most, fn, arg, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_change_expire(struct store *s, int64_t before, size_t batch,
                                      size_t *deleted, struct store_error *err)
{
    return store_expire_step(s, s->be->change_expire, before, batch, deleted, err);
}

/* ---- review requests and explanations ---- */

enum store_status store_review_add(struct store *s, const struct store_review *r, int64_t open_max,
                                   struct store_error *err)
{
    if (r->ref == NULL || r->client == NULL || r->contact == NULL || r->text == NULL)
        return store_error_set(
            err, STORE_ERROR, "a review request needs a reference, a client, a contact and a text");
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->review_add(c, r, open_max, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_review_each(struct store *s, const char *state,
                                    void (*fn)(const struct store_review *r, void *arg), void *arg,
                                    struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->review_each(c, state, fn, arg, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_review_close(struct store *s, int64_t id, const char *by,
                                     const char *reason, int64_t now, struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->review_close(c, id, by, reason, now, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_review_expire(struct store *s, int64_t before, size_t batch,
                                      size_t *deleted, struct store_error *err)
{
    return store_expire_step(s, s->be->review_expire, before, batch, deleted, err);
}

enum store_status store_explanation_set(struct store *s, const char *check, const char *text,
                                        const char *by, int64_t now, struct store_error *err)
{
    if (check == NULL || check[0] == '\0')
        return store_error_set(err, STORE_ERROR, "an explanation needs a check");
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->explanation_set(c, check, text, by, now, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_explanation_each(struct store *s,
                                         void (*fn)(const char *check, const char *text,
                                                    const char *by, int64_t at, void *arg),
                                         void *arg, struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->explanation_each(c, fn, arg, err);
    store_conn_put(s, c);
    return status;
}

/* ---- throttle ---- */

enum store_status store_throttle_get(struct store *s, const char *account,
                                     struct store_throttle_state *st, struct store_error *err)
{

    st->account = NULL;
    st->throttled = 0;
    st->reason[0] = '\0';
    st->reset_at = 0;
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        st->limits[i] = STORE_THROTTLE_DEFAULT;
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->throttle_get(c, account, st, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_throttle_bucket_each(struct store *s, const char *account, int64_t width,
                                             int64_t since, int64_t before,
                                             void (*fn)(const struct store_throttle_bucket *b,
                                                        void *arg),
                                             void *arg, struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status =
        s->be->throttle_bucket_each(c, account, width, since, before, fn, arg, err);

    store_conn_put(s, c);
    return status;
}

struct buckets {
    const struct store_throttle_bucket *b;
    size_t n;
};

static enum store_status bucket_add_body(struct store *s, struct store_conn *c, const void *arg,
                                         struct store_error *err)
{
    const struct buckets *all = arg;
    enum store_status status = STORE_OK;

    for (size_t i = 0; status == STORE_OK && i < all->n; i++)
        status = s->be->throttle_bucket_add(c, &all->b[i], err);
    return status;
}

enum store_status store_throttle_bucket_add(struct store *s,
                                            const struct store_throttle_bucket *buckets, size_t n,
                                            struct store_error *err)
{
    struct buckets all = {buckets, n};

    if (n == 0)
        return STORE_OK;
    for (size_t i = 0; i < n; i++)
        if (buckets[i].account == NULL)
            return store_error_set(err, STORE_ERROR, "a throttle bucket needs an account");
    return store_write_txn(s, bucket_add_body, &all, err);
}

enum store_status store_throttle_mark(struct store *s, const char *account, int64_t since,
                                      const char *reason, bool *marked, struct store_error *err)
{

    if (marked != NULL)
        *marked = false;
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->throttle_mark(c, account, since, reason, marked, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_throttle_clear(struct store *s, const char *account, int64_t now,
                                       struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->throttle_clear(c, account, now, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_throttle_set_limits(struct store *s, const char *account,
                                            const int64_t limits[STORE_THROTTLE_LIMITS],
                                            struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->throttle_set_limits(c, account, limits, err);

    store_conn_put(s, c);
    return status;
}

enum store_status store_throttle_each(struct store *s,
                                      void (*fn)(const struct store_throttle_state *st, void *arg),
                                      void *arg, struct store_error *err)
{
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->throttle_each(c, fn, arg, err);

    store_conn_put(s, c);
    return status;
}

struct throttle_expiry {
    int64_t fine_before, hourly_before;
    size_t *left;
};

static enum store_status throttle_expire_body(struct store *s, struct store_conn *c,
                                              const void *arg, struct store_error *err)
{
    const struct throttle_expiry *e = arg;

    return s->be->throttle_expire(c, e->fine_before, e->hourly_before, e->left, err);
}

enum store_status store_throttle_expire(struct store *s, int64_t fine_before, int64_t hourly_before,
                                        size_t batch, size_t *deleted, struct store_error *err)
{
    size_t left = batch;
    struct throttle_expiry e = {fine_before, hourly_before, &left};
    enum store_status status;

    *deleted = 0;
    status = store_write_txn(s, throttle_expire_body, &e, err);
    if (status == STORE_OK)
        *deleted = batch - left;
    return status;
}
