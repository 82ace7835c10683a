/*
 * command: templates of MTA commands, run with execve and an argument vector (command.h).
 */
#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* A placeholder of a template and the value it stands for (NULL: the template must not use it). */
struct placeholder {
    const char *name;
    const char *value;
    const char *what; /* for the message when value is NULL */
};
#define PLACEHOLDERS_MAX 3

/* The placeholders a kind of template knows, in the order of the values run_one gets. */
static const char *const queue_placeholders[] = {"{queue_id}", NULL};
static const char *const remote_placeholders[] = {"{host}", "{queue_id}", "{action}", NULL};

extern char **environ;

bool command_queue_id_valid(const char *queue_id)
{
    size_t n = 0;
    if (queue_id == NULL)
        return false;
    for (; queue_id[n] != '\0'; n++)
        if (!ascii_alnum(queue_id[n]) || n >= COMMAND_QUEUE_ID_MAX)
            return false;
    return n > 0;
}

/* One command of a template, split into arguments; the words point into buf. */
struct argv_words {
    char buf[COMMAND_TEMPLATE_MAX];
    char *word[COMMAND_ARGS_MAX + 1];
    int count;
};

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Splits [start, end) of a template into words; false (with why) on too many or none. */
static bool split_words(const char *start, size_t len, struct argv_words *w, char *why,
                        size_t whylen)
{
    if (len >= sizeof w->buf) {
        str_printf(why, whylen, "a command is longer than %d bytes", COMMAND_TEMPLATE_MAX - 1);
        return false;
    }
    memcpy(w->buf, start, len);
    w->buf[len] = '\0';
    w->count = 0;
    for (char *p = w->buf; *p != '\0';) {
        while (is_blank(*p))
            *p++ = '\0';
        if (*p == '\0')
            break;
        if (w->count == COMMAND_ARGS_MAX) {
            str_printf(why, whylen, "a command has more than %d arguments", COMMAND_ARGS_MAX);
            return false;
        }
        w->word[w->count++] = p;
        while (*p != '\0' && !is_blank(*p))
            p++;
    }
    w->word[w->count] = NULL;
    if (w->count == 0) {
        str_printf(why, whylen, "an empty command (two ';' in a row, or one at an end)");
        return false;
    }
    return true;
}

/* Which of names (NULL-terminated) starts at p; -1 when none. */
static int placeholder_at(const char *p, const char *const *names)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strncmp(p, names[i], strlen(names[i])) == 0)
            return i;
    return -1;
}

/* Every '{' must open one of names. */
static bool placeholders_known(const char *word, const char *const *names, char *why, size_t whylen)
{
    for (const char *p = strchr(word, '{'); p != NULL; p = strchr(p + 1, '{')) {
        if (placeholder_at(p, names) < 0) {
            char shown[128], known[64] = "";
            for (int i = 0; names[i] != NULL; i++)
                str_printf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                           i > 0 ? " " : "", names[i]);
            str_printf(why, whylen, "unknown placeholder in \"%s\" (known: %s)",
                       str_printable(shown, sizeof shown, word), known);
            return false;
        }
    }
    return true;
}

/* Calls fn for each command of the template; stops at the first false. */
static bool each_command(const char *tmpl, const char *const *names, char *why, size_t whylen,
                         bool (*fn)(struct argv_words *w, void *arg), void *arg)
{
    struct argv_words *w = xmalloc(sizeof *w);
    bool ok = true;
    const char *p = tmpl;

    if (tmpl == NULL || tmpl[strspn(tmpl, " \t")] == '\0') {
        str_printf(why, whylen, "no command configured");
        free(w);
        return false;
    }
    while (ok) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        ok = split_words(p, len, w, why, whylen);
        for (int i = 0; ok && i < w->count; i++)
            ok = placeholders_known(w->word[i], names, why, whylen);
        if (ok)
            ok = fn(w, arg);
        if (end == NULL)
            break;
        p = end + 1;
    }
    free(w);
    return ok;
}

