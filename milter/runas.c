/*
 * runas: who milter-ingress runs as, the state directory's checks, and the switch from root
 * (runas.h).
 */
#include "runas.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "util.h"

void runas_free(struct runas *a)
{
    free(a->groups);
    a->groups = NULL;
    a->ngroups = 0;
}

/* "FILE:LINE: " of the line that set option name, or "" when it came from -o or the defaults. */
static void option_where(const struct config *cfg, const char *name, char *out, size_t outlen)
{
    char where[512];
    if (config_option_origin(cfg, name, where, sizeof where))
        str_printf(out, outlen, "%s: ", where);
    else
        str_copy(out, outlen, "");
}

static bool runas_groups(struct runas *a, const char *user)
{
    int n = 16;
    for (int tries = 0; tries < 2; tries++) {
        free(a->groups);
        a->groups = xcalloc((size_t)n + 1, sizeof *a->groups);
        if (user != NULL) {
            if (getgrouplist(user, a->gid, a->groups, &n) >= 0) {
                a->ngroups = n;
                return true;
            }
            continue; /* n is now the number needed */
        }
        int got = getgroups(n, a->groups);
        if (got >= 0) {
            a->groups[got] = getegid();
            a->ngroups = got + 1;
            return true;
        }
        n = getgroups(0, NULL);
        if (n < 0)
            break;
    }
    return false;
}

bool runas_resolve(const struct config *cfg, struct runas *a, char *err, size_t errlen)
{
    char where[600];
    struct passwd *pw = NULL;

    memset(a, 0, sizeof *a);
    if (cfg->user[0] != '\0') {
        pw = getpwnam(cfg->user);
        if (pw == NULL) {
            option_where(cfg, "user", where, sizeof where);
            str_printf(err, errlen,
                       "%suser: no account named \"%s\": create it (adduser --system --group "
                       "%s) or name an existing one",
                       where, cfg->user, cfg->user);
            return false;
        }
    }
    a->switch_to = geteuid() == 0 && pw != NULL;
    a->uid = a->switch_to ? pw->pw_uid : geteuid();
    a->gid = a->switch_to ? pw->pw_gid : getegid();
    if (cfg->group[0] != '\0') {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL) {
            option_where(cfg, "group", where, sizeof where);
            str_printf(err, errlen, "%sgroup: no group named \"%s\" on this system", where,
                       cfg->group);
            return false;
        }
        if (a->switch_to)
            a->gid = gr->gr_gid;
    }
    if (a->switch_to) {
        str_copy(a->name, sizeof a->name, pw->pw_name);
    } else {
        const struct passwd *self = getpwuid(a->uid);
        if (self != NULL)
            str_copy(a->name, sizeof a->name, self->pw_name);
        else
            str_printf(a->name, sizeof a->name, "uid %u", (unsigned)a->uid);
    }
    if (!runas_groups(a, a->switch_to ? a->name : NULL)) {
        str_printf(err, errlen, "cannot read the groups of %s: %s", a->name, strerror(errno));
        runas_free(a);
        return false;
    }
    return true;
}

/*
 * Checked before anything is opened.  A milter parses hostile input all day: as root, one bug is
 * the whole machine.  So root without user = ... is refused unless the admin says allow_root.
 */
bool runas_startup_checks(const struct config *cfg, const struct runas *a, char *err, size_t errlen)
{
    if (geteuid() == 0 && cfg->user[0] == '\0' && !cfg->allow_root) {
        str_printf(err, errlen,
                   "started as root with no user set: set user = ACCOUNT (the socket and database "
                   "are opened first, then privileges are dropped), or allow_root = yes to run as "
                   "root anyway");
        return false;
    }
    struct store_runas who = {
        .name = a->name, .uid = a->uid, .groups = a->groups, .ngroups = a->ngroups};
    struct store_error why;
    if (!store_check_location(cfg->database, &who, &why)) {
        str_copy(err, errlen, why.text);
        return false;
    }
    return true;
}

bool runas_switch(const struct runas *a, const char *socket_file, const char *database, char *err,
                  size_t errlen)
{
    if (geteuid() != 0)
        return true;
    if (!a->switch_to) {
        log_msg(LOG_WARNING, "running as root (allow_root = yes): set user = ... to drop "
                             "privileges");
        return true;
    }
    if (socket_file != NULL && chown(socket_file, a->uid, a->gid) != 0)
        log_msg(LOG_WARNING, "chown %s: %s", socket_file, strerror(errno));
    store_set_owner(database, a->uid, a->gid);
    if (initgroups(a->name, a->gid) != 0 || setgid(a->gid) != 0 || setuid(a->uid) != 0) {
        snprintf(err, errlen, "cannot switch to user %s: %s", a->name, strerror(errno));
        return false;
    }
    if (setuid(0) == 0) {
        snprintf(err, errlen, "privileges were not dropped (setuid(0) still works)");
        return false;
    }
    log_msg(LOG_INFO, "running as user %s", a->name);
    return true;
}
