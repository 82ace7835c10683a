/*
 * ctl_unblock: "unblock this IP" (`ingressctl unblock IP --reason TEXT`, POST /api/unblock of
 * ingress-console), the support desk's answer to "my office IP is blocked".
 *
 * What can refuse a client address: a cidr block entry covering it (the longest prefix that
 * contains the address decides: lib/lists.c), a DNSBL listing of the address (dnsbl_zones), or a
 * ptr/helo entry matching the names it showed (not the address itself).  An allow entry of any
 * kind beats a block of any kind, and a cidr allow of the address alone (/32, /128) is the
 * longest prefix there is.  So:
 *   - block entries of exactly this address are deleted;
 *   - when a wider block still covers it, or the decision log shows a DNSBL refusal of it in the
 *     last UNBLOCK_DECISIONS_DAYS days, an allow entry of the address alone is added;
 *   - ptr/helo entries matching the names the address used lately are named, not changed: they
 *     are about other clients too, and the postmaster decides.
 * Each change is a list entry change recorded with who, from where and why (ctl_list_add,
 * ctl_list_del), with the key of the address.  The milters see it at their next look at the
 * lists' version: within lists_reload_interval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cidr.h"
#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "lists.h"
#include "util.h"

/* The recent decisions of the address looked at for DNSBL refusals and the names it used: this
 * many days back, at most this many rows, and at most this many distinct client and HELO names. */
#define UNBLOCK_DECISIONS_DAYS 7
#define UNBLOCK_DECISIONS_MAX 200
#define UNBLOCK_NAMES_MAX 8

/* What the entries and the decision log say about the address. */
struct unblock_scan {
    const char *ip;
    int64_t now;
    json_t *covering;    /* cidr entries containing the address, as ctl_list_entry_json */
    json_t *exact_block; /* the block entry of exactly the address ((kind, value) is unique) */
    bool dnsbl;
    char *names[UNBLOCK_NAMES_MAX], *helos[UNBLOCK_NAMES_MAX];
    size_t nnames, nhelos;
};

static void scan_entry(const struct list_entry *e, void *arg)
{
    struct unblock_scan *s = arg;
    struct cidr net;

    if (!cidr_parse(e->value, &net) || !cidr_contains(&net, s->ip))
        return;
    ctl_json_append(s->covering, ctl_list_entry_json(e, s->now));
    if (strcmp(e->action, "block") == 0 && strcmp(e->value, s->ip) == 0 && s->exact_block == NULL)
        s->exact_block = ctl_list_entry_json(e, s->now);
}

static void add_name(char **names, size_t *n, const char *name)
{
    if (name == NULL || name[0] == '\0' || strcmp(name, "unknown") == 0 ||
        *n >= UNBLOCK_NAMES_MAX || strlen(name) > 253)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return;
    names[(*n)++] = xstrdup(name);
}

static void scan_decision(const struct decision *d, void *arg)
{
    struct unblock_scan *s = arg;

    if (d->client_ip == NULL || strcmp(d->client_ip, s->ip) != 0)
        return;
    if (d->check != NULL && strcmp(d->check, "dnsbl") == 0 && d->action != NULL &&
        strcmp(d->action, "reject") == 0)
        s->dnsbl = true;
    add_name(s->names, &s->nnames, d->client_name);
    add_name(s->helos, &s->nhelos, d->helo);
}

static void scan_free(struct unblock_scan *s)
{
    json_decref(s->exact_block);
    for (size_t i = 0; i < s->nnames; i++)
        free(s->names[i]);
    for (size_t i = 0; i < s->nhelos; i++)
        free(s->helos[i]);
    json_decref(s->covering);
}

/* A ptr or helo entry that would block name (one the address used lately), for not_ip. */
static void name_blocks(const struct lists *l, bool ptr, const char *name, json_t *not_ip)
{
    struct lists_hit hit;
    enum lists_match m = ptr ? lists_check_ptr(l, name, &hit) : lists_check_helo(l, name, &hit);

    if (m != LISTS_BLOCKED)
        return;
    json_t *o = ctl_json_object();
    ctl_json_set_text(o, "kind", lists_kind_name(hit.kind));
    ctl_json_set_text(o, "value", hit.value);
    ctl_json_set_text(o, "matches", name);
    ctl_json_set_text(o, "note",
                      "not IP-based: it blocks this name whatever the address, and is "
                      "not changed by unblock (list del it, or add an allow entry)");
    ctl_json_append(not_ip, o);
}

