/*
 * store: all persistent state goes through this interface; the checks never see SQL or a database
 * engine.  Behind it, lib/store/store.c picks a backend by the database value given to
 * store_open() and runs every call through that backend's table of functions
 * (lib/store/backend.h, private to lib/store/): SQLite (lib/store/sqlite*.c) for a path,
 * PostgreSQL (lib/store/pg*.c) for a connection URI or libpq settings.  What
 * every backend does the same way is done once above the table: argument checks, the
 * transactions of the writes that touch several rows, the migration loop, the decision log's
 * background writer and the greylist's read/decide/write driver.
 *
 * One struct store may be used from many threads: each call takes a connection of the backend
 * for its duration (SQLite: its one connection, under a mutex; WAL mode, synchronous=NORMAL, a
 * busy timeout, prepared statements reused).
 *
 * Errors are values: every call that can fail returns a store_status, and takes err last: NULL,
 * or where the call writes why it failed when it returns STORE_BUSY or STORE_ERROR (err is left
 * alone otherwise).  STORE_BUSY is "could not tell" (a lock held elsewhere past the busy
 * timeout): on the callback path both become the store_failure verdict, never a pass.
 */
#ifndef INGRESS_STORE_H
#define INGRESS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum store_status { STORE_OK = 0, STORE_NOTFOUND, STORE_BUSY, STORE_ERROR };

#define STORE_ERROR_MAX 512

/* Why a call failed, written by the call (the engine's message, or the store's own). */
struct store_error {
    char text[STORE_ERROR_MAX];
    /* The SQLSTATE of an error the server sent (PostgreSQL: "22021"), "" for any other failure
     * (store_error_set() clears it): the decision writer drops a row the server refuses for its
     * content rather than retrying it. */
    char sqlstate[6];
};

struct store;

/*
 * The database value (the option `database`) chooses the backend: a path is an SQLite file; a
 * PostgreSQL connection (a postgresql:// or postgres:// URI, or libpq's key=value settings) is a
 * database on a PostgreSQL server (lib/store/pg.h), which its administrator created.
 *
 * store_open() opens the database (creating it when missing), then applies the schema migrations
 * it lacks, all in one transaction (a database has this build's schema whole, or the one it had:
 * a new one, none), under a lock that keeps two processes from migrating at once.  A database
 * whose schema is newer than this build's last migration is refused.  On error: NULL, and a
 * message naming the database in err.
 *
 * For SQLite, a database file it creates gets mode STORE_MODE_DEFAULT (store_open_mode: the mode
 * given; 0640 lets a group read it) whatever the umask, and so do the -wal and -shm SQLite
 * creates beside it (they take the database file's mode); an existing file keeps its mode, and
 * each of the three that is wider than that mode is logged (the decision log holds addresses and
 * subjects).
 *
 * store_open_existing() is the same for a tool: a database that does not exist yet is refused
 * instead of created (for SQLite: a missing file, which only the milter creates, so that a typo
 * is not a new empty database).  For SQLite, a file the user may read but not write (a member of
 * the files' group) is opened read-only: every write fails with STORE_ERROR, a schema that lacks
 * a migration is refused, and it can be read only while the milter runs (SQLite needs the -wal
 * and -shm files the milter keeps).
 */
#define STORE_MODE_DEFAULT 0600
struct store *store_open(const char *database, int64_t busy_timeout_ms, struct store_error *err);
struct store *store_open_mode(const char *database, int64_t busy_timeout_ms, mode_t mode,
                              struct store_error *err);
struct store *store_open_existing(const char *database, int64_t busy_timeout_ms,
                                  struct store_error *err);
/*
 * store_open_dry_run() opens an existing database as store_open_existing() does, for a dry run
 * of the checks (`ingressctl check`): every read answers from the database, every write answers
 * as a successful one would and changes nothing (no greylist row, no throttle count, no decision
 * or held row), and no transaction takes the write lock.
 */
struct store *store_open_dry_run(const char *database, int64_t busy_timeout_ms,
                                 struct store_error *err);
void store_close(struct store *s);

/* The database value as messages and `milter-ingress -n` show it: a PostgreSQL one without its
 * password (rebuilt from the settings that name the server), a path as it is. */
void store_database_shown(const char *database, char *out, size_t outlen);
/* Is the database value a PostgreSQL connection (a URI or keyword = value settings)? */
bool store_database_is_postgresql(const char *database);

/* The schema version this build brings (the number of the last migration). */
int store_schema_version(void);

/* The account the daemon runs as once started, for store_check_location (borrowed). */
struct store_runas {
    const char *name; /* for messages: the user name, or "uid N" */
    uid_t uid;
    const gid_t *groups; /* every group of the account, primary and supplementary */
    int ngroups;
};

