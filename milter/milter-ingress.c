/*
 * milter-ingress: the daemon.  Options, config, socket, privileges, signals, then libmilter.
 *
 * smfi_main runs on a thread of its own; the main thread takes SIGHUP (reload), SIGTERM and SIGINT
 * (stop) itself, never libmilter's signal thread, which would stop on SIGHUP (lifecycle.c).  A
 * stop: the listening socket closes at once and no new MAIL FROM is taken, the transactions in
 * flight finish (up to SHUTDOWN_GRACE_SECONDS), libmilter stops, and the process exits;
 * connections that sit between transactions are closed by the exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lifecycle.h"
#include "log.h"
#include "maintenance.h"
#include "metrics.h"
#include "metrics_http.h"
#include "milter.h"
#include "runas.h"
#include "throttle.h"
#include "util.h"

/* The build sets it to SYSCONFDIR/milter-ingress/milter-ingress.conf (CMakeLists.txt). */
#ifndef INGRESS_DEFAULT_CONFIG
#define INGRESS_DEFAULT_CONFIG "/etc/milter-ingress/milter-ingress.conf"
#endif
#define DEFAULT_CONFIG INGRESS_DEFAULT_CONFIG
#define EXIT_USAGE 2
/* How long a SIGTERM waits for the transactions in flight (the systemd unit waits 40 s). */
#define SHUTDOWN_GRACE_SECONDS 30
#define SHUTDOWN_POLL_MS 50
/* Also the throttle's flush interval, which is its refresh interval: the bound README "Several MX
 * hosts" states over several hosts rests on both. */
#define MAINTENANCE_TICK_SECONDS THROTTLE_REFRESH_SECONDS

struct options {
    const char *config_path; /* NULL: DEFAULT_CONFIG if it exists, else the defaults */
    bool foreground, check_only, print_nondefault, verbose, init;
    bool print_reference; /* -C: the defaults and the -o overrides, never a file */
    char **overrides;     /* "key=value" from -o, applied after the file at every load */
    size_t noverrides;
    char **keys; /* -n KEY...: the options to print (argv's), as `postconf KEY` does */
    int nkeys;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: milter-ingress [-c FILE] [-o key=value]... [-f] [-v]\n"
                 "       milter-ingress [-c FILE] [-o key=value]... -t | -n [KEY...] | --init\n"
                 "       milter-ingress [-o key=value]... -C\n"
                 "       milter-ingress -M | -R | -V\n"
                 "  -c FILE  configuration file (default " DEFAULT_CONFIG " when it exists,\n"
                 "           otherwise the built-in defaults)\n"
                 "  -o K=V   set option K, after the file (repeatable)\n"
                 "  -f       log to stderr instead of syslog (the daemon never forks either way)\n"
                 "  -v       log debugging lines too\n"
                 "  -t       check the configuration, every error of the file and what a start\n"
                 "           checks (the user, the database path), creating nothing, and exit\n"
                 "           (0 good, 2 bad)\n"
                 "  -n       print the options that differ from their defaults and exit;\n"
                 "           -n KEY... prints those options (\"key = value\") and exits\n"
                 "  --init   create the database, or bring its schema up to date, and exit\n"
                 "  -C       print the reference configuration (every option at its default, but\n"
                 "           those set with -o; no file is read) and exit\n"
                 "  -M       print the option reference as a Markdown table and exit\n"
                 "  -R       print the option reference for milter-ingress.conf(5) and exit\n"
                 "  -V       print the version and exit\n");
}

/* -t: every error of the file on stderr, as it is found. */
static void print_error(const char *error, void *arg)
{
    (void)arg;
    fprintf(stderr, "milter-ingress: %s\n", error);
}

