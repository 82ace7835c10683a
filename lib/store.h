/*
 * store: all persistent state goes through this interface (DESIGN.md §7); store_sqlite.c is the
 * implementation.  Checks never see SQL, so a shared backend can come later.
 *
 * One struct store may be used from many threads: it serializes access with its own mutex (one
 * SQLite connection, WAL mode, synchronous=NORMAL, a busy timeout, prepared statements reused).
 * Every function returns a store_status: STORE_BUSY and STORE_ERROR become the store_failure
 * verdict on the callback path (STYLE rule 21).
 */
#ifndef INGRESS_STORE_H
#define INGRESS_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_status { STORE_OK = 0, STORE_NOTFOUND, STORE_BUSY, STORE_ERROR };

struct store;

/*
 * Opens (creating if needed) the database at path and applies the schema migrations it lacks,
 * each in its own transaction.  A database whose PRAGMA user_version is newer than this build's
 * last migration is refused.  On error: NULL, and a message naming the path in err.
 */
struct store *store_open(const char *path, int64_t busy_timeout_ms, char *err, size_t errlen);
void store_close(struct store *s);

/* The schema version this build brings (the number of the last migration). */
int store_schema_version(void);

/*
 * Why the last call on this store failed (SQLite's message). Borrowed: valid until the next call.
 * With several threads on one store, use store_last_error_r(): another thread's failure may
 * rewrite the text while it is read.
 */
const char *store_last_error(struct store *s);
/* The same, copied into buf (size buflen > 0) under the store's mutex. */
void store_last_error_r(struct store *s, char *buf, size_t buflen);

/* One decision of the milter (DESIGN.md §7 "decisions").  All strings borrowed, may be NULL. */
struct decision {
    int64_t time;         /* unix seconds */
    const char *queue_id; /* NULL or "NOQUEUE" before Postfix chose one */
    const char *ref;      /* the reference given in the reply, per connection */
    const char *client_ip;
    const char *client_name; /* as the MTA reported it */
    const char *helo;
    const char *sender; /* envelope MAIL FROM without brackets, "" for <> */
    const char *recipient;
    const char *account; /* {auth_authen} or NULL */
    const char *check;   /* "iprev", "policy", ... */
    const char *action;  /* verdict_action_name() */
    const char *reply;   /* the full reply text given, or NULL when none */
    const char *detail;
};

/* Records d (copied; check and action are required). */
enum store_status store_decision_add(struct store *s, const struct decision *d);

/*
 * Calls fn for each decision whose queue id, reference, client IP, sender or recipient equals key
 * (addresses compared case-insensitively; a key in <> also matches the bare address), oldest
 * first, at most limit rows.  The decision passed to fn lives only during the call, and fn runs
 * with the store locked: it must not call the store.  STORE_NOTFOUND when none matched.
 */
enum store_status store_decision_find(struct store *s, const char *key, size_t limit,
                                      void (*fn)(const struct decision *d, void *arg), void *arg);

/* Deletes decisions older than before (unix seconds), at most batch rows; *deleted gets how many.
 */
enum store_status store_decision_expire(struct store *s, int64_t before, size_t batch,
                                        size_t *deleted);

#endif