/*
 * Checks what the database value names before the daemon opens anything as root, against the
 * account it will run as: for SQLite, the database's directory (lib/store/sqlite.c says what it
 * must be).  false with err when it is unsafe or unusable, or when the value names no backend of
 * this build.
 */
bool store_check_location(const char *database, const struct store_runas *who,
                          struct store_error *err);

/*
 * Gives the files of the database (SQLite: the file and its -wal and -shm companions) to uid:gid,
 * so that they stay writable after the daemon drops its privileges; logs what it cannot change.
 * Nothing for a backend without files.
 */
void store_set_owner(const char *database, uid_t uid, gid_t gid);

/*
 * What the database value names must stay the database the store has open (SQLite: the file at
 * the path).  For SQLite every commit checks it first (one stat()): a write into a file that was
 * removed or replaced (an admin's rm -rf, a backup renamed over it) is rolled back and fails
 * with STORE_ERROR.  store_check, for the daemon's maintenance thread (one stat() a call when
 * nothing moved), then lets the old database go (its connections closed, the decision writer's
 * too) and opens the one now there, creating it with its schema (and the store's mode) when
 * missing: the one at the path wins, and what only the old one held is no longer used.  It sets
 * *reopened and writes a line for the log into err naming both (SQLite: both inodes).  When none
 * can be opened there (directory gone, disk full) it returns STORE_ERROR with err, and until a
 * later call succeeds every call on the store fails with that message (reads too), while the
 * decision writer keeps its queue.
 */
enum store_status store_check(struct store *s, bool *reopened, struct store_error *err);

/* One decision of the milter, a row of the decision log.  All strings borrowed, may be NULL. */
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
    const char *host; /* the option host_name of the milter that decided */
    /* The one mailbox of the message's one From header, in lower case; NULL before the headers
     * were read, or for a From header of no or several mailboxes. */
    const char *header_from;
};

/*
 * Records d (copied; check and action are required).  Without a writer (below) the row is
 * written before the call returns.  With a writer started, d is copied into the queue and the
 * call returns at once: STORE_OK when queued, STORE_BUSY when the queue is full (the database
 * has been failing or too slow for a while; err says so) and the row is dropped.
 */
enum store_status store_decision_add(struct store *s, const struct decision *d,
                                     struct store_error *err);

/*
 * The decision log written in the background (one write transaction per message was a top
 * cost of a busy milter).  After this call store_decision_add() only queues, in memory, at
 * most queue_max rows; a thread of the store inserts what is queued in one transaction per batch
 * rows, every interval_ms or as soon as batch rows wait.  A batch that fails (database locked,
 * disk full) stays queued and is tried again at the next interval, so rows are lost only when the
 * queue is full (store_decision_add() refuses them) or when store_close() cannot write what is
 * left (logged).  store_decision_find() and store_close() first write what is queued, so a reader
 * in this process sees every decision added before it.  After its batches the writer runs the
 * backend's housekeeping: for SQLite the WAL checkpoints (PASSIVE), which SQLite would otherwise
 * run inside whatever commit crosses the threshold: a callback's.  STORE_ERROR when the thread
 * cannot start or a writer runs already.
 */
enum store_status store_decision_writer_start(struct store *s, int64_t interval_ms, size_t batch,
                                              size_t queue_max, struct store_error *err);

/* Writes every queued decision now (one transaction per batch); STORE_OK when none is left. */
enum store_status store_decision_flush(struct store *s, struct store_error *err);

/* What the writer did since it started (all zero without a writer). */
struct store_decision_counts {
    uint64_t queued;  /* accepted by store_decision_add() */
    uint64_t written; /* committed to the database */
    uint64_t refused; /* dropped: the queue was full */
    uint64_t dropped; /* refused by the database for their content, each alone (never retried) */
    uint64_t failed_batches;
    uint64_t batches;      /* committed */
    uint64_t batch_us;     /* spent writing the committed batches */
    uint64_t largest;      /* rows of the largest batch written */
    uint64_t rounds;       /* of the writer's thread */
    uint64_t sleeps;       /* waits of a whole interval */
    uint64_t housekeep_us; /* spent after the batches: DMARC counts, the backend's upkeep */
    size_t waiting;        /* in the queue now */
};
void store_decision_counts(struct store *s, struct store_decision_counts *out);

/*
 * Calls fn for each decision whose queue id, reference, client IP, sender, recipient or account
 * equals key
 * (addresses compared case-insensitively; a key in <> also matches the bare address), oldest
 * first, at most limit rows.  The decision passed to fn lives only during the call, and fn runs
 * with the store locked: it must not call the store.  STORE_NOTFOUND when none matched.
 */
