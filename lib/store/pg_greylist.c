/*
 * store/pg_greylist: greylisting triplets and the auto-allowlist in PostgreSQL
 * (schema/postgresql/002_greylist.sql); the same statements as the SQLite backend's.
 */
#include "pg.h"

#include <stdlib.h>

#include "util.h"

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
