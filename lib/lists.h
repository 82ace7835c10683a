/*
 * lists: the postmaster's block and allow lists, DNS block and allow lists (RFC 5782), and the
 * recipients' own rules (ARCHITECTURE.md "One connection", "Reload").
 *
 * Three sources, three shapes:
 *
 * - List entries (store table list_entries, edited live by `ingressctl list`): kind, value, block,
 *   allow or greylist_exempt, an internal reason (the postmaster's notes: logs, `ingressctl why`,
 *   never a reply), an optional public text (the reply's), who added it, when, optional expiry. The
 * milter never queries them per message: lists_load() builds an immutable snapshot (struct lists)
 * with a prefix tree for the networks (lib/cidrtree.c: longest prefix wins, the same cost with 10
 * or 100,000 entries) and hash sets for the names.  Snapshots are shared between threads by
 * reference count, like the runtime; a struct lists_cache holds the current one and swaps in a new
 * one when the store's lists_version counter (bumped by triggers on every change) has moved, or an
 * entry expired.
 * - DNSBL/DNSWL zones (options dnsbl_zones, dnswl_zones: zone:codes): queried at connect on the
 *   connection's DNS batch, in parallel with the PTR query, joined when the first RCPT needs them.
 *   Only the configured answer codes are listings; any other answer (Spamhaus's 127.255.255.254
 *   "query refused" and friends) is logged and ignored, and a timeout or SERVFAIL never rejects.
 * - Recipient rules (store table rcpt_rules, `ingressctl rule`): (recipient, sender address or
 *   @domain, accept | reject), kept in the same snapshot (a hash set of "recipient sender" keys),
 *   so RCPT costs no store read; the table's triggers bump lists_version too (migration 008), so
 *   a user's change applies within lists_reload_interval, like a list entry's.
 *
 * Matching (all comparisons ASCII case-insensitive; values are stored in lower case):
 *   cidr           the client address; IPv4 and IPv6; the longest prefix containing it wins
 *   ptr_domain     the forward-confirmed PTR name (iprev pass), label-aligned suffix: example.com
 *                  matches example.com and mx.example.com, never badexample.com; with a leading
 *                  dot (.outbound.example) only the names under it, not the name itself
 *   helo_domain    the HELO name, label-aligned suffix as above (a leading dot too)
 *   ptr_regex      the forward-confirmed PTR name, a PCRE2 regular expression (caseless, as
 *                  given: "^mail[0-9]+\.example\.net$"), for rotating pools a suffix cannot
 *                  name; compiled once per snapshot, each match bounded by LISTS_REGEX_MATCH_LIMIT
 *                  and LISTS_REGEX_DEPTH_LIMIT: a match cut off is no match, counted and logged
 *   helo_regex     the HELO name, as ptr_regex
 *   recipient      the RCPT TO address, for greylist_exempt entries only (postgrey's
 *                  whitelist_recipients): "postmaster@" (that local part at any domain),
 *                  "user@example.com", or "example.com" (the domain and its subdomains); an
 *                  address with a +extension matches its base too (user+tag@ as user@)
 *   sender_domain  the domain of MAIL FROM, label-aligned suffix as above
 *   sender         the MAIL FROM address, exact.  The local part compares case-insensitively too:
 *                  RFC 5321 2.4 lets a host treat it as case-sensitive, but no mailbox provider
 *                  does, and a block of Spammer@ that misses spammer@ would be useless.
 * Within a kind the most specific entry wins (longest prefix, longest domain suffix; a name entry
 * before a regex, regexes in the order of their text), so a /32
 * allow inside a /24 block allows that host, and a /32 block inside a /24 allow blocks it.
 * Across kinds an allow beats a block (verdict_combine: allowlist > REJECT).  Expired entries are
 * not in the snapshot at all.  HELO and MAIL FROM are what the client claims: an allow on
 * helo_domain, sender_domain or sender can be claimed by anyone, so prefer cidr and ptr_domain
 * for allows.
 *
 * greylist_exempt entries are a table apart: they never shadow a block or an allow (a /32 exempt
 * inside a /24 block is still blocked), and they only ever skip greylisting: the DNSBLs, SPF,
 * iprev and every other check still run.  This is postgrey's whitelist_clients brought over.
 *
 * The reply of a block says what is refused: the client for cidr, ptr and helo entries
 * (blacklisted), the sender for sender and sender_domain entries (sender_blocked,
 * sender_domain_blocked); the entry's public text, when it has one, follows the reply table's
 * text.  The internal reason never reaches a reply.
 *
 * How the three combine at RCPT (lists_verdict):
 *   1. the recipient's reject rule                       -> 550 5.7.1 rule_reject
 *   2. rule lookup could not tell (no snapshot yet)      -> 451 store_failure (accept: fail_open)
 *   3. an allow entry matches                            -> ACCEPT: skips every further check
 *   4. a block entry matches                             -> 554 5.7.1 blacklisted (550 5.7.1
 *      sender_blocked, sender_domain_blocked), unless the recipient's accept rule matches and
 *      rcpt_rules_override_blocks = yes
 *   5. the recipient's accept rule                       -> continue, no greylisting, no DNSBL
 *   6. a DNSWL listing                                   -> continue, no greylisting, no DNSBL
 *   7. a DNSBL listing                                   -> 554 5.7.1 dnsbl
 *   8. a greylist_exempt entry matches                   -> continue, no greylisting
 * A recipient's reject comes first: it is that user's own mailbox, and it only refuses mail.
 *
 * Threads: a struct lists is immutable; lists_ref/lists_unref are atomic.  A struct lists_cache is
 * shared by all connections and guarded by its own mutex, which is never held during a store
 * access.  A struct dnsbl belongs to one connection, like its DNS batch.
 */
