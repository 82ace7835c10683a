/*
 * greylist: greylisting of (client network, envelope sender, recipient) triplets, the
 * auto-allowlist of client networks, and the SPF+DKIM bypass (ARCHITECTURE.md "Greylisting").
 *
 * A triplet seen for the first time is deferred (451 4.7.1 greylisted) for greylist_delay; a
 * retry after the delay and within greylist_retry_window passes and confirms it; a confirmed
 * triplet passes for greylist_max_age after its last use.  A client network with autoallow_after
 * counted deliveries is no longer greylisted.  Mail whose MAIL FROM passed SPF is also keyed on
 * the SPF-pass domain, so a sender retrying from another network of its pool still matches.
 *
 * Greylisting relies on RFC 5321 4.5.4.1 (a client retries a transient failure); the
 * normalization of envelope senders undoes the per-message tags of BATV (draft-levine-smtp-batv),
 * SRS (the Sender Rewriting Scheme, SRS0/SRS1) and VERP so that a sender's next message matches.
 *
 * Time is a parameter (unix seconds) of every function; nothing here reads the clock.  All
 * functions are reentrant; the store serializes its own access (store.h).
 */
#ifndef INGRESS_GREYLIST_H
#define INGRESS_GREYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "verdict.h"

#define GREYLIST_LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1; longer local parts are hashed */
#define GREYLIST_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2; longer domains are hashed */
#define GREYLIST_ADDR_MAX (GREYLIST_LOCAL_MAX + 1 + GREYLIST_DOMAIN_MAX)
#define GREYLIST_INPUT_MAX 2048 /* bytes of an address read at most; the rest is ignored */
#define GREYLIST_NETWORK_MAX 64 /* "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" fits */
/* Deliveries of one network are counted at most once per this many seconds (autoallow_after). */
#define GREYLIST_AUTOALLOW_SPACING 3600
/*
 * A confirmed triplet's last use (last_seen, and its count) is written at most once per this many
 * seconds (or half of greylist_max_age, if shorter): a pass within it is a read only.  So a
 * triplet expires between greylist_max_age minus this and greylist_max_age after its real last
 * use.
 */
#define GREYLIST_REFRESH_AFTER 3600

/* A normalized triplet; every field NUL-terminated, never longer than its array. */
struct greylist_key {
    char network[GREYLIST_NETWORK_MAX];    /* "192.0.2.0/24", "2001:db8:1:2::/64", "unknown" */
    char sender[GREYLIST_ADDR_MAX + 1];    /* normalized; "<>" for the null sender */
    char recipient[GREYLIST_ADDR_MAX + 1]; /* lower case */
};

/*
 * Builds the key of one RCPT (pure: no store, no clock; safe on any input).  client_ip is the
 * address as text (IPv4, IPv6, IPv4-mapped IPv6; "[...]" and an "IPv6:" prefix are accepted);
 * NULL, "" or anything else gives network "unknown".  sender and recipient are the SMTP
 * arguments with or without <>, may be NULL; they are untrusted and read up to
 * GREYLIST_INPUT_MAX bytes.  Prefix lengths outside 1..32 / 1..128 are clamped.
 */
void greylist_key_make(struct greylist_key *key, const char *client_ip, const char *sender,
                       const char *recipient, long ipv4_prefix, long ipv6_prefix);

/*
 * The parts of greylist_key_make(), exposed for tests and fuzzing.  out must hold
 * GREYLIST_ADDR_MAX + 1 (addresses) or GREYLIST_NETWORK_MAX (networks) bytes.
 *
 * An address is normalized in this order:
 *  1. at most GREYLIST_INPUT_MAX bytes are read; surrounding white space and one pair of <> go,
 *     and so does an RFC 5321 source route ("@a,@b:");
 *  2. quoted strings are unquoted (RFC 5321 4.1.2 quoted-pair resolved), RFC 5322 comments
 *     "(...)" and white space outside quotes are removed, control bytes are removed everywhere;
 *  3. ASCII is lowered; other bytes are kept (SMTPUTF8: no Unicode case folding), except bytes
 *     that are not valid UTF-8, which become '?';
 *  4. the domain is what follows the last '@' outside quotes, trailing dots removed;
 *  5. senders only (tags that change from message to message):
 *     - BATV "prvs=TAG=local" and "msprvs1=TAG=local" -> "local";
 *     - SRS "SRS0=HASH=TT=domain=local@forwarder" -> "local@domain"; "SRS1=HASH=forwarder=
 *       =HASH=TT=domain=local@forwarder2" -> "local@domain" (separator after SRS0/SRS1 may be
 *       '=', '+' or '-'); both rules repeat, at most 4 rounds, for nested forms;
 *     - subaddress: everything from the first '+' after the first character is dropped
 *       ("user+news" -> "user", "list-bounces+user=example.com" -> "list-bounces"): the tag is
 *       chosen by the sender, often per message, and says nothing about who sends;
 *     - VERP: in a local part with separators ('-', '.', '_', '=', '+'), every part between
 *       separators that is all digits, or 8+ letters and digits with at least one of each (a
 *       hash), becomes '#': "bounce-12345-user=example.com" -> "bounce-#-user=example.com".  A
 *       local part without separators is kept whole (numeric mailboxes such as 12345@qq.com);
 *  6. a local part longer than GREYLIST_LOCAL_MAX, or a domain longer than GREYLIST_DOMAIN_MAX,
 *     is replaced by '#' and 16 hex digits of its 64-bit FNV-1a hash (distinct, bounded);
 *  7. nothing left (or the input "<>", NULL or "") gives "<>".
 */
