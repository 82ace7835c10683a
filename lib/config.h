/*
 * config: every option milter-ingress knows, declared once in one table, so that no two places
 * can disagree about a default or a bound.
 *
 * Parsing, validation, `milter-ingress -n`, contrib/milter-ingress.conf and the README's option
 * reference all come from config_options[]; tests/unit/test_config.c walks the table against the
 * README and the contrib file.
 *
 * A struct config is immutable once loaded: a reload builds a new one aside and swaps it in
 * (ARCHITECTURE.md "Reload"), so readers never lock.
 */
#ifndef INGRESS_CONFIG_H
#define INGRESS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type {
    CONFIG_STRING,
    CONFIG_INT,
    CONFIG_DURATION, /* "500ms", "30s", "5m", "48h", "35d", "2w"; a bare number is seconds */
    CONFIG_BOOL,     /* yes/no, true/false, on/off, 1/0 */
    CONFIG_LIST,     /* comma- or space-separated words */
    CONFIG_ENUM,     /* one of the words in choices, "a|b|c" */
};

/* A list value: count words, each NUL-terminated; owned by the struct config. */
struct config_list {
    size_t count;
    char **items;
};

enum iprev_helo_mode { IPREV_HELO_STRICT, IPREV_HELO_RESOLVE, IPREV_HELO_OFF };
enum check_action { ACTION_REJECT, ACTION_TEMPFAIL, ACTION_LOG };
enum dns_failure_mode { DNS_FAILURE_TEMPFAIL, DNS_FAILURE_ACCEPT };

struct config {
    /* milter */
    char *socket;
    char *socket_mode;
    char *user;
    char *group;
    bool allow_root;
    int log_facility; /* index in the option's choices: config_get() gives the word */
    bool fail_open;
    /* storage */
    char *database;
    int64_t store_busy_timeout; /* durations are in milliseconds */
    int64_t decision_retention;
    int64_t changes_retention;
    /* replies and headers */
    char *authserv_id;
    char *help_text;
    struct config_list exempt_recipients;
    struct config_list trusted_networks;
    /* DNS */
    struct config_list dns_servers;
    int64_t dns_timeout;
    long dns_tries;
    long dns_cache_size;
    int64_t dns_cache_max_ttl;
    enum dns_failure_mode dns_failure;
    /* iprev */
    enum iprev_helo_mode iprev_helo;
    enum check_action iprev_action;
    /* spf (fields of lib/spf.c's options go here) */
    enum check_action spf_fail_action;
    enum check_action spf_permerror_action;
    enum dns_failure_mode spf_temperror_action;
    /* Declared here, at its only field, so the spf options stay in one place. */
    enum spf_helo_mode { SPF_HELO_REJECT, SPF_HELO_LOG, SPF_HELO_OFF } spf_helo_action;
    /* dkim (fields of lib/dkim.c's options go here) */
    long dkim_min_key_bits;
    long dkim_max_signatures;
    /* greylisting (fields of lib/greylist.c's options go here) */
    bool greylist;
    int64_t greylist_delay;
    int64_t greylist_retry_window;
    int64_t greylist_max_age;
    long autoallow_after;
    long greylist_ipv4_prefix;
    long greylist_ipv6_prefix;
    long greylist_expire_batch;
    /* lists (fields of lib/lists.c's options go here) */
    struct config_list dnsbl_zones;
    struct config_list dnswl_zones;
    bool rcpt_rules_override_blocks;
    int64_t lists_reload_interval;
    /* sender (fields of lib/sender.c's options go here) */
    enum sender_check_mode { SENDER_CHECK_REJECT, SENDER_CHECK_LOG, SENDER_CHECK_OFF } sender_check;
    bool sender_case_sensitive;
    /* submission throttle (fields of lib/throttle.c's options go here) */
    bool throttle;
    enum throttle_action_mode {
        THROTTLE_ACTION_HOLD,
        THROTTLE_ACTION_TEMPFAIL,
        THROTTLE_ACTION_REJECT
    } throttle_action;
    long throttle_factor;
    int64_t throttle_history;
    long throttle_messages_per_minute; /* static limits; 0: none */
    long throttle_recipients_per_minute;
    long throttle_messages_per_hour;
    long throttle_recipients_per_hour;
    long throttle_messages_per_day;
    long throttle_recipients_per_day;
    long throttle_floor_messages_per_minute; /* floors of the adaptive limits */
    long throttle_floor_recipients_per_minute;
    long throttle_floor_messages_per_hour;
    long throttle_floor_recipients_per_hour;
    long throttle_floor_messages_per_day;
    long throttle_floor_recipients_per_day;
    /* held */
    char *held_release_command;
    char *held_reject_command;
    char *held_queue_command;
    /* alignment (lib/orgdomain.c) */
    char *public_suffix_list;
    /* dmarc (fields of lib/dmarc.c's options go here) */
    bool dmarc;
    enum dmarc_action_mode {
        DMARC_ACTION_REJECT,
        DMARC_ACTION_HOLD,
        DMARC_ACTION_HEADER,
        DMARC_ACTION_LOG
    } dmarc_reject_action,
        dmarc_quarantine_action;
    enum dns_failure_mode dmarc_temperror_action;
    struct config_list dmarc_domain_actions;
    bool dmarc_greylist_bypass;
    /* several hosts on one database */
    char *host_name;
    /* monitoring (milter/metrics_http.c) */
    char *metrics_listen;
    /* several hosts: the release or reject of a message another host holds */
    char *held_remote_command;
    /* held (ingressctl held show) */
    char *held_show_command;
    /* the console (milter/console.c) */
    char *console_listen;
    char *console_public_listen; /* "": no public listener */
    char *console_users_file;
    int64_t console_session_lifetime; /* ms */
    char *console_static_dir;
    /* Where the values came from, for errors found after loading (config_option_origin). */
    char *source_path; /* the file config_load() read; NULL for the defaults */
    int *source_lines; /* per config_options[] row: its line in source_path, 0 when not set there */
};

