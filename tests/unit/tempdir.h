/*
 * tempdir: a directory of a unit test's own, for its database files, and its removal.
 */
#ifndef INGRESS_TEST_TEMPDIR_H
#define INGRESS_TEST_TEMPDIR_H

#include <stddef.h>

/* Makes $TMPDIR/NAME.XXXXXX (/tmp when TMPDIR is unset, empty or long) and writes its path into
 * dir (size dirlen); -1 when it cannot be made. */
int tempdir_make(char *dir, size_t dirlen, const char *name);

/* Removes dir and everything under it, giving back first the rights a test took away (so that
 * it works without root). */
void tempdir_remove(const char *dir);

#endif
