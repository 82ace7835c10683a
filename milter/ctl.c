/*
 * ctl: the helpers every verb of ingressctl shares (ctl.h): arguments, usage errors, store
 * errors, times, account names and the aligned tables of the listings.
 */
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_json.h"
#include "lists.h"
#include "throttle.h"
#include "util.h"

/* One line, not the usage: the message would scroll away under forty lines of help. */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
    va_list ap;

    fputs("ingressctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (ctl->verb != NULL)
        fprintf(stderr, "; see 'ingressctl %s --help'\n", ctl->verb);
    else
        fputs("; see 'ingressctl --help'\n", stderr);
    return CTL_EXIT_USAGE;
}

int ctl_store_error(struct ctl *ctl, const char *what)
{
    fprintf(stderr, "ingressctl: %s: %s\n", what, ctl->err.text);
    return CTL_EXIT_ERROR;
}

bool ctl_present(const char *s)
{
    return s != NULL && *s != '\0';
}

void ctl_format_time(int64_t t, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)t);
}

/* Who runs the command, for added_by: the sudo caller when there is one, else our own user. */
void ctl_invoking_user(char *out, size_t outlen)
{
    const char *sudo = getenv("SUDO_USER");
    struct passwd pw, *found = NULL;
    char buf[4096];

    if (sudo != NULL && sudo[0] != '\0' && strlen(sudo) < 64 && lists_reason_valid(sudo)) {
        str_copy(out, outlen, sudo);
        return;
    }
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found != NULL &&
        lists_reason_valid(found->pw_name)) {
        str_copy(out, outlen, found->pw_name);
        return;
    }
    snprintf(out, outlen, "uid %u", (unsigned)getuid());
}

void ctl_origin_local(struct ctl *ctl, const char *by)
{
    char host[256], user[CTL_WHO_MAX];

    config_host_name(ctl->cfg, host, sizeof host);
    ctl_invoking_user(user, sizeof user);
    if (by == NULL) {
        str_copy(ctl->origin.who, sizeof ctl->origin.who, user);
        str_printf(ctl->origin.source, sizeof ctl->origin.source, "ingressctl on %s", host);
        return;
    }
    str_copy(ctl->origin.who, sizeof ctl->origin.who, by);
    str_printf(ctl->origin.source, sizeof ctl->origin.source, "ingressctl on %s run by %s", host,
               user);
}

bool ctl_change_record(struct ctl *ctl, const char *what, const char *key, const char *detail,
                       const char *reason)
{
    struct store_error err;
    struct store_change ch = {.at = (int64_t)time(NULL),
                              .who = ctl->origin.who[0] != '\0' ? ctl->origin.who : "unknown",
                              .source = ctl->origin.source,
                              .what = what,
                              .key = key,
                              .detail = detail,
                              .reason = reason};
    char shown[CTL_KEY_MAX];

    if (store_change_add(ctl->store, &ch, &err) == STORE_OK)
        return true;
    fprintf(stderr, "ingressctl: warning: %s %s was made but not recorded: %s\n", what,
            str_printable(shown, sizeof shown, key), err.text);
    return false;
}

void ctl_format_minute(int64_t t, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)t);
}

/* Is opt one of the space-separated words of allowed? */
static bool option_allowed(const char *opt, const char *allowed)
{
    size_t len = strlen(opt);
    for (const char *p = strstr(allowed, opt); p != NULL; p = strstr(p + 1, opt))
        if ((p == allowed || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
            return true;
    return false;
}

int ctl_split_args(struct ctl *ctl, int argc, char **argv, int max_pos, const char *allowed,
                   struct ctl_args *a)
{
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {
        {"--reason", offsetof(struct ctl_args, reason)},
        {"--expires", offsetof(struct ctl_args, expires)},
        {"--account", offsetof(struct ctl_args, account)},
        {"--by", offsetof(struct ctl_args, by)},
        {"--since", offsetof(struct ctl_args, since)},
        {"--public", offsetof(struct ctl_args, public_text)},
        {"--format", offsetof(struct ctl_args, format)},
        {"--until", offsetof(struct ctl_args, until)},
        {"--limit", offsetof(struct ctl_args, limit)},
        {"--role", offsetof(struct ctl_args, role)},
        {"--domains", offsetof(struct ctl_args, domains)},
    };
    char shown[256];

    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        bool known = false;
        if (strncmp(argv[i], "--", 2) == 0 && !option_allowed(argv[i], allowed))
            return ctl_usage_error(ctl, "%s: unknown option %s", ctl->verb,
                                   str_printable(shown, sizeof shown, argv[i]));
        if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--all") == 0) {
            *(argv[i][2] == 'j' ? &a->json : &a->all) = true;
            continue;
        }
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
            if (strcmp(argv[i], valued[k].name) != 0)
                continue;
            if (i + 1 == argc)
                return ctl_usage_error(ctl, "%s: %s needs a value", ctl->verb, argv[i]);
            *(const char **)(void *)((char *)a + valued[k].offset) = argv[++i];
            known = true;
        }
        if (known)
            continue;
        if (a->npos == max_pos || a->npos == CTL_POS_MAX)
            return ctl_usage_error(ctl, "%s: too many arguments", ctl->verb);
        a->pos[a->npos++] = argv[i];
    }
    return CTL_EXIT_OK;
}

