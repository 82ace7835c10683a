/*
 * ctl_held: the postmaster's review of held mail (`ingressctl held`).
 *
 *   held list [--account A] [--all] [--json]
 *   held show QUEUEID [--json]
 *   held release QUEUEID...|--account A [--reason TEXT] [--by NAME]
 *   held reject QUEUEID...|--account A --reason TEXT [--by NAME]
 *
 * Release and reject first claim the message: the decision, who took it and why are recorded
 * in the held row by one conditional UPDATE (store_held_decide), so of two ingressctl run at once
 * one gets it and the other is told it is no longer held; the claimant then drives the MTA with
 * held_release_command or held_reject_command (lib/command.c: execve, never a shell), and takes
 * the claim back (store_held_undo) when the command fails, leaving the message held.
 *
 * On a database several hosts share, a message waits in the queue of the host that held it (the
 * held row's host, that milter's host_name).  One held on another host is released or rejected
 * there through held_remote_command ({host}, {queue_id}, {action}), or, without that template,
 * ingressctl says which host to run the command on and exits 2.  Listing reconciles the table with
 * this host's MTA first: a message held here whose queue id held_queue_command no longer prints
 * has left the queue some other way (postsuper by hand, expiry) and becomes "gone"; the messages
 * other hosts hold are left to their own listing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "command.h"
#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "lists.h"
#include "mimeword.h"
#include "util.h"

#define HELD_OPTIONS "--account --all --json --reason --by --limit"
#define HELD_LIST_LIMIT_MAX 100000 /* held list --limit */
/* The MTA's queue listing kept for reconciliation; postqueue -j prints ~300 bytes a message. */
#define HELD_QUEUE_OUTPUT_MAX (256u << 20)
/* A message held this recently may not be in the MTA's queue files yet: never marked gone. */
#define HELD_GONE_GRACE 60
#define HELD_COLUMNS 9
/* held show: what held_show_command prints is read up to this, and the body shown up to this
 * many lines: enough to judge a message, not a flood. */
#define HELD_SHOW_OUTPUT_MAX (256u << 10)
#define HELD_SHOW_BODY_LINES 20
/* The same in JSON (held show --json, the console): the header fields, each value, the body's
 * start, and the changes shown. */
#define HELD_JSON_HEADERS_MAX 200
#define HELD_JSON_NAME_MAX 128
#define HELD_JSON_VALUE_MAX 2000
#define HELD_JSON_BODY_MAX 4096
#define HELD_SHOW_CHANGES_MAX 20

/* Is id in text as a whole word (not inside a longer run of letters and digits)? */
static bool has_word(const char *text, const char *id)
{
    size_t len = strlen(id);
    for (const char *p = strstr(text, id); p != NULL; p = strstr(p + 1, id))
        if ((p == text || !ascii_alnum(p[-1])) && !ascii_alnum(p[len]))
            return true;
    return false;
}

/* Queue ids of rows still "held", collected before any is changed (the callback must not call
 * the store). */
struct id_list {
    char **ids;
    char **hosts; /* "" for a row without a host: this host's */
    int64_t *held_at;
    size_t count;
};

static void id_collect(const struct store_held *h, void *arg)
{
    struct id_list *l = arg;
    l->ids = xrealloc(l->ids, (l->count + 1) * sizeof *l->ids);
    l->hosts = xrealloc(l->hosts, (l->count + 1) * sizeof *l->hosts);
    l->held_at = xrealloc(l->held_at, (l->count + 1) * sizeof *l->held_at);
    l->ids[l->count] = xstrdup(h->queue_id ? h->queue_id : "");
    l->hosts[l->count] = xstrdup(h->host ? h->host : "");
    l->held_at[l->count++] = h->held_at;
}

static void id_list_free(struct id_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->ids[i]);
        free(l->hosts[i]);
    }
    free(l->ids);
    free(l->hosts);
    free(l->held_at);
    memset(l, 0, sizeof *l);
}

/* A row's host for store_held_decide(): NULL for a row without one (id_collect's ""). */
static const char *row_host(const char *host)
{
    return host[0] != '\0' ? host : NULL;
}

