/*
 * ingressctl: the postmaster's tool.  It reads the milter's own config to find
 * the database and answers from the store; nothing here decides policy.
 *
 *   ingressctl [-c FILE] [-d DATABASE] why KEY
 *
 * `why` tells, in plain words, what the milter decided about a queue id, the reference quoted in
 * a reply, an IP address or an email address: the same verdict the sender saw in the reply and
 * the log line holds (ARCHITECTURE.md "Verdicts and replies").
 *
 * Verbs are rows of one table (name, argument counts, usage line, function), so a new verb is a
 * function and a row; the usage text is built from the same table.
 *
 * Exit status: 0 done (for `why`: something was found), 1 nothing found, 2 usage error, bad
 * config, or a database that cannot be opened or read.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "lists.h"
#include "log.h"
#include "sender.h"
#include "store.h"
#include "util.h"
#include "ctl.h"

/* The build sets it to SYSCONFDIR/milter-ingress/milter-ingress.conf (CMakeLists.txt). */
#ifndef INGRESS_DEFAULT_CONFIG
#define INGRESS_DEFAULT_CONFIG "/etc/milter-ingress/milter-ingress.conf"
#endif
#define CTL_DEFAULT_CONFIG INGRESS_DEFAULT_CONFIG
#define CTL_KEY_MAX 1024
/* Enough for a busy IP address over the retention period, not enough to flood a terminal. */
#define CTL_WHY_LIMIT 1000

struct ctl_verb {
    const char *name;
    int min_args, max_args;
    const char *usage; /* arguments, as in the usage text */
    const char *doc;   /* what it does, one line */
    int (*run)(struct ctl *ctl, int argc, char **argv);
};

static int verb_why(struct ctl *ctl, int argc, char **argv);
static int verb_stats(struct ctl *ctl, int argc, char **argv);
static int verb_list(struct ctl *ctl, int argc, char **argv);
static int verb_rule(struct ctl *ctl, int argc, char **argv);
static int verb_alias(struct ctl *ctl, int argc, char **argv);
static int verb_account(struct ctl *ctl, int argc, char **argv);

static const struct ctl_verb ctl_verbs[] = {
    {"why", 1, 1, "why KEY",
     "what was decided about KEY: a queue id, reply reference, IP or address", verb_why},
    {"stats", 0, 3, "stats [--since DURATION] [--json]",
     "decisions by check and action from the decision log\n"
     "                 (the counts of /metrics' decisions_total, for a site without Prometheus,\n"
     "                 over the last DURATION: 30m, 12h, 7d; or everything the log keeps)",
     verb_stats},
    {"list", 1, 8, "list ...",
     "the block/allow lists (kinds: cidr, ptr_domain, helo_domain, sender_domain, sender):\n"
     "               list add KIND VALUE block|allow [--reason TEXT] [--expires DURATION]\n"
     "               list del KIND VALUE\n"
     "               list show [KIND] [--json]\n"
     "               list import FILE   (lines KIND VALUE ACTION [REASON]; all or nothing)",
     verb_list},
    {"rule", 1, 5, "rule ...",
     "recipients' own rules (SENDER: an address or @domain):\n"
     "               rule add RCPT SENDER accept|reject\n"
     "               rule del RCPT SENDER\n"
     "               rule list [RCPT] [--json]",
     verb_rule},
    {"alias", 1, 4, "alias ...",
     "what a submission account owns besides its login (ADDRESS: an address or @domain):\n"
     "               alias add ACCOUNT ADDRESS\n"
     "               alias del ACCOUNT ADDRESS\n"
     "               alias list [ACCOUNT] [--json]",
     verb_alias},
    {"account", 1, 5, "account ...",
     "submission accounts (ACCOUNT: the SASL login):\n"
     "               account add ACCOUNT\n"
     "               account show ACCOUNT [--json]\n"
     "               account list [--json]\n"
     "               account suspend ACCOUNT --reason TEXT   (554 5.7.1 at MAIL FROM)\n"
     "               account resume ACCOUNT\n"
     "               account limits ACCOUNT [minute=M/R] [hour=M/R] [day=M/R]\n"
     "                 (M messages, R recipients: a number, 0 for none, or default)\n"
     "               account unthrottle ACCOUNT   (after a hold: its next messages pass)",
     verb_account},
    {"held", 1, CTL_POS_MAX + 6, "held ...",
     "messages held for review (throttled submission; MTA commands: held_*_command):\n"
     "               held list [--account A] [--all] [--json]\n"
     "               held show QUEUEID [--json]\n"
     "               held release QUEUEID...|--account A [--reason TEXT] [--by NAME]\n"
     "               held reject QUEUEID...|--account A --reason TEXT [--by NAME]",
     verb_held},
};

