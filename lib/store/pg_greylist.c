/*
 * store/pg_greylist: greylisting triplets and the auto-allowlist in PostgreSQL
 * (schema/postgresql/002_greylist.sql); the same statements as the SQLite backend's.
 */
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The two triplets of a check, tagged 1 and 2, with the columns given for each. */
#define CHECK_TRIPLETS(first, second)                                                              \
    "UNION ALL SELECT 1, " first " FROM greylist WHERE source = $2::text AND sender = $4::text "   \
    "AND recipient = $5::text UNION ALL SELECT 2, " second                                         \
    " FROM greylist WHERE source = $3::text "                                                      \
    "AND sender = $4::text AND recipient = $5::text"

const struct pg_sql pg_greylist_sql[] = {
    {PG_GREYLIST_GET, "SELECT first_seen, last_seen, confirmed_at, count FROM greylist "
                      "WHERE source = $1 AND sender = $2 AND recipient = $3"},
    {PG_GREYLIST_PUT, "INSERT INTO greylist (source, sender, recipient, first_seen, last_seen, "
                      "confirmed_at, count) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                      "ON CONFLICT (source, sender, recipient) DO UPDATE SET "
                      "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
                      "confirmed_at = excluded.confirmed_at, count = excluded.count"},
    {PG_AUTOALLOW_GET, "SELECT count, first_seen, last_seen FROM autoallow WHERE network = $1"},
    {PG_AUTOALLOW_PUT, "INSERT INTO autoallow (network, count, first_seen, last_seen) "
                       "VALUES ($1, $2, $3, $4) ON CONFLICT (network) DO UPDATE SET "
                       "count = excluded.count, first_seen = excluded.first_seen, "
                       "last_seen = excluded.last_seen"},
    /* Every row of one check in one statement (pg_greylist_txn): the autoallow row of network
     * $1 tagged 0, the triplets of sources $2 and $3 tagged 1 and 2; a NULL key finds nothing. */
    {PG_GREYLIST_CHECK_ROWS,
     "SELECT 0, count, first_seen, last_seen, NULL FROM autoallow "
     "WHERE network = $1::text " CHECK_TRIPLETS("count, first_seen, last_seen, confirmed_at",
                                                "count, first_seen, last_seen, confirmed_at")},
    /* The same rows as one text, "tag:count:first_seen:last_seen:confirmed_at" each, in tag order,
     * the NULL confirmed_at empty: an error (the transaction fails) unless it equals $6. */
    {PG_GREYLIST_CHECK_SAME, "SELECT CAST(CASE WHEN COALESCE((SELECT string_agg(r.t, ';' ORDER BY "
                             "r.tag) FROM ("
                             "SELECT 0 AS tag, concat(0, ':', count, ':', first_seen, ':', "
                             "last_seen, ':') AS t "
                             "FROM autoallow WHERE network = $1::text " CHECK_TRIPLETS(
                                 "concat(1, ':', count, ':', first_seen, ':', last_seen, ':', "
                                 "confirmed_at)",
                                 "concat(2, ':', count, ':', first_seen, ':', last_seen, ':', "
                                 "confirmed_at)") ") r), '') "
                                                  "= $6::text THEN '0' ELSE 'changed since read' "
                                                  "END AS integer)"},
    {PG_GREYLIST_EXPIRE_PENDING,
     "DELETE FROM greylist WHERE (source, sender, recipient) IN "
     "(SELECT source, sender, recipient FROM greylist "
     "WHERE confirmed_at IS NULL AND first_seen < $1 ORDER BY first_seen LIMIT $2)"},
    {PG_GREYLIST_SWEEP_GET, "SELECT source, sender, recipient FROM greylist_sweep WHERE id = 1"},
    {PG_GREYLIST_SWEEP_SCAN, "SELECT source, sender, recipient, confirmed_at, last_seen "
                             "FROM greylist WHERE (source, sender, recipient) > ($1, $2, $3) "
                             "ORDER BY source, sender, recipient LIMIT $4"},
    {PG_GREYLIST_SWEEP_SET, "INSERT INTO greylist_sweep (id, source, sender, recipient) "
                            "VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET "
                            "source = excluded.source, sender = excluded.sender, "
                            "recipient = excluded.recipient"},
    {PG_GREYLIST_DELETE, "DELETE FROM greylist WHERE source = $1 AND sender = $2 "
                         "AND recipient = $3"},
    {PG_AUTOALLOW_EXPIRE, "DELETE FROM autoallow WHERE network IN (SELECT network FROM "
                          "autoallow WHERE last_seen < $1 ORDER BY last_seen LIMIT $2)"},
};
const size_t pg_greylist_sql_count = sizeof pg_greylist_sql / sizeof pg_greylist_sql[0];

