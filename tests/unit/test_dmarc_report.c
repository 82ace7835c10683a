/*
 * test_dmarc_report: the DMARC aggregate report data recorded for an evaluated message, and the
 * report's XML (lib/dmarc_report.c) checked by xmllint against the RFC 7489 Appendix C schema
 * (tests/dmarc/rfc7489-appendix-c.xsd), on a fresh SQLite store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "dmarc_report.h"
#include "tempdir.h"
#include "util.h"

#ifndef INGRESS_SOURCE_DIR
#error "INGRESS_SOURCE_DIR must name the source tree (tests/CMakeLists.txt defines it)"
#endif
#define SCHEMA INGRESS_SOURCE_DIR "/tests/dmarc/rfc7489-appendix-c.xsd"
#define DAY 86400

extern char **environ;

static char temp_dir[256];

struct fixture {
    char database[512], xml[512];
    struct store *s;
};

static int setup(void **state)
{
    static unsigned n;
    struct fixture *f = xcalloc(1, sizeof *f);
    struct store_error err;

    n++;
    snprintf(f->database, sizeof f->database, "%s/t%u.db", temp_dir, n);
    snprintf(f->xml, sizeof f->xml, "%s/t%u.xml", temp_dir, n);
    f->s = store_open(f->database, 2000, &err);
    if (f->s == NULL) {
        fprintf(stderr, "%s\n", err.text);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->s);
    free(f);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    return tempdir_make(temp_dir, sizeof temp_dir, "test_dmarc_report");
}

static int group_teardown(void **state)
{
    (void)state;
    tempdir_remove(temp_dir);
    return 0;
}

/* An evaluated message from ip: SPF pass for bounce.example.org, two DKIM signatures. */
static struct dmarc_message *message(const char *ip)
{
    struct dmarc_message *m = xcalloc(1, sizeof *m);
    struct dmarc_evidence *e = &m->evidence;

    m->evaluated = true;
    str_copy(e->source_ip, sizeof e->source_ip, ip);
    str_copy(e->envelope_domain, sizeof e->envelope_domain, "bounce.example.org");
    e->spf_checked = true;
    e->spf_result = SPF_PASS;
    str_copy(e->spf_domain, sizeof e->spf_domain, "bounce.example.org");
    e->ndkim = 2;
    e->dkim = xcalloc(2, sizeof *e->dkim);
    e->dkim[0].result = DKIM_PASS;
    str_copy(e->dkim[0].domain, sizeof e->dkim[0].domain, "lists.other.org");
    str_copy(e->dkim[0].selector, sizeof e->dkim[0].selector, "s1");
    e->dkim[1].result = DKIM_FAIL;
    str_copy(e->dkim[1].domain, sizeof e->dkim[1].domain, "example.org");
    str_copy(e->dkim[1].selector, sizeof e->dkim[1].selector, "sel");
    return m;
}

static struct dmarc_author *author(struct dmarc_message *m, const char *domain, const char *org)
{
    m->authors = xrealloc(m->authors, (m->nauthors + 1) * sizeof *m->authors);
    struct dmarc_author *a = &m->authors[m->nauthors++];
    memset(a, 0, sizeof *a);
    str_copy(a->domain, sizeof a->domain, domain);
    str_copy(a->org, sizeof a->org, org);
    a->record.pct = 100;
    return a;
}

/* example.org publishes p=reject, the message fails and is rejected. */
static struct dmarc_message *rejected(const char *ip)
{
    struct dmarc_message *m = message(ip);
    struct dmarc_author *a = author(m, "example.org", "example.org");
    a->have_record = true;
    a->record.p = a->record.sp = DMARC_POLICY_REJECT;
    a->result = DMARC_FAIL;
    a->policy = a->disposition = DMARC_POLICY_REJECT;
    return m;
}

struct seen {
    int n;
    char text[8][512];
};

static void collect(const struct store_dmarc_row *r, void *arg)
{
    struct seen *seen = arg;
    if (seen->n < 8)
        snprintf(seen->text[seen->n++], sizeof seen->text[0],
                 "%s %s %s %s p=%s sp=%s pct=%lld %s/%s dis=%s dkim=%s spf=%s [%s] [%s] %s %s %s "
                 "x%lld",
                 r->policy_domain, r->header_from, r->envelope_from, r->source_ip, r->p, r->sp,
                 (long long)r->pct, r->adkim, r->aspf, r->disposition, r->dkim_aligned,
                 r->spf_aligned, r->override, r->dkim, r->spf_domain, r->spf_scope, r->spf_result,
                 (long long)r->messages);
}

/*
 * One row per author domain with a record, under the domain where the record was found (the
 * organizational domain's for sp=); an author without a record has nobody to report to.
 */
