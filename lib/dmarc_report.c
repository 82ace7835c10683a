/*
 * dmarc_report: the data of DMARC aggregate reports and the report itself (RFC 7489 7.2,
 * Appendix C); dmarc_report.h says what is recorded and what the report holds.
 */
#include "dmarc_report.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DAY 86400
/* DKIM signatures recorded per message: more is a signature flood, not a sender to report on. */
#define REPORT_DKIM_MAX 8
#define REPORT_DKIM_TEXT (REPORT_DKIM_MAX * (16 + 2 * (DNS_NAME_MAX * 4 + 1)))

/* ---- recording ---- */

/* The DKIM results as "result domain selector" lines (words escaped: no blank, no newline). */
static void dkim_lines(const struct dmarc_evidence *e, char *out, size_t outlen)
{
    char domain[DNS_NAME_MAX * 4 + 1], selector[DNS_NAME_MAX * 4 + 1];
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < e->ndkim && i < REPORT_DKIM_MAX; i++) {
        const char *d = e->dkim[i].domain[0] != '\0' ? e->dkim[i].domain : "-";
        str_escape_word(domain, sizeof domain, d);
        str_escape_word(selector, sizeof selector,
                        e->dkim[i].selector[0] != '\0' ? e->dkim[i].selector : "-");
        int n = snprintf(out + len, outlen - len, "%s%s %s %s", len > 0 ? "\n" : "",
                         dkim_result_name(e->dkim[i].result), domain, selector);
        if (n < 0 || (size_t)n >= outlen - len)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
}

/* The source address as the store keeps it (inet_ntop's form), false when it is none. */
static bool source_address(const char *ip, char *out, size_t outlen)
{
    unsigned char addr[16];

    if (inet_pton(AF_INET, ip, addr) == 1)
        return inet_ntop(AF_INET, addr, out, (socklen_t)outlen) != NULL;
    if (inet_pton(AF_INET6, ip, addr) == 1)
        return inet_ntop(AF_INET6, addr, out, (socklen_t)outlen) != NULL;
    return false;
}

static const char *alignment_name(enum orgdomain_mode m)
{
    return m == ORGDOMAIN_STRICT ? "s" : "r";
}

enum store_status dmarc_report_note(struct store *s, const struct dmarc_message *m, int64_t now,
                                    struct store_error *err)
{
    const struct dmarc_evidence *e = &m->evidence;
    char dkim[REPORT_DKIM_TEXT], ip[INET6_ADDRSTRLEN];
    enum store_status first = STORE_OK;

    if (s == NULL || !m->evaluated || !source_address(e->source_ip, ip, sizeof ip))
        return STORE_OK;
    dkim_lines(e, dkim, sizeof dkim);
    bool helo = e->envelope_domain[0] == '\0';
    for (size_t i = 0; i < m->nauthors; i++) {
        const struct dmarc_author *a = &m->authors[i];
        if (a->domain[0] == '\0' || !a->have_record)
            continue;
        const struct dmarc_record *r = &a->record;
        struct store_dmarc_row row = {
            .day = now / DAY * DAY,
            .policy_domain = a->org_record ? a->org : a->domain,
            .header_from = a->domain,
            .envelope_from = e->envelope_domain,
            .source_ip = ip,
            .p = dmarc_policy_name(r->p),
            .sp = dmarc_policy_name(r->sp),
            .pct = r->pct,
            .adkim = alignment_name(r->adkim),
            .aspf = alignment_name(r->aspf),
            .disposition = dmarc_policy_name(a->disposition),
            .dkim_aligned = a->dkim_aligned ? "pass" : "fail",
            .spf_aligned = a->spf_aligned ? "pass" : "fail",
            .override = a->override == DMARC_OVERRIDE_NONE ? "" : dmarc_override_name(a->override),
            .dkim = dkim,
            .spf_domain = e->spf_domain,
            .spf_scope = helo ? "helo" : "mfrom",
            .spf_result = spf_result_name(e->spf_checked ? e->spf_result : SPF_NONE),
            .messages = 1,
        };
        struct store_error why;
        enum store_status st = store_dmarc_add(s, &row, &why);
        if (st != STORE_OK && first == STORE_OK) {
            first = st;
            if (err != NULL)
                *err = why;
        }
    }
    return first;
}

/* ---- the report ---- */

