/*
 * ctl_accounts: submission accounts (`ingressctl account`: add, show, list, suspend, resume,
 * limits, unthrottle) and what each owns besides its login (`ingressctl alias`).  An account is
 * the SASL login as the MTA reports it; lib/sender.c normalizes aliases as the milter reads them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "config.h"
#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "lists.h"
#include "sender.h"
#include "util.h"

static int account_throttle_show(struct ctl *ctl, const char *account);
static long option_limit(const struct config *cfg, int i);

static int alias_add(struct ctl *ctl, const struct ctl_args *a)
{
    char address[ADDR_TEXT_MAX + 1], why[128], by[64], shown[256];
    bool created;

    if (a->npos != 3 || a->reason || a->expires || a->json)
        return ctl_usage_error(ctl, "alias add: wrong arguments (alias add ACCOUNT ADDRESS)");
    if (!ctl_account_valid(ctl, a->pos[1], "alias add"))
        return CTL_EXIT_USAGE;
    if (!sender_alias_normalize(a->pos[2], address, sizeof address, why, sizeof why))
        return ctl_usage_error(ctl, "alias add: %s: %s (an address or @domain)",
                               str_printable(shown, sizeof shown, a->pos[2]), why);
    ctl_invoking_user(by, sizeof by);
    struct store_alias alias = {
        .account = a->pos[1], .address = address, .added_by = by, .added_at = (int64_t)time(NULL)};
    if (store_alias_add(ctl->store, &alias, &created, &ctl->err) != STORE_OK)
        return ctl_store_error(ctl, "adding the alias");
    printf("%s alias %s %s\n", created ? "added" : "already had",
           str_printable(shown, sizeof shown, a->pos[1]), str_printable(why, sizeof why, address));
    return CTL_EXIT_OK;
}

static int alias_del(struct ctl *ctl, const struct ctl_args *a)
{
    char address[ADDR_TEXT_MAX + 1], why[128], shown[256];

    if (a->npos != 3 || a->reason || a->expires || a->json)
        return ctl_usage_error(ctl, "alias del: wrong arguments (alias del ACCOUNT ADDRESS)");
    if (!ctl_account_valid(ctl, a->pos[1], "alias del"))
        return CTL_EXIT_USAGE;
    if (!sender_alias_normalize(a->pos[2], address, sizeof address, why, sizeof why))
        return ctl_usage_error(ctl, "alias del: %s: %s",
                               str_printable(shown, sizeof shown, a->pos[2]), why);
    switch (store_alias_del(ctl->store, a->pos[1], address, &ctl->err)) {
    case STORE_OK:
        printf("deleted alias %s %s\n", str_printable(shown, sizeof shown, a->pos[1]),
               str_printable(why, sizeof why, address));
        return CTL_EXIT_OK;
    case STORE_NOTFOUND:
        fprintf(stderr, "no such alias\n");
        return CTL_EXIT_NOTFOUND;
    default:
        return ctl_store_error(ctl, "deleting the alias");
    }
}

static void alias_collect(const struct store_alias *al, void *arg)
{
    struct ctl_rows *s = arg;
    char added[32];

    if (s->json != NULL) {
        json_t *row = ctl_json_object();
        ctl_json_set_text(row, "account", al->account);
        ctl_json_set_text(row, "address", al->address);
        ctl_json_set_text(row, "added_by", al->added_by);
        ctl_json_set_int(row, "added_at", al->added_at);
        ctl_json_append(s->json, row);
        return;
    }
    ctl_format_minute(al->added_at, added, sizeof added);
    const char *cells[4] = {al->account, al->address, added, al->added_by};
    ctl_rows_add(s, cells, 4, NULL);
}

static int alias_list(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"ACCOUNT", "ADDRESS", "ADDED (UTC)", "BY"};
    struct ctl_rows s;
    enum store_status st;

    if (a->npos > 2 || a->reason || a->expires)
        return ctl_usage_error(ctl, "alias list: wrong arguments (alias list [ACCOUNT] [--json])");
    if (a->npos == 2 && !ctl_account_valid(ctl, a->pos[1], "alias list"))
        return CTL_EXIT_USAGE;
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    st =
        store_alias_each(ctl->store, a->npos == 2 ? a->pos[1] : NULL, alias_collect, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, 4);
        return ctl_store_error(ctl, "reading the aliases");
    }
    return ctl_rows_done(&s, header, 4, "no aliases");
}

int ctl_verb_alias(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = ctl_split_args(ctl, argc, argv, 3, CTL_LIST_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos > 0 && strcmp(a.pos[0], "add") == 0)
        return alias_add(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "del") == 0)
        return alias_del(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "list") == 0)
        return alias_list(ctl, &a);
    return ctl_usage_error(ctl, "alias: expected add, del or list");
}

static int account_add(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256];
    bool created;

    if (a->npos != 2 || a->reason || a->expires || a->json)
        return ctl_usage_error(ctl, "account add: wrong arguments (account add ACCOUNT)");
    if (!ctl_account_valid(ctl, a->pos[1], "account add"))
        return CTL_EXIT_USAGE;
    if (store_account_add(ctl->store, a->pos[1], (int64_t)time(NULL), &created, &ctl->err) !=
        STORE_OK)
        return ctl_store_error(ctl, "adding the account");
    printf("%s account %s\n", created ? "added" : "already had",
           str_printable(shown, sizeof shown, a->pos[1]));
    return CTL_EXIT_OK;
}

static void account_collect(const struct store_account *acct, void *arg)
{
    struct ctl_rows *s = arg;
    char created[32], suspended[48], aliases[24];

    if (s->json != NULL) {
        json_t *row = ctl_json_object();
        ctl_json_set_text(row, "account", acct->name);
        ctl_json_set_int(row, "created", acct->created);
        ctl_json_set_time(row, "suspended", acct->suspended);
        ctl_json_set_text(row, "suspend_reason", acct->suspend_reason);
        ctl_json_set_int(row, "aliases", acct->alias_count);
        ctl_json_append(s->json, row);
        return;
    }
    ctl_format_minute(acct->created, created, sizeof created);
    if (acct->suspended > 0)
        ctl_format_minute(acct->suspended, suspended, sizeof suspended);
    else
        str_copy(suspended, sizeof suspended, "no");
    snprintf(aliases, sizeof aliases, "%lld", (long long)acct->alias_count);
    const char *cells[5] = {acct->name, created, suspended, aliases, acct->suspend_reason};
    ctl_rows_add(s, cells, 5, NULL);
}

/* ---- the accounts' documents (account list --json, account show --json, the console) ---- */

