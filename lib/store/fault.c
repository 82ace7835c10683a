/*
 * store/fault: the fault-injecting wrapper backend (fault.h).  Its database and connection
 * handles are structs of its own, cast to the opaque handles of the table: the wrapped backend's
 * handles are only ever passed back to that backend.
 */
#include "fault.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "util.h"

struct fault_rule {
    enum store_status status;
    unsigned skip;
    int count; /* 0: passes */
    unsigned calls;
};

struct fault_db {
    const struct store_backend *inner;
    struct store_db *inner_db;
    pthread_mutex_t lock; /* guards rules */
    struct fault_rule rules[STORE_FAULT_OPS];
    char refused_ref[32]; /* store_fault_refuse_row(): "" when none */
    char refused_state[6];
};

struct fault_conn {
    struct fault_db *f;
    struct store_conn *inner;
};

#define STORE_FAULT_NAME(upper, lower) [STORE_FAULT_##upper] = #lower,
static const char *const fault_names[STORE_FAULT_OPS] = {STORE_FAULT_OPERATIONS(STORE_FAULT_NAME)};
#undef STORE_FAULT_NAME

const char *store_fault_name(enum store_fault_op op)
{
    return op < STORE_FAULT_OPS ? fault_names[op] : "?";
}

static struct fault_db *fault_db(struct store_db *db)
{
    return (struct fault_db *)db;
}

static struct fault_conn *fault_conn(struct store_conn *c)
{
    return (struct fault_conn *)c;
}

/* Counts the call of op; STORE_OK when it passes, else the injected status (with err). */
static enum store_status fault_hit(struct fault_db *f, enum store_fault_op op,
                                   struct store_error *err)
{
    struct fault_rule *r = &f->rules[op];
    enum store_status status = STORE_OK;

    pthread_mutex_lock(&f->lock);
    r->calls++;
    if (r->count != 0 && r->skip > 0) {
        r->skip--;
    } else if (r->count != 0) {
        status = r->status;
        if (r->count > 0)
            r->count--;
    }
    pthread_mutex_unlock(&f->lock);
    if (status != STORE_OK)
        store_error_set(err, status, "injected fault: %s", fault_names[op]);
    return status;
}