/* ------------------------------------------------------------------------------------------ */
/* Usage                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ingressctl [-c FILE] [-d DATABASE] VERB [ARGUMENT...]\n"
            "       ingressctl -h | --help | -V | --version\n"
            "\n"
            "  -c FILE      read the database's name from the milter's config FILE\n"
            "               (default %s, if it exists)\n"
            "  -d DATABASE  use this database file instead of the config's `database`\n"
            "  -h, --help   show this help\n"
            "  -V           print the version (also --version)\n"
            "\n"
            "verbs:\n",
            CTL_DEFAULT_CONFIG);
    for (size_t i = 0; i < sizeof ctl_verbs / sizeof ctl_verbs[0]; i++)
        fprintf(out, "  %-12s %s\n", ctl_verbs[i].usage, ctl_verbs[i].doc);
}

/*
 * Every usage error: one line saying what is wrong, then the usage, then status 2.  Arguments
 * that came from the command line are escaped by the caller.
 */
int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("ingressctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    usage(stderr);
    return CTL_EXIT_ERROR;
}

/* ------------------------------------------------------------------------------------------ */
/* why                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* How `why` says each action, and what it says when no reply was recorded. */
static const struct {
    const char *action; /* verdict_action_name() */
    const char *words;
    const char *without_reply;
} ctl_action_words[] = {
    {"continue", "no objection", "the message was accepted"},
    {"accept", "accepted", "the message was accepted"},
    {"tempfail", "deferred (temporary failure)", "no reply text was recorded"},
    {"reject", "rejected", "no reply text was recorded"},
    {"discard", "discarded", "the message was accepted, then discarded"},
    {"hold", "held for review", "the message was accepted and held for review"},
};

struct why_state {
    FILE *out;
    size_t count;
};

static bool present(const char *s)
{
    return s != NULL && *s != '\0';
}

static void format_time(int64_t t, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)t);
}

/*
 * One decision, as a postmaster reads it.  Everything from the database is escaped: the rows
 * hold what clients sent (HELO, addresses), and a terminal must not receive their bytes raw.
 */
static void print_decision(const struct decision *d, void *arg)
{
    struct why_state *why = arg;
    char when[64], a[512], b[512], c[512], text[2048];
    const char *words = NULL, *without_reply = "no reply text was recorded";

    for (size_t i = 0; i < sizeof ctl_action_words / sizeof ctl_action_words[0]; i++) {
        if (d->action != NULL && strcmp(d->action, ctl_action_words[i].action) == 0) {
            words = ctl_action_words[i].words;
            without_reply = ctl_action_words[i].without_reply;
        }
    }

    if (why->count++ > 0)
        fputc('\n', why->out);

    format_time(d->time, when, sizeof when);
    fprintf(why->out, "%s  %s", when,
            present(d->queue_id) ? str_printable(a, sizeof a, d->queue_id) : "NOQUEUE");
    if (present(d->ref))
        fprintf(why->out, "  ref %s", str_printable(a, sizeof a, d->ref));
    if (present(d->host))
        fprintf(why->out, "  on %s", str_printable(a, sizeof a, d->host));
    fputc('\n', why->out);

    fprintf(why->out, "  client %s (%s)",
            present(d->client_ip) ? str_printable(a, sizeof a, d->client_ip) : "unknown",
            present(d->client_name) ? str_printable(b, sizeof b, d->client_name) : "unknown");
    if (present(d->helo))
        fprintf(why->out, ", HELO %s", str_printable(a, sizeof a, d->helo));
    fputc('\n', why->out);

    /* The sender "" is the null sender <>, which is worth showing; NULL means not reached. */
    if (d->sender != NULL || present(d->recipient)) {
        fputs(" ", why->out);
        if (d->sender != NULL)
            fprintf(why->out, " from <%s>", str_printable(a, sizeof a, d->sender));
        if (present(d->recipient))
            fprintf(why->out, " to <%s>", str_printable(b, sizeof b, d->recipient));
        fputc('\n', why->out);
    }
    if (present(d->account))
        fprintf(why->out, "  authenticated as %s\n", str_printable(a, sizeof a, d->account));

    fprintf(why->out, "  check %s: %s\n", str_printable(a, sizeof a, d->check),
            words ? words : str_printable(c, sizeof c, d->action));
    if (present(d->reply))
        fprintf(why->out, "  the sender was told: %s\n",
                str_printable(text, sizeof text, d->reply));
    else
        fprintf(why->out, "  %s\n", without_reply);
    if (present(d->detail))
        fprintf(why->out, "  why: %s\n", str_printable(text, sizeof text, d->detail));
}

