/*
 * ctl_changes: shared by the verb files and ingress-console, like ctl.c: the list changes more
 * than one verb makes (list add and del, unblock, the console's lists), each recorded, an entry
 * as JSON, and the reading of the record of changes (who changed what, from where and why: the
 * store's changes table, written by ctl_change_record in ctl.c) for `why`, `held show` and the
 * console.  Every text in a row came from a user or a client: escaped when printed, made valid
 * UTF-8 in JSON (ctl_json.h).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "ctl_json.h"
#include "lists.h"
#include "util.h"

bool ctl_list_extras_valid(enum lists_action action, const char *public_text, const char *expires,
                           int64_t now, int64_t *expires_at, char *why, size_t whylen)
{
    int64_t ms = 0;

    *expires_at = 0;
    /* The public text is what the sender reads; the reason is for the postmaster only. */
    if (public_text != NULL && !lists_public_text_valid(public_text)) {
        str_printf(why, whylen,
                   "the public text must be printable ASCII, at most %d characters (it goes into "
                   "the SMTP reply)",
                   LISTS_REASON_MAX);
        return false;
    }
    if (public_text != NULL && public_text[0] != '\0' && action != LISTS_BLOCK) {
        str_printf(why, whylen, "--public is the reply of a block entry; a %s entry sends no reply",
                   lists_action_name(action));
        return false;
    }
    if (expires != NULL && (!config_parse_duration(expires, &ms) || ms < 1000)) {
        str_printf(why, whylen, "expires wants a duration like 30m, 12h, 7d or 2w");
        return false;
    }
    if (expires != NULL)
        *expires_at = now + ms / 1000;
    return true;
}

enum store_status ctl_list_add(struct ctl *ctl, const struct list_entry *e, char *previous,
                               size_t previous_len)
{
    char detail[LISTS_VALUE_MAX + 128], until[32];

    enum store_status st = store_list_add(ctl->store, e, previous, previous_len, &ctl->err);
    if (st != STORE_OK)
        return st;
    if (e->expires > 0)
        ctl_format_minute(e->expires, until, sizeof until);
    str_printf(detail, sizeof detail, "%s %s %s%s%s%s%s", e->kind, e->value, e->action,
               e->expires > 0 ? " until " : "", e->expires > 0 ? until : "",
               previous[0] != '\0' ? ", was " : "", previous);
    ctl_change_record(ctl, "list add", e->value, detail, e->reason);
    return STORE_OK;
}

enum store_status ctl_list_del(struct ctl *ctl, const char *kind, const char *value,
                               const char *reason)
{
    char detail[LISTS_VALUE_MAX + 64];

    enum store_status st = store_list_del(ctl->store, kind, value, &ctl->err);
    if (st != STORE_OK)
        return st;
    str_printf(detail, sizeof detail, "%s %s deleted", kind, value);
    ctl_change_record(ctl, "list del", value, detail, reason);
    return STORE_OK;
}

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

json_t *ctl_list_entry_json(const struct list_entry *e, int64_t now)
{
    json_t *row = ctl_json_object();
    ctl_json_set_text(row, "kind", e->kind);
    ctl_json_set_text(row, "value", e->value);
    ctl_json_set_text(row, "action", e->action);
    ctl_json_set_text(row, "reason", e->reason);
    ctl_json_set_text(row, "public", e->public_text);
    ctl_json_set_text(row, "added_by", e->added_by);
    ctl_json_set_int(row, "added_at", e->added_at);
    ctl_json_set_time(row, "expires", e->expires);
    ctl_json_set_bool(row, "expired", e->expires > 0 && e->expires <= now);
    return row;
}