void greylist_normalize_sender(const char *in, char *out);
/* Steps 1-4, 6 and 7 of the above: no tag is removed from a recipient. */
void greylist_normalize_recipient(const char *in, char *out);
/* The client's network as text, host bits cleared: "192.0.2.0/24"; "unknown" when not an IP. */
void greylist_network(const char *client_ip, long ipv4_prefix, long ipv6_prefix, char *out);

enum greylist_outcome {
    GREYLIST_PASS,          /* a confirmed triplet: matched, or confirmed by this call */
    GREYLIST_AUTOALLOWED,   /* the client network has autoallow_after counted deliveries */
    GREYLIST_GREYLISTED,    /* defer; the result says in how many seconds a retry passes */
    GREYLIST_OFF,           /* greylist = no: nothing was read or written */
    GREYLIST_STORE_FAILURE, /* could not tell: the store was busy or failed; nothing written */
};

struct greylist_result {
    enum greylist_outcome outcome;
    int64_t retry_in;                /* GREYLISTED: seconds until a retry passes (>= 1) */
    bool confirmed_now;              /* PASS: this call confirmed the triplet */
    bool via_spf;                    /* PASS: matched the triplet keyed on the SPF-pass domain */
    bool early_retry;                /* GREYLISTED: seen before, not a first sight */
    enum store_status store_status;  /* STORE_FAILURE: STORE_BUSY or STORE_ERROR */
    char detail[VERDICT_DETAIL_MAX]; /* what was seen, escaped: for logs and `ingressctl why` */
};

/*
 * Checks and updates one triplet in one store transaction (read, decide and write as one step):
 *  - autoallow_after > 0 and the network has that many counted deliveries: AUTOALLOWED;
 *  - a confirmed triplet last used at most greylist_max_age ago: PASS (last use recorded when
 *    the recorded one is GREYLIST_REFRESH_AFTER old);
 *  - a pending triplet first seen at least greylist_delay and at most greylist_retry_window ago:
 *    PASS, and the triplet is confirmed (a window shorter than the delay counts as the delay);
 *  - a pending triplet seen less than greylist_delay ago: GREYLISTED with the seconds left
 *    (first_seen is kept);
 *  - otherwise (new, or its window or max age is over): recorded as new, GREYLISTED for
 *    greylist_delay (greylist_delay = 0: confirmed at once, PASS).
 * spf_pass_domain is the MAIL FROM domain (or the HELO domain for the null sender) for which SPF
 * gave pass, NULL otherwise.  When given, the triplet is also keyed on (that domain, sender,
 * recipient), pending and confirmed alike, so a retry or a later message from another network of
 * the same sender's pool matches when SPF passes again.
 * Every PASS and AUTOALLOWED is a delivery for the network's count (at most one per
 * GREYLIST_AUTOALLOW_SPACING; networks "unknown" are never auto-allowed).
 * key and spf_pass_domain are borrowed for the call; result is written in full.  Returns
 * result->outcome.
 */
enum greylist_outcome greylist_check(struct store *s, const struct config *cfg,
                                     const struct greylist_key *key, const char *spf_pass_domain,
                                     int64_t now, struct greylist_result *result);

/*
 * The bypass (SPF pass and an aligned valid DKIM signature): records the triplet
 * (and its SPF-domain twin when spf_pass_domain is given) as confirmed without any delay, and
 * counts a delivery.  PASS, OFF or STORE_FAILURE.
 */
enum greylist_outcome greylist_confirm(struct store *s, const struct config *cfg,
                                       const struct greylist_key *key, const char *spf_pass_domain,
                                       int64_t now, struct greylist_result *result);

/*
 * The verdict of a result: GREYLISTED -> TEMPFAIL "greylisted" (451 4.7.1, "retry in N
 * seconds"); STORE_FAILURE -> TEMPFAIL "store_failure" (451 4.3.0), or CONTINUE when fail_open;
 * everything else CONTINUE.  The detail names the triplet (escaped).
 */
struct verdict greylist_verdict(const struct greylist_result *result,
                                const struct greylist_key *key, const struct config *cfg);

/*
 * Expiry, for the daemon's background thread: deletes pending triplets first seen more than
 * greylist_retry_window before now, confirmed ones last used more than greylist_max_age before
 * now, and auto-allowed networks last counted more than greylist_max_age before now; at most
 * batch rows (0: greylist_expire_batch) in one transaction.  Pending triplets and networks are
 * found by index; confirmed triplets by a sweep that examines the batch's remainder in key order
 * from where the last call stopped (store_greylist_expire), so a full pass over N triplets takes
 * about N / batch calls.  Call it periodically (every few seconds), and again at once while
 * *deleted equals the batch.  A row not yet deleted is harmless: checks compare times exactly.
 * err as in store.h.
 */
enum store_status greylist_expire(struct store *s, const struct config *cfg, int64_t now,
                                  size_t batch, size_t *deleted, struct store_error *err);

/* "pass", "autoallowed", "greylisted", "off", "store_failure". */
const char *greylist_outcome_name(enum greylist_outcome outcome);

#endif
