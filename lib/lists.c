/*
 * lists: block/allow list snapshots, the cache that keeps the current one, recipient rules, and
 * the combined decision at RCPT (see lists.h for the rules; DNSBL queries are in dnsbl.c).
 *
 * Names are compared as RFC 1035 2.3.3 says (ASCII case-insensitive) and label by label: a domain
 * entry matches the name itself and any name that ends in "." followed by it (RFC 1034 3.1: a
 * domain is a subtree), found by looking up each label-aligned suffix of the name, longest first.
 * An entry with a leading dot (".outbound.example") is stored with its dot and found as the
 * suffix that follows a '.' of the name, so it never matches the name itself (postgrey's and
 * Postfix's ".domain" form).
 *
 * Regular expressions (ptr_regex, helo_regex) are PCRE2's, compiled when the snapshot is built and
 * matched without JIT under a match context that limits the steps and the depth of one match: the
 * subject is a name from the network, and a pattern that backtracks without bound would hold a
 * milter thread for as long as it liked.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lists.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "cidr.h"
#include "cidrtree.h"
#include "dnsbl.h"
#include "log.h"
#include "util.h"

static const char *const kind_names[LISTS_KIND_COUNT] = {
    [LISTS_CIDR] = "cidr",
    [LISTS_PTR_DOMAIN] = "ptr_domain",
    [LISTS_HELO_DOMAIN] = "helo_domain",
    [LISTS_SENDER_DOMAIN] = "sender_domain",
    [LISTS_SENDER] = "sender",
    [LISTS_PTR_REGEX] = "ptr_regex",
    [LISTS_HELO_REGEX] = "helo_regex",
    [LISTS_RECIPIENT] = "recipient",
};

const char *lists_kind_name(enum lists_kind kind)
{
    return (unsigned)kind < LISTS_KIND_COUNT ? kind_names[kind] : "?";
}

bool lists_kind_parse(const char *name, enum lists_kind *kind)
{
    for (int i = 0; i < LISTS_KIND_COUNT; i++) {
        if (name != NULL && strcmp(name, kind_names[i]) == 0) {
            *kind = (enum lists_kind)i;
            return true;
        }
    }
    return false;
}

static const char *const action_names[] = {
    [LISTS_BLOCK] = "block",
    [LISTS_ALLOW] = "allow",
    [LISTS_GREYLIST_EXEMPT] = "greylist_exempt",
};
#define ACTION_COUNT (sizeof action_names / sizeof action_names[0])

const char *lists_action_name(enum lists_action action)
{
    return (unsigned)action < ACTION_COUNT ? action_names[action] : "?";
}

bool lists_action_parse(const char *name, enum lists_action *action)
{
    for (size_t i = 0; i < ACTION_COUNT; i++) {
        if (name != NULL && strcmp(name, action_names[i]) == 0) {
            *action = (enum lists_action)i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Normalizing values                                                                          */
/* ------------------------------------------------------------------------------------------ */

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

/* Lower-cases src into dst (size dstlen), dropping one pair of <> and a final dot; false when it
 * does not fit.  The result may still be anything: the callers validate it. */
static bool lower_copy(char *dst, size_t dstlen, const char *src)
{
    size_t len = strnlen(src, dstlen + 2);

    if (len >= 2 && src[0] == '<' && src[len - 1] == '>') {
        src++;
        len -= 2;
    }
    if (len > 1 && src[len - 1] == '.')
        len--;
    if (len >= dstlen)
        return false;
    for (size_t i = 0; i < len; i++)
        dst[i] = ascii_lower(src[i]);
    dst[len] = '\0';
    return true;
}

/* A domain of a list or a rule: a valid name with at least one dot-free label, no literal. */
static bool domain_valid(const char *name)
{
    return name[0] != '\0' && name[0] != '.' && dns_name_valid(name);
}

/* local@domain: a local part of printable ASCII without spaces (RFC 5321 4.5.3.1.1: at most 64
 * octets), the last '@', and a valid domain. */
static bool address_valid(const char *addr, char *why, size_t whylen)
{
    const char *at = strrchr(addr, '@');

    if (at == NULL || at == addr) {
        str_printf(why, whylen, "not an address (local@domain)");
        return false;
    }
    if (at - addr > 64) {
        str_printf(why, whylen, "local part longer than 64 characters");
        return false;
    }
    for (const char *p = addr; p < at; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            str_printf(why, whylen, "local part with spaces or non-ASCII characters");
            return false;
        }
    }
    if (!domain_valid(at + 1)) {
        str_printf(why, whylen, "bad domain after @");
        return false;
    }
    return true;
}

