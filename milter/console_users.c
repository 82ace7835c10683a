/*
 * console_users: the users file of the console (console_users.h).  Hashes are made by
 * crypt_gensalt("$y$") + crypt_r: yescrypt, the default of Debian's libxcrypt, whose cost makes a
 * stolen file slow to guess from.
 */
#include "console_users.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define USERS_LINE_MAX 512
/* A hash of a password nobody has, checked for an unknown user so that it costs the same. */
#define USERS_DUMMY_HASH "$y$j9T$cXVpZXRseW5vdGhpbmcu$azDGYwjCzaRSeiRg07RyWieEriIZrwtmsdFwwXMbEB/"

bool console_role_parse(const char *text, enum console_role *role)
{
    if (strcmp(text, "postmaster") == 0)
        *role = CONSOLE_ROLE_POSTMASTER;
    else if (strcmp(text, "support") == 0)
        *role = CONSOLE_ROLE_SUPPORT;
    else if (strcmp(text, "webmail") == 0)
        *role = CONSOLE_ROLE_WEBMAIL;
    else
        return false;
    return true;
}

const char *console_role_name(enum console_role role)
{
    return role == CONSOLE_ROLE_POSTMASTER ? "postmaster"
           : role == CONSOLE_ROLE_SUPPORT  ? "support"
                                           : "webmail";
}

bool console_user_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= CONSOLE_USER_MAX)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!ascii_alnum(*p) && strchr(".-_@", *p) == NULL)
            return false;
    return true;
}

bool console_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof raw || getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
        return false;
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    explicit_bzero(raw, sizeof raw);
    return true;
}

bool console_users_domains_valid(const char *domains)
{
    size_t len = strlen(domains);
    if (len == 0 || len >= CONSOLE_DOMAINS_MAX || domains[0] == ',' || domains[len - 1] == ',')
        return false;
    for (const char *p = domains; *p != '\0'; p++) {
        bool lower = *p >= 'a' && *p <= 'z';
        if (!lower && !(*p >= '0' && *p <= '9') && strchr(".-,", *p) == NULL)
            return false;
        if (*p == ',' && p[1] == ',')
            return false;
    }
    return true;
}

/* One line split in place into its fields (a hash holds no ':'; *domains "" when the line has
 * none); false for a line that is not one. */
static bool split_line(char *line, char **name, char **role, char **hash, char **domains)
{
    line[strcspn(line, "\r\n")] = '\0';
    char *c1 = strchr(line, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    if (line[0] == '#' || c2 == NULL)
        return false;
    *c1 = *c2 = '\0';
    *name = line;
    *role = c1 + 1;
    *hash = c2 + 1;
    char *c3 = strchr(*hash, ':');
    *domains = c3 != NULL ? c3 + 1 : c2 + strlen(*hash) + 1;
    if (c3 != NULL)
        *c3 = '\0';
    return true;
}

static bool hash_matches(const char *password, const char *hash)
{
    struct crypt_data data;
    memset(&data, 0, sizeof data);
    const char *out = crypt_r(password, hash, &data);
    /* crypt_r gives a "*"-led failure token on a bad setting: never equal to a hash. */
    bool ok = out != NULL && out[0] != '*' && strcmp(out, hash) == 0;
    explicit_bzero(&data, sizeof data);
    return ok;
}

int console_users_check(const char *path, const char *name, const char *password,
                        enum console_role *role, char *why, size_t whylen)
{
    char domains[CONSOLE_DOMAINS_MAX];
    return console_users_check_domains(path, name, password, role, domains, why, whylen);
}

int console_users_check_domains(const char *path, const char *name, const char *password,
                                enum console_role *role, char *domains, char *why, size_t whylen)
{
    char line[USERS_LINE_MAX], *n, *r, *h, *d;
    int found = 0;

    domains[0] = '\0';
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        str_printf(why, whylen, "cannot read the users file %s: %s", path, strerror(errno));
        return -1;
    }
    while (!found && fgets(line, sizeof line, f) != NULL) {
        if (!split_line(line, &n, &r, &h, &d) || strcmp(n, name) != 0)
            continue;
        found = console_role_parse(r, role) && hash_matches(password, h) ? 1 : -2;
        str_copy(domains, CONSOLE_DOMAINS_MAX, d);
    }
    fclose(f);
    explicit_bzero(line, sizeof line);
    if (found == 0)
        (void)hash_matches(password, USERS_DUMMY_HASH);
    return found == 1 ? 1 : 0;
}

/* Copies every line of path but name's into a new temporary file beside it, then appends
 * extra (may be NULL) and renames it over path.  *removed: whether name had a line. */
static bool rewrite(const char *path, const char *name, const char *extra, bool *removed, char *why,
                    size_t whylen)
{
    char tmp[4096], line[USERS_LINE_MAX], copy[USERS_LINE_MAX], *n, *r, *h, *d;
    FILE *in = fopen(path, "re");

    *removed = false;
    if (in == NULL && errno != ENOENT) {
        str_printf(why, whylen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    str_printf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0 || fchmod(fd, 0640) != 0) {
        str_printf(why, whylen, "cannot write beside %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        if (in != NULL)
            fclose(in);
        return false;
    }
    FILE *out = fdopen(fd, "w");
    while (in != NULL && fgets(line, sizeof line, in) != NULL) {
        str_copy(copy, sizeof copy, line);
        if (split_line(copy, &n, &r, &h, &d) && strcmp(n, name) == 0) {
            *removed = true;
            continue;
        }
        fputs(line, out);
    }
    if (in != NULL)
        fclose(in);
    if (extra != NULL)
        fprintf(out, "%s\n", extra);
    bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok = fclose(out) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        str_printf(why, whylen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

bool console_users_set(const char *path, const char *name, enum console_role role,
                       const char *password, const char *domains, char *why, size_t whylen)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE], entry[USERS_LINE_MAX];
    struct crypt_data data;
    bool removed;

    if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt) == NULL) {
        str_printf(why, whylen, "crypt_gensalt: no yescrypt here: %s", strerror(errno));
        return false;
    }
    memset(&data, 0, sizeof data);
    const char *hash = crypt_r(password, salt, &data);
    if (hash == NULL || hash[0] == '*') {
        explicit_bzero(&data, sizeof data);
        str_copy(why, whylen, "crypt failed to hash the password");
        return false;
    }
    str_printf(entry, sizeof entry, "%s:%s:%s%s%s", name, console_role_name(role), hash,
               domains != NULL && domains[0] != '\0' ? ":" : "", domains != NULL ? domains : "");
    explicit_bzero(&data, sizeof data);
    return rewrite(path, name, entry, &removed, why, whylen);
}

int console_users_del(const char *path, const char *name, char *why, size_t whylen)
{
    bool removed;
    if (!rewrite(path, name, NULL, &removed, why, whylen))
        return -1;
    return removed ? 1 : 0;
}

bool console_users_list(const char *path, FILE *out, char *why, size_t whylen)
{
    char line[USERS_LINE_MAX], *n, *r, *h, *d;
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        str_printf(why, whylen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    while (fgets(line, sizeof line, f) != NULL)
        if (split_line(line, &n, &r, &h, &d))
            fprintf(out, "%s %s%s%s\n", n, r, d[0] != '\0' ? " " : "", d);
    fclose(f);
    return true;
}
