/*
 * config: the option table, the "key = value" file parser, and the writers of the option
 * reference (contrib/milter-ingress.conf, the README's table, `-n`).
 *
 * Every option is one row of config_options[]; nothing else in the program names an option's
 * default or bounds.  Errors name FILE:LINE and the key so an admin finds the typo at once.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"
#include "command.h"
#include "dns.h"
#include "dnsbl_zone.h"
#include "util.h"

#define MS_SECOND INT64_C(1000)
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR (60 * MS_MINUTE)
#define MS_DAY (24 * MS_HOUR)
#define MS_WEEK (7 * MS_DAY)

#define CONFIG_LINE_MAX 4096

#define OPT(name, type, def, min, max, choices, section, doc)                                      \
    {                                                                                              \
#name, type, def, min, max, choices, doc, section, offsetof(struct config, name), NULL,    \
            NULL                                                                                   \
    }
/* A text or list option, with the check its value must pass. */
#define TEXT(name, def, check, section, doc)                                                       \
    {                                                                                              \
#name, CONFIG_STRING, def, 0, 0, NULL, doc, section, offsetof(struct config, name), check, \
            NULL                                                                                   \
    }
#define LIST(name, def, check, section, doc)                                                       \
    {                                                                                              \
#name, CONFIG_LIST, def, 0, 0, NULL, doc, section, offsetof(struct config, name), NULL,    \
            check                                                                                  \
    }

/* An SMTP reply line holds 512 bytes (RFC 5321 4.5.3.1.5); the help text shares it with the
 * code, the verdict's text and the reference. */
#define HELP_TEXT_MAX 200
/* The actions of a DMARC failure: dmarc_reject_action, dmarc_quarantine_action and each
 * domain:action of dmarc_domain_actions (lib/dmarc_verdict.c acts on the same words). */
#define DMARC_ACTION_CHOICES "reject|hold|header|log"
/* useradd's limit, and what getpwnam() users expect. */
#define ACCOUNT_NAME_MAX 32

static bool socket_valid(const char *spec, char *why, size_t whylen);
static bool socket_mode_valid(const char *mode, char *why, size_t whylen);
static bool account_name_valid(const char *name, char *why, size_t whylen);
static bool path_valid(const char *path, char *why, size_t whylen);
static bool authserv_id_valid(const char *id, char *why, size_t whylen);
static bool help_text_valid(const char *text, char *why, size_t whylen);
static bool recipients_valid(const struct config_list *list, char *why, size_t whylen);
static bool networks_valid(const struct config_list *list, char *why, size_t whylen);
static bool dns_servers_valid(const struct config_list *list, char *why, size_t whylen);
static bool dnsbl_zones_check(const struct config_list *list, char *why, size_t whylen);
static bool dmarc_domain_actions_valid(const struct config_list *list, char *why, size_t whylen);
static bool host_name_valid(const char *name, char *why, size_t whylen);
static bool metrics_listen_valid(const char *spec, char *why, size_t whylen);
static bool console_listen_valid(const char *spec, char *why, size_t whylen);
static bool absolute_path_valid(const char *path, char *why, size_t whylen);