void dmarc_report_xml_text(FILE *out, const char *text)
{
    const unsigned char *end = (const unsigned char *)text + strlen(text);

    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        size_t n;
        switch (*p) {
        case '&':
            fputs("&amp;", out);
            continue;
        case '<':
            fputs("&lt;", out);
            continue;
        case '>':
            fputs("&gt;", out);
            continue;
        case '"':
            fputs("&quot;", out);
            continue;
        case '\'':
            fputs("&apos;", out);
            continue;
        default:
            break;
        }
        if (*p >= 0x20 && *p < 0x7f) {
            fputc(*p, out);
        } else if (*p >= 0x80 && (n = str_utf8_length(p, end)) > 0) {
            fwrite(p, 1, n, out);
            p += n - 1;
        } else {
            fprintf(out, "\\x%02X", *p);
        }
    }
}

/* One row of the period, owned: its strings in one allocation after it. */
struct report_row {
    struct store_dmarc_row row;
    char *merge_key; /* every field but the day: rows with the same one are one record */
};

struct report_rows {
    struct report_row **rows;
    size_t n, cap;
};

static char *copy_text(char **p, const char *text)
{
    size_t len = strlen(text) + 1;
    char *dst = *p;
    memcpy(dst, text, len);
    *p += len;
    return dst;
}

/* Copies each row of the period (store_dmarc_each's callback). */
static void collect(const struct store_dmarc_row *r, void *arg)
{
    struct report_rows *rr = arg;
    const char *texts[] = {r->policy_domain, r->header_from, r->envelope_from,
                           r->source_ip,     r->p,           r->sp,
                           r->adkim,         r->aspf,        r->disposition,
                           r->dkim_aligned,  r->spf_aligned, r->override,
                           r->dkim,          r->spf_domain,  r->spf_scope,
                           r->spf_result};
    size_t ntexts = sizeof texts / sizeof texts[0], total = sizeof(struct report_row) + 32;

    for (size_t i = 0; i < ntexts; i++)
        total += 2 * (strlen(texts[i]) + 1);
    struct report_row *row = xmalloc(total);
    char *p = (char *)(row + 1);
    row->row = *r;
    struct store_dmarc_row *c = &row->row;
    c->policy_domain = copy_text(&p, r->policy_domain);
    c->header_from = copy_text(&p, r->header_from);
    c->envelope_from = copy_text(&p, r->envelope_from);
    c->source_ip = copy_text(&p, r->source_ip);
    c->p = copy_text(&p, r->p);
    c->sp = copy_text(&p, r->sp);
    c->adkim = copy_text(&p, r->adkim);
    c->aspf = copy_text(&p, r->aspf);
    c->disposition = copy_text(&p, r->disposition);
    c->dkim_aligned = copy_text(&p, r->dkim_aligned);
    c->spf_aligned = copy_text(&p, r->spf_aligned);
    c->override = copy_text(&p, r->override);
    c->dkim = copy_text(&p, r->dkim);
    c->spf_domain = copy_text(&p, r->spf_domain);
    c->spf_scope = copy_text(&p, r->spf_scope);
    c->spf_result = copy_text(&p, r->spf_result);
    /* The merge key: the texts, each ended by a byte no text holds (the store keeps no \x01). */
    row->merge_key = p;
    for (size_t i = 0; i < ntexts; i++) {
        size_t len = strlen(texts[i]);
        memcpy(p, texts[i], len);
        p += len;
        *p++ = '\x01';
    }
    p += (size_t)snprintf(p, 32, "%" PRId64, r->pct);
    *p = '\0';
    if (rr->n == rr->cap) {
        rr->cap = rr->cap ? 2 * rr->cap : 64;
        rr->rows = xrealloc(rr->rows, rr->cap * sizeof *rr->rows);
    }
    rr->rows[rr->n++] = row;
}

static int row_order(const void *a, const void *b)
{
    const struct report_row *x = *(struct report_row *const *)a,
                            *y = *(struct report_row *const *)b;
    return strcmp(x->merge_key, y->merge_key);
}

static void element(FILE *out, int indent, const char *name, const char *value)
{
    fprintf(out, "%*s<%s>", indent, "", name);
    dmarc_report_xml_text(out, value);
    fprintf(out, "</%s>\n", name);
}

/* The address as the schema's IPAddress pattern takes it: IPv6 in eight groups, never "::". */
static void source_ip(FILE *out, const char *ip)
{
    unsigned char a[16];

    if (strchr(ip, ':') == NULL || inet_pton(AF_INET6, ip, a) != 1) {
        element(out, 6, "source_ip", ip);
        return;
    }
    fprintf(out, "      <source_ip>");
    for (int i = 0; i < 8; i++)
        fprintf(out, "%s%x", i ? ":" : "", (unsigned)(a[2 * i] << 8 | a[2 * i + 1]));
    fprintf(out, "</source_ip>\n");
}

