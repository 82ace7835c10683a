/*
 * ctl: what every verb of ingressctl shares: its arguments, the open store, usage errors, times,
 * account names and aligned tables.  The verb files (ctl_why.c, ctl_stats.c, ctl_lists.c,
 * ctl_accounts.c, ctl_held.c) include this and ctl_json.h, never each other; ingressctl.c holds
 * main and the one table of verbs (ctl_verbs.h).
 */
#ifndef INGRESS_CTL_H
#define INGRESS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "lists.h"
#include "store.h"

struct json_t;

/* Exit statuses; a usage error (CTL_EXIT_USAGE, after ctl_usage_error has printed its line) has
 * the status of every other failure. */
enum ctl_exit { CTL_EXIT_OK = 0, CTL_EXIT_NOTFOUND = 1, CTL_EXIT_ERROR = 2, CTL_EXIT_USAGE = 2 };

/* What every verb gets: its name (as typed: "list"), the config it was started with, the open
 * store, and where the store's calls write why they failed (ctl_store_error() prints it). */
struct ctl {
    const char *verb;
    const struct config *cfg;
    struct store *store;
    struct store_error err;
};

#define CTL_ACCOUNT_MAX 255
#define CTL_KEY_MAX 1024 /* bytes of one argument */
/* A reason recorded with a decision (held release/reject, account suspend). */
#define CTL_REASON_MAX 200
#define CTL_POS_MAX 128 /* positional arguments of one verb */
#define CTL_COLS_MAX 9  /* columns of a table */
/* The options of the list, rule, alias and account verbs (ctl_split_args' allowed). */
#define CTL_LIST_OPTIONS "--reason --expires --json"
/* `ingressctl list`: also an entry's public text, and an import file's format. */
#define CTL_LIST_ENTRY_OPTIONS "--reason --public --expires --json --format"

/* A verb's arguments: positional ones, then the --options it allows (all NULL when absent). */
struct ctl_args {
    char *pos[CTL_POS_MAX];
    int npos;
    const char *reason, *expires, *account, *by, *since, *until, *limit, *public_text, *format;
    const char *role;    /* console-user add --role */
    const char *domains; /* console-user add --domains (a webmail key's) */
    bool json, all;      /* --json, --all: the two options without a value */
};

/*
 * Splits argv into positional arguments (at most max_pos) and the options named in allowed
 * (space-separated: "--reason --json"); every option takes a value except --json and --all.
 * Returns CTL_EXIT_OK or CTL_EXIT_USAGE.  a->pos borrows argv's strings.
 */
int ctl_split_args(struct ctl *ctl, int argc, char **argv, int max_pos, const char *allowed,
                   struct ctl_args *a);

/*
 * A usage error: one line on stderr, "ingressctl: " and what is wrong, ending with where the
 * verb's usage is ("; see 'ingressctl list --help'"); returns CTL_EXIT_USAGE.  Arguments that
 * came from the command line are escaped by the caller.
 */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "ingressctl: WHAT: the store's error", CTL_EXIT_ERROR. */
int ctl_store_error(struct ctl *ctl, const char *what);

/* Is s neither NULL nor empty? */
bool ctl_present(const char *s);
/* Who runs the command: the sudo caller when there is one, else our own user. */
void ctl_invoking_user(char *out, size_t outlen);
/* "YYYY-MM-DD HH:MM" in UTC. */
void ctl_format_minute(int64_t t, char *out, size_t outlen);
/* "YYYY-MM-DD HH:MM:SS UTC". */
void ctl_format_time(int64_t t, char *out, size_t outlen);
/* An account name as typed: 1 to CTL_ACCOUNT_MAX bytes, no blanks or controls (else a usage
 * error naming what (e.g. "alias add") is printed, and the caller returns CTL_EXIT_USAGE). */
bool ctl_account_valid(const struct ctl *ctl, const char *name, const char *what);

/*
 * How `why` and `check` say a decision: the action in words ("rejected", "deferred (temporary
 * failure)", ...; the action's own name when unknown), and what is said when no reply was sent.
 */
