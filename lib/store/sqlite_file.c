/*
 * store/sqlite_file: the SQLite database file under the path it was opened by, for the
 * identity hooks of store_check() (backend.h: identity_changed, detach, adopt) and the files'
 * modes.
 *
 * A database file removed (rm -rf of its directory) or replaced (a backup renamed over it) under
 * a running milter is a silent fault: SQLite keeps reading and writing the file it opened, so
 * every greylist confirmation written after that would vanish at the next restart, and rows
 * ingressctl adds to the file at the path would never be seen.  Two guards:
 *
 * - commit_guard, SQLite's commit hook, stats the path before every commit and turns the commit
 *   into a rollback when the path names another file (or none): a write is never acknowledged
 *   into a file nobody will read again.  One stat() per write transaction.
 * - store_check(), from the daemon's maintenance thread every couple of seconds, notices it
 *   without waiting for a write (sqlite_identity_changed), lets the old file go
 *   (sqlite_detach: its connection closed, its -wal and -shm removed) and opens the file at the
 *   path, which wins whatever it holds (sqlite_adopt).  Until one can be opened there, the store
 *   refuses every call (lib/store/store.c).
 */
#include "sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static bool file_id_of(const char *path, struct sqlite_file_id *id)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return false;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return true;
}

static bool file_id_same(const struct sqlite_file_id *a, const struct sqlite_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

static bool still_at_path(const struct store_db *s)
{
    struct sqlite_file_id now;

    return file_id_of(s->path, &now) && file_id_same(&now, &s->file);
}

/* The name of path + suffix (the -wal or -shm beside the database) into name. */
static void companion_name(const char *path, const char *suffix, char *name, size_t len)
{
    str_printf(name, len, "%s%s", path, suffix);
}

/* The identity of a companion file; zero when missing. */
static void companion_id(const char *path, const char *suffix, struct sqlite_file_id *id)
{
    char name[PATH_MAX];

    memset(id, 0, sizeof *id);
    companion_name(path, suffix, name, sizeof name);
    file_id_of(name, id);
}

/* Called by SQLite before each commit, with the store's lock held; non-zero makes it a rollback. */
static int commit_guard(void *arg)
{
    struct store_db *s = arg;

    if (still_at_path(s))
        return 0;
    s->moved = true; /* sqlite_fail() says why */
    return 1;
}

/*
 * After the migrations (sqlite_prepare): notes which files the connection opened, and guards its
 * commits.  SQLITE_FCNTL_HAS_MOVED compares the path with the inode SQLite holds: a file replaced
 * between SQLite's open and our stat is refused now rather than guarded with the wrong identity.
 * The -wal and -shm exist once the migrations' transaction ran.
 */
bool sqlite_file_record(struct store_db *s, struct store_error *err)
{
    int moved = 0;

    if (!file_id_of(s->path, &s->file) ||
        sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK || moved) {
        store_error_set(err, STORE_ERROR,
                        "%s: the file was removed or replaced while it was opened", s->path);
        return false;
    }
    companion_id(s->path, "-wal", &s->wal);
    companion_id(s->path, "-shm", &s->shm);
    sqlite3_commit_hook(s->db, commit_guard, s);
    return true;
}

bool sqlite_identity_changed(struct store_conn *c)
{
    return c->s->moved || !still_at_path(c->s);
}

/*
 * SQLite's last connection to a database checkpoints it and deletes its -wal and -shm by name,
 * but not when the database file has moved (its pager asks SQLITE_FCNTL_HAS_MOVED first): so the
 * names at the path, which may by now be another process's new database's, are left alone, and
 * so are the old file's -wal and -shm when they are still there (a backup renamed over the
 * database, or only the database file removed).  Those are removed here, each only while it is
 * still the file the old connection used: beside the file now at the path they would be read as
 * its own WAL, rows of the old file written over the backup.
 */
static void remove_companion(const char *path, const char *suffix, const struct sqlite_file_id *old)
{
    char name[PATH_MAX];
    struct sqlite_file_id now;

    companion_name(path, suffix, name, sizeof name);
    if (old->ino != 0 && file_id_of(name, &now) && file_id_same(&now, old))
        unlink(name);
}

/* Closes the connection to the old file (the writer's is closed by writer_stop() before). */
void sqlite_detach(struct store_conn *c)
{
    struct store_db *s = c->s;

    for (int i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(s->stmt[i]);
        s->stmt[i] = NULL;
    }
    sqlite3_close(s->db);
    s->db = NULL;
    remove_companion(s->path, "-wal", &s->wal);
    remove_companion(s->path, "-shm", &s->shm);
}

void sqlite_adopt(struct store_conn *c, struct store_db *fresh, struct store_error *note)
{
    struct store_db *s = c->s;
    struct sqlite_file_id old = s->file;
    sqlite3 *old_db = s->db;

    s->db = fresh->db;
    fresh->db = old_db;
    for (int i = 0; i < STMT_COUNT; i++) {
        sqlite3_stmt *old_stmt = s->stmt[i];
        s->stmt[i] = fresh->stmt[i];
        fresh->stmt[i] = old_stmt;
    }
    s->file = fresh->file;
    s->wal = fresh->wal;
    s->shm = fresh->shm;
    s->moved = false;
    sqlite3_commit_hook(s->db, commit_guard, s); /* fresh's pointed at fresh */
    store_error_set(note, STORE_OK,
                    "database file %s was removed or replaced under the running milter: %s "
                    "(inode %ju; the old file, inode %ju, is no longer used, and what only it "
                    "held is not in the new one)",
                    s->path,
                    fresh->created ? "created a new one" : "opened the file now at that path",
                    (uintmax_t)s->file.ino, (uintmax_t)old.ino);
}

/*
 * A missing database file is created here, with mode, before SQLite opens it: SQLite would create
 * it 0644 less the umask, and the decision log it holds (addresses, subjects) is nobody else's
 * business.  SQLite gives the -wal and -shm it creates the database file's mode (and, when run as
 * root, its owner), so they follow.  The mode is set once more with fchmod, whatever the umask
 * took away.  O_EXCL: an existing file (or a link in its place) is left as it is, and a path that
 * cannot be created is for SQLite's own open to explain.  true when the file is new.
 */
bool sqlite_file_create(const char *path, mode_t mode)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

    if (fd < 0)
        return false;
    (void)fchmod(fd, mode);
    close(fd);
    return true;
}

/*
 * An existing database, -wal or -shm with a mode wider than the one the store creates (made by
 * an older version, or by hand) is said, one line a file, and left as it is: the admin may have
 * a reason (a group that writes with ingressctl).
 */
void sqlite_file_warn_modes(const char *path, mode_t mode)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};

    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char name[PATH_MAX];
        struct stat st;

        companion_name(path, suffixes[i], name, sizeof name);
        if (stat(name, &st) != 0 || (st.st_mode & 0777 & ~mode) == 0)
            continue;
        log_msg(LOG_WARNING,
                "database file %s has mode %04o, wider than %04o: %s can read the decision log "
                "(addresses, subjects); chmod %04o %s",
                name, (unsigned)(st.st_mode & 07777), (unsigned)mode,
                (st.st_mode & S_IROTH) != 0 ? "every local user" : "the file's group",
                (unsigned)mode, name);
    }
}
