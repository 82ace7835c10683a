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

/* Who makes the changes and from where, as the record of changes (store_change_add) keeps them:
 * for ingressctl the invoking user and "ingressctl on HOST" (ctl_origin_local), for the console
 * the login and "console from ADDRESS". */
#define CTL_WHO_MAX 64
struct ctl_origin {
    char who[CTL_WHO_MAX];
    char source[320];
};

/* What every verb gets: its name (as typed: "list"), the config it was started with, the open
 * store, where the store's calls write why they failed (ctl_store_error() prints it), and who
 * makes the changes. */
struct ctl {
    const char *verb;
    const struct config *cfg;
    struct store *store;
    struct store_error err;
    struct ctl_origin origin;
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

/* ctl->origin for a change made from this host's command line: the invoking user (or by, when
 * not NULL: held --by NAME), "ingressctl on HOST" (with "run by USER" after a --by). */
void ctl_origin_local(struct ctl *ctl, const char *by);
/*
 * Records one change made by ctl->origin in the record of changes (ingressctl why KEY and held
 * show show it): what (the verb: "list add", "held release", "unblock", "account suspend",
 * "rule add", ...), key (what it concerns: the IP address, address, account or queue id that a
 * support desk will search for), detail (what changed, may be NULL) and reason (may be NULL).
 * Every verb and console handler that changes the store calls it once the change is made; when
 * the record cannot be written, the change stands and a warning goes to stderr (false).
 */
bool ctl_change_record(struct ctl *ctl, const char *what, const char *key, const char *detail,
                       const char *reason);

/* The record's rows about key (an address with or without <>), in [since, until) (until 0: no
 * end), newest first, at most limit (0: all), as a JSON array of {type: "change", time, who,
 * source, what, key, detail, reason}; *doc is the caller's.  STORE_BUSY or STORE_ERROR (no doc)
 * when the store failed. */
enum store_status ctl_changes_json(struct ctl *ctl, const char *key, int64_t since, int64_t until,
                                   size_t limit, struct json_t **doc);
/* One row of ctl_changes_json as a line after indent: when, what, who, from where, detail, why. */
void ctl_change_print(const struct json_t *change, const char *indent);

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
/* The same check, printing nothing (for the console). */
bool ctl_account_name_valid(const char *name);

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

/* WHEN as why --since takes it: a duration back from now (30m, 12h, 7d) or a UTC date
 * YYYY-MM-DD[THH:MM[:SS]]; *out gets unix seconds. */
bool ctl_parse_when(const char *text, int64_t now, int64_t *out);
/* A `why` key within the bounds the store searches: 1 to 320 bytes, no control character. */
bool ctl_why_key_valid(const char *key);
/* The decisions q finds (q->limit is ignored), newest first, at most limit of them, as the JSON
 * array `why --json` prints (each {type: "decision", ...}), with the record's changes about the
 * key in the same period among them by time (ctl_changes_json's rows, at most limit); *doc is
 * the caller's.  STORE_BUSY or STORE_ERROR (no doc) when
 * the store failed. */
enum store_status ctl_why_json(struct ctl *ctl, const struct store_decision_query *q, size_t limit,
                               struct json_t **doc);

struct list_entry;
/* Validates a list entry as `list add` does (kind, value, action, reason may be NULL) into its
 * stored form: value (size LISTS_VALUE_MAX) gets the normalized value; why the problem. */
bool ctl_list_entry_valid(const char *kind_text, const char *value_text, const char *action_text,
                          const char *reason, enum lists_kind *kind, char *value,
                          enum lists_action *action, char *why, size_t whylen);
/* An entry's public text and expiry (a duration: 30m, 7d) as `list add` takes them (each may be
 * NULL): *expires_at gets the unix time it ends (0: never); why the problem. */
bool ctl_list_extras_valid(enum lists_action action, const char *public_text, const char *expires,
                           int64_t now, int64_t *expires_at, char *why, size_t whylen);
/* Adds (or replaces) the entry e, a valid one, and records the change; previous as for
 * store_list_add. */
enum store_status ctl_list_add(struct ctl *ctl, const struct list_entry *e, char *previous,
                               size_t previous_len);
/* Deletes the entry (kind's name, normalized value) and records the change with reason (may be
 * NULL); STORE_NOTFOUND when there is none. */
enum store_status ctl_list_del(struct ctl *ctl, const char *kind, const char *value,
                               const char *reason);
/* A list entry as `list show --json` gives it (now: for "expired"). */
struct json_t *ctl_list_entry_json(const struct list_entry *e, int64_t now);

/*
 * Unblocks the client address ip_text (ctl_unblock.c says how): deletes the cidr block entries of
 * exactly it, adds a cidr allow entry of it alone when a wider block or a DNSBL refusal still
 * stands, each change recorded with reason.  *result (the caller's) is {ip, covering: [entries],
 * dnsbl, removed: [entries], allowed: entry|null, not_ip: [{kind, value, matches, note}], changed,
 * was_blocked, takes_effect}.  STORE_NOTFOUND for a text that is no IP address; STORE_BUSY or
 * STORE_ERROR when the store failed (some changes may be made: each is recorded).
 */
enum store_status ctl_unblock(struct ctl *ctl, const char *ip_text, const char *reason,
                              struct json_t **result);
/* When the milters see a change of the lists: "at once" or "within N seconds". */
void ctl_unblock_takes_effect(const struct config *cfg, char *out, size_t outlen);

/* A held row as `held list --json` gives it. */
struct json_t *ctl_held_json(const struct store_held *h);
/* `stats --json`'s document: {since, decisions: [{check, action, count}], checks: the same rows,
 * total} of the decisions at or after since (0: all the log keeps); *doc is the caller's. */
enum store_status ctl_stats_json(struct ctl *ctl, int64_t since, struct json_t **doc);
/* `held show ID --json`'s document (no reconciliation with the MTA's queue first): the rows of
 * the queue id, the first with the account's "rates", the message as held_show_command prints it
 * ("message", and "headers": [[name, value]...], "body_start", "body_more") while it is held in
 * this host's queue, else "message_error", and "changes" (ctl_changes_json of the id).
 * STORE_NOTFOUND when no row has the id; *doc is the caller's. */
enum store_status ctl_held_show_json(struct ctl *ctl, const char *id, struct json_t **doc);
/* What a release or reject does to one held message, and what it records. */
struct ctl_held_action {
    bool release;
    const char *verb;  /* "release" or "reject" */
    const char *state; /* "released" or "rejected" */
    const char *by, *reason;
};
/* The action of a release (release true) or a reject, by and reason borrowed. */
struct ctl_held_action ctl_held_action(bool release, const char *by, const char *reason);
/* One message (host: as store_held_each gave it, "" for none): claimed, the MTA's command run,
 * the claim taken back when it failed; what happened goes to stdout or stderr.  Returns 1 done,
 * 0 no longer held (another ingressctl took it first), -1 failed. */
int ctl_held_decide_one(struct ctl *ctl, const struct ctl_held_action *act, const char *id,
                        const char *host);

/* ---- the remote sender's page and its review requests (ctl_reviews.c) ---- */

#define CTL_EXPLANATION_MAX 600 /* bytes of the site's explanation of a check */
/* Is check one the page has words for (iprev, spf, dkim, dmarc, greylist, lists, ...)? */
bool ctl_explain_check_known(const char *check);
/* What a refusal by check means, in plain words, for the sender (a static string). */
const char *ctl_explain_title(const char *check);
/* The built-in fix of check for the sender's side (greylist: with cfg's delay). */
void ctl_explain_default(const char *check, const struct config *cfg, char *out, size_t outlen);
/* The site's explanation of check from the store, else the built-in one. */
enum store_status ctl_explain_text(struct ctl *ctl, const char *check, char *out, size_t outlen);
/* One line of printable UTF-8 (no control character), 1 to CTL_EXPLANATION_MAX bytes. */
bool ctl_explain_text_valid(const char *text);
/*
 * The explanations as `explain list --json` and GET /api/explanations give them: an array, in
 * the order of the checks, of {check, title, text, default, set_by, set_at} (default true: the
 * built-in text, set_by and set_at null); with check, that check's object alone (STORE_NOTFOUND:
 * no such check).  *doc is the caller's; none when the store failed (STORE_BUSY, STORE_ERROR).
 */
enum store_status ctl_explain_json(struct ctl *ctl, const char *check, struct json_t **doc);
/*
 * Sets the site's explanation of check (known, text valid: the two checks above), or with text
 * NULL deletes it (STORE_NOTFOUND: none was set), by as who set it, and records the change with
 * reason (may be NULL) as `ingressctl explain` and the console's /api/explanations both do.
 */
enum store_status ctl_explain_set(struct ctl *ctl, const char *check, const char *text,
                                  const char *by, const char *reason);
/* A review request as `review list --json` and GET /api/reviews give it. */
struct json_t *ctl_review_json(const struct store_review *r);
/* The open requests (all: every one), oldest first, as that JSON array; *doc is the caller's. */
enum store_status ctl_review_list_json(struct ctl *ctl, bool all, struct json_t **doc);
/* Closes the open request id, recording by and reason; STORE_NOTFOUND when none is open. */
enum store_status ctl_review_close(struct ctl *ctl, int64_t id, const char *by, const char *reason);
/* ---- accounts, rules and check: shared with ingress-console (milter/console_accounts.c) ---- */

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
/* Adds (or replaces: previous) the rule, and records the change with reason (may be NULL). */
enum store_status ctl_rule_add(struct ctl *ctl, const struct rcpt_rule *r, const char *reason,
                               char *previous, size_t previouslen);
/* Deletes the rule (STORE_NOTFOUND: none), and records the change with reason (may be NULL). */
enum store_status ctl_rule_del(struct ctl *ctl, const char *rcpt, const char *sender,
                               const char *reason);
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
/* What a release or reject of several messages did: done, no longer held, failed (held still). */
struct ctl_held_tally {
    int done, missing, failed;
};
/* ctl_held_decide_one() of every message of account that is held, oldest first, counted in *t;
 * the queue ids done are appended to ids (a JSON array; may be NULL).  STORE_NOTFOUND when none
 * is held, STORE_BUSY or STORE_ERROR when they could not be read. */
enum store_status ctl_held_decide_account(struct ctl *ctl, const struct ctl_held_action *act,
                                          const char *account, struct json_t *ids,
                                          struct ctl_held_tally *t);

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
