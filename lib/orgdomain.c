/*
 * orgdomain: organizational domains from the Public Suffix List with libpsl (see orgdomain.h).
 *
 * The list is read from a file (psl_load_fp), not taken from the copy compiled into libpsl
 * (psl_builtin): the file is what the admin can see and update (Debian's publicsuffix package
 * is updated on its own, or a copy fetched from publicsuffix.org is named by public_suffix_list),
 * a reload reads it again, and the start-up log says which list and of which date decides.  The
 * built-in copy is as old as the libpsl build and changes only with the library.
 *
 * libpsl wants lower-case input and knows nothing of a final dot or of empty labels
 * (psl_registrable_domain("example.com.") answers "com.", and "a..b.com" answers "b.com"), so
 * names are checked and normalized here first.  Lookups only read the loaded context, which
 * libpsl allows from many threads at once.
 */
#include "orgdomain.h"

#include <errno.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dns.h"
#include "util.h"

#define ORGDOMAIN_NAME_MAX 253 /* RFC 1035 2.3.4 in text, without the final dot */

struct orgdomain {
    psl_ctx_t *psl;
    char *path;
    time_t file_time;
    size_t rules;
};

static struct orgdomain *load_failed(psl_ctx_t *psl, FILE *fp, char *err, size_t errlen,
                                     const char *path, const char *why)
{
    str_printf(err, errlen, "%s: %s", path, why);
    psl_free(psl);
    if (fp != NULL)
        fclose(fp);
    return NULL;
}

struct orgdomain *orgdomain_load(const char *path, char *err, size_t errlen)
{
    char why[256];
    struct stat st;

    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        char reason[128];
        str_printf(why, sizeof why, "cannot open: %s", strerror_r(errno, reason, sizeof reason));
        return load_failed(NULL, NULL, err, errlen, path, why);
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode))
        return load_failed(NULL, fp, err, errlen, path, "not a regular file");
    psl_ctx_t *psl = psl_load_fp(fp);
    if (psl == NULL)
        return load_failed(NULL, fp, err, errlen, path,
                           "no rule could be read: not a Public Suffix List");
    /*
     * libpsl takes any line for a rule, so a wrong file (a config file, an HTML error page saved
     * by a download) would load, and with its implicit "*" rule every name would quietly get two
     * labels.  Every real list has the ICANN rule "com".
     */
    if (psl_is_public_suffix2(psl, "com", PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE) != 1)
        return load_failed(psl, fp, err, errlen, path,
                           "not a Public Suffix List: it has no ICANN rule for com");
    fclose(fp);
    struct orgdomain *od = xcalloc(1, sizeof *od);
    od->psl = psl;
    od->path = xstrdup(path);
    od->file_time = st.st_mtime;
    /* A DAFSA file does not know its count: libpsl says -1. */
    int suffixes = psl_suffix_count(psl), exceptions = psl_suffix_exception_count(psl);
    if (suffixes > 0)
        od->rules = (size_t)suffixes + (exceptions > 0 ? (size_t)exceptions : 0);
    return od;
}

void orgdomain_free(struct orgdomain *od)
{
    if (od == NULL)
        return;
    psl_free(od->psl);
    free(od->path);
    free(od);
}

time_t orgdomain_file_time(const struct orgdomain *od)
{
    return od->file_time;
}

size_t orgdomain_rule_count(const struct orgdomain *od)
{
    return od->rules;
}

void orgdomain_describe(const struct orgdomain *od, char *out, size_t outlen)
{
    char date[32] = "unknown";
    struct tm tm;

    if (gmtime_r(&od->file_time, &tm) != NULL)
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
    if (od->rules > 0)
        str_printf(out, outlen, "%s: %zu rules, dated %s", od->path, od->rules, date);
    else
        str_printf(out, outlen, "%s: dated %s", od->path, date);
}

/* A DNS name in ASCII, lowered, without its final dot, into out; false when it is none. */
static bool normalize(const char *name, char out[ORGDOMAIN_NAME_MAX + 1])
{
    if (name == NULL || !dns_name_valid(name))
        return false;
    size_t len = strlen(name);
    if (name[len - 1] == '.')
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
    out[len] = '\0';
    return true;
}

/* RFC 7489 3.2; the name itself when it is a public suffix. */
static enum orgdomain_status organizational(const struct orgdomain *od, const char *name,
                                            char out[ORGDOMAIN_NAME_MAX + 1])
{
    char lowered[ORGDOMAIN_NAME_MAX + 1];

    out[0] = '\0';
    if (od == NULL || !normalize(name, lowered))
        return ORGDOMAIN_INVALID;
    /* NULL, or a pointer into lowered at the start of one of its labels. */
    const char *registrable = psl_registrable_domain(od->psl, lowered);
    str_copy(out, ORGDOMAIN_NAME_MAX + 1, registrable != NULL ? registrable : lowered);
    return registrable != NULL ? ORGDOMAIN_OK : ORGDOMAIN_SUFFIX;
}

enum orgdomain_status orgdomain_of(const struct orgdomain *od, const char *name, char *out,
                                   size_t outlen)
{
    char org[ORGDOMAIN_NAME_MAX + 1];
    enum orgdomain_status st = organizational(od, name, org);

    if (outlen == 0)
        return ORGDOMAIN_INVALID;
    out[0] = '\0';
    if (st == ORGDOMAIN_INVALID)
        return st;
    if (!str_copy(out, outlen, org)) {
        out[0] = '\0';
        return ORGDOMAIN_INVALID;
    }
    return st;
}

bool orgdomain_aligned(const struct orgdomain *od, const char *a, const char *b,
                       enum orgdomain_mode mode)
{
    char x[ORGDOMAIN_NAME_MAX + 1], y[ORGDOMAIN_NAME_MAX + 1];
    char org_x[ORGDOMAIN_NAME_MAX + 1], org_y[ORGDOMAIN_NAME_MAX + 1];

    if (od == NULL || !normalize(a, x) || !normalize(b, y))
        return false;
    /* One name aligns with itself in both modes, without asking the list: the usual case, SPF's
     * or DKIM's domain being the From domain itself (DMARC asks for every message). */
    if (strcmp(x, y) == 0)
        return true;
    if (mode == ORGDOMAIN_STRICT)
        return false;
    return organizational(od, a, org_x) != ORGDOMAIN_INVALID &&
           organizational(od, b, org_y) != ORGDOMAIN_INVALID && strcmp(org_x, org_y) == 0;
}