const char *ctl_action_words(const char *action);
const char *ctl_action_without_reply(const char *action);
/*
 * What the postmaster can do about a decision of check with action (verdict_action_name()), for
 * the client ip, the recipient rcpt and the account (each may be NULL): one sentence with the
 * ingressctl command to run, or "" when there is nothing to do.  The arguments are escaped here.
 */
void ctl_advice(const char *check, const char *action, const char *ip, const char *rcpt,
                const char *sender, const char *account, char *out, size_t outlen);

/*
 * The account's sending rates now, beside what they are judged against (lib/throttle.c): per
 * window, the messages and recipients counted, the baseline, the static and adaptive limits.
 * Printed as lines after label (indented like the other fields of account show and held show), or
 * set as "rates" of obj when obj is not NULL.  Nothing is counted.
 */
void ctl_print_rates(struct ctl *ctl, const char *account, const char *label, struct json_t *obj);

/* Is standard output a terminal that shows UTF-8 (its LC_ALL/LC_CTYPE/LANG says so)? */
bool ctl_terminal_utf8(void);
/*
 * src for a terminal, like str_printable(), except that with utf8 a valid UTF-8 character that
 * is printable (U+00A0 and above) is written as it is: "café" stays "café" on a UTF-8
 * terminal, and is "caf\xc3\xa9" elsewhere.  Controls (C0, DEL, C1) are always escaped.
 */
const char *ctl_printable_text(char *dst, size_t dstlen, const char *src, bool utf8);

/* ---- shared with ingress-console (milter/console.c): the verbs' work without printing ---- */

/* A `why` key within the bounds the store searches: 1 to 320 bytes, no control character. */
bool ctl_why_key_valid(const char *key);
/* The decisions q finds (q->limit is ignored), newest first, at most limit of them, as the JSON
 * array `why --json` prints; *doc is the caller's.  STORE_BUSY or STORE_ERROR (no doc) when
 * the store failed. */
enum store_status ctl_why_json(struct ctl *ctl, const struct store_decision_query *q, size_t limit,
                               struct json_t **doc);

struct list_entry;
/* Validates a list entry as `list add` does (kind, value, action, reason may be NULL) into its
 * stored form: value (size LISTS_VALUE_MAX) gets the normalized value; why the problem. */
bool ctl_list_entry_valid(const char *kind_text, const char *value_text, const char *action_text,
                          const char *reason, enum lists_kind *kind, char *value,
                          enum lists_action *action, char *why, size_t whylen);
/* A list entry as `list show --json` gives it (now: for "expired"). */
struct json_t *ctl_list_entry_json(const struct list_entry *e, int64_t now);

/* A held row as `held list --json` gives it. */
struct json_t *ctl_held_json(const struct store_held *h);
/* What a release or reject does to one held message, and what it records. */
struct ctl_held_action {
    bool release;
    const char *verb;  /* "release" or "reject" */
    const char *state; /* "released" or "rejected" */
    const char *by, *reason;
};
/* One message (host: as store_held_each gave it, "" for none): claimed, the MTA's command run,
 * the claim taken back when it failed; what happened goes to stdout or stderr.  Returns 1 done,
 * 0 no longer held (another ingressctl took it first), -1 failed. */
int ctl_held_decide_one(struct ctl *ctl, const struct ctl_held_action *act, const char *id,
                        const char *host);

/* ---- accounts, rules and check: shared with ingress-console (milter/console_accounts.c) ---- */

/* ctl_account_valid without a word on stderr. */
bool ctl_account_name_valid(const char *name);

/* What `account suspend|resume|unthrottle|limits` changes; by and reason are recorded where the
 * store keeps them (a suspension's reason: "REASON (by BY)"). */
enum ctl_account_op {
    CTL_ACCOUNT_SUSPEND,
    CTL_ACCOUNT_RESUME,
    CTL_ACCOUNT_UNTHROTTLE,
    CTL_ACCOUNT_LIMITS
};
struct ctl_account_change {
    enum ctl_account_op op;
    const char *account, *by, *reason;     /* reason: required to suspend, else may be NULL */
    int64_t limits[STORE_THROTTLE_LIMITS]; /* CTL_ACCOUNT_LIMITS: as store_throttle_set_limits */
};
/*
 * Does the change.  STORE_OK done; STORE_NOTFOUND nothing to do (suspend: already suspended;
 * resume: not suspended; unthrottle: not throttled); else the store failed (ctl->err).
 */