const struct config_option config_options[] = {
    /* milter */
    TEXT(socket, "inet:8895@127.0.0.1", socket_valid, "milter",
         "Where to listen: inet:PORT@HOST, inet6:PORT@HOST or unix:PATH"),
    TEXT(socket_mode, "0660", socket_mode_valid, "milter",
         "Permissions of a unix socket, octal (the MTA's user must be able to connect)"),
    TEXT(user, "", account_name_valid, "milter",
         "Account to switch to after opening the socket and database when started as root"),
    TEXT(group, "", account_name_valid, "milter",
         "Group to switch to with user (empty: the user's primary group); when set, the database "
         "files are created 0640 so that this group may read them (else 0600)"),
    OPT(allow_root, CONFIG_BOOL, "no", 0, 0, NULL, "milter",
        "Keep running as root when started as root with no user (refused otherwise)"),
    OPT(log_facility, CONFIG_ENUM, "mail", 0, 0,
        "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7", "milter",
        "Syslog facility of the log lines (with -f they go to stderr instead)"),
    OPT(fail_open, CONFIG_BOOL, "no", 0, 0, NULL, "milter",
        "On an internal error (database or resolver unusable) accept mail instead of 451 4.3.0"),
    /* storage */
    TEXT(database, "/var/lib/milter-ingress/ingress.db", path_valid, "storage",
         "SQLite database file (created with its schema when missing), or a PostgreSQL "
         "postgresql:// URI or libpq key=value settings (README: Several MX hosts)"),
    OPT(store_busy_timeout, CONFIG_DURATION, "5s", 100, 60 * MS_SECOND, NULL, "storage",
        "How long a database access waits for a lock before giving store_failure"),
    OPT(decision_retention, CONFIG_DURATION, "30d", MS_MINUTE, 3650 * MS_DAY, NULL, "storage",
        "How long the decision log (ingressctl why) keeps its entries"),
    OPT(changes_retention, CONFIG_DURATION, "400d", MS_DAY, 3650 * MS_DAY, NULL, "storage",
        "How long the record of changes made with ingressctl or the console (who, from where, "
        "why) is kept"),
    /* replies and headers */
    TEXT(authserv_id, "", authserv_id_valid, "replies",
         "authserv-id of our Authentication-Results header (empty: this host's name)"),
    TEXT(help_text, "", help_text_valid, "replies",
         "Appended to every rejection (at most 200 characters); {check} and {ref} are replaced, "
         "e.g. https://help/{check}"),
    LIST(exempt_recipients, "postmaster, abuse", recipients_valid, "replies",
         "Recipients never refused by the checks: a local part (any domain) or a full address"),
    LIST(trusted_networks, "127.0.0.0/8, ::1/128", networks_valid, "replies",
         "Client networks whose mail is not checked (local submission, the MTA itself)"),
    /* DNS */
    LIST(dns_servers, "", dns_servers_valid, "dns",
         "Resolvers to ask, e.g. 127.0.0.1 or 127.0.0.1:5353 (empty: /etc/resolv.conf)"),
    OPT(dns_timeout, CONFIG_DURATION, "2s", 100, 30 * MS_SECOND, NULL, "dns",
        "Time to wait for one answer before trying again"),
    OPT(dns_tries, CONFIG_INT, "2", 1, 5, NULL, "dns",
        "Tries per query; a query never takes longer than dns_timeout x dns_tries"),
    OPT(dns_cache_size, CONFIG_INT, "10000", 0, 10000000, NULL, "dns",
        "Answers kept in the shared cache (0: no cache)"),
    OPT(dns_cache_max_ttl, CONFIG_DURATION, "1h", 0, MS_DAY, NULL, "dns",
        "Longest time an answer is kept, whatever its TTL"),
    OPT(dns_failure, CONFIG_ENUM, "tempfail", 0, 0, "tempfail|accept", "dns",
        "What a DNS timeout or SERVFAIL does to a check that needs the answer"),
    /* iprev */
    OPT(iprev_helo, CONFIG_ENUM, "resolve", 0, 0, "strict|resolve|off", "iprev",
        "HELO must equal a confirmed PTR name (strict), or may also resolve to the client "
        "(resolve)"),
    OPT(iprev_action, CONFIG_ENUM, "reject", 0, 0, "reject|tempfail|log", "iprev",
        "What a client without forward-confirmed reverse DNS matching its HELO gets"),
    /* spf (options of lib/spf.c go here) */
    OPT(spf_fail_action, CONFIG_ENUM, "reject", 0, 0, "reject|tempfail|log", "spf",
        "What an SPF fail of the MAIL FROM (or enforced HELO) identity gets: 550 5.7.23, 451 or "
        "only a log line"),
    OPT(spf_permerror_action, CONFIG_ENUM, "reject", 0, 0, "reject|tempfail|log", "spf",
        "What an SPF permerror (a broken record or too many lookups) gets: 550 5.7.24, 451 or log"),
    OPT(spf_temperror_action, CONFIG_ENUM, "tempfail", 0, 0, "tempfail|accept", "spf",
        "What an SPF temperror (DNS trouble) gets: 451 4.7.24, or accept (dns_failure = accept "
        "also accepts)"),
    OPT(spf_helo_action, CONFIG_ENUM, "reject", 0, 0, "reject|log|off", "spf",
        "HELO identity (RFC 7208 2.3): enforced like MAIL FROM (reject), only recorded (log), or "
        "not checked (off)"),
    /* dkim (options of lib/dkim.c go here) */
    OPT(dkim_min_key_bits, CONFIG_INT, "1024", 512, 4096, NULL, "dkim",
        "RSA keys shorter than this make a DKIM signature fail (RFC 8301 3.2)"),
    OPT(dkim_max_signatures, CONFIG_INT, "8", 1, 64, NULL, "dkim",
        "DKIM signatures evaluated per message, from the top; the rest are ignored"),
    /* greylisting (options of lib/greylist.c go here) */
    OPT(greylist, CONFIG_BOOL, "yes", 0, 0, NULL, "greylisting",
        "Defer mail from an unknown (client network, sender, recipient) triplet once"),
    OPT(greylist_delay, CONFIG_DURATION, "5m", 0, MS_DAY, NULL, "greylisting",
        "How long a new triplet is deferred: a retry after this delay passes"),
    OPT(greylist_retry_window, CONFIG_DURATION, "48h", MS_MINUTE, 30 * MS_DAY, NULL, "greylisting",
        "How long after the first attempt a retry still counts; later ones start over"),
    OPT(greylist_max_age, CONFIG_DURATION, "35d", MS_HOUR, 3650 * MS_DAY, NULL, "greylisting",
        "How long a confirmed triplet (and an auto-allowed network) lives after its last use"),
    OPT(autoallow_after, CONFIG_INT, "5", 0, 1000000, NULL, "greylisting",
        "Deliveries (counted at most once an hour) after which a client network is no longer "
        "greylisted (0: never)"),
    OPT(greylist_ipv4_prefix, CONFIG_INT, "24", 8, 32, NULL, "greylisting",
        "IPv4 clients in one network of this prefix length share their triplets"),
    OPT(greylist_ipv6_prefix, CONFIG_INT, "64", 16, 128, NULL, "greylisting",
        "IPv6 clients in one network of this prefix length share their triplets"),
    OPT(greylist_expire_batch, CONFIG_INT, "200", 1, 1000000, NULL, "greylisting",
        "Rows deleted (or swept) per greylist expiry transaction; smaller: shorter lock waits"),
    /* lists (options of lib/lists.c go here) */
    LIST(dnsbl_zones, "", dnsbl_zones_check, "lists",
         "DNS block lists as zone:codes, e.g. zen.example:127.0.0.2-127.0.0.11 (other answers are "
         "ignored)"),
    LIST(dnswl_zones, "", dnsbl_zones_check, "lists",
         "DNS allow lists, same syntax; a listed client is not greylisted nor checked on the "
         "DNSBLs"),
    OPT(rcpt_rules_override_blocks, CONFIG_BOOL, "no", 0, 0, NULL, "lists",
        "A recipient's accept rule also lets mail through the postmaster's block list entries"),
    OPT(lists_reload_interval, CONFIG_DURATION, "1s", 0, 5 * MS_MINUTE, NULL, "lists",
        "How often the block/allow lists and recipient rules are checked for changes made with "
        "ingressctl"),
    /* sender (options of lib/sender.c go here) */
    OPT(sender_check, CONFIG_ENUM, "reject", 0, 0, "reject|log|off", "sender",
        "Authenticated senders must own MAIL FROM and every header From/Sender address: 553 "
        "5.7.1 (reject), a log line only (log), or no check (off)"),
    OPT(sender_case_sensitive, CONFIG_BOOL, "no", 0, 0, NULL, "sender",
        "Compare local parts of sender addresses with case (domains never are)"),
    /* submission throttle (options of lib/throttle.c go here) */
    OPT(throttle, CONFIG_BOOL, "yes", 0, 0, NULL, "submission",
        "Count authenticated accounts' messages and recipients per minute, hour and day, and "
        "act on abnormal rates"),
    OPT(throttle_action, CONFIG_ENUM, "hold", 0, 0, "hold|tempfail|reject", "submission",
        "What a message over an account's limit gets: held in the MTA's queue for the "
        "postmaster (hold), 451 or 550"),
    OPT(throttle_factor, CONFIG_INT, "5", 0, 100, NULL, "submission",
        "A rate above this many times the account's own baseline is abnormal (0: no adaptive "
        "rule, static limits only)"),
    OPT(throttle_history, CONFIG_DURATION, "14d", MS_DAY, 90 * MS_DAY, NULL, "submission",
        "How far back an account's baseline (its usual rate) is computed from"),
    OPT(throttle_messages_per_minute, CONFIG_INT, "30", 0, 1000000, NULL, "submission",
        "Static limit: messages an account may send in any minute (0: none; per-account limits "
        "override it)"),
    OPT(throttle_recipients_per_minute, CONFIG_INT, "100", 0, 1000000, NULL, "submission",
        "Static limit: recipients in any minute (0: none)"),
    OPT(throttle_messages_per_hour, CONFIG_INT, "200", 0, 1000000, NULL, "submission",
        "Static limit: messages in any hour (0: none)"),
    OPT(throttle_recipients_per_hour, CONFIG_INT, "500", 0, 1000000, NULL, "submission",
        "Static limit: recipients in any hour (0: none)"),
    OPT(throttle_messages_per_day, CONFIG_INT, "1000", 0, 1000000, NULL, "submission",
        "Static limit: messages in any day (0: none)"),
    OPT(throttle_recipients_per_day, CONFIG_INT, "2000", 0, 1000000, NULL, "submission",
        "Static limit: recipients in any day (0: none)"),
    OPT(throttle_floor_messages_per_minute, CONFIG_INT, "10", 1, 1000000, NULL, "submission",
        "The adaptive limit is never below this: messages in any minute (at most the static "
        "limit)"),
    OPT(throttle_floor_recipients_per_minute, CONFIG_INT, "30", 1, 1000000, NULL, "submission",
        "Adaptive floor: recipients in any minute"),
    OPT(throttle_floor_messages_per_hour, CONFIG_INT, "50", 1, 1000000, NULL, "submission",
        "Adaptive floor: messages in any hour"),
    OPT(throttle_floor_recipients_per_hour, CONFIG_INT, "150", 1, 1000000, NULL, "submission",
        "Adaptive floor: recipients in any hour"),
    OPT(throttle_floor_messages_per_day, CONFIG_INT, "200", 1, 1000000, NULL, "submission",
        "Adaptive floor: messages in any day"),
    OPT(throttle_floor_recipients_per_day, CONFIG_INT, "500", 1, 1000000, NULL, "submission",
        "Adaptive floor: recipients in any day"),
    /* held (ingressctl held release|reject; lib/command.c) */
    TEXT(held_release_command, "postsuper -H {queue_id}; postqueue -i {queue_id}",
         command_template_valid, "held",
         "Commands that release a held message from the MTA's hold queue, separated by ';', run "
         "without a shell; {queue_id} is replaced"),
    TEXT(held_reject_command, "postsuper -d {queue_id}", command_template_valid, "held",
         "Commands that delete a held message from the MTA's queue (same syntax)"),
    TEXT(held_queue_command, "postqueue -j", command_template_valid, "held",
         "Command whose output lists the MTA's queue; a held message whose queue id it does not "
         "print is shown as gone"),
    /* alignment (lib/orgdomain.c) */
    TEXT(public_suffix_list, "/usr/share/publicsuffix/public_suffix_list.dat", path_valid,
         "alignment",
         "The Public Suffix List (Debian package publicsuffix) that gives organizational domains "
         "for DKIM alignment; read again at each reload"),
    /* dmarc (options of lib/dmarc.c go here) */
    OPT(dmarc, CONFIG_BOOL, "yes", 0, 0, NULL, "dmarc",
        "Evaluate DMARC (RFC 7489) for inbound mail at end of message and act on the From "
        "domain's policy"),
    OPT(dmarc_reject_action, CONFIG_ENUM, "reject", 0, 0, DMARC_ACTION_CHOICES, "dmarc",
        "What mail failing DMARC of a p=reject domain gets: 550 5.7.1, the MTA's hold queue, "
        "accepted with an X-Ingress-DMARC header, or only the log"),
    OPT(dmarc_quarantine_action, CONFIG_ENUM, "header", 0, 0, DMARC_ACTION_CHOICES, "dmarc",
        "What mail failing DMARC of a p=quarantine domain gets (same choices)"),
    OPT(dmarc_temperror_action, CONFIG_ENUM, "tempfail", 0, 0, "tempfail|accept", "dmarc",
        "What a DMARC record lookup that failed for DNS reasons gets, unless an identifier equal "
        "to the From domain passed: 451 4.7.1, or accept (dns_failure = accept also accepts)"),
    LIST(dmarc_domain_actions, "", dmarc_domain_actions_valid, "dmarc",
         "From domains whose DMARC failures get another action, as domain:action with one of the "
         "four actions above (subdomains too), e.g. lists.example.org:header"),
    OPT(dmarc_greylist_bypass, CONFIG_BOOL, "no", 0, 0, NULL, "dmarc",
        "Let SPF pass and a DMARC pass of the From domain bypass greylisting, instead of SPF pass "
        "and a DKIM signature aligned with MAIL FROM or From (needs dmarc = yes)"),
    /* several hosts on one database */
    TEXT(
        host_name, "", host_name_valid, "hosts",
        "This milter's name in the decision log and the held table, which hosts sharing a database "
        "write to "
        "(empty: the system's host name)"),
    /* monitoring (milter/metrics_http.c) */
    TEXT(metrics_listen, "", metrics_listen_valid, "monitoring",
         "Address:port of the HTTP listener serving /metrics (Prometheus) and /health, e.g. "
         "127.0.0.1:9795 or [::1]:9795 (empty: none); a change takes effect at restart"),
    /* several hosts (ingressctl held release|reject of a message another host holds) */
    TEXT(held_remote_command, "", command_remote_template_valid, "fleet",
         "Commands that release or reject a message held on another host of the database, with "
         "{host} (its host_name), {queue_id} and {action} (release or reject) replaced, e.g. ssh "
         "to it (empty: ingressctl says which host to run it on)"),
    /* reviewing held mail (ingressctl held show; lib/command.c) */
    TEXT(held_show_command, "postcat -h -b -q {queue_id}", command_template_valid, "review",
         "Command that prints a held message's header and body for ingressctl held show (same "
         "syntax as held_release_command); for Sendmail's quarantine: cat "
         "/var/spool/mqueue/hf{queue_id} /var/spool/mqueue/df{queue_id}"),
    /* the support desk's console (milter/console.c: the separate process ingress-console) */
    TEXT(console_listen, "127.0.0.1:8896", console_listen_valid, "console",
         "Address:port ingress-console listens on, e.g. 127.0.0.1:8896 or [::1]:8896; keep it on "
         "loopback behind a reverse proxy that does TLS (README: Console)"),
    TEXT(console_public_listen, "", metrics_listen_valid, "console",
         "Address:port of ingress-console's page for remote senders (/why/REF), a listener of its "
         "own apart from the staff's; empty: none. E.g. 0.0.0.0:8897, or loopback behind a "
         "reverse proxy (README: The remote sender's page)"),
    TEXT(console_users_file, "/etc/milter-ingress/console-users", absolute_path_valid, "console",
         "File of the console's users, name:role:hash lines (ingressctl console-user edits it)"),
    OPT(console_session_lifetime, CONFIG_DURATION, "8h", MS_SECOND, 7 * MS_DAY, NULL, "console",
        "How long a console login lasts before the user must log in again"),
    TEXT(console_static_dir, "/usr/share/milter-ingress/console", absolute_path_valid, "console",
         "Directory of the console's web page (index.html, app.js, app.css), installed with it; "
         "an installation under another prefix sets its own path in the installed config"),
};

