/*
 * addr: RFC 5321 4.1.2 paths and RFC 5322 3.4 address lists into addresses (see addr.h).
 *
 * Two parsers share the character classes and the output checks:
 *  - the path parser walks bytes: RFC 5321 allows no white space and no comments in a path;
 *  - the list parser reads tokens (atoms, quoted strings, domain literals, specials) after
 *    skipping CFWS, and decides what a run of words was by the token that ends it: '<' makes it a
 *    display name, ':' a group's name, '@' a local part (the parser then reads the words again).
 *    Every token is read at most twice, so the cost is linear in the input.
 *
 * Nothing here allocates except the list's items, and every loop advances the cursor, so hostile
 * input costs at most ADDR_INPUT_MAX bytes of work.
 */
#include "addr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define COMMENT_DEPTH_MAX 32 /* nested comments, RFC 5322 3.2.2 */
#define LABEL_MAX 63         /* RFC 1035 2.3.4 */

struct cursor {
    const unsigned char *p, *end;
    enum addr_status status;
    char *why;
    size_t whylen;
};

static bool fail(struct cursor *c, enum addr_status status, const char *reason)
{
    if (c->status == ADDR_OK) {
        c->status = status;
        str_printf(c->why, c->whylen, "%s", reason);
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Character classes and output                                                               */
/* ------------------------------------------------------------------------------------------ */

/* RFC 5322 3.2.3 atext (ASCII); RFC 6531 3.3 adds UTF-8, handled by str_utf8_length() (lib/util.h).
 */
static bool is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool append(char *buf, size_t bufsize, size_t *used, const unsigned char *s, size_t n)
{
    if (n >= bufsize - *used)
        return false;
    memcpy(buf + *used, s, n);
    *used += n;
    buf[*used] = '\0';
    return true;
}

static bool append_local(struct cursor *c, struct addr *a, size_t *used, const unsigned char *s,
                         size_t n)
{
    if (append(a->local, sizeof a->local, used, s, n))
        return true;
    return fail(c, ADDR_TOO_LONG, "local part longer than 64 octets (RFC 5321 4.5.3.1.1)");
}

static bool append_domain(struct cursor *c, char *domain, size_t *used, const unsigned char *s,
                          size_t n)
{
    if (append(domain, ADDR_DOMAIN_MAX + 1, used, s, n))
        return true;
    return fail(c, ADDR_TOO_LONG, "domain longer than 255 octets (RFC 5321 4.5.3.1.2)");
}

/*
 * RFC 5321 4.1.2 Domain with RFC 6531 3.3's U-labels: labels of letters, digits and hyphens
 * (underscores tolerated, real host names carry them), 1 to 63 octets, no hyphen at either end.
 * A domain literal ("[...]") was checked by its reader.  Lowers ASCII in place.
 */
static bool domain_check(struct cursor *c, char *domain)
{
    size_t label = 0;
    unsigned char prev = '.';

    if (domain[0] == '[')
        goto lower;
    for (unsigned char *p = (unsigned char *)domain;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0)
                return fail(c, ADDR_SYNTAX, "empty label in the domain");
            if (prev == '-')
                return fail(c, ADDR_SYNTAX, "a domain label ends with a hyphen");
            if (*p == '\0')
                break;
            label = 0;
        } else if (*p < 0x80 && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
            return fail(c, ADDR_SYNTAX, "character not allowed in a domain");
        } else if (label == 0 && *p == '-') {
            return fail(c, ADDR_SYNTAX, "a domain label starts with a hyphen");
        } else if (++label > LABEL_MAX) {
            return fail(c, ADDR_SYNTAX, "domain label longer than 63 octets (RFC 1035 2.3.4)");
        }
        prev = *p;
    }
lower:
    for (char *p = domain; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return true;
}

/* RFC 5321 4.1.3 / RFC 5322 3.4.1 dtext, between the brackets of a domain literal. */
static bool is_dtext(unsigned char c)
{
    return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

static bool check_input(struct cursor *c, const char *text, size_t len)
{
    if (text == NULL)
        return fail(c, ADDR_EMPTY, "no address");
    if (len > ADDR_INPUT_MAX)
        return fail(c, ADDR_TOO_LONG, "longer than 32768 octets");
    if (memchr(text, '\0', len) != NULL)
        return fail(c, ADDR_SYNTAX, "NUL byte");
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* RFC 5321 4.1.2 paths                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Dot-string = Atom *("." Atom), atext and UTF-8. */
static bool path_dot_string(struct cursor *c, struct addr *a, size_t *used)
{
    bool after_dot = true;

    while (c->p < c->end && *c->p != '@') {
        size_t n = 1;
        if (*c->p == '.') {
            if (after_dot)
                return fail(c, ADDR_SYNTAX, "empty atom in the local part");
            after_dot = true;
        } else if (*c->p >= 0x80) {
            if ((n = str_utf8_length(c->p, c->end)) == 0)
                return fail(c, ADDR_SYNTAX, "malformed UTF-8 in the local part");
            after_dot = false;
        } else if (is_atext(*c->p)) {
            after_dot = false;
        } else {
            return fail(c, ADDR_SYNTAX, "character not allowed in the local part");
        }
        if (!append_local(c, a, used, c->p, n))
            return false;
        c->p += n;
    }
    if (after_dot)
        return fail(c, ADDR_SYNTAX, *used ? "local part ends with a dot" : "empty local part");
    return true;
}

/* Quoted-string: qtextSMTP (32-126 but '"' and '\'), quoted-pairSMTP, UTF-8. */
static bool path_quoted(struct cursor *c, struct addr *a, size_t *used)
{
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        size_t n = 1;
        if (*c->p == '\\') {
            c->p++;
            if (c->p == c->end || *c->p < 32 || *c->p > 126)
                return fail(c, ADDR_SYNTAX, "bad quoted pair in the local part");
        } else if (*c->p >= 0x80) {
            if ((n = str_utf8_length(c->p, c->end)) == 0)
                return fail(c, ADDR_SYNTAX, "malformed UTF-8 in the local part");
        } else if (*c->p < 32 || *c->p > 126) {
            return fail(c, ADDR_SYNTAX, "control character in the local part");
        }
        if (!append_local(c, a, used, c->p, n))
            return false;
        c->p += n;
    }
    if (c->p == c->end)
        return fail(c, ADDR_SYNTAX, "unterminated quoted local part");
    c->p++;
    /* RFC 5321 4.1.2's grammar admits "" but no mailbox has an empty name, and an empty local
     * part is how the null path is told apart. */
    if (*used == 0)
        return fail(c, ADDR_SYNTAX, "empty local part");
    return true;
}

/* Domain / address-literal, up to the first byte that cannot be in one; lowered and checked. */
static bool path_domain(struct cursor *c, char *domain)
{
    size_t used = 0;

    domain[0] = '\0';
    if (c->p < c->end && *c->p == '[') {
        const unsigned char *start = c->p++;
        while (c->p < c->end && *c->p != ']') {
            if (!is_dtext(*c->p))
                return fail(c, ADDR_SYNTAX, "character not allowed in an address literal");
            c->p++;
        }
        if (c->p == c->end)
            return fail(c, ADDR_SYNTAX, "unterminated address literal");
        c->p++;
        return append_domain(c, domain, &used, start, (size_t)(c->p - start)) &&
               domain_check(c, domain);
    }
    while (c->p < c->end) {
        size_t n = 1;
        unsigned char ch = *c->p;
        if (ch >= 0x80) {
            if ((n = str_utf8_length(c->p, c->end)) == 0)
                return fail(c, ADDR_SYNTAX, "malformed UTF-8 in the domain");
        } else if (!is_atext(ch) && ch != '.') {
            break;
        }
        if (!append_domain(c, domain, &used, c->p, n))
            return false;
        c->p += n;
    }
    if (used == 0)
        return fail(c, ADDR_SYNTAX, "empty domain");
    return domain_check(c, domain);
}

/* A-d-l = At-domain *( "," At-domain ) ":", dropped (RFC 5321 C: MUST accept and ignore). */
static bool path_skip_route(struct cursor *c)
{
    char ignored[ADDR_DOMAIN_MAX + 1];

    while (c->p < c->end && *c->p == '@') {
        c->p++;
        if (!path_domain(c, ignored))
            return false;
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == ':') {
            c->p++;
            return true;
        }
        return fail(c, ADDR_SYNTAX, "source route not ended by ':'");
    }
    return fail(c, ADDR_SYNTAX, "bad source route");
}

enum addr_status addr_parse_path(const char *text, size_t len, struct addr *out, bool *null_path,
                                 char *why, size_t whylen)
{
    struct cursor c = {.status = ADDR_OK, .why = why, .whylen = whylen};
    size_t used = 0;
    bool bracket;

    memset(out, 0, sizeof *out);
    *null_path = false;
    str_printf(why, whylen, "%s", "");
    if (!check_input(&c, text, len))
        return c.status;
    c.p = (const unsigned char *)text;
    c.end = c.p + len;
    if (len == 0) {
        fail(&c, ADDR_EMPTY, "no address");
        return c.status;
    }
    if (len == 2 && memcmp(text, "<>", 2) == 0) {
        *null_path = true;
        return ADDR_OK;
    }
    bracket = *c.p == '<';
    if (bracket) {
        if (len < 3 || text[len - 1] != '>') {
            fail(&c, ADDR_SYNTAX, "'<' without '>'");
            return c.status;
        }
        c.p++;
        c.end--;
        if (c.p < c.end && *c.p == '@' && !path_skip_route(&c))
            goto failed;
    }
    if (c.p < c.end && *c.p == '"' ? !path_quoted(&c, out, &used)
                                   : !path_dot_string(&c, out, &used))
        goto failed;
    if (c.p == c.end || *c.p != '@') {
        fail(&c, ADDR_SYNTAX, "no '@' after the local part");
        goto failed;
    }
    c.p++;
    if (!path_domain(&c, out->domain))
        goto failed;
    if (c.p != c.end) {
        fail(&c, ADDR_SYNTAX, bracket ? "text after the domain" : "text after the domain (no '<')");
        goto failed;
    }
    return ADDR_OK;
failed:
    memset(out, 0, sizeof *out);
    return c.status;
}

/* ------------------------------------------------------------------------------------------ */
/* RFC 5322 3.4 address lists                                                                  */
/* ------------------------------------------------------------------------------------------ */

enum tok_kind { TOK_END, TOK_ATOM, TOK_QUOTED, TOK_LITERAL, TOK_SPECIAL };

struct tok {
    enum tok_kind kind;
    const unsigned char *start; /* ATOM: the atom; QUOTED/LITERAL: inside the delimiters */
    size_t len;
    unsigned char ch; /* SPECIAL */
};

/* At p: CR LF or LF followed by a space or tab (RFC 5322 3.2.2 FWS); returns its length. */
static size_t fold_length(const unsigned char *p, const unsigned char *end)
{
    size_t n = 0;

    if (p < end && *p == '\r')
        n++;
    if (p + n >= end || p[n] != '\n')
        return 0;
    n++;
    if (p + n >= end || (p[n] != ' ' && p[n] != '\t'))
        return 0;
    return n;
}

/* White space, folding or not; false (with the reason) on a CR or LF that is not folding. */
static bool skip_space(struct cursor *c, bool *skipped)
{
    size_t n;

    *skipped = true;
    if (*c->p == ' ' || *c->p == '\t') {
        c->p++;
        return true;
    }
    if (*c->p == '\r' || *c->p == '\n') {
        if ((n = fold_length(c->p, c->end)) == 0)
            return fail(c, ADDR_SYNTAX, "CR or LF that is not folding white space");
        c->p += n;
        return true;
    }
    *skipped = false;
    return true;
}

/* RFC 5322 3.2.2 comment, nested at most COMMENT_DEPTH_MAX deep; c->p is at '('. */
static bool skip_comment(struct cursor *c)
{
    int depth = 0;
    bool skipped;

    while (c->p < c->end) {
        if (!skip_space(c, &skipped))
            return false;
        if (skipped)
            continue;
        if (*c->p == '(' && ++depth > COMMENT_DEPTH_MAX)
            return fail(c, ADDR_SYNTAX, "comments nested too deep");
        if (*c->p == ')' && --depth == 0) {
            c->p++;
            return true;
        }
        if (*c->p == '\\' && ++c->p == c->end)
            break;
        c->p++;
    }
    return fail(c, ADDR_SYNTAX, "unterminated comment");
}

static bool skip_cfws(struct cursor *c)
{
    bool skipped;

    while (c->p < c->end) {
        if (!skip_space(c, &skipped))
            return false;
        if (skipped)
            continue;
        if (*c->p != '(')
            return true;
        if (!skip_comment(c))
            return false;
    }
    return true;
}

static bool read_atom(struct cursor *c, struct tok *t)
{
    t->kind = TOK_ATOM;
    t->start = c->p;
    while (c->p < c->end) {
        if (is_atext(*c->p)) {
            c->p++;
        } else if (*c->p >= 0x80) {
            size_t n = str_utf8_length(c->p, c->end);
            if (n == 0)
                return fail(c, ADDR_SYNTAX, "malformed UTF-8");
            c->p += n;
        } else {
            break;
        }
    }
    t->len = (size_t)(c->p - t->start);
    return true;
}

/* Quoted string (RFC 5322 3.2.4) or domain literal (3.4.1): c->p is at the opening delimiter. */
static bool read_delimited(struct cursor *c, struct tok *t, unsigned char close)
{
    bool skipped;

    t->kind = close == '"' ? TOK_QUOTED : TOK_LITERAL;
    t->start = ++c->p;
    while (c->p < c->end && *c->p != close) {
        if (!skip_space(c, &skipped))
            return false;
        if (skipped)
            continue;
        if (*c->p >= 0x80) {
            size_t n = str_utf8_length(c->p, c->end);
            if (n == 0)
                return fail(c, ADDR_SYNTAX, "malformed UTF-8");
            c->p += n;
            continue;
        }
        if (close == '"' && *c->p == '\\') {
            if (++c->p == c->end || *c->p == '\r' || *c->p == '\n')
                return fail(c, ADDR_SYNTAX, "bad quoted pair");
        } else if (close == '"' ? (*c->p < 32 || *c->p == 127) : !is_dtext(*c->p)) {
            return fail(c, ADDR_SYNTAX,
                        close == '"' ? "control character in a quoted string"
                                     : "character not allowed in a literal");
        }
        c->p++;
    }
    if (c->p == c->end)
        return fail(c, ADDR_SYNTAX,
                    close == '"' ? "unterminated quoted string" : "unterminated domain literal");
    t->len = (size_t)(c->p - t->start);
    c->p++;
    return true;
}

static bool next_token(struct cursor *c, struct tok *t)
{
    memset(t, 0, sizeof *t);
    if (!skip_cfws(c))
        return false;
    if (c->p == c->end) {
        t->kind = TOK_END;
        return true;
    }
    if (is_atext(*c->p) || *c->p >= 0x80)
        return read_atom(c, t);
    if (*c->p == '"')
        return read_delimited(c, t, '"');
    if (*c->p == '[')
        return read_delimited(c, t, ']');
    if (strchr("<>@,;:.", *c->p) != NULL) {
        t->kind = TOK_SPECIAL;
        t->ch = *c->p++;
        return true;
    }
    return fail(c, ADDR_SYNTAX, "character not allowed here");
}

static bool peek_token(struct cursor *c, struct tok *t)
{
    const unsigned char *save = c->p;
    bool ok = next_token(c, t);

    c->p = save;
    return ok;
}

static bool is_special(const struct tok *t, unsigned char ch)
{
    return t->kind == TOK_SPECIAL && t->ch == ch;
}

static bool expect(struct cursor *c, unsigned char ch, const char *reason)
{
    struct tok t;

    if (!next_token(c, &t))
        return false;
    return is_special(&t, ch) || fail(c, ADDR_SYNTAX, reason);
}

/* One word of a local part: an atom as is, a quoted string without quotes, backslashes and
 * folding (RFC 5322 3.2.4: the quotes are not part of the content). */
static bool append_word(struct cursor *c, struct addr *a, size_t *used, const struct tok *t)
{
    if (t->kind == TOK_ATOM)
        return append_local(c, a, used, t->start, t->len);
    for (size_t i = 0; i < t->len; i++) {
        unsigned char ch = t->start[i];
        if (ch == '\r' || ch == '\n')
            continue;
        if (ch == '\\')
            ch = t->start[++i];
        if (!append_local(c, a, used, &ch, 1))
            return false;
    }
    return true;
}

/* domain = dot-atom / domain-literal / obs-domain (RFC 5322 3.4.1, 4.4). */
static bool list_domain(struct cursor *c, char *domain)
{
    struct tok t;
    size_t used = 0;

    domain[0] = '\0';
    if (!next_token(c, &t))
        return false;
    if (t.kind == TOK_LITERAL) {
        const unsigned char open = '[', close = ']';
        /* Folding inside a literal is dropped with the other white space. */
        if (!append_domain(c, domain, &used, &open, 1))
            return false;
        for (size_t i = 0; i < t.len; i++)
            if (is_dtext(t.start[i]) && !append_domain(c, domain, &used, &t.start[i], 1))
                return false;
        return append_domain(c, domain, &used, &close, 1) && domain_check(c, domain);
    }
    for (;;) {
        if (t.kind != TOK_ATOM)
            return fail(c, ADDR_SYNTAX, "expected a domain after '@'");
        if (!append_domain(c, domain, &used, t.start, t.len))
            return false;
        if (!peek_token(c, &t))
            return false;
        if (!is_special(&t, '.'))
            break;
        next_token(c, &t);
        if (!append_domain(c, domain, &used, (const unsigned char *)".", 1) || !next_token(c, &t))
            return false;
    }
    return domain_check(c, domain);
}

/* addr-spec = local-part "@" domain, with obs-local-part (words joined by dots). */
static bool list_addr_spec(struct cursor *c, struct addr *a)
{
    struct tok t;
    size_t used = 0;

    memset(a, 0, sizeof *a);
    for (;;) {
        if (!next_token(c, &t))
            return false;
        if (t.kind != TOK_ATOM && t.kind != TOK_QUOTED)
            return fail(c, ADDR_SYNTAX,
                        used ? "empty word in the local part" : "expected an address");
        if (!append_word(c, a, &used, &t) || !next_token(c, &t))
            return false;
        if (is_special(&t, '@'))
            break;
        if (!is_special(&t, '.'))
            return fail(c, ADDR_SYNTAX, "expected '@' after the local part");
        if (!append_local(c, a, &used, (const unsigned char *)".", 1))
            return false;
    }
    if (used == 0)
        return fail(c, ADDR_SYNTAX, "empty local part");
    return list_domain(c, a->domain);
}

static bool list_add(struct cursor *c, struct addr_list *out, const struct addr *a)
{
    if (out->count == ADDR_LIST_MAX)
        return fail(c, ADDR_TOO_MANY, "more than 100 addresses");
    if (out->count % 8 == 0)
        out->items = xrealloc(out->items, (out->count + 8) * sizeof *out->items);
    out->items[out->count++] = *a;
    return true;
}

/* angle-addr after its '<', with obs-route ("@a,@b:") dropped (RFC 5322 4.4). */
static bool list_angle(struct cursor *c, struct addr_list *out)
{
    struct tok t;
    struct addr a;
    char ignored[ADDR_DOMAIN_MAX + 1];

    if (!peek_token(c, &t))
        return false;
    if (is_special(&t, '>'))
        return fail(c, ADDR_SYNTAX, "empty address <>");
    if (is_special(&t, '@')) {
        for (;;) {
            if (!next_token(c, &t))
                return false;
            if (is_special(&t, ','))
                continue;
            if (is_special(&t, ':'))
                break;
            if (!is_special(&t, '@'))
                return fail(c, ADDR_SYNTAX, "bad route in <>");
            if (!list_domain(c, ignored))
                return false;
        }
    }
    return list_addr_spec(c, &a) && expect(c, '>', "expected '>' after the address") &&
           list_add(c, out, &a);
}

static bool list_group(struct cursor *c, struct addr_list *out);

/*
 * One mailbox (or, outside a group, one group): reads the words, then decides by what ends them
 * (RFC 5322 3.4: name-addr, addr-spec, group).
 */
static bool list_address(struct cursor *c, struct addr_list *out, bool in_group, bool *saw_group)
{
    const unsigned char *start = c->p;
    struct tok t;
    struct addr a;

    for (;;) {
        if (!next_token(c, &t))
            return false;
        if (t.kind != TOK_ATOM && t.kind != TOK_QUOTED && !is_special(&t, '.'))
            break;
    }
    if (is_special(&t, '<'))
        return list_angle(c, out);
    if (is_special(&t, '@')) {
        c->p = start;
        return list_addr_spec(c, &a) && list_add(c, out, &a);
    }
    if (is_special(&t, ':') && !in_group) {
        *saw_group = true;
        return list_group(c, out);
    }
    return fail(c, ADDR_SYNTAX,
                is_special(&t, ':') ? "a group inside a group" : "expected an address");
}

/* group-list after "name:", up to and with its ';' (RFC 5322 3.4; empty members tolerated). */
static bool list_group(struct cursor *c, struct addr_list *out)
{
    struct tok t;
    bool ignored;

    for (;;) {
        if (!peek_token(c, &t))
            return false;
        if (is_special(&t, ';') || is_special(&t, ',')) {
            next_token(c, &t);
            if (t.ch == ';')
                return true;
            continue;
        }
        if (t.kind == TOK_END)
            return fail(c, ADDR_SYNTAX, "group not ended by ';'");
        if (!list_address(c, out, true, &ignored) || !peek_token(c, &t))
            return false;
        if (!is_special(&t, ',') && !is_special(&t, ';'))
            return fail(c, ADDR_SYNTAX, "expected ',' or ';' after a group member");
    }
}

enum addr_status addr_parse_list(const char *text, size_t len, struct addr_list *out, char *why,
                                 size_t whylen)
{
    struct cursor c = {.status = ADDR_OK, .why = why, .whylen = whylen};
    struct tok t;
    bool saw_group = false;

    out->count = 0;
    out->items = NULL;
    str_printf(why, whylen, "%s", "");
    if (!check_input(&c, text, len))
        return c.status;
    c.p = (const unsigned char *)text;
    c.end = c.p + len;
    for (;;) {
        if (!peek_token(&c, &t))
            goto failed;
        if (t.kind == TOK_END)
            break;
        if (is_special(&t, ',')) {
            next_token(&c, &t); /* obs-addr-list: empty elements */
            continue;
        }
        if (!list_address(&c, out, false, &saw_group) || !peek_token(&c, &t))
            goto failed;
        if (t.kind != TOK_END && !is_special(&t, ',')) {
            fail(&c, ADDR_SYNTAX, "expected ',' between addresses");
            goto failed;
        }
    }
    if (out->count == 0 && !saw_group) {
        fail(&c, ADDR_EMPTY, "no address");
        goto failed;
    }
    return ADDR_OK;
failed:
    addr_list_free(out);
    return c.status;
}

void addr_list_free(struct addr_list *list)
{
    if (list == NULL)
        return;
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

enum addr_status addr_from_domain(const char *text, size_t len, char *domain, size_t domainlen,
                                  char *why, size_t whylen)
{
    struct addr_list list;
    enum addr_status st = addr_parse_list(text, len, &list, why, whylen);

    str_printf(domain, domainlen, "%s", "");
    if (st == ADDR_OK && list.count == 0) {
        st = ADDR_EMPTY;
        str_printf(why, whylen, "%s", "no address");
    } else if (st == ADDR_OK && list.count > 1) {
        st = ADDR_TOO_MANY;
        str_printf(why, whylen, "%zu addresses, not one", list.count);
    } else if (st == ADDR_OK && !str_copy(domain, domainlen, list.items[0].domain)) {
        domain[0] = '\0';
        st = ADDR_TOO_LONG;
        str_printf(why, whylen, "%s", "domain longer than the buffer");
    }
    addr_list_free(&list);
    return st;
}

const char *addr_format(const struct addr *a, char *buf, size_t buflen)
{
    if (a->local[0] == '\0' && a->domain[0] == '\0')
        str_printf(buf, buflen, "%s", "");
    else
        str_printf(buf, buflen, "%s@%s", a->local, a->domain);
    return buf;
}

const char *addr_status_name(enum addr_status status)
{
    switch (status) {
    case ADDR_OK:
        return "ok";
    case ADDR_EMPTY:
        return "empty";
    case ADDR_SYNTAX:
        return "syntax";
    case ADDR_TOO_LONG:
        return "too_long";
    case ADDR_TOO_MANY:
        return "too_many";
    }
    return "unknown";
}