/* Is a message held on host in this host's MTA queue?  A row without a host is (one host). */
static bool held_here(const struct ctl *ctl, const char *host)
{
    char own[256];

    if (host == NULL || host[0] == '\0')
        return true;
    config_host_name(ctl->cfg, own, sizeof own);
    return strcmp(host, own) == 0;
}

/*
 * Marks "gone" the held rows (of account, or all) that the MTA's queue listing does not show.
 * A listing that fails leaves every row as it is, with a warning: no guess from no data.
 */
static void reconcile(struct ctl *ctl, const char *account)
{
    struct id_list held = {0};
    char why[512], by[64];
    char *listing = NULL;
    int64_t now = (int64_t)time(NULL);

    enum store_status st =
        store_held_each(ctl->store, NULL, account, "held", id_collect, &held, &ctl->err);
    if (st != STORE_OK) {
        id_list_free(&held);
        return;
    }
    if (!command_run(ctl->cfg->held_queue_command, NULL, &listing, HELD_QUEUE_OUTPUT_MAX, why,
                     sizeof why)) {
        fprintf(stderr,
                "ingressctl: warning: cannot list the MTA's queue (held_queue_command): %s; "
                "states not checked against the queue\n",
                why);
        free(listing);
        id_list_free(&held);
        return;
    }
    ctl_invoking_user(by, sizeof by);
    for (size_t i = 0; i < held.count; i++) {
        if (!held_here(ctl, held.hosts[i]) || held.held_at[i] > now - HELD_GONE_GRACE ||
            has_word(listing, held.ids[i]))
            continue;
        if (store_held_decide(ctl->store, held.ids[i], row_host(held.hosts[i]), "gone", by,
                              "no longer in the MTA's queue", now, &ctl->err) == STORE_OK)
            fprintf(stderr, "ingressctl: %s is no longer in the MTA's queue: marked gone\n",
                    held.ids[i]);
    }
    free(listing);
    id_list_free(&held);
}

/* "3m", "2h", "4d": how long ago t was. */
static void format_age(int64_t now, int64_t t, char *out, size_t outlen)
{
    int64_t age = now > t ? now - t : 0;
    if (age < 60)
        snprintf(out, outlen, "%llds", (long long)age);
    else if (age < 3600)
        snprintf(out, outlen, "%lldm", (long long)(age / 60));
    else if (age < 86400)
        snprintf(out, outlen, "%lldh", (long long)(age / 3600));
    else
        snprintf(out, outlen, "%lldd", (long long)(age / 86400));
}

/*
 * The account a message was held for; an inbound message (held for DMARC: no authenticated
 * session) has none, which the milter writes as the empty account.  "(inbound)" in the text
 * output, null in JSON, as `why` shows the account of a decision.
 */
#define HELD_NO_ACCOUNT "(inbound)"

/* One held message as a JSON object, its recipients a list. */
json_t *ctl_held_json(const struct store_held *h)
{
    json_t *obj = ctl_json_object(), *rcpts = ctl_json_array();

    ctl_json_set_text(obj, "queue_id", h->queue_id);
    ctl_json_set_int(obj, "held_at", h->held_at);
    ctl_json_set_text_or_null(obj, "account", h->account);
    ctl_json_set_text(obj, "sender", h->sender);
    for (const char *r = h->recipients ? h->recipients : ""; *r != '\0';) {
        size_t len = strcspn(r, "\n");
        char *one = xstrndup(r, len);
        ctl_json_append(rcpts, ctl_json_text(one));
        free(one);
        r += len + (r[len] == '\n');
    }
    ctl_json_set(obj, "recipients", rcpts);
    ctl_json_set_int(obj, "nrcpt", h->nrcpt);
    ctl_json_set_text(obj, "subject", h->subject);
    char decoded[1024];
    ctl_json_set_text(obj, "subject_decoded",
                      mimeword_decode(h->subject ? h->subject : "", decoded, sizeof decoded));
    ctl_json_set_int(obj, "size", h->size);
    ctl_json_set_text(obj, "reason", h->reason);
    ctl_json_set_text(obj, "state", h->state);
    ctl_json_set_text(obj, "decided_by", h->decided_by);
    ctl_json_set_time(obj, "decided_at", h->decided_at);
    ctl_json_set_text(obj, "decision_reason", h->decision_reason);
    ctl_json_set_text(obj, "host", h->host);
    return obj;
}

