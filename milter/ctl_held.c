/*
 * ctl_held: the postmaster's review of held mail (`ingressctl held`).
 *
 *   held list [--account A] [--all] [--json]
 *   held show QUEUEID [--json]
 *   held release QUEUEID...|--account A [--reason TEXT] [--by NAME]
 *   held reject QUEUEID...|--account A --reason TEXT [--by NAME]
 *
 * Release and reject drive the MTA with the commands of held_release_command and
 * held_reject_command (lib/command.c: execve, never a shell), then record the decision, who took
 * it and why in the held row.  Listing reconciles the table with the MTA first: a message still
 * "held" here whose queue id held_queue_command no longer prints has left the queue some other
 * way (postsuper by hand, expiry) and becomes "gone".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "lists.h"
#include "util.h"

#define HELD_OPTIONS "--account --all --json --reason --by"
/* The MTA's queue listing kept for reconciliation; postqueue -j prints ~300 bytes a message. */
#define HELD_QUEUE_OUTPUT_MAX (256u << 20)
/* A message held this recently may not be in the MTA's queue files yet: never marked gone. */
#define HELD_GONE_GRACE 60

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
    ctl_invoking_user(by, sizeof by);
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

/* One held message as a JSON object, its recipients a list. */
static json_t *held_json(const struct store_held *h)
{
    json_t *obj = ctl_json_object(), *rcpts = ctl_json_array();

    ctl_json_set_text(obj, "queue_id", h->queue_id);
    ctl_json_set_int(obj, "held_at", h->held_at);
    ctl_json_set_text(obj, "account", h->account);
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
    ctl_json_set_int(obj, "size", h->size);
    ctl_json_set_text(obj, "reason", h->reason);
    ctl_json_set_text(obj, "state", h->state);
    ctl_json_set_text(obj, "decided_by", h->decided_by);
    ctl_json_set_time(obj, "decided_at", h->decided_at);
    ctl_json_set_text(obj, "decision_reason", h->decision_reason);
    return obj;
}

static void held_row(const struct store_held *h, void *arg)
{
    struct ctl_rows *s = arg;
    /* The subject is cut to keep a row on a screen; every other cell is kept whole. */
    static const size_t cell_max[8] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX,
                                       SIZE_MAX, SIZE_MAX, 60,       SIZE_MAX};
    char age[32], nrcpt[24];

    if (s->json != NULL) {
        ctl_json_append(s->json, held_json(h));
        return;
    }
    format_age(s->now, h->held_at, age, sizeof age);
    snprintf(nrcpt, sizeof nrcpt, "%lld", (long long)h->nrcpt);
    const char *cells[8] = {h->queue_id, age,      h->account, h->sender,
                            nrcpt,       h->state, h->subject, h->reason};
    ctl_rows_add(s, cells, 8, cell_max);
}

static int held_list(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"QUEUE ID", "AGE",   "ACCOUNT", "SENDER",
                                         "RCPTS",    "STATE", "SUBJECT", "REASON"};
    struct ctl_rows s;

    if (a->npos != 1 || a->reason || a->by)
        return ctl_usage_error("held list [--account A] [--all] [--json]");
    if (a->account && !ctl_account_valid(a->account, "held list"))
        return CTL_EXIT_USAGE;
    reconcile(ctl, a->account);
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    enum store_status st = store_held_each(ctl->store, NULL, a->account, a->all ? NULL : "held",
                                           held_row, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, 8);
        return ctl_store_error(ctl, "reading the held messages");
    }
    return ctl_rows_done(&s, header, 8, a->all ? "no held messages" : "no messages are held");
}

static void held_detail(const struct store_held *h, void *arg)
{
    struct ctl_rows *s = arg;
    char t[32], buf[1024];

    if (s->json != NULL) {
        ctl_json_append(s->json, held_json(h));
        s->count++;
        return;
    }
    if (s->count++ > 0)
        printf("\n");
    ctl_format_minute(h->held_at, t, sizeof t);
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
        ctl_format_minute(h->decided_at, t, sizeof t);
        printf("decided:     %s UTC by %s", t, str_printable(buf, sizeof buf, h->decided_by));
        printf(": %s\n", str_printable(buf, sizeof buf, h->decision_reason));
    }
}

static int held_show(struct ctl *ctl, const struct ctl_args *a)
{
    struct ctl_rows s;

    if (a->npos != 2 || a->reason || a->by || a->account || a->all)
        return ctl_usage_error("held show QUEUEID [--json]");
    if (!command_queue_id_valid(a->pos[1]))
        return ctl_usage_error("held show: not a queue id (letters and digits only)");
    reconcile(ctl, NULL);
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    enum store_status st =
        store_held_each(ctl->store, a->pos[1], NULL, NULL, held_detail, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, 0);
        return ctl_store_error(ctl, "reading the held messages");
    }
    size_t found = s.count;
    if (s.json != NULL && found > 0) {
        ctl_json_print(s.json);
        s.json = NULL;
    }
    ctl_rows_free(&s, 0);
    if (found == 0) {
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
        return ctl_usage_error("held %s QUEUEID...|--account A %s[--by NAME]", verb,
                               release ? "[--reason TEXT] " : "--reason TEXT ");
    if (!release && a->reason == NULL)
        return ctl_usage_error("held reject: --reason TEXT is required (it is recorded)");
    if (a->reason && (strlen(a->reason) > CTL_REASON_MAX || !lists_reason_valid(a->reason)))
        return ctl_usage_error("held %s: --reason: printable text, at most %d characters", verb,
                               CTL_REASON_MAX);
    if (a->by && (strlen(a->by) > 63 || !lists_reason_valid(a->by)))
        return ctl_usage_error("held %s: --by: printable text, at most 63 characters", verb);
    for (int i = 1; i < a->npos; i++)
        if (!command_queue_id_valid(a->pos[i]))
            return ctl_usage_error("held %s: %s: not a queue id (letters and digits only)", verb,
                                   str_printable(why, sizeof why, a->pos[i]));
    if (a->account && !ctl_account_valid(a->account, verb))
        return CTL_EXIT_USAGE;
    if (a->by)
        str_copy(by, sizeof by, a->by);
    else
        ctl_invoking_user(by, sizeof by);

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

int ctl_verb_held(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = ctl_split_args("held", argc, argv, CTL_POS_MAX, HELD_OPTIONS, &a);

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
    return ctl_usage_error("held: expected list, show, release or reject");
}
