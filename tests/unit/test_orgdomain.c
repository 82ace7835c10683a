/*
 * test_orgdomain: organizational domains and alignment from the real Public Suffix List, the file
 * Debian's publicsuffix package installs (the default of public_suffix_list), and the list's own
 * test cases (/usr/share/doc/publicsuffix/examples/test_psl.txt of the same package), read at
 * test time so a new list brings its new cases.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "orgdomain.h"
#include "util.h"

#define LIST_TESTS "/usr/share/doc/publicsuffix/examples/test_psl.txt"

static struct orgdomain *od; /* the default list, loaded once for the group */

static int load_default_list(void **state)
{
    char err[512];
    struct config *cfg = config_new_defaults();
    (void)state;
    od = orgdomain_load(cfg->public_suffix_list, err, sizeof err);
    config_free(cfg);
    if (od == NULL)
        fail_msg("%s (install Debian's publicsuffix package)", err);
    return 0;
}

static int free_default_list(void **state)
{
    (void)state;
    orgdomain_free(od);
    od = NULL;
    return 0;
}

/* orgdomain_of's answer in one string: "ok:NAME", "suffix:NAME" or "invalid". */
static const char *answer(const struct orgdomain *list, const char *name, char *buf, size_t buflen)
{
    char out[256] = "unchanged";
    switch (orgdomain_of(list, name, out, sizeof out)) {
    case ORGDOMAIN_OK:
        snprintf(buf, buflen, "ok:%s", out);
        break;
    case ORGDOMAIN_SUFFIX:
        snprintf(buf, buflen, "suffix:%s", out);
        break;
    case ORGDOMAIN_INVALID:
        snprintf(buf, buflen, "invalid%s", out[0] != '\0' ? " (with output)" : "");
        break;
    }
    return buf;
}

