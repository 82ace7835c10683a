/*
 * iprev: reverse DNS of the client, forward-confirmed, then matched against the HELO name.
 *
 * RFC 8601 2.7.3 defines the method: the PTR names of the client address are looked up, and a
 * name is confirmed when one of its A/AAAA records is the client address; iprev=pass when some
 * name is confirmed, fail when none is (or there is no PTR), temperror when a lookup could not
 * tell.  RFC 5321 4.1.4 lets a server check HELO, not require it to match; matching it is this
 * site's policy (iprev_helo), reported as iprev's reason, never as the RFC result.
 * At most IPREV_MAX_NAMES PTR names are tried (the same bound RFC 7208 4.6.4 puts on SPF's ptr),
 * so a hostile reverse zone cannot make us send hundreds of queries.
 */
#include "iprev.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"
#include "util.h"

static bool helo_chars_valid(const char *helo)
{
    for (const unsigned char *p = (const unsigned char *)helo; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return true;
}

void iprev_start(struct iprev *ip, struct dns_batch *batch, const char *client_ip,
                 enum iprev_helo_mode mode)
{
    memset(ip, 0, sizeof *ip);
    ip->batch = batch;
    ip->helo_mode = mode;
    ip->ptr_handle = ip->helo_a_handle = ip->helo_aaaa_handle = -1;
    if (client_ip != NULL && cidr_is_address(client_ip)) {
        str_copy(ip->ip, sizeof ip->ip, client_ip);
        ip->ptr_handle = dns_batch_start_ptr(batch, client_ip);
    }
}

/* The client's address family after IPv4-mapped addresses are unwrapped. */
static int client_family(const struct iprev *ip)
{
    struct cidr addr;
    return cidr_parse(ip->ip, &addr) ? addr.family : 0;
}

void iprev_helo(struct iprev *ip, const char *helo)
{
    ip->helo[0] = '\0';
    ip->helo_invalid = false;
    ip->helo_a_handle = ip->helo_aaaa_handle = -1;
    if (helo == NULL || helo[0] == '\0')
        return;
    if (strlen(helo) > DNS_NAME_MAX || !helo_chars_valid(helo)) {
        ip->helo_invalid = true;
        return;
    }
    size_t len = strlen(helo);
    for (size_t i = 0; i <= len; i++)
        ip->helo[i] = (helo[i] >= 'A' && helo[i] <= 'Z') ? (char)(helo[i] + 32) : helo[i];
    if (ip->helo[len - 1] == '.' && len > 1)
        ip->helo[len - 1] = '\0';
    if (ip->helo[0] == '[')
        return; /* an address literal (RFC 5321 4.1.3): compared, never looked up */
    if (!dns_name_valid(ip->helo)) {
        ip->helo_invalid = true;
        return;
    }
    if (ip->helo_mode != IPREV_HELO_RESOLVE || ip->ip[0] == '\0')
        return;
    /* Only the client's family can match, so only that query is sent. */
    if (client_family(ip) == AF_INET)
        ip->helo_a_handle = dns_batch_start(ip->batch, ip->helo, DNS_TYPE_A);
    else
        ip->helo_aaaa_handle = dns_batch_start(ip->batch, ip->helo, DNS_TYPE_AAAA);
}

/* Does the answer hold the client's address? */
static bool answer_has_address(const struct dns_answer *a, const struct cidr *client)
{
    if (a == NULL || a->status != DNS_OK)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        const struct dns_record *r = &a->records[i];
        if (r->family != client->family)
            continue;
        if (r->family == AF_INET && memcmp(&r->addr.v4, client->addr, 4) == 0)
            return true;
        if (r->family == AF_INET6 && memcmp(&r->addr.v6, client->addr, 16) == 0)
            return true;
    }
    return false;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" equal to the client's address? */
static bool helo_literal_matches(const char *helo, const struct cidr *client)
{
    char inner[64];
    size_t len = strlen(helo);
    if (len < 3 || helo[len - 1] != ']' || len - 2 >= sizeof inner)
        return false;
    memcpy(inner, helo + 1, len - 2);
    inner[len - 2] = '\0';
    const char *addr = strncmp(inner, "ipv6:", 5) == 0 ? inner + 5 : inner;
    struct cidr lit;
    return cidr_parse(addr, &lit) && lit.prefix == (lit.family == AF_INET ? 32u : 128u) &&
           cidr_contains_addr(&lit, client);
}

static void check_helo(struct iprev *ip, const struct cidr *client,
                       char confirmed[][DNS_NAME_MAX + 1], size_t nconfirmed)
{
    char shown[128];

    if (ip->helo_mode == IPREV_HELO_OFF) {
        ip->helo_match = true;
        return;
    }
    if (ip->helo_invalid || ip->helo[0] == '\0') {
        snprintf(ip->detail + strlen(ip->detail), sizeof ip->detail - strlen(ip->detail),
                 "; HELO %s", ip->helo_invalid ? "is not a valid host name" : "was not given");
        return;
    }
    for (size_t i = 0; i < nconfirmed; i++) {
        if (str_casecmp(confirmed[i], ip->helo) == 0) {
            ip->helo_match = true;
            return;
        }
    }
    if (ip->helo_mode == IPREV_HELO_RESOLVE) {
        if (ip->helo[0] == '[') {
            ip->helo_match = helo_literal_matches(ip->helo, client);
        } else {
            int h = client->family == AF_INET ? ip->helo_a_handle : ip->helo_aaaa_handle;
            const struct dns_answer *a = h >= 0 ? dns_batch_wait(ip->batch, h) : NULL;
            ip->helo_match = answer_has_address(a, client);
            ip->helo_temp = a != NULL && a->status == DNS_TEMPFAIL;
        }
        if (ip->helo_match)
            return;
    }
    snprintf(ip->detail + strlen(ip->detail), sizeof ip->detail - strlen(ip->detail),
             "; HELO %s %s", str_escape_word(shown, sizeof shown, ip->helo),
             ip->helo_temp ? "could not be resolved (temporary error)"
             : ip->helo_mode == IPREV_HELO_STRICT
                 ? "is not a confirmed PTR name"
                 : "is not a confirmed PTR name and does not resolve to the client");
}

void iprev_finish(struct iprev *ip)
{
    char confirmed[IPREV_MAX_NAMES][DNS_NAME_MAX + 1];
    size_t nconfirmed = 0;
    struct cidr client;

    if (ip->done)
        return;
    ip->done = true;
    if (ip->ip[0] == '\0' || ip->ptr_handle < 0 || !cidr_parse(ip->ip, &client)) {
        ip->result = IPREV_PERMERROR;
        snprintf(ip->detail, sizeof ip->detail, "client address unknown to the MTA");
        return;
    }
    const struct dns_answer *ptr = dns_batch_wait(ip->batch, ip->ptr_handle);
    if (ptr->status == DNS_TEMPFAIL) {
        ip->result = IPREV_TEMPERROR;
        snprintf(ip->detail, sizeof ip->detail, "PTR lookup of %s failed: %s", ptr->name,
                 ptr->error);
        return;
    }
    char shown[DNS_NAME_MAX * 4 + 1];
    if (ptr->status != DNS_OK || ptr->count == 0) {
        ip->result = IPREV_FAIL;
        snprintf(ip->detail, sizeof ip->detail, "no PTR record for %s", ptr->name);
        return;
    }

    /* Send every forward query first, then join: the cost is the slowest, not the sum. */
    size_t nnames = ptr->count < IPREV_MAX_NAMES ? ptr->count : IPREV_MAX_NAMES;
    int handles[IPREV_MAX_NAMES];
    int type = client.family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA;
    for (size_t i = 0; i < nnames; i++)
        handles[i] = dns_batch_start(ip->batch, ptr->records[i].text, type);
    bool temp = false;
    for (size_t i = 0; i < nnames; i++) {
        const struct dns_answer *a = dns_batch_wait(ip->batch, handles[i]);
        if (answer_has_address(a, &client))
            str_copy(confirmed[nconfirmed++], DNS_NAME_MAX + 1, ptr->records[i].text);
        else if (a->status == DNS_TEMPFAIL)
            temp = true;
    }
    if (nconfirmed == 0) {
        ip->result = temp ? IPREV_TEMPERROR : IPREV_FAIL;
        snprintf(ip->detail, sizeof ip->detail, "PTR %s%s %s back to %s",
                 str_escape(shown, sizeof shown, ptr->records[0].text),
                 ptr->count > 1 ? " (and others)" : "",
                 temp ? "could not be resolved" : "does not resolve", ip->ip);
        return;
    }
    ip->result = IPREV_PASS;
    str_copy(ip->name, sizeof ip->name, confirmed[0]);
    snprintf(ip->detail, sizeof ip->detail, "PTR %s confirmed",
             str_escape(shown, sizeof shown, confirmed[0]));
    check_helo(ip, &client, confirmed, nconfirmed);
}

const char *iprev_result_name(enum iprev_result r)
{
    switch (r) {
    case IPREV_PASS:
        return "pass";
    case IPREV_FAIL:
        return "fail";
    case IPREV_TEMPERROR:
        return "temperror";
    case IPREV_PERMERROR:
        return "permerror";
    case IPREV_NONE:
        break;
    }
    return "none";
}

struct verdict iprev_verdict(struct iprev *ip, const struct config *cfg)
{
    struct verdict_args args = {.ip = ip->ip[0] ? ip->ip : "unknown"};

    iprev_finish(ip);
    bool could_not_tell = ip->result == IPREV_TEMPERROR ||
                          (ip->result == IPREV_PASS && !ip->helo_match && ip->helo_temp);
    if (ip->result == IPREV_PASS && ip->helo_match)
        return verdict_make(VERDICT_CONTINUE, REPLY_NONE, "iprev", NULL, "iprev=pass: %s",
                            ip->detail);
    if (could_not_tell) {
        if (cfg->dns_failure == DNS_FAILURE_ACCEPT || cfg->iprev_action == ACTION_LOG)
            return verdict_make(VERDICT_CONTINUE, REPLY_NONE, "iprev", NULL,
                                "iprev=temperror (accepted by configuration): %s", ip->detail);
        return verdict_make(VERDICT_TEMPFAIL, REPLY_IPREV_TEMP, "iprev", &args,
                            "iprev=temperror: %s", ip->detail);
    }
    switch (cfg->iprev_action) {
    case ACTION_LOG:
        return verdict_make(VERDICT_CONTINUE, REPLY_NONE, "iprev", NULL,
                            "iprev=%s (iprev_action=log): %s", iprev_result_name(ip->result),
                            ip->detail);
    case ACTION_TEMPFAIL:
        return verdict_make(VERDICT_TEMPFAIL, REPLY_IPREV_DEFER, "iprev", &args, "iprev=%s: %s",
                            iprev_result_name(ip->result), ip->detail);
    case ACTION_REJECT:
        break;
    }
    return verdict_make(VERDICT_REJECT, REPLY_IPREV_FAIL, "iprev", &args, "iprev=%s: %s",
                        iprev_result_name(ip->result), ip->detail);
}
