/*
 * store/sqlite_greylist: greylisting triplets and the auto-allowlist in SQLite
 * (schema/sqlite/002_greylist.sql).
 */
#include "sqlite.h"

#include <stdlib.h>

#include "util.h"

const struct sqlite_sql sqlite_greylist_sql[] = {
    {STMT_GREYLIST_GET, "SELECT first_seen, last_seen, confirmed_at, count FROM greylist "
                        "WHERE source = ?1 AND sender = ?2 AND recipient = ?3"},
    {STMT_GREYLIST_PUT, "INSERT INTO greylist (source, sender, recipient, first_seen, last_seen, "
                        "confirmed_at, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                        "ON CONFLICT (source, sender, recipient) DO UPDATE SET "
                        "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
                        "confirmed_at = excluded.confirmed_at, count = excluded.count"},
    {STMT_AUTOALLOW_GET, "SELECT count, first_seen, last_seen FROM autoallow WHERE network = ?1"},
    {STMT_AUTOALLOW_PUT, "INSERT INTO autoallow (network, count, first_seen, last_seen) "
                         "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (network) DO UPDATE SET "
                         "count = excluded.count, first_seen = excluded.first_seen, "
                         "last_seen = excluded.last_seen"},
    {STMT_GREYLIST_EXPIRE_PENDING,
     "DELETE FROM greylist WHERE (source, sender, recipient) IN "
     "(SELECT source, sender, recipient FROM greylist "
     "WHERE confirmed_at IS NULL AND first_seen < ?1 ORDER BY first_seen LIMIT ?2)"},
    /* The sweep over confirmed triplets: a row-value range on the primary key, in key order. */
    {STMT_GREYLIST_SWEEP_GET, "SELECT source, sender, recipient FROM greylist_sweep WHERE id = 1"},
    {STMT_GREYLIST_SWEEP_SCAN, "SELECT source, sender, recipient, confirmed_at, last_seen "
                               "FROM greylist WHERE (source, sender, recipient) > (?1, ?2, ?3) "
                               "ORDER BY source, sender, recipient LIMIT ?4"},
    {STMT_GREYLIST_SWEEP_SET, "INSERT OR REPLACE INTO greylist_sweep (id, source, sender, "
                              "recipient) VALUES (1, ?1, ?2, ?3)"},
    {STMT_GREYLIST_DELETE, "DELETE FROM greylist WHERE source = ?1 AND sender = ?2 "
                           "AND recipient = ?3"},
    {STMT_AUTOALLOW_EXPIRE, "DELETE FROM autoallow WHERE network IN (SELECT network FROM "
                            "autoallow WHERE last_seen < ?1 ORDER BY last_seen LIMIT ?2)"},
};
const size_t sqlite_greylist_sql_count = sizeof sqlite_greylist_sql / sizeof sqlite_greylist_sql[0];

/* ---- the rows of one check ---- */

static void greylist_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct store_greylist_row *row = v->arg;

    row->found = true;
    row->first_seen = sqlite3_column_int64(stmt, 0);
    row->last_seen = sqlite3_column_int64(stmt, 1);
    row->confirmed_at = sqlite3_column_int64(stmt, 2); /* NULL reads as 0: pending */
    row->count = sqlite3_column_int64(stmt, 3);
}

enum store_status sqlite_greylist_read(struct store_conn *c, const char *sender,
                                       const char *recipient, struct store_greylist_row *row,
                                       struct store_error *err)
{
    struct sqlite_visit v = {.row = greylist_row, .arg = row};
    enum store_status status;

    row->found = false;
    status = sqlite_each(c->s, STMT_GREYLIST_GET,
                         SQL_PARAMS(SQL_TEXT(row->source), SQL_TEXT(sender), SQL_TEXT(recipient)),
                         &v, err);
    return status == STORE_NOTFOUND ? STORE_OK : status;
}

enum store_status sqlite_greylist_write(struct store_conn *c, const char *sender,
                                        const char *recipient, const struct store_greylist_row *row,
                                        struct store_error *err)
{
    return sqlite_run(c->s, STMT_GREYLIST_PUT,
                      SQL_PARAMS(SQL_TEXT(row->source), SQL_TEXT(sender), SQL_TEXT(recipient),
                                 SQL_INT(row->first_seen), SQL_INT(row->last_seen),
                                 row->confirmed_at != 0 ? SQL_INT(row->confirmed_at) : SQL_NULL,
                                 SQL_INT(row->count)),
                      NULL, err);
}

static void autoallow_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct store_autoallow_row *row = v->arg;

    row->found = true;
    row->count = sqlite3_column_int64(stmt, 0);
    row->first_seen = sqlite3_column_int64(stmt, 1);
    row->last_seen = sqlite3_column_int64(stmt, 2);
}

enum store_status sqlite_autoallow_read(struct store_conn *c, struct store_autoallow_row *row,
                                        struct store_error *err)
{
    struct sqlite_visit v = {.row = autoallow_row, .arg = row};
    enum store_status status;

    row->found = false;
    status = sqlite_each(c->s, STMT_AUTOALLOW_GET, SQL_PARAMS(SQL_TEXT(row->network)), &v, err);
    return status == STORE_NOTFOUND ? STORE_OK : status;
}