static int verb_why(struct ctl *ctl, int argc, char **argv)
{
    struct why_state why = {.out = stdout};
    const char *key = argv[0];
    char escaped[CTL_KEY_MAX * 4];
    enum store_status st;

    (void)argc;
    st = store_decision_find(ctl->store, key, CTL_WHY_LIMIT, print_decision, &why, &ctl->err);
    switch (st) {
    case STORE_OK:
        if (why.count == CTL_WHY_LIMIT)
            fprintf(stdout, "\n(the first %d decisions; there may be more)\n", CTL_WHY_LIMIT);
        return CTL_EXIT_OK;
    case STORE_NOTFOUND:
        fprintf(stderr, "nothing recorded about %s\n", str_printable(escaped, sizeof escaped, key));
        return CTL_EXIT_NOTFOUND;
    case STORE_BUSY:
    case STORE_ERROR:
        break;
    }
    fprintf(stderr, "ingressctl: reading the decisions: %s\n", ctl->err.text);
    return CTL_EXIT_ERROR;
}

/* ------------------------------------------------------------------------------------------ */
/* stats                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct stats_state {
    bool json;
    int64_t total;
    size_t rows;
};

static void print_tally(const char *check, const char *action, int64_t count, void *arg)
{
    struct stats_state *st = arg;
    char a[128], b[128];

    if (st->json) {
        fputs(st->rows > 0 ? ",\n    {\"check\": " : "\n    {\"check\": ", stdout);
        json_string(stdout, check);
        fputs(", \"action\": ", stdout);
        json_string(stdout, action);
        printf(", \"count\": %lld}", (long long)count);
    } else {
        printf("%-12s %-10s %10lld\n", str_printable(a, sizeof a, check ? check : ""),
               str_printable(b, sizeof b, action ? action : ""), (long long)count);
    }
    st->rows++;
    st->total += count;
}

static int verb_stats(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    struct stats_state st = {0};
    int64_t period_ms = 0, since = 0;
    char when[64];
    int rc = split_args("stats", argc, argv, 0, "--since --json", &a);

    if (rc != CTL_EXIT_OK)
        return rc;
    if (a.since != NULL && (!config_parse_duration(a.since, &period_ms) || period_ms < 1000))
        return usage_error("stats: --since wants a duration like 30m, 12h, 7d or 2w");
    if (a.since != NULL)
        since = (int64_t)time(NULL) - period_ms / 1000;
    st.json = a.json;
    format_time(since, when, sizeof when);
    if (st.json)
        printf("{\"since\": %lld, \"decisions\": [", (long long)since);
    else if (a.since != NULL)
        printf("decisions since %s (the last %s)\n", when, a.since);
    else
        printf("decisions (all the log keeps)\n");
    if (!st.json)
        printf("%-12s %-10s %10s\n", "check", "action", "count");
    enum store_status status = store_decision_tally(ctl->store, since, print_tally, &st, &ctl->err);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return ctl_store_error(ctl, "reading the decisions");
    if (st.json)
        printf("%s], \"total\": %lld}\n", st.rows > 0 ? "\n  " : "", (long long)st.total);
    else
        printf("%-12s %-10s %10lld\n", "total", "", (long long)st.total);
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* list, rule (lib/lists.h)                                                                   */
/* ------------------------------------------------------------------------------------------ */

#define CTL_IMPORT_LINE_MAX 4096
/* An import file's bad lines reported one by one, then only counted. */
#define CTL_IMPORT_ERRORS_SHOWN 50

/* Who runs the command, for added_by: the sudo caller when there is one, else our own user. */
void invoking_user(char *out, size_t outlen)
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

void format_minute(int64_t t, char *out, size_t outlen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)t);
}

/* Writes s as a JSON string (RFC 8259 7); bytes outside ASCII are written as \u00XX. */
void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
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

int split_args(const char *verb, int argc, char **argv, int max_pos, const char *allowed,
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
    };
    char shown[256];

    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        bool known = false;
        if (strncmp(argv[i], "--", 2) == 0 && !option_allowed(argv[i], allowed))
            return usage_error("%s: unknown option %s", verb,
                               str_printable(shown, sizeof shown, argv[i]));
        if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--all") == 0) {
            *(argv[i][2] == 'j' ? &a->json : &a->all) = true;
            continue;
        }
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
            if (strcmp(argv[i], valued[k].name) != 0)
                continue;
            if (i + 1 == argc)
                return usage_error("%s: %s needs a value", verb, argv[i]);
            *(const char **)(void *)((char *)a + valued[k].offset) = argv[++i];
            known = true;
        }
        if (known)
            continue;
        if (a->npos == max_pos || a->npos == CTL_POS_MAX)
            return usage_error("%s: too many arguments", verb);
        a->pos[a->npos++] = argv[i];
    }
    return CTL_EXIT_OK;
}

