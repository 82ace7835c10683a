/*
 * store/dry_run: a store that reads the database and writes nothing, for `ingressctl check`,
 * which runs the milter's own checks on made-up input and must leave no trace: no greylist
 * triplet, no throttle count, no decision row, no held row, no DMARC report row.
 *
 * The seam is the backend's table of functions: the store keeps a copy of its backend's table
 * in which every operation that writes is replaced by one that answers as a successful write
 * would and touches nothing, and every transaction begins as a read (dispatch.h: dry_run), so
 * the checks above run unchanged, read what the milter would read and decide what it would
 * decide.  A reader who may not write the files (a member of the database's group) gets the
 * same answers as root.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "util.h"

static enum store_status no_decision_insert(struct store_conn *c,
                                            const struct decision *const *rows, size_t n,
                                            struct store_error *err)
{
    (void)c, (void)rows, (void)n, (void)err;
    return STORE_OK;
}

static enum store_status no_expire(struct store_conn *c, int64_t before, size_t *left,
                                   struct store_error *err)
{
    (void)c, (void)before, (void)left, (void)err;
    return STORE_OK;
}

static enum store_status no_greylist_write(struct store_conn *c, const char *sender,
                                           const char *recipient,
                                           const struct store_greylist_row *row,
                                           struct store_error *err)
{
    (void)c, (void)sender, (void)recipient, (void)row, (void)err;
    return STORE_OK;
}

static enum store_status no_autoallow_write(struct store_conn *c,
                                            const struct store_autoallow_row *row,
                                            struct store_error *err)
{
    (void)c, (void)row, (void)err;
    return STORE_OK;
}

static enum store_status no_greylist_expire(struct store_conn *c, int64_t pending_before,
                                            int64_t confirmed_before, int64_t autoallow_before,
                                            size_t *left, struct store_error *err)
{
    (void)c, (void)pending_before, (void)confirmed_before, (void)autoallow_before, (void)left;
    (void)err;
    return STORE_OK;
}

static enum store_status no_list_put(struct store_conn *c, const struct list_entry *e,
                                     char *previous, size_t previous_len, struct store_error *err)
{
    (void)c, (void)e, (void)err;
    if (previous != NULL && previous_len > 0)
        previous[0] = '\0';
    return STORE_OK;
}

static enum store_status no_list_del(struct store_conn *c, const char *kind, const char *value,
                                     struct store_error *err)
{
    (void)c, (void)kind, (void)value, (void)err;
    return STORE_OK;
}

static enum store_status no_rule_put(struct store_conn *c, const struct rcpt_rule *r,
                                     char *previous, size_t previous_len, struct store_error *err)
{
    (void)c, (void)r, (void)err;
    if (previous != NULL && previous_len > 0)
        previous[0] = '\0';
    return STORE_OK;
}

static enum store_status no_two_names(struct store_conn *c, const char *a, const char *b,
                                      struct store_error *err)
{
    (void)c, (void)a, (void)b, (void)err;
    return STORE_OK;
}

static enum store_status no_account_add(struct store_conn *c, const char *name, int64_t now,
                                        bool *created, struct store_error *err)
{
    (void)c, (void)name, (void)now, (void)err;
    if (created != NULL)
        *created = false;
    return STORE_OK;
}

static enum store_status no_alias_add(struct store_conn *c, const struct store_alias *alias,
                                      bool *created, struct store_error *err)
{
    (void)c, (void)alias, (void)err;
    if (created != NULL)
        *created = false;
    return STORE_OK;
}

static enum store_status no_account_suspend(struct store_conn *c, const char *name, int64_t now,
                                            const char *reason, bool *changed,
                                            struct store_error *err)
{
    (void)c, (void)name, (void)now, (void)reason, (void)err;
    if (changed != NULL)
        *changed = false;
    return STORE_OK;
}

static enum store_status no_one_name(struct store_conn *c, const char *name,
                                     struct store_error *err)
{
    (void)c, (void)name, (void)err;
    return STORE_OK;
}

static enum store_status no_held_add(struct store_conn *c, const struct store_held *h,
                                     struct store_error *err)
{
    (void)c, (void)h, (void)err;
    return STORE_OK;
}

static enum store_status no_held_decide(struct store_conn *c, const char *queue_id,
                                        const char *host, const char *state, const char *by,
                                        const char *reason, int64_t now, struct store_error *err)
{
    (void)c, (void)queue_id, (void)host, (void)state, (void)by, (void)reason, (void)now;
    (void)err;
    return STORE_OK;
}

static enum store_status no_held_undo(struct store_conn *c, const char *queue_id, const char *host,
                                      const char *state, const char *by, int64_t at,
                                      struct store_error *err)
{
    (void)c, (void)queue_id, (void)host, (void)state, (void)by, (void)at, (void)err;
    return STORE_OK;
}

static enum store_status no_change_add(struct store_conn *c, const struct store_change *ch,
                                       struct store_error *err)
{
    (void)c, (void)ch, (void)err;
    return STORE_OK;
}

static enum store_status no_dmarc_upsert(struct store_conn *c,
                                         const struct store_dmarc_row *const *rows,
                                         const char *const *keys, size_t n, struct store_error *err)
{
    (void)c, (void)rows, (void)keys, (void)n, (void)err;
    return STORE_OK;
}

static enum store_status no_bucket_add(struct store_conn *c, const struct store_throttle_bucket *b,
                                       struct store_error *err)
{
    (void)c, (void)b, (void)err;
    return STORE_OK;
}

static enum store_status no_throttle_mark(struct store_conn *c, const char *account, int64_t since,
                                          const char *reason, bool *marked, struct store_error *err)
{
    (void)c, (void)account, (void)since, (void)reason, (void)err;
    if (marked != NULL)
        *marked = false;
    return STORE_OK;
}

static enum store_status no_throttle_clear(struct store_conn *c, const char *account, int64_t now,
                                           struct store_error *err)
{
    (void)c, (void)account, (void)now, (void)err;
    return STORE_OK;
}

static enum store_status no_set_limits(struct store_conn *c, const char *account,
                                       const int64_t limits[STORE_THROTTLE_LIMITS],
                                       struct store_error *err)
{
    (void)c, (void)account, (void)limits, (void)err;
    return STORE_OK;
}

static enum store_status no_throttle_expire(struct store_conn *c, int64_t fine_before,
                                            int64_t hourly_before, size_t *left,
                                            struct store_error *err)
{
    (void)c, (void)fine_before, (void)hourly_before, (void)left, (void)err;
    return STORE_OK;
}

struct store *store_open_dry_run(const char *database, int64_t busy_timeout_ms,
                                 struct store_error *err)
{
    struct store *s = store_open_existing(database, busy_timeout_ms, err);
    struct store_backend *be;

    if (s == NULL)
        return NULL;
    be = xmalloc(sizeof *be);
    *be = *s->be;
    be->decision_insert = no_decision_insert;
    be->decision_expire = no_expire;
    be->greylist_write = no_greylist_write;
    be->autoallow_write = no_autoallow_write;
    be->greylist_expire = no_greylist_expire;
    be->list_put = no_list_put;
    be->list_del = no_list_del;
    be->rule_put = no_rule_put;
    be->rule_del = no_two_names;
    be->account_add = no_account_add;
    be->alias_add = no_alias_add;
    be->alias_del = no_two_names;
    be->account_suspend = no_account_suspend;
    be->account_resume = no_one_name;
    be->held_add = no_held_add;
    be->held_decide = no_held_decide;
    be->held_expire = no_expire;
    be->held_undo = no_held_undo;
    be->change_add = no_change_add;
    be->change_expire = no_expire;
    be->dmarc_upsert = no_dmarc_upsert;
    /* The backends' shortcuts that write in fewer round trips: without them the shared drivers
     * run, through the stubs above.  A dry-run store is never copied into. */
    be->decision_batch = NULL;
    be->greylist_txn = NULL;
    be->copy_count = NULL;
    be->copy_each = NULL;
    be->copy_insert = NULL;
    be->copy_clear = NULL;
    be->copy_finish = NULL;
    be->dmarc_expire = no_expire;
    be->throttle_bucket_add = no_bucket_add;
    be->throttle_mark = no_throttle_mark;
    be->throttle_clear = no_throttle_clear;
    be->throttle_set_limits = no_set_limits;
    be->throttle_expire = no_throttle_expire;
    s->dry_run_backend = be;
    s->be = be;
    return s;
}
