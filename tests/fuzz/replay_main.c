/*
 * replay_main: the main() of a fuzz target built without libFuzzer (any compiler).  Each argument
 * is a file or a directory of files; every file is read whole and given once to
 * LLVMFuzzerTestOneInput, so CI replays the committed corpora (tests/fuzz/corpus/<target>/) under
 * ASan+UBSan without clang's libFuzzer.  Exit status 0 after all inputs, 1 when an argument cannot
 * be read or no input was found; a crash is the sanitizer's or abort()'s own exit.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_INPUT_MAX (4 * 1024 * 1024)

static int replay_file(const char *path, size_t *count)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    uint8_t *buf = xmalloc(REPLAY_INPUT_MAX);
    size_t n = fread(buf, 1, REPLAY_INPUT_MAX, fp);
    bool bad = ferror(fp) != 0;
    fclose(fp);
    if (bad) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    /* A copy of exactly n bytes, so ASan sees a read past the input. */
    uint8_t *input = xmalloc(n > 0 ? n : 1);
    memcpy(input, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(input, n);
    free(input);
    (*count)++;
    return 0;
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of a directory in name order (the order is the same on every run). */
static int replay_dir(const char *path, size_t *count)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return replay_file(path, count);
    char **names = NULL;
    size_t n = 0, cap = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof *names);
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = xmalloc(len);
        snprintf(names[n], len, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, name_compare);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && replay_file(names[i], count) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++)
        if (replay_dir(argv[i], &count) != 0)
            rc = 1;
    printf("replay: %zu inputs\n", count);
    if (count == 0) {
        fprintf(stderr, "replay: no input given\n");
        return 1;
    }
    return rc;
}
