/*
 * ctl_held: the postmaster's review of held mail and of accounts (ARCHITECTURE.md "Submission").
 *
 *   held list [--account A] [--all] [--json]
 *   held show QUEUEID [--json]
 *   held release QUEUEID...|--account A [--reason TEXT] [--by NAME]
 *   held reject QUEUEID...|--account A --reason TEXT [--by NAME]
 *   account suspend ACCOUNT --reason TEXT
 *   account resume ACCOUNT
 *
 * Release and reject drive the MTA with the commands of held_release_command and
 * held_reject_command (lib/command.c: execve, never a shell), then record the decision, who took
 * it and why in the held row.  Listing reconciles the table with the MTA first: a message still
 * "held" here whose queue id held_queue_command no longer prints has left the queue some other
 * way (postsuper by hand, expiry) and becomes "gone".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "ctl.h"
#include "lists.h"
#include "util.h"

#define HELD_OPTIONS "--account --all --json --reason --by"
/* The MTA's queue listing kept for reconciliation; postqueue -j prints ~300 bytes a message. */
#define HELD_QUEUE_OUTPUT_MAX (256u << 20)
/* A message held this recently may not be in the MTA's queue files yet: never marked gone. */
#define HELD_GONE_GRACE 60
#define HELD_REASON_MAX 200

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
    int64_t *held_at;
    size_t count;
};

static void id_collect(const struct store_held *h, void *arg)
{
    struct id_list *l = arg;
    l->ids = xrealloc(l->ids, (l->count + 1) * sizeof *l->ids);
    l->held_at = xrealloc(l->held_at, (l->count + 1) * sizeof *l->held_at);
    l->ids[l->count] = xstrdup(h->queue_id ? h->queue_id : "");
    l->held_at[l->count++] = h->held_at;
}

static void id_list_free(struct id_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->ids[i]);
    free(l->ids);
    free(l->held_at);
    memset(l, 0, sizeof *l);
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
    invoking_user(by, sizeof by);
    for (size_t i = 0; i < held.count; i++) {
        if (held.held_at[i] > now - HELD_GONE_GRACE || has_word(listing, held.ids[i]))
            continue;
        if (store_held_decide(ctl->store, held.ids[i], "gone", by, "no longer in the MTA's queue",
                              now, &ctl->err) == STORE_OK)
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

static void held_json(const struct store_held *h, bool first)
{
    printf("%s{\"queue_id\": ", first ? "[\n  " : ",\n  ");
    json_string(stdout, h->queue_id);
    printf(", \"held_at\": %lld, \"account\": ", (long long)h->held_at);
    json_string(stdout, h->account);
    printf(", \"sender\": ");
    json_string(stdout, h->sender);
    printf(", \"recipients\": [");
    const char *r = h->recipients ? h->recipients : "";
    for (bool first_rcpt = true; *r != '\0'; first_rcpt = false) {
        size_t len = strcspn(r, "\n");
        char *one = xstrndup(r, len);
        printf("%s", first_rcpt ? "" : ", ");
        json_string(stdout, one);
        free(one);
        r += len + (r[len] == '\n');
    }
    printf("], \"nrcpt\": %lld, \"subject\": ", (long long)h->nrcpt);
    json_string(stdout, h->subject);
    printf(", \"size\": %lld, \"reason\": ", (long long)h->size);
    json_string(stdout, h->reason);
    printf(", \"state\": ");
    json_string(stdout, h->state);
    printf(", \"decided_by\": ");
    json_string(stdout, h->decided_by);
    if (h->decided_at > 0)
        printf(", \"decided_at\": %lld", (long long)h->decided_at);
    else
        printf(", \"decided_at\": null");
    printf(", \"decision_reason\": ");
    json_string(stdout, h->decision_reason);
    printf("}");
}

static void held_row(const struct store_held *h, void *arg)
{
    struct show_rows *s = arg;
    char age[32], nrcpt[24], buf[1024];

    if (s->json) {
        held_json(h, s->count == 0);
        s->count++;
        return;
    }
    format_age(s->now, h->held_at, age, sizeof age);
    snprintf(nrcpt, sizeof nrcpt, "%lld", (long long)h->nrcpt);
    s->rows = xrealloc(s->rows, (s->count + 1) * sizeof *s->rows);
    struct show_row *row = &s->rows[s->count++];
    const char *cells[8] = {h->queue_id, age,      h->account, h->sender,
                            nrcpt,       h->state, h->subject, h->reason};
    for (int i = 0; i < 8; i++) {
        str_printable(buf, i == 6 ? 60 : sizeof buf, cells[i] ? cells[i] : "");
        row->cell[i] = xstrdup(buf);
    }
}

static int held_list(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"QUEUE ID", "AGE",   "ACCOUNT", "SENDER",
                                         "RCPTS",    "STATE", "SUBJECT", "REASON"};
    struct show_rows s = {.now = (int64_t)time(NULL), .json = a->json};

    if (a->npos != 1 || a->reason || a->by)
        return usage_error("held list [--account A] [--all] [--json]");
    if (a->account && !account_valid(a->account, "held list"))
        return CTL_EXIT_ERROR;
    reconcile(ctl, a->account);
    enum store_status st = store_held_each(ctl->store, NULL, a->account, a->all ? NULL : "held",
                                           held_row, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        free_rows(s.rows, s.json ? 0 : s.count, 8);
        return ctl_store_error(ctl, "reading the held messages");
    }
    return rows_done(&s, header, 8, a->all ? "no held messages" : "no messages are held");
}

