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
#define CTL_KINDS                                                                                  \
    "cidr, ptr_domain, helo_domain, sender_domain, sender, ptr_regex, helo_regex, recipient"
/* An import file's bad lines reported one by one, then only counted. */
#define CTL_IMPORT_ERRORS_SHOWN 50

static bool parse_kind(const struct ctl *ctl, const char *text, enum lists_kind *kind)
{
    char shown[256];

    if (lists_kind_parse(text, kind))
        return true;
    ctl_usage_error(ctl, "unknown kind %s (" CTL_KINDS ")",
                    str_printable(shown, sizeof shown, text));
    return false;
}

/* Validates one entry (from the command line or an import line) into its stored form; why gets
 * the problem.  value (size LISTS_VALUE_MAX) receives the normalized value. */
bool ctl_list_entry_valid(const char *kind_text, const char *value_text, const char *action_text,
                          const char *reason, enum lists_kind *kind, char *value,
                          enum lists_action *action, char *why, size_t whylen)
{
    char shown[256], problem[256];

    if (!lists_kind_parse(kind_text, kind)) {
        snprintf(why, whylen, "unknown kind %s (" CTL_KINDS ")",
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
        snprintf(why, whylen, "expected block, allow or greylist_exempt, not %s",
                 str_printable(shown, sizeof shown, action_text));
        return false;
    }
    if (!lists_action_allowed(*kind, *action)) {
        snprintf(why, whylen,
                 "a %s entry can only be greylist_exempt (a recipient's block or allow is a "
                 "rule: ingressctl rule add)",
                 kind_text);
        return false;
    }
    if (reason != NULL && !lists_reason_valid(reason)) {
        snprintf(why, whylen, "the reason must be printable text (UTF-8), at most %d bytes",
                 LISTS_REASON_MAX);
        return false;
    }
    return true;
}

static int list_add(struct ctl *ctl, const struct ctl_args *a)
{
    enum lists_kind kind;
    enum lists_action action;
    char value[LISTS_VALUE_MAX], why[512], previous[16];
    int64_t expires_at, now = (int64_t)time(NULL);

    if (a->npos != 4 || a->format)
        return ctl_usage_error(ctl, "list add: wrong arguments (list add KIND VALUE "
                                    "block|allow|greylist_exempt [--reason TEXT] [--public TEXT] "
                                    "[--expires DURATION])");
    if (!ctl_list_entry_valid(a->pos[1], a->pos[2], a->pos[3], a->reason, &kind, value, &action,
                              why, sizeof why) ||
        !ctl_list_extras_valid(action, a->public_text, a->expires, now, &expires_at, why,
                               sizeof why))
        return ctl_usage_error(ctl, "list add: %s", why);
    struct list_entry e = {
        .kind = lists_kind_name(kind),
        .value = value,
        .action = lists_action_name(action),
        .reason = a->reason ? a->reason : "",
        .public_text = a->public_text ? a->public_text : "",
        .added_by = ctl->origin.who,
        .added_at = now,
        .expires = expires_at,
    };
    if (ctl_list_add(ctl, &e, previous, sizeof previous) != STORE_OK)
        return ctl_store_error(ctl, "adding the entry");
    printf("%s %s %s: %s\n", previous[0] ? "replaced" : "added", e.kind, value, e.action);
    return CTL_EXIT_OK;
}

static int list_del(struct ctl *ctl, const struct ctl_args *a)
{
    enum lists_kind kind;
    char value[LISTS_VALUE_MAX], why[128], shown[256];

    if (a->npos != 3 || a->expires || a->json || a->public_text || a->format)
        return ctl_usage_error(ctl,
                               "list del: wrong arguments (list del KIND VALUE [--reason TEXT])");
    if (a->reason != NULL && !lists_reason_valid(a->reason))
        return ctl_usage_error(ctl, "list del: the reason must be printable text, at most %d bytes",
                               LISTS_REASON_MAX);
    if (!parse_kind(ctl, a->pos[1], &kind))
        return CTL_EXIT_USAGE;
    if (!lists_normalize_value(kind, a->pos[2], value, sizeof value, why, sizeof why))
        return ctl_usage_error(ctl, "list del: %s %s: %s", a->pos[1],
                               str_printable(shown, sizeof shown, a->pos[2]), why);
    switch (ctl_list_del(ctl, lists_kind_name(kind), value, a->reason)) {
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
        ctl_json_append(s->json, ctl_list_entry_json(e, s->now));
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
    const char *cells[8] = {e->kind, e->value,    e->action, expires,
                            added,   e->added_by, e->reason, e->public_text};
    ctl_rows_add(s, cells, 8, NULL);
}

static int list_show(struct ctl *ctl, const struct ctl_args *a)
{
    static const char *const header[] = {"KIND",        "VALUE", "ACTION", "EXPIRES (UTC)",
                                         "ADDED (UTC)", "BY",    "REASON", "PUBLIC"};
    struct ctl_rows s;
    enum lists_kind kind;
    enum store_status st;

    if (a->npos > 2 || a->reason || a->expires || a->public_text || a->format)
        return ctl_usage_error(ctl, "list show: wrong arguments (list show [KIND] [--json])");
    if (a->npos == 2 && !parse_kind(ctl, a->pos[1], &kind))
        return CTL_EXIT_USAGE;
    ctl_rows_init(&s, a->json, (int64_t)time(NULL));
    st = store_list_each(ctl->store, a->npos == 2 ? lists_kind_name(kind) : NULL, 0, show_collect,
                         &s, &ctl->err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        ctl_rows_free(&s, 8);
        return ctl_store_error(ctl, "reading the lists");
    }
    return ctl_rows_done(&s, header, 8, "no entries");
}

/* What an import line gave: an entry, nothing (a comment or a blank line), or a problem. */
enum import_result { IMPORT_ENTRY, IMPORT_NOTHING, IMPORT_BAD };

/* The formats of `list import`: a line's text (no line end) into e, value (size
 * LISTS_VALUE_MAX) and reason (size LISTS_REASON_MAX + 1). */
typedef enum import_result (*import_parser)(char *text, size_t lineno, struct list_entry *e,
                                            char *value, char *reason, char *why, size_t whylen);

/* The native format: "KIND VALUE ACTION REASON...", '#' comment lines. */
static enum import_result native_line(char *text, size_t lineno, struct list_entry *e, char *value,
                                      char *reason, char *why, size_t whylen)
{
    char *words[3];
    char *p = str_trim(text);
    enum lists_kind kind;
    enum lists_action action;

    (void)lineno;
    if (p[0] == '\0' || p[0] == '#')
        return IMPORT_NOTHING;
    for (int i = 0; i < 3; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0') {
            snprintf(why, whylen, "expected KIND VALUE ACTION [REASON]");
            return IMPORT_BAD;
        }
        words[i] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
    char *rest = str_trim(p);
    if (!ctl_list_entry_valid(words[0], words[1], words[2], rest, &kind, value, &action, why,
                              whylen))
        return IMPORT_BAD;
    e->kind = lists_kind_name(kind);
    e->action = lists_action_name(action);
    str_copy(reason, LISTS_REASON_MAX + 1, rest);
    return IMPORT_ENTRY;
}

/*
 * postgrey's lines as its own reader takes them (postgrey 1.37, read_clients_whitelists and
 * read_recipients_whitelists): everything from '#' on is a comment, blanks around are dropped (a
 * CR too), "/regex/" is a Perl regular expression.  Each becomes a greylist_exempt entry, which is
 * what a postgrey whitelist means: no greylisting, every other check as before.
 */
static char *postgrey_text(char *text)
{
    text[strcspn(text, "#")] = '\0';
    text = str_trim(text);
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == ' ' || text[len - 1] == '\t'))
        text[--len] = '\0';
    return text;
}

