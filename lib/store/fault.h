/*
 * store/fault.h: a backend that wraps the backend of an open store and makes chosen operations
 * fail, so that the tests of faults (a database busy or broken at a given step) run the same way
 * on every backend instead of each engine's own tricks (a lock held by another SQLite
 * connection, a dropped table).  For the tests only: it is compiled into them
 * (tests/CMakeLists.txt), never into the milter.
 *
 * The wrapper passes every call on to the backend it wraps until told to fail: then the chosen
 * operation returns the chosen status with the message "injected fault: OPERATION", without
 * reaching the backend.  A wrapped store does not check its files: store_check() returns at once.
 * The fault settings are guarded by a mutex of the wrapper's own, so a test may change them while
 * other threads (the decision writer) use the store.
 */
#ifndef INGRESS_STORE_FAULT_H
#define INGRESS_STORE_FAULT_H

#include "store.h"

/* The operations of the backend table (lib/store/backend.h) a fault can be put on. */
#define STORE_FAULT_OPERATIONS(X)                                                                  \
    X(BEGIN, begin)                                                                                \
    X(COMMIT, commit)                                                                              \
    X(DECISION_INSERT, decision_insert)                                                            \
    X(DECISION_FIND, decision_find)                                                                \
    X(DECISION_SEARCH, decision_search)                                                            \
    X(DECISION_TALLY, decision_tally)                                                              \
    X(DECISION_EXPIRE, decision_expire)                                                            \
    X(DMARC_UPSERT, dmarc_upsert)                                                                  \
    X(DMARC_EACH, dmarc_each)                                                                      \
    X(DMARC_EXPIRE, dmarc_expire)                                                                  \
    X(WRITER_START, writer_start)                                                                  \
    X(GREYLIST_READ, greylist_read)                                                                \
    X(GREYLIST_WRITE, greylist_write)                                                              \
    X(AUTOALLOW_READ, autoallow_read)                                                              \
    X(AUTOALLOW_WRITE, autoallow_write)                                                            \
    X(GREYLIST_EXPIRE, greylist_expire)                                                            \
    X(LISTS_VERSION, lists_version)                                                                \
    X(LIST_EACH, list_each)                                                                        \
    X(LIST_PUT, list_put)                                                                          \
    X(LIST_DEL, list_del)                                                                          \
    X(RULE_PUT, rule_put)                                                                          \
    X(RULE_DEL, rule_del)                                                                          \
    X(RULE_EACH, rule_each)                                                                        \
    X(ACCOUNT_ADD, account_add)                                                                    \
    X(ACCOUNT_EACH, account_each)                                                                  \
    X(ALIAS_ADD, alias_add)                                                                        \
    X(ALIAS_DEL, alias_del)                                                                        \
    X(ALIAS_EACH, alias_each)                                                                      \
    X(ACCOUNT_SUSPEND, account_suspend)                                                            \
    X(ACCOUNT_SUSPENDED, account_suspended)                                                        \
    X(ACCOUNT_RESUME, account_resume)                                                              \
    X(HELD_ADD, held_add)                                                                          \
    X(HELD_EACH, held_each)                                                                        \
    X(HELD_DECIDE, held_decide)                                                                    \
    X(HELD_EXPIRE, held_expire)                                                                    \
    X(HELD_UNDO, held_undo)                                                                        \
    X(REVIEW_ADD, review_add)                                                                      \
    X(REVIEW_EACH, review_each)                                                                    \
    X(REVIEW_CLOSE, review_close)                                                                  \
    X(REVIEW_EXPIRE, review_expire)                                                                \
    X(EXPLANATION_SET, explanation_set)                                                            \
    X(EXPLANATION_EACH, explanation_each)                                                          \
    X(CHANGE_ADD, change_add)                                                                      \
    X(CHANGE_EACH, change_each)                                                                    \
    X(CHANGE_EXPIRE, change_expire)                                                                \
    X(MAINTENANCE_LOCK, maintenance_lock)                                                          \
    X(THROTTLE_GET, throttle_get)                                                                  \
    X(THROTTLE_BUCKET_EACH, throttle_bucket_each)                                                  \
    X(THROTTLE_BUCKET_ADD, throttle_bucket_add)                                                    \
    X(THROTTLE_MARK, throttle_mark)                                                                \
    X(THROTTLE_CLEAR, throttle_clear)                                                              \
    X(THROTTLE_SET_LIMITS, throttle_set_limits)                                                    \
    X(THROTTLE_EACH, throttle_each)                                                                \
    X(THROTTLE_EXPIRE, throttle_expire)

#define STORE_FAULT_ENUM(upper, lower) STORE_FAULT_##upper,
enum store_fault_op { STORE_FAULT_OPERATIONS(STORE_FAULT_ENUM) STORE_FAULT_OPS };
#undef STORE_FAULT_ENUM

/*
 * Puts s's backend behind the wrapper.  Call it right after store_open(), before the store is
 * used by another thread or its decision writer starts; store_close() closes both.
 */
void store_fault_wrap(struct store *s);

/*
 * From now on op passes `skip` calls, then fails the next `count` ones (count < 0: every one
 * until cleared) with status (STORE_BUSY or STORE_ERROR).
 */
void store_fault_set(struct store *s, enum store_fault_op op, enum store_status status,
                     unsigned skip, int count);

/*
 * From now on decision_insert refuses every batch that holds the row whose reference is ref, as a
 * server refuses a statement for one row's content: STORE_ERROR with the error's sqlstate set
 * ("22021", "23514"), the batch's other rows not written.  Cleared by store_fault_clear().
 */
void store_fault_refuse_row(struct store *s, const char *ref, const char *sqlstate);

/* Every operation passes again. */
void store_fault_clear(struct store *s);

/* How many times op was called since the wrap, failed or not. */
unsigned store_fault_calls(struct store *s, enum store_fault_op op);

/* "begin", "decision_insert", ...: the operation's name in the table. */
const char *store_fault_name(enum store_fault_op op);

/*
 * Writes e with the list_put of writer's backend (a store that writes) inside one transaction of
 * target, as a write operation a dry run's stubs did not cover would: for the test that the engine
 * itself refuses a dry run's writes.
 */
enum store_status store_fault_write_around(struct store *target, const struct store *writer,
                                           const struct list_entry *e, struct store_error *err);

#endif
