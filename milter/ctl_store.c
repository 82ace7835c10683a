/*
 * ctl_store: `ingressctl store copy FROM TO [--replace]`, a database moved whole into another
 * (an SQLite file into PostgreSQL when a site grows to several MX hosts, and back), through
 * store_copy(): every table, in one transaction of the target, the rows counted on both sides.
 * FROM and TO are database values as the option `database` takes them (a path, or a PostgreSQL
 * URI or key=value settings); the configured database plays no part.
 *
 * Exit status: 0 copied and verified; 1 refused, the target has rows (nothing written; --replace
 * empties it first); 2 a usage error, a database that cannot be opened, or a copy that failed or
 * did not verify (the target is left as it was).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_verbs.h"
#include "store.h"
#include "util.h"

/* A copy of millions of decisions runs statements (a slice of the cursor, the DELETE of
 * --replace) that take longer than the milter's store_busy_timeout allows a callback. */
#define CTL_COPY_TIMEOUT_MS 600000

static void print_report(const struct store_copy_report *r, bool refused)
{
    int64_t source = 0, target = 0;

    printf("%-18s %12s %12s\n", "table", refused ? "" : "source", "target");
    for (size_t i = 0; i < r->tables; i++) {
        if (refused)
            printf("%-18s %12s %12" PRId64 "\n", r->table[i].name, "", r->table[i].target);
        else
            printf("%-18s %12" PRId64 " %12" PRId64 "\n", r->table[i].name, r->table[i].source,
                   r->table[i].target);
        source += r->table[i].source;
        target += r->table[i].target;
    }
    if (refused)
        printf("%-18s %12s %12" PRId64 "\n", "total", "", target);
    else
        printf("%-18s %12" PRId64 " %12" PRId64 "\n", "total", source, target);
}

static int copy(const char *from_value, const char *to_value, bool replace)
{
    char from_shown[512], to_shown[512];
    struct store_error err;
    struct store_copy_report r;
    struct timespec t0, t1;

    store_database_shown(from_value, from_shown, sizeof from_shown);
    store_database_shown(to_value, to_shown, sizeof to_shown);
    /* The source must exist (a typo is not an empty database); the target is created when it is
     * an SQLite file that does not exist yet, and brought to this build's schema either way. */
    struct store *from = store_open_existing(from_value, CTL_COPY_TIMEOUT_MS, &err);
    if (from == NULL) {
        fprintf(stderr, "ingressctl: store copy: the source: %s\n", err.text);
        return CTL_EXIT_ERROR;
    }
    struct store *to = store_open(to_value, CTL_COPY_TIMEOUT_MS, &err);
    if (to == NULL) {
        fprintf(stderr, "ingressctl: store copy: the target: %s\n", err.text);
        store_close(from);
        return CTL_EXIT_ERROR;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum store_status status = store_copy(from, to, replace, &r, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    store_close(to);
    store_close(from);
    if (status == STORE_OK) {
        printf("copied %s into %s (schema version %d on both)%s:\n", from_shown, to_shown,
               store_schema_version(), replace ? ", its rows replaced" : "");
        print_report(&r, false);
        printf("every table's rows counted the same in both, in %.1f s\n",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        return CTL_EXIT_OK;
    }
    if (r.not_empty) {
        fprintf(stderr,
                "ingressctl: store copy: %s: %s; give --replace to delete its rows and copy\n",
                to_shown, err.text);
        print_report(&r, true);
        return CTL_EXIT_NOTFOUND;
    }
    fprintf(stderr, "ingressctl: store copy: %s (the target is as it was)\n", err.text);
    return CTL_EXIT_ERROR;
}

int ctl_verb_store(struct ctl *ctl, int argc, char **argv)
{
    const char *pos[3];
    int npos = 0;
    bool replace = false;

    (void)ctl;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--replace") == 0)
            replace = true;
        else if (npos < 3)
            pos[npos++] = argv[i];
        else
            return ctl_usage_error(ctl, "store: too many arguments");
    }
    if (npos == 0 || strcmp(pos[0], "copy") != 0)
        return ctl_usage_error(ctl, "store: unknown subcommand (store copy FROM TO [--replace])");
    if (npos != 3)
        return ctl_usage_error(ctl, "store copy: wrong arguments (store copy FROM TO [--replace])");
    if (strcmp(pos[1], pos[2]) == 0)
        return ctl_usage_error(ctl, "store copy: FROM and TO are the same database");
    return copy(pos[1], pos[2], replace);
}