static void held_row(const struct store_held *h, void *arg)
{
    struct ctl_rows *s = arg;
    /* The subject is cut to keep a row on a screen; every other cell is kept whole. */
    static const size_t cell_max[HELD_COLUMNS] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX,
                                                  SIZE_MAX, SIZE_MAX, 60,       SIZE_MAX};
    char age[32], nrcpt[24];

    if (s->json != NULL) {
        ctl_json_append(s->json, ctl_held_json(h));
        return;
    }
    format_age(s->now, h->held_at, age, sizeof age);
    snprintf(nrcpt, sizeof nrcpt, "%lld", (long long)h->nrcpt);
    const char *account = ctl_present(h->account) ? h->account : HELD_NO_ACCOUNT;
    const char *cells[HELD_COLUMNS] = {
        h->queue_id, h->host ? h->host : "", age, account, h->sender, nrcpt, h->state, h->subject,
        h->reason};
    ctl_rows_add(s, cells, HELD_COLUMNS, cell_max);
}

/* held list [--account A] [--all] [--limit N] [--json]: oldest first; with --limit the oldest N,
 * and the number of the others said on stderr. */
static int held_list(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[HELD_COLUMNS] = {
        "QUEUE ID", "HOST", "AGE", "ACCOUNT", "SENDER", "RCPTS", "STATE", "SUBJECT", "REASON"};
    struct ctl_rows s;
    struct store_held_query q = {.account = a->account, .state = a->all ? NULL : "held"};
    int64_t total = 0;
    char *end;

    if (a->npos != 1 || a->reason || a->by)
        return ctl_usage_error(
            ctl,
            "held list: wrong arguments (held list [--account A] [--all] [--limit N] [--json])");
    if (a->account && !ctl_account_valid(ctl, a->account, "held list"))
        return CTL_EXIT_USAGE;
    if (a->limit != NULL) {
        q.limit = strtoll(a->limit, &end, 10);
        if (*end != '\0' || end == a->limit || q.limit < 1 || q.limit > HELD_LIST_LIMIT_MAX)
            return ctl_usage_error(ctl, "held list: --limit wants a number of messages from 1 to "
                                        "100000");
    }
    reconcile(ctl, a->account);
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    enum store_status st = store_held_list(ctl->store, &q, held_row, &s, &total, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, HELD_COLUMNS);
        return ctl_store_error(ctl, "reading the held messages");
    }
    if (q.limit > 0 && total > q.limit)
        fprintf(stderr, "the oldest %lld of %lld messages (--limit)\n", (long long)q.limit,
                (long long)total);
    return ctl_rows_done(&s, header, HELD_COLUMNS,
                         a->all ? "no held messages" : "no messages are held");
}