static bool parse_kind(const char *text, enum lists_kind *kind)
{
    char shown[256];

    if (lists_kind_parse(text, kind))
        return true;
    usage_error("unknown kind %s (cidr, ptr_domain, helo_domain, sender_domain, sender)",
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

int ctl_store_error(struct ctl *ctl, const char *what)
{
    fprintf(stderr, "ingressctl: %s: %s\n", what, ctl->err.text);
    return CTL_EXIT_ERROR;
}

static int list_add(struct ctl *ctl, const struct ctl_args *a)
{
    enum lists_kind kind;
    enum lists_action action;
    char value[LISTS_VALUE_MAX], why[512], by[64], previous[16];
    int64_t expires_ms = 0, now = (int64_t)time(NULL);

    if (a->npos != 4)
        return usage_error("list add KIND VALUE block|allow [--reason TEXT] [--expires DURATION]");
    if (!entry_valid(a->pos[1], a->pos[2], a->pos[3], a->reason, &kind, value, &action, why,
                     sizeof why))
        return usage_error("list add: %s", why);
    if (a->expires != NULL &&
        (!config_parse_duration(a->expires, &expires_ms) || expires_ms < 1000))
        return usage_error("list add: --expires wants a duration like 30m, 12h, 7d or 2w");
    invoking_user(by, sizeof by);
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
        return usage_error("list del KIND VALUE");
    if (!parse_kind(a->pos[1], &kind))
        return CTL_EXIT_ERROR;
    if (!lists_normalize_value(kind, a->pos[2], value, sizeof value, why, sizeof why))
        return usage_error("list del: %s %s: %s", a->pos[1],
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
    struct show_rows *s = arg;
    char expires[48], added[32], buf[1024];

    if (s->json) {
        printf("%s{\"kind\": ", s->count ? ",\n  " : "[\n  ");
        json_string(stdout, e->kind);
        printf(", \"value\": ");
        json_string(stdout, e->value);
        printf(", \"action\": ");
        json_string(stdout, e->action);
        printf(", \"reason\": ");
        json_string(stdout, e->reason);
        printf(", \"added_by\": ");
        json_string(stdout, e->added_by);
        printf(", \"added_at\": %lld, \"expires\": ", (long long)e->added_at);
        if (e->expires > 0)
            printf("%lld, \"expired\": %s}", (long long)e->expires,
                   e->expires <= s->now ? "true" : "false");
        else
            printf("null, \"expired\": false}");
        s->count++;
        return;
    }
    if (e->expires > 0) {
        format_minute(e->expires, expires, sizeof expires);
        size_t n = strlen(expires);
        if (e->expires <= s->now)
            str_copy(expires + n, sizeof expires - n, " (expired)");
    } else {
        str_copy(expires, sizeof expires, "never");
    }
    format_minute(e->added_at, added, sizeof added);
    s->rows = xrealloc(s->rows, (s->count + 1) * sizeof *s->rows);
    struct show_row *r = &s->rows[s->count++];
    const char *cells[7] = {e->kind, e->value, e->action, expires, added, e->added_by, e->reason};
    for (int i = 0; i < 7; i++)
        r->cell[i] = xstrdup(str_printable(buf, sizeof buf, cells[i] ? cells[i] : ""));
}

void free_rows(struct show_row *rows, size_t count, int ncols)
{
    for (size_t i = 0; i < count; i++)
        for (int c = 0; c < ncols; c++)
            free(rows[i].cell[c]);
    free(rows);
}

/* Prints rows under a header, each column as wide as its widest cell; frees the rows. */
void print_table(const char *const *header, int ncols, struct show_row *rows, size_t count)
{
    int width[CTL_COLS_MAX] = {0};

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

static int list_show(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"KIND",        "VALUE", "ACTION", "EXPIRES (UTC)",
                                         "ADDED (UTC)", "BY",    "REASON"};
    struct show_rows s = {.now = (int64_t)time(NULL), .json = a->json};
    enum lists_kind kind;
    enum store_status st;

    if (a->npos > 2 || a->reason || a->expires)
        return usage_error("list show [KIND] [--json]");
    if (a->npos == 2 && !parse_kind(a->pos[1], &kind))
        return CTL_EXIT_ERROR;
    st = store_list_each(ctl->store, a->npos == 2 ? lists_kind_name(kind) : NULL, 0, show_collect,
                         &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        free_rows(s.rows, s.json ? 0 : s.count, 7);
        return ctl_store_error(ctl, "reading the lists");
    }
    if (s.json) {
        printf("%s]\n", s.count ? "\n" : "[");
        return s.count ? CTL_EXIT_OK : CTL_EXIT_NOTFOUND;
    }
    if (s.count == 0) {
        fprintf(stderr, "no entries\n");
        return CTL_EXIT_NOTFOUND;
    }
    print_table(header, 7, s.rows, s.count);
    return CTL_EXIT_OK;
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
        return usage_error("list import FILE");
    str_printable(shown, sizeof shown, path);
    fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "ingressctl: %s: %s\n", shown, strerror_r(errno, why, sizeof why));
        return CTL_EXIT_ERROR;
    }
    invoking_user(by, sizeof by);
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

static int verb_list(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = split_args("list", argc, argv, 4, CTL_LIST_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos == 0)
        return usage_error("list: expected add, del, show or import");
    if (strcmp(a.pos[0], "add") == 0)
        return list_add(ctl, &a);
    if (strcmp(a.pos[0], "del") == 0)
        return list_del(ctl, &a);
    if (strcmp(a.pos[0], "show") == 0)
        return list_show(ctl, &a);
    if (strcmp(a.pos[0], "import") == 0)
        return list_import(ctl, &a);
    return usage_error("list: expected add, del, show or import");
}

static int rule_add(struct ctl *ctl, const struct ctl_args *a)
{
    char rcpt[LISTS_VALUE_MAX], sender[LISTS_VALUE_MAX], why[128], by[64], previous[16], shown[256];
    const char *action;

    if (a->npos != 4 || a->reason || a->expires || a->json)
        return usage_error("rule add RCPT SENDER accept|reject");
    if (!rules_normalize_recipient(a->pos[1], rcpt, sizeof rcpt, why, sizeof why))
        return usage_error("rule add: recipient %s: %s",
                           str_printable(shown, sizeof shown, a->pos[1]), why);
    if (!rules_normalize_sender(a->pos[2], sender, sizeof sender, why, sizeof why))
        return usage_error("rule add: sender %s: %s (an address or @domain)",
                           str_printable(shown, sizeof shown, a->pos[2]), why);
    if (strcmp(a->pos[3], "accept") == 0 || strcmp(a->pos[3], "reject") == 0)
        action = a->pos[3];
    else
        return usage_error("rule add: expected accept or reject, not %s",
                           str_printable(shown, sizeof shown, a->pos[3]));
    invoking_user(by, sizeof by);
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
        return usage_error("rule del RCPT SENDER");
    if (!rules_normalize_recipient(a->pos[1], rcpt, sizeof rcpt, why, sizeof why) ||
        !rules_normalize_sender(a->pos[2], sender, sizeof sender, why, sizeof why))
        return usage_error("rule del: %s: %s", str_printable(shown, sizeof shown, a->pos[2]), why);
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
    struct show_rows *s = arg;
    char added[32], buf[1024];

    if (s->json) {
        printf("%s{\"recipient\": ", s->count ? ",\n  " : "[\n  ");
        json_string(stdout, r->recipient);
        printf(", \"sender\": ");
        json_string(stdout, r->sender);
        printf(", \"action\": ");
        json_string(stdout, r->action);
        printf(", \"added_by\": ");
        json_string(stdout, r->added_by);
        printf(", \"added_at\": %lld}", (long long)r->added_at);
        s->count++;
        return;
    }
    format_minute(r->added_at, added, sizeof added);
    s->rows = xrealloc(s->rows, (s->count + 1) * sizeof *s->rows);
    struct show_row *row = &s->rows[s->count++];
    const char *cells[5] = {r->recipient, r->sender, r->action, added, r->added_by};
    for (int i = 0; i < 5; i++)
        row->cell[i] = xstrdup(str_printable(buf, sizeof buf, cells[i] ? cells[i] : ""));
}

static int rule_list(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"RECIPIENT", "SENDER", "ACTION", "ADDED (UTC)", "BY"};
    struct show_rows s = {.json = a->json};
    char rcpt[LISTS_VALUE_MAX], why[128], shown[256];
    enum store_status st;

    if (a->npos > 2 || a->reason || a->expires)
        return usage_error("rule list [RCPT] [--json]");
    if (a->npos == 2 && !rules_normalize_recipient(a->pos[1], rcpt, sizeof rcpt, why, sizeof why))
        return usage_error("rule list: %s: %s", str_printable(shown, sizeof shown, a->pos[1]), why);
    st = store_rule_each(ctl->store, a->npos == 2 ? rcpt : NULL, rule_collect, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        free_rows(s.rows, s.json ? 0 : s.count, 5);
        return ctl_store_error(ctl, "reading the rules");
    }
    if (s.json) {
        printf("%s]\n", s.count ? "\n" : "[");
        return s.count ? CTL_EXIT_OK : CTL_EXIT_NOTFOUND;
    }
    if (s.count == 0) {
        fprintf(stderr, "no rules\n");
        return CTL_EXIT_NOTFOUND;
    }
    print_table(header, 5, s.rows, s.count);
    return CTL_EXIT_OK;
}

static int verb_rule(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = split_args("rule", argc, argv, 4, CTL_LIST_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos > 0 && strcmp(a.pos[0], "add") == 0)
        return rule_add(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "del") == 0)
        return rule_del(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "list") == 0)
        return rule_list(ctl, &a);
    return usage_error("rule: expected add, del or list");
}

