/*
 * bad_values: every option of the config table (lib/config.c) given bad values, through the real
 * program.  For each bad value, `milter-ingress -t -c FILE` must exit 2 with "FILE:LINE: option: "
 * in its message, and `milter-ingress -t -o option=value` must exit 2 with "-o option: ".
 *
 *   bad_values MILTER_BIN
 *
 * The options are read from the table itself, so an option added without a way to refuse a bad
 * value fails here until it has one.  Where the row's type says enough, the bad values come from
 * it: a number or a duration just past each bound, a word that is not one of the choices, a
 * boolean that is neither.  A text or list option needs its entry in bad_text[] (and a check in
 * its row).  Every option is also given a value that opens a quote without closing it.  Options
 * that must agree (each throttle floor and its static limit) are given values that do not, in
 * both orders: the message names the line set last.
 *
 * Prints "ok - ..." / "not ok - ..." lines and exits 1 when a check failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

#define OUTPUT_MAX 4096
#define VALUES_MAX 4

/* Bad values of the text and list options, which their type alone cannot give. */
static const struct {
    const char *name;
    const char *values[VALUES_MAX];
} bad_text[] = {
    {"socket", {"tcp:25", "unix:relative/path", "inet:0@127.0.0.1"}},
    {"socket_mode", {"0999", "rw", "1777"}},
    {"user", {"mail user", "-x"}},
    {"group", {"a:b"}},
    {"database", {"", "/var/lib/milter-ingress/"}},
    {"authserv_id", {"mx.example;org"}},
    {"help_text", {"https://help.example/{chek}"}},
    {"exempt_recipients", {"@example.org", "postmaster@"}},
    {"trusted_networks", {"10.0.0.0/33", "nonsense"}},
    {"dns_servers", {"localhost", "127.0.0.1:0"}},
    {"dnsbl_zones", {"zen.example", "zen.example:127.0.0.300"}},
    {"dnswl_zones", {"wl.example"}},
    {"held_release_command", {"postsuper -H {qid}"}},
    {"held_reject_command", {"postsuper -d {queue_id};"}},
    {"held_queue_command", {"   "}},
    {"public_suffix_list", {"", "/usr/share/publicsuffix/"}},
    {"dmarc_domain_actions", {"example.org:drop", "example.org"}},
    {"host_name", {"mx 2", "mx;2"}},
    {"held_show_command", {"postcat -q {queue}", "postcat;;true"}},
    {"metrics_listen", {"9795", "localhost:9795", "127.0.0.1:0", "::1:9795"}},
    {"held_remote_command",
     {"ssh {host} postsuper -H", "ssh mx1 postsuper -H {queue_id}",
      "ssh {host} {verb} {queue_id}"}},
    {"console_listen", {"", "8896", "localhost:8896", "127.0.0.1:0"}},
    {"console_public_listen", {"8897", "localhost:8897", "127.0.0.1:0"}},
    {"console_users_file", {"", "console-users", "/etc/x\001"}},
    {"console_static_dir", {"", "share/console", "/usr/share/x\001"}},
    {"console_session_lifetime", {"0s", "8d", "soon"}},
};

/* Two options that must agree, with values that do not. */
struct pair {
    const char *first, *first_value, *second, *second_value;
};

static const char *milter_bin;
static char dir[PATH_MAX];
static int failed, passed;

static void not_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void not_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("not ok - ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    failed++;
}

/* Runs argv, its stdout and stderr into out; its exit status, or -1 when it did not exit. */
static int run(char *const argv[], char *out, size_t outlen)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        char chunk[512];
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t keep = (size_t)n < outlen - 1 - len ? (size_t)n : outlen - 1 - len;
        memcpy(out + len, chunk, keep);
        len += keep;
    }
    out[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            exit(1);
        }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Writes text to dir/name; its path to path. */
static void write_file(const char *name, const char *text, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
}

