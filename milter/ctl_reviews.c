/*
 * ctl_reviews: what the remote sender's page shares with the staff: the plain words and the fix
 * per check (built in, or the site's own from the store: `ingressctl explain`, and GET, PUT and
 * DELETE /api/explanations through the same functions), and the review requests senders make
 * there (`ingressctl review`, GET /api/reviews, POST /api/reviews/ID/close likewise).
 *
 * The explanations live in the store, not in a file: several MX hosts of a fleet share one
 * database and one policy, and a postmaster who changes a text once expects every host's page to
 * say it, as a list entry changed once applies to every milter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "lists.h"
#include "util.h"

#define REVIEW_COLUMNS 7

/*
 * Every check a decision can name, what a sender is told it means, and the built-in fix for the
 * sender's side.  The submission checks (account, throttle) are no remote sender's case and our
 * own failures (dns, store) nobody's to fix; they have words all the same, in case such a
 * reference reaches the page.
 */
static const struct ctl_check_words {
    const char *check, *title, *fix;
} check_words[] = {
    {"iprev", "The sending server's reverse DNS (PTR) did not check out",
     "Give the sending server's address a PTR record naming a host whose A or AAAA record "
     "resolves back to that same address, and use that name as its HELO/EHLO name. The owner of "
     "the address block (your hosting provider or ISP) sets the PTR record."},
    {"spf", "SPF: the sender's domain does not list the sending server",
     "Publish an SPF record (a TXT record starting v=spf1 on the envelope sender's domain) that "
     "lists the sending server, e.g. ip4:ADDRESS, or send through a server the record lists."},
    {"dkim", "DKIM: the message had no valid signature",
     "Sign the mail with DKIM: a valid signature by the From domain, whose public key is "
     "published in DNS, over a body that is not changed on the way."},
    {"dmarc", "DMARC: the From domain's policy refused the message",
     "Make the message pass DMARC: a valid DKIM signature of the From domain, or an SPF pass for "
     "an envelope domain aligned with it."},
    {"greylist", "Greylisting: delivery was deferred on purpose",
     "Nothing to fix: this was a temporary refusal (4xx) of a first attempt. A mail server "
     "retries by itself, and a retry after %MINUTES% is accepted. If yours never retries, "
     "check its queue."},
    {"lists", "The sending server or the sender is on this site's block list",
     "Write to the postmaster of the domain you sent to, quoting this reference, from an address "
     "this site does not refuse, or use the review request below."},
    {"dnsbl", "The sending server's address is listed on a DNS blocklist",
     "Look the address up on the blocklist, fix what made it listed (an infected host, an open "
     "relay) and follow its removal procedure; then send again."},
    {"rules", "The recipient does not accept mail from this sender",
     "The recipient has chosen not to receive mail from this sender; reach them another way."},
    {"sender", "The sender address was not acceptable",
     "Send with a valid envelope sender and From address of a domain that exists."},
    {"policy", "The message was refused by this site's policy",
     "Use the review request below, quoting what you sent and when."},
    {"account", "Not a case for remote senders: an account of this site",
     "This refusal concerns an account of this site; its owner should contact the support desk."},
    {"throttle", "Not a case for remote senders: an account's sending limit",
     "This refusal concerns an account of this site; its owner should contact the support desk."},
    {"dns", "A DNS lookup failed on the way",
     "Nothing to fix at first: this was a temporary refusal and your server retries. If it "
     "lasts, check that your domain's DNS servers answer."},
    {"store", "A temporary problem at this site",
     "Nothing to fix on your side: your server retries and the retry gets through."},
};

static const struct ctl_check_words *words_of(const char *check)
{
    for (size_t i = 0; check != NULL && i < sizeof check_words / sizeof check_words[0]; i++)
        if (strcmp(check_words[i].check, check) == 0)
            return &check_words[i];
    return NULL;
}

bool ctl_explain_check_known(const char *check)
{
    return words_of(check) != NULL;
}

const char *ctl_explain_title(const char *check)
{
    const struct ctl_check_words *w = words_of(check);
    return w != NULL ? w->title : "The message was refused";
}