static void held_detail(const struct store_held *h, void *arg)
{
    struct ctl_rows *s = arg;
    char t[32], buf[1024];

    s->still_held = h->state != NULL && strcmp(h->state, "held") == 0;
    free(s->held_account);
    s->held_account = xstrdup(h->account != NULL ? h->account : "");
    free(s->held_host);
    s->held_host = xstrdup(h->host != NULL ? h->host : "");

    if (s->json != NULL) {
        ctl_json_append(s->json, ctl_held_json(h));
        s->count++;
        return;
    }
    if (s->count++ > 0)
        printf("\n");
    ctl_format_minute(h->held_at, t, sizeof t);
    printf("queue id:    %s\n", str_printable(buf, sizeof buf, h->queue_id));
    printf("held on:     %s\n", h->host != NULL && h->host[0] != '\0'
                                    ? str_printable(buf, sizeof buf, h->host)
                                    : "(this host: held before hosts were recorded)");
    printf("held at:     %s UTC\n", t);
    if (ctl_present(h->account))
        printf("account:     %s\n", str_printable(buf, sizeof buf, h->account));
    else
        printf("account:     " HELD_NO_ACCOUNT ": not an authenticated session\n");
    printf("sender:      <%s>\n", str_printable(buf, sizeof buf, h->sender));
    printf("recipients:  %lld\n", (long long)h->nrcpt);
    const char *r = h->recipients ? h->recipients : "";
    while (*r != '\0') {
        size_t len = strcspn(r, "\n");
        char *one = xstrndup(r, len);
        printf("             <%s>\n", str_printable(buf, sizeof buf, one));
        free(one);
        r += len + (r[len] == '\n');
    }
    char decoded[1024];
    mimeword_decode(h->subject ? h->subject : "", decoded, sizeof decoded);
    printf("subject:     %s\n", ctl_printable_text(buf, sizeof buf, decoded, s->utf8));
    printf("size:        %lld bytes\n", (long long)h->size);
    printf("reason:      %s\n", ctl_printable_text(buf, sizeof buf, h->reason, s->utf8));
    printf("state:       %s\n", str_printable(buf, sizeof buf, h->state));
    if (h->decided_at > 0) {
        ctl_format_minute(h->decided_at, t, sizeof t);
        printf("decided:     %s UTC by %s", t, str_printable(buf, sizeof buf, h->decided_by));
        printf(": %s\n", ctl_printable_text(buf, sizeof buf, h->decision_reason, s->utf8));
    }
}

/*
 * The message itself, as held_show_command prints it (postcat -h -b: the header, an empty line,
 * the body): every header line, the Subject decoded, then the start of the body.  Bytes of the
 * message are the sender's: escaped for the terminal, UTF-8 kept on a UTF-8 one.
 */
/* The header section unfolded (RFC 5322 2.2.3: a line break before a blank is removed), the
 * body as it is; a new string. */
