/*
 * test_config: lib/config.c, walked through its one option table (ARCHITECTURE.md
 * "Adding an option").
 *
 * The table itself (defaults parse and round-trip, names unique and lower_snake_case, every row
 * documented), the file parser and its FILE:LINE errors, durations and lists, -o overrides,
 * validation of what one option cannot check alone, `-n`, the generated reference, the exempt
 * recipients, and the README and contrib file against the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "util.h"

#ifndef INGRESS_SOURCE_DIR
#error "INGRESS_SOURCE_DIR must name the source tree (tests/CMakeLists.txt defines it)"
#endif

#define ERR_MAX 512

/* ---- helpers ---------------------------------------------------------------------------- */

/* Writes len bytes of text to a fresh temporary file; its name goes to path. */
static void write_temp(char *path, size_t pathlen, const char *text, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, pathlen, "%s/test_config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Loads text as a config file; path receives the file's (already removed) name for errors. */
static struct config *load_text_len(const char *text, size_t len, char *path, size_t pathlen,
                                    char *err, size_t errlen)
{
    write_temp(path, pathlen, text, len);
    err[0] = '\0';
    struct config *cfg = config_load(path, err, errlen);
    unlink(path);
    return cfg;
}

static struct config *load_text(const char *text, char *path, size_t pathlen, char *err,
                                size_t errlen)
{
    return load_text_len(text, strlen(text), path, pathlen, err, errlen);
}

/* Fails with a readable message unless haystack contains needle. */
static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void assert_not_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) != NULL)
        fail_msg("\"%s\" contains \"%s\"", haystack, needle);
}

/* Everything a writer puts on a FILE, as one string the caller frees. */
struct capture {
    char *text;
    size_t len;
    FILE *fp;
};

static void capture_open(struct capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->fp = open_memstream(&c->text, &c->len);
    assert_non_null(c->fp);
}

static char *capture_close(struct capture *c)
{
    assert_int_equal(fclose(c->fp), 0);
    return c->text;
}

static char *nondefault_text(const struct config *cfg)
{
    struct capture c;
    capture_open(&c);
    config_print_nondefault(cfg, c.fp, store_database_shown);
    return capture_close(&c);
}

/* Reads a whole file into a string the caller frees; NULL when it cannot be read. */
static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    struct capture c;
    capture_open(&c);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        fwrite(buf, 1, n, c.fp);
    fclose(fp);
    return capture_close(&c);
}

static const struct config_option *find_option(const char *name)
{
    for (size_t i = 0; i < config_option_count; i++)
        if (strcmp(config_options[i].name, name) == 0)
            return &config_options[i];
    return NULL;
}

static const void *option_field(const struct config *cfg, const struct config_option *opt)
{
    return (const char *)cfg + opt->offset;
}

static bool lower_snake_case(const char *name)
{
    if (name[0] < 'a' || name[0] > 'z')
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok || (p[0] == '_' && p[1] == '_'))
            return false;
    }
    return name[strlen(name) - 1] != '_';
}

/* True when word is one of the '|'-separated choices. */
static bool choice_listed(const char *choices, const char *word)
{
    size_t wlen = strlen(word);
    for (const char *p = choices;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == wlen && strncmp(p, word, len) == 0)
            return true;
        if (bar == NULL)
            return false;
        p = bar + 1;
    }
}

/* ---- the table ---------------------------------------------------------------------------- */

static void every_default_parses_and_validates(void **state)
{
    (void)state;
    char err[ERR_MAX] = "";
    struct config *cfg = config_new_defaults();
    assert_non_null(cfg);
    if (!config_validate(cfg, err, sizeof err))
        fail_msg("the defaults do not validate: %s", err);
    config_free(cfg);
}

/* Each default, set again through config_set, parses and leaves `-n` silent; and the field holds
 * what the default text says. */
static void every_default_round_trips(void **state)
{
    (void)state;
    struct config *cfg = config_new_defaults();
    char *text = nondefault_text(cfg);
    assert_string_equal(text, "");
    free(text);

    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *opt = &config_options[i];
        const void *f = option_field(cfg, opt);
        char err[ERR_MAX] = "";
        int64_t ms;

        if (!config_set(cfg, opt->name, opt->default_value, err, sizeof err))
            fail_msg("%s: default \"%s\" does not parse: %s", opt->name, opt->default_value, err);
        switch (opt->type) {
        case CONFIG_STRING:
            assert_string_equal(*(char *const *)f, opt->default_value);
            break;
        case CONFIG_DURATION:
            assert_true(config_parse_duration(opt->default_value, &ms));
            assert_true(*(const int64_t *)f == ms);
            assert_true(ms >= opt->min && ms <= opt->max);
            break;
        case CONFIG_INT:
            assert_int_equal(*(const long *)f, strtol(opt->default_value, NULL, 10));
            assert_true(*(const long *)f >= opt->min && *(const long *)f <= opt->max);
            break;
        case CONFIG_ENUM:
            assert_true(choice_listed(opt->choices, opt->default_value));
            break;
        case CONFIG_BOOL:
        case CONFIG_LIST:
            break;
        }
        text = nondefault_text(cfg);
        if (text[0] != '\0')
            fail_msg("%s: setting the default prints \"%s\" under -n", opt->name, text);
        free(text);
    }
    config_free(cfg);
}

static void option_names_are_unique(void **state)
{
    (void)state;
    for (size_t i = 0; i < config_option_count; i++)
        for (size_t j = i + 1; j < config_option_count; j++)
            if (strcmp(config_options[i].name, config_options[j].name) == 0)
                fail_msg("option %s appears twice", config_options[i].name);
}

static void option_fields_do_not_overlap(void **state)
{
    (void)state;
    for (size_t i = 0; i < config_option_count; i++)
        for (size_t j = i + 1; j < config_option_count; j++)
            if (config_options[i].offset == config_options[j].offset)
                fail_msg("%s and %s write the same field", config_options[i].name,
                         config_options[j].name);
}

static void every_option_has_doc_section_and_snake_case_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *opt = &config_options[i];
        if (!lower_snake_case(opt->name))
            fail_msg("option \"%s\" is not lower_snake_case", opt->name);
        if (opt->doc == NULL || opt->doc[0] == '\0')
            fail_msg("%s has no doc", opt->name);
        /* One line: the reference file comments it with a single '#'. */
        if (strpbrk(opt->doc, "\n\r") != NULL)
            fail_msg("%s: doc must be one line", opt->name);
        if (opt->section == NULL || opt->section[0] == '\0')
            fail_msg("%s has no section", opt->name);
        assert_non_null(opt->default_value);
        if (opt->type == CONFIG_ENUM && (opt->choices == NULL || opt->choices[0] == '\0'))
            fail_msg("enum %s has no choices", opt->name);
        if ((opt->type == CONFIG_INT || opt->type == CONFIG_DURATION) && opt->min > opt->max)
            fail_msg("%s: min above max", opt->name);
    }
}