enum store_status ctl_account_change(struct ctl *ctl, const struct ctl_account_change *ch);
/* "minute=M/R", "hour=M/R", "day=M/R" (numbers, 0 for none, or default; or WINDOW=default)
 * into limits[] (the others stay as they were); false on anything else. */
bool ctl_account_limits_parse(const char *word, int64_t limits[STORE_THROTTLE_LIMITS]);
/*
 * The accounts (name NULL: all of them, and every throttled login without an account row) as
 * `account list --json` prints them, each with its state ("active", "suspended", "throttled")
 * and throttle state; with name, the one account with its rates as `account show --json` (an
 * account that only has a throttle row is shown too).  STORE_NOTFOUND: an empty array.
 */
enum store_status ctl_account_json(struct ctl *ctl, const char *name, struct json_t **doc);

/* Validates a rule as `rule add` (action "accept" or "reject") or `rule del` (action NULL)
 * does, into the stored forms (rcpt and sender of size LISTS_VALUE_MAX); why the problem. */
bool ctl_rule_valid(const char *rcpt_text, const char *sender_text, const char *action, char *rcpt,
                    char *sender, char *why, size_t whylen);
struct rcpt_rule;
/* A rule as `rule list --json` gives it. */
struct json_t *ctl_rule_json(const struct rcpt_rule *r);

/* The made-up session of `ingressctl check` (strings borrowed; rcpt: nrcpt of them). */
#define CTL_CHECK_RCPT_MAX 100
struct ctl_check_request {
    const char *ip, *helo, *from, *auth;
    const char *const *rcpt;
    int nrcpt;
};
/* Why req cannot be checked ("" when it can): the bounds `check` puts on its options. */
bool ctl_check_valid(const struct ctl_check_request *req, char *why, size_t whylen);
/*
 * Runs the checks on req without a message file (ctl->store: a dry-run store) and gives `check
 * --json`'s document in *doc (the caller's); *refused: something refused or deferred.  false
 * when the checks' resolver or tables cannot be set up (why says so).
 */
bool ctl_check_json(struct ctl *ctl, const struct ctl_check_request *req, struct json_t **doc,
                    bool *refused, char *why, size_t whylen);

/* Table rows, copied out of a store callback so the columns can be aligned. */
struct ctl_row {
    char *cell[CTL_COLS_MAX];
};

/*
 * A listing being collected: table rows, or (with --json) the JSON array, which json owns until
 * ctl_rows_done() prints it.
 */
struct ctl_rows {
    struct ctl_row *rows;
    size_t count;
    int64_t now;
    struct json_t *json; /* NULL: a table */
    bool utf8;           /* cells for a UTF-8 terminal (ctl_printable_text) */
    bool still_held;     /* held show: the row is still "held" */
    char *held_account;  /* held show: the row's account (owned) */
    char *held_host;     /* held show: the host that holds it, "" for one host (owned) */
};

/* Starts a listing: a JSON array when json is true, table rows otherwise. */
void ctl_rows_init(struct ctl_rows *s, bool json, int64_t now);
/* Adds one table row of ncols cells (NULL as ""), each escaped for a terminal and cut to fit
 * cell_max[i] bytes with its NUL (cell_max NULL: 1024 bytes each). */
void ctl_rows_add(struct ctl_rows *s, const char *const *cells, int ncols, const size_t *cell_max);
/* Frees what a listing collected, printing nothing (after an error). */
void ctl_rows_free(struct ctl_rows *s, int ncols);
/* Prints rows under a header, each column as wide as its widest cell; frees the rows. */
void ctl_print_table(const char *const *header, int ncols, struct ctl_row *rows, size_t count);
/* Ends a listing: prints the JSON array or the table, and frees it; CTL_EXIT_NOTFOUND (and none
 * on stderr, for a table) when there were no rows. */
int ctl_rows_done(struct ctl_rows *s, const char *const *header, int ncols, const char *none);

#endif
