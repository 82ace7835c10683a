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

/* `account show` is `account list` of one account followed by its aliases. */
static int account_list(struct ctl *ctl, const struct ctl_args *a, bool show)
{
    static const char *const header[] = {"ACCOUNT", "CREATED (UTC)", "SUSPENDED", "ALIASES",
                                         "REASON"};
    struct ctl_rows s, al;
    const char *name = show ? a->pos[1] : NULL;
    enum store_status st;
    int status;

    if (show ? (a->npos != 2) : (a->npos != 1))
        return ctl_usage_error(
            ctl, show ? "account show: wrong arguments (account show ACCOUNT [--json])"
                      : "account list: wrong arguments (account list [--json])");
    if (a->reason || a->expires)
        return ctl_usage_error(
            ctl, show ? "account show: wrong arguments (account show ACCOUNT [--json])"
                      : "account list: wrong arguments (account list [--json])");
    if (show && !ctl_account_valid(ctl, name, "account show"))
        return CTL_EXIT_USAGE;
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    st = store_account_each(ctl->store, name, account_collect, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, 5);
        return ctl_store_error(ctl, "reading the accounts");
    }
    /* account show --json: the account's rates now beside it (they need the store: not from
     * inside the callback). */
    if (show && s.json != NULL && json_array_size(s.json) == 1)
        ctl_print_rates(ctl, name, "rates:", json_array_get(s.json, 0));
    status = ctl_rows_done(&s, header, 5, show ? "no such account" : "no accounts");
    if (!show || status != CTL_EXIT_OK || a->json)
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

static int account_suspend(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256];
    bool changed;

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
    if (store_account_suspend(ctl->store, a->pos[1], (int64_t)time(NULL), a->reason, &changed,
                              &ctl->err) != STORE_OK)
        return ctl_store_error(ctl, "suspending the account");
    printf("%s %s\n", changed ? "suspended" : "already suspended",
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
        if (!parse_window_limits(a->pos[i], limits))
            return ctl_usage_error(ctl,
                                   "account limits: %s: expected minute=M/R, hour=M/R or day=M/R "
                                   "(numbers, 0 for none, or default)",
                                   str_printable(shown, sizeof shown, a->pos[i]));
    if (a->npos > 2 &&
        store_throttle_set_limits(ctl->store, a->pos[1], limits, &ctl->err) != STORE_OK)
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
