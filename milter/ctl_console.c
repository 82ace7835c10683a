/*
 * ctl_console: `ingressctl console-user add|del|list` edits the console's users file
 * (console_users_file; milter/console_users.c).  A password is read from standard input, one
 * line, never from the command line, where ps and the shell's history would show it.  A webmail
 * integration's key (--role webmail) is made here from 256 random bits and printed once, unless
 * standard input gives one; only its hash is kept.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "console_users.h"
#include "ctl.h"
#include "ctl_verbs.h"
#include "util.h"

#define CONSOLE_PASSWORD_MIN 8
#define CONSOLE_KEY_MIN 16   /* characters of a webmail key given on standard input */
#define CONSOLE_KEY_BYTES 32 /* random bytes of a key made here, printed as hex */

/* One line of stdin into buf, without its line end; false when empty or too long. */
static bool read_password(char *buf, size_t buflen)
{
    if (fgets(buf, (int)buflen, stdin) == NULL)
        return false;
    size_t len = strcspn(buf, "\r\n");
    if (buf[len] == '\0' && !feof(stdin))
        return false; /* longer than the buffer */
    buf[len] = '\0';
    return len >= CONSOLE_PASSWORD_MIN;
}

/* A webmail key: the line on standard input, or made here when there is none (a terminal, or
 * no line at all).  *made says which. */
static bool key_read(char *key, size_t keylen, bool *made)
{
    *made = isatty(STDIN_FILENO) || fgets(key, (int)keylen, stdin) == NULL;
    if (!*made) {
        size_t len = strcspn(key, "\r\n");
        if (key[len] == '\0' && !feof(stdin))
            return false; /* longer than the buffer */
        key[len] = '\0';
        if (len == 0)
            *made = true;
        else
            return len >= CONSOLE_KEY_MIN && strchr(key, ':') == NULL;
    }
    return console_random_hex(key, CONSOLE_KEY_BYTES);
}

static int user_add(struct ctl *ctl, const struct ctl_args *a, const char *path)
{
    enum console_role role = CONSOLE_ROLE_SUPPORT;
    char password[CONSOLE_PASSWORD_MAX + 2], why[512];
    bool made = false;

    if (a->npos != 2 || !console_user_name_valid(a->pos[1]))
        return ctl_usage_error(ctl, "console-user add: wrong arguments (console-user add NAME "
                                    "[--role postmaster|support|webmail] [--domains D,...], NAME: "
                                    "letters, digits, .-_@)");
    if (a->role != NULL && !console_role_parse(a->role, &role))
        return ctl_usage_error(ctl, "console-user add: --role is postmaster, support or webmail");
    if (a->domains != NULL &&
        (role != CONSOLE_ROLE_WEBMAIL || !console_users_domains_valid(a->domains)))
        return ctl_usage_error(ctl, "console-user add: --domains (a webmail key's only): mail "
                                    "domains in lower case, separated by commas");
    bool ok = role == CONSOLE_ROLE_WEBMAIL ? key_read(password, sizeof password, &made)
                                           : read_password(password, sizeof password);
    if (!ok) {
        explicit_bzero(password, sizeof password);
        if (role == CONSOLE_ROLE_WEBMAIL)
            return ctl_usage_error(ctl,
                                   "console-user add: a webmail key on standard input is one "
                                   "line of %d to %d characters without ':' (or none, to make one)",
                                   CONSOLE_KEY_MIN, CONSOLE_PASSWORD_MAX);
        return ctl_usage_error(ctl,
                               "console-user add: the password is one line on standard "
                               "input, %d to %d characters",
                               CONSOLE_PASSWORD_MIN, CONSOLE_PASSWORD_MAX);
    }
    ok = console_users_set(path, a->pos[1], role, password, a->domains, why, sizeof why);
    if (!ok) {
        explicit_bzero(password, sizeof password);
        fprintf(stderr, "ingressctl: console-user add: %s\n", why);
        return CTL_EXIT_ERROR;
    }
    printf("%s: %s%s%s\n", a->pos[1], console_role_name(role), a->domains != NULL ? " " : "",
           a->domains != NULL ? a->domains : "");
    /* Only the hash is kept: a key made here is shown this once, as the header that carries it. */
    if (made)
        printf("Authorization: Bearer %s:%s\n", a->pos[1], password);
    explicit_bzero(password, sizeof password);
    return CTL_EXIT_OK;
}

int ctl_verb_console_user(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    char why[512];
    const char *path = ctl->cfg->console_users_file;
    int status = ctl_split_args(ctl, argc, argv, 3, "--role --domains", &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos >= 1 && strcmp(a.pos[0], "add") == 0)
        return user_add(ctl, &a, path);
    if (a.npos == 2 && strcmp(a.pos[0], "del") == 0 && a.role == NULL && a.domains == NULL) {
        int r = console_users_del(path, a.pos[1], why, sizeof why);
        if (r < 0)
            fprintf(stderr, "ingressctl: console-user del: %s\n", why);
        else if (r == 0)
            fprintf(stderr, "no console user %s\n", str_printable(why, sizeof why, a.pos[1]));
        else
            printf("deleted %s\n", a.pos[1]);
        return r > 0 ? CTL_EXIT_OK : r == 0 ? CTL_EXIT_NOTFOUND : CTL_EXIT_ERROR;
    }
    if (a.npos == 1 && strcmp(a.pos[0], "list") == 0 && a.role == NULL && a.domains == NULL) {
        if (console_users_list(path, stdout, why, sizeof why))
            return CTL_EXIT_OK;
        fprintf(stderr, "ingressctl: console-user list: %s\n", why);
        return CTL_EXIT_ERROR;
    }
    return ctl_usage_error(
        ctl, "console-user: expected add NAME [--role R] [--domains D,...], del NAME or list");
}
