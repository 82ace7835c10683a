/*
 * ctl_why: `ingressctl why KEY [--since WHEN] [--until WHEN] [--limit N] [--json]` tells, in
 * plain words, what the milter decided about a queue id, the reference quoted in a reply, an IP
 * address, an address (envelope, account, or the header From a check refused) or a domain,
 * newest first: which check decided, what it saw, what the sender was told, and what the
 * postmaster can do about it.  The rows of one message (one per recipient) are shown as one
 * decision with its recipients, and a held message says whether it was released or rejected
 * since, by whom and when.
 *
 * It only reads: a member of the database's group (read permission only) can use it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "util.h"

/* Rows read at most: a busy IP address over a period, not enough to flood a terminal. */
#define WHY_ROWS_MAX 10000
#define WHY_LIMIT_DEFAULT 20
#define WHY_RCPT_SHOWN 5 /* recipients named in the text; the rest are counted */
#define WHY_KEY_MAX 320  /* the longest address the milter records (RFC 5321 path, brackets) */
#define WHY_DOMAIN_MAX 253

/* One decision about one message: the rows that differ only by recipient. */
struct why_group {
    int64_t time;
    char *queue_id, *ref, *host, *client_ip, *client_name, *helo, *sender, *account;
    char *check, *action, *reply, *detail;
    char **rcpt;
    size_t nrcpt;
    bool has_sender;
    /* the held table's row, for a held message */
    char *held_state, *held_by, *held_reason;
    int64_t held_at;
};

struct why_state {
    struct why_group *groups;
    size_t count, rows;
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Rows come newest first; a message's rows are written together, so they are neighbours. */
static void collect(const struct decision *d, void *arg)
{
    struct why_state *w = arg;
    struct why_group *g = w->count > 0 ? &w->groups[w->count - 1] : NULL;

    w->rows++;
    if (g == NULL || g->time != d->time || !same(g->ref, d->ref) ||
        !same(g->queue_id, d->queue_id) || !same(g->check, d->check) ||
        !same(g->action, d->action) || !same(g->reply, d->reply) || !same(g->sender, d->sender)) {
        w->groups = xrealloc(w->groups, (w->count + 1) * sizeof *w->groups);
        g = &w->groups[w->count++];
        *g = (struct why_group){
            .time = d->time,
            .queue_id = dup_or_null(d->queue_id),
            .ref = dup_or_null(d->ref),
            .host = dup_or_null(d->host),
            .client_ip = dup_or_null(d->client_ip),
            .client_name = dup_or_null(d->client_name),
            .helo = dup_or_null(d->helo),
            .sender = dup_or_null(d->sender),
            .account = dup_or_null(d->account),
            .check = dup_or_null(d->check),
            .action = dup_or_null(d->action),
            .reply = dup_or_null(d->reply),
            .detail = dup_or_null(d->detail),
            .has_sender = d->sender != NULL,
        };
    }
    if (ctl_present(d->recipient)) {
        g->rcpt = xrealloc(g->rcpt, (g->nrcpt + 1) * sizeof *g->rcpt);
        g->rcpt[g->nrcpt++] = xstrdup(d->recipient);
    }
}

static void groups_free(struct why_state *w)
{
    for (size_t i = 0; i < w->count; i++) {
        struct why_group *g = &w->groups[i];
        char *fields[] = {g->queue_id, g->ref,    g->host,       g->client_ip, g->client_name,
                          g->helo,     g->sender, g->account,    g->check,     g->action,
                          g->reply,    g->detail, g->held_state, g->held_by,   g->held_reason};
        for (size_t j = 0; j < sizeof fields / sizeof fields[0]; j++)
            free(fields[j]);
        for (size_t j = 0; j < g->nrcpt; j++)
            free(g->rcpt[j]);
        free(g->rcpt);
    }
    free(w->groups);
}

/* ---- the held table ---- */

static void held_row(const struct store_held *h, void *arg)
{
    struct why_group *g = arg;

    free(g->held_state);
    free(g->held_by);
    free(g->held_reason);
    g->held_state = dup_or_null(h->state);
    g->held_by = dup_or_null(h->decided_by);
    g->held_reason = dup_or_null(h->decision_reason);
    g->held_at = h->decided_at;
}

/* A held message's fate: the held table says whether it was released or rejected, by whom and
 * when (ingressctl held records it there). */
static void held_fate(struct ctl *ctl, struct why_group *g)
{
    if (g->action == NULL || strcmp(g->action, "hold") != 0 || !ctl_present(g->queue_id) ||
        strcmp(g->queue_id, "NOQUEUE") == 0)
        return;
    (void)store_held_each(ctl->store, g->queue_id, NULL, NULL, held_row, g, NULL);
}

/* ---- plain words ---- */

/* The value of "name=" in a detail, up to the next blank; false when absent. */
static bool detail_field(const char *detail, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);

    for (const char *p = strstr(detail, name); p != NULL; p = strstr(p + 1, name)) {
        if (p != detail && p[-1] != ' ')
            continue;
        p += nlen;
        size_t len = strcspn(p, " ;");
        if (len >= outlen)
            len = outlen - 1;
        memcpy(out, p, len);
        out[len] = '\0';
        return true;
    }
    return false;
}

/* "2027-01-15T08:05:00Z" as "2027-01-15 08:05:00 UTC"; other text as it is. */
static void readable_date(const char *iso, char *out, size_t outlen)
{
    if (strlen(iso) == 20 && iso[10] == 'T' && iso[19] == 'Z')
        snprintf(out, outlen, "%.10s %.8s UTC", iso, iso + 11);
    else
        str_copy(out, outlen, iso);
}

static void greylist_words(const char *detail, char *out, size_t outlen)
{
    char network[128], from[400], to[400], after[64], when[64], in[32];

    if (strncmp(detail, "greylisted:", 11) != 0) {
        str_copy(out, outlen, detail);
        return;
    }
    if (!detail_field(detail, "network=", network, sizeof network))
        str_copy(network, sizeof network, "?");
    if (!detail_field(detail, "from=", from, sizeof from))
        str_copy(from, sizeof from, "<>");
    if (!detail_field(detail, "to=", to, sizeof to))
        str_copy(to, sizeof to, "?");
    if (!detail_field(detail, "retry_in=", in, sizeof in))
        str_copy(in, sizeof in, "?");
    if (detail_field(detail, "retry_after=", after, sizeof after))
        readable_date(after, when, sizeof when);
    else
        snprintf(when, sizeof when, "%s", "the greylisting delay");
    snprintf(out, outlen,
             "the first attempt from network %s for mail from %s to %s: greylisting asks a new "
             "sender to come back later, and a retry from the same network after %s (%s from "
             "then) passes",
             network, from, to, when, in);
}

static void rules_words(const char *detail, const char *rcpt, char *out, size_t outlen)
{
    char sender[400];

    if (!detail_field(detail, "sender=", sender, sizeof sender)) {
        str_copy(out, outlen, detail);
        return;
    }
    snprintf(out, outlen,
             "the recipient's own rule (ingressctl rule) for <%s> refuses mail from %s%s%s",
             rcpt != NULL ? rcpt : "?", sender[0] == '@' ? "the domain " : "<",
             sender[0] == '@' ? sender + 1 : sender, sender[0] == '@' ? "" : ">");
}

/* An older suspension detail gave the epoch ("suspended since 1796541922"): shown as a date. */
static void account_words(const char *detail, char *out, size_t outlen)
{
    const char *p = strstr(detail, "suspended since ");
    char when[64];

    if (p == NULL || strspn(p + 16, "0123456789") < 9) {
        str_copy(out, outlen, detail);
        return;
    }
    size_t digits = strspn(p + 16, "0123456789");
    ctl_format_time(strtoll(p + 16, NULL, 10), when, sizeof when);
    snprintf(out, outlen, "%.*ssuspended since %s%s", (int)(p - detail), detail, when,
             p + 16 + digits);
}

/* What the check saw, in words: the detail, rephrased where it is a key=value record. */
static void saw_words(const struct why_group *g, char *out, size_t outlen)
{
    const char *detail = g->detail != NULL ? g->detail : "";

    if (g->check != NULL && strcmp(g->check, "greylist") == 0)
        greylist_words(detail, out, outlen);
    else if (g->check != NULL && strcmp(g->check, "rules") == 0 && g->action != NULL &&
             strcmp(g->action, "reject") == 0)
        rules_words(detail, g->nrcpt > 0 ? g->rcpt[0] : NULL, out, outlen);
    else if (g->check != NULL && strcmp(g->check, "account") == 0)
        account_words(detail, out, outlen);
    else
        str_copy(out, outlen, detail);
}

/* ---- output ---- */

static void print_recipients(const struct why_group *g)
{
    char a[1024];

    if (g->nrcpt == 0)
        return;
    if (g->nrcpt == 1) {
        printf(" to <%s>", str_printable(a, sizeof a, g->rcpt[0]));
        return;
    }
    printf(" to %zu recipients: ", g->nrcpt);
    for (size_t i = 0; i < g->nrcpt && i < WHY_RCPT_SHOWN; i++)
        printf("%s<%s>", i > 0 ? ", " : "", str_printable(a, sizeof a, g->rcpt[i]));
    if (g->nrcpt > WHY_RCPT_SHOWN)
        printf(" and %zu more", g->nrcpt - WHY_RCPT_SHOWN);
}

static void print_held(const struct why_group *g)
{
    char when[64], a[1024];

    if (g->held_state == NULL)
        return;
    if (strcmp(g->held_state, "held") == 0) {
        printf("  still held: `ingressctl held show %s`, then held release or held reject\n",
               str_printable(a, sizeof a, g->queue_id));
        return;
    }
    ctl_format_time(g->held_at, when, sizeof when);
    printf("  later %s by %s at %s", str_printable(a, sizeof a, g->held_state),
           ctl_present(g->held_by) ? g->held_by : "an unknown user", when);
    if (ctl_present(g->held_reason))
        printf(": %s", str_printable(a, sizeof a, g->held_reason));
    putchar('\n');
}

/* One decision, as a support desk reads it.  Everything from the database is escaped: the rows
 * hold what clients sent (HELO, addresses), and a terminal must not receive their bytes raw. */
static void print_group(const struct why_group *g, const char *advice, bool first)
{
    char when[64], a[512], b[512], text[2048];

    if (!first)
        putchar('\n');
    ctl_format_time(g->time, when, sizeof when);
    printf("%s  %s", when,
           ctl_present(g->queue_id) ? str_printable(a, sizeof a, g->queue_id) : "NOQUEUE");
    if (ctl_present(g->ref))
        printf("  ref %s", str_printable(a, sizeof a, g->ref));
    if (ctl_present(g->host))
        printf("  on %s", str_printable(a, sizeof a, g->host));
    putchar('\n');
    printf("  client %s (%s)",
           ctl_present(g->client_ip) ? str_printable(a, sizeof a, g->client_ip) : "unknown",
           ctl_present(g->client_name) ? str_printable(b, sizeof b, g->client_name) : "unknown");
    if (ctl_present(g->helo))
        printf(", HELO %s", str_printable(a, sizeof a, g->helo));
    putchar('\n');
    /* The sender "" is the null sender <>, which is worth showing; NULL means not reached. */
    if (g->has_sender || g->nrcpt > 0) {
        putchar(' ');
        if (g->has_sender)
            printf(" from <%s>", str_printable(a, sizeof a, g->sender));
        print_recipients(g);
        putchar('\n');
    }
    if (ctl_present(g->account))
        printf("  authenticated as %s\n", str_printable(a, sizeof a, g->account));
    printf("  check %s: %s\n", str_printable(a, sizeof a, g->check),
           str_printable(b, sizeof b, ctl_action_words(g->action)));
    saw_words(g, text, sizeof text);
    if (text[0] != '\0')
        printf("  what it saw: %s\n", str_printable(a, sizeof a, text));
    if (ctl_present(g->reply))
        printf("  the sender was told: %s\n", str_printable(text, sizeof text, g->reply));
    else
        printf("  %s\n", ctl_action_without_reply(g->action));
    print_held(g);
    if (advice[0] != '\0')
        printf("  the postmaster can: %s\n", str_printable(text, sizeof text, advice));
}

static json_t *group_json(const struct why_group *g, const char *advice)
{
    json_t *o = ctl_json_object(), *rcpts = ctl_json_array();
    char text[2048];

    ctl_json_set_text(o, "type", "decision");
    ctl_json_set_time(o, "time", g->time);
    ctl_json_set_text(o, "queue_id", g->queue_id);
    ctl_json_set_text(o, "ref", g->ref);
    ctl_json_set_text(o, "host", g->host);
    ctl_json_set_text(o, "client_ip", g->client_ip);
    ctl_json_set_text(o, "client_name", g->client_name);
    ctl_json_set_text(o, "helo", g->helo);
    if (g->has_sender)
        ctl_json_set_text(o, "sender", g->sender);
    for (size_t i = 0; i < g->nrcpt; i++)
        ctl_json_append(rcpts, ctl_json_text(g->rcpt[i]));
    ctl_json_set(o, "recipients", rcpts);
    /* null for a client that did not authenticate, as in `held list --json` */
    ctl_json_set_text_or_null(o, "account", g->account);
    ctl_json_set_text(o, "check", g->check);
    ctl_json_set_text(o, "action", g->action);
    ctl_json_set_text(o, "words", ctl_action_words(g->action));
    saw_words(g, text, sizeof text);
    ctl_json_set_text(o, "saw", text);
    ctl_json_set_text(o, "detail", g->detail);
    if (g->reply != NULL)
        ctl_json_set_text(o, "reply", g->reply);
    if (advice[0] != '\0')
        ctl_json_set_text(o, "postmaster", advice);
    if (g->held_state != NULL) {
        json_t *h = ctl_json_object();
        ctl_json_set_text(h, "state", g->held_state);
        ctl_json_set_text(h, "decided_by", g->held_by);
        ctl_json_set_time(h, "decided_at", g->held_at);
        ctl_json_set_text(h, "reason", g->held_reason);
        ctl_json_set(o, "held", h);
    }
    return o;
}

/* ---- arguments ---- */

bool ctl_parse_when(const char *text, int64_t now, int64_t *out)
{
    int64_t ms;
    struct tm tm = {0};
    int n = 0;

    if (config_parse_duration(text, &ms) && ms >= 1000) {
        *out = now - ms / 1000;
        return true;
    }
    if (sscanf(text, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
        return false;
    if (text[n] == 'T' || text[n] == ' ') {
        int m = 0;
        if (sscanf(text + n + 1, "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &m) != 2)
            return false;
        n += 1 + m;
        if (text[n] == ':') {
            if (sscanf(text + n + 1, "%2d%n", &tm.tm_sec, &m) != 1)
                return false;
            n += 1 + m;
        }
    }
    if (text[n] != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm);
    return true;
}

/* Bounds the key before any query: too long for anything recorded, or a domain over 253. */
static int check_key(const struct ctl *ctl, const char *key)
{
    char shown[80];
    size_t len = strlen(key);
    const char *domain = key[0] == '@' ? key + 1 : strchr(key, '@') == NULL ? key : NULL;

    if (len > WHY_KEY_MAX)
        return ctl_usage_error(ctl,
                               "why: KEY has %zu bytes; a queue id, reference, address or domain "
                               "has at most %d",
                               len, WHY_KEY_MAX);
    if (domain != NULL && strchr(domain, '.') != NULL && strlen(domain) > WHY_DOMAIN_MAX)
        return ctl_usage_error(ctl, "why: %s...: a domain name has at most %d characters",
                               str_printable(shown, 40, domain), WHY_DOMAIN_MAX);
    for (const char *p = key; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return ctl_usage_error(ctl, "why: KEY has a control character");
    return CTL_EXIT_OK;
}

/* A group made ready to show: its held fate, recipients in order, and the advice. */
static void group_finish(struct ctl *ctl, struct why_group *g, char *advice, size_t advicelen)
{
    held_fate(ctl, g);
    /* The rows came newest first: the recipients in the order they were given. */
    for (size_t j = 0; j < g->nrcpt / 2; j++) {
        char *r = g->rcpt[j];
        g->rcpt[j] = g->rcpt[g->nrcpt - 1 - j];
        g->rcpt[g->nrcpt - 1 - j] = r;
    }
    /* A recipient's rule names the sender it matched (an address or @domain). */
    char matched[400];
    const char *sender = g->sender;
    if (g->check != NULL && strcmp(g->check, "rules") == 0 && g->detail != NULL &&
        detail_field(g->detail, "sender=", matched, sizeof matched))
        sender = matched;
    ctl_advice(g->check, g->action, g->client_ip, g->nrcpt > 0 ? g->rcpt[0] : NULL, sender,
               g->account, advice, advicelen);
}

/* The time of the record's row i (ctl_changes_json: newest first, as the decisions). */
static int64_t change_time(const json_t *changes, size_t i)
{
    return (int64_t)json_integer_value(json_object_get(json_array_get(changes, i), "time"));
}

bool ctl_why_key_valid(const char *key)
{
    size_t len = strlen(key);
    const char *domain = key[0] == '@' ? key + 1 : strchr(key, '@') == NULL ? key : NULL;

    if (len == 0 || len > WHY_KEY_MAX ||
        (domain != NULL && strchr(domain, '.') != NULL && strlen(domain) > WHY_DOMAIN_MAX))
        return false;
    for (const char *p = key; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

enum store_status ctl_why_json(struct ctl *ctl, const struct store_decision_query *q, size_t limit,
                               json_t **doc)
{
    struct why_state w = {0};
    struct store_decision_query all = *q;
    char advice[2048];

    all.limit = WHY_ROWS_MAX;
    *doc = NULL;
    enum store_status st = store_decision_search(ctl->store, &all, collect, &w, &ctl->err);
    if (st == STORE_BUSY || st == STORE_ERROR) {
        groups_free(&w);
        return st;
    }
    json_t *changes;
    st = ctl_changes_json(ctl, q->key, q->since, q->until, limit, &changes);
    if (st != STORE_OK) {
        groups_free(&w);
        return st;
    }
    *doc = ctl_json_array();
    size_t c = 0, nchanges = json_array_size(changes);
    for (size_t i = 0; i < w.count && i < limit; i++) {
        group_finish(ctl, &w.groups[i], advice, sizeof advice);
        for (; c < nchanges && change_time(changes, c) >= w.groups[i].time; c++)
            ctl_json_append(*doc, json_incref(json_array_get(changes, c)));
        ctl_json_append(*doc, group_json(&w.groups[i], advice));
    }
    for (; c < nchanges; c++)
        ctl_json_append(*doc, json_incref(json_array_get(changes, c)));
    json_decref(changes);
    groups_free(&w);
    return STORE_OK;
}

int ctl_verb_why(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct why_state w = {0};
    struct store_decision_query q = {.limit = WHY_ROWS_MAX};
    int64_t now = (int64_t)time(NULL);
    long limit = WHY_LIMIT_DEFAULT;
    char escaped[CTL_KEY_MAX * 4], advice[2048], *end;
    int rc = ctl_split_args(ctl, argc, argv, 1, "--since --until --limit --json", &a);

    if (rc != CTL_EXIT_OK)
        return rc;
    if (a.npos != 1)
        return ctl_usage_error(
            ctl,
            "why: wrong arguments (why KEY [--since WHEN] [--until WHEN] [--limit N] [--json])");
    if ((rc = check_key(ctl, a.pos[0])) != CTL_EXIT_OK)
        return rc;
    if (a.since != NULL && !ctl_parse_when(a.since, now, &q.since))
        return ctl_usage_error(ctl, "why: --since wants a duration (30m, 12h, 7d) or a UTC date "
                                    "(2026-12-01, 2026-12-01T08:00)");
    if (a.until != NULL && !ctl_parse_when(a.until, now, &q.until))
        return ctl_usage_error(ctl, "why: --until wants a duration (30m, 12h, 7d) or a UTC date "
                                    "(2026-12-01, 2026-12-01T08:00)");
    if (a.limit != NULL) {
        limit = strtol(a.limit, &end, 10);
        if (*end != '\0' || end == a.limit || limit < 1 || limit > 1000)
            return ctl_usage_error(ctl, "why: --limit wants a number of decisions from 1 to 1000");
    }
    q.key = a.pos[0];

    enum store_status st = store_decision_search(ctl->store, &q, collect, &w, &ctl->err);
    if (st == STORE_BUSY || st == STORE_ERROR) {
        groups_free(&w);
        return ctl_store_error(ctl, "reading the decisions");
    }
    /* The changes made about the key (an entry added or deleted, a release) among them. */
    json_t *changes;
    if (ctl_changes_json(ctl, q.key, q.since, q.until, (size_t)limit, &changes) != STORE_OK) {
        groups_free(&w);
        return ctl_store_error(ctl, "reading the record of changes");
    }
    size_t c = 0, nchanges = json_array_size(changes);
    if (w.count == 0 && nchanges == 0) {
        json_decref(changes);
        fprintf(stderr, "nothing recorded about %s%s\n",
                str_printable(escaped, sizeof escaped, q.key),
                a.since != NULL || a.until != NULL ? " in that period" : "");
        groups_free(&w);
        return CTL_EXIT_NOTFOUND;
    }
    size_t shown = w.count < (size_t)limit ? w.count : (size_t)limit;
    json_t *doc = a.json ? ctl_json_array() : NULL;
    bool first = true;
    for (size_t i = 0; i <= shown; i++) {
        struct why_group *g = i < shown ? &w.groups[i] : NULL;
        for (; c < nchanges && (g == NULL || change_time(changes, c) >= g->time); c++) {
            json_t *one = json_array_get(changes, c);
            if (doc != NULL) {
                ctl_json_append(doc, json_incref(one));
                continue;
            }
            printf(first ? "" : "\n");
            ctl_change_print(one, "");
            first = false;
        }
        if (g == NULL)
            break;
        group_finish(ctl, g, advice, sizeof advice);
        if (doc != NULL)
            ctl_json_append(doc, group_json(g, advice));
        else
            print_group(g, advice, first);
        first = false;
    }
    json_decref(changes);
    if (doc != NULL)
        ctl_json_print(doc);
    else if (shown < w.count || w.rows == WHY_ROWS_MAX)
        printf("\n(only the newest %zu shown; for older ones: --limit, --since, --until)\n", shown);
    groups_free(&w);
    return CTL_EXIT_OK;
}