/* `milter-ingress -t -c FILE` on text; true when it exits 2 naming "FILE:LINE: name: ". */
static bool file_refused(const char *text, const char *name, int line, char *out, size_t outlen)
{
    char path[PATH_MAX + 32], where[PATH_MAX + 192];
    write_file("bad.conf", text, path, sizeof path);
    char *argv[] = {(char *)milter_bin, "-t", "-c", path, NULL};
    int rc = run(argv, out, outlen);
    snprintf(where, sizeof where, "%s:%d: %s: ", path, line, name);
    return rc == 2 && strstr(out, where) != NULL;
}

/* A bad value on line 3 of a file, then the same with -o. */
static void try_value(const char *name, const char *value, bool with_o)
{
    char text[1024], out[OUTPUT_MAX], empty[PATH_MAX + 32], where[128], arg[1024];
    snprintf(text, sizeof text, "# bad_values: %s\n\n%s = %s\n", name, name, value);
    if (!file_refused(text, name, 3, out, sizeof out))
        not_ok("%s = %s: -t exits 2 naming FILE:3 and the option\n#   %s", name, value, out);
    else
        passed++;
    if (!with_o)
        return;
    write_file("empty.conf", "", empty, sizeof empty);
    snprintf(arg, sizeof arg, "%s=%s", name, value);
    char *argv[] = {(char *)milter_bin, "-t", "-c", empty, "-o", arg, NULL};
    int rc = run(argv, out, sizeof out);
    snprintf(where, sizeof where, "-o %s: ", name);
    if (rc != 2 || strstr(out, where) == NULL)
        not_ok("-o %s: exits 2 naming \"-o %s\" (exit %d)\n#   %s", arg, name, rc, out);
    else
        passed++;
}

static const char *const *text_values(const char *name)
{
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++)
        if (strcmp(bad_text[i].name, name) == 0)
            return bad_text[i].values;
    return NULL;
}

/* The bad values of one option; false when the test knows none. */
static bool bad_values_of(const struct config_option *opt, char values[VALUES_MAX][128],
                          size_t *count)
{
    const char *const *text;
    *count = 0;
    switch (opt->type) {
    case CONFIG_INT:
        snprintf(values[(*count)++], 128, "seven");
        snprintf(values[(*count)++], 128, "%" PRId64, opt->max + 1);
        snprintf(values[(*count)++], 128, "%" PRId64, opt->min - 1);
        return true;
    case CONFIG_DURATION:
        snprintf(values[(*count)++], 128, "soon");
        snprintf(values[(*count)++], 128, "%" PRId64 "ms", opt->max + 1);
        if (opt->min > 0)
            snprintf(values[(*count)++], 128, "%" PRId64 "ms", opt->min - 1);
        return true;
    case CONFIG_BOOL:
        snprintf(values[(*count)++], 128, "maybe");
        return true;
    case CONFIG_ENUM:
        snprintf(values[(*count)++], 128, "nonesuch");
        return true;
    case CONFIG_STRING:
    case CONFIG_LIST:
        text = text_values(opt->name);
        if (text == NULL)
            return false;
        for (size_t i = 0; i < VALUES_MAX && text[i] != NULL; i++)
            snprintf(values[(*count)++], 128, "%s", text[i]);
        return *count > 0;
    }
    return false;
}

static void try_option(const struct config_option *opt)
{
    char values[VALUES_MAX][128], quoted[160];
    size_t count;
    int before = failed;

    if (!bad_values_of(opt, values, &count)) {
        not_ok("%s: no bad value known: give it a check in its row of config_options[] "
               "(lib/config.c) and bad values in bad_text[] (tests/cli/bad_values.c)",
               opt->name);
        return;
    }
    for (size_t i = 0; i < count; i++)
        try_value(opt->name, values[i], true);
    /* -o takes its value as it is, quotes and all: the unterminated quote is a file's error. */
    snprintf(quoted, sizeof quoted, "\"%s", opt->default_value);
    try_value(opt->name, quoted, false);
    if (failed == before)
        printf("ok - %s: %zu bad values and an unterminated quote refused, in a file and "
               "with -o\n",
               opt->name, count);
}

