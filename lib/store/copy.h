/*
 * store/copy.h: the tables store_copy() moves from one database to another (lib/store/copy.c),
 * each with its columns in one order for every backend.  Each backend's statements of the copy
 * are made of these constants when it is compiled; no SQL is put together at run time.  Private
 * to lib/store/.
 *
 * Every table of the schema is here, except two a database keeps for itself: lists_version, the
 * counter the triggers of list_entries and rcpt_rules move (the copy's inserts move the target's),
 * and the schema version (each database has this build's once opened).  A migration that adds a
 * table adds it here too: tests/unit/test_store_sqlite.c fails on a table that is neither.
 * Parameters are written $1..$n, which SQLite reads as well as PostgreSQL.
 */
#ifndef INGRESS_STORE_COPY_H
#define INGRESS_STORE_COPY_H

#include <stdbool.h>
#include <stddef.h>

struct store_copy_table {
    const char *name;
    size_t columns;
    const char *select; /* every row, the columns in this order */
    const char *cursor; /* the same as PostgreSQL's cursor ingress_copy, read in slices */
    const char *insert; /* one row, the same columns as $1..$n */
    /* The same for PostgreSQL when the table's id is an identity column it generates: the row's
     * own id kept (OVERRIDING SYSTEM VALUE); NULL when the table has none. */
    const char *insert_keeping_id;
    /* Moves PostgreSQL's identity sequence past the ids copied; NULL when none. */
    const char *sequence_after;
    const char *count;
    const char *clear;
};

#define COPY_V4 "$1, $2, $3, $4"
#define COPY_V5 COPY_V4 ", $5"
#define COPY_V6 COPY_V5 ", $6"
#define COPY_V7 COPY_V6 ", $7"
#define COPY_V8 COPY_V7 ", $8"
#define COPY_V9 COPY_V8 ", $9"
#define COPY_V10 COPY_V8 ", $9, $10"
#define COPY_V14 COPY_V10 ", $11, $12, $13, $14"
#define COPY_V15 COPY_V14 ", $15"
#define COPY_V16 COPY_V15 ", $16"
#define COPY_V20 COPY_V15 ", $16, $17, $18, $19, $20"

#define COPY_TABLE(table, n, cols, values)                                                         \
    {                                                                                              \
#table, n, "SELECT " cols " FROM " #table,                                                 \
            "DECLARE ingress_copy NO SCROLL CURSOR FOR SELECT " cols " FROM " #table,              \
            "INSERT INTO " #table " (" cols ") VALUES (" values ")", NULL, NULL,                   \
            "SELECT count(*) FROM " #table, "DELETE FROM " #table                                  \
    }
#define COPY_TABLE_WITH_ID(table, n, cols, values)                                                 \
    {                                                                                              \
#table, n, "SELECT " cols " FROM " #table,                                                 \
            "DECLARE ingress_copy NO SCROLL CURSOR FOR SELECT " cols " FROM " #table,              \
            "INSERT INTO " #table " (" cols ") VALUES (" values ")",                               \
            "INSERT INTO " #table " (" cols ") OVERRIDING SYSTEM VALUE VALUES (" values ")",       \
            "SELECT setval(pg_get_serial_sequence('" #table "', 'id'), "                           \
            "COALESCE(max(id), 0) + 1, false) FROM " #table,                                       \
            "SELECT count(*) FROM " #table, "DELETE FROM " #table                                  \
    }

/* In the order they are copied: accounts before the rows that name them, the decision log last
 * (the largest by far). */
#define STORE_COPY_TABLE_LIST                                                                      \
    COPY_TABLE(accounts, 4, "name, created, suspended, suspend_reason", COPY_V4),                  \
        COPY_TABLE(aliases, 4, "account, address, added_by, added_at", COPY_V4),                   \
        COPY_TABLE(account_throttle, 10,                                                           \
                   "account, throttled, reason, reset_at, msgs_minute, rcpts_minute, "             \
                   "msgs_hour, rcpts_hour, msgs_day, rcpts_day",                                   \
                   COPY_V10),                                                                      \
        COPY_TABLE(throttle_buckets, 6, "account, width, start, msgs, rcpts, minutes", COPY_V6),   \
        COPY_TABLE_WITH_ID(list_entries, 9,                                                        \
                           "id, kind, value, action, reason, public_text, added_by, added_at, "    \
                           "expires",                                                              \
                           COPY_V9),                                                               \
        COPY_TABLE_WITH_ID(rcpt_rules, 6, "id, recipient, sender, action, added_by, added_at",     \
                           COPY_V6),                                                               \
        COPY_TABLE(greylist, 7,                                                                    \
                   "source, sender, recipient, first_seen, last_seen, confirmed_at, count",        \
                   COPY_V7),                                                                       \
        COPY_TABLE(greylist_sweep, 4, "id, source, sender, recipient", COPY_V4),                   \
        COPY_TABLE(autoallow, 4, "network, count, first_seen, last_seen", COPY_V4),                \
        COPY_TABLE_WITH_ID(held, 15,                                                               \
                           "id, queue_id, held_at, account, sender, recipients, nrcpt, subject, "  \
                           "size, reason, state, decided_by, decided_at, decision_reason, host",   \
                           COPY_V15),                                                              \
        COPY_TABLE_WITH_ID(review_requests, 10,                                                    \
                           "id, ref, at, client, contact, text, state, closed_by, closed_at, "     \
                           "reason",                                                               \
                           COPY_V10),                                                              \
        COPY_TABLE(explanations, 4, "check_name, text, set_by, set_at", COPY_V4),                  \
        COPY_TABLE_WITH_ID(changes, 8, "id, at, who, source, what, key, detail, reason", COPY_V8), \
        COPY_TABLE(dmarc_rows, 20,                                                                 \
                   "day, row_key, policy_domain, header_from, envelope_from, source_ip, p, sp, "   \
                   "pct, adkim, aspf, disposition, dkim_aligned, spf_aligned, override, dkim, "    \
                   "spf_domain, spf_scope, spf_result, messages",                                  \
                   COPY_V20),                                                                      \
        COPY_TABLE_WITH_ID(decisions, 16,                                                          \
                           "id, time, queue_id, ref, client_ip, client_name, helo, sender, "       \
                           "recipient, account, check_name, action, reply, detail, host, "         \
                           "header_from",                                                          \
                           COPY_V16)

#define COPY_DECISIONS_TIME 1 /* the column of a decision's time, in the list above */

extern const struct store_copy_table store_copy_tables[];
extern const size_t store_copy_table_count;

#endif