/* name in lower case into key (size CTL_ACCOUNT_MAX + 1): account names compare without ASCII
 * case. */
static void account_key(const char *name, char *key)
{
    size_t i = 0;
    for (; name != NULL && name[i] != '\0' && i < CTL_ACCOUNT_MAX; i++)
        key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    key[i] = '\0';
}

/* The throttled accounts by account_key: {"since": T, "reason": R, "account": NAME}. */
static void throttled_collect(const struct store_throttle_state *st, void *arg)
{
    char key[CTL_ACCOUNT_MAX + 1];
    account_key(st->account, key);
    json_t *one = ctl_json_object();
    ctl_json_set_int(one, "since", st->throttled);
    ctl_json_set_text(one, "reason", st->reason);
    ctl_json_set(one, "account", ctl_json_text(st->account));
    json_object_set_new(arg, key, one);
}

/* Sets row's state and throttle fields from throttled (taking its entry out of it). */
static void account_state(json_t *row, json_t *throttled)
{
    char key[CTL_ACCOUNT_MAX + 1];
    account_key(json_string_value(json_object_get(row, "account")), key);
    json_t *t = json_object_get(throttled, key);
    bool suspended = json_is_integer(json_object_get(row, "suspended"));
    ctl_json_set_text(row, "state", suspended ? "suspended" : t != NULL ? "throttled" : "active");
    if (t != NULL) {
        ctl_json_set(row, "throttled", json_incref(json_object_get(t, "since")));
        ctl_json_set(row, "throttle_reason", json_incref(json_object_get(t, "reason")));
        json_object_del(throttled, key);
    } else {
        ctl_json_set_time(row, "throttled", 0);
        ctl_json_set_text(row, "throttle_reason", "");
    }
}

