/*
 * store_migrations: the schema migrations compiled into the binary (DESIGN.md §7).
 *
 * schema/embed.cmake writes the table at build time from schema/NNN_name.sql; versions run 1..N
 * in order without gaps (the build fails otherwise).  lib/store/sqlite.c applies the ones a database
 * lacks, each in its own transaction, and records the version in PRAGMA user_version.
 */
#ifndef INGRESS_STORE_MIGRATIONS_H
#define INGRESS_STORE_MIGRATIONS_H

#include <stddef.h>

struct store_migration {
    int version;      /* NNN of the file name; store_migrations[i].version == i + 1 */
    const char *name; /* "001_init.sql", for error messages */
    const char *sql;  /* the file's text, without BEGIN/COMMIT or PRAGMA user_version */
    /* "PRAGMA user_version=N": a PRAGMA takes no bound parameter, and written here at build time
     * no SQL text is ever assembled at run time (STYLE rule 22). */
    const char *set_version;
};

extern const struct store_migration store_migrations[];
extern const size_t store_migration_count;

#endif