static void held_detail(const struct store_held *h, void *arg)
{
    struct show_rows *s = arg;
    char t[32], buf[1024];

    if (s->json) {
        held_json(h, s->count == 0);
        s->count++;
        return;
    }
    if (s->count++ > 0)
        printf("\n");
    format_minute(h->held_at, t, sizeof t);
    printf("queue id:    %s\n", str_printable(buf, sizeof buf, h->queue_id));
    printf("held at:     %s UTC\n", t);
    printf("account:     %s\n", str_printable(buf, sizeof buf, h->account));
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
    printf("subject:     %s\n", str_printable(buf, sizeof buf, h->subject));
    printf("size:        %lld bytes\n", (long long)h->size);
    printf("reason:      %s\n", str_printable(buf, sizeof buf, h->reason));
    printf("state:       %s\n", str_printable(buf, sizeof buf, h->state));
    if (h->decided_at > 0) {
        format_minute(h->decided_at, t, sizeof t);
        printf("decided:     %s UTC by %s", t, str_printable(buf, sizeof buf, h->decided_by));
        printf(": %s\n", str_printable(buf, sizeof buf, h->decision_reason));
    }
}

static int held_show(struct ctl *ctl, const struct ctl_args *a)
{
    struct show_rows s = {.json = a->json};

    if (a->npos != 2 || a->reason || a->by || a->account || a->all)
        return usage_error("held show QUEUEID [--json]");
    if (!command_queue_id_valid(a->pos[1]))
        return usage_error("held show: not a queue id (letters and digits only)");
    reconcile(ctl, NULL);
    enum store_status st =
        store_held_each(ctl->store, a->pos[1], NULL, NULL, held_detail, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND)
        return ctl_store_error(ctl, "reading the held messages");
    if (s.json && s.count > 0)
        printf("\n]\n");
    if (s.count == 0) {
        fprintf(stderr, "%s: no held message with this queue id\n", a->pos[1]);
        return CTL_EXIT_NOTFOUND;
    }
    return CTL_EXIT_OK;
}

/*
 * release or reject: the MTA's command for each message still held, then the decision in the
 * store.  A message the command fails for stays held (and the status is 2); one that is not held
 * is reported (status 1 when nothing was done at all).
 */
