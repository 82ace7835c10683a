/*
 * milter: the libmilter side.  callbacks.c turns callbacks into policy calls; reply.c is the one
 * function that sends a reply (ARCHITECTURE.md "Verdicts and replies").  Nothing here decides
 * policy.
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

/* Connections open right now, and those of them inside a transaction (MAIL FROM accepted, end
 * of message or abort not yet seen): SIGTERM waits for the transactions. */
extern atomic_int milter_active_connections;
extern atomic_int milter_transactions;

/* From now on a new connection gets TEMPFAIL and a new MAIL FROM 421 4.3.2 (shutting_down), so
 * that the transactions in flight are the last; called once, at SIGTERM. */
void milter_drain_begin(void);

/*
 * Applies a verdict to the SMTP transaction: checks that the reply's code agrees with the action,
 * renders the text with the reference and help text, escapes '%' for libmilter, strips CR/LF,
 * calls smfi_setreply, records the decision (log + store) and returns the SMFIS_* status.
 */
sfsistat reply_send(SMFICTX *ctx, struct policy_conn *conn, const struct config *cfg,
                    const struct verdict *v);

#endif