static bool normalize_cidr(const char *value, char *out, size_t outlen, char *why, size_t whylen)
{
    struct cidr net;
    char text[INET6_ADDRSTRLEN];
    unsigned bits;

    if (strlen(value) > 64 || !cidr_parse(value, &net)) {
        str_printf(why, whylen, "not an address or network (192.0.2.0/24, 2001:db8::/32)");
        return false;
    }
    bits = net.family == AF_INET ? 32 : 128;
    /* Clear the host bits: "192.0.2.7/24" is the network 192.0.2.0/24. */
    for (unsigned i = net.prefix; i < bits; i++)
        net.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    if (inet_ntop(net.family, net.addr, text, sizeof text) == NULL) {
        str_printf(why, whylen, "not an address");
        return false;
    }
    if (net.prefix == bits)
        snprintf(out, outlen, "%s", text);
    else
        snprintf(out, outlen, "%s/%u", text, net.prefix);
    return true;
}

/*
 * Compiles a ptr_regex or helo_regex pattern: caseless (names compare without ASCII case), never
 * UTF (names are ASCII, and "(*UTF)" in a pattern must not turn it on); NULL with PCRE2's message
 * and the offset in why.  The caller frees the code with pcre2_code_free.
 */
static pcre2_code *regex_compile(const char *pattern, char *why, size_t whylen)
{
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                      PCRE2_CASELESS | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP, &error, &offset, NULL);

    if (code == NULL) {
        PCRE2_UCHAR message[160];
        if (pcre2_get_error_message(error, message, sizeof message) < 0)
            str_copy((char *)message, sizeof message, "unknown error");
        str_printf(why, whylen, "not a regular expression: %s at offset %zu", (char *)message,
                   (size_t)offset);
    }
    return code;
}

/* A pattern is kept as written (case matters in "\D" against "\d"): printable ASCII, bounded.
 * keep (may be NULL) gets the compiled pattern, handed over to the caller. */
static bool normalize_regex(const char *value, char *out, size_t outlen, pcre2_code **keep,
                            char *why, size_t whylen)
{
    if (strlen(value) >= outlen) {
        str_printf(why, whylen, "too long (at most %zu characters)", outlen - 1);
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if (*p < 0x20 || *p >= 0x7f) {
            str_printf(why, whylen, "a pattern is printable ASCII");
            return false;
        }
    }
    pcre2_code *code = regex_compile(value, why, whylen);
    if (code == NULL)
        return false;
    if (keep != NULL)
        *keep = code;
    else
        pcre2_code_free(code);
    str_copy(out, outlen, value);
    return true;
}

bool lists_action_allowed(enum lists_kind kind, enum lists_action action)
{
    return kind != LISTS_RECIPIENT || action == LISTS_GREYLIST_EXEMPT;
}

/* "local@", "local@domain" or "domain" (lower case already). */
static bool recipient_valid(const char *value, char *why, size_t whylen)
{
    const char *at = strrchr(value, '@');

    if (at == NULL) {
        if (domain_valid(value))
            return true;
        str_printf(why, whylen, "not an address, local@ or a domain name");
        return false;
    }
    if (at[1] != '\0')
        return address_valid(value, why, whylen);
    if (at == value || at - value > 64 || strcspn(value, " \t\"") < (size_t)(at - value)) {
        str_printf(why, whylen, "not a local part followed by @ (postmaster@)");
        return false;
    }
    return true;
}

bool lists_normalize_value(enum lists_kind kind, const char *value, char *out, size_t outlen,
                           char *why, size_t whylen)
{
    if (value == NULL || value[0] == '\0') {
        str_printf(why, whylen, "empty value");
        return false;
    }
    if (kind == LISTS_CIDR)
        return normalize_cidr(value, out, outlen, why, whylen);
    if (kind == LISTS_PTR_REGEX || kind == LISTS_HELO_REGEX)
        return normalize_regex(value, out, outlen, NULL, why, whylen);
    if (!lower_copy(out, outlen, value)) {
        str_printf(why, whylen, "too long");
        return false;
    }
    if (kind == LISTS_SENDER)
        return address_valid(out, why, whylen);
    if (kind == LISTS_RECIPIENT)
        return recipient_valid(out, why, whylen);
    /* ".example.com": the names under example.com, for the PTR and HELO kinds. */
    bool under = out[0] == '.' && (kind == LISTS_PTR_DOMAIN || kind == LISTS_HELO_DOMAIN);
    if (strchr(out, '@') != NULL || !domain_valid(out + under)) {
        str_printf(why, whylen, "not a domain name (example.com)");
        return false;
    }
    return true;
}

bool lists_public_text_valid(const char *text)
{
    size_t len = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++, len++)
        if (*p < 0x20 || *p >= 0x7f || len >= LISTS_REASON_MAX)
            return false;
    return true;
}

bool lists_reason_valid(const char *reason)
{
    const unsigned char *p = (const unsigned char *)reason, *end = p + strlen(reason);

    if (end - p > LISTS_REASON_MAX)
        return false;
    while (p < end) {
        if (*p < 0x80) {
            if (*p < 0x20 || *p == 0x7f)
                return false;
            p++;
            continue;
        }
        size_t n = str_utf8_length(p, end);
        /* U+0080..U+009F, the C1 controls, are C2 80..C2 9F. */
        if (n == 0 || (p[0] == 0xc2 && p[1] < 0xa0))
            return false;
        p += n;
    }
    return true;
}