void ctl_explain_default(const char *check, const struct config *cfg, char *out, size_t outlen)
{
    const struct ctl_check_words *w = words_of(check);
    const char *fix = w != NULL ? w->fix : "Use the review request below.";
    const char *mark = strstr(fix, "%MINUTES%");
    if (mark == NULL) {
        str_copy(out, outlen, fix);
        return;
    }
    long minutes = (long)((cfg->greylist_delay + 59999) / 60000);
    str_printf(out, outlen, "%.*s%ld minute%s%s", (int)(mark - fix), fix, minutes,
               minutes == 1 ? "" : "s", mark + strlen("%MINUTES%"));
}

struct explanation_find {
    const char *check;
    char *out;
    size_t outlen;
    bool found;
};

static void explanation_match(const char *check, const char *text, const char *by, int64_t at,
                              void *arg)
{
    (void)by, (void)at;
    struct explanation_find *f = arg;
    if (strcmp(check, f->check) == 0) {
        str_copy(f->out, f->outlen, text);
        f->found = true;
    }
}

enum store_status ctl_explain_text(struct ctl *ctl, const char *check, char *out, size_t outlen)
{
    struct explanation_find f = {check != NULL ? check : "", out, outlen, false};
    enum store_status st = store_explanation_each(ctl->store, explanation_match, &f, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND)
        return st;
    if (!f.found)
        ctl_explain_default(check, ctl->cfg, out, outlen);
    return STORE_OK;
}

bool ctl_explain_text_valid(const char *text)
{
    size_t len = strlen(text);
    const unsigned char *p = (const unsigned char *)text, *end = p + len;

    if (len == 0 || len > CTL_EXPLANATION_MAX)
        return false;
    while (p < end) {
        size_t n = *p < 0x80 ? (*p >= 0x20 && *p != 0x7f) : str_utf8_length(p, end);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

/* ---- review requests ---- */

json_t *ctl_review_json(const struct store_review *r)
{
    json_t *obj = ctl_json_object();
    ctl_json_set_int(obj, "id", r->id);
    ctl_json_set_text(obj, "ref", r->ref);
    ctl_json_set_time(obj, "at", r->at);
    ctl_json_set_text(obj, "from", r->contact);
    ctl_json_set_text(obj, "client", r->client);
    ctl_json_set_text(obj, "text", r->text);
    ctl_json_set_text(obj, "state", r->state);
    ctl_json_set_text(obj, "closed_by", r->closed_by);
    ctl_json_set_time(obj, "closed_at", r->closed_at);
    ctl_json_set_text(obj, "reason", r->reason);
    return obj;
}

static void review_collect(const struct store_review *r, void *arg)
{
    ctl_json_append(arg, ctl_review_json(r));
}

enum store_status ctl_review_list_json(struct ctl *ctl, bool all, json_t **doc)
{
    *doc = ctl_json_array();
    enum store_status st =
        store_review_each(ctl->store, all ? NULL : "open", review_collect, *doc, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        json_decref(*doc);
        *doc = NULL;
        return st;
    }
    return STORE_OK;
}

enum store_status ctl_review_close(struct ctl *ctl, int64_t id, const char *by, const char *reason)
{
    return store_review_close(ctl->store, id, by, reason, (int64_t)time(NULL), &ctl->err);
}

static void review_row(const struct store_review *r, void *arg)
{
    struct ctl_rows *s = arg;
    static const size_t cell_max[REVIEW_COLUMNS] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX,
                                                    SIZE_MAX, SIZE_MAX, 80};
    char id[24], at[32];

    if (s->json != NULL) {
        ctl_json_append(s->json, ctl_review_json(r));
        return;
    }
    snprintf(id, sizeof id, "%lld", (long long)r->id);
    ctl_format_minute(r->at, at, sizeof at);
    const char *cells[REVIEW_COLUMNS] = {id, at, r->ref, r->contact, r->client, r->state, r->text};
    ctl_rows_add(s, cells, REVIEW_COLUMNS, cell_max);
}

static int review_list(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[REVIEW_COLUMNS] = {"ID",     "AT",    "REF", "FROM",
                                                       "CLIENT", "STATE", "TEXT"};
    struct ctl_rows s;

    if (a->npos != 1 || a->reason || a->by)
        return ctl_usage_error(ctl, "review list: wrong arguments (review list [--all] [--json])");
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    s.utf8 = ctl_terminal_utf8();
    enum store_status st =
        store_review_each(ctl->store, a->all ? NULL : "open", review_row, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, REVIEW_COLUMNS);
        return ctl_store_error(ctl, "reading the review requests");
    }
    return ctl_rows_done(&s, header, REVIEW_COLUMNS,
                         a->all ? "no review requests" : "no review request is open");
}

