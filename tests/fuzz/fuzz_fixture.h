/*
 * What the fuzz targets with a config and a temporary directory share (header only, so that each
 * target stays one file in tests/CMakeLists.txt's loop).
 */
#ifndef INGRESS_FUZZ_FIXTURE_H
#define INGRESS_FUZZ_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

/* config_set, or abort with its reason: a fixture that cannot be made is the target's own bug. */
static inline void fuzz_config_set(struct config *cfg, const char *key, const char *value)
{
    char err[256];
    if (!config_set(cfg, key, value, err, sizeof err)) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
}

/* Removes the files named (those that exist) from dir, then dir. */
static inline void fuzz_remove_dir(const char *dir, const char *const *files, size_t count)
{
    char path[256];
    for (size_t i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif
