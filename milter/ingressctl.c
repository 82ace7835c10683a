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

struct ctl_verb {
    const char *name;
    int min_args, max_args;
    const char *usage; /* arguments, as in the usage text */
    const char *doc;   /* what it does, one line */
    int (*run)(struct ctl *ctl, int argc, char **argv);
    bool own_databases; /* opens the databases its arguments name: no configured one */
};

static const struct ctl_verb ctl_verbs[] = {
    {"why", 1, 1, "why KEY",
     "what was decided about KEY: a queue id, reply reference, IP or address", ctl_verb_why, false},
    {"stats", 0, 3, "stats [--since DURATION] [--json]",
     "decisions by check and action from the decision log\n"
     "                 (the counts of /metrics' decisions_total, for a site without Prometheus,\n"
     "                 over the last DURATION: 30m, 12h, 7d; or everything the log keeps)",
     ctl_verb_stats, false},
    {"list", 1, 8, "list ...",
     "the block/allow lists (kinds: cidr, ptr_domain, helo_domain, sender_domain, sender):\n"
     "               list add KIND VALUE block|allow [--reason TEXT] [--expires DURATION]\n"
     "               list del KIND VALUE\n"
     "               list show [KIND] [--json]\n"
     "               list import FILE   (lines KIND VALUE ACTION [REASON]; all or nothing)",
     ctl_verb_list, false},
    {"rule", 1, 5, "rule ...",
     "recipients' own rules (SENDER: an address or @domain):\n"
     "               rule add RCPT SENDER accept|reject\n"
     "               rule del RCPT SENDER\n"
     "               rule list [RCPT] [--json]",
     ctl_verb_rule, false},
    {"alias", 1, 4, "alias ...",
     "what a submission account owns besides its login (ADDRESS: an address or @domain):\n"
     "               alias add ACCOUNT ADDRESS\n"
     "               alias del ACCOUNT ADDRESS\n"
     "               alias list [ACCOUNT] [--json]",
     ctl_verb_alias, false},
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
     ctl_verb_account, false},
    {"held", 1, CTL_POS_MAX + 6, "held ...",
     "messages held for review (throttled submission; MTA commands: held_*_command):\n"
     "               held list [--account A] [--all] [--json]\n"
     "               held show QUEUEID [--json]\n"
     "               held release QUEUEID...|--account A [--reason TEXT] [--by NAME]\n"
     "               held reject QUEUEID...|--account A --reason TEXT [--by NAME]",
     ctl_verb_held, false},
    {"store", 3, 4, "store ...",
     "a database copied whole into another (an SQLite file into PostgreSQL, and back):\n"
     "               store copy FROM TO [--replace]   (FROM, TO: paths or PostgreSQL URIs;\n"
     "                 TO must have no rows, or --replace deletes them first)",
     ctl_verb_store, true},
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
        return ctl_usage_error("%s: wrong number of arguments", verb->usage);
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '\0')
            return ctl_usage_error("%s: an argument is empty", verb->usage);
        if (strlen(argv[i]) > CTL_KEY_MAX)
            return ctl_usage_error("%s: an argument is too long", verb->usage);
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

    if (verb->own_databases)
        return verb->run(&ctl, argc, argv);
    if (!ctl_present(database)) {
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

/* Everything but the usage after a usage error: returns an exit status or CTL_EXIT_USAGE. */
static int run(int argc, char **argv)
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
            return ctl_usage_error("option -%c needs an argument", optopt);
        default:
            /* optopt is 0 for an unknown long option, which getopt leaves in argv. */
            if (optopt == 0)
                return ctl_usage_error("unknown option %s",
                                       str_printable(escaped, sizeof escaped, argv[optind - 1]));
            if (optopt > 0x20 && optopt < 0x7f)
                return ctl_usage_error("unknown option -%c", optopt);
            return ctl_usage_error("unknown option");
        }
    }
    if (optind == argc)
        return ctl_usage_error("no verb given");
    verb = verb_find(argv[optind]);
    if (verb == NULL)
        return ctl_usage_error("unknown verb %s",
                               str_printable(escaped, sizeof escaped, argv[optind]));
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

int main(int argc, char **argv)
{
    int status;

    log_open("ingressctl", true, NULL);
    status = run(argc, argv);
    if (status == CTL_EXIT_USAGE) {
        usage(stderr);
        return CTL_EXIT_ERROR;
    }
    return status;
}