const size_t config_option_count = sizeof config_options / sizeof config_options[0];

static const struct config_option *option_find(const char *name)
{
    for (size_t i = 0; i < config_option_count; i++)
        if (strcmp(config_options[i].name, name) == 0)
            return &config_options[i];
    return NULL;
}

static void *field(struct config *cfg, const struct config_option *opt)
{
    return (char *)cfg + opt->offset;
}

static const void *field_const(const struct config *cfg, const struct config_option *opt)
{
    return (const char *)cfg + opt->offset;
}

static void list_clear(struct config_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* Splits on commas and white space into an empty list; empty words are dropped. */
static void list_parse(struct config_list *list, const char *text)
{
    const char *p = text;
    while (*p != '\0') {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ',' && !isspace((unsigned char)*p))
            p++;
        if (p > start) {
            list->items = xrealloc(list->items, (list->count + 1) * sizeof *list->items);
            list->items[list->count++] = xstrndup(start, (size_t)(p - start));
        }
    }
}

bool config_parse_duration(const char *text, int64_t *ms)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"ms", 1},     {"s", MS_SECOND}, {"m", MS_MINUTE}, {"h", MS_HOUR},
                 {"d", MS_DAY}, {"w", MS_WEEK},   {"", MS_SECOND}};
    char *end;

    if (!isdigit((unsigned char)text[0]))
        return false;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno != 0)
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (n > (unsigned long long)(INT64_MAX / units[i].ms))
            return false;
        *ms = (int64_t)n * units[i].ms;
        return true;
    }
    return false;
}