static bool accept_command(struct argv_words *w, void *arg)
{
    (void)w;
    (void)arg;
    return true;
}

bool command_template_valid(const char *tmpl, char *why, size_t whylen)
{
    return each_command(tmpl, queue_placeholders, why, whylen, accept_command, NULL);
}

bool command_remote_template_valid(const char *tmpl, char *why, size_t whylen)
{
    if (tmpl[0] == '\0')
        return true;
    if (strstr(tmpl, "{host}") == NULL || strstr(tmpl, "{queue_id}") == NULL) {
        str_printf(why, whylen, "must use {host} and {queue_id} (and may use {action})");
        return false;
    }
    return each_command(tmpl, remote_placeholders, why, whylen, accept_command, NULL);
}

/* word with every placeholder replaced by its value (malloc'd); false (with why) when a
 * placeholder it uses has no value. */
static bool expand(const char *word, const struct placeholder *values, char **out, char *why,
                   size_t whylen)
{
    const char *names[PLACEHOLDERS_MAX + 1] = {0};
    size_t len = strlen(word) + 1;
    int n = 0;

    for (; n < PLACEHOLDERS_MAX && values[n].name != NULL; n++)
        names[n] = values[n].name;
    for (const char *p = strchr(word, '{'); p != NULL; p = strchr(p + 1, '{')) {
        int i = placeholder_at(p, names);
        if (i >= 0 && values[i].value == NULL) {
            str_printf(why, whylen, "the command needs %s", values[i].what);
            return false;
        }
        if (i >= 0)
            len += strlen(values[i].value);
    }
    char *o = *out = xmalloc(len);
    for (const char *p = word; *p != '\0';) {
        int i = *p == '{' ? placeholder_at(p, names) : -1;
        if (i < 0) {
            *o++ = *p++;
            continue;
        }
        size_t vlen = strlen(values[i].value);
        memcpy(o, values[i].value, vlen);
        o += vlen;
        p += strlen(names[i]);
    }
    *o = '\0';
    return true;
}

/* The program's path: itself when it has a '/', else the first executable in PATH; NULL when
 * there is none. */
static char *find_program(const char *name)
{
    if (strchr(name, '/') != NULL)
        return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *dir = path;;) {
        const char *end = strchr(dir, ':');
        size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
        char *full = xmalloc(dlen + strlen(name) + 3);
        snprintf(full, dlen + strlen(name) + 3, "%.*s/%s", (int)dlen, dlen ? dir : ".", name);
        if (access(full, X_OK) == 0)
            return full;
        free(full);
        if (end == NULL)
            return NULL;
        dir = end + 1;
    }
}

struct run_state {
    const struct placeholder *values; /* ended by a NULL name */
    char **out;
    size_t out_len, out_max;
    char *why;
    size_t whylen;
};

/* Reads the child's standard output until EOF, keeping at most out_max bytes. */
static void collect(int fd, struct run_state *st)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        size_t keep = (size_t)n;
        if (st->out_len + keep > st->out_max)
            keep = st->out_max - st->out_len;
        if (keep > 0) {
            *st->out = xrealloc(*st->out, st->out_len + keep + 1);
            memcpy(*st->out + st->out_len, chunk, keep);
            st->out_len += keep;
            (*st->out)[st->out_len] = '\0';
        }
    }
}