/* ------------------------------------------------------------------------------------------ */
/* alias and account (lib/sender.c, schema/sqlite/004_accounts.sql)                           */
/* ------------------------------------------------------------------------------------------ */

/* An account is the SASL login as the MTA reports it ({auth_authen}): printable, no spaces. */
bool account_valid(const char *name, const char *verb)
{
    char shown[256];

    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            usage_error("%s: account %s: spaces and control characters are not allowed", verb,
                        str_printable(shown, sizeof shown, name));
            return false;
        }
    }
    if (name[0] == '\0' || strlen(name) > CTL_ACCOUNT_MAX) {
        usage_error("%s: an account name has 1 to %d characters", verb, CTL_ACCOUNT_MAX);
        return false;
    }
    return true;
}

static int alias_add(struct ctl *ctl, const struct ctl_args *a)
{
    char address[ADDR_TEXT_MAX + 1], why[128], by[64], shown[256];
    bool created;

    if (a->npos != 3 || a->reason || a->expires || a->json)
        return usage_error("alias add ACCOUNT ADDRESS");
    if (!account_valid(a->pos[1], "alias add"))
        return CTL_EXIT_ERROR;
    if (!sender_alias_normalize(a->pos[2], address, sizeof address, why, sizeof why))
        return usage_error("alias add: %s: %s (an address or @domain)",
                           str_printable(shown, sizeof shown, a->pos[2]), why);
    invoking_user(by, sizeof by);
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
        return usage_error("alias del ACCOUNT ADDRESS");
    if (!account_valid(a->pos[1], "alias del"))
        return CTL_EXIT_ERROR;
    if (!sender_alias_normalize(a->pos[2], address, sizeof address, why, sizeof why))
        return usage_error("alias del: %s: %s", str_printable(shown, sizeof shown, a->pos[2]), why);
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
    struct show_rows *s = arg;
    char added[32], buf[1024];

    if (s->json) {
        printf("%s{\"account\": ", s->count ? ",\n  " : "[\n  ");
        json_string(stdout, al->account);
        printf(", \"address\": ");
        json_string(stdout, al->address);
        printf(", \"added_by\": ");
        json_string(stdout, al->added_by);
        printf(", \"added_at\": %lld}", (long long)al->added_at);
        s->count++;
        return;
    }
    format_minute(al->added_at, added, sizeof added);
    s->rows = xrealloc(s->rows, (s->count + 1) * sizeof *s->rows);
    struct show_row *row = &s->rows[s->count++];
    const char *cells[4] = {al->account, al->address, added, al->added_by};
    for (int i = 0; i < 4; i++)
        row->cell[i] = xstrdup(str_printable(buf, sizeof buf, cells[i] ? cells[i] : ""));
}

