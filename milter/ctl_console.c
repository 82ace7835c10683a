/*
 * ctl_console: `ingressctl console-user add|del|list` edits the console's users file
 * (console_users_file; milter/console_users.c).  A password is read from standard input, one
 * line, never from the command line, where ps and the shell's history would show it.
 */
#include <stdio.h>
#include <string.h>

#include "console_users.h"
#include "ctl.h"
#include "ctl_verbs.h"
#include "util.h"

#define CONSOLE_PASSWORD_MIN 8

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

static int user_add(struct ctl *ctl, const struct ctl_args *a, const char *path)
{
    enum console_role role = CONSOLE_ROLE_SUPPORT;
    char password[CONSOLE_PASSWORD_MAX + 2], why[512];

    if (a->npos != 2 || !console_user_name_valid(a->pos[1]))
        return ctl_usage_error(ctl, "console-user add: wrong arguments (console-user add NAME "
                                    "[--role postmaster|support], NAME: letters, digits, .-_@)");
    if (a->role != NULL && !console_role_parse(a->role, &role))
        return ctl_usage_error(ctl, "console-user add: --role is postmaster or support");
    if (!read_password(password, sizeof password)) {
        explicit_bzero(password, sizeof password);
        return ctl_usage_error(ctl,
                               "console-user add: the password is one line on standard "
                               "input, %d to %d characters",
                               CONSOLE_PASSWORD_MIN, CONSOLE_PASSWORD_MAX);
    }
    bool ok = console_users_set(path, a->pos[1], role, password, why, sizeof why);
    explicit_bzero(password, sizeof password);
    if (!ok) {
        fprintf(stderr, "ingressctl: console-user add: %s\n", why);
        return CTL_EXIT_ERROR;
    }
    printf("%s: %s\n", a->pos[1], console_role_name(role));
    return CTL_EXIT_OK;
}

int ctl_verb_console_user(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_args a;
    char why[512];
    const char *path = ctl->cfg->console_users_file;
    int status = ctl_split_args(ctl, argc, argv, 3, "--role", &a);

    if (status != CTL_EXIT_OK)
        return status;
    if (a.npos >= 1 && strcmp(a.pos[0], "add") == 0)
        return user_add(ctl, &a, path);
    if (a.npos == 2 && strcmp(a.pos[0], "del") == 0 && a.role == NULL) {
        int r = console_users_del(path, a.pos[1], why, sizeof why);
        if (r < 0)
            fprintf(stderr, "ingressctl: console-user del: %s\n", why);
        else if (r == 0)
            fprintf(stderr, "no console user %s\n", str_printable(why, sizeof why, a.pos[1]));
        else
            printf("deleted %s\n", a.pos[1]);
        return r > 0 ? CTL_EXIT_OK : r == 0 ? CTL_EXIT_NOTFOUND : CTL_EXIT_ERROR;
    }
    if (a.npos == 1 && strcmp(a.pos[0], "list") == 0 && a.role == NULL) {
        if (console_users_list(path, stdout, why, sizeof why))
            return CTL_EXIT_OK;
        fprintf(stderr, "ingressctl: console-user list: %s\n", why);
        return CTL_EXIT_ERROR;
    }
    return ctl_usage_error(ctl, "console-user: expected add NAME [--role R], del NAME or list");
}
