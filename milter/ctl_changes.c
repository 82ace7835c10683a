/*
 * ctl_changes: reading the record of changes (who changed what, from where and why: the store's
 * changes table, written by ctl_change_record in ctl.c) for `ingressctl why`, `held show` and
 * ingress-console.  Every text in a row came from a user or a client: escaped when printed,
 * made valid UTF-8 in JSON (ctl_json.h).
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ctl_json.h"
#include "util.h"

static void change_collect(const struct store_change *ch, void *arg)
{
    json_t *o = ctl_json_object();

    ctl_json_set_text(o, "type", "change");
    ctl_json_set_time(o, "time", ch->at);
    ctl_json_set_text(o, "who", ch->who);
    ctl_json_set_text(o, "source", ch->source);
    ctl_json_set_text(o, "what", ch->what);
    ctl_json_set_text(o, "key", ch->key);
    ctl_json_set_text(o, "detail", ch->detail);
    ctl_json_set_text(o, "reason", ch->reason);
    ctl_json_append(arg, o);
}

enum store_status ctl_changes_json(struct ctl *ctl, const char *key, int64_t since, int64_t until,
                                   size_t limit, json_t **doc)
{
    char bare[CTL_KEY_MAX];
    size_t len = strlen(key);

    /* An address is recorded without its brackets, as why takes it with or without. */
    if (len >= 2 && len < sizeof bare && key[0] == '<' && key[len - 1] == '>') {
        memcpy(bare, key + 1, len - 2);
        bare[len - 2] = '\0';
        key = bare;
    }
    *doc = ctl_json_array();
    enum store_status st =
        store_change_each(ctl->store, key, since, until, limit, change_collect, *doc, &ctl->err);
    if (st == STORE_OK || st == STORE_NOTFOUND)
        return STORE_OK;
    json_decref(*doc);
    *doc = NULL;
    return st;
}

static const char *field(const json_t *change, const char *name)
{
    const char *s = json_string_value(json_object_get(change, name));
    return s != NULL ? s : "";
}

void ctl_change_print(const json_t *change, const char *indent)
{
    char when[64], what[256], who[256], source[640], detail[1024], reason[1024];

    ctl_format_time((int64_t)json_integer_value(json_object_get(change, "time")), when,
                    sizeof when);
    printf("%s%s  %s by %s (%s)", indent, when,
           str_printable(what, sizeof what, field(change, "what")),
           str_printable(who, sizeof who, field(change, "who")),
           str_printable(source, sizeof source, field(change, "source")));
    if (field(change, "detail")[0] != '\0')
        printf(": %s", str_printable(detail, sizeof detail, field(change, "detail")));
    if (field(change, "reason")[0] != '\0')
        printf("; why: %s", str_printable(reason, sizeof reason, field(change, "reason")));
    putchar('\n');
}