/* Prints the collected rows (or closes the JSON array); 1 when there were none. */
int rows_done(struct show_rows *s, const char *const *header, int ncols, const char *none)
{
    if (s->json) {
        printf("%s]\n", s->count ? "\n" : "[");
        return s->count ? CTL_EXIT_OK : CTL_EXIT_NOTFOUND;
    }
    if (s->count == 0) {
        fprintf(stderr, "%s\n", none);
        return CTL_EXIT_NOTFOUND;
    }
    print_table(header, ncols, s->rows, s->count);
    return CTL_EXIT_OK;
}

static int alias_list(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"ACCOUNT", "ADDRESS", "ADDED (UTC)", "BY"};
    struct show_rows s = {.json = a->json};
    enum store_status st;

    if (a->npos > 2 || a->reason || a->expires)
        return usage_error("alias list [ACCOUNT] [--json]");
    if (a->npos == 2 && !account_valid(a->pos[1], "alias list"))
        return CTL_EXIT_ERROR;
    st =
        store_alias_each(ctl->store, a->npos == 2 ? a->pos[1] : NULL, alias_collect, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        free_rows(s.rows, s.json ? 0 : s.count, 4);
        return ctl_store_error(ctl, "reading the aliases");
    }
    return rows_done(&s, header, 4, "no aliases");
}

