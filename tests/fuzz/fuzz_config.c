/*
 * fuzz_config: libFuzzer target for the config parser (lib/config.c).  The input is written to a
 * memfd and read back with config_load() through /proc/self/fd/N, the path an admin's file takes;
 * a config that loads is printed with config_print_nondefault() (every formatter runs), and its
 * -n output must load again to the same -n output (what -n prints is a valid config).  The input's
 * first line is also tried as one -o override "key=value" through config_set().
 *
 *   tests/fuzz/run.sh config 300
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CONFIG_FILE_LINE_MAX 4096 /* CONFIG_LINE_MAX of lib/config.c */

static int input_fd = -1, echo_fd = -1;
static char input_path[64], echo_path[64];

static int memfd_path(const char *name, char *path, size_t pathlen)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        abort();
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

static void fill(int fd, const void *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
}

/* The -n output of cfg in a malloc'ed string (*len bytes). */
static char *nondefault_text(const struct config *cfg, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (out == NULL)
        abort();
    config_print_nondefault(cfg, out, store_database_shown);
    fclose(out);
    return text;
}

static size_t longest_line(const char *text)
{
    size_t longest = 0;
    while (*text != '\0') {
        size_t len = strcspn(text, "\n");
        if (len > longest)
            longest = len;
        text += len + (text[len] == '\n');
    }
    return longest;
}

static void try_override(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t len = nl ? (size_t)(nl - data) : size;
    char *line = xstrndup((const char *)data, len);
    char *eq = strchr(line, '=');
    char err[512];
    if (eq != NULL) {
        *eq = '\0';
        struct config *cfg = config_new_defaults();
        err[0] = '\0';
        if (!config_set(cfg, str_trim(line), eq + 1, err, sizeof err) && err[0] == '\0')
            abort(); /* an error always says why */
        config_free(cfg);
    }
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    if (input_fd < 0) {
        input_fd = memfd_path("fuzz_config", input_path, sizeof input_path);
        echo_fd = memfd_path("fuzz_config_echo", echo_path, sizeof echo_path);
    }
    try_override(data, size);
    fill(input_fd, data, size);
    err[0] = '\0';
    struct config *cfg = config_load(input_path, err, sizeof err);
    if (cfg == NULL) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    size_t len1, len2;
    char *first = nondefault_text(cfg, &len1);
    config_free(cfg);

    if (longest_line(first) > CONFIG_FILE_LINE_MAX) {
        /* A list of many one-byte words comes back joined with ", ": its -n line may be longer
         * than the parser reads (a known limit of -n, tests/RELIABILITY.md). */
        config_free(cfg);
        free(first);
        return 0;
    }
    fill(echo_fd, first, len1);
    cfg = config_load(echo_path, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "-n output does not load again: %s\n%s", err, first);
        abort();
    }
    char *second = nondefault_text(cfg, &len2);
    if (len1 != len2 || memcmp(first, second, len1) != 0) {
        fprintf(stderr, "-n output changed on reload:\n%s---\n%s", first, second);
        abort();
    }
    config_free(cfg);
    free(first);
    free(second);
    return 0;
}
