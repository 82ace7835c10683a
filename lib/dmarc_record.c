/*
 * dmarc_record: the DMARC record parser (RFC 7489 6.3 and 6.4 over RFC 6376 3.2's tag-list); what
 * it accepts and refuses is in dmarc_record.h.
 *
 * An own parser rather than libopendmarc's: see the README ("DMARC") for the reasons.  It reads
 * the record once, left to right, splitting at ';' (which no tag name or value may contain), and
 * never copies more than a bounded value; nothing it reads reaches a log line unescaped.
 */
#include "dmarc_record.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define DMARC_RI_DEFAULT 86400

struct span {
    const char *p;
    size_t n;
};

/* FWS of RFC 6376 3.2 (WSP, and CRLF followed by WSP), taken loosely: any of the four. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 6376 3.2 VALCHAR: printable ASCII but ';'. */
static bool is_valchar(char c)
{
    return c >= 0x21 && c <= 0x7e && c != ';';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static struct span trim(struct span s)
{
    while (s.n > 0 && is_space(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_space(s.p[s.n - 1]))
        s.n--;
    return s;
}

/* True when s equals word, ASCII case ignored (RFC 5234 2.3: quoted strings). */
static bool span_is(struct span s, const char *word)
{
    size_t n = strlen(word);
    return s.n == n && strncasecmp(s.p, word, n) == 0;
}

/* Appends "; text" (escaped) to the record's notes, bounded. */
static void note(struct dmarc_record *r, const char *text)
{
    char shown[DMARC_NOTES_MAX];
    size_t len = strlen(r->notes);
    str_escape(shown, sizeof shown, text);
    if (len + 3 < sizeof r->notes)
        str_printf(r->notes + len, sizeof r->notes - len, "%s%s", len > 0 ? "; " : "", shown);
}

/* A tag and its value, as "name=value" for a note (the value cut at 64 bytes). */
static void note_tag(struct dmarc_record *r, struct span name, struct span value, const char *what)
{
    char text[160];
    snprintf(text, sizeof text, "%.*s=%.*s%s %s", (int)name.n, name.p,
             (int)(value.n > 64 ? 64 : value.n), value.p, value.n > 64 ? "..." : "", what);
    note(r, text);
}

/*
 * One tag-spec (RFC 6376 3.2), already trimmed: a tag-name (ALPHA *(ALPHA / DIGIT / "_")), '='
 * with optional white space around it, and a value of VALCHARs with white space only between
 * them.  False with the reason.
 */
static bool split_tag(struct span elem, struct span *name, struct span *value, char *why,
                      size_t whylen)
{
    size_t i = 0;
    if (elem.n == 0 || !is_alpha(elem.p[0])) {
        str_printf(why, whylen, "a tag name must start with a letter");
        return false;
    }
    while (i < elem.n && (is_alpha(elem.p[i]) || is_digit(elem.p[i]) || elem.p[i] == '_'))
        i++;
    *name = (struct span){elem.p, i};
    while (i < elem.n && is_space(elem.p[i]))
        i++;
    if (i >= elem.n || elem.p[i] != '=') {
        str_printf(why, whylen, "tag %.*s has no '='", (int)(name->n > 32 ? 32 : name->n), name->p);
        return false;
    }
    *value = trim((struct span){elem.p + i + 1, elem.n - i - 1});
    for (size_t k = 0; k < value->n; k++) {
        if (!is_valchar(value->p[k]) && !is_space(value->p[k])) {
            str_printf(why, whylen, "byte 0x%02x in the value of tag %.*s",
                       (unsigned char)value->p[k], (int)(name->n > 32 ? 32 : name->n), name->p);
            return false;
        }
    }
    return true;
}

/* "none" / "quarantine" / "reject"; false for anything else. */
static bool parse_policy(struct span v, enum dmarc_policy *out)
{
    static const char *const names[] = {"none", "quarantine", "reject"};
    for (int i = 0; i < 3; i++) {
        if (span_is(v, names[i])) {
            *out = (enum dmarc_policy)i;
            return true;
        }
    }
    return false;
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * RFC 3986 URI characters a DMARC URI may hold unencoded: unreserved, gen-delims and sub-delims
 * but ',' and '!' (RFC 7489 6.4: they separate URIs and introduce the size limit) and ';'.
 */
static bool is_uri_char(char c)
{
    return is_alpha(c) || is_digit(c) || strchr("-._~:/?#[]@$&'()*+=", c) != NULL;
}

/*
 * One dmarc-uri (RFC 7489 6.4): URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ], the URI absolute
 * (a scheme, ':', something).  Only the syntax is checked: which schemes are used is the report
 * sender's business.
 */
static bool uri_valid(struct span u)
{
    size_t i = 0;
    if (u.n == 0 || !is_alpha(u.p[0]))
        return false;
    while (i < u.n && (is_alpha(u.p[i]) || is_digit(u.p[i]) || strchr("+-.", u.p[i]) != NULL))
        i++;
    if (i >= u.n || u.p[i] != ':' || i + 1 >= u.n)
        return false;
    for (i++; i < u.n && u.p[i] != '!'; i++) {
        if (u.p[i] == '%') {
            if (i + 2 >= u.n || !is_hex(u.p[i + 1]) || !is_hex(u.p[i + 2]))
                return false;
            i += 2;
        } else if (!is_uri_char(u.p[i])) {
            return false;
        }
    }
    if (i == u.n)
        return true;
    size_t digits = 0;
    for (i++; i < u.n && is_digit(u.p[i]); i++)
        digits++;
    if (digits == 0)
        return false;
    if (i < u.n && strchr("kmgtKMGT", u.p[i]) != NULL)
        i++;
    return i == u.n;
}

/* rua= or ruf=: URIs separated by ',' with white space around them.  Keeps rua's valid ones. */
static size_t parse_uris(struct dmarc_record *r, struct span name, struct span v, bool keep)
{
    size_t valid = 0;
    for (size_t start = 0; start <= v.n;) {
        size_t end = start;
        while (end < v.n && v.p[end] != ',')
            end++;
        struct span u = trim((struct span){v.p + start, end - start});
        if (!uri_valid(u)) {
            note_tag(r, name, u, "is not a URI, ignored");
        } else {
            valid++;
            if (keep && r->nrua < DMARC_RUA_MAX && u.n <= DMARC_URI_MAX) {
                memcpy(r->rua[r->nrua], u.p, u.n);
                r->rua[r->nrua++][u.n] = '\0';
            } else if (keep) {
                note_tag(r, name, u, "not kept (too long, or more than 4 URIs)");
            }
        }
        start = end + 1;
    }
    return valid;
}

/* 1*maxdigits DIGIT into *out; false when not that or over max. */
static bool parse_number(struct span v, size_t maxdigits, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;
    if (v.n == 0 || v.n > maxdigits)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        if (!is_digit(v.p[i]))
            return false;
        if (n <= max)
            n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    *out = n > max ? max : n;
    return true;
}

static void set_defaults(struct dmarc_record *r)
{
    memset(r, 0, sizeof *r);
    r->p = r->sp = DMARC_POLICY_NONE;
    r->adkim = r->aspf = ORGDOMAIN_RELAXED;
    r->pct = 100;
    r->ri = DMARC_RI_DEFAULT;
}

/* What the tags seen so far say; the policies' validity is decided after the last tag. */
struct tag_state {
    struct span seen[DMARC_TAGS_MAX];
    size_t nseen;
    bool p_given, p_bad, sp_bad;
    size_t rua_valid;
};

/* RFC 7489 6.3: one known tag's value (a bad one takes the default), unknown tags ignored. */
static void apply_tag(struct dmarc_record *r, struct tag_state *t, struct span name, struct span v)
{
    uint64_t n;
    if (span_is(name, "p")) {
        t->p_given = true;
        t->p_bad = !parse_policy(v, &r->p);
    } else if (span_is(name, "sp")) {
        r->sp_given = true;
        t->sp_bad = !parse_policy(v, &r->sp);
    } else if (span_is(name, "rua")) {
        t->rua_valid = parse_uris(r, name, v, true);
    } else if (span_is(name, "ruf")) {
        parse_uris(r, name, v, false); /* failure reports are not sent: only checked */
    } else if (span_is(name, "adkim") || span_is(name, "aspf")) {
        enum orgdomain_mode *mode = span_is(name, "adkim") ? &r->adkim : &r->aspf;
        if (span_is(v, "s"))
            *mode = ORGDOMAIN_STRICT;
        else if (!span_is(v, "r"))
            note_tag(r, name, v, "is not r or s, relaxed used");
    } else if (span_is(name, "pct")) {
        if (parse_number(v, 3, 1000, &n) && n <= 100)
            r->pct = (unsigned)n;
        else
            note_tag(r, name, v, "is not 0 to 100, 100 used");
    } else if (span_is(name, "ri")) {
        if (parse_number(v, 32, UINT32_MAX, &n))
            r->ri = (uint32_t)n;
        else
            note_tag(r, name, v, "is not a number of seconds, 86400 used");
    }
    /* fo= and rf= only concern failure reports, which are not sent; other tags: RFC 7489 6.3. */
}

/* Records the tag name; false when it was seen before (RFC 6376 3.2) or there are too many. */
static bool tag_new(struct tag_state *t, struct span name, char *why, size_t whylen)
{
    for (size_t i = 0; i < t->nseen; i++) {
        if (t->seen[i].n == name.n && strncasecmp(t->seen[i].p, name.p, name.n) == 0) {
            str_printf(why, whylen, "tag %.*s given twice", (int)(name.n > 32 ? 32 : name.n),
                       name.p);
            return false;
        }
    }
    if (t->nseen >= DMARC_TAGS_MAX) {
        str_printf(why, whylen, "more than %d tags", DMARC_TAGS_MAX);
        return false;
    }
    t->seen[t->nseen++] = name;
    return true;
}

static enum dmarc_record_status invalid(struct dmarc_record *r, char *why, size_t whylen,
                                        const char *reason)
{
    char shown[256];
    set_defaults(r);
    str_printf(why, whylen, "%s", str_escape(shown, sizeof shown, reason));
    return DMARC_RECORD_INVALID;
}

/* RFC 7489 6.6.3 step 6: a policy that is missing or not valid. */
static enum dmarc_record_status settle_policy(struct dmarc_record *r, const struct tag_state *t,
                                              char *why, size_t whylen)
{
    const char *problem = !t->p_given ? "no p= tag"
                          : t->p_bad  ? "p= is not none, quarantine or reject"
                          : t->sp_bad ? "sp= is not none, quarantine or reject"
                                      : NULL;
    if (problem == NULL) {
        if (!r->sp_given)
            r->sp = r->p;
        return DMARC_RECORD_OK;
    }
    if (t->rua_valid == 0)
        return invalid(r, why, whylen, problem);
    r->p = r->sp = DMARC_POLICY_NONE;
    r->p_assumed = true;
    char text[128];
    snprintf(text, sizeof text, "%s: p=none used, since rua= is valid", problem);
    note(r, text);
    return DMARC_RECORD_OK;
}

enum dmarc_record_status dmarc_record_parse(const char *text, size_t len, struct dmarc_record *out,
                                            char *why, size_t whylen)
{
    struct tag_state t = {.nseen = 0};
    struct span name, value;
    char reason[160];

    set_defaults(out);
    str_printf(why, whylen, "%s", "");
    size_t end = 0;
    while (end < len && text[end] != ';')
        end++;
    struct span first = trim((struct span){text, end});
    /* RFC 7489 6.6.3 step 2: v=DMARC1 first, "DMARC1" in exactly this case. */
    if (!split_tag(first, &name, &value, reason, sizeof reason) || !span_is(name, "v") ||
        value.n != 6 || memcmp(value.p, "DMARC1", 6) != 0) {
        str_printf(why, whylen, "does not start with v=DMARC1");
        return DMARC_RECORD_NOT_DMARC;
    }
    if (len > DMARC_RECORD_MAX) {
        snprintf(reason, sizeof reason, "longer than %d bytes", DMARC_RECORD_MAX);
        return invalid(out, why, whylen, reason);
    }
    tag_new(&t, name, NULL, 0);
    for (size_t start = end + 1; start < len; start = end + 1) {
        end = start;
        while (end < len && text[end] != ';')
            end++;
        struct span elem = trim((struct span){text + start, end - start});
        if (elem.n == 0)
            continue; /* ";;" and a trailing "; " */
        if (!split_tag(elem, &name, &value, reason, sizeof reason) ||
            !tag_new(&t, name, reason, sizeof reason))
            return invalid(out, why, whylen, reason);
        apply_tag(out, &t, name, value);
    }
    return settle_policy(out, &t, why, whylen);
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
    switch (p) {
    case DMARC_POLICY_NONE:
        return "none";
    case DMARC_POLICY_QUARANTINE:
        return "quarantine";
    case DMARC_POLICY_REJECT:
        return "reject";
    }
    return "?";
}