/* The writers start a heading whenever the section changes, so a section split in two would be
 * printed twice. */
static void options_of_a_section_are_adjacent(void **state)
{
    (void)state;
    for (size_t i = 1; i < config_option_count; i++) {
        if (strcmp(config_options[i].section, config_options[i - 1].section) == 0)
            continue;
        for (size_t j = 0; j + 1 < i; j++)
            if (strcmp(config_options[j].section, config_options[i].section) == 0)
                fail_msg("section %s is split: %s is apart from %s", config_options[i].section,
                         config_options[i].name, config_options[j].name);
    }
}

/* ---- loading a file ----------------------------------------------------------------------- */

/* main.cf's continuation: an indented line continues the one before it (comment lines and blank
 * lines between do not end it); and, beyond main.cf, a '#' after a blank starts a comment, also
 * after a quoted value. */
static void continued_lines_and_comments_after_values_load(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX], value[256];
    struct config *cfg = load_text("exempt_recipients = postmaster,   # the usual ones\n"
                                   "    abuse@example.org\n"
                                   "# a comment line inside the logical line\n"
                                   "\n"
                                   "\tsecurity@example.org  # and this one\n"
                                   "greylist_delay = 5m# no blank before '#': part of the value\n",
                                   path, sizeof path, err, sizeof err);
    assert_null(cfg);
    assert_contains(err, ":6: greylist_delay:");
    cfg = load_text("exempt_recipients = postmaster,   # the usual ones\n"
                    "    abuse@example.org\n"
                    "# a comment line inside the logical line\n"
                    "\n"
                    "\tsecurity@example.org  # and this one\n"
                    "greylist_delay = 5m  # retry after\n"
                    "help_text = \"see https://h.example/#{check} # kept\"  # cut\n"
                    "authserv_id = mx.example.org\t#tab before it\n",
                    path, sizeof path, err, sizeof err);
    if (cfg == NULL)
        fail_msg("load failed: %s", err);
    assert_true(config_get(cfg, "exempt_recipients", value, sizeof value));
    assert_string_equal(value, "postmaster, abuse@example.org, security@example.org");
    assert_int_equal(cfg->greylist_delay, 5 * 60 * 1000);
    assert_string_equal(cfg->help_text, "see https://h.example/#{check} # kept");
    assert_string_equal(cfg->authserv_id, "mx.example.org");
    char where[PATH_MAX + 16];
    assert_true(config_option_origin(cfg, "exempt_recipients", where, sizeof where));
    assert_contains(where, ":1");
    config_free(cfg);

    cfg = load_text("  greylist = yes\n", path, sizeof path, err, sizeof err);
    assert_null(cfg);
    assert_contains(err, ":1: a line that starts with a blank continues the line before it");
}

struct reported {
    size_t count;
    char lines[8][300];
};

static void collect_error(const char *error, void *arg)
{
    struct reported *r = arg;
    if (r->count < 8)
        snprintf(r->lines[r->count], sizeof r->lines[0], "%s", error);
    r->count++;
}

/* -t's loader goes on after an error: each bad line is reported once, in order, a line of 100 KiB
 * among them, and the lines after it are still read. */
static void every_error_of_the_file_is_reported(void **state)
{
    (void)state;
    char path[PATH_MAX];
    size_t big = 100 * 1024;
    const char *head = "nosuch = 1\ngreylist = maybe\ndns_tries = 3\nsocket_mode = ";
    const char *tail = "\nwhat is this\ndns_tries = 4\ngreylist_delay = 5m\n";
    char *text = xmalloc(strlen(head) + big + strlen(tail) + 1);
    strcpy(text, head);
    memset(text + strlen(head), '7', big);
    strcpy(text + strlen(head) + big, tail);
    write_temp(path, sizeof path, text, strlen(text));
    free(text);
    struct reported r = {0};
    struct config *cfg = config_load_report(path, collect_error, &r);
    unlink(path);
    assert_null(cfg);
    if (r.count != 5)
        fail_msg("%zu errors, not 5: [%s] [%s] [%s] [%s]", r.count, r.lines[0], r.lines[1],
                 r.lines[2], r.lines[3]);
    assert_contains(r.lines[0], ":1: nosuch: unknown option");
    assert_contains(r.lines[1], ":2: greylist: expected yes or no");
    assert_contains(r.lines[2], ":4: line longer than 4096 bytes");
    assert_contains(r.lines[3], ":5: malformed line");
    assert_contains(r.lines[4], ":6: dns_tries: set twice (first on line 3)");
}

static void file_with_comments_blank_lines_and_quotes_loads(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX];
    struct config *cfg = load_text("# milter-ingress test\n"
                                   "\n"
                                   "   # an indented comment\n"
                                   "\t\n"
                                   "help_text = \"  see https://help.example/{check}  \"\n"
                                   "socket = unix:/run/milter-ingress/ingress.sock\n"
                                   "fail_open=yes\n"
                                   "dns_tries\t=\t3\t\n"
                                   "authserv_id = mx.example.org\r\n"
                                   "user =\n"
                                   "group = \"\"\n"
                                   "dns_timeout = 1500ms\n"
                                   "iprev_helo = strict\n"
                                   "exempt_recipients = postmaster, abuse@example.org\n"
                                   "dns_failure = accept", /* no final newline */
                                   path, sizeof path, err, sizeof err);
    if (cfg == NULL)
        fail_msg("load failed: %s", err);
    assert_string_equal(cfg->help_text, "  see https://help.example/{check}  ");
    assert_string_equal(cfg->socket, "unix:/run/milter-ingress/ingress.sock");
    assert_true(cfg->fail_open);
    assert_int_equal(cfg->dns_tries, 3);
    assert_string_equal(cfg->authserv_id, "mx.example.org");
    assert_string_equal(cfg->user, "");
    assert_string_equal(cfg->group, "");
    assert_true(cfg->dns_timeout == 1500);
    assert_int_equal(cfg->iprev_helo, IPREV_HELO_STRICT);
    assert_int_equal(cfg->exempt_recipients.count, 2);
    assert_string_equal(cfg->exempt_recipients.items[1], "abuse@example.org");
    assert_int_equal(cfg->dns_failure, DNS_FAILURE_ACCEPT);
    /* Untouched options keep their defaults. */
    assert_string_equal(cfg->database, "/var/lib/milter-ingress/ingress.db");
    config_free(cfg);
}

static void empty_file_gives_the_defaults(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX];
    struct config *cfg = load_text("", path, sizeof path, err, sizeof err);
    if (cfg == NULL)
        fail_msg("load failed: %s", err);
    char *text = nondefault_text(cfg);
    assert_string_equal(text, "");
    free(text);
    config_free(cfg);
}

