/*
 * sender: account ownership of sender addresses (see sender.h).
 *
 * The comparison rule: RFC 5321 2.4 makes the local part case-sensitive in principle and the
 * domain not; in practice every mailbox provider treats local parts without case, and an account
 * holder who types Alice@ instead of alice@ should not be refused, so case-insensitive is the
 * default and sender_case_sensitive the strict choice.  Case is ASCII case only: a UTF-8 local
 * part (RFC 6531) compares byte for byte beyond ASCII.
 */
#include "sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static int local_compare(const char *a, const char *b, bool case_sensitive)
{
    return case_sensitive ? strcmp(a, b) : str_casecmp(a, b);
}

void sender_account_init(struct sender_account *acct, const char *name)
{
    bool null_path;

    memset(acct, 0, sizeof *acct);
    acct->name = xstrdup(name ? name : "");
    acct->has_login =
        name != NULL &&
        addr_parse_path(name, strlen(name), &acct->login, &null_path, NULL, 0) == ADDR_OK &&
        !null_path;
}

bool sender_alias_normalize(const char *text, char *out, size_t outlen, char *why, size_t whylen)
{
    struct addr a;
    bool null_path;
    size_t len = strlen(text);

    if (text[0] == '@') {
        /* "@domain": parse "x@domain" for the domain's checks, keep the domain. */
        char probe[ADDR_DOMAIN_MAX + 3];
        if (len > ADDR_DOMAIN_MAX + 1) {
            str_printf(why, whylen, "domain longer than 255 octets");
            return false;
        }
        snprintf(probe, sizeof probe, "x%s", text);
        if (addr_parse_path(probe, len + 1, &a, &null_path, why, whylen) != ADDR_OK)
            return false;
        str_printf(out, outlen, "@%s", a.domain);
        return true;
    }
    if (addr_parse_path(text, len, &a, &null_path, why, whylen) != ADDR_OK)
        return false;
    if (null_path) {
        str_printf(why, whylen, "the null sender cannot be an alias");
        return false;
    }
    addr_format(&a, out, outlen);
    return true;
}

bool sender_account_add_alias(struct sender_account *acct, const char *alias)
{
    char norm[ADDR_TEXT_MAX + 1];

    if (!sender_alias_normalize(alias, norm, sizeof norm, NULL, 0))
        return false;
    acct->aliases = xrealloc(acct->aliases, (acct->alias_count + 1) * sizeof *acct->aliases);
    acct->aliases[acct->alias_count++] = xstrdup(norm);
    return true;
}

static void load_alias(const struct store_alias *a, void *arg)
{
    /* A row that no longer parses (written by hand) owns nothing. */
    sender_account_add_alias(arg, a->address);
}

enum store_status sender_account_load(struct store *s, const char *name,
                                      struct sender_account *acct)
{
    enum store_status st;

    sender_account_init(acct, name);
    st = store_alias_each(s, acct->name, load_alias, acct, NULL);
    return st == STORE_NOTFOUND ? STORE_OK : st;
}

void sender_account_free(struct sender_account *acct)
{
    if (acct == NULL)
        return;
    for (size_t i = 0; i < acct->alias_count; i++)
        free(acct->aliases[i]);
    free(acct->aliases);
    free(acct->name);
    memset(acct, 0, sizeof *acct);
}

/* One stored alias against a: "@domain" matches the domain, else the whole address. */
static bool alias_matches(const char *alias, const struct addr *a, bool case_sensitive)
{
    const char *at = strrchr(alias, '@');
    size_t local_len;

    if (at == NULL)
        return false;
    if (str_casecmp(at + 1, a->domain) != 0)
        return false;
    if (at == alias)
        return true; /* @domain */
    local_len = (size_t)(at - alias);
    if (local_len != strlen(a->local))
        return false;
    return case_sensitive ? strncmp(alias, a->local, local_len) == 0
                          : strncasecmp(alias, a->local, local_len) == 0;
}

bool sender_owns(const struct sender_account *acct, const struct addr *a, bool case_sensitive)
{
    if (a->local[0] == '\0' || a->domain[0] == '\0')
        return false;
    if (acct->has_login && str_casecmp(acct->login.domain, a->domain) == 0 &&
        local_compare(acct->login.local, a->local, case_sensitive) == 0)
        return true;
    for (size_t i = 0; i < acct->alias_count; i++)
        if (alias_matches(acct->aliases[i], a, case_sensitive))
            return true;
    return false;
}

struct verdict sender_check_addresses(const struct config *cfg, const struct sender_account *acct,
                                      const struct addr *addrs, size_t n, const char *where)
{
    char text[ADDR_TEXT_MAX + 1], shown[2 * ADDR_TEXT_MAX], account[256];
    struct verdict_args args = {0};

    if (cfg->sender_check == SENDER_CHECK_OFF)
        return verdict_continue();
    for (size_t i = 0; i < n; i++) {
        if (sender_owns(acct, &addrs[i], cfg->sender_case_sensitive))
            continue;
        addr_format(&addrs[i], text, sizeof text);
        str_escape_word(shown, sizeof shown, text);
        str_escape_word(account, sizeof account, acct->name);
        if (cfg->sender_check == SENDER_CHECK_LOG)
            return verdict_make(VERDICT_CONTINUE, REPLY_NONE, "sender", NULL,
                                "would reject: %s=<%s> not owned by account=%s", where, shown,
                                account);
        args.address = text;
        return verdict_make(VERDICT_REJECT, REPLY_SENDER_MISMATCH, "sender", &args,
                            "%s=<%s> not owned by account=%s", where, shown, account);
    }
    return verdict_continue();
}
