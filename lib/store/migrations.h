/*
 * store/migrations.h: the schema migrations compiled into the binary, one table per SQL dialect.
 *
 * schema/embed.cmake writes each table at build time from schema/DIALECT/NNN_name.sql; versions
 * run 1..N in order without gaps (the build fails otherwise), and every dialect has the same
 * versions.  The dispatcher (lib/store/schema.c) applies the ones a database lacks, all in one
 * transaction, through the backend's schema_* operations.
 */
#ifndef INGRESS_STORE_MIGRATIONS_H
#define INGRESS_STORE_MIGRATIONS_H

#include <stddef.h>

struct store_migration {
    int version;      /* NNN of the file name; table[i].version == i + 1 */
    const char *name; /* "001_init.sql", for error messages */
    const char *sql;  /* the file's text, without BEGIN/COMMIT or the version's bookkeeping */
    /* The constant statement that records this version ("PRAGMA user_version=N": a PRAGMA takes
     * no bound parameter), or NULL for a dialect that records it with a bound one. */
    const char *set_version;
};

extern const struct store_migration store_migrations_sqlite[];
extern const size_t store_migration_count_sqlite;
extern const struct store_migration store_migrations_postgresql[];
extern const size_t store_migration_count_postgresql;

#endif
