/*
 * dmarc: RFC 7489 for one inbound message (dmarc.h says what and in which order): author domains
 * (6.6.1), policy discovery (6.6.3), alignment (3.1), result and policy (6.6.2, 6.6.4), the
 * site's action, and the words for Authentication-Results (11.2) and the decision log.
 */
#include "dmarc.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "util.h"

#define DMARC_QUERY_MAX (DNS_NAME_MAX + 8) /* "_dmarc." + a name */

struct dmarc_message *dmarc_message_new(struct dns_batch *batch, const struct orgdomain *od)
{
    struct dmarc_message *m = xcalloc(1, sizeof *m);
    m->batch = batch;
    m->od = od;
    return m;
}

void dmarc_message_free(struct dmarc_message *m)
{
    if (m == NULL)
        return;
    free(m->evidence.dkim);
    free(m->authors);
    free(m);
}

/* ---- author domains (RFC 7489 6.6.1) ---- */

/* A new author entry, zeroed, at the end of m->authors. */
static struct dmarc_author *author_new(struct dmarc_message *m)
{
    m->authors = xrealloc(m->authors, (m->nauthors + 1) * sizeof *m->authors);
    struct dmarc_author *a = &m->authors[m->nauthors++];
    memset(a, 0, sizeof *a);
    return a;
}

/* The message-wide problem (the first one only): no From, a From refused, too many domains. */
static void note_problem(struct dmarc_message *m, enum dmarc_result result, const char *why)
{
    if (m->problem_noted)
        return;
    m->problem_noted = true;
    struct dmarc_author *a = author_new(m);
    a->result = result;
    a->h_domain = a->h_org = -1;
    str_copy(a->why, sizeof a->why, why);
}

/*
 * A domain from lib/addr.c as DNS asks it: lower-case ASCII without the final dot, a U-label
 * turned into its A-label (RFC 7489 6.6.1, IDNA2008 with UTS #46 mapping).  False for anything
 * that is no domain name (an address literal, a name libidn2 refuses).
 */
