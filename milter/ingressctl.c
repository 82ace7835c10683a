/*
 * ingressctl: the postmaster's tool.  It reads the milter's own config to find the database and
 * answers from the store; nothing here decides policy.
 *
 *   ingressctl [-c FILE] [-d DATABASE] VERB [ARGUMENT...]
 *
 * This file is main and the one table of verbs (name, argument counts, usage line, function), so
 * a new verb is a function in the file of its family (ctl_verbs.h) and a row here; the usage text
 * is built from the same table.  What the verbs share is in ctl.c, their JSON in ctl_json.c.
 *
 * Exit status: 0 done (for `why`: something was found), 1 nothing found (for `store copy`: a
 * target that has rows), 2 usage error, bad config, or a database that cannot be opened or read.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "ctl_verbs.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* The build sets it to SYSCONFDIR/milter-ingress/milter-ingress.conf (CMakeLists.txt). */
#ifndef INGRESS_DEFAULT_CONFIG
#define INGRESS_DEFAULT_CONFIG "/etc/milter-ingress/milter-ingress.conf"
#endif
#define CTL_DEFAULT_CONFIG INGRESS_DEFAULT_CONFIG
/* How far the second and later lines of a verb's doc are indented in the table below. */
#define CTL_DOC_INDENT 13

struct ctl_verb {
    const char *name;
    int min_args, max_args;
    const char *usage; /* arguments, as in the usage text */
    const char *doc;   /* what it does, one line */
    int (*run)(struct ctl *ctl, int argc, char **argv);
    bool dry_run;       /* the store opened for a dry run: it reads, never writes */
    bool own_databases; /* opens the databases its arguments name: no configured one */
};