bool rules_normalize_recipient(const char *rcpt, char *out, size_t outlen, char *why, size_t whylen)
{
    if (rcpt == NULL || !lower_copy(out, outlen, rcpt)) {
        str_printf(why, whylen, "too long");
        return false;
    }
    return address_valid(out, why, whylen);
}

bool rules_normalize_sender(const char *sender, char *out, size_t outlen, char *why, size_t whylen)
{
    if (sender == NULL || !lower_copy(out, outlen, sender)) {
        str_printf(why, whylen, "too long");
        return false;
    }
    if (out[0] == '@') {
        if (domain_valid(out + 1))
            return true;
        str_printf(why, whylen, "bad domain after @");
        return false;
    }
    return address_valid(out, why, whylen);
}

/* ------------------------------------------------------------------------------------------ */
/* Hash sets of names                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Open addressing, linear probing, at most half full.  Keys are the snapshot's own strings. */
struct strset {
    size_t mask; /* slots - 1; 0 with no slots */
    struct strslot {
        const char *key; /* NULL: empty */
        int32_t entry;
    } * slots;
};

/* FNV-1a: the keys come from the postmaster, not the network, so no keyed hash is needed. */
static uint64_t hash_name(const char *s)
{
    return hash_fnv1a(s, strlen(s));
}

static void strset_init(struct strset *set, size_t count)
{
    size_t slots = 16;

    while (slots < 2 * count)
        slots *= 2;
    set->slots = xcalloc(slots, sizeof *set->slots);
    set->mask = slots - 1;
}

/* Adds key -> entry; a key already there keeps its first entry. */
static void strset_add(struct strset *set, const char *key, int32_t entry)
{
    for (size_t i = hash_name(key) & set->mask;; i = (i + 1) & set->mask) {
        if (set->slots[i].key == NULL) {
            set->slots[i].key = key;
            set->slots[i].entry = entry;
            return;
        }
        if (strcmp(set->slots[i].key, key) == 0)
            return;
    }
}

static int32_t strset_find(const struct strset *set, const char *key)
{
    if (set->slots == NULL)
        return -1;
    for (size_t i = hash_name(key) & set->mask; set->slots[i].key != NULL; i = (i + 1) & set->mask)
        if (strcmp(set->slots[i].key, key) == 0)
            return set->slots[i].entry;
    return -1;
}

/* The entry of the longest label-aligned suffix of name (lower case) that is in set: the suffix
 * itself ("example.com"), then, below the whole name, the suffix with the dot before it
 * (".example.com": only the names under it). */
static int32_t strset_find_suffix(const struct strset *set, const char *name)
{
    for (const char *p = name; p != NULL && *p != '\0';) {
        int32_t entry = strset_find(set, p);
        if (entry < 0 && p > name)
            entry = strset_find(set, p - 1);
        if (entry >= 0)
            return entry;
        p = strchr(p, '.');
        if (p != NULL)
            p++;
    }
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Snapshots                                                                                   */
/* ------------------------------------------------------------------------------------------ */

struct lists_entry {
    enum lists_kind kind;
    enum lists_action action;
    char *value;
    char *reason;
    char *public_text;
    pcre2_code *regex; /* the regex kinds only */
};

/*
 * Entries are looked up in two tables: block and allow entries (which decide), and
 * greylist_exempt entries (which only ever skip greylisting), so that an exemption never shadows
 * a block of a wider network or a shorter suffix.
 */
enum { TABLE_DECIDE, TABLE_EXEMPT, TABLE_COUNT };

struct lists_table {
    struct cidrtree *tree;
    struct strset sets[LISTS_KIND_COUNT]; /* the name kinds */
    int32_t *regexes[LISTS_KIND_COUNT];   /* the regex kinds: entry indexes, in value order */
    size_t regex_count[LISTS_KIND_COUNT];
};

/* A recipient's rule; key is "recipient sender" (a normalized address holds no space), so one
 * hash lookup finds the rule of a (recipient, sender) pair. */
struct lists_rule {
    char *key;
    size_t sender_at; /* the sender's offset in key */
    enum rule_action action;
};

struct lists {
    atomic_uint refs;
    int64_t version;
    int64_t next_expiry;
    struct lists_entry *entries;
    size_t count, cap;
    size_t per_kind[LISTS_KIND_COUNT];
    size_t skipped;
    struct lists_table tables[TABLE_COUNT];
    pcre2_general_context *pcre_memory; /* PCRE2's allocations through xmalloc */
    pcre2_match_context *match_limits;
    /* Counted from lookups on a snapshot that is otherwise read-only: hence a pointer. */
    _Atomic uint64_t *regex_cut_off;
    struct lists_rule *rules;
    size_t rule_count, rule_cap, rules_skipped;
    struct strset rule_set;
};

/* PCRE2 allocates through the wrappers, so that running out of memory is the one error handled
 * in one place (util.h) and no PCRE2 object is ever NULL. */
static void *pcre_alloc(PCRE2_SIZE size, void *unused)
{
    (void)unused;
    return xmalloc(size);
}

static void pcre_free(void *ptr, void *unused)
{
    (void)unused;
    free(ptr);
}

static bool is_regex_kind(enum lists_kind kind)
{
    return kind == LISTS_PTR_REGEX || kind == LISTS_HELO_REGEX;
}

static struct lists_table *table_of(struct lists *l, enum lists_action action)
{
    return &l->tables[action == LISTS_GREYLIST_EXEMPT ? TABLE_EXEMPT : TABLE_DECIDE];
}

static void add_row(const struct list_entry *row, void *arg)
{
    struct lists *l = arg;
    enum lists_kind kind;
    enum lists_action action;
    char value[LISTS_VALUE_MAX];
    struct cidr net;
    pcre2_code *regex = NULL;

    /* A regex is compiled here, once for the snapshot, not again at each lookup. */
    if (!lists_kind_parse(row->kind, &kind) || !lists_action_parse(row->action, &action) ||
        !lists_action_allowed(kind, action) || row->value == NULL ||
        !(is_regex_kind(kind)
              ? normalize_regex(row->value, value, sizeof value, &regex, NULL, 0)
              : lists_normalize_value(kind, row->value, value, sizeof value, NULL, 0)) ||
        (kind == LISTS_CIDR && !cidr_parse(value, &net))) {
        l->skipped++;
        return;
    }
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->entries = xrealloc(l->entries, l->cap * sizeof *l->entries);
    }
    struct lists_entry *e = &l->entries[l->count++];
    e->kind = kind;
    e->action = action;
    e->value = xstrdup(value);
    e->reason = xstrndup(row->reason ? row->reason : "", LISTS_REASON_MAX);
    e->public_text = xstrndup(row->public_text ? row->public_text : "", LISTS_REASON_MAX);
    e->regex = regex;
    l->per_kind[kind]++;
    if (row->expires > 0 && row->expires < l->next_expiry)
        l->next_expiry = row->expires;
    if (kind == LISTS_CIDR)
        cidrtree_insert(table_of(l, action)->tree, &net, (int32_t)(l->count - 1));
}