/* "/pattern/" with no blank in it: the pattern, in place; NULL otherwise. */
static char *postgrey_regex(char *text)
{
    size_t len = strlen(text);
    if (len < 3 || text[0] != '/' || text[len - 1] != '/' || strpbrk(text, " \t") != NULL)
        return NULL;
    text[len - 1] = '\0';
    return text + 1;
}

static bool all_digits_and_dots(const char *text, int *dots)
{
    *dots = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '.')
            (*dots)++;
        else if (*p < '0' || *p > '9')
            return false;
    }
    return text[0] != '\0';
}

static enum import_result postgrey_entry(enum lists_kind kind, const char *value_text,
                                         size_t lineno, const char *file, struct list_entry *e,
                                         char *value, char *reason, char *why, size_t whylen)
{
    char problem[256];

    if (!lists_normalize_value(kind, value_text, value, LISTS_VALUE_MAX, problem, sizeof problem)) {
        snprintf(why, whylen, "cannot take %s as %s: %s", value_text, lists_kind_name(kind),
                 problem);
        return IMPORT_BAD;
    }
    e->kind = lists_kind_name(kind);
    e->action = lists_action_name(LISTS_GREYLIST_EXEMPT);
    snprintf(reason, LISTS_REASON_MAX + 1, "postgrey %s line %zu", file, lineno);
    return IMPORT_ENTRY;
}

