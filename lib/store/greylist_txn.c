/*
 * store/greylist_txn: the greylist driver, the same for every backend (store.h "greylist"): the
 * rows a check needs are read, handed to the caller's decide function, and the rows it marked
 * written, in one transaction.  The backend reads and writes single rows (backend.h).
 */
#include "dispatch.h"
#include "metrics.h"

/* One check: its rows, and the caller's decide function. */
struct check {
    struct store_greylist_txn *t;
    void (*decide)(struct store_greylist_txn *t, void *arg);
    void *arg;
};

/* Reads the check's rows, calls decide, and writes the rows it marked; inside a transaction. */
static enum store_status read_decide_write(struct store *s, struct store_conn *c, const void *arg,
                                           struct store_error *err)
{
    const struct check *k = arg;
    struct store_greylist_txn *t = k->t;
    enum store_status status = STORE_OK;

    t->autoallow.write = false;
    if (t->autoallow.network != NULL)
        status = s->be->autoallow_read(c, &t->autoallow, err);
    for (int i = 0; status == STORE_OK && i < STORE_GREYLIST_ROWS; i++) {
        t->rows[i].write = false;
        if (t->rows[i].source != NULL)
            status = s->be->greylist_read(c, t->sender, t->recipient, &t->rows[i], err);
    }
    if (status != STORE_OK)
        return status;
    k->decide(t, k->arg);
    for (int i = 0; status == STORE_OK && i < STORE_GREYLIST_ROWS; i++)
        if (t->rows[i].source != NULL && t->rows[i].write)
            status = s->be->greylist_write(c, t->sender, t->recipient, &t->rows[i], err);
    if (status == STORE_OK && t->autoallow.network != NULL && t->autoallow.write)
        status = s->be->autoallow_write(c, &t->autoallow, err);
    return status;
}

/*
 * One transaction in the common case.  It begins as a read (STORE_TXN_READ), reads the rows and
 * asks decide; when decide writes nothing (a confirmed triplet whose last use is recent:
 * lib/greylist.c) it ends there, having never taken the write lock.  When it writes, the same
 * transaction is upgraded by the first write.  The upgrade fails at once with STORE_BUSY when
 * another connection holds the write lock or has committed since the read (SQLite in WAL mode:
 * the snapshot is stale): then everything is rolled back and done again the safe way, a
 * transaction that takes the write lock first (STORE_TXN_WRITE, waiting up to the busy
 * timeout), read, decide, write.  decide may therefore run twice; only the last run's writes are
 * kept.  A backend may do that first transaction itself in fewer round trips (backend.h:
 * greylist_txn), with the same outcomes.
 */
enum store_status store_greylist_update(struct store *s, struct store_greylist_txn *t,
                                        void (*decide)(struct store_greylist_txn *t, void *arg),
                                        void *arg, struct store_error *err)
{
    struct check k = {t, decide, arg};
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status;

    if (s->be->greylist_txn != NULL) {
        int64_t start = metrics_now_us();
        status = s->be->greylist_txn(c, t, decide, arg, err);
        store_txn_count(STORE_TXN_READ, status, start);
    } else {
        status = store_txn(s, c, STORE_TXN_READ, read_decide_write, &k, err);
    }

    if (status == STORE_BUSY)
        status = store_txn(s, c, STORE_TXN_WRITE, read_decide_write, &k, err);
    store_conn_put(s, c);
    return status;
}