static void unknown_key_is_an_error_naming_file_line_and_key(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 16];
    struct config *cfg =
        load_text("# comment\ndns_tries = 2\ndns_tires = 3\n", path, sizeof path, err, sizeof err);
    assert_null(cfg);
    snprintf(where, sizeof where, "%s:3", path);
    assert_contains(err, where);
    assert_contains(err, "dns_tires");
}

/* An unknown key is echoed escaped: a control byte in the file does not reach the terminal. */
static void unknown_key_is_escaped_in_the_error(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX];
    struct config *cfg = load_text("bad\033[2Jkey = 1\n", path, sizeof path, err, sizeof err);
    assert_null(cfg);
    assert_not_contains(err, "\033");
    assert_contains(err, "bad");
}

static void bad_values_are_errors_naming_file_line_and_key(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *key;
    } cases[] = {
        {"dns_tries = 99", "dns_tries"},  /* int above max */
        {"dns_tries = 0", "dns_tries"},   /* int below min */
        {"dns_tries = two", "dns_tries"}, /* int not a number */
        {"dns_tries = 3x", "dns_tries"},  /* int with trailing garbage */
        {"dns_tries = ", "dns_tries"},    /* int empty */
        {"dns_cache_size = 99999999999999999999999", "dns_cache_size"}, /* int overflow */
        {"dns_timeout = soon", "dns_timeout"},              /* duration not a duration */
        {"dns_timeout = 1h", "dns_timeout"},                /* duration above max */
        {"dns_timeout = 10ms", "dns_timeout"},              /* duration below min */
        {"decision_retention = 30s", "decision_retention"}, /* below its minute */
        {"fail_open = maybe", "fail_open"},                 /* bool */
        {"iprev_helo = maybe", "iprev_helo"},               /* enum */
        {"iprev_action = Reject", "iprev_action"},          /* enum words are exact */
        {"log_facility = kern", "log_facility"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256], path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 16];
        snprintf(text, sizeof text, "# line 1\n%s\n", cases[i].line);
        struct config *cfg = load_text(text, path, sizeof path, err, sizeof err);
        if (cfg != NULL)
            fail_msg("\"%s\" was accepted", cases[i].line);
        snprintf(where, sizeof where, "%s:2: %s", path, cases[i].key);
        assert_contains(err, where);
    }
}

static void line_without_equals_is_an_error_naming_file_line(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 16];
    struct config *cfg = load_text("dns_tries = 2\n\n# x\nsocket inet:25@127.0.0.1\n", path,
                                   sizeof path, err, sizeof err);
    assert_null(cfg);
    snprintf(where, sizeof where, "%s:4", path);
    assert_contains(err, where);
}

static void key_set_twice_is_an_error_naming_both_lines(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 16];
    struct config *cfg =
        load_text("# x\ndns_tries = 2\n\n# y\ndns_tries = 3\n", path, sizeof path, err, sizeof err);
    assert_null(cfg);
    snprintf(where, sizeof where, "%s:5: dns_tries", path);
    assert_contains(err, where);
    assert_contains(err, "line 2");
}

static void missing_file_is_an_error_naming_the_path(void **state)
{
    (void)state;
    char err[ERR_MAX] = "";
    const char *path = "/nonexistent-milter-ingress-dir/ingress.conf";
    assert_null(config_load(path, err, sizeof err));
    assert_contains(err, path);
    assert_contains(err, strerror(ENOENT)); /* the reason, not just "error" */
}

static void overlong_line_is_an_error_naming_file_line(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 16];
    size_t len = 10000;
    char *text = xmalloc(len + 128);
    int n = snprintf(text, len + 128, "dns_tries = 2\nhelp_text = ");
    memset(text + n, 'x', len);
    strcpy(text + n + len, "\ndns_timeout = 1s\n");
    struct config *cfg = load_text(text, path, sizeof path, err, sizeof err);
    free(text);
    assert_null(cfg);
    snprintf(where, sizeof where, "%s:2", path);
    assert_contains(err, where);
}

/* A NUL byte would silently cut the line short; the file is refused instead. */
static void nul_byte_in_a_line_is_an_error_naming_file_line(void **state)
{
    (void)state;
    static const char text[] = "dns_tries = 2\nhelp_text = see\0 the rest\n";
    char path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 16];
    struct config *cfg = load_text_len(text, sizeof text - 1, path, sizeof path, err, sizeof err);
    if (cfg != NULL) {
        config_free(cfg);
        fail_msg("a line with a NUL byte was accepted");
    }
    snprintf(where, sizeof where, "%s:2", path);
    assert_contains(err, where);
}

/* A value's own check runs as the line is read: the error names the line. */
static void value_check_names_file_line_and_key(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 32];
    struct config *cfg = load_text("# x\nsocket = tcp:25\n", path, sizeof path, err, sizeof err);
    assert_null(cfg);
    snprintf(where, sizeof where, "%s:2: socket: ", path);
    assert_contains(err, where);
}

/* A value that opens a quote must close it; a quote that only ends a value is part of it. */
static void unterminated_quote_is_an_error_naming_file_line_and_key(void **state)
{
    (void)state;
    static const char *const bad[] = {"help_text = \"unterminated", "help_text = \"",
                                      "dns_tries = \"3", "exempt_recipients = \"postmaster abuse"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 32];
        snprintf(text, sizeof text, "# x\n%s\n", bad[i]);
        struct config *cfg = load_text(text, path, sizeof path, err, sizeof err);
        if (cfg != NULL) {
            config_free(cfg);
            fail_msg("\"%s\" was accepted", bad[i]);
        }
        snprintf(where, sizeof where, "%s:2: %.*s: ", path, (int)strcspn(bad[i], " "), bad[i]);
        assert_contains(err, where);
        assert_contains(err, "quote");
    }
    char path[PATH_MAX], err[ERR_MAX];
    struct config *cfg = load_text("help_text = say \"hi\"\nauthserv_id = \"mx.example\"\n", path,
                                   sizeof path, err, sizeof err);
    if (cfg == NULL)
        fail_msg("load failed: %s", err);
    assert_string_equal(cfg->help_text, "say \"hi\"");
    assert_string_equal(cfg->authserv_id, "mx.example");
    config_free(cfg);
}

/* Two options that disagree: the error names the line of the one set last, which made them
 * disagree, and both options. */