enum store_status store_decision_find(struct store *s, const char *key, size_t limit,
                                      void (*fn)(const struct decision *d, void *arg), void *arg,
                                      struct store_error *err);

/*
 * What `ingressctl why` asks for: the decisions about key in a period, newest first.  key is a
 * queue id, a reference (any case), a client IP, an address (with or without <>; compared without
 * case with the sender, the recipient, the account and the header From of decisions.header_from),
 * an account, or a domain ("@domain", or
 * a name with a dot that is no address: the sender's or the recipient's domain, without case).
 * Everything is compared as text: '%' and '_' are the characters themselves.
 */
struct store_decision_query {
    const char *key;
    int64_t since, until; /* unix seconds: time >= since, time < until; 0: no bound */
    size_t limit;
};

/*
 * Calls fn for each decision q matches, newest first, at most q->limit of them; what is queued is
 * written first, as for store_decision_find(), and fn runs likewise with the store locked.
 * STORE_NOTFOUND when none matched.
 */
enum store_status store_decision_search(struct store *s, const struct store_decision_query *q,
                                        void (*fn)(const struct decision *d, void *arg), void *arg,
                                        struct store_error *err);

/*
 * Calls fn with each (check, action) pair of the decisions recorded at or after since (unix
 * seconds) and how many there are, ordered by check then action (`ingressctl stats`).  What is
 * queued is written first, as for store_decision_find().  The strings live during the call.
 * STORE_NOTFOUND when there is none.
 */
enum store_status store_decision_tally(struct store *s, int64_t since,
                                       void (*fn)(const char *check, const char *action,
                                                  int64_t count, void *arg),
                                       void *arg, struct store_error *err);

/*
 * Deletes decisions older than before (unix seconds), at most batch rows; *deleted gets how many.
 * On PostgreSQL, whose log is partitioned by day, a day goes whole, by dropping its partition,
 * once all of it is older than before (rows are kept up to a day longer; they are not counted in
 * *deleted, and the dropped days are logged); only rows of days that had no partition of their own
 * are deleted one by one, within batch.  The call also makes the coming days' partitions.
 */
enum store_status store_decision_expire(struct store *s, int64_t before, size_t batch,
                                        size_t *deleted, struct store_error *err);

/*
 * The fleet's background maintenance (lib/maintenance.c: the expiry of every table) runs on one
 * host of a shared database at a time.  *held gets whether this store holds that turn: on
 * PostgreSQL a session advisory lock taken with pg_try_advisory_lock on a connection of its own,
 * kept while the store is open (the first host to ask keeps it; another takes over when that
 * one's connection ends, at its exit or when the server restarts); on SQLite always true (one
 * host's file).  STORE_BUSY or STORE_ERROR when the server could not be asked: not held.
 */
enum store_status store_maintenance_lock(struct store *s, bool *held, struct store_error *err);

/* ---- greylist ---- */
/*
 * Greylisting triplets and the auto-allowlist of networks (schema/sqlite/002_greylist.sql; the
 * policy is lib/greylist.c, which normalizes every value before it gets here).
 *
 * The store knows no greylisting rule: store_greylist_update() reads the rows a check needs,
 * hands them to the caller's decide function, and writes back the rows it marked, all in one
 * write transaction (two milter processes on one database cannot both read a triplet as new and
 * both insert it); a check that writes nothing ends after a read.  decide
 * runs with the store locked, inside the transaction: it must be quick and must not call the
 * store.
 */
struct store_greylist_row {
    const char *source;   /* set by the caller: network, or "spf:domain"; NULL: row unused */
    bool found;           /* set by the store: the row exists (its values below) */
    int64_t first_seen;   /* unix seconds */
    int64_t last_seen;    /* unix seconds */
    int64_t confirmed_at; /* unix seconds; 0 while pending */
    int64_t count;        /* passes through this triplet */
    bool write;           /* set by decide: insert or replace the row with these values */
};

struct store_autoallow_row {
    const char *network; /* set by the caller; NULL: not read */
    bool found;
    int64_t count; /* counted deliveries */
    int64_t first_seen, last_seen;
    bool write;
};

#define STORE_GREYLIST_ROWS 2 /* [0] keyed on the network, [1] on the SPF-pass domain */

/* One check's rows; all strings borrowed from the caller for the call. */
struct store_greylist_txn {
    const char *sender;    /* normalized */
    const char *recipient; /* normalized */
    struct store_greylist_row rows[STORE_GREYLIST_ROWS];
    struct store_autoallow_row autoallow;
};

