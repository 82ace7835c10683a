/*
 * runas: who milter-ingress runs as, and what that account needs before anything is opened.
 *
 * Started as root with `user` set, the daemon opens its socket and database, then switches to
 * that user (and `group`); otherwise it stays the account that started it.  The account is looked
 * up first, and the state directory (the database's) checked against it, so that a start that
 * cannot work stops with exit 2 before a socket or database file is created (`-t` does the
 * lookup too).  Used by the main thread only, before any other thread exists or at a reload.
 */
#ifndef INGRESS_RUNAS_H
#define INGRESS_RUNAS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* The account the milter runs as once started: `user` (with `group`) when started as root, its
 * own otherwise.  Filled by runas_resolve(), emptied by runas_free(). */
struct runas {
    bool switch_to; /* started as root with user set: open the socket and database, then switch */
    uid_t uid;
    gid_t gid;
    char name[64]; /* the user name, or "uid N" */
    gid_t *groups; /* every group of the account (primary and supplementary) */
    int ngroups;
};

/* Looks the account up (user and group must exist, whoever runs the check); false with the reason,
 * naming FILE:LINE of the option that set it, in err. */
bool runas_resolve(const struct config *cfg, struct runas *a, char *err, size_t errlen);
/* Frees what runas_resolve() allocated; a second call is a no-op. */
void runas_free(struct runas *a);

/* The checks of a start, before anything is opened: root without `user` refused unless
 * allow_root, and the place the database value names (store_check_location). */
bool runas_startup_checks(const struct config *cfg, const struct runas *a, char *err,
                          size_t errlen);

/* Started as root with `user`: gives the socket file (socket_file, NULL for inet) and the
 * database to the account, then switches to it for good; as root without `user` it warns; not
 * root, nothing to do.  False with the reason in err. */
bool runas_switch(const struct runas *a, const char *socket_file, const char *database, char *err,
                  size_t errlen);

#endif
