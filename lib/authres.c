/*
 * authres: the Authentication-Results header field (RFC 8601).
 *
 * We add one field per message at the top of the header, where trace fields go (RFC 8601 5),
 * and remove
 * incoming fields that carry our authserv-id, since only we may speak for it (RFC 8601 5,
 * "removal of forged fields").
 */
#include "authres.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

void authres_build(const char *authserv_id, const struct iprev *iprev, char *out, size_t outlen)
{
    if (iprev == NULL || iprev->result == IPREV_NONE) {
        snprintf(out, outlen, "%s; none", authserv_id);
        return;
    }
    /* policy.iprev is the address that was checked (RFC 8601 2.7.3); the confirmed name goes in
     * a comment, and only when it is a plain host name so it cannot end the comment early. */
    if (iprev->result == IPREV_PASS && dns_name_valid(iprev->name))
        snprintf(out, outlen, "%s; iprev=pass policy.iprev=%s (%s)", authserv_id, iprev->ip,
                 iprev->name);
    else if (iprev->ip[0] != '\0')
        snprintf(out, outlen, "%s; iprev=%s policy.iprev=%s", authserv_id,
                 iprev_result_name(iprev->result), iprev->ip);
    else
        snprintf(out, outlen, "%s; iprev=%s", authserv_id, iprev_result_name(iprev->result));
}

void authres_append(char *value, size_t valuelen, const char *part)
{
    size_t len = strlen(value);
    if (part == NULL || part[0] == '\0')
        return;
    if (len >= 6 && strcmp(value + len - 6, "; none") == 0)
        value[len -= 6] = '\0';
    snprintf(value + len, valuelen - len, "; %s", part);
}

/* Skips white space, line breaks and (nested) comments: RFC 5322 3.2.2 CFWS. */
static const char *skip_cfws(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p != '(')
            return p;
        int depth = 0;
        for (; *p != '\0'; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '(')
                depth++;
            else if (*p == ')' && --depth == 0) {
                p++;
                break;
            }
        }
        if (depth != 0)
            return p;
    }
}

bool authres_claims_id(const char *value, const char *authserv_id)
{
    char id[256];
    size_t n = 0;
    const char *p = skip_cfws(value);

    if (*p == '"') {
        for (p++; *p != '\0' && *p != '"' && n + 1 < sizeof id; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            id[n++] = *p;
        }
    } else {
        for (; *p != '\0' && *p != ';' && *p != '(' && *p != ' ' && *p != '\t' && *p != '\r' &&
               *p != '\n' && n + 1 < sizeof id;
             p++)
            id[n++] = *p;
    }
    id[n] = '\0';
    return n > 0 && str_casecmp(id, authserv_id) == 0;
}