static struct config *load_config(const struct options *o, char *err, size_t errlen)
{
    struct config *cfg;
    const char *path = o->print_reference ? NULL : o->config_path;
    if (path == NULL && !o->print_reference && access(DEFAULT_CONFIG, F_OK) == 0)
        path = DEFAULT_CONFIG;
    /* The usual mistake at a new site: the unit names the installed file, which is not there. */
    if (path != NULL && access(path, F_OK) != 0 && errno == ENOENT) {
        str_printf(err, errlen,
                   "configuration file %s does not exist (`milter-ingress -C > %s` writes one "
                   "with every option at its default)",
                   path, path);
        return NULL;
    }
    if (path != NULL && o->check_only) {
        cfg = config_load_report(path, print_error, NULL);
        if (cfg == NULL) {
            str_printf(err, errlen, "%s: not loaded (each error above)", path);
            return NULL;
        }
    } else {
        cfg = path ? config_load(path, err, errlen) : config_new_defaults();
    }
    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; i < o->noverrides; i++) {
        char key[128];
        const char *eq = strchr(o->overrides[i], '=');
        size_t klen = eq ? (size_t)(eq - o->overrides[i]) : 0;
        if (eq == NULL || klen == 0 || klen >= sizeof key) {
            snprintf(err, errlen, "-o %s: expected key=value", o->overrides[i]);
            config_free(cfg);
            return NULL;
        }
        memcpy(key, o->overrides[i], klen);
        key[klen] = '\0';
        char inner[512];
        if (!config_set(cfg, str_trim(key), eq + 1, inner, sizeof inner)) {
            snprintf(err, errlen, "-o %s", inner); /* "-o key: problem" */
            config_free(cfg);
            return NULL;
        }
    }
    char inner[512];
    if (!config_validate(cfg, inner, sizeof inner)) {
        /* The file alone passed the same check in config_load(): the -o values disagree. */
        snprintf(err, errlen, "-o: %s", inner);
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

/*
 * -t: the config, and the files, accounts and directories it names that a start would stop on,
 * each problem reported (not only the first); nothing is created: the database's directory is
 * checked as a start checks it, never opened.
 */
static int check_config(const struct options *o, const struct config *cfg)
{
    char err[1024];
    struct runas who;
    int status = 0;
    if (!runas_resolve(cfg, &who, err, sizeof err)) {
        fprintf(stderr, "milter-ingress: %s\n", err);
        status = EXIT_USAGE;
    } else if (geteuid() == 0 && cfg->user[0] == '\0' && !cfg->allow_root) {
        /* Root with no user is how the packaged unit is checked (systemd starts the daemon as
         * its User=, not as root): who will run it is not known here, so the checks that depend
         * on it are left to the start. */
        printf("note: user is not set and -t runs as root: the database's directory is checked "
               "when the daemon starts (or run -t as the account that starts it)\n");
        runas_free(&who);
    } else {
        if (!runas_startup_checks(cfg, &who, err, sizeof err)) {
            fprintf(stderr, "milter-ingress: %s\n", err);
            status = EXIT_USAGE;
        }
        runas_free(&who);
    }
    struct orgdomain *od = runtime_load_orgdomain(cfg, err, sizeof err);
    if (od == NULL) {
        fprintf(stderr, "milter-ingress: %s\n", err);
        status = EXIT_USAGE;
    }
    orgdomain_free(od);
    if (status == 0)
        printf("%s: configuration OK\n", o->config_path ? o->config_path : "defaults");
    return status;
}

/* -n KEY...: "key = value" for each, as `postconf KEY` prints it (a PostgreSQL database without
 * its password); an unknown key is reported and makes the exit status 2. */
static int print_keys(const struct options *o, const struct config *cfg)
{
    char *value = xmalloc(CONFIG_VALUE_SHOWN_MAX);
    int status = 0;
    for (int i = 0; i < o->nkeys; i++) {
        if (!config_get(cfg, o->keys[i], value, CONFIG_VALUE_SHOWN_MAX)) {
            char shown[200];
            fprintf(stderr, "milter-ingress: %s: unknown option\n",
                    str_escape(shown, sizeof shown, o->keys[i]));
            status = EXIT_USAGE;
            continue;
        }
        if (strcmp(o->keys[i], "database") == 0)
            store_database_shown(cfg->database, value, CONFIG_VALUE_SHOWN_MAX);
        printf("%s = %s\n", o->keys[i], value);
    }
    free(value);
    return status;
}

static bool parse_args(int argc, char **argv, struct options *o, int *exit_now)
{
    enum { OPT_INIT = 256 };
    static const struct option long_options[] = {
        {"init", no_argument, NULL, OPT_INIT},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    *exit_now = -1;
    while ((ch = getopt_long(argc, argv, "c:o:ftnvCMRVh", long_options, NULL)) != -1) {
        switch (ch) {
        case OPT_INIT:
            o->init = true;
            break;
        case 'c':
            o->config_path = optarg;
            break;
        case 'o':
            if (optarg == NULL) /* never with "o:", but the static analyzer cannot know */
                return false;
            o->overrides = xrealloc(o->overrides, (o->noverrides + 1) * sizeof *o->overrides);
            o->overrides[o->noverrides++] = optarg;
            break;
        case 'f':
            o->foreground = true;
            break;
        case 't':
            o->check_only = true;
            break;
        case 'n':
            o->print_nondefault = true;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'C':
            o->print_reference = true;
            break;
        case 'M':
            config_write_markdown(stdout);
            *exit_now = 0;
            return true;
        case 'R':
            config_write_man(stdout);
            *exit_now = 0;
            return true;
        case 'V':
            printf("milter-ingress %s\n", PROJECT_VERSION);
            *exit_now = 0;
            return true;
        case 'h':
            usage(stdout);
            *exit_now = 0;
            return true;
        default:
            usage(stderr);
            return false;
        }
    }
    if (o->print_nondefault && optind < argc) {
        o->keys = argv + optind;
        o->nkeys = argc - optind;
        optind = argc;
    }
    if (optind != argc) {
        fprintf(stderr, "milter-ingress: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return false;
    }
    if (o->init + o->check_only + o->print_nondefault + o->print_reference > 1) {
        fprintf(stderr, "milter-ingress: -t, -n, -C and --init exclude each other\n");
        usage(stderr);
        return false;
    }
    return true;
}

/* Path of a unix: or local: socket, or NULL for inet sockets. */
static const char *socket_path(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0)
        return spec + 5;
    if (strncmp(spec, "local:", 6) == 0)
        return spec + 6;
    return NULL;
}

/*
 * A socket file left by a milter that died is removed; one that still answers belongs to a
 * running milter and is left alone (starting twice must not steal the first one's socket).
 */
static bool unix_socket_prepare(const char *path, char *err, size_t errlen)
{
    char dir[sizeof((struct sockaddr_un *)0)->sun_path];
    struct stat st;

    str_copy(dir, sizeof dir, path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir)
        *slash = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "socket unix:%s: directory %s does not exist", path, dir);
        return false;
    }
    if (lstat(path, &st) != 0)
        return true;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "socket unix:%s: a file that is not a socket is in the way", path);
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    str_copy(sun.sun_path, sizeof sun.sun_path, path);
    bool live = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
    if (fd >= 0)
        close(fd);
    if (live) {
        snprintf(err, errlen, "socket unix:%s: another milter is listening there", path);
        return false;
    }
    if (unlink(path) != 0) {
        snprintf(err, errlen, "socket unix:%s: cannot remove the stale socket: %s", path,
                 strerror(errno));
        return false;
    }
    log_msg(LOG_INFO, "removed stale socket %s", path);
    return true;
}