static void greylist_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct store_greylist_row *out = v->arg;

    out->found = true;
    out->first_seen = pg_int(res, row, 0);
    out->last_seen = pg_int(res, row, 1);
    out->confirmed_at = pg_int(res, row, 2); /* NULL reads as 0: pending */
    out->count = pg_int(res, row, 3);
}

enum store_status pg_greylist_read(struct store_conn *c, const char *sender, const char *recipient,
                                   struct store_greylist_row *row, struct store_error *err)
{
    struct pg_visit v = {.row = greylist_row, .arg = row};
    enum store_status status;

    row->found = false;
    status = pg_each(c, PG_GREYLIST_GET,
                     PG_PARAMS(PG_TEXT(row->source), PG_TEXT(sender), PG_TEXT(recipient)), &v, err);
    return status == STORE_NOTFOUND ? STORE_OK : status;
}

enum store_status pg_greylist_write(struct store_conn *c, const char *sender, const char *recipient,
                                    const struct store_greylist_row *row, struct store_error *err)
{
    return pg_run(c, PG_GREYLIST_PUT,
                  PG_PARAMS(PG_TEXT(row->source), PG_TEXT(sender), PG_TEXT(recipient),
                            PG_INT(row->first_seen), PG_INT(row->last_seen),
                            row->confirmed_at != 0 ? PG_INT(row->confirmed_at) : PG_NULL,
                            PG_INT(row->count)),
                  NULL, err);
}

static void autoallow_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct store_autoallow_row *out = v->arg;

    out->found = true;
    out->count = pg_int(res, row, 0);
    out->first_seen = pg_int(res, row, 1);
    out->last_seen = pg_int(res, row, 2);
}

enum store_status pg_autoallow_read(struct store_conn *c, struct store_autoallow_row *row,
                                    struct store_error *err)
{
    struct pg_visit v = {.row = autoallow_row, .arg = row};
    enum store_status status;

    row->found = false;
    status = pg_each(c, PG_AUTOALLOW_GET, PG_PARAMS(PG_TEXT(row->network)), &v, err);
    return status == STORE_NOTFOUND ? STORE_OK : status;
}

enum store_status pg_autoallow_write(struct store_conn *c, const struct store_autoallow_row *row,
                                     struct store_error *err)
{
    return pg_run(c, PG_AUTOALLOW_PUT,
                  PG_PARAMS(PG_TEXT(row->network), PG_INT(row->count), PG_INT(row->first_seen),
                            PG_INT(row->last_seen)),
                  NULL, err);
}

/* ---- the check in two round trips ---- */

/* The most steps of the write: BEGIN, the check, two triplets and an autoallow row, COMMIT. */
#define TXN_STEPS (4 + STORE_GREYLIST_ROWS)
#define TXN_SAME_STEP 1 /* the check that the rows are what was read */
#define TXN_FP_MAX 512  /* five numbers of at most 20 digits for each of three rows */

/*
 * Reads the rows of t from the result of PG_GREYLIST_CHECK_ROWS, and writes into fp what
 * PG_GREYLIST_CHECK_SAME makes of the same rows: "tag:count:first_seen:last_seen:confirmed_at"
 * each, in tag order, joined by ';' (the server's own text of each number, a NULL empty).
 */
static void read_rows(struct store_greylist_txn *t, const PGresult *res, char *fp, size_t fplen)
{
    size_t len = 0;

    t->autoallow.found = false;
    t->autoallow.write = false;
    for (int i = 0; i < STORE_GREYLIST_ROWS; i++) {
        t->rows[i].found = false;
        t->rows[i].write = false;
    }
    fp[0] = '\0';
    for (int64_t tag = 0; tag <= STORE_GREYLIST_ROWS; tag++) {
        for (int row = 0; row < PQntuples(res); row++) {
            if (pg_int(res, row, 0) != tag)
                continue;
            const char *confirmed = pg_text(res, row, 4);
            int w = snprintf(fp + len, fplen - len, "%s%s:%s:%s:%s:%s", len ? ";" : "",
                             pg_text(res, row, 0), pg_text(res, row, 1), pg_text(res, row, 2),
                             pg_text(res, row, 3), confirmed != NULL ? confirmed : "");
            len += w > 0 && (size_t)w < fplen - len ? (size_t)w : 0;
            if (tag == 0) {
                t->autoallow.found = true;
                t->autoallow.count = pg_int(res, row, 1);
                t->autoallow.first_seen = pg_int(res, row, 2);
                t->autoallow.last_seen = pg_int(res, row, 3);
                continue;
            }
            struct store_greylist_row *r = &t->rows[tag - 1];
            r->found = true;
            r->count = pg_int(res, row, 1);
            r->first_seen = pg_int(res, row, 2);
            r->last_seen = pg_int(res, row, 3);
            r->confirmed_at = pg_int(res, row, 4); /* NULL reads as 0: pending */
        }
    }
}