/* whitelist_clients: a client name (and its subdomains), an IPv4 address, network or its first
 * three or two numbers (a /24, a /16), an IPv6 address or network, or /regex/ of the name. */
static enum import_result postgrey_client_line(char *line, size_t lineno, struct list_entry *e,
                                               char *value, char *reason, char *why, size_t whylen)
{
    char *text = postgrey_text(line), network[64];
    char *pattern = postgrey_regex(text);
    int dots;

    if (text[0] == '\0')
        return IMPORT_NOTHING;
    if (pattern != NULL)
        return postgrey_entry(LISTS_PTR_REGEX, pattern, lineno, "whitelist_clients", e, value,
                              reason, why, whylen);
    if (strpbrk(text, " \t") != NULL) {
        snprintf(why, whylen, "not a host name, address, network or /regex/");
        return IMPORT_BAD;
    }
    if (all_digits_and_dots(text, &dots) && (dots == 1 || dots == 2) && strlen(text) < 16) {
        snprintf(network, sizeof network, "%s%s/%d", text, dots == 2 ? ".0" : ".0.0",
                 dots == 2 ? 24 : 16);
        text = network;
    }
    bool address = strchr(text, ':') != NULL || strspn(text, "0123456789./") == strlen(text);
    return postgrey_entry(address ? LISTS_CIDR : LISTS_PTR_DOMAIN, text, lineno,
                          "whitelist_clients", e, value, reason, why, whylen);
}

/* whitelist_recipients: user@domain, user@ or a domain (postfix access(5) forms). */
static enum import_result postgrey_recipient_line(char *line, size_t lineno, struct list_entry *e,
                                                  char *value, char *reason, char *why,
                                                  size_t whylen)
{
    char *text = postgrey_text(line);

    if (text[0] == '\0')
        return IMPORT_NOTHING;
    if (postgrey_regex(text) != NULL) {
        snprintf(why, whylen,
                 "a /regex/ of recipients has no list kind: add the addresses or domains it "
                 "means (kind recipient)");
        return IMPORT_BAD;
    }
    if (strpbrk(text, " \t") != NULL) {
        snprintf(why, whylen, "not an address, local@ or a domain");
        return IMPORT_BAD;
    }
    return postgrey_entry(LISTS_RECIPIENT, text, lineno, "whitelist_recipients", e, value, reason,
                          why, whylen);
}

/*
 * The parser of --format: native, postgrey-clients, postgrey-recipients, or postgrey, which
 * tells the two files apart by their names as postgrey ships them (whitelist_clients[.local],
 * whitelist_recipients[.local]).  NULL after a usage error.
 */
