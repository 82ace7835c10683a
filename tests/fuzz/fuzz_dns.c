/*
 * fuzz_dns: libFuzzer target for our DNS answer handling (lib/dns.c): dns_parse_answer(), the one
 * place that reads bytes from a DNS server (TXT strings joined, PTR/CNAME/MX/NS names expanded,
 * negative TTLs from the SOA), then dns_name_valid() on every name it kept and
 * dns_reverse_name() on the input read as an address.
 *
 * Input: the first byte picks the asked type (A, AAAA, PTR, TXT, MX, CNAME, NS, SOA, SPF), the
 * rest is the packet.  Checked: dns.h's promises (at most DNS_MAX_RECORDS records, joined TXT
 * within DNS_TXT_MAX, names within DNS_NAME_MAX and in lower case, a reason on every TEMPFAIL,
 * no records unless DNS_OK).
 *
 *   tests/fuzz/run.sh dns 300
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int types[] = {DNS_TYPE_A,     DNS_TYPE_AAAA, DNS_TYPE_PTR, DNS_TYPE_TXT, DNS_TYPE_MX,
                            DNS_TYPE_CNAME, DNS_TYPE_NS,   DNS_TYPE_SOA, DNS_TYPE_SPF};

static void check_record(int type, const struct dns_record *rec)
{
    switch (type) {
    case DNS_TYPE_A:
    case DNS_TYPE_AAAA:
        if (rec->text != NULL || rec->family != (type == DNS_TYPE_A ? AF_INET : AF_INET6))
            abort();
        return;
    case DNS_TYPE_TXT:
    case DNS_TYPE_SPF:
        if (rec->text == NULL || rec->text_len > DNS_TXT_MAX || rec->text[rec->text_len] != '\0')
            abort();
        return;
    default: {
        /* A name: bounded, lower case; the validity check must not crash on it. */
        if (rec->text == NULL || strlen(rec->text) != rec->text_len || rec->text_len > DNS_NAME_MAX)
            abort();
        for (size_t i = 0; i < rec->text_len; i++)
            if (rec->text[i] >= 'A' && rec->text[i] <= 'Z')
                abort();
        (void)dns_name_valid(rec->text);
        return;
    }
    }
}

static void reverse_name(const uint8_t *data, size_t size)
{
    char ip[80], out[80];
    size_t n = size < sizeof ip - 1 ? size : sizeof ip - 1;
    memcpy(ip, data, n);
    ip[n] = '\0';
    if (dns_reverse_name(ip, out, sizeof out) && !dns_name_valid(out))
        abort(); /* a reverse name we build must be one we would look up */
    (void)dns_name_valid(ip);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    reverse_name(data, size);
    int type = types[data[0] % (sizeof types / sizeof types[0])];
    struct dns_answer a;
    memset(&a, 0, sizeof a);
    bool ok = dns_parse_answer(data + 1, size - 1, type, &a);
    if (a.type != type || (!ok && a.status != DNS_TEMPFAIL))
        abort();
    if (a.status == DNS_TEMPFAIL && a.error[0] == '\0')
        abort();
    if (a.status != DNS_OK && (a.count != 0 || a.records != NULL))
        abort();
    if (a.status == DNS_OK && (a.count == 0 || a.count > DNS_MAX_RECORDS))
        abort();
    for (size_t i = 0; i < a.count; i++)
        check_record(type, &a.records[i]);
    dns_answer_clear(&a);
    return 0;
}