static void options_that_disagree_name_the_line_set_last(void **state)
{
    (void)state;
    static const struct {
        const char *text, *key, *other;
        int line;
    } cases[] = {
        {"throttle_messages_per_hour = 100\n# x\nthrottle_floor_messages_per_hour = 150\n",
         "throttle_floor_messages_per_hour", "throttle_messages_per_hour", 3},
        {"throttle_floor_messages_per_minute = 20\nthrottle_messages_per_minute = 10\n",
         "throttle_messages_per_minute", "throttle_floor_messages_per_minute", 2},
        /* The floor keeps its default (10): the limit's line is the one to blame. */
        {"# x\nthrottle_messages_per_minute = 5\n", "throttle_messages_per_minute",
         "throttle_floor_messages_per_minute", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 64];
        struct config *cfg = load_text(cases[i].text, path, sizeof path, err, sizeof err);
        if (cfg != NULL) {
            config_free(cfg);
            fail_msg("case %zu was accepted", i);
        }
        snprintf(where, sizeof where, "%s:%d: %s: ", path, cases[i].line, cases[i].key);
        assert_contains(err, where);
        assert_contains(err, cases[i].other);
    }
}

/* An error found after loading (a file an option names cannot be read) names the line that set
 * the option; a value from -o (config_set) or the default has no line to name. */
static void option_origin_names_file_and_line_until_overridden(void **state)
{
    (void)state;
    char path[PATH_MAX], err[ERR_MAX], where[PATH_MAX + 16], want[PATH_MAX + 16];
    struct config *cfg = load_text("# list\n\npublic_suffix_list = /srv/psl.dat\ndns_tries = 3\n",
                                   path, sizeof path, err, sizeof err);
    assert_non_null(cfg);
    assert_true(config_option_origin(cfg, "public_suffix_list", where, sizeof where));
    snprintf(want, sizeof want, "%s:3", path);
    assert_string_equal(where, want);
    assert_true(config_option_origin(cfg, "dns_tries", where, sizeof where));
    snprintf(want, sizeof want, "%s:4", path);
    assert_string_equal(where, want);
    /* Not in the file: the default. */
    assert_false(config_option_origin(cfg, "dns_timeout", where, sizeof where));
    assert_string_equal(where, "");
    assert_false(config_option_origin(cfg, "no_such_option", where, sizeof where));
    /* -o replaces the file's value: the line no longer says where it came from. */
    assert_true(config_set(cfg, "public_suffix_list", "/elsewhere.dat", err, sizeof err));
    assert_false(config_option_origin(cfg, "public_suffix_list", where, sizeof where));
    config_free(cfg);

    cfg = config_new_defaults();
    assert_false(config_option_origin(cfg, "public_suffix_list", where, sizeof where));
    config_free(cfg);
}

/* ---- durations and lists ------------------------------------------------------------------ */

static void durations_parse_in_every_unit(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {"0", 0},
        {"500ms", 500},
        {"30s", 30000},
        {"5m", 300000},
        {"48h", INT64_C(48) * 3600 * 1000},
        {"35d", INT64_C(35) * 86400 * 1000},
        {"2w", INT64_C(14) * 86400 * 1000},
        {"90", 90000}, /* a bare number is seconds */
        {"9223372036854775807ms", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        if (!config_parse_duration(cases[i].text, &ms))
            fail_msg("\"%s\" was refused", cases[i].text);
        if (ms != cases[i].ms)
            fail_msg("\"%s\" gave %lld ms", cases[i].text, (long long)ms);
    }
}

static void malformed_and_overflowing_durations_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "s",
        "soon",
        "5 m",
        " 5m",
        "+5m",
        "-5m",
        "5x",
        "5mm",
        "1.5h",
        "5M",
        "99999999999999999999",   /* beyond unsigned long long */
        "9223372036854775808ms",  /* INT64_MAX + 1 */
        "9223372036854775807s",   /* overflows once multiplied */
        "15250284453w",           /* the first week count past INT64_MAX ms */
        "18446744073709551615ms", /* ULLONG_MAX */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        if (config_parse_duration(bad[i], &ms))
            fail_msg("\"%s\" was accepted as %lld ms", bad[i], (long long)ms);
    }
}

static void list_splits_on_commas_and_spaces_dropping_empty_words(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct config *cfg = config_new_defaults();

    assert_true(config_set(cfg, "exempt_recipients", "a, b c,,d", err, sizeof err));
    assert_int_equal(cfg->exempt_recipients.count, 4);
    assert_string_equal(cfg->exempt_recipients.items[0], "a");
    assert_string_equal(cfg->exempt_recipients.items[1], "b");
    assert_string_equal(cfg->exempt_recipients.items[2], "c");
    assert_string_equal(cfg->exempt_recipients.items[3], "d");

    assert_true(config_set(cfg, "exempt_recipients", " ,\t, ", err, sizeof err));
    assert_int_equal(cfg->exempt_recipients.count, 0);

    assert_true(config_set(cfg, "exempt_recipients", "", err, sizeof err));
    assert_int_equal(cfg->exempt_recipients.count, 0);
    config_free(cfg);
}

/* ---- -o overrides --------------------------------------------------------------------------- */

static void config_set_overrides_one_option(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct config *cfg = config_new_defaults();

    assert_true(config_set(cfg, "dns_tries", "4", err, sizeof err));
    assert_int_equal(cfg->dns_tries, 4);
    assert_true(config_set(cfg, "dns_cache_max_ttl", "10m", err, sizeof err));
    assert_true(cfg->dns_cache_max_ttl == 600000);
    assert_true(config_set(cfg, "fail_open", "on", err, sizeof err));
    assert_true(cfg->fail_open);
    assert_true(config_set(cfg, "fail_open", "FALSE", err, sizeof err));
    assert_false(cfg->fail_open);
    assert_true(config_set(cfg, "iprev_action", "log", err, sizeof err));
    assert_int_equal(cfg->iprev_action, ACTION_LOG);
    assert_true(config_set(cfg, "database", "/tmp/x.db", err, sizeof err));
    assert_string_equal(cfg->database, "/tmp/x.db");
    config_free(cfg);
}

static void config_set_refuses_unknown_keys_and_bad_values_keeping_the_old_value(void **state)
{
    (void)state;
    char err[ERR_MAX] = "";
    struct config *cfg = config_new_defaults();

    assert_false(config_set(cfg, "no_such_option", "1", err, sizeof err));
    assert_contains(err, "no_such_option");

    assert_true(config_set(cfg, "dns_tries", "3", err, sizeof err));
    assert_false(config_set(cfg, "dns_tries", "6", err, sizeof err));
    assert_contains(err, "dns_tries");
    assert_int_equal(cfg->dns_tries, 3);

    assert_false(config_set(cfg, "dns_timeout", "forever", err, sizeof err));
    assert_contains(err, "dns_timeout");
    assert_true(cfg->dns_timeout == 2000);

    assert_false(config_set(cfg, "iprev_helo", "maybe", err, sizeof err));
    assert_contains(err, "iprev_helo");
    assert_int_equal(cfg->iprev_helo, IPREV_HELO_RESOLVE);
    config_free(cfg);
}