/* The option host_name in force: its value, or the system's host name when it is empty (out: at
 * least 256 bytes). */
void config_host_name(const struct config *cfg, char *out, size_t outlen);

struct config_option {
    const char *name;
    enum config_type type;
    const char *default_value; /* as the admin would write it */
    int64_t min, max;          /* bounds for INT (as is) and DURATION (milliseconds) */
    const char *choices;       /* ENUM only: "a|b|c" */
    const char *doc;           /* one line */
    const char *section;       /* heading in the generated file and the README */
    size_t offset;             /* offsetof(struct config, field) */
    /*
     * What a STRING or LIST value must be, checked as it is set, so that an error names the line
     * (or the -o) that set it: false with the reason in why.  The other types are bounded by
     * their type (min, max, choices).
     */
    bool (*check_text)(const char *value, char *why, size_t whylen);
    bool (*check_list)(const struct config_list *value, char *why, size_t whylen);
};

extern const struct config_option config_options[];
extern const size_t config_option_count;

/* The defaults alone; never fails (a test proves every default parses). */
struct config *config_new_defaults(void);

/*
 * Reads path over the defaults.  On error returns NULL and writes "FILE:LINE: key: problem" to
 * err (for two options that disagree, the line of the one set last); the caller exits with
 * status 2 at start-up or keeps the old config on reload.
 */
struct config *config_load(const char *path, char *err, size_t errlen);

/*
 * The same, reporting every error of the file (report gets "FILE:LINE: key: problem", once per
 * error, in the order of the lines) instead of the first one only: `milter-ingress -t`.  The
 * continuation is main.cf's: a line that starts with a blank continues the one before it; a '#'
 * at the start of a line starts a comment, and, unlike in main.cf, so does a '#' after a blank
 * (after a quoted value's closing quote too).  NULL when there was any error.
 */
struct config *config_load_report(const char *path, void (*report)(const char *error, void *arg),
                                  void *arg);

/*
 * Parses one "key = value" override (the -o option) into cfg; false with "key: problem" in err
 * on a bad one, and the option keeps its value.  The value is taken as it is (no quotes removed).
 */
bool config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Room for any value config_get() writes (a list rejoined with ", " from a line of at most 4096
 * bytes). */
#define CONFIG_VALUE_SHOWN_MAX 8192

/* The value of option key as the admin would write it ("5m", "yes", "local0"); false when unknown.
 */
bool config_get(const struct config *cfg, const char *key, char *out, size_t outlen);

/* Checks what one option cannot say alone (a throttle floor above its static limit); false
 * with err naming both options. */
bool config_validate(const struct config *cfg, char *err, size_t errlen);

void config_free(struct config *cfg);

/*
 * Writes "FILE:LINE" of the line that set option name into out, for an error found after loading
 * (a file the option names cannot be read, say); false with out "" when the value is the default
 * or was set by config_set() (-o).
 */
bool config_option_origin(const struct config *cfg, const char *name, char *out, size_t outlen);

/* Writes what may be shown of a value into out (store_database_shown: the database without a
 * PostgreSQL password). */
typedef void config_shown_fn(const char *value, char *out, size_t outlen);
/* Writes "name = value" for every option whose value differs from its default (-n), database as
 * shown() writes it: the store knows where a password is, the config does not. */
void config_print_nondefault(const struct config *cfg, FILE *out, config_shown_fn *shown);

/* Writes contrib/milter-ingress.conf: every option with its doc and default, commented out. */
void config_write_reference(FILE *out);
/* The same, with the options whose value in cfg differs from the default written set (`-C -o
 * key=value`: a packager's installed file); cfg NULL is config_write_reference(). */
void config_write_reference_with(FILE *out, const struct config *cfg);

/* Writes the README's option table (Markdown), from the same table. */
void config_write_markdown(FILE *out);

/* Writes the option list of milter-ingress.conf(5) (roff), from the same table. */
void config_write_man(FILE *out);

/* metrics_listen's "ADDRESS:PORT" or "[IPV6]:PORT": the address (without brackets) into host and
 * the port; false when spec is not one. */
bool config_split_listen(const char *spec, char *host, size_t hostlen, int *port);
/* Parses a duration ("5m"); false when malformed.  Exposed for tests and other modules. */
bool config_parse_duration(const char *text, int64_t *ms);

/* True when addr (local@domain, no brackets) matches exempt_recipients. */
bool config_recipient_exempt(const struct config *cfg, const char *addr);

#endif