void ctl_unblock_takes_effect(const struct config *cfg, char *out, size_t outlen)
{
    int64_t seconds = (cfg->lists_reload_interval + 999) / 1000;

    if (seconds == 0)
        str_copy(out, outlen, "at once");
    else
        str_printf(out, outlen, "within %lld second%s", (long long)seconds,
                   seconds == 1 ? "" : "s");
}

/* The address's state in a fresh snapshot of the lists: allowed, blocked or neither. */
static enum lists_match client_state(struct ctl *ctl, const char *ip, int64_t now,
                                     const struct unblock_scan *s, json_t *not_ip, bool *failed)
{
    char why[256];
    struct lists *l = lists_load(ctl->store, now, why, sizeof why);

    *failed = l == NULL;
    if (l == NULL) {
        str_copy(ctl->err.text, sizeof ctl->err.text, why);
        return LISTS_NONE;
    }
    enum lists_match m = lists_check_client(l, ip, NULL);
    for (size_t i = 0; not_ip != NULL && i < s->nnames; i++)
        name_blocks(l, true, s->names[i], not_ip);
    for (size_t i = 0; not_ip != NULL && i < s->nhelos; i++)
        name_blocks(l, false, s->helos[i], not_ip);
    lists_unref(l);
    return m;
}

enum store_status ctl_unblock(struct ctl *ctl, const char *ip_text, const char *reason,
                              json_t **result)
{
    char ip[LISTS_VALUE_MAX], why[256], previous[16], detail[600];
    int64_t now = (int64_t)time(NULL);
    bool failed;

    *result = NULL;
    if (!cidr_is_address(ip_text) ||
        !lists_normalize_value(LISTS_CIDR, ip_text, ip, sizeof ip, why, sizeof why))
        return STORE_NOTFOUND;
    struct unblock_scan s = {.ip = ip, .now = now, .covering = ctl_json_array()};
    struct store_decision_query q = {
        .key = ip, .since = now - UNBLOCK_DECISIONS_DAYS * 86400, .limit = UNBLOCK_DECISIONS_MAX};
    enum store_status st = store_list_each(ctl->store, "cidr", now, scan_entry, &s, &ctl->err);
    if (st == STORE_OK || st == STORE_NOTFOUND)
        st = store_decision_search(ctl->store, &q, scan_decision, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        scan_free(&s);
        return st;
    }
    json_t *doc = ctl_json_object(), *removed = ctl_json_array(), *not_ip = ctl_json_array();
    ctl_json_set_text(doc, "ip", ip);
    ctl_json_set(doc, "covering", json_incref(s.covering));
    ctl_json_set_bool(doc, "dnsbl", s.dnsbl);
    if (s.exact_block != NULL) {
        st = ctl_list_del(ctl, "cidr", ip, reason);
        if (st != STORE_OK && st != STORE_NOTFOUND)
            goto failed;
        if (st == STORE_OK)
            ctl_json_append(removed, json_incref(s.exact_block));
    }
    enum lists_match m = client_state(ctl, ip, now, &s, not_ip, &failed);
    if (failed) {
        st = STORE_ERROR;
        goto failed;
    }
    json_t *allowed = json_null();
    /* A wider block, or a DNSBL listing: an allow of the address alone overrides either. */
    if (m == LISTS_BLOCKED || (s.dnsbl && m != LISTS_ALLOWED)) {
        str_printf(detail, sizeof detail, "unblock: %s",
                   m == LISTS_BLOCKED ? "overrides a wider block entry"
                                      : "overrides a DNSBL listing");
        struct list_entry e = {.kind = "cidr",
                               .value = ip,
                               .action = "allow",
                               .reason = reason,
                               .public_text = "",
                               .added_by = ctl->origin.who,
                               .added_at = now};
        st = ctl_list_add(ctl, &e, previous, sizeof previous);
        if (st != STORE_OK) {
            json_decref(allowed);
            goto failed;
        }
        json_decref(allowed);
        allowed = ctl_list_entry_json(&e, now);
        ctl_json_set_text(allowed, "why", detail + strlen("unblock: "));
    }
    ctl_json_set(doc, "removed", removed);
    ctl_json_set(doc, "allowed", allowed);
    ctl_json_set(doc, "not_ip", not_ip);
    bool changed = json_array_size(removed) > 0 || !json_is_null(allowed);
    ctl_json_set_bool(doc, "changed", changed);
    ctl_json_set_bool(doc, "was_blocked", changed || m == LISTS_BLOCKED);
    ctl_unblock_takes_effect(ctl->cfg, why, sizeof why);
    ctl_json_set_text(doc, "takes_effect", changed ? why : "nothing to do");
    if (changed) {
        str_printf(detail, sizeof detail, "%zu block entr%s removed%s", json_array_size(removed),
                   json_array_size(removed) == 1 ? "y" : "ies",
                   json_is_null(allowed) ? "" : ", an allow entry added");
        ctl_change_record(ctl, "unblock", ip, detail, reason);
    }
    scan_free(&s);
    *result = doc;
    return STORE_OK;

failed:
    json_decref(removed);
    json_decref(not_ip);
    json_decref(doc);
    scan_free(&s);
    return st;
}

