/*
 * maintenance: the expiry rounds of the store's tables, on one host of a shared database at a
 * time (maintenance.h).
 */
#include "maintenance.h"

#include "greylist.h"
#include "log.h"
#include "throttle.h"

static bool stop_wanted(const atomic_bool *stopping)
{
    return stopping != NULL && atomic_load(stopping);
}

/* Is it this host's turn?  Logged when the answer changes (not at the first yes: one host). */
static bool turn_taken(struct maintenance *m, struct store *s)
{
    struct store_error why;
    bool held = false;

    if (store_maintenance_lock(s, &held, &why) != STORE_OK) {
        if (m->held)
            log_msg(LOG_WARNING, "maintenance: cannot keep the expiry turn: %s", why.text);
        m->held = false;
        m->asked = true;
        return false;
    }
    if (held && m->asked && !m->held)
        log_msg(LOG_INFO, "maintenance: the expiry of the shared database runs on this host now");
    if (!held && (m->held || !m->asked))
        log_msg(LOG_INFO, "maintenance: another host of the database runs its expiry "
                          "(this one takes over when that one stops)");
    m->asked = true;
    m->held = held;
    return held;
}

/* One bounded expiry step of a table (greylist_expire()'s shape). */
typedef enum store_status (*expiry_step)(struct store *s, const struct config *cfg, int64_t now,
                                         size_t batch, size_t *deleted, struct store_error *err);

static enum store_status decisions_step(struct store *s, const struct config *cfg, int64_t now,
                                        size_t batch, size_t *deleted, struct store_error *err)
{
    return store_decision_expire(s, now - cfg->decision_retention / 1000, batch, deleted, err);
}

/* An expiry step failed: said when expiry starts failing, not every tick while the database is
 * away (the store itself logs when it goes and when it is back). */
static void expiry_failed(const struct maintenance *m, bool *failed, const char *what,
                          const struct store_error *why)
{
    if (!m->failing && !*failed)
        log_msg(LOG_WARNING, "%s expiry: %s (tried again every tick, said once)", what, why->text);
    *failed = true;
}

/*
 * Steps while they come back full, up to MAINTENANCE_MAX_BATCHES: one batch a tick would remove
 * at most 500 greylist rows/s, fewer than a busy milter writes (tests/bench/RESULTS.md), and the
 * table would grow unbounded.
 */
static size_t expire_table(const struct maintenance *m, bool *failed, struct store *s,
                           const struct config *cfg, int64_t now, size_t batch, expiry_step step,
                           const char *what, const atomic_bool *stopping)
{
    struct store_error why;
    size_t total = 0;

    for (int i = 0; i < MAINTENANCE_MAX_BATCHES && !stop_wanted(stopping); i++) {
        size_t deleted = 0;
        if (step(s, cfg, now, batch, &deleted, &why) != STORE_OK) {
            expiry_failed(m, failed, what, &why);
            break;
        }
        total += deleted;
        if (deleted < batch)
            break;
    }
    if (total > 0)
        log_msg(LOG_DEBUG, "%s expiry: %zu old rows removed", what, total);
    return total;
}

bool maintenance_round(struct maintenance *m, struct store *s, const struct config *cfg,
                       int64_t now, const atomic_bool *stopping, struct maintenance_counts *counts)
{
    struct maintenance_counts got = {0};
    struct store_error why;

    if (counts != NULL)
        *counts = got;
    if (!turn_taken(m, s))
        return false;
    bool failed = false;
    got.decisions = expire_table(m, &failed, s, cfg, now, MAINTENANCE_RETENTION_BATCH,
                                 decisions_step, "decision log", stopping);
    got.greylist = expire_table(m, &failed, s, cfg, now, (size_t)cfg->greylist_expire_batch,
                                greylist_expire, "greylist", stopping);
    if (throttle_expire(s, cfg, (time_t)now, (size_t)cfg->greylist_expire_batch, &got.throttle,
                        &why) != STORE_OK ||
        store_held_expire(s, now - cfg->decision_retention / 1000, MAINTENANCE_RETENTION_BATCH,
                          &got.held, &why) != STORE_OK)
        expiry_failed(m, &failed, "throttle or held table", &why);
    /* The record of changes is kept longer than the decisions: a year's audit, by default. */
    if (store_change_expire(s, now - cfg->changes_retention / 1000, MAINTENANCE_RETENTION_BATCH,
                            &got.changes, &why) != STORE_OK)
        expiry_failed(m, &failed, "record of changes", &why);
    /* The DMARC report data is kept as long as the decisions it summarizes. */
    if (store_dmarc_expire(s, now - cfg->decision_retention / 1000, MAINTENANCE_RETENTION_BATCH,
                           &got.dmarc, &why) != STORE_OK)
        expiry_failed(m, &failed, "DMARC report data", &why);
    if (m->failing && !failed)
        log_msg(LOG_INFO, "expiry works again");
    m->failing = failed;
    if (counts != NULL)
        *counts = got;
    return true;
}