enum store_status sqlite_autoallow_write(struct store_conn *c,
                                         const struct store_autoallow_row *row,
                                         struct store_error *err)
{
    return sqlite_run(c->s, STMT_AUTOALLOW_PUT,
                      SQL_PARAMS(SQL_TEXT(row->network), SQL_INT(row->count),
                                 SQL_INT(row->first_seen), SQL_INT(row->last_seen)),
                      NULL, err);
}

/* ---- expiry ---- */

/* A primary key of the greylist table, owned. */
struct greylist_pk {
    char *source, *sender, *recipient;
};

static char *column_copy(sqlite3_stmt *stmt, int col)
{
    const char *text = column_text(stmt, col);
    return xstrdup(text ? text : "");
}

static void greylist_pk_free(struct greylist_pk *k)
{
    free(k->source);
    free(k->sender);
    free(k->recipient);
    k->source = k->sender = k->recipient = NULL;
}

/* Copies columns 0-2 of the current row into k. */
static void greylist_pk_set(struct greylist_pk *k, sqlite3_stmt *stmt)
{
    greylist_pk_free(k);
    k->source = column_copy(stmt, 0);
    k->sender = column_copy(stmt, 1);
    k->recipient = column_copy(stmt, 2);
}

/* ?1-?3 of a statement that takes a primary key; an unset key is the empty one. */
#define PK_PARAMS(k)                                                                               \
    SQL_TEXT_OR_EMPTY((k)->source), SQL_TEXT_OR_EMPTY((k)->sender),                                \
        SQL_TEXT_OR_EMPTY((k)->recipient)

static void pk_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    greylist_pk_set(v->arg, stmt);
}

/* Where the sweep resumes; an empty key (before every row) when it never ran or wrapped. */
static enum store_status sweep_cursor(struct store_db *s, struct greylist_pk *cursor,
                                      struct store_error *err)
{
    struct sqlite_visit v = {.row = pk_row, .arg = cursor};
    enum store_status status = sqlite_each(s, STMT_GREYLIST_SWEEP_GET, NULL, 0, &v, err);

    return status == STORE_NOTFOUND ? STORE_OK : status;
}

struct sweep {
    int64_t confirmed_before;
    size_t seen;
    struct greylist_pk last; /* the last key examined */
    struct greylist_pk *due; /* the keys to delete */
    size_t ndue;
};

static void sweep_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct sweep *sw = v->arg;

    sw->seen++;
    greylist_pk_set(&sw->last, stmt);
    if (sqlite3_column_type(stmt, 3) != SQLITE_NULL &&
        sqlite3_column_int64(stmt, 4) < sw->confirmed_before) {
        sw->due = xrealloc(sw->due, (sw->ndue + 1) * sizeof *sw->due);
        sw->due[sw->ndue] = (struct greylist_pk){0};
        greylist_pk_set(&sw->due[sw->ndue++], stmt);
    }
}

/*
 * Examines at most *left triplets after the cursor, in key order, and deletes the confirmed ones
 * last seen before confirmed_before.  The keys are collected first and deleted after the scan, so
 * the scan never runs over rows it is changing.  *left is decreased by the rows deleted.
 */
static enum store_status sweep_confirmed(struct store_db *s, int64_t confirmed_before, size_t *left,
                                         struct store_error *err)
{
    struct greylist_pk cursor = {0};
    struct sweep sw = {.confirmed_before = confirmed_before};
    struct sqlite_visit v = {.row = sweep_row, .arg = &sw};
    enum store_status status;

    if (*left == 0)
        return STORE_OK;
    status = sweep_cursor(s, &cursor, err);
    if (status == STORE_OK)
        status =
            sqlite_each(s, STMT_GREYLIST_SWEEP_SCAN,
                        SQL_PARAMS(PK_PARAMS(&cursor), SQL_INT(size_to_int64(*left))), &v, err);
    if (status == STORE_NOTFOUND)
        status = STORE_OK;
    /* Fewer rows than asked for: the sweep reached the end and starts over next time. */
    if (sw.seen < *left)
        greylist_pk_free(&sw.last);
    for (size_t i = 0; status == STORE_OK && i < sw.ndue; i++)
        status = sqlite_run(s, STMT_GREYLIST_DELETE, SQL_PARAMS(PK_PARAMS(&sw.due[i])), NULL, err);
    if (status == STORE_OK)
        status = sqlite_run(s, STMT_GREYLIST_SWEEP_SET, SQL_PARAMS(PK_PARAMS(&sw.last)), NULL, err);
    if (status == STORE_OK)
        *left -= sw.ndue;
    for (size_t i = 0; i < sw.ndue; i++)
        greylist_pk_free(&sw.due[i]);
    free(sw.due);
    greylist_pk_free(&cursor);
    greylist_pk_free(&sw.last);
    return status;
}

enum store_status sqlite_greylist_expire(struct store_conn *c, int64_t pending_before,
                                         int64_t confirmed_before, int64_t autoallow_before,
                                         size_t *left, struct store_error *err)
{
    enum store_status status =
        sqlite_bounded_delete(c->s, STMT_GREYLIST_EXPIRE_PENDING, pending_before, left, err);

    if (status == STORE_OK)
        status = sqlite_bounded_delete(c->s, STMT_AUTOALLOW_EXPIRE, autoallow_before, left, err);
    if (status == STORE_OK)
        status = sweep_confirmed(c->s, confirmed_before, left, err);
    return status;
}
