/*
 * ctl: the helpers every verb of ingressctl shares (ctl.h): arguments, usage errors, store
 * errors, times, account names and the aligned tables of the listings.
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_json.h"
#include "lists.h"
#include "util.h"

/* Every usage error: one line saying what is wrong (main adds the usage). */
int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("ingressctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    return CTL_EXIT_USAGE;
}

int ctl_store_error(struct ctl *ctl, const char *what)
{
    fprintf(stderr, "ingressctl: %s: %s\n", what, ctl->err.text);
    return CTL_EXIT_ERROR;
}

bool ctl_present(const char *s)
{
    return s != NULL && *s != '\0';
}

void ctl_format_time(int64_t t, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)t);
}

/* Who runs the command, for added_by: the sudo caller when there is one, else our own user. */
void ctl_invoking_user(char *out, size_t outlen)
{
    const char *sudo = getenv("SUDO_USER");
    struct passwd pw, *found = NULL;
    char buf[4096];

    if (sudo != NULL && sudo[0] != '\0' && strlen(sudo) < 64 && lists_reason_valid(sudo)) {
        str_copy(out, outlen, sudo);
        return;
    }
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found != NULL &&
        lists_reason_valid(found->pw_name)) {
        str_copy(out, outlen, found->pw_name);
        return;
    }
    snprintf(out, outlen, "uid %u", (unsigned)getuid());
}

void ctl_format_minute(int64_t t, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)t);
}

/* Is opt one of the space-separated words of allowed? */
static bool option_allowed(const char *opt, const char *allowed)
{
    size_t len = strlen(opt);
    for (const char *p = strstr(allowed, opt); p != NULL; p = strstr(p + 1, opt))
        if ((p == allowed || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
            return true;
    return false;
}

int ctl_split_args(const char *verb, int argc, char **argv, int max_pos, const char *allowed,
                   struct ctl_args *a)
{
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {
        {"--reason", offsetof(struct ctl_args, reason)},
        {"--expires", offsetof(struct ctl_args, expires)},
        {"--account", offsetof(struct ctl_args, account)},
        {"--by", offsetof(struct ctl_args, by)},
        {"--since", offsetof(struct ctl_args, since)},
    };
    char shown[256];

    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        bool known = false;
        if (strncmp(argv[i], "--", 2) == 0 && !option_allowed(argv[i], allowed))
            return ctl_usage_error("%s: unknown option %s", verb,
                                   str_printable(shown, sizeof shown, argv[i]));
        if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--all") == 0) {
            *(argv[i][2] == 'j' ? &a->json : &a->all) = true;
            continue;
        }
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
            if (strcmp(argv[i], valued[k].name) != 0)
                continue;
            if (i + 1 == argc)
                return ctl_usage_error("%s: %s needs a value", verb, argv[i]);
            *(const char **)(void *)((char *)a + valued[k].offset) = argv[++i];
            known = true;
        }
        if (known)
            continue;
        if (a->npos == max_pos || a->npos == CTL_POS_MAX)
            return ctl_usage_error("%s: too many arguments", verb);
        a->pos[a->npos++] = argv[i];
    }
    return CTL_EXIT_OK;
}

/* An account is the SASL login as the MTA reports it ({auth_authen}): printable, no spaces. */
bool ctl_account_valid(const char *name, const char *verb)
{
    char shown[256];

    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            ctl_usage_error("%s: account %s: spaces and control characters are not allowed", verb,
                            str_printable(shown, sizeof shown, name));
            return false;
        }
    }
    if (name[0] == '\0' || strlen(name) > CTL_ACCOUNT_MAX) {
        ctl_usage_error("%s: an account name has 1 to %d characters", verb, CTL_ACCOUNT_MAX);
        return false;
    }
    return true;
}

void ctl_rows_init(struct ctl_rows *s, bool json, int64_t now)
{
    memset(s, 0, sizeof *s);
    s->now = now;
    s->json = json ? ctl_json_array() : NULL;
}

void ctl_rows_add(struct ctl_rows *s, const char *const *cells, int ncols, const size_t *cell_max)
{
    char buf[1024];

    s->rows = xrealloc(s->rows, (s->count + 1) * sizeof *s->rows);
    struct ctl_row *row = &s->rows[s->count++];
    for (int i = 0; i < ncols; i++) {
        size_t max = cell_max != NULL && cell_max[i] < sizeof buf ? cell_max[i] : sizeof buf;
        row->cell[i] = xstrdup(str_printable(buf, max, cells[i] ? cells[i] : ""));
    }
}

static void free_rows(struct ctl_row *rows, size_t count, int ncols)
{
    for (size_t i = 0; i < count; i++)
        for (int c = 0; c < ncols; c++)
            free(rows[i].cell[c]);
    free(rows);
}

void ctl_rows_free(struct ctl_rows *s, int ncols)
{
    free_rows(s->rows, s->count, ncols);
    json_decref(s->json);
    memset(s, 0, sizeof *s);
}

/* Prints rows under a header, each column as wide as its widest cell; frees the rows. */
void ctl_print_table(const char *const *header, int ncols, struct ctl_row *rows, size_t count)
{
    int width[CTL_COLS_MAX] = {0};

    if (ncols < 1 || ncols > CTL_COLS_MAX)
        abort(); /* every table is the program's own: a wrong count is a bug */
    for (int c = 0; c < ncols; c++) {
        width[c] = (int)strlen(header[c]);
        for (size_t i = 0; i < count; i++)
            if ((int)strlen(rows[i].cell[c]) > width[c])
                width[c] = (int)strlen(rows[i].cell[c]);
    }
    for (size_t i = 0; i <= count; i++) {
        const char *cells[CTL_COLS_MAX] = {"", "", "", "", "", "", "", ""};
        int last = ncols - 1;
        for (int c = 0; c < ncols; c++)
            cells[c] = i == 0 ? header[c] : rows[i - 1].cell[c];
        /* Empty cells at the end of a row are not padded: no trailing blanks. */
        while (last > 0 && cells[last][0] == '\0')
            last--;
        for (int c = 0; c < last; c++)
            printf("%-*s  ", width[c], cells[c]);
        printf("%s\n", cells[last]);
    }
    free_rows(rows, count, ncols);
}

int ctl_rows_done(struct ctl_rows *s, const char *const *header, int ncols, const char *none)
{
    if (s->json != NULL) {
        bool any = json_array_size(s->json) > 0;
        ctl_json_print(s->json);
        s->json = NULL;
        return any ? CTL_EXIT_OK : CTL_EXIT_NOTFOUND;
    }
    if (s->count == 0) {
        fprintf(stderr, "%s\n", none);
        return CTL_EXIT_NOTFOUND;
    }
    ctl_print_table(header, ncols, s->rows, s->count);
    s->rows = NULL;
    s->count = 0;
    return CTL_EXIT_OK;
}