/* BEGIN, the check that the rows are still what was read (fp), the writes decide marked, then
 * COMMIT, as pipeline steps; the number of steps. */
static size_t write_steps(const struct store_greylist_txn *t, const char *fp, struct pg_step *steps,
                          struct pg_param params[][7])
{
    size_t n = 0;
    const struct pg_param same[6] = {PG_TEXT(t->autoallow.network), PG_TEXT(t->rows[0].source),
                                     PG_TEXT(t->rows[1].source),    PG_TEXT(t->sender),
                                     PG_TEXT(t->recipient),         PG_TEXT(fp)};

    steps[n++] = PG_STEP_SQL("BEGIN ISOLATION LEVEL REPEATABLE READ");
    memcpy(params[n], same, sizeof same);
    steps[n] = (struct pg_step){.id = PG_GREYLIST_CHECK_SAME, .params = params[n], .n = 6};
    n++;

    for (int i = 0; i < STORE_GREYLIST_ROWS; i++) {
        const struct store_greylist_row *r = &t->rows[i];
        if (r->source == NULL || !r->write)
            continue;
        const struct pg_param p[7] = {
            PG_TEXT(r->source),    PG_TEXT(t->sender),
            PG_TEXT(t->recipient), PG_INT(r->first_seen),
            PG_INT(r->last_seen),  r->confirmed_at ? PG_INT(r->confirmed_at) : PG_NULL,
            PG_INT(r->count),
        };
        memcpy(params[n], p, sizeof p);
        steps[n] = (struct pg_step){.id = PG_GREYLIST_PUT, .params = params[n], .n = 7};
        n++;
    }
    if (t->autoallow.network != NULL && t->autoallow.write) {
        const struct store_autoallow_row *a = &t->autoallow;
        const struct pg_param p[4] = {PG_TEXT(a->network), PG_INT(a->count), PG_INT(a->first_seen),
                                      PG_INT(a->last_seen)};
        memcpy(params[n], p, sizeof p);
        steps[n] = (struct pg_step){.id = PG_AUTOALLOW_PUT, .params = params[n], .n = 4};
        n++;
    }
    steps[n++] = PG_STEP_SQL("COMMIT");
    return n;
}

static void clear_results(PGresult **res, size_t n)
{
    for (size_t i = 0; i < n; i++)
        PQclear(res[i]);
}

/*
 * store_greylist_update()'s first transaction (lib/store/greylist_txn.c) in one round trip for a
 * check that writes nothing (a triplet in steady use: one SELECT, a snapshot of its own), two for
 * one that writes, instead of one a statement (over a network, or on a loaded machine, a round
 * trip costs more than the statement).  The write is one pipeline: BEGIN (REPEATABLE READ), a
 * statement that fails unless the rows are still what the read saw, the writes, COMMIT.  So a
 * write over rows another connection changed since the read fails, between the read and the
 * write's snapshot by that check, after it by the serialization failure of REPEATABLE READ:
 * STORE_BUSY either way, and the driver does the check again under the write lock.
 */
enum store_status pg_greylist_txn(struct store_conn *c, struct store_greylist_txn *t,
                                  void (*decide)(struct store_greylist_txn *t, void *arg),
                                  void *arg, struct store_error *err)
{
    const struct pg_step read =
        PG_STEP(PG_GREYLIST_CHECK_ROWS, PG_TEXT(t->autoallow.network), PG_TEXT(t->rows[0].source),
                PG_TEXT(t->rows[1].source), PG_TEXT(t->sender), PG_TEXT(t->recipient));
    struct pg_step steps[TXN_STEPS];
    struct pg_param params[TXN_STEPS][7];
    PGresult *res[TXN_STEPS];
    char fp[TXN_FP_MAX];
    enum store_status status = pg_pipeline(c, &read, 1, res, err);
    bool writes = false;
    size_t n;

    if (status == STORE_OK)
        read_rows(t, res[0], fp, sizeof fp);
    clear_results(res, 1);
    if (status != STORE_OK)
        return status;
    decide(t, arg);
    for (int i = 0; i < STORE_GREYLIST_ROWS; i++)
        writes = writes || (t->rows[i].source != NULL && t->rows[i].write);
    if (!writes && !(t->autoallow.network != NULL && t->autoallow.write))
        return STORE_OK;
    n = write_steps(t, fp, steps, params);
    status = pg_pipeline(c, steps, n, res, err);
    c->in_txn = c->conn != NULL; /* the BEGIN sent: rolled back on failure */
    if (status != STORE_OK && res[TXN_SAME_STEP] != NULL &&
        PQresultStatus(res[TXN_SAME_STEP]) == PGRES_FATAL_ERROR)
        status = store_error_set(err, STORE_BUSY, "database %s: the rows changed since the read",
                                 c->db->shown);
    /* COMMIT of a transaction that failed earlier answers ROLLBACK, without an error. */
    if (status == STORE_OK && strcmp(PQcmdStatus(res[n - 1]), "COMMIT") != 0)
        status = store_error_set(err, STORE_ERROR, "database %s: the transaction was rolled back",
                                 c->db->shown);
    clear_results(res, n);
    if (status == STORE_OK)
        c->in_txn = false;
    else
        store_backend_postgresql.rollback(c);
    return status;
}