/*
 * Reads t's rows in a read transaction and calls decide(t, arg); when decide marked nothing to
 * write, that is all (no write lock is taken).  Otherwise reads the rows again in a transaction
 * that holds the write lock, calls decide again (it must derive everything it says from the rows,
 * as it may run twice), writes the rows it marked and commits.  On any failure nothing is written
 * (STORE_BUSY when the lock could not be had within the busy timeout), and decide may not have been
 * called.
 */
enum store_status store_greylist_update(struct store *s, struct store_greylist_txn *t,
                                        void (*decide)(struct store_greylist_txn *t, void *arg),
                                        void *arg, struct store_error *err);

/*
 * One bounded expiry step, in one transaction, deleting at most batch rows in all: pending
 * triplets first seen before pending_before (oldest first, by index), then autoallow rows last
 * seen before autoallow_before (likewise), then, with what is left of batch, a sweep that
 * examines that many triplets in key order from where the last step stopped (the position is
 * kept in the database) and deletes the confirmed ones last seen before confirmed_before.
 * *deleted gets how many rows went.  A full sweep of N triplets takes about N / batch steps.
 */
enum store_status store_greylist_expire(struct store *s, int64_t pending_before,
                                        int64_t confirmed_before, int64_t autoallow_before,
                                        size_t batch, size_t *deleted, struct store_error *err);

/* ---- lists ---- */
/*
 * The postmaster's block/allow lists and the recipients' rules (schema/sqlite/003_lists.sql; policy
 * in lib/lists.c, which also normalizes values before they get here: the store compares them as
 * given).  Strings in the structs are borrowed; rows handed to a callback live only during the
 * call, which runs with the store locked and must not call the store.
 */
struct list_entry {
    const char *kind;        /* "cidr", "ptr_domain", "helo_domain", "sender_domain", "sender",
                              * "ptr_regex", "helo_regex" */
    const char *value;       /* normalized (lists_normalize_value) */
    const char *action;      /* "block", "allow" or "greylist_exempt" */
    const char *reason;      /* internal (ticket notes): logs and ingressctl only; NULL: "" */
    const char *public_text; /* the text of the SMTP reply; NULL or "": the reply table's own */
    const char *added_by;
    int64_t added_at; /* unix seconds */
    int64_t expires;  /* unix seconds; 0: never */
};

/* The counter the triggers of list_entries and rcpt_rules bump on every insert, update and
 * delete (the milter keeps both in memory and reloads them when it moves). */
enum store_status store_lists_version(struct store *s, int64_t *version, struct store_error *err);

/*
 * Calls fn for each entry of kind (NULL: every kind), ordered by kind and value.  live_at > 0
 * leaves out the entries expired at that time (expires <= live_at); 0 gives them all.
 * STORE_NOTFOUND when none.
 */
enum store_status store_list_each(struct store *s, const char *kind, int64_t live_at,
                                  void (*fn)(const struct list_entry *e, void *arg), void *arg,
                                  struct store_error *err);

/* Adds e, or replaces the entry of the same kind and value; previous (size previous_len > 0)
 * gets the replaced entry's action, or "" when it was new. */
enum store_status store_list_add(struct store *s, const struct list_entry *e, char *previous,
                                 size_t previous_len, struct store_error *err);

/* Adds (or replaces) the n entries in one transaction: all of them, or none on error. */
enum store_status store_list_import(struct store *s, const struct list_entry *entries, size_t n,
                                    struct store_error *err);

/* STORE_NOTFOUND when there was no such entry. */
enum store_status store_list_del(struct store *s, const char *kind, const char *value,
                                 struct store_error *err);

struct rcpt_rule {
    const char *recipient; /* address, lower case */
    const char *sender;    /* address, or "@domain"; lower case */
    const char *action;    /* "accept" or "reject" */
    const char *added_by;
    int64_t added_at;
};

/* Adds or replaces the rule for (recipient, sender); previous as in store_list_add(). */
enum store_status store_rule_add(struct store *s, const struct rcpt_rule *r, char *previous,
                                 size_t previous_len, struct store_error *err);
enum store_status store_rule_del(struct store *s, const char *recipient, const char *sender,
                                 struct store_error *err);
/* Rules of recipient (NULL: all), ordered by recipient and sender; STORE_NOTFOUND when none. */
enum store_status store_rule_each(struct store *s, const char *recipient,
                                  void (*fn)(const struct rcpt_rule *r, void *arg), void *arg,
                                  struct store_error *err);

/* ---- accounts ---- */
/*
 * Submission accounts and their aliases (schema/sqlite/004_accounts.sql; the ownership rule is
 * lib/sender.c, which normalizes addresses before they get here: the store compares aliases as
 * given, account names without ASCII case).  Rows handed to a callback live only during the
 * call, which runs with the store locked and must not call the store.
 */