#ifndef INGRESS_LISTS_H
#define INGRESS_LISTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dns.h"
#include "store.h"
#include "verdict.h"

enum lists_kind {
    LISTS_CIDR,
    LISTS_PTR_DOMAIN,
    LISTS_HELO_DOMAIN,
    LISTS_SENDER_DOMAIN,
    LISTS_SENDER,
    LISTS_PTR_REGEX,
    LISTS_HELO_REGEX,
    LISTS_RECIPIENT,
    LISTS_KIND_COUNT
};
enum lists_action { LISTS_BLOCK, LISTS_ALLOW, LISTS_GREYLIST_EXEMPT };
/* A lookup's outcome.  The store being unreachable is reported by lists_load/lists_cache_get,
 * before any lookup: a snapshot always answers. */
enum lists_match { LISTS_NONE, LISTS_BLOCKED, LISTS_ALLOWED };

#define LISTS_VALUE_MAX 320  /* an address: 64 + 1 + 255, with room */
#define LISTS_REASON_MAX 200 /* the internal reason, and the public text */
/* PCRE2's limits on one match of a ptr_regex or helo_regex: the steps (match limit) and the
 * backtracking depth.  A name is at most 253 bytes: a sane pattern needs a few hundred steps; a
 * catastrophic one such as ^(a+)+$ needs 2^n and is cut off after these, in a few milliseconds. */
#define LISTS_REGEX_MATCH_LIMIT 100000
#define LISTS_REGEX_DEPTH_LIMIT 1000

/* "cidr", "ptr_domain", ... and "block"/"allow"/"greylist_exempt": the words of the store and of
 * ingressctl. */
const char *lists_kind_name(enum lists_kind kind);
bool lists_kind_parse(const char *name, enum lists_kind *kind);
const char *lists_action_name(enum lists_action action);
bool lists_action_parse(const char *name, enum lists_action *action);

/*
 * Validates value for kind and writes its stored form into out (size outlen): a network with its
 * host bits cleared ("192.0.2.0/24"; a single address without "/32" or "/128"), names and
 * addresses in lower case without a final dot or angle brackets.  False with a reason in why.
 */
bool lists_normalize_value(enum lists_kind kind, const char *value, char *out, size_t outlen,
                           char *why, size_t whylen);
/* Can an entry of kind have action?  A recipient entry is greylist_exempt only: a block or allow
 * decided by the recipient is a recipient rule's business (`ingressctl rule`). */
bool lists_action_allowed(enum lists_kind kind, enum lists_action action);
/* An internal reason (of a list entry, a suspension, a held message's decision): printable UTF-8
 * (well formed, no C0 or C1 control character, no DEL), at most LISTS_REASON_MAX bytes.  It goes
 * into log lines (8-bit bytes escaped there), the database and `why`, never into a reply. */
bool lists_reason_valid(const char *reason);
/* A public text: printable ASCII, at most LISTS_REASON_MAX bytes: it goes into an SMTP reply,
 * which is ASCII (RFC 5321 4.2: a reply's text; no SMTPUTF8 for replies here). */
bool lists_public_text_valid(const char *text);

/* The entry that decided a lookup; copies, so a hit outlives its snapshot. */
struct lists_hit {
    enum lists_kind kind;
    enum lists_action action;
    char value[LISTS_VALUE_MAX];
    char reason[LISTS_REASON_MAX + 1];      /* internal: never in a reply */
    char public_text[LISTS_REASON_MAX + 1]; /* "": the reply table's text */
};

/* ---- snapshots ---- */

struct lists;

/*
 * Reads every entry not expired at now (unix seconds) and every recipient rule, and builds a
 * snapshot with one reference, the caller's.  Rows that do not parse (written around ingressctl)
 * are skipped and logged.  NULL
 * with a message in err when the store could not be read.
 */