/*
 * libmilter keeps its listening socket to itself; find it among our descriptors and set
 * TCP_NODELAY, which Linux passes on to accepted sockets.  Without it the modification and the
 * final reply, written separately, meet the MTA's delayed ACK: ~40 ms a message
 * (tests/bench/RESULTS.md).
 */
static void listeners_set_nodelay(void)
{
    int fd = lifecycle_listener_fd(), one = 1;
    struct sockaddr_storage ss = {0};
    socklen_t sslen = sizeof ss;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_msg(LOG_WARNING, "TCP_NODELAY on the listening socket: %s", strerror(errno));
}

static bool open_socket(const struct config *cfg, char *err, size_t errlen)
{
    const char *path = socket_path(cfg->socket);
    mode_t mode = (mode_t)strtol(cfg->socket_mode, NULL, 8);

    if (path != NULL && !unix_socket_prepare(path, err, errlen))
        return false;
    if (smfi_setconn(cfg->socket) != MI_SUCCESS) {
        snprintf(err, errlen, "socket %s: libmilter refused it", cfg->socket);
        return false;
    }
    if (smfi_register(milter_desc) != MI_SUCCESS) {
        snprintf(err, errlen, "smfi_register failed");
        return false;
    }
    /* Create the unix socket with the final mode at once: no window with a looser one. */
    mode_t old = umask(path ? (mode_t)(~mode & 0777) : 077);
    int rc = smfi_opensocket(false);
    umask(old);
    if (rc != MI_SUCCESS) {
        snprintf(err, errlen, "socket %s: cannot listen (address in use, or no permission?)",
                 cfg->socket);
        return false;
    }
    if (path != NULL && chmod(path, mode) != 0) {
        snprintf(err, errlen, "socket %s: chmod %o: %s", cfg->socket, (unsigned)mode,
                 strerror(errno));
        return false;
    }
    if (path == NULL)
        listeners_set_nodelay();
    return true;
}