/* ---- validation ----------------------------------------------------------------------------- */

struct validate_case {
    const char *key;
    const char *value;
    bool valid;
};

static const struct validate_case validate_cases[] = {
    /* socket */
    {"socket", "inet:8895@127.0.0.1", true},
    {"socket", "inet6:8895@[::1]", true},
    {"socket", "unix:/run/milter-ingress/ingress.sock", true},
    {"socket", "local:/run/milter-ingress/ingress.sock", true},
    {"socket", "inet:0@x", false},
    {"socket", "inet:65536@127.0.0.1", false},
    {"socket", "inet:25x@127.0.0.1", false},
    {"socket", "inet:@127.0.0.1", false},
    {"socket", "tcp:25", false},
    {"socket", "unix:relative/path", false},
    {"socket", "unix:", false},
    {"socket", "", false},
    /* socket_mode */
    {"socket_mode", "0660", true},
    {"socket_mode", "600", true},
    {"socket_mode", "0999", false},
    {"socket_mode", "1777", false},
    {"socket_mode", "", false},
    {"socket_mode", "rw", false},
    /* user and group: an account name or nothing */
    {"user", "", true},
    {"user", "milter-ingress", true},
    {"group", "postfix", true},
    {"user", "mail user", false},
    {"user", "-x", false},
    {"group", "a:b", false},
    {"user", "abcdefghijklmnopqrstuvwxyz0123456", false}, /* 33 characters */
    /* database */
    {"database", "/var/lib/milter-ingress/ingress.db", true},
    {"database", "", false},
    {"database", "/var/lib/milter-ingress/", false},
    {"database", "/var/lib/\x01.db", false},
    /* trusted_networks */
    {"trusted_networks", "10.0.0.0/8, 2001:db8::/32 192.0.2.1", true},
    {"trusted_networks", "", true},
    {"trusted_networks", "10.0.0.0/33", false},
    {"trusted_networks", "::/129", false},
    {"trusted_networks", "nonsense", false},
    {"trusted_networks", "192.0.2.0/-0", false}, /* not /0: that would trust everyone */
    {"trusted_networks", "127.0.0.0/8 nonsense", false},
    /* dns_servers */
    {"dns_servers", "127.0.0.1", true},
    {"dns_servers", "127.0.0.1:5353", true},
    {"dns_servers", "[::1]:53", true},
    {"dns_servers", "::1", true},
    {"dns_servers", "127.0.0.1, [2001:db8::53]:5353", true},
    {"dns_servers", "localhost", false},
    {"dns_servers", "127.0.0.1:99999", false},
    {"dns_servers", "127.0.0.1:0", false},
    {"dns_servers", "127.0.0.1:", false},
    {"dns_servers", "127.0.0.1:dns", false},
    {"dns_servers", "[::1", false},
    {"dns_servers", "[::1]x", false},
    {"dns_servers", "[localhost]:53", false},
    /* authserv_id */
    {"authserv_id", "mx.example.org", true},
    {"authserv_id", "", true},
    {"authserv_id", "mx.example.org;", false},
    {"authserv_id", "mx example.org", false},
    {"authserv_id", "mx(x).example.org", false},
    {"authserv_id", "mx\x01.example.org", false},
    /* help_text */
    {"help_text", "See https://help.example/{check}?ref={ref}", true},
    {"help_text", "see\x01 this", false},
    {"help_text", "see\tthis", false},
    {"help_text", "see\x7f", false},
    {"help_text", "caf\xc3\xa9", false},
    {"help_text", "https://help.example/{chek}", false}, /* a typo would reach every sender */
    {"help_text",
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", /* 201 characters: more than a reply line has room for */
     false},
    /* exempt_recipients: local parts or addresses */
    {"exempt_recipients", "postmaster abuse@example.org", true},
    {"exempt_recipients", "@example.org", false},
    {"exempt_recipients", "postmaster@", false},
    {"exempt_recipients", "a@b@example.org", false},
    {"exempt_recipients", "<postmaster@example.org>", false},
    /* throttle: a floor above its static limit would never apply (0: no static limit) */
    {"throttle_floor_messages_per_minute", "30", true},
    {"throttle_floor_messages_per_minute", "31", false},
    {"throttle_recipients_per_hour", "149", false},
    {"throttle_recipients_per_hour", "0", true},
    {"throttle_floor_recipients_per_day", "2001", false},
};

/* A value is checked as it is set (config_set), then with the others (config_validate). */
static void values_are_checked_alone_and_together(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof validate_cases / sizeof validate_cases[0]; i++) {
        const struct validate_case *c = &validate_cases[i];
        char err[ERR_MAX] = "";
        struct config *cfg = config_new_defaults();
        bool valid = config_set(cfg, c->key, c->value, err, sizeof err) &&
                     config_validate(cfg, err, sizeof err);
        config_free(cfg);
        if (valid != c->valid)
            fail_msg("%s = \"%s\" was %s", c->key, c->value, valid ? "accepted" : "refused");
        if (!valid)
            assert_contains(err, c->key);
    }
}

/* ---- config_get ---------------------------------------------------------------------------- */

/* Every option reads back as the admin would write it, and that text sets the same value. */
static void config_get_gives_every_option_as_written(void **state)
{
    (void)state;
    char err[ERR_MAX], value[1024], again[1024];
    struct config *cfg = config_new_defaults();
    assert_true(config_set(cfg, "log_facility", "local3", err, sizeof err));
    assert_true(config_get(cfg, "log_facility", value, sizeof value));
    assert_string_equal(value, "local3");
    assert_true(config_set(cfg, "greylist_delay", "90s", err, sizeof err));
    assert_true(config_get(cfg, "greylist_delay", value, sizeof value));
    assert_string_equal(value, "90s");
    assert_false(config_get(cfg, "no_such_option", value, sizeof value));
    for (size_t i = 0; i < config_option_count; i++) {
        const char *name = config_options[i].name;
        assert_true(config_get(cfg, name, value, sizeof value));
        if (!config_set(cfg, name, value, err, sizeof err))
            fail_msg("%s: config_get gave \"%s\", which does not set: %s", name, value, err);
        assert_true(config_get(cfg, name, again, sizeof again));
        assert_string_equal(value, again);
    }
    config_free(cfg);
}

/* ---- writers ------------------------------------------------------------------------------- */

