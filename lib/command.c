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

#define PLACEHOLDER "{queue_id}"

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

/* Every '{' must open PLACEHOLDER. */
static bool placeholders_known(const char *word, char *why, size_t whylen)
{
    for (const char *p = strchr(word, '{'); p != NULL; p = strchr(p + 1, '{')) {
        if (strncmp(p, PLACEHOLDER, strlen(PLACEHOLDER)) != 0) {
            char shown[128];
            str_printf(why, whylen, "unknown placeholder in \"%s\" (only %s is known)",
                       str_printable(shown, sizeof shown, word), PLACEHOLDER);
            return false;
        }
    }
    return true;
}

/* Calls fn for each command of the template; stops at the first false. */
static bool each_command(const char *tmpl, char *why, size_t whylen,
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
            ok = placeholders_known(w->word[i], why, whylen);
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
    return each_command(tmpl, why, whylen, accept_command, NULL);
}

/* word with every PLACEHOLDER replaced by value (malloc'd). */
static char *expand(const char *word, const char *value)
{
    size_t plen = strlen(PLACEHOLDER), vlen = strlen(value), n = 0;
    for (const char *p = strstr(word, PLACEHOLDER); p != NULL; p = strstr(p + plen, PLACEHOLDER))
        n++;
    char *out = xmalloc(strlen(word) + n * vlen + 1), *o = out;
    for (const char *p = word; *p != '\0';) {
        if (strncmp(p, PLACEHOLDER, plen) == 0) {
            memcpy(o, value, vlen);
            o += vlen;
            p += plen;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
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
    const char *queue_id;
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
        if (strstr(w->word[i], PLACEHOLDER) != NULL && st->queue_id == NULL) {
            str_printf(st->why, st->whylen, "%s: the command needs a queue id", w->word[0]);
            goto done;
        }
        argv[i] = expand(w->word[i], st->queue_id ? st->queue_id : "");
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

bool command_run(const char *tmpl, const char *queue_id, char **out, size_t out_max, char *why,
                 size_t whylen)
{
    struct run_state st = {
        .queue_id = queue_id, .out = out, .out_max = out_max, .why = why, .whylen = whylen};
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
    fflush(stdout);
    return each_command(tmpl, why, whylen, run_one, &st);
}
