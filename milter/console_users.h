/*
 * console_users: the console's users file, one "name:role:hash[:domains]" line per user, where
 * hash is a crypt(3) yescrypt hash (libxcrypt) of the password (of the key, for a webmail
 * integration), and domains (webmail only, optional) the comma-separated mail domains whose
 * mailboxes the key may name.  ingress-console reads it at every login (an edit takes
 * effect at once, no restart); `ingressctl console-user` writes it, through a temporary file
 * renamed over the old one, so a reader never sees half a file.
 */
#ifndef INGRESS_CONSOLE_USERS_H
#define INGRESS_CONSOLE_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONSOLE_USER_MAX 64       /* bytes of a user name */
#define CONSOLE_PASSWORD_MAX 1024 /* bytes of a password */
#define CONSOLE_DOMAINS_MAX 256   /* bytes of a webmail key's domains field */

/*
 * postmaster: everything; support: reads everything, unblocks and allows, releases held mail;
 * webmail: a webmail installation's key, which reads and changes the recipient rules of the
 * mailbox each call names, and nothing else.
 */
enum console_role { CONSOLE_ROLE_POSTMASTER, CONSOLE_ROLE_SUPPORT, CONSOLE_ROLE_WEBMAIL };

bool console_role_parse(const char *text, enum console_role *role);
const char *console_role_name(enum console_role role);

/* Letters, digits, '.', '-', '_' and '@', 1 to CONSOLE_USER_MAX - 1 bytes. */
bool console_user_name_valid(const char *name);

/*
 * Checks name's password against the file at path.  1: right (*role set), 0: unknown user or
 * wrong password (the same work is done either way, so the time taken does not tell which),
 * -1: the file cannot be read (why says so, naming the path, never the password).
 */
int console_users_check(const char *path, const char *name, const char *password,
                        enum console_role *role, char *why, size_t whylen);
/* console_users_check that also gives the line's domains ("" when none; size CONSOLE_DOMAINS_MAX).
 */
int console_users_check_domains(const char *path, const char *name, const char *password,
                                enum console_role *role, char *domains, char *why, size_t whylen);

/* Mail domain names separated by commas, lower case, at most CONSOLE_DOMAINS_MAX - 1 bytes. */
bool console_users_domains_valid(const char *domains);

/* Adds name with role, a new hash of password and domains (NULL or "": none), or replaces its
 * line. */
bool console_users_set(const char *path, const char *name, enum console_role role,
                       const char *password, const char *domains, char *why, size_t whylen);

/* Removes name's line: 1 removed, 0 no such user, -1 error (why). */
int console_users_del(const char *path, const char *name, char *why, size_t whylen);

/* nbytes random bytes (getrandom) as lower-case hex into out (size 2 x nbytes + 1). */
bool console_random_hex(char *out, size_t nbytes);

/* Writes "name role [domains]" lines to out (hashes never); false with why when the file cannot be
 * read. */
bool console_users_list(const char *path, FILE *out, char *why, size_t whylen);

#endif