/* The answer in words: what blocked the address, what was done, and when it applies. */
static void print_unblock(const json_t *doc)
{
    const char *ip = json_string_value(json_object_get(doc, "ip"));
    const json_t *removed = json_object_get(doc, "removed"),
                 *allowed = json_object_get(doc, "allowed");
    const json_t *not_ip = json_object_get(doc, "not_ip");
    char a[LISTS_VALUE_MAX * 4], b[LISTS_VALUE_MAX * 4];

    for (size_t i = 0; i < json_array_size(removed); i++)
        printf(
            "removed the block entry cidr %s\n",
            str_printable(a, sizeof a,
                          json_string_value(json_object_get(json_array_get(removed, i), "value"))));
    if (!json_is_null(allowed))
        printf("added the allow entry cidr %s: it %s\n", ip,
               json_string_value(json_object_get(allowed, "why")));
    for (size_t i = 0; i < json_array_size(not_ip); i++) {
        const json_t *v = json_array_get(not_ip, i);
        printf("not changed: %s %s blocks the name %s (not IP-based: list del it, or list add an "
               "allow entry)\n",
               json_string_value(json_object_get(v, "kind")),
               str_printable(a, sizeof a, json_string_value(json_object_get(v, "value"))),
               str_printable(b, sizeof b, json_string_value(json_object_get(v, "matches"))));
    }
    if (json_is_true(json_object_get(doc, "changed")))
        printf("takes effect %s (lists_reload_interval)\n",
               json_string_value(json_object_get(doc, "takes_effect")));
}

int ctl_verb_unblock(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    char shown[CTL_KEY_MAX];
    json_t *doc;
    int rc = ctl_split_args(ctl, argc, argv, 1, "--reason --json", &a);

    if (rc != CTL_EXIT_OK)
        return rc;
    if (a.npos != 1 || a.reason == NULL)
        return ctl_usage_error(ctl, "unblock: wrong arguments (unblock IP --reason TEXT [--json])");
    if (!cidr_is_address(a.pos[0]))
        return ctl_usage_error(ctl, "unblock: %s is not an IP address",
                               str_printable(shown, sizeof shown, a.pos[0]));
    if (a.reason[0] == '\0' || strlen(a.reason) > CTL_REASON_MAX || !lists_reason_valid(a.reason))
        return ctl_usage_error(ctl, "unblock: --reason: printable text, at most %d characters",
                               CTL_REASON_MAX);
    enum store_status st = ctl_unblock(ctl, a.pos[0], a.reason, &doc);
    if (st != STORE_OK)
        return ctl_store_error(ctl, "unblocking");
    bool changed = json_is_true(json_object_get(doc, "changed"));
    size_t not_ip = json_array_size(json_object_get(doc, "not_ip"));
    if (a.json) {
        ctl_json_print(doc);
    } else {
        if (!changed && not_ip == 0)
            fprintf(stderr,
                    "%s: nothing blocks it (no cidr block entry covers it, no DNSBL "
                    "refusal in the last %d days)\n",
                    a.pos[0], UNBLOCK_DECISIONS_DAYS);
        print_unblock(doc);
        json_decref(doc);
    }
    return changed ? CTL_EXIT_OK : CTL_EXIT_NOTFOUND;
}
