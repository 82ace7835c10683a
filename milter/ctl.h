/*
 * ctl: what the files of ingressctl share (ingressctl.c: main, why, lists, rules, aliases,
 * accounts; ctl_held.c: the held queue and the account's suspension and throttle).
 */
#ifndef INGRESS_CTL_H
#define INGRESS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "store.h"

enum ctl_exit { CTL_EXIT_OK = 0, CTL_EXIT_NOTFOUND = 1, CTL_EXIT_ERROR = 2 };

/* What every verb gets: the config it was started with, the open store, and where the store's
 * calls write why they failed (ctl_store_error() prints it). */
struct ctl {
    const struct config *cfg;
    struct store *store;
    struct store_error err;
};

#define CTL_ACCOUNT_MAX 255
#define CTL_POS_MAX 128 /* positional arguments of one verb */
#define CTL_COLS_MAX 8  /* columns of a table */
/* The options of the list, rule, alias and account verbs (split_args' allowed). */
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
 * (space-separated: "--reason --json"); every option takes a value except --json and --all. Returns
 * CTL_EXIT_OK or a usage error.
 */
int split_args(const char *verb, int argc, char **argv, int max_pos, const char *allowed,
               struct ctl_args *a);

/* One line saying what is wrong, then the usage, then status 2 (CTL_EXIT_ERROR). */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "ingressctl: WHAT: the store's error", status 2. */
int ctl_store_error(struct ctl *ctl, const char *what);

/* Who runs the command: the sudo caller when there is one, else our own user. */
void invoking_user(char *out, size_t outlen);
/* "YYYY-MM-DD HH:MM" in UTC. */
void format_minute(int64_t t, char *out, size_t outlen);
/* s as a JSON string (RFC 8259 7). */
void json_string(FILE *out, const char *s);
/* An account name as typed: 1 to CTL_ACCOUNT_MAX bytes, no blanks or controls (else a usage
 * error naming verb is printed). */
bool account_valid(const char *name, const char *verb);

/* Table rows, copied out of a store callback so the columns can be aligned. */
struct show_row {
    char *cell[CTL_COLS_MAX];
};

struct show_rows {
    struct show_row *rows;
    size_t count;
    int64_t now;
    bool json;
};

void free_rows(struct show_row *rows, size_t count, int ncols);
/* Prints rows under a header, each column as wide as its widest cell; frees the rows. */
void print_table(const char *const *header, int ncols, struct show_row *rows, size_t count);
/* Ends a listing: closes the JSON array or prints the table; CTL_EXIT_NOTFOUND (and none on
 * stderr) when there were no rows. */
int rows_done(struct show_rows *s, const char *const *header, int ncols, const char *none);

/* ctl_held.c */
int verb_held(struct ctl *ctl, int argc, char **argv);
int account_suspend(struct ctl *ctl, const struct ctl_args *a);
int account_resume(struct ctl *ctl, const struct ctl_args *a);
int account_limits(struct ctl *ctl, const struct ctl_args *a);
int account_unthrottle(struct ctl *ctl, const struct ctl_args *a);
/* Prints the account's throttle state and limits (for account show). */
int account_throttle_show(struct ctl *ctl, const char *account);

#endif