/* An account is the SASL login as the MTA reports it ({auth_authen}): printable, no spaces. */
static bool account_chars_valid(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

bool ctl_account_name_valid(const char *name)
{
    return account_chars_valid(name) && name[0] != '\0' && strlen(name) <= CTL_ACCOUNT_MAX;
}

bool ctl_account_valid(const struct ctl *ctl, const char *name, const char *what)
{
    char shown[256];

    if (!account_chars_valid(name)) {
        ctl_usage_error(ctl, "%s: account %s: spaces and control characters are not allowed", what,
                        str_printable(shown, sizeof shown, name));
        return false;
    }
    if (name[0] == '\0' || strlen(name) > CTL_ACCOUNT_MAX) {
        ctl_usage_error(ctl, "%s: an account name has 1 to %d characters", what, CTL_ACCOUNT_MAX);
        return false;
    }
    return true;
}

void ctl_rows_init(struct ctl_rows *s, bool json, int64_t now)
{
    memset(s, 0, sizeof *s);
    s->now = now;
    s->json = json ? ctl_json_array() : NULL;
    s->utf8 = !json && ctl_terminal_utf8();
}

void ctl_rows_add(struct ctl_rows *s, const char *const *cells, int ncols, const size_t *cell_max)
{
    char buf[1024];

    s->rows = xrealloc(s->rows, (s->count + 1) * sizeof *s->rows);
    struct ctl_row *row = &s->rows[s->count++];
    for (int i = 0; i < ncols; i++) {
        size_t max = cell_max != NULL && cell_max[i] < sizeof buf ? cell_max[i] : sizeof buf;
        row->cell[i] = xstrdup(ctl_printable_text(buf, max, cells[i] ? cells[i] : "", s->utf8));
    }
}

static void free_rows(struct ctl_row *rows, size_t count, int ncols)
{
    for (size_t i = 0; i < count; i++)
        for (int c = 0; c < ncols; c++)
            free(rows[i].cell[c]);
    free(rows);
}

void ctl_rows_free(struct ctl_rows *s, int ncols)
{
    free_rows(s->rows, s->count, ncols);
    json_decref(s->json);
    memset(s, 0, sizeof *s);
}

/* Prints rows under a header, each column as wide as its widest cell; frees the rows. */
void ctl_print_table(const char *const *header, int ncols, struct ctl_row *rows, size_t count)
{
    int width[CTL_COLS_MAX] = {0};

    if (ncols < 1 || ncols > CTL_COLS_MAX)
        abort(); /* every table is the program's own: a wrong count is a bug */
    for (int c = 0; c < ncols; c++) {
        width[c] = (int)strlen(header[c]);
        for (size_t i = 0; i < count; i++)
            if ((int)strlen(rows[i].cell[c]) > width[c])
                width[c] = (int)strlen(rows[i].cell[c]);
    }
    for (size_t i = 0; i <= count; i++) {
        const char *cells[CTL_COLS_MAX] = {"", "", "", "", "", "", "", ""};
        int last = ncols - 1;
        for (int c = 0; c < ncols; c++)
            cells[c] = i == 0 ? header[c] : rows[i - 1].cell[c];
        /* Empty cells at the end of a row are not padded: no trailing blanks. */
        while (last > 0 && cells[last][0] == '\0')
            last--;
        for (int c = 0; c < last; c++)
            printf("%-*s  ", width[c], cells[c]);
        printf("%s\n", cells[last]);
    }
    free_rows(rows, count, ncols);
}

int ctl_rows_done(struct ctl_rows *s, const char *const *header, int ncols, const char *none)
{
    if (s->json != NULL) {
        bool any = json_array_size(s->json) > 0;
        ctl_json_print(s->json);
        s->json = NULL;
        return any ? CTL_EXIT_OK : CTL_EXIT_NOTFOUND;
    }
    if (s->count == 0) {
        fprintf(stderr, "%s\n", none);
        return CTL_EXIT_NOTFOUND;
    }
    ctl_print_table(header, ncols, s->rows, s->count);
    s->rows = NULL;
    s->count = 0;
    return CTL_EXIT_OK;
}

/* How `why` and `check` say each action, and what they say when no reply was recorded. */
static const struct {
    const char *action; /* verdict_action_name() */
    const char *words;
    const char *without_reply;
} ctl_actions[] = {
    {"continue", "no objection", "the message was accepted"},
    {"accept", "accepted", "the message was accepted"},
    {"tempfail", "deferred (temporary failure)", "no reply text was recorded"},
    {"reject", "rejected", "no reply text was recorded"},
    {"discard", "discarded", "the message was accepted, then discarded"},
    {"hold", "held for review", "the message was accepted and held for review"},
};

const char *ctl_action_words(const char *action)
{
    for (size_t i = 0; action != NULL && i < sizeof ctl_actions / sizeof ctl_actions[0]; i++)
        if (strcmp(action, ctl_actions[i].action) == 0)
            return ctl_actions[i].words;
    return action != NULL ? action : "unknown";
}

const char *ctl_action_without_reply(const char *action)
{
    for (size_t i = 0; action != NULL && i < sizeof ctl_actions / sizeof ctl_actions[0]; i++)
        if (strcmp(action, ctl_actions[i].action) == 0)
            return ctl_actions[i].without_reply;
    return "no reply text was recorded";
}

/* The client's network as an allow entry would name it: its /24 (IPv4) or /64 (IPv6), which
 * covers a provider's pool of outbound servers; the address itself when it does not parse. */
static void client_network(const char *ip, char *out, size_t outlen)
{
    char text[80], why[128];

    if (ip != NULL && strlen(ip) < 64) {
        snprintf(text, sizeof text, "%s/%d", ip, strchr(ip, ':') != NULL ? 64 : 24);
        if (lists_normalize_value(LISTS_CIDR, text, out, outlen, why, sizeof why))
            return;
    }
    str_printable(out, outlen, ip != NULL ? ip : "ADDRESS");
}

void ctl_advice(const char *check, const char *action, const char *ip, const char *rcpt,
                const char *sender, const char *account, char *out, size_t outlen)
{
    char net[128], who[1024], from[1024];

    out[0] = '\0';
    if (check == NULL || action == NULL || strcmp(action, "continue") == 0 ||
        strcmp(action, "accept") == 0)
        return;
    client_network(ip, net, sizeof net);
    str_printable(who, sizeof who, ctl_present(account) ? account : "ACCOUNT");
    str_printable(from, sizeof from, ctl_present(sender) ? sender : "SENDER");
    if (strcmp(check, "greylist") == 0)
        snprintf(out, outlen,
                 "nothing, usually: a real mail server retries and is let through once "
                 "greylist_delay has passed; to spare this client the wait: `ingressctl list add "
                 "cidr %s allow`",
                 net);
    else if (strcmp(check, "iprev") == 0 || strcmp(check, "dnsbl") == 0 ||
             strcmp(check, "spf") == 0 || strcmp(check, "dmarc") == 0)
        snprintf(out, outlen,
                 "the sender's own postmaster can fix this (%s); to let this client through "
                 "anyway: `ingressctl list add cidr %s allow`",
                 strcmp(check, "iprev") == 0   ? "a PTR record that names a host resolving back "
                                                 "to the address"
                 : strcmp(check, "dnsbl") == 0 ? "by getting the address off the DNS blocklist"
                 : strcmp(check, "spf") == 0   ? "by listing this client in the domain's SPF record"
                                               : "by aligning SPF or DKIM with the From domain",
                 net);
    else if (strcmp(check, "lists") == 0)
        snprintf(out, outlen,
                 "a block entry of the lists matched: `ingressctl list show` shows it, `ingressctl "
                 "list del KIND VALUE` removes it");
    else if (strcmp(check, "rules") == 0)
        snprintf(out, outlen,
                 "it was the recipient's own rule: `ingressctl rule list %s` shows it, `ingressctl "
                 "rule del %s %s` removes it",
                 ctl_present(rcpt) ? str_printable(net, sizeof net, rcpt) : "RCPT",
                 ctl_present(rcpt) ? net : "RCPT", from);
    else if (strcmp(check, "account") == 0)
        snprintf(out, outlen,
                 "`ingressctl account show %s` says why; `ingressctl account resume "
                 "%s` lifts the suspension",
                 who, who);
    else if (strcmp(check, "throttle") == 0)
        snprintf(out, outlen,
                 "`ingressctl held list --account %s` shows what waits; `ingressctl account "
                 "unthrottle %s` lets its next messages pass",
                 who, who);
    else if (strcmp(check, "sender") == 0)
        snprintf(out, outlen, "if the account may send as <%s>: `ingressctl alias add %s %s`", from,
                 who, from);
    else if (strcmp(check, "store") == 0)
        snprintf(out, outlen,
                 "the database could not be read or written: see the milter's log; "
                 "the sender retries");
}

bool ctl_terminal_utf8(void)
{
    bool utf8;

    if (!isatty(STDOUT_FILENO) || setlocale(LC_CTYPE, "") == NULL)
        return false;
    utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    setlocale(LC_CTYPE, "C");
    return utf8;
}

/* The length of the valid, printable UTF-8 character at p (RFC 3629: no overlong form, no
 * surrogate, at most U+10FFFF; U+0080..U+009F are controls), or 0. */
static size_t utf8_char(const unsigned char *p)
{
    uint32_t cp;
    size_t n;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
        return 0;
    return n;
}

const char *ctl_printable_text(char *dst, size_t dstlen, const char *src, bool utf8)
{
    size_t o = 0;

    if (!utf8)
        return str_printable(dst, dstlen, src);
    if (src == NULL)
        src = "(null)";
    for (const unsigned char *p = (const unsigned char *)src; *p != '\0';) {
        char tmp[8];
        size_t n = utf8_char(p), take = n;
        if (n > 0) {
            memcpy(tmp, p, n);
        } else if (*p >= 0x20 && *p < 0x7f) {
            tmp[0] = (char)*p;
            n = take = 1;
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02x", *p);
            n = 4;
            take = 1;
        }
        if (o + n + 4 > dstlen) {
            str_copy(dst + o, dstlen - o, dstlen - o > 3 ? "..." : "");
            return dst;
        }
        memcpy(dst + o, tmp, n);
        o += n;
        p += take;
    }
    dst[o] = '\0';
    return dst;
}

/* A limit for people: "30", "none" (0), or "10.5" for an adaptive one. */
static void limit_text(double limit, char *out, size_t outlen)
{
    if (limit <= 0)
        snprintf(out, outlen, "none");
    else if (limit == (double)(int64_t)limit)
        snprintf(out, outlen, "%" PRId64, (int64_t)limit);
    else
        snprintf(out, outlen, "%.1f", limit);
}

void ctl_print_rates(struct ctl *ctl, const char *account, const char *label, json_t *obj)
{
    static const char *const names[THROTTLE_WINDOWS] = {"minute", "hour", "day"};
    struct throttle *t = throttle_new();
    struct throttle_decision d;
    time_t now = time(NULL);
    /* With no recipient, the check counts one message more than was sent: taken off below. */
    enum store_status st = throttle_check(t, ctl->cfg, ctl->store, account, 0, now, &d);

    throttle_free(t);
    if (st != STORE_OK || !ctl->cfg->throttle) {
        const char *why = !ctl->cfg->throttle ? "the throttle is off (throttle = no)"
                                              : "the account's rates could not be read";
        if (obj != NULL)
            ctl_json_set_text(obj, "rates", why);
        else
            printf("%-13s%s\n", label, why);
        return;
    }
    json_t *rates = obj != NULL ? ctl_json_object() : NULL;
    for (int w = 0; w < THROTTLE_WINDOWS; w++) {
        int64_t msgs = d.msgs[w] - 1, rcpts = d.rcpts[w];
        char sm[32], sr[32], am[32], ar[32];
        limit_text((double)d.static_limit[w][0], sm, sizeof sm);
        limit_text((double)d.static_limit[w][1], sr, sizeof sr);
        limit_text(d.adaptive_limit[w][0], am, sizeof am);
        limit_text(d.adaptive_limit[w][1], ar, sizeof ar);
        if (rates != NULL) {
            json_t *one = ctl_json_object();
            ctl_json_set_int(one, "messages", msgs);
            ctl_json_set_int(one, "recipients", rcpts);
            json_object_set_new(one, "baseline_messages", json_real(d.baseline[w][0]));
            json_object_set_new(one, "baseline_recipients", json_real(d.baseline[w][1]));
            ctl_json_set_int(one, "static_limit_messages", d.static_limit[w][0]);
            ctl_json_set_int(one, "static_limit_recipients", d.static_limit[w][1]);
            json_object_set_new(one, "adaptive_limit_messages", json_real(d.adaptive_limit[w][0]));
            json_object_set_new(one, "adaptive_limit_recipients",
                                json_real(d.adaptive_limit[w][1]));
            ctl_json_set(rates, names[w], one);
            continue;
        }
        printf("%-13s%-6s %" PRId64 " messages, %" PRId64 " recipients; baseline %.1f, %.1f; "
               "limits: static %s, %s; adaptive %s, %s\n",
               w == 0 ? label : "", names[w], msgs, rcpts, d.baseline[w][0], d.baseline[w][1], sm,
               sr, am, ar);
    }
    if (rates != NULL)
        ctl_json_set(obj, "rates", rates);
}
