/*
 * milter: the libmilter side.  callbacks.c turns callbacks into policy calls; reply.c is the one
 * function that sends a reply (STYLE rule 8).  Nothing here decides policy.
 */
#ifndef INGRESS_MILTER_H
#define INGRESS_MILTER_H

#include <libmilter/mfapi.h>
#include <stdatomic.h>

#include "policy.h"
#include "runtime.h"
#include "verdict.h"

/* The filter description given to smfi_register. */
extern struct smfiDesc milter_desc;

/* Connections open right now (for a clean SIGTERM). */
extern atomic_int milter_active_connections;

/*
 * Applies a verdict to the SMTP transaction: checks that the reply's code agrees with the action,
 * renders the text with the reference and help text, escapes '%' for libmilter, strips CR/LF,
 * calls smfi_setreply, records the decision (log + store) and returns the SMFIS_* status.
 */
sfsistat reply_send(SMFICTX *ctx, struct policy_conn *conn, const struct config *cfg,
                    const struct verdict *v);

#endif