/* auth_results' dkim elements from the "result domain selector" lines. */
static void dkim_results(FILE *out, const char *lines)
{
    char *copy = xstrdup(lines), *save = NULL;

    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *save_word = NULL;
        const char *result = strtok_r(line, " ", &save_word);
        const char *domain = strtok_r(NULL, " ", &save_word);
        const char *selector = strtok_r(NULL, " ", &save_word);
        if (result == NULL || domain == NULL)
            continue;
        fprintf(out, "      <dkim>\n");
        element(out, 8, "domain", strcmp(domain, "-") == 0 ? "" : domain);
        if (selector != NULL && strcmp(selector, "-") != 0)
            element(out, 8, "selector", selector);
        element(out, 8, "result", result);
        fprintf(out, "      </dkim>\n");
    }
    free(copy);
}

static void record(FILE *out, const struct store_dmarc_row *r, int64_t messages)
{
    fprintf(out, "  <record>\n    <row>\n");
    source_ip(out, r->source_ip);
    fprintf(out, "      <count>%" PRId64 "</count>\n", messages);
    fprintf(out, "      <policy_evaluated>\n");
    element(out, 8, "disposition", r->disposition);
    element(out, 8, "dkim", r->dkim_aligned);
    element(out, 8, "spf", r->spf_aligned);
    if (r->override[0] != '\0') {
        fprintf(out, "        <reason>\n");
        element(out, 10, "type", r->override);
        fprintf(out, "        </reason>\n");
    }
    fprintf(out, "      </policy_evaluated>\n    </row>\n    <identifiers>\n");
    element(out, 6, "envelope_from", r->envelope_from);
    element(out, 6, "header_from", r->header_from);
    fprintf(out, "    </identifiers>\n    <auth_results>\n");
    dkim_results(out, r->dkim);
    fprintf(out, "      <spf>\n");
    element(out, 8, "domain", r->spf_domain);
    element(out, 8, "scope", r->spf_scope);
    element(out, 8, "result", r->spf_result);
    fprintf(out, "      </spf>\n    </auth_results>\n  </record>\n");
}

static void header(FILE *out, const struct dmarc_report_meta *meta,
                   const struct store_dmarc_row *policy)
{
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n");
    fprintf(out, "  <version>1.0</version>\n  <report_metadata>\n");
    element(out, 4, "org_name", meta->org_name);
    element(out, 4, "email", meta->email);
    element(out, 4, "report_id", meta->report_id);
    fprintf(out,
            "    <date_range>\n      <begin>%" PRId64 "</begin>\n      <end>%" PRId64
            "</end>\n    </date_range>\n",
            meta->begin, meta->end - 1);
    fprintf(out, "  </report_metadata>\n  <policy_published>\n");
    element(out, 4, "domain", meta->domain);
    element(out, 4, "adkim", policy->adkim);
    element(out, 4, "aspf", policy->aspf);
    element(out, 4, "p", policy->p);
    element(out, 4, "sp", policy->sp);
    fprintf(out, "    <pct>%" PRId64 "</pct>\n", policy->pct);
    /* fo= is not kept by the record parser: its default, "0" (RFC 7489 6.3). */
    element(out, 4, "fo", "0");
    fprintf(out, "  </policy_published>\n");
}

enum store_status dmarc_report_write(struct store *s, const struct dmarc_report_meta *meta,
                                     FILE *out, struct dmarc_report_counts *counts,
                                     struct store_error *err)
{
    struct report_rows rr = {0};
    struct dmarc_report_counts own = {0, 0};

    enum store_status status =
        store_dmarc_each(s, meta->domain, meta->begin, meta->end, collect, &rr, err);
    if (status == STORE_OK && rr.n > 0) {
        /* Rows come by day: the last one's policy is the latest published. */
        header(out, meta, &rr.rows[rr.n - 1]->row);
        qsort(rr.rows, rr.n, sizeof *rr.rows, row_order);
        for (size_t i = 0; i < rr.n;) {
            int64_t messages = 0;
            size_t j = i;
            for (; j < rr.n && strcmp(rr.rows[j]->merge_key, rr.rows[i]->merge_key) == 0; j++)
                messages += rr.rows[j]->row.messages;
            record(out, &rr.rows[i]->row, messages);
            own.records++;
            own.messages += messages;
            i = j;
        }
        fprintf(out, "</feedback>\n");
    }
    for (size_t i = 0; i < rr.n; i++)
        free(rr.rows[i]);
    free(rr.rows);
    if (counts != NULL)
        *counts = own;
    return status;
}
