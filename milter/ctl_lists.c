/*
 * ctl_lists: the block/allow lists (`ingressctl list`) and the recipients' own rules
 * (`ingressctl rule`), validated and normalized by lib/lists.c exactly as the milter reads them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "lists.h"
#include "util.h"

#define CTL_IMPORT_LINE_MAX 4096
/* An import file's bad lines reported one by one, then only counted. */
#define CTL_IMPORT_ERRORS_SHOWN 50

static bool parse_kind(const char *text, enum lists_kind *kind)
{
    char shown[256];

    if (lists_kind_parse(text, kind))
        return true;
    ctl_usage_error("unknown kind %s (cidr, ptr_domain, helo_domain, sender_domain, sender)",
                    str_printable(shown, sizeof shown, text));
    return false;
}

/* Validates one entry (from the command line or an import line) into its stored form; why gets
 * the problem.  value (size LISTS_VALUE_MAX) receives the normalized value. */
static bool entry_valid(const char *kind_text, const char *value_text, const char *action_text,
                        const char *reason, enum lists_kind *kind, char *value,
                        enum lists_action *action, char *why, size_t whylen)
{
    char shown[256], problem[128];

    if (!lists_kind_parse(kind_text, kind)) {
        snprintf(why, whylen,
                 "unknown kind %s (cidr, ptr_domain, helo_domain, sender_domain, sender)",
                 str_printable(shown, sizeof shown, kind_text));
        return false;
    }
    if (!lists_normalize_value(*kind, value_text, value, LISTS_VALUE_MAX, problem,
                               sizeof problem)) {
        snprintf(why, whylen, "%s %s: %s", kind_text,
                 str_printable(shown, sizeof shown, value_text), problem);
        return false;
    }
    if (!lists_action_parse(action_text, action)) {
        snprintf(why, whylen, "expected block or allow, not %s",
                 str_printable(shown, sizeof shown, action_text));
        return false;
    }
    if (reason != NULL && !lists_reason_valid(reason)) {
        snprintf(why, whylen, "the reason must be printable ASCII, at most %d characters",
                 LISTS_REASON_MAX);
        return false;
    }
    return true;
}

static int list_add(struct ctl *ctl, const struct ctl_args *a)
{
    enum lists_kind kind;
    enum lists_action action;
    char value[LISTS_VALUE_MAX], why[512], by[64], previous[16];
    int64_t expires_ms = 0, now = (int64_t)time(NULL);

    if (a->npos != 4)
        return ctl_usage_error(
            "list add KIND VALUE block|allow [--reason TEXT] [--expires DURATION]");
    if (!entry_valid(a->pos[1], a->pos[2], a->pos[3], a->reason, &kind, value, &action, why,
                     sizeof why))
        return ctl_usage_error("list add: %s", why);
    if (a->expires != NULL &&
        (!config_parse_duration(a->expires, &expires_ms) || expires_ms < 1000))
        return ctl_usage_error("list add: --expires wants a duration like 30m, 12h, 7d or 2w");
    ctl_invoking_user(by, sizeof by);
    struct list_entry e = {
        .kind = lists_kind_name(kind),
        .value = value,
        .action = lists_action_name(action),
        .reason = a->reason ? a->reason : "",
        .added_by = by,
        .added_at = now,
        .expires = a->expires ? now + expires_ms / 1000 : 0,
    };
    if (store_list_add(ctl->store, &e, previous, sizeof previous, &ctl->err) != STORE_OK)
        return ctl_store_error(ctl, "adding the entry");
    printf("%s %s %s: %s\n", previous[0] ? "replaced" : "added", e.kind, value, e.action);
    return CTL_EXIT_OK;
}