/* ---- expiry: the sweep over confirmed triplets, as in sqlite_greylist.c ---- */

struct greylist_pk {
    char *source, *sender, *recipient;
};

static void pk_free(struct greylist_pk *k)
{
    free(k->source);
    free(k->sender);
    free(k->recipient);
    k->source = k->sender = k->recipient = NULL;
}

static char *copy_text(const PGresult *res, int row, int col)
{
    const char *text = pg_text(res, row, col);
    return xstrdup(text ? text : "");
}

static void pk_set(struct greylist_pk *k, const PGresult *res, int row)
{
    pk_free(k);
    k->source = copy_text(res, row, 0);
    k->sender = copy_text(res, row, 1);
    k->recipient = copy_text(res, row, 2);
}

#define PK_PARAMS(k)                                                                               \
    PG_TEXT_OR_EMPTY((k)->source), PG_TEXT_OR_EMPTY((k)->sender), PG_TEXT_OR_EMPTY((k)->recipient)

static void pk_row(const PGresult *res, int row, const struct pg_visit *v)
{
    pk_set(v->arg, res, row);
}

struct sweep {
    int64_t confirmed_before;
    size_t seen;
    struct greylist_pk last;
    struct greylist_pk *due;
    size_t ndue;
};

static void sweep_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct sweep *sw = v->arg;

    sw->seen++;
    pk_set(&sw->last, res, row);
    if (!pg_is_null(res, row, 3) && pg_int(res, row, 4) < sw->confirmed_before) {
        sw->due = xrealloc(sw->due, (sw->ndue + 1) * sizeof *sw->due);
        sw->due[sw->ndue] = (struct greylist_pk){0};
        pk_set(&sw->due[sw->ndue++], res, row);
    }
}

static enum store_status sweep_confirmed(struct store_conn *c, int64_t confirmed_before,
                                         size_t *left, struct store_error *err)
{
    struct greylist_pk cursor = {0};
    struct sweep sw = {.confirmed_before = confirmed_before};
    struct pg_visit cv = {.row = pk_row, .arg = &cursor}, v = {.row = sweep_row, .arg = &sw};
    enum store_status status;

    if (*left == 0)
        return STORE_OK;
    status = pg_each(c, PG_GREYLIST_SWEEP_GET, NULL, 0, &cv, err);
    if (status == STORE_NOTFOUND)
        status = STORE_OK;
    if (status == STORE_OK)
        status = pg_each(
            c, PG_GREYLIST_SWEEP_SCAN,
            PG_PARAMS(PK_PARAMS(&cursor), PG_INT(*left > INT64_MAX ? INT64_MAX : (int64_t)*left)),
            &v, err);
    if (status == STORE_NOTFOUND)
        status = STORE_OK;
    if (sw.seen < *left)
        pk_free(&sw.last); /* the end reached: the next sweep starts over */
    for (size_t i = 0; status == STORE_OK && i < sw.ndue; i++)
        status = pg_run(c, PG_GREYLIST_DELETE, PG_PARAMS(PK_PARAMS(&sw.due[i])), NULL, err);
    if (status == STORE_OK)
        status = pg_run(c, PG_GREYLIST_SWEEP_SET, PG_PARAMS(PK_PARAMS(&sw.last)), NULL, err);
    if (status == STORE_OK)
        *left -= sw.ndue;
    for (size_t i = 0; i < sw.ndue; i++)
        pk_free(&sw.due[i]);
    free(sw.due);
    pk_free(&cursor);
    pk_free(&sw.last);
    return status;
}

enum store_status pg_greylist_expire(struct store_conn *c, int64_t pending_before,
                                     int64_t confirmed_before, int64_t autoallow_before,
                                     size_t *left, struct store_error *err)
{
    enum store_status status =
        pg_bounded_delete(c, PG_GREYLIST_EXPIRE_PENDING, pending_before, left, err);

    if (status == STORE_OK)
        status = pg_bounded_delete(c, PG_AUTOALLOW_EXPIRE, autoallow_before, left, err);
    if (status == STORE_OK)
        status = sweep_confirmed(c, confirmed_before, left, err);
    return status;
}
