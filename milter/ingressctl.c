/*
 * ingressctl: the postmaster's tool (DESIGN.md §6-7).  It reads the milter's own config to find
 * the database and answers from the store; nothing here decides policy.
 *
 *   ingressctl [-c FILE] [-d DATABASE] why KEY
 *
 * `why` tells, in plain words, what the milter decided about a queue id, the reference quoted in
 * a reply, an IP address or an email address: the same verdict the sender saw in the reply and
 * the log line holds (STYLE rule 11).
 *
 * Verbs are rows of one table (name, argument counts, usage line, function), so a new verb is a
 * function and a row; the usage text is built from the same table.
 *
 * Exit status: 0 done (for `why`: something was found), 1 nothing found, 2 usage error, bad
 * config, or a database that cannot be opened or read.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define CTL_DEFAULT_CONFIG "/etc/milter-ingress/milter-ingress.conf"
#define CTL_KEY_MAX 1024
/* Enough for a busy IP address over the retention period, not enough to flood a terminal. */
#define CTL_WHY_LIMIT 1000

enum ctl_exit { CTL_EXIT_OK = 0, CTL_EXIT_NOTFOUND = 1, CTL_EXIT_ERROR = 2 };

/* What every verb gets: the config it was started with and the open store. */
struct ctl {
    const struct config *cfg;
    struct store *store;
};

struct ctl_verb {
    const char *name;
    int min_args, max_args;
    const char *usage; /* arguments, as in the usage text */
    const char *doc;   /* what it does, one line */
    int (*run)(struct ctl *ctl, int argc, char **argv);
};

static int verb_why(struct ctl *ctl, int argc, char **argv);

static const struct ctl_verb ctl_verbs[] = {
    {"why", 1, 1, "why KEY",
     "what was decided about KEY: a queue id, reply reference, IP or address", verb_why},
};

/* ------------------------------------------------------------------------------------------ */
/* Usage                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ingressctl [-c FILE] [-d DATABASE] VERB [ARGUMENT...]\n"
            "       ingressctl -h | --help\n"
            "\n"
            "  -c FILE      read the database's name from the milter's config FILE\n"
            "               (default %s, if it exists)\n"
            "  -d DATABASE  use this database file instead of the config's `database`\n"
            "  -h, --help   show this help\n"
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
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
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
    st = store_decision_find(ctl->store, key, CTL_WHY_LIMIT, print_decision, &why);
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
    fprintf(stderr, "ingressctl: reading the decisions: %s\n", store_last_error(ctl->store));
    return CTL_EXIT_ERROR;
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
    char err[1024];
    int status;

    if (!present(database)) {
        fprintf(stderr, "ingressctl: no database configured (option database, or -d)\n");
        return CTL_EXIT_ERROR;
    }
    /* store_open() creates a missing database; here that would only hide a typo, and a file
     * created by root that the milter then cannot write. */
    if (access(database, F_OK) != 0) {
        char reason[128];
        fprintf(stderr, "ingressctl: %s: %s (milter-ingress creates the database when it starts)\n",
                str_printable(err, sizeof err, database), strerror_r(errno, reason, sizeof reason));
        return CTL_EXIT_ERROR;
    }
    ctl.store = store_open(database, cfg->store_busy_timeout, err, sizeof err);
    if (ctl.store == NULL) {
        fprintf(stderr, "ingressctl: %s\n", err);
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
    while ((c = getopt_long(argc, argv, "+:c:d:h", long_options, NULL)) != -1) {
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
