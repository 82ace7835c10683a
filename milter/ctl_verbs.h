/*
 * ctl_verbs: the verbs of ingressctl, one function each, called from the verb table of
 * ingressctl.c with the arguments after the verb's name.  Each returns an exit status of
 * enum ctl_exit (ctl.h).
 */
#ifndef INGRESS_CTL_VERBS_H
#define INGRESS_CTL_VERBS_H

#include "ctl.h"

/* ctl_why.c */
int ctl_verb_why(struct ctl *ctl, int argc, char **argv);
/* ctl_check.c: the checks on a made-up session, nothing recorded */
int ctl_verb_check(struct ctl *ctl, int argc, char **argv);
/* ctl_stats.c */
int ctl_verb_stats(struct ctl *ctl, int argc, char **argv);
/* ctl_lists.c: the block/allow lists and the recipients' rules */
int ctl_verb_list(struct ctl *ctl, int argc, char **argv);
int ctl_verb_rule(struct ctl *ctl, int argc, char **argv);
/* ctl_unblock.c: a client address let through again */
int ctl_verb_unblock(struct ctl *ctl, int argc, char **argv);
/* ctl_accounts.c: submission accounts, their aliases, suspension and throttle */
int ctl_verb_alias(struct ctl *ctl, int argc, char **argv);
int ctl_verb_account(struct ctl *ctl, int argc, char **argv);
/* ctl_held.c: mail held for review */
int ctl_verb_held(struct ctl *ctl, int argc, char **argv);
/* ctl_dmarc.c: DMARC aggregate reports */
int ctl_verb_dmarc(struct ctl *ctl, int argc, char **argv);
/* ctl_store.c: a database copied into another (it opens both itself: ctl->store is NULL) */
int ctl_verb_store(struct ctl *ctl, int argc, char **argv);
/* ctl_console.c: the console's users file (it opens no database) */
int ctl_verb_console_user(struct ctl *ctl, int argc, char **argv);

#endif