static bool author_name(const char *domain, char *out, size_t outlen)
{
    bool ascii = true;
    for (const char *p = domain; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            ascii = false;
    if (ascii)
        return str_copy(out, outlen, domain) && dns_name_valid(out);
    char *alabel = NULL;
    if (idn2_to_ascii_8z(domain, &alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK)
        return false;
    bool ok = str_copy(out, outlen, alabel) && dns_name_valid(out);
    idn2_free(alabel);
    for (char *p = out; ok && *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return ok;
}

/* Starts the TXT query at _dmarc.NAME on the batch; the handle. */
static int ask(struct dmarc_message *m, const char *name)
{
    char query[DMARC_QUERY_MAX];
    snprintf(query, sizeof query, "_dmarc.%s", name);
    return dns_batch_start(m->batch, query, DNS_TYPE_TXT);
}

static void add_author(struct dmarc_message *m, const struct addr *address)
{
    char name[DNS_NAME_MAX + 1] = "", org[DNS_NAME_MAX + 1], shown[ADDR_DOMAIN_MAX * 4 + 64];

    bool named = author_name(address->domain, name, sizeof name);
    if (named && name[strlen(name) - 1] == '.')
        name[strlen(name) - 1] = '\0';
    if (!named || orgdomain_of(m->od, name, org, sizeof org) == ORGDOMAIN_INVALID) {
        char why[sizeof shown + 64];
        snprintf(why, sizeof why, "the From address's domain %s is not a domain name",
                 str_escape_word(shown, sizeof shown, address->domain));
        note_problem(m, DMARC_NONE, why);
        return;
    }
    for (size_t i = 0; i < m->nauthors; i++)
        if (strcmp(m->authors[i].domain, name) == 0)
            return;
    if (m->nauthors - (m->problem_noted ? 1 : 0) >= DMARC_AUTHORS_MAX) {
        snprintf(shown, sizeof shown, "more than %d author domains in From", DMARC_AUTHORS_MAX);
        note_problem(m, DMARC_PERMERROR, shown);
        return;
    }
    struct dmarc_author *a = author_new(m);
    str_copy(a->domain, sizeof a->domain, name);
    str_copy(a->org, sizeof a->org, org);
    a->h_domain = ask(m, a->domain);
    a->h_org = strcmp(a->org, a->domain) != 0 ? ask(m, a->org) : -1;
}

void dmarc_message_from(struct dmarc_message *m, const char *value, size_t len)
{
    struct addr_list list;
    char why[128], text[DMARC_WHY_MAX];

    m->from_fields++;
    enum addr_status st = addr_parse_list(value, len, &list, why, sizeof why);
    if (st != ADDR_OK) {
        snprintf(text, sizeof text, "a From field is not an address list (%s)", why);
        note_problem(m, DMARC_PERMERROR, text);
        return;
    }
    if (list.count == 0)
        note_problem(m, DMARC_NONE, "a From field has no address");
    for (size_t i = 0; i < list.count; i++)
        add_author(m, &list.items[i]);
    addr_list_free(&list);
}

/* ---- policy discovery (RFC 7489 6.6.3) ---- */

enum dmarc_found dmarc_record_select(const struct dns_answer *a, struct dmarc_record *out,
                                     char *why, size_t whylen)
{
    char reason[DMARC_WHY_MAX];
    size_t found = 0;
    enum dmarc_record_status first = DMARC_RECORD_NOT_DMARC;

    str_printf(why, whylen, "%s", "");
    if (a->status == DNS_TEMPFAIL) {
        str_printf(why, whylen, "%s", a->error[0] != '\0' ? a->error : "DNS error");
        return DMARC_DNS_ERROR;
    }
    if (a->status != DNS_OK)
        return DMARC_ABSENT;
    for (size_t i = 0; i < a->count; i++) {
        struct dmarc_record later;
        /* The first DMARC record is parsed into out; the others only need counting. */
        enum dmarc_record_status st =
            dmarc_record_parse(a->records[i].text, a->records[i].text_len,
                               found == 0 ? out : &later, reason, sizeof reason);
        if (st == DMARC_RECORD_NOT_DMARC)
            continue;
        if (found++ == 0) {
            first = st;
            str_printf(why, whylen, "%s", reason);
        }
    }
    if (found == 0)
        return DMARC_ABSENT;
    if (found > 1) {
        str_printf(why, whylen, "%zu DMARC records", found);
        return DMARC_SEVERAL;
    }
    return first == DMARC_RECORD_OK ? DMARC_FOUND : DMARC_BROKEN;
}

/* One of the two lookups: true when discovery ends with it (found, or an error). */
static bool lookup_one(struct dmarc_message *m, struct dmarc_author *a, int handle,
                       const char *name, bool org)
{
    char why[DMARC_WHY_MAX];
    const struct dns_answer *ans = dns_batch_wait(m->batch, handle);
    enum dmarc_found f = DMARC_DNS_ERROR;
    if (ans != NULL)
        f = dmarc_record_select(ans, &a->record, why, sizeof why);
    else
        str_copy(why, sizeof why, "not asked");
    switch (f) {
    case DMARC_FOUND:
        a->have_record = true;
        a->org_record = org;
        return true;
    case DMARC_ABSENT:
        return false;
    case DMARC_SEVERAL:
        a->result = DMARC_NONE; /* 6.6.3 step 5: no DMARC processing */
        str_printf(a->why, sizeof a->why, "%s at _dmarc.%s: none applies", why, name);
        return true;
    case DMARC_BROKEN:
        a->result = DMARC_PERMERROR;
        str_printf(a->why, sizeof a->why, "the record at _dmarc.%s is invalid: %s", name, why);
        return true;
    case DMARC_DNS_ERROR:
        a->result = DMARC_TEMPERROR;
        str_printf(a->why, sizeof a->why, "_dmarc.%s could not be looked up: %s", name, why);
        return true;
    }
    return true;
}

static void discover(struct dmarc_message *m, struct dmarc_author *a)
{
    if (lookup_one(m, a, a->h_domain, a->domain, false))
        return;
    if (a->h_org >= 0 && lookup_one(m, a, a->h_org, a->org, true))
        return;
    a->result = DMARC_NONE;
    if (a->h_org >= 0)
        str_printf(a->why, sizeof a->why, "no DMARC record at _dmarc.%s nor _dmarc.%s", a->domain,
                   a->org);
    else
        str_printf(a->why, sizeof a->why, "no DMARC record at _dmarc.%s", a->domain);
}

/* ---- evaluation ---- */

static void copy_evidence(struct dmarc_evidence *e, const struct dmarc_inputs *in)
{
    char domain[DNS_NAME_MAX + 1];
    const char *at = in->envelope_from != NULL ? strrchr(in->envelope_from, '@') : NULL;

    str_copy(e->source_ip, sizeof e->source_ip, in->source_ip ? in->source_ip : "");
    str_copy(domain, sizeof domain, at != NULL ? at + 1 : "");
    str_escape_word(e->envelope_domain, sizeof e->envelope_domain, domain);
    e->spf_checked = in->spf != NULL && in->spf->checked;
    e->spf_result = e->spf_checked ? in->spf->result : SPF_NONE;
    str_escape_word(e->spf_domain, sizeof e->spf_domain, e->spf_checked ? in->spf->domain : "");
    free(e->dkim);
    e->dkim = NULL;
    e->ndkim = in->dkim != NULL ? dkim_check_count(in->dkim) : 0;
    if (e->ndkim > 0)
        e->dkim = xcalloc(e->ndkim, sizeof *e->dkim);
    for (size_t i = 0; i < e->ndkim; i++) {
        const struct dkim_signature *s = dkim_check_signature(in->dkim, i);
        e->dkim[i].result = s->result;
        str_copy(e->dkim[i].domain, sizeof e->dkim[i].domain, s->domain);
        str_copy(e->dkim[i].selector, sizeof e->dkim[i].selector, s->selector);
        str_copy(e->dkim[i].reason, sizeof e->dkim[i].reason, s->reason);
    }
}

void dmarc_evaluate(const struct orgdomain *od, const struct dmarc_evidence *e,
                    struct dmarc_author *a, unsigned sample)
{
    a->spf_aligned = a->dkim_aligned = false;
    a->dkim_aligned_domain[0] = '\0';
    a->policy = a->disposition = DMARC_POLICY_NONE;
    a->override = DMARC_OVERRIDE_NONE;
    if (!a->have_record)
        return; /* none, temperror or permerror, set by the lookup */
    const struct dmarc_record *r = &a->record;
    /* 3.1.2: the MAIL FROM domain SPF authenticated; 3.1.1: the d= of a verified signature. */
    a->spf_aligned = e->spf_checked && e->spf_result == SPF_PASS &&
                     orgdomain_aligned(od, e->spf_domain, a->domain, r->aspf);
    for (size_t i = 0; i < e->ndkim && !a->dkim_aligned; i++) {
        if (e->dkim[i].result == DKIM_PASS &&
            orgdomain_aligned(od, e->dkim[i].domain, a->domain, r->adkim)) {
            a->dkim_aligned = true;
            str_copy(a->dkim_aligned_domain, sizeof a->dkim_aligned_domain, e->dkim[i].domain);
        }
    }
    a->policy = a->org_record ? r->sp : r->p;
    a->result = a->spf_aligned || a->dkim_aligned ? DMARC_PASS : DMARC_FAIL;
    if (a->result != DMARC_FAIL)
        return;
    a->disposition = a->policy;
    /* 6.6.4: the policy for pct% of failing mail, the next milder one for the rest. */
    if (a->policy != DMARC_POLICY_NONE && sample >= r->pct) {
        a->disposition = (enum dmarc_policy)(a->policy - 1);
        a->override = DMARC_OVERRIDE_SAMPLED_OUT;
    }
}

void dmarc_message_evaluate(struct dmarc_message *m, const struct dmarc_inputs *in, unsigned sample)
{
    copy_evidence(&m->evidence, in);
    if (m->from_fields == 0)
        note_problem(m, DMARC_NONE, "no From field: no author domain");
    for (size_t i = 0; i < m->nauthors; i++) {
        struct dmarc_author *a = &m->authors[i];
        if (a->domain[0] == '\0')
            continue;
        discover(m, a);
        dmarc_evaluate(m->od, &m->evidence, a, sample % 100);
    }
    m->evaluated = true;
}

bool dmarc_message_pass(const struct dmarc_message *m)
{
    if (m == NULL || !m->evaluated || m->nauthors == 0)
        return false;
    for (size_t i = 0; i < m->nauthors; i++)
        if (m->authors[i].result != DMARC_PASS)
            return false;
    return true;
}