/* Both orders in a file (the line set last is named), then both with -o. */
static void try_pair(const struct pair *p)
{
    char text[512], out[OUTPUT_MAX], empty[PATH_MAX + 32], a[256], b[256];
    int before = failed;

    snprintf(text, sizeof text, "%s = %s\n# between\n%s = %s\n", p->first, p->first_value,
             p->second, p->second_value);
    if (!file_refused(text, p->second, 3, out, sizeof out) || strstr(out, p->first) == NULL)
        not_ok("%s then %s: exits 2 naming FILE:3, %s and %s\n#   %s", p->first, p->second,
               p->second, p->first, out);
    snprintf(text, sizeof text, "%s = %s\n%s = %s\n", p->second, p->second_value, p->first,
             p->first_value);
    if (!file_refused(text, p->first, 2, out, sizeof out) || strstr(out, p->second) == NULL)
        not_ok("%s then %s: exits 2 naming FILE:2, %s and %s\n#   %s", p->second, p->first,
               p->first, p->second, out);
    write_file("empty.conf", "", empty, sizeof empty);
    snprintf(a, sizeof a, "%s=%s", p->first, p->first_value);
    snprintf(b, sizeof b, "%s=%s", p->second, p->second_value);
    char *argv[] = {(char *)milter_bin, "-t", "-c", empty, "-o", a, "-o", b, NULL};
    int rc = run(argv, out, sizeof out);
    if (rc != 2 || strstr(out, "-o: ") == NULL || strstr(out, p->first) == NULL ||
        strstr(out, p->second) == NULL)
        not_ok("-o %s -o %s: exits 2 naming -o and both options (exit %d)\n#   %s", a, b, rc, out);
    if (failed == before) {
        passed += 3;
        printf("ok - %s and %s that disagree: refused, naming the line set last\n", p->first,
               p->second);
    }
}

/* Each throttle floor against its static limit, found by name in the table. */
static void try_throttle_pairs(void)
{
    static const char prefix[] = "throttle_floor_";
    int found = 0;
    for (size_t i = 0; i < config_option_count; i++) {
        const char *name = config_options[i].name;
        if (strncmp(name, prefix, sizeof prefix - 1) != 0)
            continue;
        char limit[128];
        snprintf(limit, sizeof limit, "throttle_%s", name + sizeof prefix - 1);
        struct pair p = {name, "20", limit, "10"};
        try_pair(&p);
        found++;
    }
    if (found == 0)
        not_ok("no throttle_floor_* option in the table");
}

int main(int argc, char **argv)
{
    char out[OUTPUT_MAX], empty[PATH_MAX + 32];
    if (argc != 2) {
        fprintf(stderr, "usage: bad_values MILTER_BIN\n");
        return 2;
    }
    milter_bin = argv[1];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/bad_values.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    /* Without this, a binary that refuses everything would pass.  -t checks what a start
     * checks, so the file names a database in the test's directory and, as root, allows root. */
    char usable_text[PATH_MAX + 64];
    snprintf(usable_text, sizeof usable_text, "allow_root = yes\ndatabase = %s/ingress.db\n", dir);
    write_file("usable.conf", usable_text, empty, sizeof empty);
    char *good[] = {(char *)milter_bin, "-t", "-c", empty, NULL};
    int rc = run(good, out, sizeof out);
    if (rc != 0) {
        not_ok("a usable file: -t exits 0 (exit %d)\n#   %s", rc, out);
    } else {
        passed++;
        printf("ok - a usable file: -t exits 0\n");
    }
    for (size_t i = 0; i < config_option_count; i++)
        try_option(&config_options[i]);
    try_throttle_pairs();

    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/bad.conf", dir);
    unlink(path);
    unlink(empty);
    rmdir(dir);
    printf("# %zu options, %d checks passed, %d failed\n", config_option_count, passed, failed);
    return failed == 0 ? 0 : 1;
}