static void print_nondefault_prints_exactly_the_changed_options(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct config *cfg = config_new_defaults();

    assert_true(config_set(cfg, "iprev_helo", "strict", err, sizeof err));
    assert_true(config_set(cfg, "dns_tries", "3", err, sizeof err));
    assert_true(config_set(cfg, "exempt_recipients", "abuse,hostmaster", err, sizeof err));
    assert_true(config_set(cfg, "store_busy_timeout", "1500ms", err, sizeof err));
    /* Set to the default in another spelling: not a change. */
    assert_true(config_set(cfg, "dns_timeout", "2000ms", err, sizeof err));
    assert_true(config_set(cfg, "fail_open", "off", err, sizeof err));

    char *text = nondefault_text(cfg);
    assert_string_equal(text, "store_busy_timeout = 1500ms\n"
                              "exempt_recipients = abuse, hostmaster\n"
                              "dns_tries = 3\n"
                              "iprev_helo = strict\n");
    free(text);
    config_free(cfg);
}

/* A text that starts with '"' (set with -o) is printed in quotes, or it would read back as an
 * unterminated quote; one that only ends with '"' is printed as it is. */
static void nondefault_quotes_a_value_that_opens_with_a_quote(void **state)
{
    (void)state;
    char err[ERR_MAX], path[PATH_MAX];
    struct config *cfg = config_new_defaults();
    assert_true(config_set(cfg, "help_text", "\"see\" https://help.example", err, sizeof err));
    assert_true(config_set(cfg, "database", "/tmp/db\"", err, sizeof err));
    char *text = nondefault_text(cfg);
    config_free(cfg);
    assert_string_equal(text, "database = /tmp/db\"\n"
                              "help_text = \"\"see\" https://help.example\"\n");
    cfg = load_text(text, path, sizeof path, err, sizeof err);
    free(text);
    if (cfg == NULL)
        fail_msg("-n output does not load: %s", err);
    assert_string_equal(cfg->help_text, "\"see\" https://help.example");
    assert_string_equal(cfg->database, "/tmp/db\"");
    config_free(cfg);
}

/* A value of every option, different from its default and valid. */
static const struct {
    const char *name;
    const char *value;
} sample_values[] = {
    {"socket", "unix:/run/milter-ingress/ingress.sock"},
    {"socket_mode", "0600"},
    {"user", "milter"},
    {"allow_root", "yes"},
    {"group", "mail"},
    {"database", "/tmp/ingress-test.db"},
    {"authserv_id", "mx.example.org"},
    {"help_text", "See https://help.example/{check}?ref={ref}"},
    {"exempt_recipients", "hostmaster, abuse@example.org"},
    {"trusted_networks", "10.0.0.0/8, 2001:db8::/32"},
    {"dns_servers", "127.0.0.1:5353, [::1]:53"},
    {"dnsbl_zones", "zen.example:127.0.0.2-127.0.0.11, bl.example:127.0.0.2"},
    {"dnswl_zones", "wl.example:127.0.10.0/24"},
    {"held_release_command", "sendmail -qQ -qI{queue_id} -Q; sendmail -qI{queue_id}"},
    {"held_reject_command", "/usr/local/sbin/mta-delete {queue_id}"},
    {"held_queue_command", "mailq -qQ"},
    {"public_suffix_list", "/var/lib/milter-ingress/public_suffix_list.dat"},
    {"dmarc_domain_actions", "lists.example.org:header, example.net:log"},
    {"host_name", "mx2.example.org"},
    {"held_show_command", "/usr/local/bin/sendmail-show-queued {queue_id}"},
    {"metrics_listen", "127.0.0.1:9795"},
    {"held_remote_command", "ssh -oBatchMode=yes {host} sudo held-{action} {queue_id}"},
    {"console_listen", "[::1]:8896"},
    {"console_users_file", "/etc/milter-ingress/staff"},
    {"console_public_listen", "0.0.0.0:8897"},
    {"console_static_dir", "/srv/console-page"},
};

/* Some value of opt other than its default, or NULL when the test does not know one. */
static const char *sample_value(const struct config_option *opt, char *buf, size_t buflen)
{
    for (size_t i = 0; i < sizeof sample_values / sizeof sample_values[0]; i++)
        if (strcmp(sample_values[i].name, opt->name) == 0)
            return sample_values[i].value;
    int64_t ms;
    switch (opt->type) {
    case CONFIG_BOOL: {
        struct config *cfg = config_new_defaults();
        bool on = *(const bool *)option_field(cfg, opt);
        config_free(cfg);
        return on ? "no" : "yes";
    }
    case CONFIG_INT:
        snprintf(
            buf, buflen, "%lld",
            (long long)(strtoll(opt->default_value, NULL, 10) == opt->max ? opt->min : opt->max));
        return buf;
    case CONFIG_DURATION:
        assert_true(config_parse_duration(opt->default_value, &ms));
        snprintf(buf, buflen, "%lldms", (long long)(ms == opt->max ? opt->min : opt->max));
        return buf;
    case CONFIG_ENUM: {
        /* The first choice that is not the default. */
        const char *p = opt->choices;
        for (;;) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len != strlen(opt->default_value) || strncmp(p, opt->default_value, len) != 0) {
                snprintf(buf, buflen, "%.*s", (int)len, p);
                return buf;
            }
            if (bar == NULL)
                return NULL;
            p = bar + 1;
        }
    }
    case CONFIG_STRING:
    case CONFIG_LIST:
        break;
    }
    return NULL;
}

/* Every option changed, printed with -n, loaded back: the same -n output, one line per option. */
static void nondefault_output_loads_back_to_the_same_config(void **state)
{
    (void)state;
    char err[ERR_MAX], path[PATH_MAX];
    struct config *cfg = config_new_defaults();

    for (size_t i = 0; i < config_option_count; i++) {
        char buf[64];
        const char *value = sample_value(&config_options[i], buf, sizeof buf);
        if (value == NULL)
            fail_msg("add a sample value for %s to sample_values[]", config_options[i].name);
        if (!config_set(cfg, config_options[i].name, value, err, sizeof err))
            fail_msg("%s = %s: %s", config_options[i].name, value, err);
    }
    if (!config_validate(cfg, err, sizeof err))
        fail_msg("sample values do not validate: %s", err);
    char *first = nondefault_text(cfg);
    config_free(cfg);

    size_t lines = 0;
    for (const char *p = first; *p != '\0'; p++)
        lines += *p == '\n';
    assert_int_equal(lines, config_option_count);

    cfg = load_text(first, path, sizeof path, err, sizeof err);
    if (cfg == NULL)
        fail_msg("-n output does not load: %s\n%s", err, first);
    char *second = nondefault_text(cfg);
    assert_string_equal(first, second);
    free(first);
    free(second);
    config_free(cfg);
}

static char *reference_text(void)
{
    struct capture c;
    capture_open(&c);
    config_write_reference(c.fp);
    return capture_close(&c);
}

static void reference_names_every_option_with_its_default_and_doc(void **state)
{
    (void)state;
    char *text = reference_text();
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *opt = &config_options[i];
        char line[512];
        snprintf(line, sizeof line, "\n#%s = %s\n", opt->name, opt->default_value);
        assert_contains(text, line);
        assert_contains(text, opt->doc);
    }
    free(text);
}

