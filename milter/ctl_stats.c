/*
 * ctl_stats: `ingressctl stats [--since DURATION] [--json]`, the decisions by check and action
 * from the decision log: the counts of /metrics' decisions_total, for a site without Prometheus.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "config.h"
#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "util.h"

struct stats_state {
    json_t *json; /* the array of counts with --json, else NULL */
    int64_t total;
    size_t rows;
};

static void print_tally(const char *check, const char *action, int64_t count, void *arg)
{
    struct stats_state *st = arg;
    char a[128], b[128];

    if (st->json != NULL) {
        json_t *row = ctl_json_object();
        ctl_json_set_text(row, "check", check);
        ctl_json_set_text(row, "action", action);
        ctl_json_set_int(row, "count", count);
        ctl_json_append(st->json, row);
    } else {
        printf("%-12s %-10s %10lld\n", str_printable(a, sizeof a, check ? check : ""),
               str_printable(b, sizeof b, action ? action : ""), (long long)count);
    }
    st->rows++;
    st->total += count;
}

enum store_status ctl_stats_json(struct ctl *ctl, int64_t since, json_t **doc)
{
    struct stats_state st = {.json = ctl_json_array()};

    *doc = NULL;
    enum store_status status = store_decision_tally(ctl->store, since, print_tally, &st, &ctl->err);
    if (status != STORE_OK && status != STORE_NOTFOUND) {
        json_decref(st.json);
        return status;
    }
    *doc = ctl_json_object();
    ctl_json_set_int(*doc, "since", since);
    ctl_json_set(*doc, "decisions", st.json);
    /* The same rows under the name the console's page reads. */
    ctl_json_set(*doc, "checks", json_incref(st.json));
    ctl_json_set_int(*doc, "total", st.total);
    return STORE_OK;
}

int ctl_verb_stats(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct stats_state st = {0};
    int64_t period_ms = 0, since = 0;
    char when[64];
    int rc = ctl_split_args(ctl, argc, argv, 0, "--since --json", &a);

    if (rc != CTL_EXIT_OK)
        return rc;
    if (a.since != NULL && (!config_parse_duration(a.since, &period_ms) || period_ms < 1000))
        return ctl_usage_error(ctl, "stats: --since wants a duration like 30m, 12h, 7d or 2w");
    if (a.since != NULL)
        since = (int64_t)time(NULL) - period_ms / 1000;
    ctl_format_time(since, when, sizeof when);
    if (a.json) {
        json_t *doc;
        if (ctl_stats_json(ctl, since, &doc) != STORE_OK)
            return ctl_store_error(ctl, "reading the decisions");
        ctl_json_print(doc);
        return CTL_EXIT_OK;
    }
    if (a.since != NULL)
        printf("decisions since %s (the last %s)\n", when, a.since);
    else
        printf("decisions (all the log keeps)\n");
    printf("%-12s %-10s %10s\n", "check", "action", "count");
    enum store_status status = store_decision_tally(ctl->store, since, print_tally, &st, &ctl->err);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return ctl_store_error(ctl, "reading the decisions");
    printf("%-12s %-10s %10lld\n", "total", "", (long long)st.total);
    return CTL_EXIT_OK;
}
