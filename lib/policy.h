/*
 * policy: one SMTP connection's checks, MTA-independent (ARCHITECTURE.md "One connection").
 * milter/callbacks.c calls
 * these in callback order and turns the verdicts into replies; nothing here knows libmilter, so a
 * test drives a whole connection without an MTA.
 *
 * A struct policy_conn is used by one callback at a time (libmilter serializes a connection's
 * callbacks, possibly on different threads); it holds copies of everything it keeps.
 */
#ifndef INGRESS_POLICY_H
#define INGRESS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "iprev.h"
#include "orgdomain.h"
#include "spf.h"
#include "store.h"
#include "verdict.h"

/* What a connection needs from the running daemon; borrowed for the connection's life. */
struct policy_env {
    const struct config *cfg;
    struct dns_resolver *resolver;
    struct store *store;
    struct dkim_verifier *dkim;        /* NULL: no DKIM verification */
    struct spf_checker *spf;           /* NULL: no SPF */
    struct lists_cache *lists;         /* NULL: no block/allow lists */
    const struct orgdomain *orgdomain; /* the Public Suffix List; NULL: nothing aligns */
    struct throttle *throttle;         /* NULL: no submission throttle (it outlives reloads) */
    const char *authserv_id;    /* cfg->authserv_id, or this host's name when that is empty */
    const char *host_name;      /* cfg->host_name, or this host's name: the decision log's host */
    time_t (*clock)(void *arg); /* NULL: time(NULL) */
    void *clock_arg;
};

#define POLICY_ADDR_MAX 320 /* RFC 5321 4.5.3.1.3 path: 256, with room for brackets */
#define POLICY_REF_LEN 16   /* base32 characters: 80 random bits */

struct policy_conn;
struct lists_cache;
struct throttle;

/* client_ip NULL or "" when the MTA does not know it; client_name as the MTA reports it. */
struct policy_conn *policy_conn_new(const struct policy_env *env, const char *client_name,
                                    const char *client_ip);
void policy_conn_free(struct policy_conn *c);

/* The reference printed in replies ("ref 7KQ2M9XAB4TZRWQ5") and accepted by `ingressctl why`. */
const char *policy_conn_ref(const struct policy_conn *c);

void policy_helo(struct policy_conn *c, const char *helo);

/* Sets the MTA queue id ({i}); NULL or "" leaves the current one. */
void policy_set_queue_id(struct policy_conn *c, const char *queue_id);
/* The queue id for log lines: "NOQUEUE" until the MTA gave one. */
const char *policy_queue_id(const struct policy_conn *c);

/* MAIL FROM: starts a new message (resets the last one's state: no abort follows an early
 * REJECT or TEMPFAIL). */
struct verdict policy_mail(struct policy_conn *c, const char *sender, const char *auth_account);
/* One RCPT TO. */
struct verdict policy_rcpt(struct policy_conn *c, const char *recipient);
/*
 * One header.  Returns true when the header must be removed: an Authentication-Results that
 * claims our authserv-id, or an X-Ingress-DMARC (DMARC_HEADER_NAME) of a message DMARC is
 * evaluated for.  *index gets its 1-based position among headers of that name (what
 * smfi_chgheader wants).
 */
bool policy_header(struct policy_conn *c, const char *name, const char *value, int *index);
/* End of the header section. */
void policy_eoh(struct policy_conn *c);
/* One chunk of the body; returns false when the rest of the body is not needed. */
bool policy_body(struct policy_conn *c, const unsigned char *data, size_t len);
/*
 * End of message: the final verdict; authres gets our Authentication-Results value.  An accepted
 * message is recorded here (one decision row per accepted recipient); when that write fails the
 * verdict becomes store_failure (451) unless fail_open says to accept anyway.
 */
struct verdict policy_eom(struct policy_conn *c, char *authres, size_t authres_len);
/*
 * After policy_eom() gave CONTINUE or HOLD: the value of the DMARC_HEADER_NAME header to add
 * (dmarc_quarantine_action or dmarc_reject_action = header, lib/dmarc.h), or false.
 */
bool policy_dmarc_header(const struct policy_conn *c, char *value, size_t len);
/*
 * After the MTA accepted to hold the message that policy_eom() gave VERDICT_HOLD (milter:
 * smfi_quarantine): records it in the store's held table for the postmaster's review.  CONTINUE,
 * or a store_failure TEMPFAIL when the row could not be written (the message must then not be
 * accepted: nobody could find it).
 */
struct verdict policy_hold_commit(struct policy_conn *c);

/*
 * What each check found in the current message so far, in the words of the decision log's
 * details: fn(check, found) for the client's trust or authentication, iprev, DNSBL, SPF (HELO,
 * MAIL FROM), greylisting, DKIM and DMARC, each that ran, in that order (`ingressctl check`
 * prints them).  Waits for the client's PTR lookup when no recipient has needed it yet.
 */
void policy_findings(struct policy_conn *c,
                     void (*fn)(const char *check, const char *found, void *arg), void *arg);

/* The message was aborted: forget it, keep the connection. */
void policy_abort(struct policy_conn *c);

/*
 * Writes a refusal (or any verdict the MTA is told) to the log, one line with the queue id first
 * and key=value pairs, and to the store's decision log.  reply is the full text the sender was
 * told.  The recipient is the current RCPT's when called at RCPT, none otherwise.
 */
void policy_record(struct policy_conn *c, const struct verdict *v, const char *reply);

#endif