/* Uncommenting every "#name = value" line of the reference gives a file that loads as the
 * defaults: the admin's starting point is never a broken file. */
static void reference_uncommented_loads_as_the_defaults(void **state)
{
    (void)state;
    char err[ERR_MAX], path[PATH_MAX];
    char *text = reference_text();
    for (size_t i = 0; i < config_option_count; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "\n#%s = ", config_options[i].name);
        char *at = strstr(text, needle);
        assert_non_null(at);
        memmove(at + 1, at + 2, strlen(at + 2) + 1); /* the '#' removed, not blanked: a line
                                                      * that starts with a blank continues */
    }
    struct config *cfg = load_text(text, path, sizeof path, err, sizeof err);
    free(text);
    if (cfg == NULL)
        fail_msg("the uncommented reference does not load: %s", err);
    char *nondefault = nondefault_text(cfg);
    assert_string_equal(nondefault, "");
    free(nondefault);
    config_free(cfg);
}

/* A packager's installed file (`milter-ingress -C -o socket=...`): the options set are written
 * set, with their default in the comment, and the file loads as exactly those settings. */
static void reference_with_settings_loads_as_those_settings(void **state)
{
    (void)state;
    char err[ERR_MAX], path[PATH_MAX];
    struct config *cfg = config_new_defaults();
    assert_true(config_set(cfg, "socket", "unix:/var/spool/postfix/milter-ingress/m.sock", err,
                           sizeof err));
    assert_true(config_set(cfg, "help_text", " spaced ", err, sizeof err));
    assert_true(config_set(cfg, "greylist", "no", err, sizeof err));
    struct capture c;
    capture_open(&c);
    config_write_reference_with(c.fp, cfg);
    char *text = capture_close(&c);
    assert_contains(text, "(text; default: inet:8895@127.0.0.1)\n"
                          "socket = unix:/var/spool/postfix/milter-ingress/m.sock\n");
    assert_contains(text, "\n#socket_mode = 0660\n");
    struct config *loaded = load_text(text, path, sizeof path, err, sizeof err);
    if (loaded == NULL)
        fail_msg("the reference with settings does not load: %s\n%s", err, text);
    char *want = nondefault_text(cfg), *got = nondefault_text(loaded);
    assert_string_equal(got, want);
    free(want);
    free(got);
    free(text);
    config_free(loaded);
    config_free(cfg);
}

static void markdown_names_every_option_with_its_doc(void **state)
{
    (void)state;
    struct capture c;
    capture_open(&c);
    config_write_markdown(c.fp);
    char *text = capture_close(&c);
    for (size_t i = 0; i < config_option_count; i++) {
        char cell[128];
        snprintf(cell, sizeof cell, "| `%s` |", config_options[i].name);
        assert_contains(text, cell);
        assert_contains(text, config_options[i].doc);
    }
    free(text);
}

/* GitHub Markdown splits a cell at every '|' not escaped as "\\|", even inside a code span: an
 * enum's choices ("a|b|c") would spill into the next columns. */
static void markdown_rows_have_four_cells(void **state)
{
    (void)state;
    struct capture c;
    capture_open(&c);
    config_write_markdown(c.fp);
    char *text = capture_close(&c);
    char bad[512] = "";
    for (char *line = text; *line != '\0' && bad[0] == '\0';) {
        size_t len = strcspn(line, "\n");
        int bars = 0;
        for (size_t k = 0; k < len; k++)
            bars += line[k] == '|' && (k == 0 || line[k - 1] != '\\');
        if (len > 0 && bars != 5)
            snprintf(bad, sizeof bad, "%d cells in: %.*s", bars - 1, (int)len, line);
        line += len + (line[len] == '\n');
    }
    free(text);
    if (bad[0] != '\0')
        fail_msg("%s", bad);
}

/*
 * The README's generated block (between its markers) and the contrib file, or a failure naming
 * what is missing.  The caller frees *readme and *contrib.
 */
static void read_docs(char **readme, char **block, char **contrib)
{
    const char *readme_path = INGRESS_SOURCE_DIR "/README.md";
    const char *contrib_path = INGRESS_SOURCE_DIR "/contrib/milter-ingress.conf";
    char problem[PATH_MAX + 128] = "";

    *readme = read_file(readme_path);
    *contrib = read_file(contrib_path);
    *block = NULL;
    if (*readme != NULL) {
        char *begin = strstr(*readme, "<!-- options:begin -->");
        char *end = begin ? strstr(begin, "<!-- options:end -->") : NULL;
        if (end != NULL) {
            *end = '\0';
            *block = begin;
        }
    }
    if (*readme == NULL)
        snprintf(problem, sizeof problem, "cannot read %s", readme_path);
    else if (*block == NULL)
        snprintf(problem, sizeof problem, "README.md lacks the options:begin/end markers");
    else if (*contrib == NULL)
        snprintf(problem, sizeof problem, "cannot read %s", contrib_path);
    if (problem[0] != '\0') {
        free(*readme);
        free(*contrib);
        fail_msg("%s", problem);
    }
}

static void readme_and_contrib_list_every_option(void **state)
{
    (void)state;
    char *readme, *block, *contrib;
    char problem[512] = "";
    read_docs(&readme, &block, &contrib);

    for (size_t i = 0; i < config_option_count && problem[0] == '\0'; i++) {
        const struct config_option *opt = &config_options[i];
        char cell[128], line[512];
        snprintf(cell, sizeof cell, "`%s`", opt->name);
        snprintf(line, sizeof line, "\n#%s = %s\n", opt->name, opt->default_value);
        if (strstr(block, cell) == NULL)
            snprintf(problem, sizeof problem, "README.md's option table lacks %s", opt->name);
        else if (strstr(contrib, line) == NULL)
            snprintf(problem, sizeof problem, "contrib/milter-ingress.conf lacks \"#%s = %s\"",
                     opt->name, opt->default_value);
    }
    free(readme);
    free(contrib);
    if (problem[0] != '\0')
        fail_msg("%s", problem);
}