static int held_decide(struct ctl *ctl, const struct ctl_args *a, bool release)
{
    const char *verb = release ? "release" : "reject";
    const char *tmpl = release ? ctl->cfg->held_release_command : ctl->cfg->held_reject_command;
    struct id_list todo = {0};
    char by[64], why[512];
    int done = 0, failed = 0, missing = 0;

    if ((a->npos < 2) == (a->account == NULL) || a->all || a->json)
        return usage_error("held %s QUEUEID...|--account A %s[--by NAME]", verb,
                           release ? "[--reason TEXT] " : "--reason TEXT ");
    if (!release && a->reason == NULL)
        return usage_error("held reject: --reason TEXT is required (it is recorded)");
    if (a->reason && (strlen(a->reason) > HELD_REASON_MAX || !lists_reason_valid(a->reason)))
        return usage_error("held %s: --reason: printable text, at most %d characters", verb,
                           HELD_REASON_MAX);
    if (a->by && (strlen(a->by) > 63 || !lists_reason_valid(a->by)))
        return usage_error("held %s: --by: printable text, at most 63 characters", verb);
    for (int i = 1; i < a->npos; i++)
        if (!command_queue_id_valid(a->pos[i]))
            return usage_error("held %s: %s: not a queue id (letters and digits only)", verb,
                               str_printable(why, sizeof why, a->pos[i]));
    if (a->account && !account_valid(a->account, verb))
        return CTL_EXIT_ERROR;
    if (a->by)
        str_copy(by, sizeof by, a->by);
    else
        invoking_user(by, sizeof by);

    enum store_status st = STORE_OK;
    if (a->account) {
        st = store_held_each(ctl->store, NULL, a->account, "held", id_collect, &todo, &ctl->err);
    } else {
        for (int i = 1; i < a->npos && (st == STORE_OK || st == STORE_NOTFOUND); i++) {
            size_t before = todo.count;
            st = store_held_each(ctl->store, a->pos[i], NULL, "held", id_collect, &todo, &ctl->err);
            if (st == STORE_NOTFOUND || todo.count == before) {
                fprintf(stderr, "%s: not held (see held list --all)\n", a->pos[i]);
                missing++;
            }
        }
    }
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        id_list_free(&todo);
        return ctl_store_error(ctl, "reading the held messages");
    }
    for (size_t i = 0; i < todo.count; i++) {
        const char *id = todo.ids[i];
        if (!command_run(tmpl, id, NULL, 0, why, sizeof why)) {
            fprintf(stderr, "%s: not %s: held_%s_command: %s\n", id,
                    release ? "released" : "rejected", verb, why);
            failed++;
            continue;
        }
        st = store_held_decide(ctl->store, id, release ? "released" : "rejected", by,
                               a->reason ? a->reason : "", (int64_t)time(NULL), &ctl->err);
        if (st != STORE_OK) {
            fprintf(stderr, "%s: %s by the MTA, but not recorded: %s\n", id,
                    release ? "released" : "deleted", ctl->err.text);
            failed++;
            continue;
        }
        printf("%s %s\n", release ? "released" : "rejected", id);
        done++;
    }
    id_list_free(&todo);
    if (failed > 0)
        return CTL_EXIT_ERROR;
    if (done == 0) {
        if (a->account && missing == 0)
            fprintf(stderr, "no messages of %s are held\n", a->account);
        return CTL_EXIT_NOTFOUND;
    }
    return CTL_EXIT_OK;
}

int verb_held(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = split_args("held", argc, argv, CTL_POS_MAX, HELD_OPTIONS, &a);

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
    return usage_error("held: expected list, show, release or reject");
}

int account_suspend(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256];
    bool changed;

    if (a->npos != 2 || a->reason == NULL || a->expires || a->json)
        return usage_error("account suspend ACCOUNT --reason TEXT");
    if (!account_valid(a->pos[1], "account suspend"))
        return CTL_EXIT_ERROR;
    if (strlen(a->reason) > HELD_REASON_MAX || !lists_reason_valid(a->reason))
        return usage_error("account suspend: --reason: printable text, at most %d characters",
                           HELD_REASON_MAX);
    if (store_account_suspend(ctl->store, a->pos[1], (int64_t)time(NULL), a->reason, &changed,
                              &ctl->err) != STORE_OK)
        return ctl_store_error(ctl, "suspending the account");
    printf("%s %s\n", changed ? "suspended" : "already suspended",
           str_printable(shown, sizeof shown, a->pos[1]));
    return CTL_EXIT_OK;
}

int account_resume(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256];

    if (a->npos != 2 || a->reason || a->expires || a->json)
        return usage_error("account resume ACCOUNT");
    if (!account_valid(a->pos[1], "account resume"))
        return CTL_EXIT_ERROR;
    str_printable(shown, sizeof shown, a->pos[1]);
    switch (store_account_resume(ctl->store, a->pos[1], &ctl->err)) {
    case STORE_OK:
        printf("resumed %s\n", shown);
        return CTL_EXIT_OK;
    case STORE_NOTFOUND:
        fprintf(stderr, "%s is not suspended\n", shown);
        return CTL_EXIT_NOTFOUND;
    default:
        return ctl_store_error(ctl, "resuming the account");
    }
}

/* ---- throttle: limits and unthrottle ------------------------------------------------------- */

static const char *const window_names[3] = {"minute", "hour", "day"};

/* "12", "0" or "default" into *out; false on anything else. */
static bool parse_limit(const char *text, size_t len, int64_t *out)
{
    if (len == 7 && strncmp(text, "default", 7) == 0) {
        *out = STORE_THROTTLE_DEFAULT;
        return true;
    }
    if (len == 0 || len > 9)
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        n = n * 10 + (text[i] - '0');
    }
    *out = n;
    return true;
}