/*
 * --init: the database created, or its schema brought up to date, with the checks of a start
 * (the account, the state directory) and the files given to the account as a start as root
 * does; nothing else is opened.  For a package's postinst and a new site, so that ingressctl
 * works before the milter's first start, and for an upgrade that migrates before the restart.
 */
static int init_database(const struct config *cfg)
{
    char err[1024];
    struct runas who;

    if (!runas_resolve(cfg, &who, err, sizeof err)) {
        fprintf(stderr, "milter-ingress: %s\n", err);
        return EXIT_USAGE;
    }
    if (!runas_startup_checks(cfg, &who, err, sizeof err)) {
        fprintf(stderr, "milter-ingress: %s\n", err);
        runas_free(&who);
        return EXIT_USAGE;
    }
    /* A file is created or brought up to date; a PostgreSQL database is made by its owner
     * before (README), and its value, which may hold a password, is shown without it. */
    bool postgresql = store_database_is_postgresql(cfg->database);
    bool existed = !postgresql && access(cfg->database, F_OK) == 0;
    char shown[1024];
    store_database_shown(cfg->database, shown, sizeof shown);
    struct store_error why;
    struct store *store =
        store_open_mode(cfg->database, cfg->store_busy_timeout, runtime_database_mode(cfg), &why);
    if (store == NULL) {
        fprintf(stderr, "milter-ingress: %s\n", why.text);
        runas_free(&who);
        return EXIT_USAGE;
    }
    store_close(store);
    if (who.switch_to)
        store_set_owner(cfg->database, who.uid, who.gid);
    printf("%s: %s, schema version %d, for %s\n", shown,
           postgresql ? "ready"
           : existed  ? "up to date"
                      : "created",
           store_schema_version(), who.name);
    runas_free(&who);
    return 0;
}

static atomic_bool milter_done;
static atomic_bool stopping;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static bool reload_wanted; /* guarded by stop_lock */

static void *milter_thread(void *arg)
{
    (void)arg;
    int rc = smfi_main();
    if (rc != MI_SUCCESS)
        log_msg(LOG_ERR, "libmilter's main loop failed");
    atomic_store(&milter_done, true);
    lifecycle_notify();
    return NULL;
}

/*
 * The submission counters, written to the store in one transaction (lib/throttle.c); kept in
 * memory for the next try when the store refuses.
 */
static void throttle_persist(struct runtime *rt, int64_t now)
{
    struct store_error why;

    if (rt->env.throttle != NULL &&
        throttle_flush(rt->env.throttle, rt->store, (time_t)now, &why) != STORE_OK)
        log_msg(LOG_WARNING, "throttle counters not saved yet (kept for the next try): %s",
                why.text);
}

/*
 * The database must stay the one the configured value names (store_check).  While none can be
 * opened there, every message gets store_failure and says why in its own log line: this logs
 * when that starts and when it ends, not every tick.  *lost is the maintenance thread's own.
 */