static char *unfold_header(const char *text)
{
    char *out = xmalloc(strlen(text) + 1), *o = out;
    bool in_body = false;

    for (const char *p = text; *p != '\0'; p++) {
        if (!in_body && *p == '\n' &&
            (p == text || p[-1] == '\n' || (p[-1] == '\r' && p - 1 > text && p[-2] == '\n')))
            in_body = true;
        if (!in_body && (*p == '\r' || *p == '\n') && p[*p == '\r'] == '\n' &&
            (p[1 + (*p == '\r')] == ' ' || p[1 + (*p == '\r')] == '\t')) {
            p += *p == '\r';
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

static void print_message(const char *message, bool utf8)
{
    char line[4096], decoded[4096], shown[4096 * 4];
    bool in_body = false;
    size_t body_lines = 0, more = 0;
    char *text = unfold_header(message);

    printf("\n");
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        size_t keep = len < sizeof line ? len : sizeof line - 1;
        memcpy(line, p, keep);
        line[keep] = '\0';
        if (keep > 0 && line[keep - 1] == '\r')
            line[keep - 1] = '\0';
        p += len + (p[len] == '\n');
        if (!in_body && line[0] == '\0') {
            in_body = true;
            printf("\n");
            continue;
        }
        if (in_body && body_lines >= HELD_SHOW_BODY_LINES) {
            more++;
            continue;
        }
        body_lines += in_body;
        bool subject = !in_body && strncasecmp(line, "Subject:", 8) == 0;
        printf("%s%s\n", in_body ? "  | " : "  ",
               ctl_printable_text(shown, sizeof shown,
                                  subject ? mimeword_decode(line, decoded, sizeof decoded) : line,
                                  utf8));
    }
    if (more > 0)
        printf("  | (%zu more lines of the body)\n", more);
    free(text);
}

/*
 * The message's header fields as [name, value] pairs (unfolded; at most HELD_JSON_HEADERS_MAX,
 * each value cut at HELD_JSON_VALUE_MAX bytes) and the start of its body (HELD_JSON_BODY_MAX
 * bytes, "body_more" when there is more), set on obj.  The bytes are the sender's: ctl_json_text
 * makes them valid UTF-8, and jansson escapes the controls.
 */
static void message_json(json_t *obj, const char *message)
{
    char *text = unfold_header(message), name[HELD_JSON_NAME_MAX], *value;
    json_t *headers = ctl_json_array();
    const char *p = text;
    size_t nheaders = 0;

    while (*p != '\0' && *p != '\n' && !(p[0] == '\r' && p[1] == '\n')) {
        size_t len = strcspn(p, "\n"), n = strcspn(p, ":");
        if (n < len && n > 0 && n < sizeof name && nheaders < HELD_JSON_HEADERS_MAX) {
            memcpy(name, p, n);
            name[n] = '\0';
            const char *v = p + n + 1;
            size_t vlen = len - n - 1;
            while (vlen > 0 && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            value = xstrndup(v, vlen < HELD_JSON_VALUE_MAX ? vlen : HELD_JSON_VALUE_MAX);
            json_t *pair = ctl_json_array();
            ctl_json_append(pair, ctl_json_text(name));
            ctl_json_append(pair, ctl_json_text(value));
            ctl_json_append(headers, pair);
            free(value);
            nheaders++;
        }
        p += len + (p[len] == '\n');
    }
    p += *p == '\r';
    p += *p == '\n';
    size_t body = strlen(p);
    char *start = xstrndup(p, body < HELD_JSON_BODY_MAX ? body : HELD_JSON_BODY_MAX);
    ctl_json_set(obj, "headers", headers);
    ctl_json_set_text(obj, "body_start", start);
    ctl_json_set_bool(obj, "body_more", body > HELD_JSON_BODY_MAX);
    free(start);
    free(text);
}

/* What held show found about a queue id. */
struct held_shown {
    struct ctl_rows s;
    char *message; /* held_show_command's output, or NULL */
    bool here;     /* held in this host's queue (or decided: nowhere) */
    bool unshown;  /* still held here, and the command failed: why says why */
    char why[512];
};

/* The rows of id into h->s (initialized by the caller), then the message itself when it is still
 * held in this host's queue.  STORE_NOTFOUND when there is no row. */
static enum store_status held_show_collect(struct ctl *ctl, const char *id, struct held_shown *h)
{
    enum store_status st =
        store_held_each(ctl->store, id, NULL, NULL, held_detail, &h->s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND)
        return st;
    if (h->s.count == 0)
        return STORE_NOTFOUND;
    /* Only a message still held is in the MTA's queue to be shown, and only in the queue of the
     * host that holds it. */
    h->here = held_here(ctl, h->s.held_host);
    h->unshown = h->s.still_held && h->here &&
                 !command_run(ctl->cfg->held_show_command, id, &h->message, HELD_SHOW_OUTPUT_MAX,
                              h->why, sizeof h->why);
    return STORE_OK;
}

static void held_shown_free(struct held_shown *h)
{
    free(h->s.held_account);
    free(h->s.held_host);
    ctl_rows_free(&h->s, 0);
    free(h->message);
}

/* The record's changes about the queue id (release, reject: who, from where, why). */
static json_t *held_changes(struct ctl *ctl, const char *id)
{
    json_t *changes;
    if (ctl_changes_json(ctl, id, 0, 0, HELD_SHOW_CHANGES_MAX, &changes) != STORE_OK) {
        fprintf(stderr, "ingressctl: warning: the record of changes cannot be read: %s\n",
                ctl->err.text);
        return ctl_json_array();
    }
    return changes;
}

/* ctl_held_show_json, and whether the message is held here and could not be shown. */
static enum store_status held_show_json(struct ctl *ctl, const char *id, json_t **doc,
                                        bool *unshown, char *why, size_t whylen)
{
    struct held_shown h = {0};

    *doc = NULL;
    ctl_rows_init(&h.s, true, (int64_t)time(NULL));
    enum store_status st = held_show_collect(ctl, id, &h);
    if (st != STORE_OK) {
        held_shown_free(&h);
        return st;
    }
    json_t *first = json_array_get(h.s.json, 0);
    if (ctl_present(h.s.held_account))
        ctl_print_rates(ctl, h.s.held_account, "rates now:", first);
    if (h.message != NULL) {
        ctl_json_set_text(first, "message", h.message);
        message_json(first, h.message);
    }
    if (h.unshown)
        ctl_json_set_text(first, "message_error", h.why);
    else if (h.s.still_held && !h.here)
        ctl_json_set_text(first, "message_error", "held in another host's queue");
    ctl_json_set(first, "changes", held_changes(ctl, id));
    *doc = h.s.json;
    *unshown = h.unshown;
    str_copy(why, whylen, h.why);
    h.s.json = NULL;
    held_shown_free(&h);
    return STORE_OK;
}

enum store_status ctl_held_show_json(struct ctl *ctl, const char *id, json_t **doc)
{
    bool unshown;
    char why[512];
    return held_show_json(ctl, id, doc, &unshown, why, sizeof why);
}

static int held_show(struct ctl *ctl, const struct ctl_args *a)
{
    struct held_shown h = {0};
    char shown[512], why[512];
    json_t *doc;

    if (a->npos != 2 || a->reason || a->by || a->account || a->all)
        return ctl_usage_error(ctl, "held show: wrong arguments (held show QUEUEID [--json])");
    if (!command_queue_id_valid(a->pos[1]))
        return ctl_usage_error(ctl, "held show: not a queue id (letters and digits only)");
    reconcile(ctl, NULL);
    enum store_status st;
    if (a->json) {
        st = held_show_json(ctl, a->pos[1], &doc, &h.unshown, h.why, sizeof h.why);
        if (st == STORE_OK)
            ctl_json_print(doc);
    } else {
        ctl_rows_init(&h.s, false, (int64_t)time(NULL));
        h.s.utf8 = ctl_terminal_utf8();
        st = held_show_collect(ctl, a->pos[1], &h);
    }
    if (st == STORE_NOTFOUND) {
        held_shown_free(&h);
        fprintf(stderr, "%s: no held message with this queue id\n", a->pos[1]);
        return CTL_EXIT_NOTFOUND;
    }
    if (st != STORE_OK) {
        held_shown_free(&h);
        return ctl_store_error(ctl, "reading the held messages");
    }
    if (!a->json) {
        if (h.s.still_held && !h.here)
            printf("message:     in the queue of %s: run ingressctl held show there to read it\n",
                   str_printable(shown, sizeof shown, h.s.held_host));
        /* The account's rates now, beside the reason it was held for. */
        if (ctl_present(h.s.held_account))
            ctl_print_rates(ctl, h.s.held_account, "rates now:", NULL);
        json_t *changes = held_changes(ctl, a->pos[1]);
        for (size_t i = 0; i < json_array_size(changes); i++)
            ctl_change_print(json_array_get(changes, i),
                             i == 0 ? "changes:     " : "             ");
        json_decref(changes);
        if (h.message != NULL)
            print_message(h.message, h.s.utf8);
    }
    bool unshown = h.unshown;
    str_copy(why, sizeof why, h.why);
    held_shown_free(&h);
    if (unshown) {
        fprintf(stderr,
                "ingressctl: held show %s: the message cannot be shown: %s (held_show_command; "
                "the MTA may no longer have it: ingressctl held list reconciles)\n",
                a->pos[1], why);
        return CTL_EXIT_ERROR;
    }
    return CTL_EXIT_OK;
}

/*
 * The MTA's part for a message held on host: this host's command, or held_remote_command for
 * another host's.  false with why when it failed or cannot be run from here.
 */
static bool held_mta_command(struct ctl *ctl, const struct ctl_held_action *act, const char *id,
                             const char *host, char *why, size_t whylen)
{
    if (held_here(ctl, host)) {
        const char *tmpl =
            act->release ? ctl->cfg->held_release_command : ctl->cfg->held_reject_command;
        char run_why[400];
        if (command_run(tmpl, id, NULL, 0, run_why, sizeof run_why))
            return true;
        str_printf(why, whylen, "held_%s_command: %s", act->verb, run_why);
        return false;
    }
    char shown[256], run_why[400];
    str_printable(shown, sizeof shown, host);
    if (ctl->cfg->held_remote_command[0] == '\0') {
        str_printf(why, whylen,
                   "held on %s: run `ingressctl held %s %s` on %s (or set held_remote_command)",
                   shown, act->verb, id, shown);
        return false;
    }
    if (command_run_remote(ctl->cfg->held_remote_command, host, id, act->verb, run_why,
                           sizeof run_why))
        return true;
    str_printf(why, whylen, "held on %s: held_remote_command: %s", shown, run_why);
    return false;
}

struct ctl_held_action ctl_held_action(bool release, const char *by, const char *reason)
{
    return (struct ctl_held_action){.release = release,
                                    .verb = release ? "release" : "reject",
                                    .state = release ? "released" : "rejected",
                                    .by = by,
                                    .reason = reason};
}

int ctl_held_decide_one(struct ctl *ctl, const struct ctl_held_action *act, const char *id,
                        const char *host)
{
    char why[600];
    int64_t now = (int64_t)time(NULL);

    /* A message of another host without a template: nothing to claim, say where to go. */
    if (!held_here(ctl, host) && ctl->cfg->held_remote_command[0] == '\0') {
        held_mta_command(ctl, act, id, host, why, sizeof why);
        fprintf(stderr, "%s: not %s: %s\n", id, act->state, why);
        return -1;
    }
    switch (store_held_decide(ctl->store, id, row_host(host), act->state, act->by, act->reason, now,
                              &ctl->err)) {
    case STORE_OK:
        break;
    case STORE_NOTFOUND:
        fprintf(stderr, "%s: no longer held (decided meanwhile: see held show %s)\n", id, id);
        return 0;
    default:
        fprintf(stderr, "%s: not %s: %s\n", id, act->state, ctl->err.text);
        return -1;
    }
    if (held_mta_command(ctl, act, id, host, why, sizeof why)) {
        printf("%s %s\n", act->state, id);
        char detail[400];
        str_printf(detail, sizeof detail, "%s%s%s", act->state, host[0] != '\0' ? " on " : "",
                   host);
        ctl_change_record(ctl, act->release ? "held release" : "held reject", id, detail,
                          act->reason);
        return 1;
    }
    fprintf(stderr, "%s: not %s: %s\n", id, act->state, why);
    enum store_status undone =
        store_held_undo(ctl->store, id, row_host(host), act->state, act->by, now, &ctl->err);
    if (undone != STORE_OK)
        fprintf(stderr, "%s: still recorded as %s: %s\n", id, act->state,
                undone == STORE_NOTFOUND ? "decided again meanwhile" : ctl->err.text);
    return -1;
}

enum store_status ctl_held_decide_account(struct ctl *ctl, const struct ctl_held_action *act,
                                          const char *account, json_t *ids,
                                          struct ctl_held_tally *t)
{
    struct id_list todo = {0};

    enum store_status st =
        store_held_each(ctl->store, NULL, account, "held", id_collect, &todo, &ctl->err);
    if (st != STORE_OK) {
        id_list_free(&todo);
        return st;
    }
    for (size_t i = 0; i < todo.count; i++) {
        int outcome = ctl_held_decide_one(ctl, act, todo.ids[i], todo.hosts[i]);
        t->done += outcome > 0;
        t->missing += outcome == 0;
        t->failed += outcome < 0;
        if (outcome > 0 && ids != NULL)
            ctl_json_append(ids, ctl_json_text(todo.ids[i]));
    }
    id_list_free(&todo);
    /* Each message's change has its queue id as key; this one is found by the account. */
    if (t->done > 0) {
        char detail[160];
        str_printf(detail, sizeof detail, "%d held message%s %s, %d failed", t->done,
                   t->done == 1 ? "" : "s", act->state, t->failed);
        ctl_change_record(ctl, act->release ? "held release --account" : "held reject --account",
                          account, detail, act->reason);
    }
    return STORE_OK;
}

/*
 * release or reject of each message still held (claim, MTA command, or the claim taken back).
 * A message the command fails for, or held on another host without held_remote_command, stays
 * held (and the status is 2); one that is not held is reported (status 1 when nothing was done).
 */
static int held_decide(struct ctl *ctl, const struct ctl_args *a, bool release)
{
    struct ctl_held_action act = ctl_held_action(release, NULL, a->reason ? a->reason : "");
    const char *verb = act.verb;
    struct id_list todo = {0};
    struct ctl_held_tally t = {0};
    char by[64], why[512];

    if ((a->npos < 2) == (a->account == NULL) || a->all || a->json)
        return ctl_usage_error(
            ctl, "held %s: wrong arguments (held %s QUEUEID...|--account A %s[--by NAME])", verb,
            verb, release ? "[--reason TEXT] " : "--reason TEXT ");
    if (!release && a->reason == NULL)
        return ctl_usage_error(ctl, "held reject: --reason TEXT is required (it is recorded)");
    if (a->reason && (strlen(a->reason) > CTL_REASON_MAX || !lists_reason_valid(a->reason)))
        return ctl_usage_error(ctl, "held %s: --reason: printable text, at most %d characters",
                               verb, CTL_REASON_MAX);
    if (a->by && (strlen(a->by) > 63 || !lists_reason_valid(a->by)))
        return ctl_usage_error(ctl, "held %s: --by: printable text, at most 63 characters", verb);
    for (int i = 1; i < a->npos; i++)
        if (!command_queue_id_valid(a->pos[i]))
            return ctl_usage_error(ctl, "held %s: %s: not a queue id (letters and digits only)",
                                   verb, str_printable(why, sizeof why, a->pos[i]));
    if (a->account && !ctl_account_valid(ctl, a->account, verb))
        return CTL_EXIT_USAGE;
    if (a->by) {
        str_copy(by, sizeof by, a->by);
        ctl_origin_local(ctl, a->by);
    } else {
        ctl_invoking_user(by, sizeof by);
    }
    act.by = by;

    enum store_status st = STORE_OK;
    if (a->account) {
        st = ctl_held_decide_account(ctl, &act, a->account, NULL, &t);
    } else {
        for (int i = 1; i < a->npos && (st == STORE_OK || st == STORE_NOTFOUND); i++) {
            size_t before = todo.count;
            st = store_held_each(ctl->store, a->pos[i], NULL, "held", id_collect, &todo, &ctl->err);
            if (st == STORE_NOTFOUND || todo.count == before) {
                fprintf(stderr, "%s: not held (see held list --all)\n", a->pos[i]);
                t.missing++;
            }
        }
    }
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        id_list_free(&todo);
        return ctl_store_error(ctl, "reading the held messages");
    }
    for (size_t i = 0; i < todo.count; i++) {
        int outcome = ctl_held_decide_one(ctl, &act, todo.ids[i], todo.hosts[i]);
        t.done += outcome > 0;
        t.missing += outcome == 0;
        t.failed += outcome < 0;
    }
    id_list_free(&todo);
    if (t.failed > 0)
        return CTL_EXIT_ERROR;
    if (t.done == 0) {
        if (a->account && t.missing == 0)
            fprintf(stderr, "no messages of %s are held\n", a->account);
        return CTL_EXIT_NOTFOUND;
    }
    return CTL_EXIT_OK;
}

int ctl_verb_held(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = ctl_split_args(ctl, argc, argv, CTL_POS_MAX, HELD_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos > 0 && strcmp(a.pos[0], "list") == 0)
        return held_list(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "show") == 0)
        return held_show(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "release") == 0)
        return held_decide(ctl, &a, true);
    if (a.npos > 0 && strcmp(a.pos[0], "reject") == 0)
        return held_decide(ctl, &a, false);
    return ctl_usage_error(ctl, "held: expected list, show, release or reject");
}