static void test_note_counts_each_author_with_a_record_under_its_policy_domain(void **state)
{
    struct fixture *f = *state;
    struct dmarc_message *m = rejected("2001:db8::1");
    struct dmarc_author *sub = author(m, "mail.example.net", "example.net");
    sub->have_record = sub->org_record = true;
    sub->record.p = DMARC_POLICY_NONE;
    sub->record.sp = DMARC_POLICY_QUARANTINE;
    sub->record.pct = 20;
    sub->record.adkim = ORGDOMAIN_STRICT;
    sub->result = DMARC_FAIL;
    sub->policy = DMARC_POLICY_QUARANTINE;
    sub->disposition = DMARC_POLICY_NONE;
    sub->override = DMARC_OVERRIDE_SAMPLED_OUT;
    struct dmarc_author *none = author(m, "nothing.example", "nothing.example");
    none->result = DMARC_NONE;
    struct seen seen = {0};

    for (int i = 0; i < 2; i++)
        assert_int_equal(dmarc_report_note(f->s, m, 3 * DAY + 5, NULL), STORE_OK);
    assert_int_equal(store_dmarc_each(f->s, "example.org", 0, 10 * DAY, collect, &seen, NULL),
                     STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.text[0],
                        "example.org example.org bounce.example.org 2001:db8::1 p=reject "
                        "sp=reject pct=100 r/r dis=reject dkim=fail spf=fail [] [pass "
                        "lists.other.org s1\nfail example.org sel] bounce.example.org mfrom pass "
                        "x2");
    seen.n = 0;
    assert_int_equal(store_dmarc_each(f->s, "example.net", 3 * DAY, 4 * DAY, collect, &seen, NULL),
                     STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_non_null(strstr(seen.text[0], "example.net mail.example.net "));
    assert_non_null(strstr(seen.text[0], "p=none sp=quarantine pct=20 s/r dis=none"));
    assert_non_null(strstr(seen.text[0], "[sampled_out]"));
    assert_int_equal(store_dmarc_each(f->s, "nothing.example", 0, 10 * DAY, collect, &seen, NULL),
                     STORE_NOTFOUND);
    dmarc_message_free(m);
}

/* No source address (the MTA said "unknown"), or a message not evaluated: nothing is counted. */
static void test_note_skips_a_message_without_address_or_evaluation(void **state)
{
    struct fixture *f = *state;
    struct dmarc_message *m = rejected("unknown");
    struct seen seen = {0};

    assert_int_equal(dmarc_report_note(f->s, m, DAY, NULL), STORE_OK);
    str_copy(m->evidence.source_ip, sizeof m->evidence.source_ip, "192.0.2.1");
    m->evaluated = false;
    assert_int_equal(dmarc_report_note(f->s, m, DAY, NULL), STORE_OK);
    assert_int_equal(store_dmarc_each(f->s, "example.org", 0, 10 * DAY, collect, &seen, NULL),
                     STORE_NOTFOUND);
    dmarc_message_free(m);
}

/* xmllint's exit status validating path against the Appendix C schema (execve, no shell). */
static int xmllint(const char *path)
{
    char *argv[] = {"xmllint", "--noout", "--schema", SCHEMA, (char *)path, NULL};
    pid_t pid;
    int status = 0;

    if (posix_spawnp(&pid, "xmllint", NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static char *write_report(struct fixture *f, const struct dmarc_report_meta *meta,
                          struct dmarc_report_counts *counts, enum store_status expect)
{
    FILE *out = fopen(f->xml, "w");
    assert_non_null(out);
    assert_int_equal(dmarc_report_write(f->s, meta, out, counts, NULL), expect);
    assert_int_equal(fclose(out), 0);
    out = fopen(f->xml, "r");
    assert_non_null(out);
    char *text = xcalloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, out);
    text[n] = '\0';
    fclose(out);
    return text;
}

static size_t occurrences(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/*
 * Messages over two days and two sources: the report is valid against the schema, one record
 * per source (the days merged), and its counts are the messages noted; an IPv6 source is
 * written in the eight groups the schema's pattern takes.
 */
static void test_report_is_valid_against_the_schema_and_counts_the_messages(void **state)
{
    struct fixture *f = *state;
    struct dmarc_message *v4 = rejected("192.0.2.25"), *v6 = rejected("2001:db8::7");
    struct dmarc_report_counts counts;

    for (int i = 0; i < 3; i++)
        assert_int_equal(dmarc_report_note(f->s, v4, 5 * DAY + 100, NULL), STORE_OK);
    assert_int_equal(dmarc_report_note(f->s, v4, 6 * DAY + 100, NULL), STORE_OK);
    assert_int_equal(dmarc_report_note(f->s, v6, 6 * DAY + 200, NULL), STORE_OK);
    assert_int_equal(dmarc_report_note(f->s, v6, 9 * DAY, NULL), STORE_OK); /* after the period */
    struct dmarc_report_meta meta = {
        "example.org", 5 * DAY, 7 * DAY, "Example Receiver", "postmaster@receiver.example", "r-1"};
    char *xml = write_report(f, &meta, &counts, STORE_OK);

    assert_int_equal(xmllint(f->xml), 0);
    assert_int_equal(counts.records, 2);
    assert_int_equal(counts.messages, 5);
    assert_int_equal(occurrences(xml, "<record>"), 2);
    assert_non_null(strstr(xml, "<source_ip>192.0.2.25</source_ip>\n      <count>4</count>"));
    assert_non_null(strstr(xml, "<source_ip>2001:db8:0:0:0:0:0:7</source_ip>\n      "
                                "<count>1</count>"));
    assert_non_null(strstr(xml, "<begin>432000</begin>"));
    assert_non_null(strstr(xml, "<end>604799</end>"));
    assert_non_null(strstr(xml, "<p>reject</p>"));
    assert_non_null(strstr(xml, "<selector>s1</selector>"));
    free(xml);
    dmarc_message_free(v4);
    dmarc_message_free(v6);
}

/*
 * Every value is XML-escaped: markup in a header From domain, a DKIM selector, the org name and
 * the report id stays text, a byte that is no UTF-8 is '?' (the store made it valid) or, in the
 * report's own values, \xHH, and the report stays valid.
 */
static void test_report_escapes_every_value(void **state)
{
    struct fixture *f = *state;
    struct store_dmarc_row r = {
        .day = DAY,
        .policy_domain = "example.org",
        .header_from = "</header_from><x>&amp;\xff",
        .envelope_from = "a\"b'c",
        .source_ip = "192.0.2.1",
        .p = "none",
        .sp = "none",
        .pct = 100,
        .adkim = "r",
        .aspf = "r",
        .disposition = "none",
        .dkim_aligned = "fail",
        .spf_aligned = "fail",
        .override = "",
        .dkim = "fail d.example ]]><sel>",
        .spf_domain = "<spf>",
        .spf_scope = "mfrom",
        .spf_result = "none",
        .messages = 1,
    };
    assert_int_equal(store_dmarc_add(f->s, &r, NULL), STORE_OK);
    struct dmarc_report_meta meta = {"example.org",    DAY,        2 * DAY, "A & B </org_name>",
                                     "<postmaster@x>", "id\x01<1>"};
    char *xml = write_report(f, &meta, NULL, STORE_OK);

    assert_int_equal(xmllint(f->xml), 0);
    assert_non_null(
        strstr(xml, "<header_from>&lt;/header_from&gt;&lt;x&gt;&amp;amp;?</header_from>"));
    assert_non_null(strstr(xml, "<envelope_from>a&quot;b&apos;c</envelope_from>"));
    assert_non_null(strstr(xml, "<selector>]]&gt;&lt;sel&gt;</selector>"));
    assert_non_null(strstr(xml, "<org_name>A &amp; B &lt;/org_name&gt;</org_name>"));
    assert_non_null(strstr(xml, "<report_id>id\\x01&lt;1&gt;</report_id>"));
    assert_null(strstr(xml, "<x>"));
    free(xml);
}

/* A period without a row: STORE_NOTFOUND and nothing written (a report needs a record). */
static void test_report_of_an_empty_period_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct dmarc_message *m = rejected("192.0.2.25");
    struct dmarc_report_counts counts;

    assert_int_equal(dmarc_report_note(f->s, m, 5 * DAY, NULL), STORE_OK);
    struct dmarc_report_meta meta = {"example.org", 6 * DAY, 7 * DAY, "o", "e", "i"};
    char *xml = write_report(f, &meta, &counts, STORE_NOTFOUND);
    assert_string_equal(xml, "");
    assert_int_equal(counts.records, 0);
    meta = (struct dmarc_report_meta){"example.net", 5 * DAY, 6 * DAY, "o", "e", "i"};
    free(xml);
    xml = write_report(f, &meta, &counts, STORE_NOTFOUND);
    assert_string_equal(xml, "");
    free(xml);
    dmarc_message_free(m);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_note_counts_each_author_with_a_record_under_its_policy_domain),
        T(test_note_skips_a_message_without_address_or_evaluation),
        T(test_report_is_valid_against_the_schema_and_counts_the_messages),
        T(test_report_escapes_every_value),
        T(test_report_of_an_empty_period_writes_nothing),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