/* The account's static limits: per window, messages and recipients, and whether each is the
 * option's default; 0 is no static limit. */
static void limits_json(const struct config *cfg, const int64_t *limits, json_t *row)
{
    static const char *const windows[3] = {"minute", "hour", "day"};
    json_t *all = ctl_json_object();
    for (int w = 0; w < 3; w++) {
        json_t *one = ctl_json_object();
        for (int k = 0; k < 2; k++) {
            int i = 2 * w + k;
            bool dflt = limits[i] == STORE_THROTTLE_DEFAULT;
            ctl_json_set_int(one, k == 0 ? "messages" : "recipients",
                             dflt ? option_limit(cfg, i) : limits[i]);
            ctl_json_set_bool(one, k == 0 ? "messages_default" : "recipients_default", dflt);
        }
        ctl_json_set(all, windows[w], one);
    }
    ctl_json_set(row, "limits", all);
}

/* A throttled login without an account row, as a row of the listing. */
static json_t *throttled_only_row(json_t *t)
{
    json_t *row = ctl_json_object();
    ctl_json_set(row, "account", json_incref(json_object_get(t, "account")));
    ctl_json_set_time(row, "created", 0);
    ctl_json_set_time(row, "suspended", 0);
    ctl_json_set_text(row, "suspend_reason", "");
    ctl_json_set_int(row, "aliases", 0);
    return row;
}

enum store_status ctl_account_json(struct ctl *ctl, const char *name, json_t **doc)
{
    struct ctl_rows s;
    struct store_throttle_state one;
    json_t *throttled = ctl_json_object();

    ctl_rows_init(&s, true, (int64_t)time(NULL));
    enum store_status st = store_account_each(ctl->store, name, account_collect, &s, &ctl->err);
    if (st == STORE_OK || st == STORE_NOTFOUND)
        st = store_throttle_each(ctl->store, throttled_collect, throttled, &ctl->err);
    if (st == STORE_OK || st == STORE_NOTFOUND)
        st = name != NULL ? store_throttle_get(ctl->store, name, &one, &ctl->err) : STORE_OK;
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        json_decref(throttled);
        json_decref(s.json);
        return st;
    }
    /* A login the throttle knows (throttled, or limits of its own) needs no account row. */
    bool throttle_row = name != NULL && st == STORE_OK;
    if (name != NULL && json_array_size(s.json) == 0 && throttle_row) {
        json_t *t = ctl_json_object();
        ctl_json_set_text(t, "account", name);
        ctl_json_append(s.json, throttled_only_row(t));
        json_decref(t);
    }
    for (size_t i = 0; i < json_array_size(s.json); i++)
        account_state(json_array_get(s.json, i), throttled);
    /* What is left of throttled: logins with no account row. */
    for (void *it = json_object_iter(throttled); name == NULL && it != NULL;
         it = json_object_iter_next(throttled, it)) {
        json_t *t = json_object_iter_value(it), *row = throttled_only_row(t);
        ctl_json_set_text(row, "state", "throttled");
        ctl_json_set(row, "throttled", json_incref(json_object_get(t, "since")));
        ctl_json_set(row, "throttle_reason", json_incref(json_object_get(t, "reason")));
        ctl_json_append(s.json, row);
    }
    json_decref(throttled);
    if (name != NULL && json_array_size(s.json) == 1) {
        json_t *row = json_array_get(s.json, 0);
        limits_json(ctl->cfg, one.limits, row);
        ctl_print_rates(ctl, name, "rates:", row);
    }
    *doc = s.json;
    return json_array_size(s.json) > 0 ? STORE_OK : STORE_NOTFOUND;
}

