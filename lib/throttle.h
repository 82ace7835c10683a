/*
 * throttle: per-account send rates of authenticated submission, their baseline and limits
 * (README "Submission throttle", "How the throttle baseline is computed").
 *
 * An account's messages and recipients are counted over sliding windows of a minute, an hour and
 * a day.  A message is abnormal when a count including it is above the window's static limit
 * (the account's own, else the option), or above the adaptive limit: throttle_factor times the
 * account's baseline for that window, never below the window's floor.
 *
 * Counting happens in memory: an account is loaded from the store on first sight (its recent
 * buckets and its hourly history), counted in a hash table, and written back in batches by
 * throttle_flush(), one write transaction for all accounts, so a message costs no write
 * transaction of its own.  A crash loses at most the counts since the last flush.  Each check
 * reads the account's throttle state (throttled, limits, reset_at) from the store: `ingressctl`
 * changes it from another process and the next message sees the change.
 *
 * Several hosts on one database count one account together: the stored buckets are the sums of
 * what every host flushed, so a check counts the account's buckets as the store last gave them
 * plus this host's counts not yet flushed.  A check reads the buckets again when they are
 * THROTTLE_REFRESH_SECONDS old (one read per active account and interval, none per message), and
 * the daemon flushes every THROTTLE_REFRESH_SECONDS.  A host therefore sees another's messages at
 * most 2 x THROTTLE_REFRESH_SECONDS after they were counted: spread over N hosts, an account gets
 * through at most its limit plus what the other N - 1 hosts let through in that time, and never
 * more than N times the limit (README "Several MX hosts").
 *
 * MTA-independent and thread-safe: one mutex guards the table, and no store call is made while
 * it is held.  The struct throttle holds no config: it survives reloads, and every call takes
 * the config in force.
 */
#ifndef INGRESS_THROTTLE_H
#define INGRESS_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "store.h"

enum throttle_window { THROTTLE_MINUTE, THROTTLE_HOUR, THROTTLE_DAY, THROTTLE_WINDOWS };

/* How old the fleet's counts of an account may get before a check reads them again; the
 * daemon's flush interval. */
#define THROTTLE_REFRESH_SECONDS 2

/* Longest account name counted; a longer {auth_authen} is refused with STORE_ERROR. */
#define THROTTLE_ACCOUNT_MAX 512

struct throttle;

struct throttle_decision {
    bool abnormal;          /* over a limit, or the account is already throttled */
    bool already_throttled; /* the store says so: reason is the stored one */
    /* e.g. "1h window: 312 recipients > limit 300 (static)" or "1m window: 41 messages > 5 x
     * baseline 3.2 (adaptive)"; printable ASCII without '%', "" when not abnormal */
    char reason[256];
    /* The current rates including this message, for the log line; by enum throttle_window. */
    int64_t msgs[THROTTLE_WINDOWS], rcpts[THROTTLE_WINDOWS];
    /* What the rates are judged against, by window and [0 messages, 1 recipients], for the
     * postmaster (ingressctl account show, held show): the account's baseline, its static limit
     * (0: none) and its adaptive limit (throttle_factor x baseline, at least the floor; 0: off). */
    double baseline[THROTTLE_WINDOWS][2];
    int64_t static_limit[THROTTLE_WINDOWS][2];
    double adaptive_limit[THROTTLE_WINDOWS][2];
};

/* Never fails (allocation failure aborts).  The caller frees it; throttle_free(NULL) is a no-op.
 * Counts not flushed before throttle_free() are lost. */
struct throttle *throttle_new(void);
void throttle_free(struct throttle *t);

/*
 * Decides for one message of account (borrowed) with nrcpt recipients at now, without counting
 * it.  Reads the account's throttle state from s, and on first sight (or when the hour rolled
 * over since its baseline was computed, or when the counts read last are THROTTLE_REFRESH_SECONDS
 * old) its buckets.  With cfg->throttle off: not abnormal, no
 * store access.  STORE_BUSY / STORE_ERROR when the store could not tell (d says not abnormal
 * then); STORE_ERROR also for an account name longer than THROTTLE_ACCOUNT_MAX.
 */
enum store_status throttle_check(struct throttle *t, const struct config *cfg, struct store *s,
                                 const char *account, unsigned nrcpt, time_t now,
                                 struct throttle_decision *d);

/*
 * Counts one message (in memory; persisted by throttle_flush()).  The policy counts what it
 * accepts or holds, not what it refuses, so a client retrying a refused message cannot keep
 * itself refused.  Messages of an account its last check found already throttled are not
 * counted: they are held anyway, the unthrottle forgives the windows, and a hijacker's flood
 * must not become the account's baseline.  An account never checked is counted in the store
 * only (at the next flush), since only throttle_check() loads it.  An account name longer than
 * THROTTLE_ACCOUNT_MAX is not counted.
 */
void throttle_add(struct throttle *t, const char *account, unsigned nrcpt, time_t now);

/*
 * Adds every count not yet written to the store, in one transaction; on failure they are kept
 * for the next call.  After a successful write, forgets the accounts idle for a day (they are
 * loaded again on their next message).  Called every few seconds by the daemon's maintenance
 * thread and once at shutdown; concurrent calls are serialized.  err as in store.h.
 */
enum store_status throttle_flush(struct throttle *t, struct store *s, time_t now,
                                 struct store_error *err);

/*
 * One bounded expiry step: buckets of the minute and hour windows older than an hour, hourly
 * buckets older than throttle_history and a day; at most batch rows.  *deleted gets how many.
 * err as in store.h.
 */
enum store_status throttle_expire(struct store *s, const struct config *cfg, time_t now,
                                  size_t batch, size_t *deleted, struct store_error *err);

/* Accounts held in memory (for tests and the benchmark). */
size_t throttle_account_count(struct throttle *t);

#endif
