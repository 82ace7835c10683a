/*
 * ctl_dmarc: `ingressctl dmarc report`, the DMARC aggregate report (RFC 7489 7.2, Appendix C) of
 * one domain over whole UTC days, printed as XML for the postmaster to send (lib/dmarc_report.h
 * says what is recorded; milter-ingress mails no report itself).
 *
 *   dmarc report --since DATE [--until DATE] --domain DOMAIN
 *                [--org-name NAME] [--email ADDRESS] [--report-id ID]
 *
 * DATE is YYYY-MM-DD in UTC; the period runs from the start of --since to the end of --until
 * (default: today).  Exit status: 0 a report was printed, 1 the period holds no data for the
 * domain (a message on stderr, nothing on stdout: the schema has no empty report), 2 a usage
 * error or a store that cannot be read.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_verbs.h"
#include "dmarc_report.h"
#include "dns.h"
#include "util.h"

#define DAY 86400
#define DMARC_DOMAIN_MAX 253 /* RFC 1035 2.3.4, in the presentation form without the final dot */

struct report_args {
    const char *since, *until, *domain, *org_name, *email, *report_id;
};

/* The options of `dmarc report`, each with a value. */
static int report_args_parse(struct ctl *ctl, int argc, char **argv, struct report_args *a)
{
    static const struct {
        const char *name;
        size_t offset;
    } options[] = {
        {"--since", offsetof(struct report_args, since)},
        {"--until", offsetof(struct report_args, until)},
        {"--domain", offsetof(struct report_args, domain)},
        {"--org-name", offsetof(struct report_args, org_name)},
        {"--email", offsetof(struct report_args, email)},
        {"--report-id", offsetof(struct report_args, report_id)},
    };
    char shown[64];

    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i += 2) {
        size_t o = 0;
        while (o < sizeof options / sizeof options[0] && strcmp(argv[i], options[o].name) != 0)
            o++;
        if (o == sizeof options / sizeof options[0])
            return ctl_usage_error(ctl, "dmarc report: unknown argument %s",
                                   str_escape(shown, sizeof shown, argv[i]));
        const char **slot = (const char **)((char *)a + options[o].offset);
        if (i + 1 >= argc)
            return ctl_usage_error(ctl, "dmarc report: %s wants a value", options[o].name);
        if (*slot != NULL)
            return ctl_usage_error(ctl, "dmarc report: %s given twice", options[o].name);
        *slot = argv[i + 1];
    }
    if (a->since == NULL || a->domain == NULL)
        return ctl_usage_error(ctl, "dmarc report: --since DATE and --domain DOMAIN are required");
    return CTL_EXIT_OK;
}

/* YYYY-MM-DD (UTC) as the unix time of the day's start; false for anything else, a 31 February
 * included. */
static bool parse_date(const char *text, int64_t *out)
{
    struct tm tm = {0}, back;

    if (text == NULL || strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)text[i]))
            return false;
    tm.tm_year = (int)strtol(text, NULL, 10) - 1900;
    tm.tm_mon = (int)strtol(text + 5, NULL, 10) - 1;
    tm.tm_mday = (int)strtol(text + 8, NULL, 10);
    if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1)
        return false;
    int mon = tm.tm_mon, mday = tm.tm_mday;
    /* timegm() normalizes (31 February becomes 3 March): the day must come back as given. */
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_mday != mday ||
        back.tm_mon != mon)
        return false;
    *out = (int64_t)t;
    return true;
}

/* The domain as the store keeps it: lower case, no final dot, a valid name. */
static bool domain_normalize(const char *text, char *out, size_t outlen)
{
    size_t len = text != NULL ? strlen(text) : 0;

    if (len > 0 && text[len - 1] == '.')
        len--;
    if (len == 0 || len > DMARC_DOMAIN_MAX || len >= outlen)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)text[i]);
    out[len] = '\0';
    return dns_name_valid(out);
}

static int dmarc_report(struct ctl *ctl, int argc, char **argv)
{
    struct report_args a;
    char domain[DMARC_DOMAIN_MAX + 2], shown[128], email[300], report_id[400], when[2][64];
    int64_t since = 0, until = 0;
    int rc = report_args_parse(ctl, argc, argv, &a);

    if (rc != CTL_EXIT_OK)
        return rc;
    if (!parse_date(a.since, &since))
        return ctl_usage_error(ctl, "dmarc report: --since %s is not a date (YYYY-MM-DD)",
                               str_escape(shown, sizeof shown, a.since));
    if (a.until == NULL)
        until = (int64_t)time(NULL) / DAY * DAY;
    else if (!parse_date(a.until, &until))
        return ctl_usage_error(ctl, "dmarc report: --until %s is not a date (YYYY-MM-DD)",
                               str_escape(shown, sizeof shown, a.until));
    if (until < since)
        return ctl_usage_error(ctl, "dmarc report: --until is before --since");
    if (!domain_normalize(a.domain, domain, sizeof domain))
        return ctl_usage_error(ctl,
                               "dmarc report: --domain %s is not a domain name (at most %d "
                               "characters, labels of letters, digits and hyphens)",
                               str_escape(shown, sizeof shown, a.domain), DMARC_DOMAIN_MAX);
    const char *reporter = ctl->cfg->authserv_id;
    snprintf(email, sizeof email, "postmaster@%s", reporter);
    struct dmarc_report_meta meta = {
        .domain = domain,
        .begin = since,
        .end = until + DAY,
        .org_name = a.org_name != NULL ? a.org_name : reporter,
        .email = a.email != NULL ? a.email : email,
        .report_id = a.report_id,
    };
    if (meta.report_id == NULL) {
        snprintf(report_id, sizeof report_id, "%s!%s!%lld!%lld", reporter, domain,
                 (long long)meta.begin, (long long)(meta.end - 1));
        meta.report_id = report_id;
    }
    struct dmarc_report_counts counts;
    enum store_status status = dmarc_report_write(ctl->store, &meta, stdout, &counts, &ctl->err);
    if (status == STORE_NOTFOUND) {
        ctl_format_time(meta.begin, when[0], sizeof when[0]);
        ctl_format_time(meta.end, when[1], sizeof when[1]);
        fprintf(stderr,
                "ingressctl: no DMARC data for %s from %s to %s: no report (it would have no "
                "record)\n",
                domain, when[0], when[1]);
        return CTL_EXIT_NOTFOUND;
    }
    if (status != STORE_OK)
        return ctl_store_error(ctl, "reading the DMARC report data");
    fflush(stdout);
    fprintf(stderr, "ingressctl: DMARC report for %s: %zu records, %lld messages\n", domain,
            counts.records, (long long)counts.messages);
    return CTL_EXIT_OK;
}

int ctl_verb_dmarc(struct ctl *ctl, int argc, char **argv)
{
    char shown[64];

    if (strcmp(argv[0], "report") == 0)
        return dmarc_report(ctl, argc - 1, argv + 1);
    return ctl_usage_error(ctl, "dmarc: unknown subcommand %s (report)",
                           str_escape(shown, sizeof shown, argv[0]));
}
