/*
 * ctl_check: `ingressctl check --ip IP [--helo NAME] [--from ADDR] [--rcpt ADDR]... [--auth
 * ACCOUNT] [--message FILE] [--json]` runs the milter's own checks (lib/policy.c) on a made-up
 * SMTP session and says, stage by stage, what the client would be told, then what each check
 * found, in the words `why` uses.  The same config, the configured DNS servers and the database:
 * opened for a dry run (store_open_dry_run), which reads and never writes, so no greylist triplet
 * is created, no throttle counted, no decision recorded.
 *
 * Without --message the message is a From: header with the MAIL FROM address and an empty body,
 * so the end-of-message checks (DKIM, DMARC, the submission's From check, the throttle) still
 * run as they would on the simplest message.
 *
 * Exit status: 0 the client would be accepted (or the message held for review), 1 something was
 * refused or deferred, 2 a usage error or a config or database that cannot be used.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cidr.h"
#include "ctl.h"
#include "ctl_json.h"
#include "ctl_verbs.h"
#include "dkim.h"
#include "dns.h"
#include "lists.h"
#include "log.h"
#include "orgdomain.h"
#include "policy.h"
#include "runtime.h"
#include "spf.h"
#include "throttle.h"
#include "util.h"

#define CHECK_RCPT_MAX CTL_CHECK_RCPT_MAX
#define CHECK_MESSAGE_MAX (10 * 1024 * 1024) /* bytes of --message */
#define CHECK_HEADER_MAX 65536               /* bytes of one unfolded header */
#define CHECK_HELO_MAX 255

struct check_args {
    const char *ip, *helo, *from, *auth, *message;
    const char *rcpt[CHECK_RCPT_MAX];
    int nrcpt;
    bool json;
};

/* The options' session as a request. */
static struct ctl_check_request check_request(const struct check_args *a)
{
    return (struct ctl_check_request){.ip = a->ip,
                                      .helo = a->helo,
                                      .from = a->from,
                                      .auth = a->auth,
                                      .rcpt = a->rcpt,
                                      .nrcpt = a->nrcpt};
}

/* What the run found: the steps for the output, and whether anything was refused. */
struct check_run {
    json_t *steps, *findings; /* with --json */
    bool refused, deferred, held;
    const struct ctl_check_request *a;
    const struct config *cfg;
    struct policy_conn *conn;
};

static int check_usage(const struct ctl *ctl, const char *what, const char *value)
{
    char shown[256];
    if (value == NULL)
        return ctl_usage_error(ctl, "check: %s", what);
    return ctl_usage_error(ctl, "check: %s: %s", what, str_printable(shown, sizeof shown, value));
}

static bool valid_path(const char *value, bool null_ok)
{
    struct addr a;
    bool null_path = false;
    char why[256], path[CTL_KEY_MAX + 3];

    /* The address as typed, with or without the angle brackets of the SMTP path. */
    if (value[0] == '<')
        str_copy(path, sizeof path, value);
    else
        snprintf(path, sizeof path, "<%s>", value);
    if (addr_parse_path(path, strlen(path), &a, &null_path, why, sizeof why) != ADDR_OK)
        return false;
    return null_ok || !null_path;
}

static int parse_args(const struct ctl *ctl, int argc, char **argv, struct check_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--json") == 0) {
            a->json = true;
            continue;
        }
        if (i + 1 >= argc)
            return check_usage(ctl, "an option without its value", opt);
        const char *value = argv[++i];
        if (strcmp(opt, "--ip") == 0)
            a->ip = value;
        else if (strcmp(opt, "--helo") == 0)
            a->helo = value;
        else if (strcmp(opt, "--from") == 0)
            a->from = value;
        else if (strcmp(opt, "--auth") == 0)
            a->auth = value;
        else if (strcmp(opt, "--message") == 0)
            a->message = value;
        else if (strcmp(opt, "--rcpt") == 0 && a->nrcpt < CHECK_RCPT_MAX)
            a->rcpt[a->nrcpt++] = value;
        else if (strcmp(opt, "--rcpt") == 0)
            return check_usage(ctl, "too many --rcpt (at most 100)", NULL);
        else
            return check_usage(ctl, "unknown option", opt);
    }
    struct ctl_check_request req = check_request(a);
    char why[512];
    if (!ctl_check_valid(&req, why, sizeof why))
        return ctl_usage_error(ctl, "check: %s", why);
    return CTL_EXIT_OK;
}