/* Writes "recipient sender" into key (size keylen); false when it does not fit. */
static bool rule_key(char *key, size_t keylen, const char *recipient, const char *sender)
{
    int n = snprintf(key, keylen, "%s %s", recipient, sender);
    return n > 0 && (size_t)n < keylen;
}

static void add_rule_row(const struct rcpt_rule *row, void *arg)
{
    struct lists *l = arg;
    char to[LISTS_VALUE_MAX], from[LISTS_VALUE_MAX], key[2 * LISTS_VALUE_MAX];
    enum rule_action action = RULE_NONE;

    if (row->action != NULL && strcmp(row->action, "accept") == 0)
        action = RULE_ACCEPT;
    else if (row->action != NULL && strcmp(row->action, "reject") == 0)
        action = RULE_REJECT;
    if (action == RULE_NONE || row->recipient == NULL || row->sender == NULL ||
        !rules_normalize_recipient(row->recipient, to, sizeof to, NULL, 0) ||
        !rules_normalize_sender(row->sender, from, sizeof from, NULL, 0) ||
        !rule_key(key, sizeof key, to, from)) {
        l->rules_skipped++;
        return;
    }
    if (l->rule_count == l->rule_cap) {
        l->rule_cap = l->rule_cap ? l->rule_cap * 2 : 64;
        l->rules = xrealloc(l->rules, l->rule_cap * sizeof *l->rules);
    }
    struct lists_rule *r = &l->rules[l->rule_count++];
    r->key = xstrdup(key);
    r->sender_at = strlen(to) + 1;
    r->action = action;
}

static void build_sets(struct lists *l)
{
    for (int t = 0; t < TABLE_COUNT; t++)
        for (int k = 0; k < LISTS_KIND_COUNT; k++)
            if (k != LISTS_CIDR && !is_regex_kind((enum lists_kind)k))
                strset_init(&l->tables[t].sets[k], l->per_kind[k]);
    for (size_t i = 0; i < l->count; i++) {
        const struct lists_entry *e = &l->entries[i];
        struct lists_table *t = table_of(l, e->action);
        if (is_regex_kind(e->kind)) {
            t->regexes[e->kind] =
                xrealloc(t->regexes[e->kind], (t->regex_count[e->kind] + 1) * sizeof(int32_t));
            t->regexes[e->kind][t->regex_count[e->kind]++] = (int32_t)i;
        } else if (e->kind != LISTS_CIDR) {
            strset_add(&t->sets[e->kind], e->value, (int32_t)i);
        }
    }
    strset_init(&l->rule_set, l->rule_count);
    for (size_t i = 0; i < l->rule_count; i++)
        strset_add(&l->rule_set, l->rules[i].key, (int32_t)i);
}

