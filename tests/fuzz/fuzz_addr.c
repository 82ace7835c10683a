/*
 * fuzz_addr: libFuzzer target for lib/addr.c.  Every input goes through both parsers (the first
 * byte picks nothing: both always run), and the results are checked against addr.h's promises:
 * a status in range, a reason on every error, an empty list on error, bounded parts, lower-case
 * domains, no more than ADDR_LIST_MAX addresses.
 *
 *   tests/fuzz/run.sh addr 300
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addr(const struct addr *a)
{
    if (strlen(a->local) > ADDR_LOCAL_MAX || strlen(a->domain) > ADDR_DOMAIN_MAX)
        abort();
    for (const char *p = a->domain; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct addr a;
    struct addr_list list;
    bool null_path;
    char why[128];
    enum addr_status st;

    why[0] = '\0';
    st = addr_parse_path((const char *)data, size, &a, &null_path, why, sizeof why);
    if (st > ADDR_TOO_MANY || (st != ADDR_OK && why[0] == '\0'))
        abort();
    if (st == ADDR_OK && !null_path && (a.local[0] == '\0' || a.domain[0] == '\0'))
        abort();
    check_addr(&a);

    why[0] = '\0';
    st = addr_parse_list((const char *)data, size, &list, why, sizeof why);
    if (st > ADDR_TOO_MANY || (st != ADDR_OK && (why[0] == '\0' || list.count != 0)))
        abort();
    if (list.count > ADDR_LIST_MAX)
        abort();
    for (size_t i = 0; i < list.count; i++)
        check_addr(&list.items[i]);
    addr_list_free(&list);
    return 0;
}