/* The body of every wrapped operation on a connection: the fault, or the wrapped backend's call. */
#define PASS_ON(c, upper, lower, ...)                                                              \
    do {                                                                                           \
        struct fault_conn *fc_ = fault_conn(c);                                                    \
        enum store_status st_ = fault_hit(fc_->f, STORE_FAULT_##upper, err);                       \
        if (st_ != STORE_OK)                                                                       \
            return st_;                                                                            \
        return fc_->f->inner->lower(fc_->inner, __VA_ARGS__);                                      \
    } while (0)

/* ---- what is passed on without faults ---- */

static struct store_db *fault_open(const char *database, int64_t busy_timeout_ms, bool create,
                                   mode_t mode, struct store_error *err)
{
    (void)database;
    (void)busy_timeout_ms;
    (void)create;
    (void)mode;
    store_error_set(err, STORE_ERROR, "the fault wrapper only wraps a store that is open");
    return NULL;
}

static enum store_status fault_prepare(struct store_db *db, struct store_error *err)
{
    struct fault_db *f = fault_db(db);
    return f->inner->prepare(f->inner_db, err);
}

static void fault_close(struct store_db *db)
{
    struct fault_db *f = fault_db(db);

    f->inner->close(f->inner_db);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static const char *fault_display_name(struct store_db *db)
{
    struct fault_db *f = fault_db(db);
    return f->inner->display_name(f->inner_db);
}

static struct store_conn *fault_acquire(struct store_db *db)
{
    struct fault_db *f = fault_db(db);
    struct fault_conn *fc = xmalloc(sizeof *fc);

    fc->f = f;
    fc->inner = f->inner->acquire(f->inner_db);
    return (struct store_conn *)fc;
}

static void fault_release(struct store_conn *c)
{
    struct fault_conn *fc = fault_conn(c);

    fc->f->inner->release(fc->inner);
    free(fc);
}

static void fault_rollback(struct store_conn *c)
{
    struct fault_conn *fc = fault_conn(c);
    fc->f->inner->rollback(fc->inner);
}

static enum store_status fault_schema_lock(struct store_conn *c, int64_t *version,
                                           struct store_error *err)
{
    struct fault_conn *fc = fault_conn(c);
    return fc->f->inner->schema_lock(fc->inner, version, err);
}

static enum store_status fault_schema_apply(struct store_conn *c, const struct store_migration *m,
                                            struct store_error *err)
{
    struct fault_conn *fc = fault_conn(c);
    return fc->f->inner->schema_apply(fc->inner, m, err);
}

static enum store_status fault_schema_commit(struct store_conn *c, struct store_error *err)
{
    struct fault_conn *fc = fault_conn(c);
    return fc->f->inner->schema_commit(fc->inner, err);
}

static void fault_schema_unlock(struct store_conn *c)
{
    struct fault_conn *fc = fault_conn(c);
    fc->f->inner->schema_unlock(fc->inner);
}

static enum store_status fault_writer_start(struct store_db *db, struct store_error *err)
{
    struct fault_db *f = fault_db(db);
    enum store_status status = fault_hit(f, STORE_FAULT_WRITER_START, err);

    if (status != STORE_OK || f->inner->writer_start == NULL)
        return status;
    return f->inner->writer_start(f->inner_db, err);
}

static void fault_writer_after_batches(struct store_db *db)
{
    struct fault_db *f = fault_db(db);

    if (f->inner->writer_after_batches != NULL)
        f->inner->writer_after_batches(f->inner_db);
}

static void fault_writer_stop(struct store_db *db)
{
    struct fault_db *f = fault_db(db);

    if (f->inner->writer_stop != NULL)
        f->inner->writer_stop(f->inner_db);
}

/* ---- the operations a fault can be put on ---- */

static enum store_status fault_begin(struct store_conn *c, enum store_txn kind,
                                     struct store_error *err)
{
    PASS_ON(c, BEGIN, begin, kind, err);
}

static enum store_status fault_commit(struct store_conn *c, struct store_error *err)
{
    PASS_ON(c, COMMIT, commit, err);
}

/* A batch with the row store_fault_refuse_row() named is refused whole, as a server refuses a
 * statement with one row it cannot take. */
static bool fault_refused(struct fault_db *f, const struct decision *const *rows, size_t n,
                          struct store_error *err)
{
    bool refused = false;

    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; f->refused_ref[0] != '\0' && i < n && !refused; i++)
        refused = rows[i]->ref != NULL && strcmp(rows[i]->ref, f->refused_ref) == 0;
    if (refused) {
        store_error_set(err, STORE_ERROR, "injected refusal of the row %s", f->refused_ref);
        if (err != NULL)
            str_copy(err->sqlstate, sizeof err->sqlstate, f->refused_state);
    }
    pthread_mutex_unlock(&f->lock);
    return refused;
}

static enum store_status fault_decision_insert(struct store_conn *c,
                                               const struct decision *const *rows, size_t n,
                                               struct store_error *err)
{
    if (fault_refused(fault_conn(c)->f, rows, n, err))
        return STORE_ERROR;
    PASS_ON(c, DECISION_INSERT, decision_insert, rows, n, err);
}

static enum store_status fault_decision_find(struct store_conn *c, const char *key,
                                             const char *address, size_t limit,
                                             void (*fn)(const struct decision *d, void *arg),
                                             void *arg, struct store_error *err)
{
    PASS_ON(c, DECISION_FIND, decision_find, key, address, limit, fn, arg, err);
}

static enum store_status fault_decision_search(struct store_conn *c,
                                               const struct store_decision_match *m,
                                               void (*fn)(const struct decision *d, void *arg),
                                               void *arg, struct store_error *err)
{
    PASS_ON(c, DECISION_SEARCH, decision_search, m, fn, arg, err);
}

static enum store_status fault_decision_tally(struct store_conn *c, int64_t since,
                                              void (*fn)(const char *check, const char *action,
                                                         int64_t count, void *arg),
                                              void *arg, struct store_error *err)
{
    PASS_ON(c, DECISION_TALLY, decision_tally, since, fn, arg, err);
}

static enum store_status fault_decision_expire(struct store_conn *c, int64_t before, size_t *left,
                                               struct store_error *err)
{
    PASS_ON(c, DECISION_EXPIRE, decision_expire, before, left, err);
}

static enum store_status fault_dmarc_upsert(struct store_conn *c,
                                            const struct store_dmarc_row *const *rows,
                                            const char *const *keys, size_t n,
                                            struct store_error *err)
{
    PASS_ON(c, DMARC_UPSERT, dmarc_upsert, rows, keys, n, err);
}

static enum store_status fault_dmarc_each(struct store_conn *c, const char *policy_domain,
                                          int64_t since, int64_t until,
                                          void (*fn)(const struct store_dmarc_row *r, void *arg),
                                          void *arg, struct store_error *err)
{
    PASS_ON(c, DMARC_EACH, dmarc_each, policy_domain, since, until, fn, arg, err);
}

static enum store_status fault_dmarc_expire(struct store_conn *c, int64_t before, size_t *left,
                                            struct store_error *err)
{
    PASS_ON(c, DMARC_EXPIRE, dmarc_expire, before, left, err);
}

static enum store_status fault_greylist_read(struct store_conn *c, const char *sender,
                                             const char *recipient, struct store_greylist_row *row,
                                             struct store_error *err)
{
    PASS_ON(c, GREYLIST_READ, greylist_read, sender, recipient, row, err);
}

static enum store_status fault_greylist_write(struct store_conn *c, const char *sender,
                                              const char *recipient,
                                              const struct store_greylist_row *row,
                                              struct store_error *err)
{
    PASS_ON(c, GREYLIST_WRITE, greylist_write, sender, recipient, row, err);
}

static enum store_status fault_autoallow_read(struct store_conn *c, struct store_autoallow_row *row,
                                              struct store_error *err)
{
    PASS_ON(c, AUTOALLOW_READ, autoallow_read, row, err);
}

static enum store_status fault_autoallow_write(struct store_conn *c,
                                               const struct store_autoallow_row *row,
                                               struct store_error *err)
{
    PASS_ON(c, AUTOALLOW_WRITE, autoallow_write, row, err);
}

static enum store_status fault_greylist_expire(struct store_conn *c, int64_t pending_before,
                                               int64_t confirmed_before, int64_t autoallow_before,
                                               size_t *left, struct store_error *err)
{
    PASS_ON(c, GREYLIST_EXPIRE, greylist_expire, pending_before, confirmed_before, autoallow_before,
            left, err);
}

static enum store_status fault_lists_version(struct store_conn *c, int64_t *version,
                                             struct store_error *err)
{
    PASS_ON(c, LISTS_VERSION, lists_version, version, err);
}

static enum store_status fault_list_each(struct store_conn *c, const char *kind, int64_t live_at,
                                         void (*fn)(const struct list_entry *e, void *arg),
                                         void *arg, struct store_error *err)
{
    PASS_ON(c, LIST_EACH, list_each, kind, live_at, fn, arg, err);
}

static enum store_status fault_list_put(struct store_conn *c, const struct list_entry *e,
                                        char *previous, size_t previous_len,
                                        struct store_error *err)
{
    PASS_ON(c, LIST_PUT, list_put, e, previous, previous_len, err);
}

static enum store_status fault_list_del(struct store_conn *c, const char *kind, const char *value,
                                        struct store_error *err)
{
    PASS_ON(c, LIST_DEL, list_del, kind, value, err);
}

static enum store_status fault_rule_put(struct store_conn *c, const struct rcpt_rule *r,
                                        char *previous, size_t previous_len,
                                        struct store_error *err)
{
    PASS_ON(c, RULE_PUT, rule_put, r, previous, previous_len, err);
}

static enum store_status fault_rule_del(struct store_conn *c, const char *recipient,
                                        const char *sender, struct store_error *err)
{
    PASS_ON(c, RULE_DEL, rule_del, recipient, sender, err);
}

static enum store_status fault_rule_each(struct store_conn *c, const char *recipient,
                                         void (*fn)(const struct rcpt_rule *r, void *arg),
                                         void *arg, struct store_error *err)
{
    PASS_ON(c, RULE_EACH, rule_each, recipient, fn, arg, err);
}

static enum store_status fault_account_add(struct store_conn *c, const char *name, int64_t now,
                                           bool *created, struct store_error *err)
{
    PASS_ON(c, ACCOUNT_ADD, account_add, name, now, created, err);
}

static enum store_status fault_account_each(struct store_conn *c, const char *name,
                                            void (*fn)(const struct store_account *a, void *arg),
                                            void *arg, struct store_error *err)
{
    PASS_ON(c, ACCOUNT_EACH, account_each, name, fn, arg, err);
}

static enum store_status fault_alias_add(struct store_conn *c, const struct store_alias *alias,
                                         bool *created, struct store_error *err)
{
    PASS_ON(c, ALIAS_ADD, alias_add, alias, created, err);
}

static enum store_status fault_alias_del(struct store_conn *c, const char *account,
                                         const char *address, struct store_error *err)
{
    PASS_ON(c, ALIAS_DEL, alias_del, account, address, err);
}

static enum store_status fault_alias_each(struct store_conn *c, const char *account,
                                          void (*fn)(const struct store_alias *a, void *arg),
                                          void *arg, struct store_error *err)
{
    PASS_ON(c, ALIAS_EACH, alias_each, account, fn, arg, err);
}

static enum store_status fault_account_suspend(struct store_conn *c, const char *name, int64_t now,
                                               const char *reason, bool *changed,
                                               struct store_error *err)
{
    PASS_ON(c, ACCOUNT_SUSPEND, account_suspend, name, now, reason, changed, err);
}

static enum store_status fault_account_suspended(struct store_conn *c, const char *name,
                                                 int64_t *since, char *reason, size_t reason_len,
                                                 struct store_error *err)
{
    PASS_ON(c, ACCOUNT_SUSPENDED, account_suspended, name, since, reason, reason_len, err);
}

static enum store_status fault_account_resume(struct store_conn *c, const char *name,
                                              struct store_error *err)
{
    PASS_ON(c, ACCOUNT_RESUME, account_resume, name, err);
}

static enum store_status fault_held_add(struct store_conn *c, const struct store_held *h,
                                        struct store_error *err)
{
    PASS_ON(c, HELD_ADD, held_add, h, err);
}

static enum store_status fault_held_each(struct store_conn *c, const struct store_held_query *q,
                                         void (*fn)(const struct store_held *h, void *arg),
                                         void *arg, int64_t *total, struct store_error *err)
{
    PASS_ON(c, HELD_EACH, held_each, q, fn, arg, total, err);
}

static enum store_status fault_held_decide(struct store_conn *c, const char *queue_id,
                                           const char *host, const char *state, const char *by,
                                           const char *reason, int64_t now, struct store_error *err)
{
    PASS_ON(c, HELD_DECIDE, held_decide, queue_id, host, state, by, reason, now, err);
}

static enum store_status fault_held_undo(struct store_conn *c, const char *queue_id,
                                         const char *host, const char *state, const char *by,
                                         int64_t at, struct store_error *err)
{
    PASS_ON(c, HELD_UNDO, held_undo, queue_id, host, state, by, at, err);
}

static enum store_status fault_review_add(struct store_conn *c, const struct store_review *r,
                                          int64_t open_max, struct store_error *err)
{
    PASS_ON(c, REVIEW_ADD, review_add, r, open_max, err);
}

static enum store_status fault_review_each(struct store_conn *c, const char *state,
                                           void (*fn)(const struct store_review *r, void *arg),
                                           void *arg, struct store_error *err)
{
    PASS_ON(c, REVIEW_EACH, review_each, state, fn, arg, err);
}

static enum store_status fault_review_close(struct store_conn *c, int64_t id, const char *by,
                                            const char *reason, int64_t now,
                                            struct store_error *err)
{
    PASS_ON(c, REVIEW_CLOSE, review_close, id, by, reason, now, err);
}

static enum store_status fault_review_expire(struct store_conn *c, int64_t before, size_t *left,
                                             struct store_error *err)
{
    PASS_ON(c, REVIEW_EXPIRE, review_expire, before, left, err);
}

static enum store_status fault_explanation_set(struct store_conn *c, const char *check,
                                               const char *text, const char *by, int64_t now,
                                               struct store_error *err)
{
    PASS_ON(c, EXPLANATION_SET, explanation_set, check, text, by, now, err);
}

static enum store_status fault_explanation_each(struct store_conn *c,
                                                void (*fn)(const char *check, const char *text,
                                                           const char *by, int64_t at, void *arg),
                                                void *arg, struct store_error *err)
{
    PASS_ON(c, EXPLANATION_EACH, explanation_each, fn, arg, err);
}

static enum store_status fault_change_add(struct store_conn *c, const struct store_change *ch,
                                          struct store_error *err)
{
    PASS_ON(c, CHANGE_ADD, change_add, ch, err);
}

static enum store_status fault_change_each(struct store_conn *c, const char *key, int64_t since,
                                           int64_t until, int64_t limit,
                                           void (*fn)(const struct store_change *ch, void *arg),
                                           void *arg, struct store_error *err)
{
    PASS_ON(c, CHANGE_EACH, change_each, key, since, until, limit, fn, arg, err);
}

static enum store_status fault_change_expire(struct store_conn *c, int64_t before, size_t *left,
                                             struct store_error *err)
{
    PASS_ON(c, CHANGE_EXPIRE, change_expire, before, left, err);
}

static enum store_status fault_maintenance_lock(struct store_db *db, bool *held,
                                                struct store_error *err)
{
    struct fault_db *f = fault_db(db);
    enum store_status status = fault_hit(f, STORE_FAULT_MAINTENANCE_LOCK, err);

    *held = false;
    if (status != STORE_OK)
        return status;
    if (f->inner->maintenance_lock == NULL) {
        *held = true;
        return STORE_OK;
    }
    return f->inner->maintenance_lock(f->inner_db, held, err);
}

static enum store_status fault_held_expire(struct store_conn *c, int64_t before, size_t *left,
                                           struct store_error *err)
{
    PASS_ON(c, HELD_EXPIRE, held_expire, before, left, err);
}

static enum store_status fault_throttle_get(struct store_conn *c, const char *account,
                                            struct store_throttle_state *st,
                                            struct store_error *err)
{
    PASS_ON(c, THROTTLE_GET, throttle_get, account, st, err);
}

static enum store_status
fault_throttle_bucket_each(struct store_conn *c, const char *account, int64_t width, int64_t since,
                           int64_t before,
                           void (*fn)(const struct store_throttle_bucket *b, void *arg), void *arg,
                           struct store_error *err)
{
    PASS_ON(c, THROTTLE_BUCKET_EACH, throttle_bucket_each, account, width, since, before, fn, arg,
            err);
}

static enum store_status fault_throttle_bucket_add(struct store_conn *c,
                                                   const struct store_throttle_bucket *b,
                                                   struct store_error *err)
{
    PASS_ON(c, THROTTLE_BUCKET_ADD, throttle_bucket_add, b, err);
}

static enum store_status fault_throttle_mark(struct store_conn *c, const char *account,
                                             int64_t since, const char *reason, bool *marked,
                                             struct store_error *err)
{
    PASS_ON(c, THROTTLE_MARK, throttle_mark, account, since, reason, marked, err);
}

static enum store_status fault_throttle_clear(struct store_conn *c, const char *account,
                                              int64_t now, struct store_error *err)
{
    PASS_ON(c, THROTTLE_CLEAR, throttle_clear, account, now, err);
}

static enum store_status fault_throttle_set_limits(struct store_conn *c, const char *account,
                                                   const int64_t limits[STORE_THROTTLE_LIMITS],
                                                   struct store_error *err)
{
    PASS_ON(c, THROTTLE_SET_LIMITS, throttle_set_limits, account, limits, err);
}

static enum store_status fault_throttle_each(struct store_conn *c,
                                             void (*fn)(const struct store_throttle_state *st,
                                                        void *arg),
                                             void *arg, struct store_error *err)
{
    PASS_ON(c, THROTTLE_EACH, throttle_each, fn, arg, err);
}

static enum store_status fault_throttle_expire(struct store_conn *c, int64_t fine_before,
                                               int64_t hourly_before, size_t *left,
                                               struct store_error *err)
{
    PASS_ON(c, THROTTLE_EXPIRE, throttle_expire, fine_before, hourly_before, left, err);
}

static const struct store_backend store_backend_fault = {
    .name = "fault",
    .open = fault_open,
    .prepare = fault_prepare,
    .close = fault_close,
    .display_name = fault_display_name,
    .acquire = fault_acquire,
    .release = fault_release,
    .begin = fault_begin,
    .commit = fault_commit,
    .rollback = fault_rollback,
    .schema_lock = fault_schema_lock,
    .schema_apply = fault_schema_apply,
    .schema_commit = fault_schema_commit,
    .schema_unlock = fault_schema_unlock,
    .decision_insert = fault_decision_insert,
    .decision_find = fault_decision_find,
    .decision_search = fault_decision_search,
    .decision_tally = fault_decision_tally,
    .decision_expire = fault_decision_expire,
    .dmarc_upsert = fault_dmarc_upsert,
    .dmarc_each = fault_dmarc_each,
    .dmarc_expire = fault_dmarc_expire,
    .writer_start = fault_writer_start,
    .writer_after_batches = fault_writer_after_batches,
    .writer_stop = fault_writer_stop,
    .greylist_read = fault_greylist_read,
    .greylist_write = fault_greylist_write,
    .autoallow_read = fault_autoallow_read,
    .autoallow_write = fault_autoallow_write,
    .greylist_expire = fault_greylist_expire,
    .lists_version = fault_lists_version,
    .list_each = fault_list_each,
    .list_put = fault_list_put,
    .list_del = fault_list_del,
    .rule_put = fault_rule_put,
    .rule_del = fault_rule_del,
    .rule_each = fault_rule_each,
    .account_add = fault_account_add,
    .account_each = fault_account_each,
    .alias_add = fault_alias_add,
    .alias_del = fault_alias_del,
    .alias_each = fault_alias_each,
    .account_suspend = fault_account_suspend,
    .account_suspended = fault_account_suspended,
    .account_resume = fault_account_resume,
    .held_add = fault_held_add,
    .held_each = fault_held_each,
    .held_decide = fault_held_decide,
    .held_expire = fault_held_expire,
    .held_undo = fault_held_undo,
    .review_add = fault_review_add,
    .review_each = fault_review_each,
    .review_close = fault_review_close,
    .review_expire = fault_review_expire,
    .explanation_set = fault_explanation_set,
    .explanation_each = fault_explanation_each,
    .change_add = fault_change_add,
    .change_each = fault_change_each,
    .change_expire = fault_change_expire,
    .maintenance_lock = fault_maintenance_lock,
    .throttle_get = fault_throttle_get,
    .throttle_bucket_each = fault_throttle_bucket_each,
    .throttle_bucket_add = fault_throttle_bucket_add,
    .throttle_mark = fault_throttle_mark,
    .throttle_clear = fault_throttle_clear,
    .throttle_set_limits = fault_throttle_set_limits,
    .throttle_each = fault_throttle_each,
    .throttle_expire = fault_throttle_expire,
};

void store_fault_wrap(struct store *s)
{
    struct fault_db *f = xcalloc(1, sizeof *f);

    f->inner = s->be;
    f->inner_db = s->db;
    pthread_mutex_init(&f->lock, NULL);
    s->be = &store_backend_fault;
    s->db = (struct store_db *)f;
}

/* The wrapper of s; a test that sets a fault on a store it did not wrap is a bug in the test. */
static struct fault_db *wrapper(struct store *s)
{
    if (s->be != &store_backend_fault)
        abort();
    return fault_db(s->db);
}

void store_fault_set(struct store *s, enum store_fault_op op, enum store_status status,
                     unsigned skip, int count)
{
    struct fault_db *f = wrapper(s);

    pthread_mutex_lock(&f->lock);
    f->rules[op].status = status;
    f->rules[op].skip = skip;
    f->rules[op].count = count;
    pthread_mutex_unlock(&f->lock);
}

void store_fault_refuse_row(struct store *s, const char *ref, const char *sqlstate)
{
    struct fault_db *f = wrapper(s);

    pthread_mutex_lock(&f->lock);
    str_copy(f->refused_ref, sizeof f->refused_ref, ref);
    str_copy(f->refused_state, sizeof f->refused_state, sqlstate);
    pthread_mutex_unlock(&f->lock);
}

void store_fault_clear(struct store *s)
{
    struct fault_db *f = wrapper(s);

    pthread_mutex_lock(&f->lock);
    f->refused_ref[0] = '\0';
    for (int i = 0; i < STORE_FAULT_OPS; i++)
        f->rules[i].count = 0;
    pthread_mutex_unlock(&f->lock);
}

unsigned store_fault_calls(struct store *s, enum store_fault_op op)
{
    struct fault_db *f = wrapper(s);

    pthread_mutex_lock(&f->lock);
    unsigned calls = f->rules[op].calls;
    pthread_mutex_unlock(&f->lock);
    return calls;
}

struct write_around {
    const struct store_backend *be;
    const struct list_entry *e;
};

static enum store_status write_around_body(struct store *s, struct store_conn *c, const void *arg,
                                           struct store_error *err)
{
    const struct write_around *w = arg;
    char previous[16];
    (void)s;
    return w->be->list_put(c, w->e, previous, sizeof previous, err);
}

enum store_status store_fault_write_around(struct store *target, const struct store *writer,
                                           const struct list_entry *e, struct store_error *err)
{
    struct write_around w = {writer->be, e};
    struct store_conn *c = store_conn_get(target, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = store_txn(target, c, STORE_TXN_WRITE, write_around_body, &w, err);
    store_conn_put(target, c);
    return status;
}
