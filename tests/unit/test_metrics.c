/*
 * test_metrics: lib/metrics.c's counting and its Prometheus text.  The daemon's figures against a
 * live load, and promtool's verdict on them, are tests/metrics/run.sh's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns.h"
#include "metrics.h"

static const struct metrics_gauges no_gauges = {0, 0, 0, 0, {-1, -1, -1, -1}};

static int reset(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static char *render(void)
{
    size_t len;
    char *text = metrics_render(&no_gauges, &len);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The value of the sample whose line starts with "series " (name and labels as printed); -1 when
 * there is no such line. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        if (end == NULL)
            break;
        line = end + 1;
    }
    return -1;
}

static void counters_appear_with_their_labels(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        metrics_connection();
    metrics_transaction();
    metrics_message();
    metrics_message();
    metrics_decision("spf", "reject");
    metrics_decision("spf", "reject");
    metrics_decision("policy", "accept");
    metrics_reply(REPLY_SPF_FAIL);
    metrics_greylist(METRICS_GREYLIST_EARLY_RETRY);
    metrics_throttle_hold();
    metrics_reload(true);
    metrics_reload(false);
    metrics_reload(false);
    char *text = render();
    assert_true(value_of(text, "milter_ingress_connections_total") == 3);
    assert_true(value_of(text, "milter_ingress_transactions_total") == 1);
    assert_true(value_of(text, "milter_ingress_messages_total") == 2);
    assert_true(value_of(text, "milter_ingress_decisions_total{check=\"spf\",action=\"reject\"}") ==
                2);
    assert_true(
        value_of(text, "milter_ingress_decisions_total{check=\"policy\",action=\"accept\"}") == 1);
    /* A combination never counted is left out, not printed as 0. */
    assert_true(value_of(text, "milter_ingress_decisions_total{check=\"spf\",action=\"accept\"}") ==
                -1);
    assert_true(value_of(text, "milter_ingress_replies_total{reply=\"spf_fail\"}") == 1);
    assert_true(value_of(text, "milter_ingress_replies_total{reply=\"greylisted\"}") == 0);
    assert_true(value_of(text, "milter_ingress_greylist_total{outcome=\"early_retry\"}") == 1);
    assert_true(value_of(text, "milter_ingress_greylist_total{outcome=\"new\"}") == 0);
    assert_true(value_of(text, "milter_ingress_throttle_holds_total") == 1);
    assert_true(value_of(text, "milter_ingress_reloads_total{result=\"ok\"}") == 1);
    assert_true(value_of(text, "milter_ingress_reloads_total{result=\"failed\"}") == 2);
    free(text);
}

static void unknown_check_and_action_are_not_lost_or_invented(void **state)
{
    (void)state;
    metrics_decision("newcheck", "tempfail");
    metrics_decision("spf", "no-such-action");
    char *text = render();
    assert_true(
        value_of(text, "milter_ingress_decisions_total{check=\"other\",action=\"tempfail\"}") == 1);
    assert_null(strstr(text, "no-such-action"));
    free(text);
}

/* Every check a decision row is recorded with has its own label, "other" none of them. */
static void every_recorded_check_has_its_own_label(void **state)
{
    (void)state;
    static const char *const recorded[] = {"account", "dmarc",  "dnsbl",   "greylist", "iprev",
                                           "lists",   "milter", "policy",  "rules",    "sender",
                                           "spf",     "store",  "throttle"};
    char series[128];

    for (size_t i = 0; i < sizeof recorded / sizeof recorded[0]; i++)
        metrics_decision(recorded[i], "hold");
    char *text = render();
    for (size_t i = 0; i < sizeof recorded / sizeof recorded[0]; i++) {
        snprintf(series, sizeof series,
                 "milter_ingress_decisions_total{check=\"%s\",action=\"hold\"}", recorded[i]);
        assert_true(value_of(text, series) == 1);
    }
    assert_true(value_of(text, "milter_ingress_decisions_total{check=\"other\",action=\"hold\"}") ==
                -1);
    free(text);
}

/* Cumulative buckets that never go down, +Inf equal to _count, and _sum the sum of the values. */
static void histogram_buckets_are_cumulative_and_count_matches(void **state)
{
    (void)state;
    const int64_t latencies_us[] = {100, 700, 700, 30000, 3000000, 60000000};
    for (size_t i = 0; i < sizeof latencies_us / sizeof latencies_us[0]; i++)
        metrics_dns_query(DNS_TYPE_TXT, METRICS_DNS_ANSWER, latencies_us[i]);
    metrics_dns_query(99, METRICS_DNS_TIMEOUT, 4000000);
    char *text = render();
    const char *prefix = "milter_ingress_dns_query_duration_seconds_bucket{le=\"";
    double last = 0;
    int buckets = 0;
    for (const char *p = strstr(text, prefix); p != NULL; p = strstr(p + 1, prefix)) {
        double v = strtod(strchr(p, '}') + 2, NULL);
        assert_true(v >= last);
        last = v;
        buckets++;
    }
    assert_true(buckets > 5);
    assert_true(last == 7);
    assert_true(value_of(text, "milter_ingress_dns_query_duration_seconds_bucket{le=\"+Inf\"}") ==
                7);
    assert_true(value_of(text, "milter_ingress_dns_query_duration_seconds_count") == 7);
    assert_true(value_of(text, "milter_ingress_dns_query_duration_seconds_bucket{le=\"0.001\"}") ==
                3);
    double sum = value_of(text, "milter_ingress_dns_query_duration_seconds_sum");
    assert_true(sum > 67.0314 && sum < 67.0316);
    assert_true(
        value_of(text, "milter_ingress_dns_queries_total{type=\"TXT\",result=\"answer\"}") == 6);
    assert_true(
        value_of(text, "milter_ingress_dns_queries_total{type=\"other\",result=\"timeout\"}") == 1);
    free(text);
}

