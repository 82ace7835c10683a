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

/* The database and its WAL companions must stay writable after we give up root. */
void runas_chown_database(const char *database, const struct runas *a)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s", database, suffixes[i]);
        if (chown(path, a->uid, a->gid) != 0 && errno != ENOENT)
            log_msg(LOG_WARNING, "chown %s: %s", path, strerror(errno));
    }
}

/* The directory of the database file ("." for a bare name). */
static void database_dir(const char *database, char *dir, size_t dirlen)
{
    str_copy(dir, dirlen, database);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        str_copy(dir, dirlen, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
}

static bool runas_in_group(const struct runas *a, gid_t gid)
{
    for (int i = 0; i < a->ngroups; i++)
        if (a->groups[i] == gid)
            return true;
    return false;
}

/* Can the account create files in a directory of this owner and mode? */
static bool runas_can_write(const struct runas *a, const struct stat *st)
{
    if (a->uid == 0)
        return true;
    if (st->st_uid == a->uid)
        return (st->st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
    if (runas_in_group(a, st->st_gid))
        return (st->st_mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);
    return (st->st_mode & (S_IWOTH | S_IXOTH)) == (S_IWOTH | S_IXOTH);
}

static void owner_name(uid_t uid, char *out, size_t outlen)
{
    const struct passwd *pw = getpwuid(uid);
    if (pw != NULL)
        str_copy(out, outlen, pw->pw_name);
    else
        str_printf(out, outlen, "uid %u", (unsigned)uid);
}

/*
 * The database's directory, the state directory.  Whoever can create files there can plant the
 * -wal or -shm file SQLite opens beside the database, or replace the database itself, and the
 * milter would read greylisting and lists from it: so it must not be writable by every user
 * (sticky bit or not), and must belong to root or to the account the milter runs as, another
 * owner being able to do the same.  And it must be writable by that account, since SQLite creates
 * the database and its -wal and -shm files there, again at each reopening after a start as root.
 * Group-writable is the admin's choice (a shared group with ingressctl's users).
 */
static bool state_dir_check(const struct config *cfg, const struct runas *a, char *err,
                            size_t errlen)
{
    char dir[4096], owner[64];
    struct stat st;

    database_dir(cfg->database, dir, sizeof dir);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        str_printf(err, errlen,
                   "database %s: its directory %s does not exist (create it for %s, mode 0750)",
                   cfg->database, dir, a->name);
        return false;
    }
    if ((st.st_mode & S_IWOTH) != 0) {
        str_printf(err, errlen,
                   "database %s: its directory %s is writable by every user (mode %04o): another "
                   "account could plant or replace the database files; use a directory of the "
                   "milter's own (mode 0750 or 0700)",
                   cfg->database, dir, (unsigned)(st.st_mode & 07777));
        return false;
    }
    owner_name(st.st_uid, owner, sizeof owner);
    if (st.st_uid != 0 && st.st_uid != a->uid) {
        str_printf(err, errlen,
                   "database %s: its directory %s is owned by %s, but milter-ingress runs as %s: "
                   "the owner could replace the database files; give it to %s (chown %s %s)",
                   cfg->database, dir, owner, a->name, a->name, a->name, dir);
        return false;
    }
    if (!runas_can_write(a, &st)) {
        str_printf(err, errlen,
                   "database %s: its directory %s (owner %s, mode %04o) is not writable by %s, "
                   "the account milter-ingress runs as, and SQLite creates the database and its "
                   "-wal and -shm files there (chown %s %s)",
                   cfg->database, dir, owner, (unsigned)(st.st_mode & 07777), a->name, a->name,
                   dir);
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
    return state_dir_check(cfg, a, err, errlen);
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
    runas_chown_database(database, a);
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