static const struct ctl_verb ctl_verbs[] = {
    {"why", 1, 8, "why KEY ...",
     "what was decided about KEY, newest first, in plain words\n"
     "                 (KEY: a queue id, reply reference in any case, IP, address: envelope,\n"
     "                 account or a refused header From, or domain: @example.org)\n"
     "                 [--since WHEN] [--until WHEN] [--limit N] [--json]\n"
     "                 (WHEN: 30m, 7d, or a UTC date 2026-12-01 or 2026-12-01T08:00)",
     ctl_verb_why, false, false},
    {"check", 2, 2 * 105 + 1, "check --ip IP ...",
     "what the milter would answer a client now, check by check (a dry run of\n"
     "                 the live policy: nothing recorded, counted or greylisted)\n"
     "                 [--helo NAME] [--from ADDR] [--rcpt ADDR]... [--auth ACCOUNT]\n"
     "                 [--message FILE] [--json]   (--from '<>': the null sender;\n"
     "                 exit 0 accepted, 1 refused or deferred)",
     ctl_verb_check, true, false},
    {"stats", 0, 3, "stats [--since DURATION] [--json]",
     "decisions by check and action from the decision log\n"
     "                 (the counts of /metrics' decisions_total, for a site without Prometheus,\n"
     "                 over the last DURATION: 30m, 12h, 7d; or everything the log keeps)",
     ctl_verb_stats, false, false},
    {"list", 1, 10, "list ...",
     "the block, allow and greylist_exempt lists:\n"
     "               (KIND: cidr, ptr_domain, helo_domain, sender_domain, sender, ptr_regex,\n"
     "                helo_regex, recipient)\n"
     "               list add KIND VALUE block|allow|greylist_exempt [--reason TEXT]\n"
     "                        [--public TEXT] [--expires DURATION]\n"
     "               list del KIND VALUE [--reason TEXT]\n"
     "               list show [KIND] [--json]\n"
     "               list import [--format native|postgrey] FILE   (all or nothing)",
     ctl_verb_list, false, false},
    {"unblock", 3, 4, "unblock IP --reason TEXT [--json]",
     "lets a client address through again: deletes the cidr block entries of\n"
     "                 exactly IP, adds a cidr allow entry of IP alone when a wider block or a\n"
     "                 DNSBL refusal stands; names ptr/helo entries (not IP-based) it leaves\n"
     "                 (exit 1: nothing blocked it; recorded: why IP shows who and why)",
     ctl_verb_unblock, false, false},
    {"rule", 1, 5, "rule ...",
     "recipients' own rules (SENDER: an address or @domain):\n"
     "               rule add RCPT SENDER accept|reject\n"
     "               rule del RCPT SENDER\n"
     "               rule list [RCPT] [--json]",
     ctl_verb_rule, false, false},
    {"alias", 1, 4, "alias ...",
     "what a submission account owns besides its login (ADDRESS: an address or @domain):\n"
     "               alias add ACCOUNT ADDRESS\n"
     "               alias del ACCOUNT ADDRESS\n"
     "               alias list [ACCOUNT] [--json]",
     ctl_verb_alias, false, false},
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
     ctl_verb_account, false, false},
    {"held", 1, CTL_POS_MAX + 6, "held ...",
     "messages held for review (throttled submission; MTA commands: held_*_command):\n"
     "               held list [--account A] [--all] [--limit N] [--json]\n"
     "               held show QUEUEID [--json]\n"
     "               held release QUEUEID...|--account A [--reason TEXT] [--by NAME]\n"
     "               held reject QUEUEID...|--account A --reason TEXT [--by NAME]",
     ctl_verb_held, false, false},
    {"dmarc", 1, 13, "dmarc ...",
     "DMARC aggregate reports (RFC 7489 Appendix C XML on stdout, to send yourself):\n"
     "               dmarc report --since DATE [--until DATE] --domain DOMAIN\n"
     "                 [--org-name NAME] [--email ADDRESS] [--report-id ID]\n"
     "                 (DATE: YYYY-MM-DD, UTC, whole days; --until: today by default)",
     ctl_verb_dmarc, false, false},
    {"store", 3, 4, "store ...",
     "a database copied whole into another (an SQLite file into PostgreSQL, and back):\n"
     "               store copy FROM TO [--replace]   (FROM, TO: paths or PostgreSQL URIs;\n"
     "                 TO must have no rows, or --replace deletes them first)",
     ctl_verb_store, false, true},
    {"review", 1, 6, "review ...",
     "review requests remote senders made on the console's public page (/why/REF):\n"
     "               review list [--all] [--json]   (open ones; --all: closed ones too)\n"
     "               review close ID --reason TEXT [--by NAME]",
     ctl_verb_review, false, false},
    {"explain", 1, 7, "explain ...",
     "the site's explanation per check on the public page (built in until set):\n"
     "               explain list [--json]\n"
     "               explain set CHECK TEXT [--reason WHY] [--by NAME]   (TEXT: one line)\n"
     "               explain unset CHECK [--reason WHY]   (the built-in text again)",
     ctl_verb_explain, false, false},
    {"console-user", 1, 6, "console-user ...",
     "the users of ingress-console (console_users_file; the password: one line on stdin):\n"
     "               console-user add NAME [--role postmaster|support]   (support by default)\n"
     "               console-user add NAME --role webmail [--domains D,...]\n"
     "                 (a webmail integration's key: made and printed once, or one line on\n"
     "                 stdin; --domains: the mail domains whose mailboxes it may name)\n"
     "               console-user del NAME\n"
     "               console-user list",
     ctl_verb_console_user, false, true},
};