static int list_del(struct ctl *ctl, const struct ctl_args *a)
{
    enum lists_kind kind;
    char value[LISTS_VALUE_MAX], why[128], shown[256];

    if (a->npos != 3 || a->reason || a->expires || a->json)
        return ctl_usage_error("list del KIND VALUE");
    if (!parse_kind(a->pos[1], &kind))
        return CTL_EXIT_USAGE;
    if (!lists_normalize_value(kind, a->pos[2], value, sizeof value, why, sizeof why))
        return ctl_usage_error("list del: %s %s: %s", a->pos[1],
                               str_printable(shown, sizeof shown, a->pos[2]), why);
    switch (store_list_del(ctl->store, lists_kind_name(kind), value, &ctl->err)) {
    case STORE_OK:
        printf("deleted %s %s\n", lists_kind_name(kind), value);
        return CTL_EXIT_OK;
    case STORE_NOTFOUND:
        fprintf(stderr, "no %s entry %s\n", lists_kind_name(kind), value);
        return CTL_EXIT_NOTFOUND;
    default:
        return ctl_store_error(ctl, "deleting the entry");
    }
}

static void show_collect(const struct list_entry *e, void *arg)
{
    struct ctl_rows *s = arg;
    char expires[48], added[32];

    if (s->json != NULL) {
        json_t *row = ctl_json_object();
        ctl_json_set_text(row, "kind", e->kind);
        ctl_json_set_text(row, "value", e->value);
        ctl_json_set_text(row, "action", e->action);
        ctl_json_set_text(row, "reason", e->reason);
        ctl_json_set_text(row, "added_by", e->added_by);
        ctl_json_set_int(row, "added_at", e->added_at);
        ctl_json_set_time(row, "expires", e->expires);
        ctl_json_set_bool(row, "expired", e->expires > 0 && e->expires <= s->now);
        ctl_json_append(s->json, row);
        return;
    }
    if (e->expires > 0) {
        ctl_format_minute(e->expires, expires, sizeof expires);
        size_t n = strlen(expires);
        if (e->expires <= s->now)
            str_copy(expires + n, sizeof expires - n, " (expired)");
    } else {
        str_copy(expires, sizeof expires, "never");
    }
    ctl_format_minute(e->added_at, added, sizeof added);
    const char *cells[7] = {e->kind, e->value, e->action, expires, added, e->added_by, e->reason};
    ctl_rows_add(s, cells, 7, NULL);
}

static int list_show(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"KIND",        "VALUE", "ACTION", "EXPIRES (UTC)",
                                         "ADDED (UTC)", "BY",    "REASON"};
    struct ctl_rows s;
    enum lists_kind kind;
    enum store_status st;

    if (a->npos > 2 || a->reason || a->expires)
        return ctl_usage_error("list show [KIND] [--json]");
    if (a->npos == 2 && !parse_kind(a->pos[1], &kind))
        return CTL_EXIT_USAGE;
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    st = store_list_each(ctl->store, a->npos == 2 ? lists_kind_name(kind) : NULL, 0, show_collect,
                         &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, 7);
        return ctl_store_error(ctl, "reading the lists");
    }
    return ctl_rows_done(&s, header, 7, "no entries");
}

/* One import line: "KIND VALUE ACTION REASON..." split in place. */
static bool import_line(char *line, struct list_entry *e, char *value, char *why, size_t whylen)
{
    char *words[3];
    char *p = line;
    enum lists_kind kind;
    enum lists_action action;

    for (int i = 0; i < 3; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0') {
            snprintf(why, whylen, "expected KIND VALUE ACTION [REASON]");
            return false;
        }
        words[i] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
    char *reason = str_trim(p);
    if (!entry_valid(words[0], words[1], words[2], reason, &kind, value, &action, why, whylen))
        return false;
    e->kind = lists_kind_name(kind);
    e->action = lists_action_name(action);
    e->reason = reason;
    return true;
}

/*
 * Every line is checked before anything is written; one bad line (reported with its number)
 * imports nothing, and the good file goes in as one transaction, so the milter never sees half a
 * list.
 */