static void every_family_has_help_and_type_once(void **state)
{
    (void)state;
    char *text = render();
    int help = 0, type = 0;
    for (const char *p = text; (p = strstr(p, "# HELP ")) != NULL; p++)
        help++;
    for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++)
        type++;
    assert_true(help > 15);
    assert_int_equal(help, type);
    assert_non_null(strstr(text, "# TYPE milter_ingress_store_transaction_duration_seconds "
                                 "histogram\n"));
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
}

static void held_gauges_are_printed_only_when_known(void **state)
{
    (void)state;
    struct metrics_gauges g = {2, 1, 5, 7, {3, -1, 0, -1}};
    size_t len;
    char *text = metrics_render(&g, &len);
    assert_true(value_of(text, "milter_ingress_held_messages{state=\"held\"}") == 3);
    assert_true(value_of(text, "milter_ingress_held_messages{state=\"rejected\"}") == 0);
    assert_true(value_of(text, "milter_ingress_held_messages{state=\"released\"}") == -1);
    assert_true(value_of(text, "milter_ingress_decision_log_queue") == 5);
    assert_true(value_of(text, "milter_ingress_decision_log_dropped_total") == 7);
    assert_true(value_of(text, "milter_ingress_connections_open") == 2);
    free(text);
}

static void store_failure_is_unhealthy_within_the_window_only(void **state)
{
    (void)state;
    char why[200] = "";
    int64_t now = metrics_now_us();
    assert_true(metrics_store_healthy(now, 30000000, why, sizeof why));
    metrics_store_txn(METRICS_STORE_RETRIED, 10);
    metrics_store_txn(METRICS_STORE_OK, 10);
    assert_true(metrics_store_healthy(metrics_now_us(), 30000000, why, sizeof why));
    metrics_store_txn(METRICS_STORE_BUSY, 10);
    assert_false(metrics_store_healthy(metrics_now_us(), 30000000, why, sizeof why));
    assert_non_null(strstr(why, "busy"));
    /* A success since does not hide it: an immutable file fails only real writes. */
    metrics_store_txn(METRICS_STORE_OK, 10);
    assert_false(metrics_store_healthy(metrics_now_us(), 30000000, why, sizeof why));
    assert_true(metrics_store_healthy(metrics_now_us() + 31000000, 30000000, why, sizeof why));
}

static void dns_is_unhealthy_after_failures_in_a_row(void **state)
{
    (void)state;
    char why[200] = "";
    bool seen;
    assert_true(metrics_dns_healthy(metrics_now_us(), 30000000, &seen, why, sizeof why));
    assert_false(seen);
    for (int i = 0; i < METRICS_DNS_FAILURES_UNHEALTHY - 1; i++)
        metrics_dns_query(DNS_TYPE_A, METRICS_DNS_TIMEOUT, 10);
    assert_true(metrics_dns_healthy(metrics_now_us(), 30000000, &seen, why, sizeof why));
    assert_true(seen);
    metrics_dns_query(DNS_TYPE_A, METRICS_DNS_ERROR, 10);
    assert_false(metrics_dns_healthy(metrics_now_us(), 30000000, &seen, why, sizeof why));
    assert_non_null(strstr(why, "dns:"));
    /* NXDOMAIN is the resolver speaking. */
    metrics_dns_query(DNS_TYPE_A, METRICS_DNS_NXDOMAIN, 10);
    assert_true(metrics_dns_healthy(metrics_now_us(), 30000000, &seen, why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(counters_appear_with_their_labels, reset),
        cmocka_unit_test_setup(unknown_check_and_action_are_not_lost_or_invented, reset),
        cmocka_unit_test_setup(every_recorded_check_has_its_own_label, reset),
        cmocka_unit_test_setup(histogram_buckets_are_cumulative_and_count_matches, reset),
        cmocka_unit_test_setup(every_family_has_help_and_type_once, reset),
        cmocka_unit_test_setup(held_gauges_are_printed_only_when_known, reset),
        cmocka_unit_test_setup(store_failure_is_unhealthy_within_the_window_only, reset),
        cmocka_unit_test_setup(dns_is_unhealthy_after_failures_in_a_row, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