/* ------------------------------------------------------------------------------------------ */
/* Usage                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* ingressctl --help: the options, then every verb with its forms (tests/install/man.sh reads this
 * list and checks that the man page has an entry for each). */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: ingressctl [-c FILE] [-d DATABASE] VERB [ARGUMENT...]\n"
            "       ingressctl VERB --help\n"
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
 * ingressctl VERB --help: that verb's row of the table alone, its lines moved to the left margin
 * (the table's doc is indented to sit beside the verb in the overall help).
 */
static void verb_usage(FILE *out, const struct ctl_verb *verb)
{
    const char *doc = verb->doc;

    fprintf(out, "usage: ingressctl [-c FILE] [-d DATABASE] %s\n\n", verb->usage);
    while (*doc != '\0') {
        size_t len = strcspn(doc, "\n");
        fprintf(out, "%.*s\n", (int)len, doc);
        doc += len + (doc[len] == '\n');
        for (int skip = 0; skip < CTL_DOC_INDENT && *doc == ' '; skip++)
            doc++;
    }
    fprintf(out, "\nexit status: 0 done, 1 nothing found, 2 usage error or failure\n"
                 "-c, -d and the other verbs: ingressctl --help\n");
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

/* Is one of the verb's arguments --help?  Anywhere, so that a half-typed command ending in --help
 * shows the usage instead of running. */
static bool help_asked(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0)
            return true;
    return false;
}

/* Arguments are checked before any file is read, so a usage error is always status 2. */
static int check_arguments(const struct ctl *ctl, const struct ctl_verb *verb, int argc,
                           char **argv)
{
    if (argc < verb->min_args)
        return ctl_usage_error(ctl, "%s: too few arguments", verb->name);
    if (argc > verb->max_args)
        return ctl_usage_error(ctl, "%s: too many arguments", verb->name);
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '\0')
            return ctl_usage_error(ctl, "%s: argument %d is empty", verb->name, i + 1);
        if (strlen(argv[i]) > CTL_KEY_MAX)
            return ctl_usage_error(ctl, "%s: argument %d is longer than %d bytes", verb->name,
                                   i + 1, CTL_KEY_MAX);
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

static int run_verb(struct ctl *ctl, const struct ctl_verb *verb, const char *database, int argc,
                    char **argv)
{
    int status;

    if (verb->own_databases)
        return verb->run(ctl, argc, argv);
    if (!ctl_present(database)) {
        fprintf(stderr, "ingressctl: no database configured (option database, or -d)\n");
        return CTL_EXIT_ERROR;
    }
    /* Opened, never created: a new database here would only hide a typo, or be a file created by
     * root that the milter then cannot write.  A member of the milter's group, who may read the
     * files but not write them, gets a read-only store: the verbs that only read work, the others
     * fail with exit 2. */
    ctl->store = verb->dry_run
                     ? store_open_dry_run(database, ctl->cfg->store_busy_timeout, &ctl->err)
                     : store_open_existing(database, ctl->cfg->store_busy_timeout, &ctl->err);
    if (ctl->store == NULL) {
        fprintf(stderr, "ingressctl: %s\n", ctl->err.text);
        return CTL_EXIT_ERROR;
    }
    status = verb->run(ctl, argc, argv);
    store_close(ctl->store);
    ctl->store = NULL;
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
    struct ctl ctl = {0}; /* no verb yet: a usage error points at ingressctl --help */
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
            return ctl_usage_error(&ctl, "option -%c needs an argument", optopt);
        default:
            /* optopt is 0 for an unknown long option, which getopt leaves in argv. */
            if (optopt == 0)
                return ctl_usage_error(&ctl, "unknown option %s",
                                       str_printable(escaped, sizeof escaped, argv[optind - 1]));
            if (optopt > 0x20 && optopt < 0x7f)
                return ctl_usage_error(&ctl, "unknown option -%c", optopt);
            return ctl_usage_error(&ctl, "unknown option");
        }
    }
    if (optind == argc)
        return ctl_usage_error(&ctl, "no verb given");
    verb = verb_find(argv[optind]);
    if (verb == NULL)
        return ctl_usage_error(&ctl, "unknown verb %s",
                               str_printable(escaped, sizeof escaped, argv[optind]));
    ctl.verb = verb->name;
    argc -= optind + 1;
    argv += optind + 1;
    if (help_asked(argc, argv)) {
        verb_usage(stdout, verb);
        return CTL_EXIT_OK;
    }
    status = check_arguments(&ctl, verb, argc, argv);
    if (status != CTL_EXIT_OK)
        return status;

    cfg = load_config(config_path, config_given);
    if (cfg == NULL)
        return CTL_EXIT_ERROR;
    ctl.cfg = cfg;
    ctl_origin_local(&ctl, NULL);
    status = run_verb(&ctl, verb, database ? database : cfg->database, argc, argv);
    config_free(cfg);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        char reason[128];
        fprintf(stderr, "ingressctl: writing the output: %s\n",
                strerror_r(errno, reason, sizeof reason));
        return CTL_EXIT_ERROR;
    }
    return status;
}