/* The shortest exact spelling: 300000 -> "5m". */
static void format_duration(int64_t ms, char *out, size_t outlen)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"w", MS_WEEK}, {"d", MS_DAY}, {"h", MS_HOUR}, {"m", MS_MINUTE}, {"s", MS_SECOND}};

    if (ms == 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            snprintf(out, outlen, "%" PRId64 "%s", ms / units[i].ms, units[i].suffix);
            return;
        }
    }
    snprintf(out, outlen, "%" PRId64 "ms", ms);
}

static bool parse_bool(const char *text, bool *out)
{
    static const char *yes[] = {"yes", "true", "on", "1"};
    static const char *no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (str_casecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (str_casecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Index of word in "a|b|c", or -1. */
static int enum_index(const char *choices, const char *word)
{
    int index = 0;
    size_t wlen = strlen(word);
    for (const char *p = choices;; index++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == wlen && strncmp(p, word, len) == 0)
            return index;
        if (bar == NULL)
            return -1;
        p = bar + 1;
    }
}

static void enum_word(const char *choices, int index, char *out, size_t outlen)
{
    const char *p = choices;
    for (int i = 0; i < index && p != NULL; i++) {
        p = strchr(p, '|');
        if (p != NULL)
            p++;
    }
    if (p == NULL) {
        snprintf(out, outlen, "?");
        return;
    }
    const char *bar = strchr(p, '|');
    int len = bar ? (int)(bar - p) : (int)strlen(p);
    snprintf(out, outlen, "%.*s", len, p);
}

static bool set_value(struct config *cfg, const struct config_option *opt, const char *value,
                      char *err, size_t errlen)
{
    void *f = field(cfg, opt);
    int64_t number;
    char *end;

    switch (opt->type) {
    case CONFIG_STRING:
        if (opt->check_text != NULL && !opt->check_text(value, err, errlen))
            return false;
        free(*(char **)f);
        *(char **)f = xstrdup(value);
        return true;
    case CONFIG_LIST: {
        struct config_list list = {0};
        list_parse(&list, value);
        if (opt->check_list != NULL && !opt->check_list(&list, err, errlen)) {
            list_clear(&list);
            return false;
        }
        list_clear(f);
        *(struct config_list *)f = list;
        return true;
    }
    case CONFIG_BOOL:
        if (parse_bool(value, f))
            return true;
        str_printf(err, errlen, "expected yes or no, not \"%s\"", value);
        return false;
    case CONFIG_ENUM: {
        int index = enum_index(opt->choices, value);
        if (index >= 0) {
            *(int *)f = index;
            return true;
        }
        str_printf(err, errlen, "expected one of %s, not \"%s\"", opt->choices, value);
        return false;
    }
    case CONFIG_INT:
        errno = 0;
        number = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0') {
            str_printf(err, errlen, "expected a whole number, not \"%s\"", value);
            return false;
        }
        if (number < opt->min || number > opt->max) {
            str_printf(err, errlen, "%" PRId64 " is out of range (%" PRId64 " to %" PRId64 ")",
                       number, opt->min, opt->max);
            return false;
        }
        *(long *)f = (long)number;
        return true;
    case CONFIG_DURATION: {
        char lo[32], hi[32];
        if (!config_parse_duration(value, &number)) {
            str_printf(err, errlen,
                       "expected a duration like 500ms, 30s, 5m, 48h or 35d, not \"%s\"", value);
            return false;
        }
        if (number < opt->min || number > opt->max) {
            format_duration(opt->min, lo, sizeof lo);
            format_duration(opt->max, hi, sizeof hi);
            str_printf(err, errlen, "%s is out of range (%s to %s)", value, lo, hi);
            return false;
        }
        *(int64_t *)f = number;
        return true;
    }
    }
    return false;
}

/* The option's current value as the admin would write it. */
static void format_value(const struct config *cfg, const struct config_option *opt, char *out,
                         size_t outlen)
{
    const void *f = field_const(cfg, opt);
    switch (opt->type) {
    case CONFIG_STRING:
        snprintf(out, outlen, "%s", *(char *const *)f ? *(char *const *)f : "");
        return;
    case CONFIG_LIST: {
        const struct config_list *list = f;
        size_t o = 0;
        out[0] = '\0';
        for (size_t i = 0; i < list->count && o < outlen; i++) {
            int n = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", list->items[i]);
            if (n < 0)
                break;
            o += (size_t)n;
        }
        return;
    }
    case CONFIG_BOOL:
        snprintf(out, outlen, "%s", *(const bool *)f ? "yes" : "no");
        return;
    case CONFIG_ENUM:
        enum_word(opt->choices, *(const int *)f, out, outlen);
        return;
    case CONFIG_INT:
        snprintf(out, outlen, "%ld", *(const long *)f);
        return;
    case CONFIG_DURATION:
        format_duration(*(const int64_t *)f, out, outlen);
        return;
    }
}

/* ---- checks of one value (the TEXT and LIST rows of the table) ---------------------------- */

static bool printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static bool socket_valid(const char *spec, char *why, size_t whylen)
{
    if (!printable(spec)) {
        str_printf(why, whylen, "must be printable ASCII");
        return false;
    }
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
        const char *path = strchr(spec, ':') + 1;
        if (path[0] != '/') {
            str_printf(why, whylen, "a unix socket needs an absolute path, not \"%s\"", path);
            return false;
        }
        if (strlen(path) >= 108) {
            str_printf(why, whylen, "unix socket path longer than 107 bytes");
            return false;
        }
        return true;
    }
    const char *rest = NULL;
    if (strncmp(spec, "inet:", 5) == 0)
        rest = spec + 5;
    else if (strncmp(spec, "inet6:", 6) == 0)
        rest = spec + 6;
    if (rest == NULL) {
        str_printf(why, whylen, "expected inet:PORT@HOST, inet6:PORT@HOST or unix:PATH, not \"%s\"",
                   spec);
        return false;
    }
    char *end;
    errno = 0;
    long port = strtol(rest, &end, 10);
    if (errno != 0 || end == rest || port < 1 || port > 65535 || (*end != '\0' && *end != '@')) {
        str_printf(why, whylen, "bad port in \"%s\" (1 to 65535)", spec);
        return false;
    }
    return true;
}

static bool dns_server_valid(const char *spec)
{
    char host[64];
    const char *port = NULL;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || (size_t)(close - spec - 1) >= sizeof host)
            return false;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return false;
    } else {
        const char *colon = strchr(spec, ':');
        bool v6 = colon != NULL && strchr(colon + 1, ':') != NULL;
        size_t len = (!v6 && colon) ? (size_t)(colon - spec) : strlen(spec);
        if (len >= sizeof host)
            return false;
        memcpy(host, spec, len);
        host[len] = '\0';
        if (!v6 && colon)
            port = colon + 1;
    }
    if (!cidr_is_address(host))
        return false;
    if (port != NULL) {
        char *end;
        long p = strtol(port, &end, 10);
        if (end == port || *end != '\0' || p < 1 || p > 65535)
            return false;
    }
    return true;
}