static void lists_free(struct lists *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->entries[i].value);
        free(l->entries[i].reason);
        free(l->entries[i].public_text);
        pcre2_code_free(l->entries[i].regex);
    }
    free(l->entries);
    for (int t = 0; t < TABLE_COUNT; t++) {
        for (int k = 0; k < LISTS_KIND_COUNT; k++) {
            free(l->tables[t].sets[k].slots);
            free(l->tables[t].regexes[k]);
        }
        cidrtree_free(l->tables[t].tree);
    }
    pcre2_match_context_free(l->match_limits);
    pcre2_general_context_free(l->pcre_memory);
    free(l->regex_cut_off);
    for (size_t i = 0; i < l->rule_count; i++)
        free(l->rules[i].key);
    free(l->rules);
    free(l->rule_set.slots);
    free(l);
}

struct lists *lists_load(struct store *s, int64_t now, char *err, size_t errlen)
{
    struct lists *l = xcalloc(1, sizeof *l);
    enum store_status st;
    struct store_error why;

    atomic_init(&l->refs, 1);
    l->next_expiry = INT64_MAX;
    for (int t = 0; t < TABLE_COUNT; t++)
        l->tables[t].tree = cidrtree_new();
    l->regex_cut_off = xcalloc(1, sizeof *l->regex_cut_off);
    l->pcre_memory = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    l->match_limits = pcre2_match_context_create(l->pcre_memory);
    pcre2_set_match_limit(l->match_limits, LISTS_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(l->match_limits, LISTS_REGEX_DEPTH_LIMIT);
    /* The version first: a change between the two reads shows as a newer version next time. */
    st = store_lists_version(s, &l->version, &why);
    if (st == STORE_OK) {
        st = store_list_each(s, NULL, now > 0 ? now : 1, add_row, l, &why);
        if (st == STORE_NOTFOUND)
            st = STORE_OK;
    }
    if (st == STORE_OK) {
        st = store_rule_each(s, NULL, add_rule_row, l, &why);
        if (st == STORE_NOTFOUND)
            st = STORE_OK;
    }
    if (st != STORE_OK) {
        str_printf(err, errlen, "reading the block/allow lists and recipient rules: %s", why.text);
        lists_free(l);
        return NULL;
    }
    build_sets(l);
    if (l->skipped > 0)
        log_msg(LOG_WARNING,
                "lists: %zu entries of list_entries skipped: bad kind, action or value (fix them "
                "with ingressctl list)",
                l->skipped);
    if (l->rules_skipped > 0)
        log_msg(LOG_WARNING,
                "lists: %zu rules of rcpt_rules skipped: bad recipient, sender or action (fix them "
                "with ingressctl rule)",
                l->rules_skipped);
    return l;
}

struct lists *lists_ref(struct lists *l)
{
    if (l != NULL)
        atomic_fetch_add(&l->refs, 1);
    return l;
}

void lists_unref(struct lists *l)
{
    if (l != NULL && atomic_fetch_sub(&l->refs, 1) == 1)
        lists_free(l);
}

int64_t lists_version(const struct lists *l)
{
    return l->version;
}

size_t lists_count(const struct lists *l, enum lists_kind kind)
{
    return (unsigned)kind < LISTS_KIND_COUNT ? l->per_kind[kind] : l->count;
}

size_t lists_rule_count(const struct lists *l)
{
    return l->rule_count;
}

int64_t lists_next_expiry(const struct lists *l)
{
    return l->next_expiry;
}

uint64_t lists_regex_cut_off(const struct lists *l)
{
    return atomic_load(l->regex_cut_off);
}

/* ------------------------------------------------------------------------------------------ */
/* Lookups                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static enum lists_match hit_of(const struct lists *l, int32_t index, struct lists_hit *hit)
{
    if (index < 0)
        return LISTS_NONE;
    const struct lists_entry *e = &l->entries[index];
    if (hit != NULL) {
        hit->kind = e->kind;
        hit->action = e->action;
        str_copy(hit->value, sizeof hit->value, e->value);
        str_copy(hit->reason, sizeof hit->reason, e->reason);
        str_copy(hit->public_text, sizeof hit->public_text, e->public_text);
    }
    return e->action == LISTS_ALLOW ? LISTS_ALLOWED : LISTS_BLOCKED;
}

static int32_t find_client(const struct lists_table *t, const char *ip)
{
    struct cidr addr;

    if (ip == NULL || !cidr_is_address(ip) || !cidr_parse(ip, &addr))
        return -1;
    return cidrtree_lookup(t->tree, &addr, NULL);
}

/*
 * The first regex of kind in t that matches name (lower case).  A match that reaches a limit is
 * no match: the pattern is the postmaster's, the name the network's, and neither may hold a
 * thread; each one is counted and logged.
 */
static int32_t find_regex(const struct lists *l, const struct lists_table *t, enum lists_kind kind,
                          const char *name)
{
    if (t->regex_count[kind] == 0)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create(1, l->pcre_memory);
    int32_t found = -1;
    for (size_t i = 0; i < t->regex_count[kind] && found < 0; i++) {
        const struct lists_entry *e = &l->entries[t->regexes[kind][i]];
        int rc = pcre2_match(e->regex, (PCRE2_SPTR)name, strlen(name), 0, 0, md, l->match_limits);
        if (rc >= 0) {
            found = t->regexes[kind][i];
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            char shown[DNS_NAME_MAX * 4 + 1], message[120];
            atomic_fetch_add(l->regex_cut_off, 1);
            if (pcre2_get_error_message(rc, (PCRE2_UCHAR *)message, sizeof message) < 0)
                str_copy(message, sizeof message, "error");
            log_msg(LOG_WARNING, "lists: %s %s on %s stopped (%s): taken as no match",
                    lists_kind_name(kind), e->value, str_escape(shown, sizeof shown, name),
                    message);
        }
    }
    pcre2_match_data_free(md);
    return found;
}

/* The entry of t for a name of kind (ptr_domain or helo_domain, then its regex kind), with the
 * name bounded and lower-cased here: it comes from the network. */
static int32_t find_name(const struct lists *l, const struct lists_table *t, enum lists_kind kind,
                         const char *name)
{
    char lower[DNS_NAME_MAX + 1];
    int32_t found = -1;

    if (name == NULL || !lower_copy(lower, sizeof lower, name))
        return -1;
    if (l->per_kind[kind] > 0)
        found = strset_find_suffix(&t->sets[kind], lower);
    if (found < 0 && kind == LISTS_PTR_DOMAIN)
        found = find_regex(l, t, LISTS_PTR_REGEX, lower);
    if (found < 0 && kind == LISTS_HELO_DOMAIN)
        found = find_regex(l, t, LISTS_HELO_REGEX, lower);
    return found;
}

/* The address first (exact), then its domain (suffix): the more specific entry decides. */
static int32_t find_sender(const struct lists *l, const struct lists_table *t, const char *sender)
{
    char lower[LISTS_VALUE_MAX];
    const char *at;
    int32_t found = -1;

    if (sender == NULL || !lower_copy(lower, sizeof lower, sender) ||
        (at = strrchr(lower, '@')) == NULL)
        return -1;
    if (l->per_kind[LISTS_SENDER] > 0)
        found = strset_find(&t->sets[LISTS_SENDER], lower);
    if (found < 0 && l->per_kind[LISTS_SENDER_DOMAIN] > 0)
        found = strset_find_suffix(&t->sets[LISTS_SENDER_DOMAIN], at + 1);
    return found;
}

enum lists_match lists_check_client(const struct lists *l, const char *ip, struct lists_hit *hit)
{
    return l == NULL ? LISTS_NONE : hit_of(l, find_client(&l->tables[TABLE_DECIDE], ip), hit);
}

enum lists_match lists_check_ptr(const struct lists *l, const char *ptr_name, struct lists_hit *hit)
{
    return l == NULL
               ? LISTS_NONE
               : hit_of(l, find_name(l, &l->tables[TABLE_DECIDE], LISTS_PTR_DOMAIN, ptr_name), hit);
}

enum lists_match lists_check_helo(const struct lists *l, const char *helo, struct lists_hit *hit)
{
    return l == NULL
               ? LISTS_NONE
               : hit_of(l, find_name(l, &l->tables[TABLE_DECIDE], LISTS_HELO_DOMAIN, helo), hit);
}

enum lists_match lists_check_sender(const struct lists *l, const char *sender,
                                    struct lists_hit *hit)
{
    return l == NULL ? LISTS_NONE
                     : hit_of(l, find_sender(l, &l->tables[TABLE_DECIDE], sender), hit);
}

enum lists_match lists_check(const struct lists *l, const struct lists_subject *subject,
                             struct lists_hit *hit)
{
    struct lists_hit hits[4];
    enum lists_match found[4] = {
        lists_check_client(l, subject->ip, &hits[0]),
        lists_check_ptr(l, subject->ptr_name, &hits[1]),
        lists_check_helo(l, subject->helo, &hits[2]),
        lists_check_sender(l, subject->sender, &hits[3]),
    };