static int list_import(struct ctl *ctl, const struct ctl_args *a)
{
    const char *path = a->npos == 2 ? a->pos[1] : NULL;
    char shown[1024], line[CTL_IMPORT_LINE_MAX + 2], why[512], by[64];
    struct list_entry *entries = NULL;
    char **owned = NULL;
    size_t count = 0, bad = 0, lineno = 0;
    int64_t now = (int64_t)time(NULL);
    int status = CTL_EXIT_OK;
    FILE *fp;

    if (path == NULL || a->reason || a->expires || a->json)
        return ctl_usage_error("list import FILE");
    str_printable(shown, sizeof shown, path);
    fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "ingressctl: %s: %s\n", shown, strerror_r(errno, why, sizeof why));
        return CTL_EXIT_ERROR;
    }
    ctl_invoking_user(by, sizeof by);
    while (fgets(line, sizeof line, fp) != NULL) {
        size_t len = strlen(line);
        bool whole = len > 0 && line[len - 1] == '\n';
        lineno++;
        if (!whole && !feof(fp)) {
            int c;
            while ((c = getc(fp)) != EOF && c != '\n')
                ;
            snprintf(why, sizeof why, "line longer than %d characters", CTL_IMPORT_LINE_MAX);
        } else {
            line[strcspn(line, "\r\n")] = '\0';
            why[0] = '\0';
        }
        char *text = str_trim(line);
        if (why[0] == '\0' && (text[0] == '\0' || text[0] == '#'))
            continue;
        char value[LISTS_VALUE_MAX];
        struct list_entry e = {.added_by = by, .added_at = now};
        if (why[0] == '\0' && import_line(text, &e, value, why, sizeof why)) {
            entries = xrealloc(entries, (count + 1) * sizeof *entries);
            owned = xrealloc(owned, (2 * count + 2) * sizeof *owned);
            owned[2 * count] = xstrdup(value);
            owned[2 * count + 1] = xstrdup(e.reason);
            e.value = owned[2 * count];
            e.reason = owned[2 * count + 1];
            entries[count++] = e;
            continue;
        }
        if (bad++ < CTL_IMPORT_ERRORS_SHOWN)
            fprintf(stderr, "%s:%zu: %s\n", shown, lineno, why);
    }
    if (ferror(fp)) {
        fprintf(stderr, "ingressctl: %s: read error\n", shown);
        status = CTL_EXIT_ERROR;
    }
    if (fp != stdin)
        fclose(fp);
    if (status == CTL_EXIT_OK && bad > 0) {
        if (bad > CTL_IMPORT_ERRORS_SHOWN)
            fprintf(stderr, "%s: ... %zu bad lines in all\n", shown, bad);
        fprintf(stderr, "ingressctl: %s: %zu bad line%s, nothing imported\n", shown, bad,
                bad == 1 ? "" : "s");
        status = CTL_EXIT_ERROR;
    }
    if (status == CTL_EXIT_OK) {
        if (store_list_import(ctl->store, entries, count, &ctl->err) == STORE_OK)
            printf("imported %zu entr%s from %s\n", count, count == 1 ? "y" : "ies", shown);
        else
            status = ctl_store_error(ctl, "importing (nothing was imported)");
    }
    for (size_t i = 0; i < 2 * count; i++)
        free(owned[i]);
    free(owned);
    free(entries);
    return status;
}

int ctl_verb_list(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = ctl_split_args("list", argc, argv, 4, CTL_LIST_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos == 0)
        return ctl_usage_error("list: expected add, del, show or import");
    if (strcmp(a.pos[0], "add") == 0)
        return list_add(ctl, &a);
    if (strcmp(a.pos[0], "del") == 0)
        return list_del(ctl, &a);
    if (strcmp(a.pos[0], "show") == 0)
        return list_show(ctl, &a);
    if (strcmp(a.pos[0], "import") == 0)
        return list_import(ctl, &a);
    return ctl_usage_error("list: expected add, del, show or import");
}