struct store_account {
    const char *name;
    int64_t created;            /* unix seconds */
    int64_t suspended;          /* unix seconds; 0: not suspended */
    const char *suspend_reason; /* "" when none */
    int64_t alias_count;
};

struct store_alias {
    const char *account;
    const char *address; /* "local@domain" or "@domain" */
    const char *added_by;
    int64_t added_at;
};

/* Creates the account; *created (may be NULL) is false when it existed already (then nothing
 * changes). */
enum store_status store_account_add(struct store *s, const char *name, int64_t now, bool *created,
                                    struct store_error *err);

/* Calls fn for the account called name (NULL: every account, by name).  STORE_NOTFOUND when
 * none. */
enum store_status store_account_each(struct store *s, const char *name,
                                     void (*fn)(const struct store_account *a, void *arg),
                                     void *arg, struct store_error *err);

/*
 * Adds the alias, creating its account when it has none yet, in one transaction.  *created (may
 * be NULL) is false when the alias existed already.
 */
enum store_status store_alias_add(struct store *s, const struct store_alias *alias, bool *created,
                                  struct store_error *err);

/* STORE_NOTFOUND when the account had no such alias. */
enum store_status store_alias_del(struct store *s, const char *account, const char *address,
                                  struct store_error *err);

/* Calls fn for each alias of account (NULL: all), ordered by account and address.
 * STORE_NOTFOUND when none. */
enum store_status store_alias_each(struct store *s, const char *account,
                                   void (*fn)(const struct store_alias *a, void *arg), void *arg,
                                   struct store_error *err);

/*
 * Suspends the account (creating its row when it has none) with reason; *changed (may be NULL)
 * is false when it was suspended already (then the first suspension stays as it was).
 */
enum store_status store_account_suspend(struct store *s, const char *name, int64_t now,
                                        const char *reason, bool *changed, struct store_error *err);

/* Is the account suspended?  STORE_OK with since (unix seconds) and reason (size reason_len > 0)
 * when it is, STORE_NOTFOUND when it is not (or has no row).  One indexed read: the milter asks
 * at every authenticated MAIL FROM. */
enum store_status store_account_suspended(struct store *s, const char *name, int64_t *since,
                                          char *reason, size_t reason_len, struct store_error *err);

/* Lifts a suspension; STORE_NOTFOUND when the account was not suspended. */
enum store_status store_account_resume(struct store *s, const char *name, struct store_error *err);

/* ---- held ---- */
/*
 * Messages held for review (schema/sqlite/007_held.sql).  The milter adds a row when
 * it puts a message on hold; ingressctl decides.  Strings are borrowed; rows handed to a callback
 * live only during the call, which runs with the store locked and must not call the store.
 */
struct store_held {
    int64_t id; /* set by the store */
    const char *queue_id;
    int64_t held_at; /* unix seconds */
    const char *account;
    const char *sender;
    const char *recipients; /* one a line */
    int64_t nrcpt;
    const char *subject;
    int64_t size;
    const char *reason;
    const char *state; /* "held", "released", "rejected", "gone"; set by the store on add */
    const char *decided_by;
    int64_t decided_at; /* 0 while held */
    const char *decision_reason;
    const char *host; /* the host_name of the milter that holds it, in whose MTA queue it waits;
                       * NULL for a row written before the column existed */
};

enum store_status store_held_add(struct store *s, const struct store_held *h,
                                 struct store_error *err);

/*
 * Calls fn for each held row whose queue id, account and state equal the given ones (NULL: any),
 * oldest first.  STORE_NOTFOUND when none.
 */
enum store_status store_held_each(struct store *s, const char *queue_id, const char *account,
                                  const char *state,
                                  void (*fn)(const struct store_held *h, void *arg), void *arg,
                                  struct store_error *err);

/* A page of the held rows (store_held_list): the filters of store_held_each(), then the page. */
struct store_held_query {
    const char *queue_id, *account, *state; /* NULL: any */
    int64_t limit;                          /* at most this many rows; 0: every one */
    int64_t offset;                         /* after skipping this many (oldest first) */
};

/*
 * store_held_each() one page at a time, for a list on a screen: fn for the rows q selects, oldest
 * first, and *total (may be NULL) set to how many rows match the filters in all, whatever the
 * page.  STORE_NOTFOUND when the page has no row (*total is still set).
 */
enum store_status store_held_list(struct store *s, const struct store_held_query *q,
                                  void (*fn)(const struct store_held *h, void *arg), void *arg,
                                  int64_t *total, struct store_error *err);