/* Empty, or ADDRESS:PORT with an IPv6 address in brackets: what config_split_listen() takes. */
static bool metrics_listen_valid(const char *spec, char *why, size_t whylen)
{
    char host[64];
    int port;

    if (spec[0] == '\0' || config_split_listen(spec, host, sizeof host, &port))
        return true;
    str_printf(why, whylen,
               "expected ADDRESS:PORT (an IP address, IPv6 in brackets, port 1 to 65535), not "
               "\"%s\"",
               spec);
    return false;
}

/* ADDRESS:PORT as metrics_listen, but never empty: the console has no use without a listener. */
static bool console_listen_valid(const char *spec, char *why, size_t whylen)
{
    if (spec[0] != '\0')
        return metrics_listen_valid(spec, why, whylen);
    str_copy(why, whylen, "expected ADDRESS:PORT, e.g. 127.0.0.1:8896 (the console needs one)");
    return false;
}

/* An absolute path (console_users_file, console_static_dir): the console and ingressctl may
 * start in different directories. */
static bool absolute_path_valid(const char *path, char *why, size_t whylen)
{
    if (path[0] == '/' && printable(path))
        return true;
    str_copy(why, whylen, "expected an absolute path");
    return false;
}

bool config_split_listen(const char *spec, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(spec, ':'), *start = spec, *end = colon;
    char *after;

    if (colon == NULL || !printable(spec))
        return false;
    if (spec[0] == '[') {
        start = spec + 1;
        if (colon == spec || colon[-1] != ']')
            return false;
        end = colon - 1;
    }
    if (end <= start || (size_t)(end - start) >= hostlen)
        return false;
    memcpy(host, start, (size_t)(end - start));
    host[end - start] = '\0';
    if (!cidr_is_address(host) || (spec[0] != '[' && strchr(host, ':') != NULL))
        return false;
    errno = 0;
    long p = strtol(colon + 1, &after, 10);
    if (errno != 0 || after == colon + 1 || *after != '\0' || p < 1 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

static bool socket_mode_valid(const char *mode, char *why, size_t whylen)
{
    size_t len = strlen(mode);
    if (len == 0 || len > 4 || strspn(mode, "01234567") != len || strtol(mode, NULL, 8) > 0777) {
        str_printf(why, whylen, "expected an octal mode from 0 to 0777 like 0660, not \"%s\"",
                   mode);
        return false;
    }
    return true;
}

/* Empty (no account), or a name getpwnam() and getgrnam() can know: the portable characters. */
static bool account_name_valid(const char *name, char *why, size_t whylen)
{
    static const char portable[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    size_t len = strlen(name), ok = strspn(name, portable);
    if (len <= ACCOUNT_NAME_MAX && name[0] != '-' &&
        (ok == len || (ok + 1 == len && name[ok] == '$')))
        return true;
    str_printf(why, whylen,
               "expected an account name (at most %d letters, digits, '.', '_' or '-', not "
               "starting with '-'), not \"%s\"",
               ACCOUNT_NAME_MAX, name);
    return false;
}

/* A file's path: not a directory's, printable, and short enough for the names put beside it. */
static bool path_valid(const char *path, char *why, size_t whylen)
{
    size_t len = strlen(path);
    if (len == 0 || path[len - 1] == '/') {
        str_printf(why, whylen, "must name a file, not \"%s\"", path);
        return false;
    }
    /* Room for the "-wal" and "-shm" names SQLite puts beside a database. */
    if (len > 4000 || !printable(path)) {
        str_printf(why, whylen, "must be a path of printable characters, at most 4000");
        return false;
    }
    return true;
}

static bool authserv_id_valid(const char *id, char *why, size_t whylen)
{
    if (strlen(id) > 255 || strpbrk(id, " \t;()\"\\") != NULL || !printable(id)) {
        str_printf(why, whylen,
                   "must be a host name without spaces or ';', at most 255 characters");
        return false;
    }
    return true;
}

void config_host_name(const struct config *cfg, char *out, size_t outlen)
{
    if (cfg->host_name[0] != '\0')
        str_copy(out, outlen, cfg->host_name);
    else if (gethostname(out, outlen - 1) != 0)
        str_copy(out, outlen, "localhost");
    else
        out[outlen - 1] = '\0';
}

/* A name of letters, digits, '.', '-' and '_': it is printed by ingressctl and compared as is. */
static bool host_name_valid(const char *name, char *why, size_t whylen)
{
    if (strlen(name) > 255 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789.-_") != strlen(name)) {
        str_printf(why, whylen, "must be letters, digits, '.', '-' and '_', at most 255");
        return false;
    }
    return true;
}

/* Printable ASCII of a reply line, and no placeholder but the two verdict_reply_text() fills. */
static bool help_text_valid(const char *text, char *why, size_t whylen)
{
    if (strlen(text) > HELP_TEXT_MAX || !printable(text)) {
        str_printf(why, whylen,
                   "must be printable ASCII, at most %d characters (it goes into an "
                   "SMTP reply line)",
                   HELP_TEXT_MAX);
        return false;
    }
    for (const char *p = strchr(text, '{'); p != NULL; p = strchr(p + 1, '{')) {
        if (strncmp(p, "{check}", 7) != 0 && strncmp(p, "{ref}", 5) != 0) {
            str_printf(why, whylen, "unknown placeholder at \"%.16s\" (only {check} and {ref})", p);
            return false;
        }
    }
    return true;
}

/* A local part alone or a whole address, as config_recipient_exempt() compares them. */
static bool recipients_valid(const struct config_list *list, char *why, size_t whylen)
{
    for (size_t i = 0; i < list->count; i++) {
        const char *item = list->items[i], *at = strchr(item, '@');
        bool ok = strlen(item) <= 254 && printable(item) && strpbrk(item, "<>\"") == NULL &&
                  (at == NULL || (at != item && at[1] != '\0' && strchr(at + 1, '@') == NULL));
        if (!ok) {
            str_printf(why, whylen,
                       "\"%s\" is not a local part or an address (postmaster, abuse@example.org)",
                       item);
            return false;
        }
    }
    return true;
}

static bool networks_valid(const struct config_list *list, char *why, size_t whylen)
{
    for (size_t i = 0; i < list->count; i++) {
        struct cidr net;
        if (!cidr_parse(list->items[i], &net)) {
            str_printf(why, whylen, "\"%s\" is not an address or network", list->items[i]);
            return false;
        }
    }
    return true;
}

static bool dns_servers_valid(const struct config_list *list, char *why, size_t whylen)
{
    for (size_t i = 0; i < list->count; i++) {
        if (!dns_server_valid(list->items[i])) {
            str_printf(why, whylen,
                       "\"%s\" is not an address (192.0.2.1, 192.0.2.1:5353, [2001:db8::1]:53)",
                       list->items[i]);
            return false;
        }
    }
    return true;
}

/* The words of dnsbl_zones and dnswl_zones parse as zones (the syntax is lib/dnsbl_zone.c's,
 * which the queries use too). */
static bool dnsbl_zones_check(const struct config_list *list, char *why, size_t whylen)
{
    return dnsbl_zones_valid(list->items, list->count, why, whylen);
}

/* dmarc_domain_actions: "domain:action" words, a domain name (no final dot) and one of the
 * actions of a DMARC failure. */
static bool dmarc_domain_actions_valid(const struct config_list *list, char *why, size_t whylen)
{
    char domain[DNS_NAME_MAX + 1];
    for (size_t i = 0; i < list->count; i++) {
        const char *item = list->items[i];
        const char *colon = strrchr(item, ':');
        size_t n = colon != NULL ? (size_t)(colon - item) : 0;
        bool ok = colon != NULL && n > 0 && n < sizeof domain;
        if (ok) {
            memcpy(domain, item, n);
            domain[n] = '\0';
            ok = dns_name_valid(domain) && domain[n - 1] != '.' &&
                 enum_index(DMARC_ACTION_CHOICES, colon + 1) >= 0;
        }
        if (!ok) {
            str_printf(why, whylen, "\"%s\" is not domain:%s", item, DMARC_ACTION_CHOICES);
            return false;
        }
    }
    return true;
}

/* ---- what one option cannot say alone ----------------------------------------------------- */

/*
 * Pairs of number options where the first must not exceed the second while the second is set
 * (above 0): the throttle's adaptive floor of a window never above the static limit of the same
 * window, or it would never apply.  Declared here, with the options, so that the config depends
 * on no module that uses it.  A name that is not a number option of the table aborts the first
 * check, so every test that loads a config would fail.
 */
static const struct {
    const char *low, *high;
} config_not_above[] = {
    {"throttle_floor_messages_per_minute", "throttle_messages_per_minute"},
    {"throttle_floor_recipients_per_minute", "throttle_recipients_per_minute"},
    {"throttle_floor_messages_per_hour", "throttle_messages_per_hour"},
    {"throttle_floor_recipients_per_hour", "throttle_recipients_per_hour"},
    {"throttle_floor_messages_per_day", "throttle_messages_per_day"},
    {"throttle_floor_recipients_per_day", "throttle_recipients_per_day"},
};

/* Pairs of options that must agree; on disagreement names gets the two and why the reason. */
static bool cross_check(const struct config *cfg, const char *names[2], char *why, size_t whylen)
{
    for (size_t i = 0; i < sizeof config_not_above / sizeof config_not_above[0]; i++) {
        const struct config_option *lo = option_find(config_not_above[i].low);
        const struct config_option *hi = option_find(config_not_above[i].high);
        if (lo == NULL || hi == NULL || lo->type != CONFIG_INT || hi->type != CONFIG_INT)
            abort(); /* the table above names options that do not exist: a bug, and its test */
        long low = *(const long *)field_const(cfg, lo), high = *(const long *)field_const(cfg, hi);
        if (high > 0 && low > high) {
            names[0] = lo->name;
            names[1] = hi->name;
            str_printf(why, whylen,
                       "%s (%ld) is above %s (%ld): the adaptive floor must not exceed the "
                       "static limit",
                       lo->name, low, hi->name, high);
            return false;
        }
    }
    return true;
}

bool config_validate(const struct config *cfg, char *err, size_t errlen)
{
    const char *names[2];
    return cross_check(cfg, names, err, errlen);
}

/*
 * cross_check() on a loaded file.  The error names the line of whichever of the two options was
 * set last in the file: that line made them disagree.
 */
static bool cross_check_file(const struct config *cfg, const char *path, const int *seen_at,
                             char *err, size_t errlen)
{
    const char *names[2];
    char why[512];
    if (cross_check(cfg, names, why, sizeof why))
        return true;
    const struct config_option *a = option_find(names[0]), *b = option_find(names[1]);
    const struct config_option *last =
        seen_at[b - config_options] > seen_at[a - config_options] ? b : a;
    int line = seen_at[last - config_options];
    if (line == 0) /* the defaults disagree: test_config proves they do not */
        str_printf(err, errlen, "%s: %s", path, why);
    else
        str_printf(err, errlen, "%s:%d: %s: %s", path, line, last->name, why);
    return false;
}

struct config *config_new_defaults(void)
{
    struct config *cfg = xcalloc(1, sizeof *cfg);
    for (size_t i = 0; i < config_option_count; i++) {
        char err[256];
        if (!set_value(cfg, &config_options[i], config_options[i].default_value, err, sizeof err))
            abort(); /* a broken default is a programming error, caught by test_config */
    }
    return cfg;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < config_option_count; i++) {
        void *f = field(cfg, &config_options[i]);
        if (config_options[i].type == CONFIG_STRING)
            free(*(char **)f);
        else if (config_options[i].type == CONFIG_LIST)
            list_clear(f);
    }
    free(cfg->source_path);
    free(cfg->source_lines);
    free(cfg);
}

bool config_get(const struct config *cfg, const char *key, char *out, size_t outlen)
{
    const struct config_option *opt = option_find(key);
    if (opt == NULL)
        return false;
    format_value(cfg, opt, out, outlen);
    return true;
}

bool config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    char why[256];
    const struct config_option *opt = option_find(key);
    if (opt == NULL) {
        str_printf(err, errlen, "%s: unknown option", key);
        return false;
    }
    if (!set_value(cfg, opt, value, why, sizeof why)) {
        str_printf(err, errlen, "%s: %s", key, why);
        return false;
    }
    if (cfg->source_lines != NULL)
        cfg->source_lines[opt - config_options] = 0;
    return true;
}

bool config_option_origin(const struct config *cfg, const char *name, char *out, size_t outlen)
{
    const struct config_option *opt = option_find(name);

    str_printf(out, outlen, "%s", "");
    if (opt == NULL || cfg->source_lines == NULL || cfg->source_lines[opt - config_options] == 0)
        return false;
    str_printf(out, outlen, "%s:%d", cfg->source_path, cfg->source_lines[opt - config_options]);
    return true;
}

/*
 * The value of a logical line, its comment removed.  A quoted value ends at its last '"' that
 * only blanks or a comment follow, so that any text written between quotes reads back as it
 * was (a comment after a quoted value must not hold a '"'); NULL when the value opens a quote it
 * does not close.  An unquoted value has had its comments removed line by line already
 * (comment_cut).
 */
static char *unquote(char *value)
{
    if (value[0] != '"')
        return value;
    for (char *q = value + strlen(value) - 1; q > value; q--) {
        if (*q != '"')
            continue;
        const char *rest = q + 1;
        rest += strspn(rest, " \t");
        if (*rest == '\0' || (*rest == '#' && rest > q + 1)) {
            *q = '\0';
            return value + 1;
        }
    }
    return NULL;
}

/* Cuts text at a '#' that starts it or follows a blank: "value  # a comment" keeps "value". */
static void comment_cut(char *text)
{
    for (char *p = text; *p != '\0'; p++) {
        if (*p == '#' && (p == text || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    str_trim(text);
}

static bool parse_line(struct config *cfg, char *line, const char *path, int lineno, int *seen_at,
                       char *err, size_t errlen)
{
    char why[512];
    char *eq = strchr(line, '=');
    if (eq == NULL) {
        str_printf(err, errlen, "%s:%d: malformed line, expected \"key = value\"", path, lineno);
        return false;
    }
    *eq = '\0';
    char *key = str_trim(line);
    const struct config_option *opt = option_find(key);
    if (opt == NULL) {
        char shown[80];
        str_printf(err, errlen, "%s:%d: %s: unknown option", path, lineno,
                   str_escape(shown, sizeof shown, key));
        return false;
    }
    size_t index = (size_t)(opt - config_options);
    if (seen_at[index] != 0) {
        str_printf(err, errlen, "%s:%d: %s: set twice (first on line %d)", path, lineno, key,
                   seen_at[index]);
        return false;
    }
    seen_at[index] = lineno;
    char *value = unquote(str_trim(eq + 1));
    if (value == NULL) {
        str_printf(err, errlen, "%s:%d: %s: the value opens a quote (\") it does not close", path,
                   lineno, key);
        return false;
    }
    if (!set_value(cfg, opt, value, why, sizeof why)) {
        str_printf(err, errlen, "%s:%d: %s: %s", path, lineno, key, why);
        return false;
    }
    return true;
}

/*
 * Reads one line, without its '\n', into buf (size > 1); *len counts the bytes read, NUL bytes
 * included, which fgets() and strlen() would hide.  A line longer than size - 1 bytes shows as
 * *len == size - 1, and the rest of it is read and dropped, so that the next call starts on the
 * next line.  False at end of file.
 */
static bool read_line(FILE *fp, char *buf, size_t size, size_t *len)
{
    size_t n = 0;
    int c = EOF;
    while (n + 1 < size && (c = getc(fp)) != EOF && c != '\n')
        buf[n++] = (char)c;
    buf[n] = '\0';
    *len = n;
    if (n + 1 == size)
        while ((c = getc(fp)) != EOF && c != '\n')
            ;
    return n > 0 || c == '\n';
}

/*
 * Lines continue as in Postfix's main.cf: a line that starts with a blank continues the logical
 * line before it (joined with one space), blank lines and lines whose first non-blank is '#' are
 * skipped (they do not end a logical line).  One thing main.cf does not have: a '#' after a blank
 * starts a comment, so that a value can carry its note ("greylist_delay = 5m  # ...").
 * Errors do not stop the reading: each is reported, so that -t shows them all.
 */
struct reader {
    struct config *cfg;
    const char *path;
    int *seen_at;
    char logical[CONFIG_LINE_MAX + 1];
    int logical_line; /* 0: none pending */
    bool quoted;      /* the pending value starts with '"': comments are cut when it ends */
    bool broken;      /* the pending logical line is already reported: skip it */
    size_t errors;
    void (*report)(const char *error, void *arg);
    void *arg;
};

static void reader_error(struct reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reader_error(struct reader *r, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    r->errors++;
    r->report(text, r->arg);
}

static void reader_flush(struct reader *r)
{
    char err[1024];

    if (r->logical_line != 0 && !r->broken &&
        !parse_line(r->cfg, r->logical, r->path, r->logical_line, r->seen_at, err, sizeof err))
        reader_error(r, "%s", err);
    r->logical_line = 0;
    r->broken = false;
}

/* One physical line, its CR and NUL already checked. */
static void reader_line(struct reader *r, char *line, int lineno)
{
    bool continues = line[0] == ' ' || line[0] == '\t';
    char *text = str_trim(line);

    if (text[0] == '\0' || text[0] == '#')
        return;
    if (continues) {
        if (r->logical_line == 0) {
            reader_error(r,
                         "%s:%d: a line that starts with a blank continues the line before it, "
                         "and there is none",
                         r->path, lineno);
            return;
        }
        if (!r->quoted)
            comment_cut(text);
        size_t have = strlen(r->logical), add = strlen(text);
        if (r->broken || add == 0)
            return;
        if (have + 1 + add > CONFIG_LINE_MAX) {
            reader_error(r, "%s:%d: logical line (continued from line %d) longer than %d bytes",
                         r->path, lineno, r->logical_line, CONFIG_LINE_MAX);
            r->broken = true;
            return;
        }
        r->logical[have] = ' ';
        memcpy(r->logical + have + 1, text, add + 1);
        return;
    }
    reader_flush(r);
    const char *eq = strchr(text, '=');
    r->quoted = eq != NULL && eq[1 + strspn(eq + 1, " \t")] == '"';
    if (!r->quoted)
        comment_cut(text);
    str_copy(r->logical, sizeof r->logical, text);
    r->logical_line = lineno;
}

struct config *config_load_report(const char *path, void (*report)(const char *error, void *arg),
                                  void *arg)
{
    char line[CONFIG_LINE_MAX + 2];
    int seen_at[sizeof config_options / sizeof config_options[0]] = {0};
    int lineno = 0;

    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        char why[128], text[512];
        /* _GNU_SOURCE: the GNU strerror_r, which returns the message (not always in why). */
        snprintf(text, sizeof text, "%s: cannot open: %s", path,
                 strerror_r(errno, why, sizeof why));
        report(text, arg);
        return NULL;
    }
    struct reader *r = xcalloc(1, sizeof *r);
    *r = (struct reader){.cfg = config_new_defaults(),
                         .path = path,
                         .seen_at = seen_at,
                         .report = report,
                         .arg = arg};
    size_t len;
    while (read_line(fp, line, sizeof line, &len)) {
        lineno++;
        if (len > CONFIG_LINE_MAX) {
            reader_error(r, "%s:%d: line longer than %d bytes", path, lineno, CONFIG_LINE_MAX);
            /* A continuation spoils its logical line; any other line ends the one before. */
            if (line[0] == ' ' || line[0] == '\t')
                r->broken = r->logical_line != 0;
            else
                reader_flush(r);
            continue;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (memchr(line, '\0', len) != NULL) {
            reader_error(r, "%s:%d: NUL byte in line", path, lineno);
            continue;
        }
        reader_line(r, line, lineno);
    }
    reader_flush(r);
    if (ferror(fp))
        reader_error(r, "%s: read error", path);
    fclose(fp);
    char err[1024];
    if (r->errors == 0 && !cross_check_file(r->cfg, path, seen_at, err, sizeof err))
        reader_error(r, "%s", err);
    struct config *cfg = r->cfg;
    size_t errors = r->errors;
    free(r);
    if (errors > 0) {
        config_free(cfg);
        return NULL;
    }
    cfg->source_path = xstrdup(path);
    cfg->source_lines = xmalloc(sizeof seen_at);
    memcpy(cfg->source_lines, seen_at, sizeof seen_at);
    return cfg;
}

struct first_error {
    char *err;
    size_t errlen;
    bool set;
};

static void keep_first(const char *error, void *arg)
{
    struct first_error *first = arg;
    if (!first->set)
        str_printf(first->err, first->errlen, "%s", error);
    first->set = true;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    struct first_error first = {err, errlen, false};
    return config_load_report(path, keep_first, &first);
}

/*
 * True when a text value must be written in quotes to read back the same: config_load() trims
 * spaces and tabs, drops one '\r' at the end of a line, and takes a '"' that opens the value for
 * the start of a quoted one.
 */
static bool needs_quotes(const char *value)
{
    size_t len = strlen(value);
    if (len == 0)
        return false;
    return strchr(" \t\r\"#", value[0]) != NULL || strchr(" \t\r", value[len - 1]) != NULL ||
           strstr(value, " #") != NULL || strstr(value, "\t#") != NULL;
}

/*
 * Every line is one config_load() reads back as the same value (tests/fuzz/fuzz_config.c): no
 * value is cut short, and text that trimming would change is quoted.  The buffers hold a whole
 * line's value and a list rejoined with ", " (at most 1.5 times its line).
 */
static void write_setting(FILE *out, const struct config_option *opt, const char *value)
{
    /* Any type: a list's words may hold a '#' that would start a comment. */
    if (needs_quotes(value))
        fprintf(out, "%s = \"%s\"\n", opt->name, value);
    else
        fprintf(out, "%s = %s\n", opt->name, value);
}

void config_print_nondefault(const struct config *cfg, FILE *out, config_shown_fn *shown)
{
    struct config *defaults = config_new_defaults();
    char *now = xmalloc(2 * CONFIG_LINE_MAX), *def = xmalloc(2 * CONFIG_LINE_MAX);
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *opt = &config_options[i];
        format_value(cfg, opt, now, 2 * CONFIG_LINE_MAX);
        format_value(defaults, opt, def, 2 * CONFIG_LINE_MAX);
        if (strcmp(now, def) == 0)
            continue;
        if (strcmp(opt->name, "database") == 0) /* a PostgreSQL password is never printed */
            shown(cfg->database, now, 2 * CONFIG_LINE_MAX);
        write_setting(out, opt, now);
    }
    free(now);
    free(def);
    config_free(defaults);
}

/* The option's type as the reference shows it, with its bounds: "number, 1 to 5". */
static void type_name(const struct config_option *opt, char *out, size_t outlen)
{
    char lo[32], hi[32];
    switch (opt->type) {
    case CONFIG_STRING:
        str_printf(out, outlen, "text");
        return;
    case CONFIG_INT:
        str_printf(out, outlen, "number, %" PRId64 " to %" PRId64, opt->min, opt->max);
        return;
    case CONFIG_DURATION:
        format_duration(opt->min, lo, sizeof lo);
        format_duration(opt->max, hi, sizeof hi);
        str_printf(out, outlen, "duration, %s to %s", lo, hi);
        return;
    case CONFIG_BOOL:
        str_printf(out, outlen, "yes|no");
        return;
    case CONFIG_LIST:
        str_printf(out, outlen, "list");
        return;
    case CONFIG_ENUM:
        str_printf(out, outlen, "%s", opt->choices);
        return;
    }
}

void config_write_reference(FILE *out)
{
    config_write_reference_with(out, NULL);
}

/*
 * The header speaks to the admin: the same text is the source tree's contrib/milter-ingress.conf
 * and the installed /etc/milter-ingress/milter-ingress.conf, which the admin owns (the package
 * marks it a conffile; `cmake --install` never replaces an existing one).
 */
void config_write_reference_with(FILE *out, const struct config *cfg)
{
    const char *section = "";
    struct config *defaults = config_new_defaults();
    char *now = xmalloc(2 * CONFIG_LINE_MAX), *def = xmalloc(2 * CONFIG_LINE_MAX);
    fputs("# milter-ingress configuration; see milter-ingress.conf(5).\n"
          "# This file is yours to edit: an upgrade never overwrites it.  Every option is listed\n"
          "# with what it does and its default; an option whose line stays commented out keeps\n"
          "# its default.  `milter-ingress -t` checks the file, `milter-ingress -n` prints what\n"
          "# differs from the defaults, SIGHUP (systemctl reload milter-ingress) applies it, and\n"
          "# `milter-ingress -C` prints this list anew for the version installed.\n"
          "# Syntax: \"key = value\"; as in Postfix's main.cf, a line that starts with a blank\n"
          "# continues the one before it; '#' at the start of a line or, unlike main.cf, after a\n"
          "# blank starts a comment.\n"
          "# Durations: 500ms, 30s, 5m, 48h, 35d, 2w (a bare number is seconds).\n"
          "# Lists: words separated by commas or spaces.\n",
          out);
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *opt = &config_options[i];
        if (strcmp(section, opt->section) != 0) {
            section = opt->section;
            fprintf(out, "\n# ---- %s ----\n", section);
        }
        char type[128];
        type_name(opt, type, sizeof type);
        format_value(defaults, opt, def, 2 * CONFIG_LINE_MAX);
        format_value(cfg ? cfg : defaults, opt, now, 2 * CONFIG_LINE_MAX);
        if (strcmp(now, def) == 0) {
            fprintf(out, "\n# %s (%s)\n#%s = %s\n", opt->doc, type, opt->name, opt->default_value);
            continue;
        }
        fprintf(out, "\n# %s (%s; default: %s)\n", opt->doc, type,
                opt->default_value[0] ? opt->default_value : "empty");
        write_setting(out, opt, now);
    }
    free(now);
    free(def);
    config_free(defaults);
}

/* Writes s as part of a Markdown table cell: GitHub splits cells at every '|' not written "\\|",
 * even inside a code span, so an enum's "a|b|c" would spill into the next columns. */
static void markdown_cell(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void config_write_markdown(FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *opt = &config_options[i];
        if (strcmp(section, opt->section) != 0) {
            section = opt->section;
            fprintf(out, "%s| %s option | type | default | what it does |\n|---|---|---|---|\n",
                    i ? "\n" : "", section);
        }
        char type[128];
        type_name(opt, type, sizeof type);
        fprintf(out, "| `%s` | ", opt->name);
        markdown_cell(out, type);
        fputs(" | `", out);
        markdown_cell(out, opt->default_value[0] ? opt->default_value : "(empty)");
        fputs("` | ", out);
        markdown_cell(out, opt->doc);
        fputs(" |\n", out);
    }
}

/* Writes s as roff text (man(7)): a backslash is \e, a '-' is \- (a minus, as in an option or a
 * path, that the formatter must not turn into a hyphen), and a line never starts with a control
 * character. */
static void man_text(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

void config_write_man(FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *opt = &config_options[i];
        if (strcmp(section, opt->section) != 0) {
            section = opt->section;
            fputs(".SS \"", out);
            man_text(out, section);
            fputs("\"\n", out);
        }
        char type[128];
        type_name(opt, type, sizeof type);
        fputs(".TP\n\\fB", out);
        man_text(out, opt->name);
        fputs("\\fR = \\fI", out);
        man_text(out, opt->default_value[0] ? opt->default_value : "(empty)");
        fputs("\\fR (", out);
        man_text(out, type);
        fputs(")\n", out);
        man_text(out, opt->doc);
        fputs("\n", out);
    }
}

bool config_recipient_exempt(const struct config *cfg, const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t local_len = at ? (size_t)(at - addr) : strlen(addr);
    for (size_t i = 0; i < cfg->exempt_recipients.count; i++) {
        const char *item = cfg->exempt_recipients.items[i];
        if (strchr(item, '@') != NULL) {
            if (str_casecmp(item, addr) == 0)
                return true;
        } else if (strlen(item) == local_len && strncasecmp(item, addr, local_len) == 0) {
            return true;
        }
    }
    return false;
}