bool ctl_check_valid(const struct ctl_check_request *req, char *why, size_t whylen)
{
    char shown[256];

    why[0] = '\0';
    if (req->ip == NULL)
        str_copy(why, whylen, "--ip IP is required");
    else if (!cidr_is_address(req->ip))
        str_printf(why, whylen, "--ip is not an IPv4 or IPv6 address: %s",
                   str_printable(shown, sizeof shown, req->ip));
    else if (req->helo != NULL && strlen(req->helo) > CHECK_HELO_MAX)
        str_copy(why, whylen, "--helo is longer than 255 bytes");
    else if (req->from != NULL && (strlen(req->from) > CTL_KEY_MAX || !valid_path(req->from, true)))
        str_printf(why, whylen,
                   "--from is not an address (use \"\" or \"<>\" for the null sender): %s",
                   str_printable(shown, sizeof shown, req->from));
    else if (req->nrcpt > CHECK_RCPT_MAX)
        str_copy(why, whylen, "too many --rcpt (at most 100)");
    else if (req->auth != NULL && !ctl_account_name_valid(req->auth))
        str_printf(why, whylen, "--auth: an account name has 1 to %d characters, no blanks",
                   CTL_ACCOUNT_MAX);
    for (int i = 0; why[0] == '\0' && i < req->nrcpt; i++)
        if (strlen(req->rcpt[i]) > CTL_KEY_MAX || !valid_path(req->rcpt[i], false))
            str_printf(why, whylen, "--rcpt is not an address: %s",
                       str_printable(shown, sizeof shown, req->rcpt[i]));
    return why[0] == '\0';
}

/* ---- the message ---- */

struct message {
    char *data;
    size_t len;
};

static int message_read(const char *path, struct message *m)
{
    char reason[128], shown[512];
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        fprintf(stderr, "ingressctl: check: --message %s: %s\n",
                str_printable(shown, sizeof shown, path), strerror_r(errno, reason, sizeof reason));
        return CTL_EXIT_ERROR;
    }
    m->data = xmalloc(CHECK_MESSAGE_MAX + 1);
    m->len = fread(m->data, 1, CHECK_MESSAGE_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || m->len > CHECK_MESSAGE_MAX) {
        fprintf(stderr, "ingressctl: check: --message %s: %s\n",
                str_printable(shown, sizeof shown, path),
                failed ? "cannot be read" : "larger than 10 MiB");
        free(m->data);
        return CTL_EXIT_ERROR;
    }
    m->data[m->len] = '\0';
    return CTL_EXIT_OK;
}

/* The line at *pos without its CR LF or LF; advances *pos past it. */
static size_t next_line(const struct message *m, size_t *pos, const char **line)
{
    size_t start = *pos, end = start;

    while (end < m->len && m->data[end] != '\n')
        end++;
    *line = m->data + start;
    *pos = end < m->len ? end + 1 : end;
    if (end > start && m->data[end - 1] == '\r')
        end--;
    return end - start;
}

/*
 * Feeds the header section to the policy (conn NULL: only checks the file) as the MTA would (one
 * call per field, folded lines joined with CR LF, the name without the colon, the value without its
 * first blank), then the body with CR LF line ends.  A line of the header section that is neither a
 * field nor a continuation makes the file malformed: false with the line number.
 */