/*
 * Records the decision about the message queue_id that is still "held" on host (the row's host
 * as store_held_each() gave it; NULL: on any host): state becomes state ("released", "rejected"
 * or "gone"), with who decided, when and why.  STORE_NOTFOUND when no such row is held.  Two
 * hosts' MTAs may give the same queue id to two messages: the host tells them apart.
 */
enum store_status store_held_decide(struct store *s, const char *queue_id, const char *host,
                                    const char *state, const char *by, const char *reason,
                                    int64_t now, struct store_error *err);

/*
 * Takes back a decision store_held_decide() recorded (host, state, by, at: its arguments) when the
 * MTA's command then failed: the row is "held" again, as before.  STORE_NOTFOUND when no row of
 * queue_id has that decision (another one was recorded since).  store_held_decide() is the claim
 * of a release or a reject, one conditional UPDATE: of two ingressctl running at once, one gets
 * STORE_OK and runs the MTA's command, the other STORE_NOTFOUND and runs nothing.
 */
enum store_status store_held_undo(struct store *s, const char *queue_id, const char *host,
                                  const char *state, const char *by, int64_t at,
                                  struct store_error *err);

/* Deletes decided rows (not "held" ones) decided before `before`, at most batch of them. */
enum store_status store_held_expire(struct store *s, int64_t before, size_t batch, size_t *deleted,
                                    struct store_error *err);

/* ---- review requests and explanations ---- */
/*
 * What the remote sender's page keeps (schema/sqlite/014_reviews.sql): a sender's request for a
 * review of one decision, given by its reference, and the site's own explanation per check.
 * Strings are borrowed; rows handed to a callback live only during the call, which runs with the
 * store locked and must not call the store.
 */
struct store_review {
    int64_t id; /* set by the store */
    const char *ref;
    int64_t at; /* unix seconds */
    const char *client;
    const char *contact;
    const char *text;
    const char *state; /* "open", "closed"; set by the store on add */
    const char *closed_by;
    int64_t closed_at; /* 0 while open */
    const char *reason;
};

/*
 * Adds r as an open request, unless open_max requests of r->ref are open already: then nothing
 * is added and STORE_NOTFOUND returned.  The count and the insert are one statement.
 */
enum store_status store_review_add(struct store *s, const struct store_review *r, int64_t open_max,
                                   struct store_error *err);

/* Calls fn for each request in state (NULL: any), oldest first; STORE_NOTFOUND when none. */
enum store_status store_review_each(struct store *s, const char *state,
                                    void (*fn)(const struct store_review *r, void *arg), void *arg,
                                    struct store_error *err);

/* Closes the open request id, with who, when and why; STORE_NOTFOUND when no such one is open. */
enum store_status store_review_close(struct store *s, int64_t id, const char *by,
                                     const char *reason, int64_t now, struct store_error *err);

/* Deletes requests made before `before` (open or not), at most batch of them. */
enum store_status store_review_expire(struct store *s, int64_t before, size_t batch,
                                      size_t *deleted, struct store_error *err);

/* The site's explanation of check: text NULL deletes it (STORE_NOTFOUND when there was none). */
enum store_status store_explanation_set(struct store *s, const char *check, const char *text,
                                        const char *by, int64_t now, struct store_error *err);

/* Calls fn with each explanation set, by check; STORE_NOTFOUND when none. */
enum store_status store_explanation_each(struct store *s,
                                         void (*fn)(const char *check, const char *text,
                                                    const char *by, int64_t at, void *arg),
                                         void *arg, struct store_error *err);

/* ---- changes ---- */
/*
 * Who changed what, from where and why (schema/sqlite/013_changes.sql): one row for every change
 * ingressctl or ingress-console makes to the lists, the held messages, the accounts, the
 * recipient rules and the remote sender's page's explanations, written by the change's own code in
 * milter/ctl*.c (ctl_change_record).  Strings are borrowed; a row handed to a callback lives during
 * the call only, which must not call the store.
 */
struct store_change {
    int64_t id;         /* set by the store */
    int64_t at;         /* unix seconds */
    const char *who;    /* the user */
    const char *source; /* from where: "ingressctl on HOST", "console from ADDRESS" */
    const char *what;   /* the verb: "list add", "held release", "unblock", ... */
    const char *key;    /* what it concerns: an IP, an address, an account, a queue id */
    const char *detail; /* what changed, in a few words */
    const char *reason; /* why, as given ("" when none) */
};

/* Adds one row; who, what and key are required (non-empty), the rest may be NULL (""). */
enum store_status store_change_add(struct store *s, const struct store_change *ch,
                                   struct store_error *err);