struct lists *lists_load(struct store *s, int64_t now, char *err, size_t errlen);
/* Takes one more reference and returns l; NULL is passed through. */
struct lists *lists_ref(struct lists *l);
/* Drops a reference; the last one frees.  NULL is a no-op. */
void lists_unref(struct lists *l);
/* The store's lists_version the snapshot was built from. */
int64_t lists_version(const struct lists *l);
/* Entries of kind in the snapshot (LISTS_KIND_COUNT: all). */
size_t lists_count(const struct lists *l, enum lists_kind kind);
/* Recipient rules in the snapshot. */
size_t lists_rule_count(const struct lists *l);
/* When the first entry of the snapshot expires (unix seconds; INT64_MAX: never). */
int64_t lists_next_expiry(const struct lists *l);
/* Regex matches of this snapshot cut off by the limits so far (each one also logged). */
uint64_t lists_regex_cut_off(const struct lists *l);

/*
 * One kind each; hit (may be NULL) gets the deciding entry.  Untrusted inputs are bounded here:
 * an argument that is NULL, too long or malformed matches nothing.
 *   client: an address text;  ptr: a forward-confirmed PTR name;  helo: the HELO argument;
 *   sender: MAIL FROM with or without <> (checks sender, then sender_domain; "" matches nothing).
 */
enum lists_match lists_check_client(const struct lists *l, const char *ip, struct lists_hit *hit);
enum lists_match lists_check_ptr(const struct lists *l, const char *ptr_name,
                                 struct lists_hit *hit);
enum lists_match lists_check_helo(const struct lists *l, const char *helo, struct lists_hit *hit);
enum lists_match lists_check_sender(const struct lists *l, const char *sender,
                                    struct lists_hit *hit);

/* What a connection has shown so far; NULL fields are not known (yet). */
struct lists_subject {
    const char *ip;
    const char *ptr_name; /* only a forward-confirmed name (iprev pass), else NULL */
    const char *helo;
    const char *sender;
    const char *rcpt; /* the recipient at hand: only greylist_exempt entries look at it */
};
/* Every kind at once: an allow of any kind beats a block of any kind.  greylist_exempt entries
 * are not looked at: lists_check_exempt() does. */
enum lists_match lists_check(const struct lists *l, const struct lists_subject *subject,
                             struct lists_hit *hit);
/* True when a greylist_exempt entry of any kind matches subject; hit (may be NULL) gets it. */
bool lists_check_exempt(const struct lists *l, const struct lists_subject *subject,
                        struct lists_hit *hit);

/* ---- the current snapshot ---- */

struct lists_cache;

/* Borrows s (which must outlive the cache).  reload_interval_ms: how often the store's version
 * counter is read at most (lists_reload_interval); 0 reads it at every get. */
struct lists_cache *lists_cache_new(struct store *s, int64_t reload_interval_ms);
void lists_cache_free(struct lists_cache *c); /* drops its snapshot; NULL is a no-op */

/*
 * A reference to the current snapshot (release it with lists_unref), reloaded first when the
 * interval has passed and the store's version moved or an entry expired by now (unix seconds).
 * While one thread reloads, the others keep getting the previous snapshot.  When the store cannot
 * be read the previous snapshot is kept (and the failure logged); NULL with err only when there
 * has never been one: could not tell, which the caller turns into store_failure.
 */
struct lists *lists_cache_get(struct lists_cache *c, int64_t now, char *err, size_t errlen);

/* ---- recipient rules ---- */

enum rule_action { RULE_NONE, RULE_ACCEPT, RULE_REJECT, RULE_UNKNOWN /* no snapshot */ };

/* Recipient: an address; sender: an address or "@domain".  Lower case into out; false + why. */
bool rules_normalize_recipient(const char *rcpt, char *out, size_t outlen, char *why,
                               size_t whylen);
bool rules_normalize_sender(const char *sender, char *out, size_t outlen, char *why, size_t whylen);

/*
 * The rule of rcpt for sender (both with or without <>) in snapshot l: the sender's address
 * before its "@domain".  matched (size matched_len, may be NULL) gets the rule's sender.  The null
 * sender and malformed addresses match no rule.  RULE_UNKNOWN when l is NULL (the store never
 * gave a snapshot: could not tell).
 */
enum rule_action rules_check(const struct lists *l, const char *rcpt, const char *sender,
                             char *matched, size_t matched_len);

/* ---- the decision at RCPT ---- */

struct dnsbl; /* dnsbl.h */

struct lists_rcpt {
    const char *ip;                 /* the client, for replies */
    enum lists_match match;         /* lists_check() over everything known by now */
    const struct lists_hit *hit;    /* its hit (NULL when LISTS_NONE) */
    const struct lists_hit *exempt; /* lists_check_exempt()'s hit, NULL when none */
    enum rule_action rule;          /* rules_check() for this recipient */
    const char *rule_sender;        /* the matched rule's sender, for the detail */
    struct dnsbl *dnsbl;            /* NULL when no zones */
};

/*
 * Combines lists, rules and DNSBL for one recipient in the order given at the top of this file.
 * *skip_greylist (may be NULL) is set when the recipient must not be greylisted: an allow entry, a
 * DNSWL listing, the recipient's accept rule or a greylist_exempt entry.  The verdict's check is
 * "lists", "rules" or "dnsbl".
 */
struct verdict lists_verdict(const struct config *cfg, const struct lists_rcpt *in,
                             bool *skip_greylist);

#endif
