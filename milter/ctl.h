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
#include "store.h"

struct json_t;

/*
 * Exit statuses.  CTL_EXIT_USAGE never leaves the program: a verb returns it after
 * ctl_usage_error() has said what is wrong, and main adds the usage and exits with
 * CTL_EXIT_ERROR, the status of every usage error.
 */
enum ctl_exit { CTL_EXIT_OK = 0, CTL_EXIT_NOTFOUND = 1, CTL_EXIT_ERROR = 2, CTL_EXIT_USAGE = 3 };

/* What every verb gets: the config it was started with, the open store, and where the store's
 * calls write why they failed (ctl_store_error() prints it). */
struct ctl {
    const struct config *cfg;
    struct store *store;
    struct store_error err;
};

#define CTL_ACCOUNT_MAX 255
#define CTL_KEY_MAX 1024 /* bytes of one argument */
/* A reason recorded with a decision (held release/reject, account suspend). */
#define CTL_REASON_MAX 200
#define CTL_POS_MAX 128 /* positional arguments of one verb */
#define CTL_COLS_MAX 8  /* columns of a table */
/* The options of the list, rule, alias and account verbs (ctl_split_args' allowed). */
#define CTL_LIST_OPTIONS "--reason --expires --json"

/* A verb's arguments: positional ones, then the --options it allows (all NULL when absent). */
struct ctl_args {
    char *pos[CTL_POS_MAX];
    int npos;
    const char *reason, *expires, *account, *by, *since;
    bool json, all; /* --json, --all: the two options without a value */
};

/*
 * Splits argv into positional arguments (at most max_pos) and the options named in allowed
 * (space-separated: "--reason --json"); every option takes a value except --json and --all.
 * Returns CTL_EXIT_OK or CTL_EXIT_USAGE.  a->pos borrows argv's strings.
 */
int ctl_split_args(const char *verb, int argc, char **argv, int max_pos, const char *allowed,
                   struct ctl_args *a);

/* Prints "ingressctl: " and one line saying what is wrong; returns CTL_EXIT_USAGE.  Arguments
 * that came from the command line are escaped by the caller. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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
 * error naming verb is printed, and the caller returns CTL_EXIT_USAGE). */
bool ctl_account_valid(const char *name, const char *verb);

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