/*
 * Calls fn for the rows whose key equals key without ASCII case (NULL: every row) and whose time
 * is in [since, until) (until 0: no end), newest first, at most limit (0: no limit).
 * STORE_NOTFOUND when none.
 */
enum store_status store_change_each(struct store *s, const char *key, int64_t since, int64_t until,
                                    size_t limit,
                                    void (*fn)(const struct store_change *ch, void *arg), void *arg,
                                    struct store_error *err);
/* Deletes rows older than before, at most batch of them. */
enum store_status store_change_expire(struct store *s, int64_t before, size_t batch,
                                      size_t *deleted, struct store_error *err);

/* ---- throttle ---- */
/*
 * Per-account send-rate counters and throttle state (schema/sqlite/006_throttle.sql; the rules are
 * lib/throttle.c, which counts in memory and persists through these functions).  Account names
 * compare without ASCII case.  Rows handed to a callback live only during the call, which runs
 * with the store locked and must not call the store.
 */

/* The six per-account static limits, in this order in every array below. */
enum store_throttle_limit {
    STORE_THROTTLE_MSGS_MINUTE,
    STORE_THROTTLE_RCPTS_MINUTE,
    STORE_THROTTLE_MSGS_HOUR,
    STORE_THROTTLE_RCPTS_HOUR,
    STORE_THROTTLE_MSGS_DAY,
    STORE_THROTTLE_RCPTS_DAY,
    STORE_THROTTLE_LIMITS
};
#define STORE_THROTTLE_DEFAULT (-1) /* a limit not set: the option's default applies */
#define STORE_THROTTLE_KEEP (-2)    /* store_throttle_set_limits(): leave this limit as it is */
#define STORE_THROTTLE_REASON_MAX 256

struct store_throttle_state {
    const char *account; /* store_throttle_each() only; NULL from store_throttle_get() */
    int64_t throttled;   /* unix seconds since the account is throttled; 0: not throttled */
    char reason[STORE_THROTTLE_REASON_MAX]; /* "" when not throttled */
    int64_t reset_at; /* counts in buckets that started before this are forgiven; 0: none */
    int64_t limits[STORE_THROTTLE_LIMITS]; /* >= 0, or STORE_THROTTLE_DEFAULT */
};

/*
 * Reads account's state in one query into st.  STORE_NOTFOUND when the account has no row: st
 * is then filled as "not throttled, nothing forgiven, every limit the default".
 */
enum store_status store_throttle_get(struct store *s, const char *account,
                                     struct store_throttle_state *st, struct store_error *err);

/* One counter bucket; width 5, 60 or 3600 seconds, start a multiple of width. */
struct store_throttle_bucket {
    const char *account; /* borrowed */
    int64_t width, start;
    int64_t msgs, rcpts, minutes;
};

/*
 * Calls fn for each bucket of account with since <= start < before and the given width (0: every
 * width), ordered by width then start.  STORE_NOTFOUND when none.
 */
enum store_status store_throttle_bucket_each(struct store *s, const char *account, int64_t width,
                                             int64_t since, int64_t before,
                                             void (*fn)(const struct store_throttle_bucket *b,
                                                        void *arg),
                                             void *arg, struct store_error *err);

/*
 * Adds the n buckets' counts to the stored ones (a missing bucket is created; minutes are capped
 * at 60), all in one write transaction: all of them or, on any failure, none (STORE_BUSY when the
 * write lock could not be had within the busy timeout). Deltas, not totals: two writers counting
 * the same account both land.
 */
enum store_status store_throttle_bucket_add(struct store *s,
                                            const struct store_throttle_bucket *buckets, size_t n,
                                            struct store_error *err);

/*
 * Marks account throttled since `since` with reason, unless it is throttled already (the first
 * reason stays).  *marked (may be NULL) tells whether this call marked it.
 */
enum store_status store_throttle_mark(struct store *s, const char *account, int64_t since,
                                      const char *reason, bool *marked, struct store_error *err);

/*
 * Lifts the throttle: throttled and reason cleared, reset_at = now (the counts so far are
 * forgiven).  STORE_NOTFOUND when the account was not throttled (nothing changes).
 */
enum store_status store_throttle_clear(struct store *s, const char *account, int64_t now,
                                       struct store_error *err);

/*
 * Sets the account's static limits: each value >= 0 (0: no static limit), STORE_THROTTLE_DEFAULT
 * (back to the option) or STORE_THROTTLE_KEEP.  The throttle state is not touched.
 */
enum store_status store_throttle_set_limits(struct store *s, const char *account,
                                            const int64_t limits[STORE_THROTTLE_LIMITS],
                                            struct store_error *err);

