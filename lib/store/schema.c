/*
 * store/schema: the migration loop, the same for every backend.  The backend brings its steps
 * (backend.h: schema_lock, schema_apply, schema_unlock) and its dialect's migrations
 * (lib/store/migrations.h); the order, the refusal of a newer schema and the re-reading of the
 * version live here.
 */
#include <inttypes.h>

#include "dispatch.h"
#include "migrations.h"

int store_schema_version(void)
{
    if (store_migration_count_sqlite == 0)
        return 0;
    return store_migrations_sqlite[store_migration_count_sqlite - 1].version;
}

/*
 * The write lock is taken and the version read under it at every open, even when nothing is
 * missing: two processes starting together must not both apply a migration, and a lock that
 * cannot be had (another writer that never lets go) is better found now than on the first
 * message.  Every missing migration runs in that one transaction: a database is brought to this
 * build's schema whole or not at all.  One transaction per migration left a half-made database
 * behind a failure part-way (the disk filling while a database is created anew): a version below
 * this build's, which every later open had to finish and which no reader may trust.
 */
bool store_schema_migrate(const struct store_backend *be, struct store_conn *c, const char *name,
                          struct store_error *err)
{
    const struct store_migration *migrations = be->migrations;
    size_t count = *be->migration_count;
    int64_t version = 0;

    if (be->schema_lock(c, &version, err) != STORE_OK)
        return false;
    if (version > store_schema_version()) {
        be->schema_unlock(c);
        store_error_set(err, STORE_ERROR,
                        "%s: database schema version %" PRId64
                        " is newer than this milter-ingress (knows %d); refusing to open it",
                        name, version, store_schema_version());
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        if (migrations[i].version > version &&
            be->schema_apply(c, &migrations[i], err) != STORE_OK) {
            be->schema_unlock(c);
            return false;
        }
    }
    return be->schema_commit(c, err) == STORE_OK;
}