static import_parser import_format(const struct ctl *ctl, const char *format, const char *path)
{
    char shown[256];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

    if (format == NULL || strcmp(format, "native") == 0)
        return native_line;
    if (strcmp(format, "postgrey-clients") == 0)
        return postgrey_client_line;
    if (strcmp(format, "postgrey-recipients") == 0)
        return postgrey_recipient_line;
    if (strcmp(format, "postgrey") != 0) {
        ctl_usage_error(ctl,
                        "list import: unknown --format %s (native, postgrey, postgrey-clients, "
                        "postgrey-recipients)",
                        str_printable(shown, sizeof shown, format));
        return NULL;
    }
    if (strncmp(base, "whitelist_clients", 17) == 0)
        return postgrey_client_line;
    if (strncmp(base, "whitelist_recipients", 20) == 0)
        return postgrey_recipient_line;
    ctl_usage_error(ctl,
                    "list import: %s is not named whitelist_clients or whitelist_recipients: say "
                    "which with --format postgrey-clients or --format postgrey-recipients",
                    str_printable(shown, sizeof shown, path));
    return NULL;
}

/* The import's entries; each string owned here. */
struct import {
    struct list_entry *entries;
    char **owned;
    size_t count;
};

static void import_keep(struct import *im, struct list_entry e)
{
    im->entries = xrealloc(im->entries, (im->count + 1) * sizeof *im->entries);
    im->owned = xrealloc(im->owned, (2 * im->count + 2) * sizeof *im->owned);
    im->owned[2 * im->count] = xstrdup(e.value);
    im->owned[2 * im->count + 1] = xstrdup(e.reason);
    e.value = im->owned[2 * im->count];
    e.reason = im->owned[2 * im->count + 1];
    im->entries[im->count++] = e;
}

static void import_free(struct import *im)
{
    for (size_t i = 0; i < 2 * im->count; i++)
        free(im->owned[i]);
    free(im->owned);
    free(im->entries);
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
    struct import im = {0};
    size_t bad = 0, lineno = 0;
    int64_t now = (int64_t)time(NULL);
    int status = CTL_EXIT_OK;
    FILE *fp;

    if (path == NULL || a->reason || a->expires || a->json || a->public_text)
        return ctl_usage_error(
            ctl, "list import: wrong arguments (list import [--format native|postgrey] FILE)");
    import_parser parse = import_format(ctl, a->format, path);
    if (parse == NULL)
        return CTL_EXIT_USAGE;
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
        char value[LISTS_VALUE_MAX], reason[LISTS_REASON_MAX + 1];
        struct list_entry e = {.added_by = by, .added_at = now, .value = value, .reason = reason};
        enum import_result got = IMPORT_BAD;
        lineno++;
        if (!whole && !feof(fp)) {
            int c;
            while ((c = getc(fp)) != EOF && c != '\n')
                ;
            snprintf(why, sizeof why, "line longer than %d characters", CTL_IMPORT_LINE_MAX);
        } else {
            line[strcspn(line, "\r\n")] = '\0';
            got = parse(line, lineno, &e, value, reason, why, sizeof why);
        }
        if (got == IMPORT_ENTRY)
            import_keep(&im, e);
        else if (got == IMPORT_BAD && bad++ < CTL_IMPORT_ERRORS_SHOWN)
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
        if (store_list_import(ctl->store, im.entries, im.count, &ctl->err) == STORE_OK) {
            char detail[1200];
            str_printf(detail, sizeof detail, "%zu entries imported from %s", im.count, shown);
            /* One record for the file: its entries are found by list show, with who added them. */
            ctl_change_record(ctl, "list import", shown, detail, NULL);
            printf("imported %zu entr%s from %s\n", im.count, im.count == 1 ? "y" : "ies", shown);
        } else
            status = ctl_store_error(ctl, "importing (nothing was imported)");
    }
    import_free(&im);
    return status;
}

int ctl_verb_list(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    int status = ctl_split_args(ctl, argc, argv, 4, CTL_LIST_ENTRY_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos == 0)
        return ctl_usage_error(ctl, "list: expected add, del, show or import");
    if (strcmp(a.pos[0], "add") == 0)
        return list_add(ctl, &a);
    if (strcmp(a.pos[0], "del") == 0)
        return list_del(ctl, &a);
    if (strcmp(a.pos[0], "show") == 0)
        return list_show(ctl, &a);
    if (strcmp(a.pos[0], "import") == 0)
        return list_import(ctl, &a);
    return ctl_usage_error(ctl, "list: expected add, del, show or import");
}