/* Calls fn for each throttled account, oldest throttle first.  STORE_NOTFOUND when none. */
enum store_status store_throttle_each(struct store *s,
                                      void (*fn)(const struct store_throttle_state *st, void *arg),
                                      void *arg, struct store_error *err);

/*
 * One bounded expiry step, in one transaction: deletes at most batch buckets, the minute and
 * hour windows' rows (width 5 and 60) that started before fine_before first, then hourly rows
 * that started before hourly_before.  *deleted gets how many went.
 */
enum store_status store_throttle_expire(struct store *s, int64_t fine_before, int64_t hourly_before,
                                        size_t batch, size_t *deleted, struct store_error *err);

/* ---- DMARC aggregate report data ---- */
/*
 * What RFC 7489 aggregate reports (7.2, Appendix C) are made of: one row per distinct row key and
 * UTC day, with the number of messages it counts (schema/sqlite/011_dmarc_report.sql).  The
 * policy (lib/dmarc_report.c) fills the values; the store compares them as given.  All strings
 * are borrowed and required (never NULL; "" where a value is empty).
 */
struct store_dmarc_row {
    int64_t day;               /* unix seconds of the UTC day's start */
    const char *policy_domain; /* where the DMARC record was found */
    const char *header_from;   /* the author domain */
    const char *envelope_from; /* the MAIL FROM domain, "" for <> */
    const char *source_ip;
    const char *p, *sp; /* the record as published: "none", "quarantine", "reject" */
    int64_t pct;
    const char *adkim, *aspf;               /* "r", "s" */
    const char *disposition;                /* "none", "quarantine", "reject" */
    const char *dkim_aligned, *spf_aligned; /* "pass", "fail" */
    const char *override;                   /* "" or an Appendix C PolicyOverrideType */
    const char *dkim;                       /* DKIM results, "result domain selector" lines */
    const char *spf_domain, *spf_scope, *spf_result;
    int64_t messages; /* how many messages (>= 1 when adding) */
};

/*
 * Counts r->messages more messages for r's row.  Without a decision writer (above) the row is
 * written before the call returns.  With the writer started, the call only adds to a count in
 * memory (one entry per distinct row, at most STORE_DMARC_PENDING_MAX; beyond, STORE_BUSY and
 * the messages are not counted), and the writer's thread writes the counts after its decision
 * batches, one transaction for all of them; a failure keeps them for the next round.
 * store_dmarc_each() and store_close() write them first.
 */
#define STORE_DMARC_PENDING_MAX 10000
enum store_status store_dmarc_add(struct store *s, const struct store_dmarc_row *r,
                                  struct store_error *err);

/*
 * Calls fn with each row of policy_domain whose day is in [since, until) (unix seconds), ordered
 * by day then header_from and source_ip.  What is counted in memory is written first.  The row
 * lives during the call, which runs with the store locked and must not call the store.
 * STORE_NOTFOUND when there is none.
 */
enum store_status store_dmarc_each(struct store *s, const char *policy_domain, int64_t since,
                                   int64_t until,
                                   void (*fn)(const struct store_dmarc_row *r, void *arg),
                                   void *arg, struct store_error *err);

/*
 * Deletes the rows of days that ended at or before before (unix seconds), at most batch rows;
 * *deleted gets how many.  The milter calls it with the decision log's retention.
 */
enum store_status store_dmarc_expire(struct store *s, int64_t before, size_t batch, size_t *deleted,
                                     struct store_error *err);

/* ---- copy ---- */
/*
 * store_copy() (`ingressctl store copy`): every row of every table of from written into to, in
 * one transaction of to (all of it, or nothing on any failure) read from one snapshot of from,
 * whatever the backend of either (an SQLite file into PostgreSQL, and back).  Both are opened by
 * this build, so both have its schema version (store_open migrates the target first; a newer one
 * is refused).  The ids of the rows are kept (held messages, list entries); the lists' version
 * counter is the target's own, moved by the copy's inserts so that its milters reload.
 *
 * A target that holds any row is refused (report->not_empty, and err names a table), unless
 * replace: then its rows are deleted first, in the same transaction.  After each table the rows
 * read, the rows written and the target's count must agree, or nothing is kept (STORE_ERROR).
 * report gets each table's counts (source: read from from; target: in to after the copy, or
 * before it when refused).  from and to must be two databases.
 */
#define STORE_COPY_TABLES_MAX 16
struct store_copy_report {
    size_t tables;
    struct {
        const char *name; /* static */
        int64_t source, target;
    } table[STORE_COPY_TABLES_MAX];
    bool not_empty;
};
enum store_status store_copy(struct store *from, struct store *to, bool replace,
                             struct store_copy_report *report, struct store_error *err);

#endif