static int review_close(struct ctl *ctl, const struct ctl_args *a)
{
    char by[64], *end;

    if (a->npos != 2 || a->reason == NULL || a->all || a->json)
        return ctl_usage_error(ctl, "review close: wrong arguments (review close ID --reason "
                                    "TEXT [--by NAME])");
    long long id = strtoll(a->pos[1], &end, 10);
    if (*end != '\0' || id <= 0)
        return ctl_usage_error(ctl, "review close: ID is the number review list shows");
    if (a->reason[0] == '\0' || strlen(a->reason) > CTL_REASON_MAX ||
        !lists_reason_valid(a->reason))
        return ctl_usage_error(ctl, "review close: --reason: printable text, at most %d bytes",
                               CTL_REASON_MAX);
    if (a->by && (strlen(a->by) > 63 || !lists_reason_valid(a->by)))
        return ctl_usage_error(ctl, "review close: --by: printable text, at most 63 bytes");
    if (a->by)
        str_copy(by, sizeof by, a->by);
    else
        ctl_invoking_user(by, sizeof by);
    enum store_status st = ctl_review_close(ctl, id, by, a->reason);
    if (st == STORE_NOTFOUND) {
        fprintf(stderr, "no open review request %lld\n", id);
        return CTL_EXIT_NOTFOUND;
    }
    if (st != STORE_OK)
        return ctl_store_error(ctl, "closing the review request");
    printf("closed review request %lld\n", id);
    return CTL_EXIT_OK;
}

int ctl_verb_review(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = ctl_split_args(ctl, argc, argv, 2, "--reason --by --all --json", &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos > 0 && strcmp(a.pos[0], "list") == 0)
        return review_list(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "close") == 0)
        return review_close(ctl, &a);
    return ctl_usage_error(ctl, "review: expected list or close");
}

/* ---- explain ---- */

#define CHECKS (sizeof check_words / sizeof check_words[0])

/* One check's explanation as JSON; text NULL: the built-in one (by and at are then ignored). */
static json_t *explain_json(const struct ctl *ctl, size_t i, const char *text, const char *by,
                            int64_t at)
{
    char builtin[CTL_EXPLANATION_MAX + 1];
    json_t *obj = ctl_json_object();

    if (text == NULL) {
        ctl_explain_default(check_words[i].check, ctl->cfg, builtin, sizeof builtin);
        by = NULL, at = 0;
    }
    ctl_json_set_text(obj, "check", check_words[i].check);
    ctl_json_set_text(obj, "title", check_words[i].title);
    ctl_json_set_text(obj, "text", text != NULL ? text : builtin);
    ctl_json_set_bool(obj, "default", text == NULL);
    ctl_json_set_text_or_null(obj, "set_by", by);
    ctl_json_set_time(obj, "set_at", at);
    return obj;
}

/* The site's explanations, by the index of their check, copied out of the store's callback. */
struct explain_set {
    const struct ctl *ctl;
    json_t *set[CHECKS];
};

static void explain_row(const char *check, const char *text, const char *by, int64_t at, void *arg)
{
    struct explain_set *l = arg;
    for (size_t i = 0; i < CHECKS; i++)
        if (strcmp(check_words[i].check, check) == 0 && l->set[i] == NULL)
            l->set[i] = explain_json(l->ctl, i, text, by, at);
}

enum store_status ctl_explain_json(struct ctl *ctl, const char *check, json_t **doc)
{
    struct explain_set l = {.ctl = ctl};