static int rule_add(struct ctl *ctl, const struct ctl_args *a)
{
    char rcpt[LISTS_VALUE_MAX], sender[LISTS_VALUE_MAX], why[128], by[64], previous[16], shown[256];
    const char *action;

    if (a->npos != 4 || a->reason || a->expires || a->json)
        return ctl_usage_error("rule add RCPT SENDER accept|reject");
    if (!rules_normalize_recipient(a->pos[1], rcpt, sizeof rcpt, why, sizeof why))
        return ctl_usage_error("rule add: recipient %s: %s",
                               str_printable(shown, sizeof shown, a->pos[1]), why);
    if (!rules_normalize_sender(a->pos[2], sender, sizeof sender, why, sizeof why))
        return ctl_usage_error("rule add: sender %s: %s (an address or @domain)",
                               str_printable(shown, sizeof shown, a->pos[2]), why);
    if (strcmp(a->pos[3], "accept") == 0 || strcmp(a->pos[3], "reject") == 0)
        action = a->pos[3];
    else
        return ctl_usage_error("rule add: expected accept or reject, not %s",
                               str_printable(shown, sizeof shown, a->pos[3]));
    ctl_invoking_user(by, sizeof by);
    struct rcpt_rule r = {.recipient = rcpt,
                          .sender = sender,
                          .action = action,
                          .added_by = by,
                          .added_at = (int64_t)time(NULL)};
    if (store_rule_add(ctl->store, &r, previous, sizeof previous, &ctl->err) != STORE_OK)
        return ctl_store_error(ctl, "adding the rule");
    printf("%s rule %s %s: %s\n", previous[0] ? "replaced" : "added", rcpt, sender, action);
    return CTL_EXIT_OK;
}

static int rule_del(struct ctl *ctl, const struct ctl_args *a)
{
    char rcpt[LISTS_VALUE_MAX], sender[LISTS_VALUE_MAX], why[128], shown[256];

    if (a->npos != 3 || a->reason || a->expires || a->json)
        return ctl_usage_error("rule del RCPT SENDER");
    if (!rules_normalize_recipient(a->pos[1], rcpt, sizeof rcpt, why, sizeof why) ||
        !rules_normalize_sender(a->pos[2], sender, sizeof sender, why, sizeof why))
        return ctl_usage_error("rule del: %s: %s", str_printable(shown, sizeof shown, a->pos[2]),
                               why);
    switch (store_rule_del(ctl->store, rcpt, sender, &ctl->err)) {
    case STORE_OK:
        printf("deleted rule %s %s\n", rcpt, sender);
        return CTL_EXIT_OK;
    case STORE_NOTFOUND:
        fprintf(stderr, "no rule %s %s\n", rcpt, sender);
        return CTL_EXIT_NOTFOUND;
    default:
        return ctl_store_error(ctl, "deleting the rule");
    }
}

static void rule_collect(const struct rcpt_rule *r, void *arg)
{
    struct ctl_rows *s = arg;
    char added[32];

    if (s->json != NULL) {
        json_t *row = ctl_json_object();
        ctl_json_set_text(row, "recipient", r->recipient);
        ctl_json_set_text(row, "sender", r->sender);
        ctl_json_set_text(row, "action", r->action);
        ctl_json_set_text(row, "added_by", r->added_by);
        ctl_json_set_int(row, "added_at", r->added_at);
        ctl_json_append(s->json, row);
        return;
    }
    ctl_format_minute(r->added_at, added, sizeof added);
    const char *cells[5] = {r->recipient, r->sender, r->action, added, r->added_by};
    ctl_rows_add(s, cells, 5, NULL);
}

static int rule_list(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"RECIPIENT", "SENDER", "ACTION", "ADDED (UTC)", "BY"};
    struct ctl_rows s;
    char rcpt[LISTS_VALUE_MAX], why[128], shown[256];
    enum store_status st;

    if (a->npos > 2 || a->reason || a->expires)
        return ctl_usage_error("rule list [RCPT] [--json]");
    if (a->npos == 2 && !rules_normalize_recipient(a->pos[1], rcpt, sizeof rcpt, why, sizeof why))
        return ctl_usage_error("rule list: %s: %s", str_printable(shown, sizeof shown, a->pos[1]),
                               why);
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    st = store_rule_each(ctl->store, a->npos == 2 ? rcpt : NULL, rule_collect, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, 5);
        return ctl_store_error(ctl, "reading the rules");
    }
    return ctl_rows_done(&s, header, 5, "no rules");
}

int ctl_verb_rule(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = ctl_split_args("rule", argc, argv, 4, CTL_LIST_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos > 0 && strcmp(a.pos[0], "add") == 0)
        return rule_add(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "del") == 0)
        return rule_del(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "list") == 0)
        return rule_list(ctl, &a);
    return ctl_usage_error("rule: expected add, del or list");
}