/* The other direction: an option removed from the table is removed from the README and contrib. */
static void readme_and_contrib_name_no_unknown_option(void **state)
{
    (void)state;
    char *readme, *block, *contrib;
    char name[128] = "", where[64] = "";
    read_docs(&readme, &block, &contrib);

    /* README rows start with the name: "| `name` | type | `default` | doc |". */
    for (const char *p = block; name[0] == '\0' && (p = strstr(p, "\n| `")) != NULL;) {
        p += 4;
        size_t len = strcspn(p, "`");
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        if (find_option(name) == NULL)
            snprintf(where, sizeof where, "README.md's option table");
        else
            name[0] = '\0';
        p += len;
    }
    /* contrib lines: "#name = value" (comment lines are "# text", with a space). */
    for (const char *p = contrib; where[0] == '\0' && (p = strstr(p, "\n#")) != NULL;) {
        p += 2;
        if (*p == ' ' || *p == '\n' || *p == '\0')
            continue;
        size_t len = strcspn(p, " =\n");
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        if (find_option(name) == NULL)
            snprintf(where, sizeof where, "contrib/milter-ingress.conf");
        p += len;
    }
    free(readme);
    free(contrib);
    if (where[0] != '\0')
        fail_msg("%s names unknown option \"%s\"", where, name);
}

/* ---- exempt recipients ---------------------------------------------------------------------- */

static void recipient_exempt_matches_local_part_case_insensitively(void **state)
{
    (void)state;
    struct config *cfg = config_new_defaults();
    assert_true(config_recipient_exempt(cfg, "Postmaster@Example.ORG"));
    assert_true(config_recipient_exempt(cfg, "postmaster@example.org"));
    assert_true(config_recipient_exempt(cfg, "ABUSE@other.example"));
    assert_false(config_recipient_exempt(cfg, "postmaster.x@example.org"));
    assert_false(config_recipient_exempt(cfg, "xpostmaster@example.org"));
    assert_false(config_recipient_exempt(cfg, "postmaste@example.org"));
    assert_false(config_recipient_exempt(cfg, "user@postmaster"));
    assert_false(config_recipient_exempt(cfg, ""));
    config_free(cfg);
}

static void recipient_exempt_full_address_matches_exactly(void **state)
{
    (void)state;
    char err[ERR_MAX];
    struct config *cfg = config_new_defaults();
    assert_true(config_set(cfg, "exempt_recipients", "Security@Example.org", err, sizeof err));
    assert_true(config_recipient_exempt(cfg, "security@example.ORG"));
    assert_true(config_recipient_exempt(cfg, "SECURITY@EXAMPLE.ORG"));
    assert_false(config_recipient_exempt(cfg, "security@other.org"));
    assert_false(config_recipient_exempt(cfg, "security@example.org.evil"));
    assert_false(config_recipient_exempt(cfg, "x.security@example.org"));
    assert_false(config_recipient_exempt(cfg, "security@sub.example.org"));
    /* The default local parts are gone once the list is replaced. */
    assert_false(config_recipient_exempt(cfg, "postmaster@example.org"));
    config_free(cfg);
}

/* The MTA command templates are checked when the config is: a typo in a placeholder, an empty
 * command or no command at all is refused with the option's name, not found at the first release.
 */
static void held_command_templates_are_validated(void **state)
{
    (void)state;
    static const struct {
        const char *value, *why;
    } bad[] = {
        {"postsuper -d {qid}", "unknown placeholder"},
        {"postsuper -H {queue_id};; postqueue -i {queue_id}", "empty command"},
        {"postsuper -H {queue_id};", "empty command"},
        {"   ", "no command"},
    };
    char err[ERR_MAX];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct config *cfg = config_new_defaults();
        err[0] = '\0';
        assert_false(config_set(cfg, "held_reject_command", bad[i].value, err, sizeof err));
        assert_non_null(strstr(err, "held_reject_command"));
        assert_non_null(strstr(err, bad[i].why));
        config_free(cfg);
    }
    struct config *cfg = config_new_defaults();
    assert_true(config_set(cfg, "held_release_command",
                           "sendmail -qQ -qI{queue_id} -Q; sendmail -qI{queue_id}", err,
                           sizeof err));
    assert_true(config_validate(cfg, err, sizeof err));
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_default_parses_and_validates),
        cmocka_unit_test(every_default_round_trips),
        cmocka_unit_test(option_names_are_unique),
        cmocka_unit_test(option_fields_do_not_overlap),
        cmocka_unit_test(every_option_has_doc_section_and_snake_case_name),
        cmocka_unit_test(options_of_a_section_are_adjacent),
        cmocka_unit_test(file_with_comments_blank_lines_and_quotes_loads),
        cmocka_unit_test(continued_lines_and_comments_after_values_load),
        cmocka_unit_test(every_error_of_the_file_is_reported),
        cmocka_unit_test(empty_file_gives_the_defaults),
        cmocka_unit_test(unknown_key_is_an_error_naming_file_line_and_key),
        cmocka_unit_test(unknown_key_is_escaped_in_the_error),
        cmocka_unit_test(bad_values_are_errors_naming_file_line_and_key),
        cmocka_unit_test(line_without_equals_is_an_error_naming_file_line),
        cmocka_unit_test(key_set_twice_is_an_error_naming_both_lines),
        cmocka_unit_test(missing_file_is_an_error_naming_the_path),
        cmocka_unit_test(overlong_line_is_an_error_naming_file_line),
        cmocka_unit_test(nul_byte_in_a_line_is_an_error_naming_file_line),
        cmocka_unit_test(value_check_names_file_line_and_key),
        cmocka_unit_test(unterminated_quote_is_an_error_naming_file_line_and_key),
        cmocka_unit_test(options_that_disagree_name_the_line_set_last),
        cmocka_unit_test(option_origin_names_file_and_line_until_overridden),
        cmocka_unit_test(durations_parse_in_every_unit),
        cmocka_unit_test(malformed_and_overflowing_durations_are_refused),
        cmocka_unit_test(list_splits_on_commas_and_spaces_dropping_empty_words),
        cmocka_unit_test(config_set_overrides_one_option),
        cmocka_unit_test(config_set_refuses_unknown_keys_and_bad_values_keeping_the_old_value),
        cmocka_unit_test(values_are_checked_alone_and_together),
        cmocka_unit_test(config_get_gives_every_option_as_written),
        cmocka_unit_test(print_nondefault_prints_exactly_the_changed_options),
        cmocka_unit_test(nondefault_quotes_a_value_that_opens_with_a_quote),
        cmocka_unit_test(nondefault_output_loads_back_to_the_same_config),
        cmocka_unit_test(reference_names_every_option_with_its_default_and_doc),
        cmocka_unit_test(reference_uncommented_loads_as_the_defaults),
        cmocka_unit_test(reference_with_settings_loads_as_those_settings),
        cmocka_unit_test(markdown_names_every_option_with_its_doc),
        cmocka_unit_test(markdown_rows_have_four_cells),
        cmocka_unit_test(readme_and_contrib_list_every_option),
        cmocka_unit_test(readme_and_contrib_name_no_unknown_option),
        cmocka_unit_test(recipient_exempt_matches_local_part_case_insensitively),
        cmocka_unit_test(recipient_exempt_full_address_matches_exactly),
        cmocka_unit_test(held_command_templates_are_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
