/*
 * ctl_json: every --json output of ingressctl is built and written here, with jansson (RFC 8259).
 *
 * A verb builds a document from objects (ctl_json_object) and the setters below, then
 * ctl_json_print writes it.  Strings from the database are what clients sent: valid UTF-8 is
 * written as it is (a subject "café" stays "café"), and a byte that is not part of valid UTF-8
 * is read as Latin-1 (so an 8-bit subject still reads as its sender likely meant, and the output
 * is always valid JSON).
 */
#ifndef INGRESS_CTL_JSON_H
#define INGRESS_CTL_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* A new empty object or array (owned by the caller, or by whatever it is set into). */
json_t *ctl_json_object(void);
json_t *ctl_json_array(void);

/* s as a JSON string (NULL as ""), repaired as above; a new reference. */
json_t *ctl_json_text(const char *s);

/* Sets key of obj; each copies what it is given. */
void ctl_json_set_text(json_t *obj, const char *key, const char *s);
/* s, or null when s is NULL or empty (a value that is not there, such as no account). */
void ctl_json_set_text_or_null(json_t *obj, const char *key, const char *s);
void ctl_json_set_int(json_t *obj, const char *key, int64_t n);
/* A time in seconds since 1970, or null when t is 0 or less (never). */
void ctl_json_set_time(json_t *obj, const char *key, int64_t t);
void ctl_json_set_bool(json_t *obj, const char *key, bool b);
/* Sets key to value, taking over the caller's reference. */
void ctl_json_set(json_t *obj, const char *key, json_t *value);
/* Appends value to the array, taking over the caller's reference. */
void ctl_json_append(json_t *array, json_t *value);

/* Writes doc and a newline to stdout, two spaces an indent level, and frees it. */
void ctl_json_print(json_t *doc);

#endif