static int verb_alias(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = split_args("alias", argc, argv, 3, CTL_LIST_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos > 0 && strcmp(a.pos[0], "add") == 0)
        return alias_add(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "del") == 0)
        return alias_del(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "list") == 0)
        return alias_list(ctl, &a);
    return usage_error("alias: expected add, del or list");
}

static int account_add(struct ctl *ctl, const struct ctl_args *a)
{
    char shown[256];
    bool created;

    if (a->npos != 2 || a->reason || a->expires || a->json)
        return usage_error("account add ACCOUNT");
    if (!account_valid(a->pos[1], "account add"))
        return CTL_EXIT_ERROR;
    if (store_account_add(ctl->store, a->pos[1], (int64_t)time(NULL), &created, &ctl->err) !=
        STORE_OK)
        return ctl_store_error(ctl, "adding the account");
    printf("%s account %s\n", created ? "added" : "already had",
           str_printable(shown, sizeof shown, a->pos[1]));
    return CTL_EXIT_OK;
}

static void account_collect(const struct store_account *acct, void *arg)
{
    struct show_rows *s = arg;
    char created[32], suspended[48], aliases[24], buf[1024];

    if (s->json) {
        printf("%s{\"account\": ", s->count ? ",\n  " : "[\n  ");
        json_string(stdout, acct->name);
        printf(", \"created\": %lld, \"suspended\": ", (long long)acct->created);
        if (acct->suspended > 0)
            printf("%lld", (long long)acct->suspended);
        else
            printf("null");
        printf(", \"suspend_reason\": ");
        json_string(stdout, acct->suspend_reason);
        printf(", \"aliases\": %lld}", (long long)acct->alias_count);
        s->count++;
        return;
    }
    format_minute(acct->created, created, sizeof created);
    if (acct->suspended > 0)
        format_minute(acct->suspended, suspended, sizeof suspended);
    else
        str_copy(suspended, sizeof suspended, "no");
    snprintf(aliases, sizeof aliases, "%lld", (long long)acct->alias_count);
    s->rows = xrealloc(s->rows, (s->count + 1) * sizeof *s->rows);
    struct show_row *row = &s->rows[s->count++];
    const char *cells[5] = {acct->name, created, suspended, aliases, acct->suspend_reason};
    for (int i = 0; i < 5; i++)
        row->cell[i] = xstrdup(str_printable(buf, sizeof buf, cells[i] ? cells[i] : ""));
}

/* `account show` is `account list` of one account followed by its aliases. */
static int account_list(struct ctl *ctl, const struct ctl_args *a, bool show)
{
    static const char *const header[] = {"ACCOUNT", "CREATED (UTC)", "SUSPENDED", "ALIASES",
                                         "REASON"};
    struct show_rows s = {.json = a->json};
    const char *name = show ? a->pos[1] : NULL;
    enum store_status st;
    int status;

    if (show ? (a->npos != 2) : (a->npos != 1))
        return usage_error(show ? "account show ACCOUNT [--json]" : "account list [--json]");
    if (a->reason || a->expires)
        return usage_error(show ? "account show ACCOUNT [--json]" : "account list [--json]");
    if (show && !account_valid(name, "account show"))
        return CTL_EXIT_ERROR;
    st = store_account_each(ctl->store, name, account_collect, &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        free_rows(s.rows, s.json ? 0 : s.count, 5);
        return ctl_store_error(ctl, "reading the accounts");
    }
    status = rows_done(&s, header, 5, show ? "no such account" : "no accounts");
    if (!show || status != CTL_EXIT_OK || a->json)
        return status;
    struct show_rows al = {0};
    static const char *const alias_header[] = {"ACCOUNT", "ADDRESS", "ADDED (UTC)", "BY"};
    st = store_alias_each(ctl->store, name, alias_collect, &al, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        free_rows(al.rows, al.count, 4);
        return ctl_store_error(ctl, "reading the aliases");
    }
    printf("\n");
    if (al.count == 0)
        printf("no aliases\n");
    else
        print_table(alias_header, 4, al.rows, al.count);
    printf("\n");
    return account_throttle_show(ctl, name);
}