static bool run_one(struct argv_words *w, void *arg)
{
    struct run_state *st = arg;
    char *argv[COMMAND_ARGS_MAX + 1] = {0}, shown[256];
    int pipefd[2] = {-1, -1}, status = 0;
    bool ok = false;

    if (w->count <= 0) /* split_words refuses an empty command; never run argv[0] == NULL */
        goto done;
    for (int i = 0; i < w->count; i++) {
        char need[64];
        if (!expand(w->word[i], st->values, &argv[i], need, sizeof need)) {
            str_printf(st->why, st->whylen, "%s: %s", w->word[0], need);
            goto done;
        }
    }
    char *program = find_program(argv[0]);
    if (program == NULL) {
        str_printf(st->why, st->whylen, "%s: not found (or not executable)",
                   str_printable(shown, sizeof shown, argv[0]));
        goto done;
    }
    if (st->out != NULL && pipe2(pipefd, O_CLOEXEC) != 0) {
        str_printf(st->why, st->whylen, "pipe: %s", strerror(errno));
        free(program);
        goto done;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (pipefd[1] >= 0 && dup2(pipefd[1], STDOUT_FILENO) < 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execve(program, argv, environ);
        _exit(126);
    }
    free(program);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (pid < 0) {
        str_printf(st->why, st->whylen, "fork: %s", strerror(errno));
        if (pipefd[0] >= 0)
            close(pipefd[0]);
        goto done;
    }
    if (pipefd[0] >= 0) {
        collect(pipefd[0], st);
        close(pipefd[0]);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            str_printf(st->why, st->whylen, "waitpid: %s", strerror(errno));
            goto done;
        }
    }
    str_printable(shown, sizeof shown, argv[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        ok = true;
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 126)
        str_printf(st->why, st->whylen, "%s could not be started", shown);
    else if (WIFEXITED(status))
        str_printf(st->why, st->whylen, "%s exited with status %d", shown, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        str_printf(st->why, st->whylen, "%s was killed by signal %d", shown, WTERMSIG(status));
    else
        str_printf(st->why, st->whylen, "%s ended abnormally", shown);
done:
    for (int i = 0; i < w->count; i++)
        free(argv[i]);
    return ok;
}

/* Runs tmpl, whose placeholders are names, with values. */
static bool run_template(const char *tmpl, const char *const *names,
                         const struct placeholder *values, char **out, size_t out_max, char *why,
                         size_t whylen)
{
    struct run_state st = {
        .values = values, .out = out, .out_max = out_max, .why = why, .whylen = whylen};
    fflush(stdout);
    return each_command(tmpl, names, why, whylen, run_one, &st);
}

bool command_run(const char *tmpl, const char *queue_id, char **out, size_t out_max, char *why,
                 size_t whylen)
{
    const struct placeholder values[] = {{"{queue_id}", queue_id, "a queue id"},
                                         {NULL, NULL, NULL}};

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (out != NULL) {
        *out = xmalloc(1);
        (*out)[0] = '\0';
    }
    if (queue_id != NULL && !command_queue_id_valid(queue_id)) {
        str_printf(why, whylen, "not a queue id (letters and digits only)");
        return false;
    }
    return run_template(tmpl, queue_placeholders, values, out, out_max, why, whylen);
}

bool command_host_valid(const char *host)
{
    size_t len = host != NULL ? strlen(host) : 0;

    return len > 0 && len <= 255 && host[0] != '-' &&
           strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == len;
}

bool command_run_remote(const char *tmpl, const char *host, const char *queue_id,
                        const char *action, char *why, size_t whylen)
{
    const struct placeholder values[] = {{"{host}", host, "a host"},
                                         {"{queue_id}", queue_id, "a queue id"},
                                         {"{action}", action, "an action"},
                                         {NULL, NULL, NULL}};

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (!command_host_valid(host)) {
        str_printf(why, whylen, "not a host name a command may be given");
        return false;
    }
    if (!command_queue_id_valid(queue_id)) {
        str_printf(why, whylen, "not a queue id (letters and digits only)");
        return false;
    }
    if (action == NULL || (strcmp(action, "release") != 0 && strcmp(action, "reject") != 0)) {
        str_printf(why, whylen, "the action is release or reject");
        return false;
    }
    return run_template(tmpl, remote_placeholders, values, NULL, 0, why, whylen);
}
