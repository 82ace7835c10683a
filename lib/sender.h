/*
 * sender: which addresses an authenticated account owns (ARCHITECTURE.md "Submission").
 *
 * An account ({auth_authen}) owns its login when the login is an address, every exact address
 * among its aliases, and every address of a domain it has an "@domain" alias for; nothing else.
 * Domains compare without ASCII case; local parts too unless sender_case_sensitive.  The
 * envelope MAIL FROM and every address of the header From and Sender must be owned, else
 * sender_mismatch (553 5.7.1) names the first one that is not.
 *
 * The aliases are data in the store (ingressctl alias add), read once per message with
 * sender_account_load(); the decision itself is a pure function of the loaded account.
 */
#ifndef INGRESS_SENDER_H
#define INGRESS_SENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "config.h"
#include "store.h"
#include "verdict.h"

/* An account and what it owns.  Owned by the struct: sender_account_free() releases it. */
struct sender_account {
    char *name;     /* the login, as {auth_authen} gave it */
    bool has_login; /* name is an address: login owned */
    struct addr login;
    size_t alias_count;
    char **aliases; /* "local@domain" (domain lower case) or "@domain" */
};

/* Fills acct with name and no aliases (for tests and for a store that has none yet). */
void sender_account_init(struct sender_account *acct, const char *name);

/* Adds an alias (copied) as ingressctl stores it; false when it is neither an address nor
 * "@domain" (see sender_alias_normalize). */
bool sender_account_add_alias(struct sender_account *acct, const char *alias);

/*
 * Loads the account's aliases from the store (one indexed read).  STORE_OK also when it has
 * none (an account that is not in the store still owns its login); STORE_BUSY or STORE_ERROR
 * when the store could not tell: that is the store_failure verdict, never a pass.
 */
enum store_status sender_account_load(struct store *s, const char *name,
                                      struct sender_account *acct);

void sender_account_free(struct sender_account *acct);

/*
 * Normalizes an alias as typed by the postmaster: "local@domain" (parsed as an RFC 5321 path,
 * brackets optional, domain lowered) or "@domain" (lowered).  out (size outlen) gets the stored
 * form; false with why on anything else.
 */
bool sender_alias_normalize(const char *text, char *out, size_t outlen, char *why, size_t whylen);

/* Does acct own a?  (The null path is owned by nobody.) */
bool sender_owns(const struct sender_account *acct, const struct addr *a, bool case_sensitive);

/*
 * Checks the n addresses found in `where` ("mail_from", "header_from", "header_sender") under
 * cfg's sender_check: CONTINUE when all are owned or the check is off; REJECT sender_mismatch
 * naming the first address not owned; with sender_check = log, CONTINUE whose detail says what
 * would have been rejected (detail empty otherwise).
 */
struct verdict sender_check_addresses(const struct config *cfg, const struct sender_account *acct,
                                      const struct addr *addrs, size_t n, const char *where);

#endif
