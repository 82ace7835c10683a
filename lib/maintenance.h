/*
 * maintenance: the background expiry of the store's tables (the decision log, greylisting, the
 * throttle's buckets, the held table), run by the daemon's maintenance thread, never in a
 * callback.
 *
 * On a database several hosts share, expiry is work for one host, not for each: a round runs
 * only on the host that holds the store's maintenance lock (store_maintenance_lock(): a session
 * advisory lock on PostgreSQL, always held on SQLite's one-host file), so two hosts never delete
 * the same rows at once nor repeat each other's sweeps.  The first host to ask keeps the turn
 * while it runs; another takes it over at its next round after that host's connection ends.
 * What each host must do for itself (writing its own throttle counts, checking its database
 * file) stays with the daemon.
 *
 * Expiry runs in bounded batches with the store released between them, as many as a table needs
 * up to MAINTENANCE_MAX_BATCHES a round.
 */
#ifndef INGRESS_MAINTENANCE_H
#define INGRESS_MAINTENANCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

#define MAINTENANCE_MAX_BATCHES 25
#define MAINTENANCE_RETENTION_BATCH 1000

/* The caller's state between rounds (zeroed before the first). */
struct maintenance {
    bool asked;   /* the lock was asked for at least once */
    bool held;    /* this host held the turn at its last round */
    bool failing; /* the last round's expiry failed (said once, and once when it works again) */
};

/* What one round removed. */
struct maintenance_counts {
    size_t decisions, greylist, throttle, held, dmarc, changes;
};

/*
 * One round at now: asks for the turn, and when this host holds it, expires every table (the
 * retention options of cfg; throttle_expire()'s rule for the buckets), stopping between batches
 * once *stopping is set (may be NULL).  Logs when the turn comes to this host or goes to another,
 * and each table's failure (the next round tries again).  Returns whether this host ran the
 * expiry; counts (may be NULL) gets what went.
 */
bool maintenance_round(struct maintenance *m, struct store *s, const struct config *cfg,
                       int64_t now, const atomic_bool *stopping, struct maintenance_counts *counts);

#endif