static bool maintenance_store_check(struct runtime *rt, bool *lost)
{
    struct store_error why;
    bool reopened;

    if (store_check(rt->store, &reopened, &why) != STORE_OK) {
        if (!*lost)
            log_msg(LOG_ERR, "%s; until one can, every message gets store_failure%s", why.text,
                    rt->cfg->fail_open ? " (fail_open = yes: accepted)" : " (451 4.3.0)");
        *lost = true;
        return false;
    }
    if (reopened)
        log_msg(LOG_WARNING, "%s", why.text);
    *lost = false;
    return true;
}

/*
 * A tick of the maintenance thread: this host's throttle counts written to the store (every host
 * writes its own), then a round of expiry (lib/maintenance.c), which runs on one host of a
 * shared database at a time.  Without a database both wait for the next tick.
 */
static void maintenance_tick(struct runtime *rt, bool *store_lost, struct maintenance *m)
{
    int64_t now = (int64_t)time(NULL);

    if (!maintenance_store_check(rt, store_lost))
        return;
    throttle_persist(rt, now);
    maintenance_round(m, rt->store, rt->cfg, now, &stopping, NULL);
}

static void reload(const struct options *o, const struct config *running)
{
    char err[1024];
    struct runas who;
    struct config *cfg = load_config(o, err, sizeof err);
    if (cfg == NULL) {
        log_msg(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
        metrics_reload(false);
        return;
    }
    if (strcmp(cfg->socket, running->socket) != 0 || strcmp(cfg->user, running->user) != 0 ||
        strcmp(cfg->metrics_listen, running->metrics_listen) != 0)
        log_msg(LOG_WARNING, "reload: socket, user and metrics_listen changes take effect at the "
                             "next restart");
    if (!runas_resolve(cfg, &who, err, sizeof err)) {
        log_msg(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
        config_free(cfg);
        metrics_reload(false);
        return;
    }
    bool checked = runas_startup_checks(cfg, &who, err, sizeof err);
    runas_free(&who);
    if (!checked) {
        log_msg(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
        config_free(cfg);
        metrics_reload(false);
        return;
    }
    struct runtime *rt = runtime_new(cfg, err, sizeof err);
    if (rt == NULL) {
        log_msg(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
        metrics_reload(false);
        return;
    }
    runtime_install(rt);
    metrics_reload(true);
    log_msg(LOG_INFO, "configuration reloaded");
}

/*
 * The background thread: the maintenance tick every MAINTENANCE_TICK_SECONDS, and the reloads
 * SIGHUP asks for.  Reloads run here rather than on the main thread because making a runtime
 * starts threads, and creating a thread blocks every signal in the creating thread for a moment: a
 * signal that came to a main thread blocking it could go to libmilter's signal thread, which
 * stops the milter (lifecycle.c).
 */
static void *maintenance_thread(void *arg)
{
    const struct options *o = arg;
    bool store_lost = false;
    struct maintenance turn = {0};
    pthread_mutex_lock(&stop_lock);
    while (!atomic_load(&stopping)) {
        if (reload_wanted) {
            reload_wanted = false;
            pthread_mutex_unlock(&stop_lock);
            struct runtime *rt = runtime_acquire();
            log_msg(LOG_INFO, "SIGHUP: reloading the configuration");
            reload(o, rt->cfg);
            runtime_release(rt);
            pthread_mutex_lock(&stop_lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += MAINTENANCE_TICK_SECONDS;
        pthread_mutex_unlock(&stop_lock);
        struct runtime *rt = runtime_acquire();
        if (rt != NULL) {
            maintenance_tick(rt, &store_lost, &turn);
            runtime_release(rt);
        }
        pthread_mutex_lock(&stop_lock);
        if (!atomic_load(&stopping) && !reload_wanted)
            pthread_cond_timedwait(&stop_cond, &stop_lock, &until);
    }
    pthread_mutex_unlock(&stop_lock);
    return NULL;
}

/* Asks the maintenance thread for a reload; several asked before it starts make one. */
static void reload_ask(void)
{
    pthread_mutex_lock(&stop_lock);
    reload_wanted = true;
    pthread_cond_signal(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
}

static const char *stop_signal_name(unsigned seen)
{
    return (seen & LIFECYCLE_BIT(SIGTERM)) != 0 ? "SIGTERM" : "SIGINT";
}

/* Takes signals until SIGTERM or SIGINT (true), or until libmilter stops on its own (false). */
static bool signal_loop(void)
{
    const unsigned stop = LIFECYCLE_BIT(SIGTERM) | LIFECYCLE_BIT(SIGINT);
    for (;;) {
        unsigned seen = lifecycle_wait(-1);
        if ((seen & stop) != 0) {
            log_msg(LOG_INFO,
                    "%s: stopping: no new connection or transaction, finishing the %d "
                    "in flight (up to %d s)",
                    stop_signal_name(seen), atomic_load(&milter_transactions),
                    SHUTDOWN_GRACE_SECONDS);
            return true;
        }
        if ((seen & LIFECYCLE_BIT(SIGHUP)) != 0)
            reload_ask();
        if (atomic_load(&milter_done)) {
            log_msg(LOG_WARNING, "libmilter stopped on its own");
            return false;
        }
    }
}

/*
 * Waits until no transaction is in flight, for SHUTDOWN_GRACE_SECONDS at most; a second SIGTERM or
 * SIGINT ends the wait.  New MAIL FROMs are refused meanwhile, so the wait ends with the
 * transactions that were in flight.
 */
static void transactions_finish(void)
{
    const unsigned stop = LIFECYCLE_BIT(SIGTERM) | LIFECYCLE_BIT(SIGINT);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (atomic_load(&milter_transactions) > 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= SHUTDOWN_GRACE_SECONDS) {
            log_msg(LOG_WARNING, "%d transactions still in flight after %d s, exiting anyway",
                    atomic_load(&milter_transactions), SHUTDOWN_GRACE_SECONDS);
            return;
        }
        unsigned seen = lifecycle_wait(SHUTDOWN_POLL_MS);
        if ((seen & stop) != 0) {
            log_msg(LOG_WARNING, "second %s: exiting with %d transactions in flight",
                    stop_signal_name(seen), atomic_load(&milter_transactions));
            return;
        }
    }
}

int main(int argc, char **argv)
{
    struct options o = {0};
    char err[1024];
    int exit_now;

    /* The process may end with a connection still open, and so with its runtime's decision writer
     * still running (runtime_shutdown): libcrypto must not free its state at exit under a thread
     * that hashes a DMARC row's key with it (ThreadSanitizer saw exactly that race). */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    if (!parse_args(argc, argv, &o, &exit_now)) {
        free(o.overrides);
        return EXIT_USAGE;
    }
    if (exit_now >= 0) {
        free(o.overrides);
        return exit_now;
    }
    struct config *cfg = load_config(&o, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "milter-ingress: %s\n", err);
        free(o.overrides);
        return EXIT_USAGE;
    }
    if (o.check_only || o.print_nondefault || o.init || o.print_reference) {
        int status = 0;
        if (o.print_nondefault && o.nkeys > 0)
            status = print_keys(&o, cfg);
        else if (o.print_nondefault)
            config_print_nondefault(cfg, stdout, store_database_shown);
        else if (o.print_reference)
            config_write_reference_with(stdout, cfg);
        else if (o.init)
            status = init_database(cfg);
        else
            status = check_config(&o, cfg);
        config_free(cfg);
        free(o.overrides);
        return status;
    }

    char facility[16];
    config_get(cfg, "log_facility", facility, sizeof facility);
    log_open("milter-ingress", o.foreground, facility);
    if (o.verbose)
        log_set_level(LOG_DEBUG);
    /* Block the signals before any thread exists, so every thread inherits the mask; the main
     * thread takes them again once its threads run (lifecycle.h). */
    lifecycle_block_signals();
    if (!lifecycle_init(err, sizeof err)) {
        log_msg(LOG_ERR, "cannot start: %s", err);
        config_free(cfg);
        free(o.overrides);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    spf_library_init();

    struct runas who;
    if (!runas_resolve(cfg, &who, err, sizeof err)) {
        log_msg(LOG_ERR, "cannot start: %s", err);
        config_free(cfg);
        free(o.overrides);
        return EXIT_USAGE;
    }
    if (!runas_startup_checks(cfg, &who, err, sizeof err)) {
        log_msg(LOG_ERR, "cannot start: %s", err);
        runas_free(&who);
        config_free(cfg);
        free(o.overrides);
        return EXIT_USAGE;
    }
    /* Bound before the database or the socket exist: a port in use leaves nothing behind. */
    struct metrics_http *http = NULL;
    if (cfg->metrics_listen[0] != '\0' &&
        (http = metrics_http_bind(cfg->metrics_listen, err, sizeof err)) == NULL) {
        log_msg(LOG_ERR, "cannot start: %s", err);
        runas_free(&who);
        config_free(cfg);
        free(o.overrides);
        return EXIT_USAGE;
    }
    struct runtime *rt = runtime_new(cfg, err, sizeof err);
    if (rt == NULL) {
        log_msg(LOG_ERR, "cannot start: %s", err);
        runas_free(&who);
        metrics_http_free(http);
        free(o.overrides);
        return EXIT_USAGE;
    }
    runtime_install(rt);
    bool started =
        open_socket(rt->cfg, err, sizeof err) &&
        runas_switch(&who, socket_path(rt->cfg->socket), rt->cfg->database, err, sizeof err);
    runas_free(&who);
    if (!started) {
        log_msg(LOG_ERR, "cannot start: %s", err);
        metrics_http_free(http);
        runtime_shutdown();
        free(o.overrides);
        return EXIT_USAGE;
    }
    /* Its threads inherit the blocked signals, like the others (lifecycle.h). */
    if (http != NULL && !metrics_http_start(http, err, sizeof err)) {
        log_msg(LOG_ERR, "cannot start: %s", err);
        metrics_http_free(http);
        runtime_shutdown();
        free(o.overrides);
        return 1;
    }

    /* The runtime may be replaced by a reload: keep what shutdown needs from the first one. */
    char *socket_spec = xstrdup(rt->cfg->socket);
    pthread_t milter, maintenance;
    pthread_attr_t listener_attr, other_attr;
    lifecycle_thread_attr(&listener_attr, true);
    lifecycle_thread_attr(&other_attr, false);
    if (pthread_create(&milter, &listener_attr, milter_thread, NULL) != 0 ||
        pthread_create(&maintenance, &other_attr, maintenance_thread, &o) != 0) {
        log_msg(LOG_ERR, "cannot start threads");
        return 1;
    }
    pthread_attr_destroy(&listener_attr);
    pthread_attr_destroy(&other_attr);
    lifecycle_unblock_signals();
    log_msg(LOG_INFO, "milter-ingress %s listening on %s", PROJECT_VERSION, socket_spec);
    if (http != NULL)
        log_msg(LOG_INFO, "metrics and health on http://%s/metrics and /health",
                rt->cfg->metrics_listen);
    bool asked = signal_loop();
    milter_drain_begin();
    if (asked) {
        if (!lifecycle_close_listener(milter))
            log_msg(LOG_WARNING, "the listening socket could not be closed early");
        transactions_finish();
        lifecycle_stop_libmilter(milter, &milter_done);
    } else {
        pthread_join(milter, NULL);
    }
    pthread_mutex_lock(&stop_lock);
    atomic_store(&stopping, true);
    pthread_cond_signal(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
    pthread_join(maintenance, NULL);
    rt = runtime_acquire();
    if (rt != NULL) {
        throttle_persist(rt, (int64_t)time(NULL));
        runtime_release(rt);
    }
    const char *path = socket_path(socket_spec);
    if (path != NULL)
        unlink(path);
    free(socket_spec);
    int open_connections = atomic_load(&milter_active_connections);
    metrics_http_free(http);
    runtime_shutdown();
    /* A connection still open may yet run a callback that counts: its counters stay. */
    if (open_connections == 0)
        runtime_throttle_free();
    free(o.overrides);
    if (open_connections > 0)
        log_msg(LOG_INFO, "stopped (%d connections between transactions closed)", open_connections);
    else
        log_msg(LOG_INFO, "stopped");
    return 0;
}
