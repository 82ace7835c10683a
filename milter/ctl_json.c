/*
 * ctl_json: ingressctl's --json output, written by jansson (ctl_json.h says how text is encoded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_json.h"
#include "log.h"
#include "util.h"

/* s with each byte that is not part of valid UTF-8 replaced by its Latin-1 character (two
 * bytes): at most twice as long.  The caller frees it. */
static char *utf8_repair(const char *s)
{
    size_t len = strlen(s);
    char *out = xmalloc(2 * len + 1), *o = out;
    const unsigned char *end = (const unsigned char *)s + len;

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
        size_t n = *p < 0x80 ? 1 : str_utf8_length(p, end);
        if (n > 0) {
            memcpy(o, p, n);
            o += n;
            p += n;
            continue;
        }
        *o++ = (char)(0xc0 | (*p >> 6));
        *o++ = (char)(0x80 | (*p & 0x3f));
        p++;
    }
    *o = '\0';
    return out;
}

/* jansson fails only when out of memory (invalid UTF-8 never reaches it): like the allocation
 * wrappers of util.h, one line and abort. */
static void json_failed(void)
{
    log_msg(LOG_CRIT, "out of memory building the JSON output, aborting");
    abort();
}

static json_t *checked(json_t *value)
{
    if (value == NULL)
        json_failed();
    return value;
}

json_t *ctl_json_object(void)
{
    return checked(json_object());
}

json_t *ctl_json_array(void)
{
    return checked(json_array());
}

json_t *ctl_json_text(const char *s)
{
    char *fixed = utf8_repair(s != NULL ? s : "");
    json_t *value = checked(json_string(fixed));
    free(fixed);
    return value;
}

void ctl_json_set(json_t *obj, const char *key, json_t *value)
{
    if (json_object_set_new(obj, key, value) != 0)
        json_failed();
}

void ctl_json_append(json_t *array, json_t *value)
{
    if (json_array_append_new(array, value) != 0)
        json_failed();
}

void ctl_json_set_text(json_t *obj, const char *key, const char *s)
{
    ctl_json_set(obj, key, ctl_json_text(s));
}

void ctl_json_set_text_or_null(json_t *obj, const char *key, const char *s)
{
    ctl_json_set(obj, key, s != NULL && *s != '\0' ? ctl_json_text(s) : json_null());
}

void ctl_json_set_int(json_t *obj, const char *key, int64_t n)
{
    ctl_json_set(obj, key, checked(json_integer((json_int_t)n)));
}

void ctl_json_set_time(json_t *obj, const char *key, int64_t t)
{
    ctl_json_set(obj, key, t > 0 ? checked(json_integer((json_int_t)t)) : json_null());
}

void ctl_json_set_bool(json_t *obj, const char *key, bool b)
{
    ctl_json_set(obj, key, json_boolean(b));
}

void ctl_json_print(json_t *doc)
{
    /* A failed write shows in ferror(stdout), which main checks before it exits. */
    if (json_dumpf(doc, stdout, JSON_INDENT(2)) == 0)
        fputc('\n', stdout);
    json_decref(doc);
}