/* `account show` is `account list` of one account followed by its aliases. */
static int account_list(struct ctl *ctl, const struct ctl_args *a, bool show)
{
    static const char *const header[] = {"ACCOUNT", "CREATED (UTC)", "SUSPENDED", "ALIASES",
                                         "REASON"};
    struct ctl_rows s, al;
    const char *name = show ? a->pos[1] : NULL;
    enum store_status st;
    int status;

    if ((show ? (a->npos != 2) : (a->npos != 1)) || a->reason || a->expires)
        return ctl_usage_error(
            ctl, show ? "account show: wrong arguments (account show ACCOUNT [--json])"
                      : "account list: wrong arguments (account list [--json])");
    if (show && !ctl_account_valid(ctl, name, "account show"))
        return CTL_EXIT_USAGE;
    if (a->json) {
        json_t *doc;
        st = ctl_account_json(ctl, name, &doc);
        if (st != STORE_OK && st != STORE_NOTFOUND)
            return ctl_store_error(ctl, "reading the accounts");
        ctl_json_print(doc);
        return st == STORE_OK ? CTL_EXIT_OK : CTL_EXIT_NOTFOUND;
    }
    ctl_rows_init(&s, false, (int64_t)time(NULL));
    st = store_account_each(ctl->store, name, account_collect, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, 5);
        return ctl_store_error(ctl, "reading the accounts");
    }
    status = ctl_rows_done(&s, header, 5, show ? "no such account" : "no accounts");
    if (!show || status != CTL_EXIT_OK)
        return status;
    static const char *const alias_header[] = {"ACCOUNT", "ADDRESS", "ADDED (UTC)", "BY"};
    ctl_rows_init(&al, false, (int64_t)time(NULL));
    st = store_alias_each(ctl->store, name, alias_collect, &al, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&al, 4);
        return ctl_store_error(ctl, "reading the aliases");
    }
    printf("\n");
    if (al.count == 0)
        printf("no aliases\n");
    else
        ctl_print_table(alias_header, 4, al.rows, al.count);
    printf("\n");
    return account_throttle_show(ctl, name);
}

enum store_status ctl_account_change(struct ctl *ctl, const struct ctl_account_change *ch)
{
    char recorded[CTL_REASON_MAX + 128];
    bool changed = true;
    enum store_status st;

    switch (ch->op) {
    case CTL_ACCOUNT_SUSPEND:
        /* Who suspended beside why: the store keeps one text for both. */
        str_printf(recorded, sizeof recorded, "%s (by %s)", ch->reason, ch->by);
        st = store_account_suspend(ctl->store, ch->account, (int64_t)time(NULL), recorded, &changed,
                                   &ctl->err);
        return st == STORE_OK && !changed ? STORE_NOTFOUND : st;
    case CTL_ACCOUNT_RESUME:
        return store_account_resume(ctl->store, ch->account, &ctl->err);
    case CTL_ACCOUNT_UNTHROTTLE:
        return store_throttle_clear(ctl->store, ch->account, (int64_t)time(NULL), &ctl->err);
    case CTL_ACCOUNT_LIMITS:
        return store_throttle_set_limits(ctl->store, ch->account, ch->limits, &ctl->err);
    }
    return STORE_ERROR;
}

static int account_suspend(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256], by[64];

    if (a->npos != 2 || a->expires || a->json)
        return ctl_usage_error(
            ctl, "account suspend: wrong arguments (account suspend ACCOUNT --reason TEXT)");
    if (a->reason == NULL)
        return ctl_usage_error(ctl, "account suspend: --reason TEXT is required (it is recorded)");
    if (!ctl_account_valid(ctl, a->pos[1], "account suspend"))
        return CTL_EXIT_USAGE;
    if (strlen(a->reason) > CTL_REASON_MAX || !lists_reason_valid(a->reason))
        return ctl_usage_error(ctl,
                               "account suspend: --reason: printable text, at most %d characters",
                               CTL_REASON_MAX);
    ctl_invoking_user(by, sizeof by);
    struct ctl_account_change ch = {
        .op = CTL_ACCOUNT_SUSPEND, .account = a->pos[1], .by = by, .reason = a->reason};
    enum store_status st = ctl_account_change(ctl, &ch);
    if (st != STORE_OK && st != STORE_NOTFOUND)
        return ctl_store_error(ctl, "suspending the account");
    printf("%s %s\n", st == STORE_OK ? "suspended" : "already suspended",
           str_printable(shown, sizeof shown, a->pos[1]));
    return CTL_EXIT_OK;
}