static bool message_feed(struct policy_conn *conn, const struct message *m, int *bad_line)
{
    char *field = xmalloc(CHECK_HEADER_MAX);
    size_t flen = 0, pos = 0;
    int lineno = 0;
    bool ok = true;

    for (;;) {
        const char *line;
        size_t pos_before = pos;
        size_t len = next_line(m, &pos, &line);
        lineno++;
        bool continuation = len > 0 && (line[0] == ' ' || line[0] == '\t');
        if (continuation && flen > 0 && flen + len + 2 < CHECK_HEADER_MAX) {
            memcpy(field + flen, "\r\n", 2);
            memcpy(field + flen + 2, line, len);
            flen += len + 2;
            continue;
        }
        if (flen > 0) {
            field[flen] = '\0';
            char *colon = strchr(field, ':');
            int index;
            *colon = '\0';
            char *value = colon + 1;
            if (*value == ' ')
                value++;
            if (conn != NULL)
                (void)policy_header(conn, field, value, &index);
        }
        if (len == 0 || pos_before == pos)
            break;
        const char *colon = memchr(line, ':', len);
        if (continuation || colon == NULL || colon == line || len >= CHECK_HEADER_MAX) {
            *bad_line = lineno;
            ok = false;
            break;
        }
        memcpy(field, line, len);
        flen = len;
    }
    free(field);
    if (!ok || conn == NULL)
        return ok;
    policy_eoh(conn);
    /* The body in CR LF form, as the MTA hands it over. */
    char chunk[8192];
    size_t n = 0;
    for (; pos < m->len; pos++) {
        if (m->data[pos] == '\n' && (pos == 0 || m->data[pos - 1] != '\r'))
            chunk[n++] = '\r';
        chunk[n++] = m->data[pos];
        if (n + 2 >= sizeof chunk) {
            policy_body(conn, (const unsigned char *)chunk, n);
            n = 0;
        }
    }
    if (n > 0)
        policy_body(conn, (const unsigned char *)chunk, n);
    return true;
}

/* The simplest message: its From is the MAIL FROM address (or none for the null sender). */
static void message_default(struct policy_conn *conn, const char *from)
{
    char value[CTL_KEY_MAX + 8];
    int index;

    if (from != NULL && from[0] != '\0' && strcmp(from, "<>") != 0) {
        if (from[0] == '<')
            str_copy(value, sizeof value, from);
        else
            snprintf(value, sizeof value, "<%s>", from);
        (void)policy_header(conn, "From", value, &index);
    }
    policy_eoh(conn);
}

/* ---- the output ---- */

/* What the client would be told for v: "550 5.7.1 text (ref ...)", or "" when nothing is sent. */
static void reply_of(const struct check_run *r, const struct verdict *v, char *out, size_t outlen)
{
    char text[VERDICT_TEXT_MAX + 256];

    out[0] = '\0';
    if (v->action != VERDICT_REJECT && v->action != VERDICT_TEMPFAIL)
        return;
    if (!verdict_reply_consistent(v)) {
        str_copy(out, outlen, "451 4.3.0 (an internal error of the milter)");
        return;
    }
    const struct reply_entry *e = &reply_table[v->reply];
    verdict_reply_text(v, policy_conn_ref(r->conn), r->cfg->help_text, text, sizeof text);
    snprintf(out, outlen, "%s %s %s", e->code, e->xcode, text);
}

/* One stage's verdict: printed (or added to the JSON), and counted. */
static void step(struct check_run *r, const char *stage, const char *rcpt, const struct verdict *v)
{
    const char *action = verdict_action_name(v->action);
    char reply[VERDICT_TEXT_MAX + 300], advice[2048], shown[1024], detail[2048];

    if (v->action == VERDICT_REJECT)
        r->refused = true;
    else if (v->action == VERDICT_TEMPFAIL)
        r->deferred = true;
    else if (v->action == VERDICT_HOLD)
        r->held = true;
    reply_of(r, v, reply, sizeof reply);
    ctl_advice(v->check, action, r->a->ip, rcpt, r->a->from, r->a->auth, advice, sizeof advice);
    if (r->steps != NULL) {
        json_t *o = ctl_json_object();
        ctl_json_set_text(o, "stage", stage);
        if (rcpt != NULL)
            ctl_json_set_text(o, "recipient", rcpt);
        ctl_json_set_text(o, "check", v->check[0] ? v->check : NULL);
        ctl_json_set_text(o, "action", action);
        ctl_json_set_text(o, "words", ctl_action_words(action));
        if (reply[0] != '\0')
            ctl_json_set_text(o, "reply", reply);
        ctl_json_set_text(o, "detail", v->detail);
        if (advice[0] != '\0')
            ctl_json_set_text(o, "postmaster", advice);
        ctl_json_append(r->steps, o);
        return;
    }
    printf("%s", stage);
    if (rcpt != NULL)
        printf(" <%s>", str_printable(shown, sizeof shown, rcpt));
    if (v->check[0] != '\0')
        printf(": check %s: %s\n", v->check, ctl_action_words(action));
    else
        printf(": %s\n", ctl_action_words(action));
    if (reply[0] != '\0')
        printf("  the sender would be told: %s\n", str_printable(shown, sizeof shown, reply));
    if (v->detail[0] != '\0')
        printf("  what it saw: %s\n", str_printable(detail, sizeof detail, v->detail));
    if (advice[0] != '\0')
        printf("  the postmaster can: %s\n", advice);
}