/* "minute=M/R" (or "minute=default") into limits[]; false on a bad word. */
static bool parse_window_limits(const char *word, int64_t limits[STORE_THROTTLE_LIMITS])
{
    const char *eq = strchr(word, '=');
    if (eq == NULL)
        return false;
    for (int w = 0; w < 3; w++) {
        size_t nlen = strlen(window_names[w]);
        if ((size_t)(eq - word) != nlen || strncmp(word, window_names[w], nlen) != 0)
            continue;
        const char *value = eq + 1, *slash = strchr(value, '/');
        if (slash == NULL) {
            if (strcmp(value, "default") != 0)
                return false;
            limits[2 * w] = limits[2 * w + 1] = STORE_THROTTLE_DEFAULT;
            return true;
        }
        return parse_limit(value, (size_t)(slash - value), &limits[2 * w]) &&
               parse_limit(slash + 1, strlen(slash + 1), &limits[2 * w + 1]);
    }
    return false;
}

static long option_limit(const struct config *cfg, int i)
{
    const long values[STORE_THROTTLE_LIMITS] = {
        cfg->throttle_messages_per_minute, cfg->throttle_recipients_per_minute,
        cfg->throttle_messages_per_hour,   cfg->throttle_recipients_per_hour,
        cfg->throttle_messages_per_day,    cfg->throttle_recipients_per_day,
    };
    return values[i];
}

/* "30 (default)", "5", "none". */
static void format_limit(const struct config *cfg, const int64_t *limits, int i, char *out,
                         size_t outlen)
{
    int64_t v = limits[i] == STORE_THROTTLE_DEFAULT ? option_limit(cfg, i) : limits[i];
    if (v == 0)
        snprintf(out, outlen, "none%s", limits[i] == STORE_THROTTLE_DEFAULT ? " (default)" : "");
    else
        snprintf(out, outlen, "%lld%s", (long long)v,
                 limits[i] == STORE_THROTTLE_DEFAULT ? " (default)" : "");
}

int account_throttle_show(struct ctl *ctl, const char *account)
{
    struct store_throttle_state st;
    char t[32], m[48], r[48], buf[1024];

    enum store_status status = store_throttle_get(ctl->store, account, &st, &ctl->err);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return ctl_store_error(ctl, "reading the throttle state");
    if (st.throttled > 0) {
        format_minute(st.throttled, t, sizeof t);
        printf("throttled since %s UTC: %s\n", t, str_printable(buf, sizeof buf, st.reason));
    } else {
        printf("not throttled\n");
    }
    printf("static limits (messages / recipients):\n");
    for (int w = 0; w < 3; w++) {
        format_limit(ctl->cfg, st.limits, 2 * w, m, sizeof m);
        format_limit(ctl->cfg, st.limits, 2 * w + 1, r, sizeof r);
        printf("  per %-6s  %s / %s\n", window_names[w], m, r);
    }
    return CTL_EXIT_OK;
}

int account_limits(struct ctl *ctl, const struct ctl_args *a)
{
    int64_t limits[STORE_THROTTLE_LIMITS];
    char shown[256];

    if (a->npos < 2 || a->reason || a->expires || a->json)
        return usage_error("account limits ACCOUNT [minute=M/R] [hour=M/R] [day=M/R]");
    if (!account_valid(a->pos[1], "account limits"))
        return CTL_EXIT_ERROR;
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        limits[i] = STORE_THROTTLE_KEEP;
    for (int i = 2; i < a->npos; i++)
        if (!parse_window_limits(a->pos[i], limits))
            return usage_error("account limits: %s: expected minute=M/R, hour=M/R or day=M/R "
                               "(numbers, 0 for none, or default)",
                               str_printable(shown, sizeof shown, a->pos[i]));
    if (a->npos > 2 &&
        store_throttle_set_limits(ctl->store, a->pos[1], limits, &ctl->err) != STORE_OK)
        return ctl_store_error(ctl, "setting the limits");
    printf("account %s\n", str_printable(shown, sizeof shown, a->pos[1]));
    return account_throttle_show(ctl, a->pos[1]);
}

int account_unthrottle(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256];

    if (a->npos != 2 || a->reason || a->expires || a->json)
        return usage_error("account unthrottle ACCOUNT");
    if (!account_valid(a->pos[1], "account unthrottle"))
        return CTL_EXIT_ERROR;
    str_printable(shown, sizeof shown, a->pos[1]);
    switch (store_throttle_clear(ctl->store, a->pos[1], (int64_t)time(NULL), &ctl->err)) {
    case STORE_OK:
        printf("unthrottled %s: its counts so far are forgiven; held messages stay held (held "
               "release)\n",
               shown);
        return CTL_EXIT_OK;
    case STORE_NOTFOUND:
        fprintf(stderr, "%s is not throttled\n", shown);
        return CTL_EXIT_NOTFOUND;
    default:
        return ctl_store_error(ctl, "unthrottling the account");
    }
}
