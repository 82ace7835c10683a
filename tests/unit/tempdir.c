/*
 * tempdir: a directory of a unit test's own, for its database files, and its removal.
 */
#include "tempdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int tempdir_make(char *dir, size_t dirlen, const char *name)
{
    const char *tmp = getenv("TMPDIR");

    if (!tmp || !*tmp || strlen(tmp) > 200)
        tmp = "/tmp";
    if ((size_t)snprintf(dir, dirlen, "%s/%s.XXXXXX", tmp, name) >= dirlen)
        return -1;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int make_removable(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    chmod(path, type == FTW_D || S_ISDIR(st->st_mode) ? 0700 : 0600);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

void tempdir_remove(const char *dir)
{
    nftw(dir, make_removable, 16, FTW_PHYS);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