static void finding(const char *check, const char *found, void *arg)
{
    struct check_run *r = arg;
    char shown[2048];

    if (r->findings != NULL) {
        json_t *o = ctl_json_object();
        ctl_json_set_text(o, "check", check);
        ctl_json_set_text(o, "found", found);
        ctl_json_append(r->findings, o);
        return;
    }
    printf("  %-9s %s\n", check, str_printable(shown, sizeof shown, found));
}

/* ---- the run ---- */

/* What the milter's runtime holds, built the same way over the dry-run store. */
struct check_env {
    struct policy_env env;
    struct dns_resolver *resolver;
    struct dkim_verifier *dkim;
    struct spf_checker *spf;
    struct lists_cache *lists;
    struct orgdomain *orgdomain;
    struct throttle *throttle;
    char authserv_id[256], host_name[256];
};

static void env_free(struct check_env *e)
{
    throttle_free(e->throttle);
    lists_cache_free(e->lists);
    spf_checker_free(e->spf);
    dkim_verifier_free(e->dkim);
    orgdomain_free(e->orgdomain);
    dns_resolver_free(e->resolver);
}

static bool env_new(struct check_env *e, const struct config *cfg, struct store *store, char *err,
                    size_t errlen)
{
    memset(e, 0, sizeof *e);
    e->orgdomain = runtime_load_orgdomain(cfg, err, errlen);
    if (e->orgdomain == NULL)
        return false;
    if (runtime_resolver_new(cfg, &e->resolver, err, errlen) != 0) {
        env_free(e);
        return false;
    }
    e->dkim = dkim_verifier_new(e->resolver, cfg, err, errlen);
    if (e->dkim == NULL) {
        env_free(e);
        return false;
    }
    runtime_name_or_host(e->authserv_id, sizeof e->authserv_id, cfg->authserv_id);
    config_host_name(cfg, e->host_name, sizeof e->host_name);
    e->spf = spf_checker_new(e->resolver, e->authserv_id);
    e->lists = lists_cache_new(store, cfg->lists_reload_interval);
    e->throttle = throttle_new();
    e->env = (struct policy_env){
        .cfg = cfg,
        .resolver = e->resolver,
        .store = store,
        .dkim = e->dkim,
        .spf = e->spf,
        .lists = e->lists,
        .orgdomain = e->orgdomain,
        .throttle = e->throttle,
        .authserv_id = e->authserv_id,
        .host_name = e->host_name,
    };
    return true;
}

/* The session, stage by stage, as the MTA would drive it.  Returns false when the message file
 * is malformed (said on stderr). */
static bool run_session(struct check_run *r, const struct message *m)
{
    const struct ctl_check_request *a = r->a;
    char path[CTL_KEY_MAX + 3], authres[2048];
    struct verdict v;
    bool any_rcpt = false;

    policy_helo(r->conn, a->helo != NULL ? a->helo : "");
    snprintf(path, sizeof path, a->from == NULL || a->from[0] == '<' ? "%s" : "<%s>",
             a->from != NULL ? a->from : "<>");
    v = policy_mail(r->conn, path, a->auth);
    step(r, "MAIL FROM", NULL, &v);
    if (v.action == VERDICT_REJECT || v.action == VERDICT_TEMPFAIL)
        return true;
    for (int i = 0; i < a->nrcpt; i++) {
        snprintf(path, sizeof path, a->rcpt[i][0] == '<' ? "%s" : "<%s>", a->rcpt[i]);
        v = policy_rcpt(r->conn, path);
        step(r, "RCPT TO", a->rcpt[i], &v);
        any_rcpt |= v.action != VERDICT_REJECT && v.action != VERDICT_TEMPFAIL;
    }
    if (!any_rcpt)
        return true;
    if (m->data != NULL) {
        int bad_line = 0;
        (void)message_feed(r->conn, m, &bad_line); /* checked before the session */
    } else {
        message_default(r->conn, a->from);
    }
    v = policy_eom(r->conn, authres, sizeof authres);
    step(r, "end of message", NULL, &v);
    return true;
}