static int account_resume(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256];

    if (a->npos != 2 || a->reason || a->expires || a->json)
        return ctl_usage_error(ctl, "account resume: wrong arguments (account resume ACCOUNT)");
    if (!ctl_account_valid(ctl, a->pos[1], "account resume"))
        return CTL_EXIT_USAGE;
    str_printable(shown, sizeof shown, a->pos[1]);
    struct ctl_account_change ch = {.op = CTL_ACCOUNT_RESUME, .account = a->pos[1]};
    switch (ctl_account_change(ctl, &ch)) {
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

bool ctl_account_limits_parse(const char *word, int64_t limits[STORE_THROTTLE_LIMITS])
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

static int account_throttle_show(struct ctl *ctl, const char *account)
{
    struct store_throttle_state st;
    char t[32], m[48], r[48], buf[1024];

    enum store_status status = store_throttle_get(ctl->store, account, &st, &ctl->err);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return ctl_store_error(ctl, "reading the throttle state");
    if (st.throttled > 0) {
        ctl_format_minute(st.throttled, t, sizeof t);
        printf("throttled since %s UTC: %s\n", t,
               ctl_printable_text(buf, sizeof buf, st.reason, ctl_terminal_utf8()));
    } else {
        printf("not throttled\n");
    }
    printf("static limits (messages / recipients):\n");
    for (int w = 0; w < 3; w++) {
        format_limit(ctl->cfg, st.limits, 2 * w, m, sizeof m);
        format_limit(ctl->cfg, st.limits, 2 * w + 1, r, sizeof r);
        printf("  per %-6s  %s / %s\n", window_names[w], m, r);
    }
    printf("\n");
    ctl_print_rates(ctl, account, "rates now:", NULL);
    return CTL_EXIT_OK;
}

static int account_limits(struct ctl *ctl, const struct ctl_args *a)
{
    int64_t limits[STORE_THROTTLE_LIMITS];
    char shown[256];

    if (a->npos < 2 || a->reason || a->expires || a->json)
        return ctl_usage_error(ctl, "account limits: wrong arguments (account limits ACCOUNT "
                                    "[minute=M/R] [hour=M/R] [day=M/R])");
    if (!ctl_account_valid(ctl, a->pos[1], "account limits"))
        return CTL_EXIT_USAGE;
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        limits[i] = STORE_THROTTLE_KEEP;
    for (int i = 2; i < a->npos; i++)
        if (!ctl_account_limits_parse(a->pos[i], limits))
            return ctl_usage_error(ctl,
                                   "account limits: %s: expected minute=M/R, hour=M/R or day=M/R "
                                   "(numbers, 0 for none, or default)",
                                   str_printable(shown, sizeof shown, a->pos[i]));
    struct ctl_account_change ch = {.op = CTL_ACCOUNT_LIMITS, .account = a->pos[1]};
    memcpy(ch.limits, limits, sizeof ch.limits);
    if (a->npos > 2 && ctl_account_change(ctl, &ch) != STORE_OK)
        return ctl_store_error(ctl, "setting the limits");
    printf("account %s\n", str_printable(shown, sizeof shown, a->pos[1]));
    return account_throttle_show(ctl, a->pos[1]);
}

static int account_unthrottle(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256];

    if (a->npos != 2 || a->reason || a->expires || a->json)
        return ctl_usage_error(ctl,
                               "account unthrottle: wrong arguments (account unthrottle ACCOUNT)");
    if (!ctl_account_valid(ctl, a->pos[1], "account unthrottle"))
        return CTL_EXIT_USAGE;
    str_printable(shown, sizeof shown, a->pos[1]);
    struct ctl_account_change ch = {.op = CTL_ACCOUNT_UNTHROTTLE, .account = a->pos[1]};
    switch (ctl_account_change(ctl, &ch)) {
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

int ctl_verb_account(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = ctl_split_args(ctl, argc, argv, 5, CTL_LIST_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos > 0 && strcmp(a.pos[0], "suspend") == 0)
        return account_suspend(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "resume") == 0)
        return account_resume(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "limits") == 0)
        return account_limits(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "unthrottle") == 0)
        return account_unthrottle(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "add") == 0)
        return account_add(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "show") == 0)
        return account_list(ctl, &a, true);
    if (a.npos > 0 && strcmp(a.pos[0], "list") == 0)
        return account_list(ctl, &a, false);
    return ctl_usage_error(
        ctl, "account: expected add, show, list, suspend, resume, limits or unthrottle");
}