static void assert_org(const char *name, const char *want)
{
    char got[300];
    answer(od, name, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got %s, want %s", name, got, want);
}

static void assert_aligned(const char *a, const char *b, enum orgdomain_mode mode, bool want)
{
    if (orgdomain_aligned(od, a, b, mode) != want)
        fail_msg("%s and %s (%s): %s, want %s", a, b,
                 mode == ORGDOMAIN_STRICT ? "strict" : "relaxed", want ? "not aligned" : "aligned",
                 want ? "aligned" : "not aligned");
}

static bool has_non_ascii(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* 'text' or null in one of the file's checkPublicSuffix(...) arguments; NULL for null. */
static char *argument(const char **p)
{
    *p += strspn(*p, " ,");
    if (strncmp(*p, "null", 4) == 0) {
        *p += 4;
        return NULL;
    }
    if (**p != '\'')
        fail_msg("unexpected argument in %s", *p);
    const char *end = strchr(*p + 1, '\'');
    if (end == NULL)
        fail_msg("unterminated argument in %s", *p);
    char *arg = xstrndup(*p + 1, (size_t)(end - *p - 1));
    *p = end + 1;
    return arg;
}

/*
 * Every case of the list's test file that applies: an expected registrable domain is our
 * organizational domain; an expected null is a public suffix or not a name at all (a leading
 * dot).  Left out: the null input (a C caller passes a string), and the names written in
 * U-labels, which we take only as A-labels (their punycoded twins further down the file are
 * kept); for those we check the documented answer: not a domain name.
 */
static void list_test_cases_that_apply_pass(void **state)
{
    char line[1024], got[300], want[300];
    size_t applied = 0, ulabels = 0;
    (void)state;
    FILE *fp = fopen(LIST_TESTS, "r");
    if (fp == NULL) {
        fail_msg("%s: %s (Debian's publicsuffix package)", LIST_TESTS, strerror(errno));
        return;
    }
    while (fgets(line, sizeof line, fp) != NULL) {
        if (strncmp(line, "checkPublicSuffix(", 18) != 0)
            continue;
        const char *p = line + 18;
        char *input = argument(&p), *expected = argument(&p);
        if (input == NULL) {
            free(expected);
            continue;
        }
        answer(od, input, got, sizeof got);
        if (has_non_ascii(input)) {
            ulabels++;
            snprintf(want, sizeof want, "invalid");
        } else {
            applied++;
            if (expected != NULL)
                snprintf(want, sizeof want, "ok:%s", expected);
            else if (strncmp(got, "suffix:", 7) == 0 || strcmp(got, "invalid") == 0)
                snprintf(want, sizeof want, "%s", got);
            else
                snprintf(want, sizeof want, "a public suffix or invalid");
        }
        if (strcmp(got, want) != 0)
            fail_msg("%s: got %s, want %s (%s)", input, got, want, LIST_TESTS);
        free(input);
        free(expected);
    }
    fclose(fp);
    /* Debian's file of 2023 has 68 ASCII cases and 9 in U-labels: the reader found them. */
    print_message("%zu cases of %s applied, %zu U-label cases answered invalid\n", applied,
                  LIST_TESTS, ulabels);
    assert_true(applied >= 60);
}

/* The list's private part: a hosting suffix's customers are separate owners. */
static void private_suffixes_keep_their_users_apart(void **state)
{
    (void)state;
    assert_org("a.alice.github.io", "ok:alice.github.io");
    assert_org("alice.github.io", "ok:alice.github.io");
    assert_org("github.io", "suffix:github.io");
    assert_org("news.example.blogspot.com", "ok:example.blogspot.com");
    assert_aligned("alice.github.io", "mallory.github.io", ORGDOMAIN_RELAXED, false);
    assert_aligned("mail.alice.github.io", "alice.github.io", ORGDOMAIN_RELAXED, true);
    assert_aligned("github.io", "alice.github.io", ORGDOMAIN_RELAXED, false);
}

/* Suffixes a rule of two labels (three under a ccTLD's co/com/net/org/ac/gov/edu) gets wrong. */
static void suffixes_of_more_than_two_labels_come_from_the_list(void **state)
{
    (void)state;
    assert_org("www.example.co.jp", "ok:example.co.jp");
    assert_org("www.example.ne.jp", "ok:example.ne.jp");
    assert_org("mx.shop.com.au", "ok:shop.com.au");
    assert_org("mx.shop.id.au", "ok:shop.id.au");
    assert_org("Mail.Example.CO.UK", "ok:example.co.uk");
    /* *.kawasaki.jp with the exception !city.kawasaki.jp */
    assert_org("www.city.kawasaki.jp", "ok:city.kawasaki.jp");
    assert_org("a.b.kawasaki.jp", "ok:a.b.kawasaki.jp");
    assert_org("b.kawasaki.jp", "suffix:b.kawasaki.jp");
    assert_org("test.k12.ak.us", "ok:test.k12.ak.us");
    assert_aligned("a.b.kawasaki.jp", "c.b.kawasaki.jp", ORGDOMAIN_RELAXED, false);
    assert_aligned("mail.example.ne.jp", "other.ne.jp", ORGDOMAIN_RELAXED, false);
    assert_aligned("mail.example.ne.jp", "example.ne.jp", ORGDOMAIN_RELAXED, true);
}

/* The test zones' reserved TLDs (RFC 2606, 6761) are on no list: the implicit "*" rule. */
static void unlisted_tld_falls_under_the_implicit_star_rule(void **state)
{
    (void)state;
    assert_org("mail.dkim.test", "ok:dkim.test");
    assert_org("a.b.e2e.test", "ok:e2e.test");
    assert_org("test", "suffix:test");
    assert_org("host.example", "ok:host.example");
    assert_aligned("mail.dkim.test", "DKIM.test.", ORGDOMAIN_RELAXED, true);
    assert_aligned("dkim.test", "example.test", ORGDOMAIN_RELAXED, false);
    assert_aligned("dkim.test", "dkim.test.example", ORGDOMAIN_RELAXED, false);
}

/* A name that is a public suffix aligns only with itself; IDN counts in A-label form. */
static void bare_suffix_and_a_labels(void **state)
{
    (void)state;
    assert_org("co.uk", "suffix:co.uk");
    assert_org("COM.", "suffix:com");
    assert_aligned("co.uk", "co.uk", ORGDOMAIN_RELAXED, true);
    assert_aligned("co.uk", "example.co.uk", ORGDOMAIN_RELAXED, false);
    assert_aligned("com", "example.com", ORGDOMAIN_RELAXED, false);
    /* 食狮.公司.cn; 公司.cn is a suffix */
    assert_org("www.xn--85x722f.xn--55qx5d.cn", "ok:xn--85x722f.xn--55qx5d.cn");
    assert_org("xn--55qx5d.cn", "suffix:xn--55qx5d.cn");
    assert_aligned("mail.xn--85x722f.xn--55qx5d.cn", "XN--85X722F.xn--55qx5d.cn", ORGDOMAIN_RELAXED,
                   true);
    assert_aligned("a.xn--55qx5d.cn", "b.xn--55qx5d.cn", ORGDOMAIN_RELAXED, false);
}

static void names_that_are_not_domain_names_have_none(void **state)
{
    char name[300], out[300];
    (void)state;
    assert_org("", "invalid");
    assert_org(".", "invalid");
    assert_org(".com", "invalid");
    assert_org("a..example.com", "invalid"); /* libpsl alone answers example.com */
    assert_org("example.com..", "invalid");
    assert_org("[192.0.2.1]", "invalid");
    assert_org("b\xc3\xbc"
               "cher.example",
               "invalid"); /* a U-label: A-labels only */
    assert_org("exa mple.com", "invalid");
    assert_int_equal(orgdomain_of(od, NULL, out, sizeof out), ORGDOMAIN_INVALID);
    assert_int_equal(orgdomain_of(NULL, "example.com", out, sizeof out), ORGDOMAIN_INVALID);
    assert_string_equal(out, "");
    /* The final dot goes (libpsl alone answers "com." for "example.com."). */
    assert_org("www.Example.COM.", "ok:example.com");

    /* 253 characters are a name (RFC 1035 2.3.4), with or without the final dot; 254 are not. */
    memset(name, 0, sizeof name);
    for (size_t i = 0; i < 253; i++)
        name[i] = i % 50 == 49 ? '.' : 'a';
    memcpy(name + 253 - 12, ".example.com", 12);
    assert_int_equal(strlen(name), 253);
    assert_org(name, "ok:example.com");
    name[253] = '.';
    assert_org(name, "ok:example.com");
    name[253] = '\0';
    memmove(name + 1, name, 254);
    name[0] = 'b';
    assert_int_equal(strlen(name), 254);
    assert_org(name, "invalid");

    /* An output buffer too small is no truncated answer. */
    assert_int_equal(orgdomain_of(od, "mail.example.com", out, 11), ORGDOMAIN_INVALID);
    assert_string_equal(out, "");
    assert_int_equal(orgdomain_of(od, "mail.example.com", out, 12), ORGDOMAIN_OK);
    assert_string_equal(out, "example.com");
}

/* RFC 7489 3.1.1: relaxed compares organizational domains, strict the names. */
static void relaxed_and_strict_alignment(void **state)
{
    (void)state;
    assert_aligned("mail.example.co.uk", "example.co.uk", ORGDOMAIN_RELAXED, true);
    assert_aligned("mail.example.co.uk", "example.co.uk", ORGDOMAIN_STRICT, false);
    assert_aligned("Example.CO.uk.", "example.co.uk", ORGDOMAIN_STRICT, true);
    assert_aligned("a.example.com", "b.example.com", ORGDOMAIN_RELAXED, true);
    assert_aligned("a.example.com", "b.example.com", ORGDOMAIN_STRICT, false);
    assert_aligned("example.com", "example.net", ORGDOMAIN_RELAXED, false);
    /* What is no name aligns with nothing, not even with itself. */
    assert_aligned("[192.0.2.1]", "[192.0.2.1]", ORGDOMAIN_RELAXED, false);
    assert_aligned("a..example.com", "a..example.com", ORGDOMAIN_STRICT, false);
    assert_aligned("", "", ORGDOMAIN_RELAXED, false);
    assert_false(orgdomain_aligned(od, NULL, "example.com", ORGDOMAIN_RELAXED));
    assert_false(orgdomain_aligned(NULL, "example.com", "example.com", ORGDOMAIN_STRICT));
    assert_false(orgdomain_aligned(NULL, "example.com", "example.com", ORGDOMAIN_RELAXED));
}

/* A file of test_orgdomain's own in a temporary directory; the name goes to path. */
static void write_file(char *path, size_t pathlen, const char *text)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, pathlen, "%s/test_orgdomain.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
}

static void assert_load_fails(const char *path, const char *reason)
{
    char err[512] = "";
    struct orgdomain *list = orgdomain_load(path, err, sizeof err);
    if (list != NULL) {
        orgdomain_free(list);
        fail_msg("%s loaded; want an error with \"%s\"", path, reason);
    }
    if (strstr(err, path) == NULL || strstr(err, reason) == NULL)
        fail_msg("error \"%s\" does not name %s and \"%s\"", err, path, reason);
}

/* Missing, not a file, empty, or not a suffix list (which libpsl alone would load): refused. */
static void load_refuses_missing_and_foreign_files(void **state)
{
    char path[PATH_MAX];
    (void)state;
    assert_load_fails("/nonexistent-milter-ingress/public_suffix_list.dat", strerror(ENOENT));
    assert_load_fails("/tmp", "not a regular file");
    write_file(path, sizeof path, "");
    assert_load_fails(path, "not a Public Suffix List");
    unlink(path);
    write_file(path, sizeof path, "socket = inet:8895@127.0.0.1\ndatabase = /tmp/x.db\n");
    assert_load_fails(path, "not a Public Suffix List");
    unlink(path);
    orgdomain_free(NULL);
}

/* The file decides, not libpsl's built-in copy: a list of our own gives its own answers. */
static void the_file_named_is_the_list_used(void **state)
{
    char path[PATH_MAX], err[512], got[300];
    (void)state;
    write_file(path, sizeof path,
               "// ===BEGIN ICANN DOMAINS===\ncom\n// ===END ICANN DOMAINS===\n"
               "// ===BEGIN PRIVATE DOMAINS===\nexample.com\n// ===END PRIVATE DOMAINS===\n");
    struct orgdomain *own = orgdomain_load(path, err, sizeof err);
    unlink(path);
    if (own == NULL)
        fail_msg("%s", err);
    assert_string_equal(answer(own, "a.b.example.com", got, sizeof got), "ok:b.example.com");
    assert_string_equal(answer(od, "a.b.example.com", got, sizeof got), "ok:example.com");
    /* Not on this list: co.uk is no suffix here, github.io neither. */
    assert_string_equal(answer(own, "mail.example.co.uk", got, sizeof got), "ok:co.uk");
    assert_int_equal(orgdomain_rule_count(own), 2);
    orgdomain_free(own);
}

/* The start-up log line: the file, its rule count and its date (the list has none inside). */
static void describe_names_the_file_its_rules_and_its_date(void **state)
{
    char path[PATH_MAX], err[512], line[PATH_MAX + 100], want[PATH_MAX + 100];
    struct config *cfg = config_new_defaults();
    (void)state;
    write_file(path, sizeof path, "");
    FILE *in = fopen(cfg->public_suffix_list, "r"), *out = fopen(path, "w");
    assert_non_null(in);
    assert_non_null(out);
    int ch;
    while ((ch = getc(in)) != EOF)
        putc(ch, out);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    config_free(cfg);
    /* 2001-09-09 01:46:40 UTC */
    struct timeval times[2] = {{1000000000, 0}, {1000000000, 0}};
    assert_int_equal(utimes(path, times), 0);
    struct orgdomain *copy = orgdomain_load(path, err, sizeof err);
    unlink(path);
    if (copy == NULL)
        fail_msg("%s", err);
    assert_int_equal(orgdomain_file_time(copy), 1000000000);
    assert_true(orgdomain_rule_count(copy) > 5000);
    assert_int_equal(orgdomain_rule_count(copy), orgdomain_rule_count(od));
    orgdomain_describe(copy, line, sizeof line);
    snprintf(want, sizeof want, "%s: %zu rules, dated 2001-09-09", path,
             orgdomain_rule_count(copy));
    assert_string_equal(line, want);
    orgdomain_free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_test_cases_that_apply_pass),
        cmocka_unit_test(private_suffixes_keep_their_users_apart),
        cmocka_unit_test(suffixes_of_more_than_two_labels_come_from_the_list),
        cmocka_unit_test(unlisted_tld_falls_under_the_implicit_star_rule),
        cmocka_unit_test(bare_suffix_and_a_labels),
        cmocka_unit_test(names_that_are_not_domain_names_have_none),
        cmocka_unit_test(relaxed_and_strict_alignment),
        cmocka_unit_test(load_refuses_missing_and_foreign_files),
        cmocka_unit_test(the_file_named_is_the_list_used),
        cmocka_unit_test(describe_names_the_file_its_rules_and_its_date),
    };
    return cmocka_run_group_tests(tests, load_default_list, free_default_list);
}