    /* An allow of any kind beats a block of any kind (allowlist > REJECT). */
    for (enum lists_match want = LISTS_ALLOWED; want != LISTS_NONE;
         want = want == LISTS_ALLOWED ? LISTS_BLOCKED : LISTS_NONE) {
        for (size_t i = 0; i < 4; i++) {
            if (found[i] == want) {
                if (hit != NULL)
                    *hit = hits[i];
                return want;
            }
        }
    }
    return LISTS_NONE;
}

/*
 * The recipient entry of t for rcpt: the address, its base without a +extension, "local@" of
 * either, then its domain by suffix (postgrey's order of specificity).
 */
static int32_t find_recipient(const struct lists *l, const struct lists_table *t, const char *rcpt)
{
    char lower[LISTS_VALUE_MAX], key[LISTS_VALUE_MAX];
    char *at;
    int32_t found = -1;

    if (l->per_kind[LISTS_RECIPIENT] == 0 || rcpt == NULL ||
        !lower_copy(lower, sizeof lower, rcpt) || (at = strrchr(lower, '@')) == NULL || at == lower)
        return -1;
    size_t local = (size_t)(at - lower);
    size_t base = strcspn(lower, "+");
    if (base > local)
        base = local;
    const size_t locals[2] = {local, base};
    for (int i = 0; i < 2 && found < 0; i++) {
        snprintf(key, sizeof key, "%.*s%s", (int)locals[i], lower, at);
        found = strset_find(&t->sets[LISTS_RECIPIENT], key);
        if (found < 0) {
            snprintf(key, sizeof key, "%.*s@", (int)locals[i], lower);
            found = strset_find(&t->sets[LISTS_RECIPIENT], key);
        }
    }
    if (found < 0)
        found = strset_find_suffix(&t->sets[LISTS_RECIPIENT], at + 1);
    return found;
}

bool lists_check_exempt(const struct lists *l, const struct lists_subject *subject,
                        struct lists_hit *hit)
{
    if (l == NULL)
        return false;
    const struct lists_table *t = &l->tables[TABLE_EXEMPT];
    int32_t found = find_client(t, subject->ip);
    if (found < 0)
        found = find_name(l, t, LISTS_PTR_DOMAIN, subject->ptr_name);
    if (found < 0)
        found = find_name(l, t, LISTS_HELO_DOMAIN, subject->helo);
    if (found < 0)
        found = find_sender(l, t, subject->sender);
    if (found < 0)
        found = find_recipient(l, t, subject->rcpt);
    return hit_of(l, found, hit) != LISTS_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* The current snapshot                                                                        */
/* ------------------------------------------------------------------------------------------ */

struct lists_cache {
    pthread_mutex_t lock;
    struct store *store;
    int64_t interval; /* seconds, rounded up */
    /* guarded by lock */
    struct lists *current;
    int64_t next_check; /* unix seconds */
    bool loading;
    bool failing; /* the last read failed: logged once, until a read works again */
};

struct lists_cache *lists_cache_new(struct store *s, int64_t reload_interval_ms)
{
    struct lists_cache *c = xcalloc(1, sizeof *c);