    *doc = NULL;
    enum store_status st = store_explanation_each(ctl->store, explain_row, &l, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        for (size_t i = 0; i < CHECKS; i++)
            json_decref(l.set[i]);
        return st;
    }
    if (check == NULL)
        *doc = ctl_json_array();
    for (size_t i = 0; i < CHECKS; i++) {
        json_t *obj = l.set[i] != NULL ? l.set[i] : explain_json(ctl, i, NULL, NULL, 0);
        if (check == NULL)
            ctl_json_append(*doc, obj);
        else if (strcmp(check_words[i].check, check) == 0)
            *doc = obj;
        else
            json_decref(obj);
    }
    return *doc != NULL ? STORE_OK : STORE_NOTFOUND;
}

enum store_status ctl_explain_set(struct ctl *ctl, const char *check, const char *text,
                                  const char *by, const char *reason)
{
    char detail[CTL_EXPLANATION_MAX + 64];

    enum store_status st =
        store_explanation_set(ctl->store, check, text, by, (int64_t)time(NULL), &ctl->err);
    if (st != STORE_OK)
        return st;
    if (text != NULL)
        str_printf(detail, sizeof detail, "%s explanation: %s", check, text);
    else
        str_printf(detail, sizeof detail, "%s explanation: the built-in text again", check);
    ctl_change_record(ctl, text != NULL ? "explain set" : "explain unset", check, detail, reason);
    return STORE_OK;
}

static int explain_list(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[CTL_EXPLANATION_MAX * 4 + 1];
    json_t *doc;

    if (ctl_explain_json(ctl, NULL, &doc) != STORE_OK)
        return ctl_store_error(ctl, "reading the explanations");
    if (a->json) {
        ctl_json_print(doc);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < json_array_size(doc); i++) {
        const json_t *obj = json_array_get(doc, i);
        printf("%-9s %s%s\n", json_string_value(json_object_get(obj, "check")),
               json_is_true(json_object_get(obj, "default")) ? "(built in) " : "",
               ctl_printable_text(shown, sizeof shown,
                                  json_string_value(json_object_get(obj, "text")),
                                  ctl_terminal_utf8()));
    }
    json_decref(doc);
    return CTL_EXIT_OK;
}

int ctl_verb_explain(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    char by[64], shown[80];
    int status = ctl_split_args(ctl, argc, argv, 3, "--json --by --reason", &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos == 1 && strcmp(a.pos[0], "list") == 0)
        return explain_list(ctl, &a);
    bool set = a.npos == 3 && strcmp(a.pos[0], "set") == 0;
    if (!set && !(a.npos == 2 && strcmp(a.pos[0], "unset") == 0))
        return ctl_usage_error(ctl, "explain: expected list, set CHECK TEXT or unset CHECK");
    if (!ctl_explain_check_known(a.pos[1]))
        return ctl_usage_error(ctl, "explain: %s: not a check (explain list shows them)",
                               str_printable(shown, sizeof shown, a.pos[1]));
    if (set && !ctl_explain_text_valid(a.pos[2]))
        return ctl_usage_error(ctl, "explain set: TEXT: one line of printable UTF-8, 1 to %d bytes",
                               CTL_EXPLANATION_MAX);
    if (a.by && (strlen(a.by) > 63 || !lists_reason_valid(a.by)))
        return ctl_usage_error(ctl, "explain: --by: printable text, at most 63 bytes");
    if (a.reason && (strlen(a.reason) > CTL_REASON_MAX || !lists_reason_valid(a.reason)))
        return ctl_usage_error(ctl, "explain: --reason: printable text, at most %d bytes",
                               CTL_REASON_MAX);
    if (a.by) {
        str_copy(by, sizeof by, a.by);
        ctl_origin_local(ctl, a.by);
    } else {
        ctl_invoking_user(by, sizeof by);
    }
    enum store_status st = ctl_explain_set(ctl, a.pos[1], set ? a.pos[2] : NULL, by, a.reason);
    if (st == STORE_NOTFOUND) {
        fprintf(stderr, "%s has the built-in explanation already\n", a.pos[1]);
        return CTL_EXIT_NOTFOUND;
    }
    if (st != STORE_OK)
        return ctl_store_error(ctl, "writing the explanation");
    printf("%s: %s\n", a.pos[1], set ? "explanation set" : "built-in explanation again");
    return CTL_EXIT_OK;
}