bool ctl_rule_valid(const char *rcpt_text, const char *sender_text, const char *action, char *rcpt,
                    char *sender, char *why, size_t whylen)
{
    char reason[128], shown[256];

    if (!rules_normalize_recipient(rcpt_text, rcpt, LISTS_VALUE_MAX, reason, sizeof reason)) {
        str_printf(why, whylen, "recipient %s: %s", str_printable(shown, sizeof shown, rcpt_text),
                   reason);
        return false;
    }
    if (!rules_normalize_sender(sender_text, sender, LISTS_VALUE_MAX, reason, sizeof reason)) {
        str_printf(why, whylen, "sender %s: %s (an address or @domain)",
                   str_printable(shown, sizeof shown, sender_text), reason);
        return false;
    }
    if (action != NULL && strcmp(action, "accept") != 0 && strcmp(action, "reject") != 0) {
        str_printf(why, whylen, "expected accept or reject, not %s",
                   str_printable(shown, sizeof shown, action));
        return false;
    }
    return true;
}

json_t *ctl_rule_json(const struct rcpt_rule *r)
{
    json_t *row = ctl_json_object();
    ctl_json_set_text(row, "recipient", r->recipient);
    ctl_json_set_text(row, "sender", r->sender);
    ctl_json_set_text(row, "action", r->action);
    ctl_json_set_text(row, "added_by", r->added_by);
    ctl_json_set_int(row, "added_at", r->added_at);
    return row;
}

static int rule_add(struct ctl *ctl, const struct ctl_args *a)
{
    char rcpt[LISTS_VALUE_MAX], sender[LISTS_VALUE_MAX], why[512], by[64], previous[16];

    if (a->npos != 4 || a->reason || a->expires || a->json)
        return ctl_usage_error(ctl,
                               "rule add: wrong arguments (rule add RCPT SENDER accept|reject)");
    if (!ctl_rule_valid(a->pos[1], a->pos[2], a->pos[3], rcpt, sender, why, sizeof why))
        return ctl_usage_error(ctl, "rule add: %s", why);
    ctl_invoking_user(by, sizeof by);
    struct rcpt_rule r = {.recipient = rcpt,
                          .sender = sender,
                          .action = a->pos[3],
                          .added_by = by,
                          .added_at = (int64_t)time(NULL)};
    if (store_rule_add(ctl->store, &r, previous, sizeof previous, &ctl->err) != STORE_OK)
        return ctl_store_error(ctl, "adding the rule");
    printf("%s rule %s %s: %s\n", previous[0] ? "replaced" : "added", rcpt, sender, a->pos[3]);
    return CTL_EXIT_OK;
}

static int rule_del(struct ctl *ctl, const struct ctl_args *a)
{
    char rcpt[LISTS_VALUE_MAX], sender[LISTS_VALUE_MAX], why[512];

    if (a->npos != 3 || a->reason || a->expires || a->json)
        return ctl_usage_error(ctl, "rule del: wrong arguments (rule del RCPT SENDER)");
    if (!ctl_rule_valid(a->pos[1], a->pos[2], NULL, rcpt, sender, why, sizeof why))
        return ctl_usage_error(ctl, "rule del: %s", why);
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
        ctl_json_append(s->json, ctl_rule_json(r));
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
        return ctl_usage_error(ctl, "rule list: wrong arguments (rule list [RCPT] [--json])");
    if (a->npos == 2 && !rules_normalize_recipient(a->pos[1], rcpt, sizeof rcpt, why, sizeof why))
        return ctl_usage_error(ctl, "rule list: %s: %s",
                               str_printable(shown, sizeof shown, a->pos[1]), why);
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
    int status = ctl_split_args(ctl, argc, argv, 4, CTL_LIST_OPTIONS, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos > 0 && strcmp(a.pos[0], "add") == 0)
        return rule_add(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "del") == 0)
        return rule_del(ctl, &a);
    if (a.npos > 0 && strcmp(a.pos[0], "list") == 0)
        return rule_list(ctl, &a);
    return ctl_usage_error(ctl, "rule: expected add, del or list");
}