    pthread_mutex_init(&c->lock, NULL);
    c->store = s;
    c->interval = reload_interval_ms > 0 ? (reload_interval_ms + 999) / 1000 : 0;
    return c;
}

void lists_cache_free(struct lists_cache *c)
{
    if (c == NULL)
        return;
    lists_unref(c->current);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Is the snapshot still what the store holds?  Reads the version counter: one indexed row. */
static bool still_current(struct lists_cache *c, const struct lists *l, int64_t now)
{
    int64_t version;

    return l != NULL && now < l->next_expiry &&
           store_lists_version(c->store, &version, NULL) == STORE_OK && version == l->version;
}

struct lists *lists_cache_get(struct lists_cache *c, int64_t now, char *err, size_t errlen)
{
    struct lists *held, *fresh = NULL, *old = NULL, *out;
    char why[512] = "";

    pthread_mutex_lock(&c->lock);
    held = c->current;
    if (held != NULL && (c->loading || (now < c->next_check && now < held->next_expiry))) {
        lists_ref(held);
        pthread_mutex_unlock(&c->lock);
        return held;
    }
    c->loading = true;
    lists_ref(held);
    pthread_mutex_unlock(&c->lock);

    /* The store is read without the cache's lock: the other connections keep the old snapshot
     * meanwhile instead of queueing behind a rebuild. */
    bool tried = !still_current(c, held, now);
    if (tried)
        fresh = lists_load(c->store, now, why, sizeof why);

    pthread_mutex_lock(&c->lock);
    /* Said when reading starts failing and when it works again, not at every try meanwhile
     * (a database away for an hour). */
    bool read = !tried || fresh != NULL; /* the version read, or the lists */
    bool tell_failed = !read && !c->failing, tell_back = read && c->failing;
    c->failing = !read;
    c->loading = false;
    c->next_check = now + c->interval;
    if (fresh != NULL) {
        old = c->current;
        c->current = fresh;
    }
    out = lists_ref(c->current);
    pthread_mutex_unlock(&c->lock);
    if (tell_failed)
        log_msg(LOG_ERR, "%s%s; tried again every %" PRId64 " s, said once", why,
                held ? " (the previous lists stay in use)" : " (no lists in use)", c->interval);
    if (tell_back)
        log_msg(LOG_INFO, "block/allow lists and recipient rules read again");

    lists_unref(old);
    lists_unref(held);
    if (out == NULL)
        str_printf(err, errlen, "%s", why[0] ? why : "block/allow lists not loaded");
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Recipient rules                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* The sender's address first (exact), then its "@domain": the more specific rule decides. */
enum rule_action rules_check(const struct lists *l, const char *rcpt, const char *sender,
                             char *matched, size_t matched_len)
{
    char to[LISTS_VALUE_MAX], from[LISTS_VALUE_MAX], key[2 * LISTS_VALUE_MAX];
    const char *at;
    int32_t index = -1;

    if (matched != NULL && matched_len > 0)
        matched[0] = '\0';
    if (l == NULL)
        return RULE_UNKNOWN;
    if (l->rule_count == 0 || rcpt == NULL || sender == NULL ||
        !rules_normalize_recipient(rcpt, to, sizeof to, NULL, 0) ||
        !lower_copy(from, sizeof from, sender) || (at = strrchr(from, '@')) == NULL || at == from)
        return RULE_NONE;
    if (rule_key(key, sizeof key, to, from))
        index = strset_find(&l->rule_set, key);
    if (index < 0 && rule_key(key, sizeof key, to, at))
        index = strset_find(&l->rule_set, key);
    if (index < 0)
        return RULE_NONE;
    const struct lists_rule *r = &l->rules[index];
    if (matched != NULL && matched_len > 0)
        str_copy(matched, matched_len, r->key + r->sender_at);
    return r->action;
}

/* ------------------------------------------------------------------------------------------ */
/* The decision at RCPT                                                                        */
/* ------------------------------------------------------------------------------------------ */

/*
 * The reply of a block entry: the reply table's text for what the entry refuses (the client, or
 * the sender), followed by the entry's public text when it has one.  The internal reason goes to
 * the detail (the log line, the decision log, `why`) only.
 */
static struct verdict blocked_verdict(const struct lists_rcpt *in)
{
    char value[LISTS_VALUE_MAX * 4], reason[LISTS_REASON_MAX * 4 + 1];
    char public_text[LISTS_REASON_MAX * 4 + 1];
    const struct lists_hit *hit = in->hit;
    struct verdict_args args = {.ip = in->ip, .address = hit->value, .domain = hit->value};
    enum reply_id reply = REPLY_BLACKLISTED;

    if (hit->kind == LISTS_SENDER)
        reply = REPLY_SENDER_BLOCKED;
    else if (hit->kind == LISTS_SENDER_DOMAIN)
        reply = REPLY_SENDER_DOMAIN_BLOCKED;
    struct verdict v = verdict_make(
        VERDICT_REJECT, reply, "lists", &args, "lists=block kind=%s value=%s reason=\"%s\"",
        lists_kind_name(hit->kind), str_escape_word(value, sizeof value, hit->value),
        str_escape(reason, sizeof reason, hit->reason));
    if (hit->public_text[0] != '\0') {
        size_t len = strlen(v.text);
        snprintf(v.text + len, sizeof v.text - len, ": %s",
                 str_escape(public_text, sizeof public_text, hit->public_text));
    }
    return v;
}

struct verdict lists_verdict(const struct config *cfg, const struct lists_rcpt *in,
                             bool *skip_greylist)
{
    char who[LISTS_VALUE_MAX * 4], value[LISTS_VALUE_MAX * 4];
    bool skip = false;
    struct verdict v;

    str_escape_word(who, sizeof who, in->rule_sender ? in->rule_sender : "");
    if (in->rule == RULE_REJECT) {
        v = verdict_make(VERDICT_REJECT, REPLY_RULE_REJECT, "rules", NULL, "rule=reject sender=%s",
                         who);
    } else if (in->rule == RULE_UNKNOWN && !cfg->fail_open) {
        v = verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "rules", NULL,
                         "recipient rules could not be read");
    } else if (in->match == LISTS_ALLOWED && in->hit != NULL) {
        skip = true;
        v = verdict_make(VERDICT_ACCEPT, REPLY_NONE, "lists", NULL, "lists=allow kind=%s value=%s",
                         lists_kind_name(in->hit->kind),
                         str_escape_word(value, sizeof value, in->hit->value));
    } else if (in->match == LISTS_BLOCKED && in->hit != NULL &&
               !(in->rule == RULE_ACCEPT && cfg->rcpt_rules_override_blocks)) {
        v = blocked_verdict(in);
    } else if (in->rule == RULE_ACCEPT) {
        skip = true;
        v = verdict_make(VERDICT_CONTINUE, REPLY_NONE, "rules", NULL, "rule=accept sender=%s%s",
                         who, in->match == LISTS_BLOCKED ? " (overrides a block list entry)" : "");
    } else if (dnsbl_allowlisted(in->dnsbl)) {
        skip = true;
        v = dnsbl_verdict(in->dnsbl);
        v.action = VERDICT_CONTINUE;
        v.reply = REPLY_NONE;
        v.text[0] = '\0';
    } else {
        v = dnsbl_verdict(in->dnsbl);
        /* An exemption from greylisting is no exemption from the DNSBLs. */
        if (v.action == VERDICT_CONTINUE && in->exempt != NULL) {
            skip = true;
            v = verdict_make(VERDICT_CONTINUE, REPLY_NONE, "lists", NULL,
                             "lists=greylist_exempt kind=%s value=%s",
                             lists_kind_name(in->exempt->kind),
                             str_escape_word(value, sizeof value, in->exempt->value));
        }
    }
    if (skip_greylist != NULL)
        *skip_greylist = skip;
    return v;
}