/*
 * The session of req with message m (no data: the simplest message), set up as the milter's
 * runtime is: the document in *doc with json, else printed.  false (why) when the resolver or the
 * tables cannot be set up.
 */
static bool check_session(struct ctl *ctl, const struct ctl_check_request *req,
                          const struct message *m, json_t **doc, bool *refused, char *why,
                          size_t whylen)
{
    struct check_env e;
    char name[80], shown[1024];

    if (!env_new(&e, ctl->cfg, ctl->store, why, whylen))
        return false;
    /* The policy's own lines (its decision at end of message) are not decisions here. */
    log_set_level(LOG_WARNING);
    snprintf(name, sizeof name, "[%s]", req->ip);
    struct check_run r = {.a = req, .cfg = ctl->cfg};
    r.conn = policy_conn_new(&e.env, name, req->ip);
    if (doc != NULL) {
        r.steps = ctl_json_array();
        r.findings = ctl_json_array();
    } else {
        printf("client %s", req->ip);
        if (req->helo != NULL)
            printf(", HELO %s", str_printable(shown, sizeof shown, req->helo));
        if (req->auth != NULL)
            printf(", authenticated as %s", str_printable(shown, sizeof shown, req->auth));
        printf("  (ref %s: a dry run, nothing is recorded)\n", policy_conn_ref(r.conn));
    }
    (void)run_session(&r, m);
    const char *verdict = r.refused    ? "refused"
                          : r.deferred ? "deferred"
                          : r.held     ? "held for review"
                                       : "accepted";
    if (doc != NULL) {
        *doc = ctl_json_object();
        ctl_json_set_text(*doc, "ip", req->ip);
        ctl_json_set_text(*doc, "ref", policy_conn_ref(r.conn));
        ctl_json_set(*doc, "steps", r.steps);
        policy_findings(r.conn, finding, &r);
        ctl_json_set(*doc, "findings", r.findings);
        ctl_json_set_text(*doc, "verdict", verdict);
    } else {
        printf("what each check found:\n");
        policy_findings(r.conn, finding, &r);
        printf("verdict: %s\n", verdict);
    }
    policy_conn_free(r.conn);
    env_free(&e);
    *refused = r.refused || r.deferred;
    return true;
}

bool ctl_check_json(struct ctl *ctl, const struct ctl_check_request *req, json_t **doc,
                    bool *refused, char *why, size_t whylen)
{
    const struct message none = {NULL, 0};
    return check_session(ctl, req, &none, doc, refused, why, whylen);
}

int ctl_verb_check(struct ctl *ctl, int argc, char **argv)
{
    struct check_args a = {0};
    struct message m = {NULL, 0};
    char why[1024];
    bool refused = false;
    json_t *doc = NULL;
    int status = parse_args(ctl, argc, argv, &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.message != NULL && (status = message_read(a.message, &m)) != CTL_EXIT_OK)
        return status;
    int bad_line = 0;
    if (m.data != NULL && !message_feed(NULL, &m, &bad_line)) {
        free(m.data);
        return check_usage(ctl,
                           "--message: a line of the header section is neither a header field "
                           "nor its continuation (it ends at the first empty line)",
                           NULL);
    }
    spf_library_init();
    struct ctl_check_request req = check_request(&a);
    bool ok = check_session(ctl, &req, &m, a.json ? &doc : NULL, &refused, why, sizeof why);
    free(m.data);
    if (!ok) {
        fprintf(stderr, "ingressctl: check: %s\n", why);
        return CTL_EXIT_ERROR;
    }
    if (doc != NULL)
        ctl_json_print(doc);
    return refused ? CTL_EXIT_NOTFOUND : CTL_EXIT_OK;
}
