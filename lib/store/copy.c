/*
 * store/copy: store_copy(), the same for every pair of backends.  The rows of each table of
 * lib/store/copy.h are read from the source as text and written into the target in batches, in
 * one write transaction of the target, then counted on both sides before that transaction
 * commits.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"
#include "dispatch.h"
#include "util.h"

const struct store_copy_table store_copy_tables[] = {STORE_COPY_TABLE_LIST};
const size_t store_copy_table_count = sizeof store_copy_tables / sizeof store_copy_tables[0];

/* Rows written a call of copy_insert: over a network, a batch is one round trip. */
#define COPY_BATCH 256

/* The rows read and not yet written, each a copy (the source's row lives during its call). */
struct copy_batch {
    const struct store_backend *be; /* the target's */
    struct store_conn *c;
    size_t table, columns;
    char **rows[COPY_BATCH];
    size_t n;
    int64_t written;
};

static void batch_clear(struct copy_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        for (size_t col = 0; col < b->columns; col++)
            free(b->rows[i][col]);
        free(b->rows[i]);
    }
    b->n = 0;
}

static enum store_status batch_write(struct copy_batch *b, struct store_error *err)
{
    enum store_status status = STORE_OK;

    if (b->n > 0)
        status = b->be->copy_insert(b->c, b->table, (const char *const *const *)b->rows, b->n, err);
    if (status == STORE_OK)
        b->written += (int64_t)b->n;
    batch_clear(b);
    return status;
}

static enum store_status batch_add(const char *const *values, void *arg, struct store_error *err)
{
    struct copy_batch *b = arg;
    char **row = xcalloc(b->columns, sizeof *row);

    for (size_t col = 0; col < b->columns; col++)
        row[col] = values[col] != NULL ? xstrdup(values[col]) : NULL;
    b->rows[b->n++] = row;
    return b->n == COPY_BATCH ? batch_write(b, err) : STORE_OK;
}

/* The target's counts into the report; *rows the sum. */
static enum store_status count_target(struct store *to, struct store_conn *c,
                                      struct store_copy_report *r, int64_t *rows,
                                      struct store_error *err)
{
    enum store_status status = STORE_OK;

    *rows = 0;
    for (size_t t = 0; status == STORE_OK && t < store_copy_table_count; t++) {
        status = to->be->copy_count(c, t, &r->table[t].target, err);
        *rows += r->table[t].target;
    }
    return status;
}

/* One table: read, written, counted on both sides. */
static enum store_status copy_table(struct store *from, struct store_conn *src, struct store *to,
                                    struct store_conn *dst, size_t t, struct store_copy_report *r,
                                    struct store_error *err)
{
    const struct store_copy_table *table = &store_copy_tables[t];
    struct copy_batch b = {.be = to->be, .c = dst, .table = t, .columns = table->columns};
    enum store_status status = from->be->copy_count(src, t, &r->table[t].source, err);

    if (status == STORE_OK)
        status = from->be->copy_each(src, t, batch_add, &b, err);
    if (status == STORE_OK)
        status = batch_write(&b, err);
    batch_clear(&b);
    if (status == STORE_OK && to->be->copy_finish != NULL)
        status = to->be->copy_finish(dst, t, err);
    if (status == STORE_OK)
        status = to->be->copy_count(dst, t, &r->table[t].target, err);
    if (status == STORE_OK &&
        (b.written != r->table[t].source || r->table[t].target != r->table[t].source))
        status = store_error_set(err, STORE_ERROR,
                                 "table %s: %" PRId64 " rows in the source, %" PRId64
                                 " written, %" PRId64 " in the target: nothing was copied",
                                 table->name, r->table[t].source, b.written, r->table[t].target);
    return status;
}

/* Everything inside the two transactions. */
static enum store_status copy_all(struct store *from, struct store_conn *src, struct store *to,
                                  struct store_conn *dst, bool replace, struct store_copy_report *r,
                                  struct store_error *err)
{
    int64_t rows = 0;
    enum store_status status = count_target(to, dst, r, &rows, err);

    if (status == STORE_OK && rows > 0 && !replace) {
        r->not_empty = true;
        for (size_t t = 0; t < store_copy_table_count; t++)
            if (r->table[t].target > 0)
                return store_error_set(err, STORE_ERROR,
                                       "the target database is not empty (table %s: %" PRId64
                                       " rows): nothing was copied",
                                       store_copy_tables[t].name, r->table[t].target);
    }
    /* Emptied in the reverse order of the copy: the decision log first. */
    for (size_t t = store_copy_table_count; status == STORE_OK && replace && t > 0; t--)
        status = to->be->copy_clear(dst, t - 1, err);
    for (size_t t = 0; status == STORE_OK && t < store_copy_table_count; t++)
        status = copy_table(from, src, to, dst, t, r, err);
    return status;
}

enum store_status store_copy(struct store *from, struct store *to, bool replace,
                             struct store_copy_report *r, struct store_error *err)
{
    struct store_conn *src, *dst;
    enum store_status status;

    memset(r, 0, sizeof *r);
    r->tables = store_copy_table_count;
    for (size_t t = 0; t < store_copy_table_count; t++)
        r->table[t].name = store_copy_tables[t].name;
    if (from == to || strcmp(from->database, to->database) == 0)
        return store_error_set(err, STORE_ERROR, "the source and the target are one database");
    if (from->be->copy_each == NULL || to->be->copy_insert == NULL)
        return store_error_set(err, STORE_ERROR, "this database cannot be copied");
    src = store_conn_get(from, err);
    if (src == NULL)
        return STORE_ERROR;
    dst = store_conn_get(to, err);
    if (dst == NULL) {
        store_conn_put(from, src);
        return STORE_ERROR;
    }
    status = from->be->begin(src, STORE_TXN_READ, err);
    if (status == STORE_OK) {
        status = to->be->begin(dst, STORE_TXN_WRITE, err);
        if (status == STORE_OK)
            status = copy_all(from, src, to, dst, replace, r, err);
        if (status == STORE_OK)
            status = to->be->commit(dst, err);
        if (status != STORE_OK)
            to->be->rollback(dst);
        from->be->rollback(src); /* a read: nothing to keep */
    }
    store_conn_put(to, dst);
    store_conn_put(from, src);
    return status;
}