static int verb_account(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = split_args("account", argc, argv, 5, CTL_LIST_OPTIONS, &a);

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
    return usage_error("account: expected add, show, list, suspend, resume, limits or unthrottle");
}

/* ------------------------------------------------------------------------------------------ */
/* Main                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static const struct ctl_verb *verb_find(const char *name)
{
    for (size_t i = 0; i < sizeof ctl_verbs / sizeof ctl_verbs[0]; i++)
        if (strcmp(ctl_verbs[i].name, name) == 0)
            return &ctl_verbs[i];
    return NULL;
}

/* Arguments are checked before any file is read, so a usage error is always status 2. */
static int check_arguments(const struct ctl_verb *verb, int argc, char **argv)
{
    if (argc < verb->min_args || argc > verb->max_args)
        return usage_error("%s: wrong number of arguments", verb->usage);
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '\0')
            return usage_error("%s: an argument is empty", verb->usage);
        if (strlen(argv[i]) > CTL_KEY_MAX)
            return usage_error("%s: an argument is too long", verb->usage);
    }
    return CTL_EXIT_OK;
}

/*
 * The config named with -c must exist; the default one may be missing (a test box, a fresh
 * install), and then the built-in defaults say where the database is.
 */
static struct config *load_config(const char *path, bool given)
{
    char err[1024];
    struct config *cfg;

    if (!given && access(path, F_OK) != 0 && errno == ENOENT)
        return config_new_defaults();
    cfg = config_load(path, err, sizeof err);
    if (cfg == NULL)
        fprintf(stderr, "ingressctl: %s\n", err);
    return cfg;
}

static int run_verb(const struct ctl_verb *verb, const struct config *cfg, const char *database,
                    int argc, char **argv)
{
    struct ctl ctl = {.cfg = cfg};
    int status;

    if (!present(database)) {
        fprintf(stderr, "ingressctl: no database configured (option database, or -d)\n");
        return CTL_EXIT_ERROR;
    }
    /* Opened, never created: a new database here would only hide a typo, or be a file created by
     * root that the milter then cannot write.  A member of the milter's group, who may read the
     * files but not write them, gets a read-only store: the verbs that only read work, the others
     * fail with exit 2. */
    ctl.store = store_open_existing(database, cfg->store_busy_timeout, &ctl.err);
    if (ctl.store == NULL) {
        fprintf(stderr, "ingressctl: %s\n", ctl.err.text);
        return CTL_EXIT_ERROR;
    }
    status = verb->run(&ctl, argc, argv);
    store_close(ctl.store);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = CTL_DEFAULT_CONFIG, *database = NULL;
    bool config_given = false;
    const struct ctl_verb *verb;
    struct config *cfg;
    char escaped[256];
    int c, status;

    log_open("ingressctl", true, NULL);
    opterr = 0;
    /* "+": options end at the verb, so a KEY that starts with '-' stays an argument. */
    while ((c = getopt_long(argc, argv, "+:c:d:hV", long_options, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            config_given = true;
            break;
        case 'd':
            database = optarg;
            break;
        case 'h':
            usage(stdout);
            return CTL_EXIT_OK;
        case 'V':
            printf("ingressctl %s\n", PROJECT_VERSION);
            return CTL_EXIT_OK;
        case ':':
            return usage_error("option -%c needs an argument", optopt);
        default:
            /* optopt is 0 for an unknown long option, which getopt leaves in argv. */
            if (optopt == 0)
                return usage_error("unknown option %s",
                                   str_printable(escaped, sizeof escaped, argv[optind - 1]));
            if (optopt > 0x20 && optopt < 0x7f)
                return usage_error("unknown option -%c", optopt);
            return usage_error("unknown option");
        }
    }
    if (optind == argc)
        return usage_error("no verb given");
    verb = verb_find(argv[optind]);
    if (verb == NULL)
        return usage_error("unknown verb %s", str_printable(escaped, sizeof escaped, argv[optind]));
    status = check_arguments(verb, argc - optind - 1, argv + optind + 1);
    if (status != CTL_EXIT_OK)
        return status;

    cfg = load_config(config_path, config_given);
    if (cfg == NULL)
        return CTL_EXIT_ERROR;
    status = run_verb(verb, cfg, database ? database : cfg->database, argc - optind - 1,
                      argv + optind + 1);
    config_free(cfg);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        char reason[128];
        fprintf(stderr, "ingressctl: writing the output: %s\n",
                strerror_r(errno, reason, sizeof reason));
        return CTL_EXIT_ERROR;
    }
    return status;
}
