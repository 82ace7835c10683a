/*
 * test_sender: lib/sender.c, which addresses an account owns, and the accounts
 * section of the store it reads them from (a real SQLite file in a fresh temporary directory).
 * Each ownership rule is one test named after it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "sender.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

static struct addr A(const char *text) {
    struct addr a;
    bool null_path;
    assert_int_equal(addr_parse_path(text, strlen(text), &a, &null_path, NULL, 0), ADDR_OK);
    return a;
}

static bool
owns(const struct sender_account *acct, const char *text, bool case_sensitive)
{
    struct addr a = A(text);
    return sender_owns(acct, &a, case_sensitive);
}

static void test_login_that_is_an_address_is_owned(void **state)
{
    struct sender_account acct;
    (void)state;
    sender_account_init(&acct, "alice@example.org");
    assert_true(owns(&acct, "<alice@example.org>", false));
    assert_true(owns(&acct, "<alice@EXAMPLE.org>", true)); /* domains never have case */
    assert_false(owns(&acct, "<bob@example.org>", false));
    sender_account_free(&acct);
}

static void test_login_that_is_not_an_address_owns_nothing(void **state)
{
    struct sender_account acct;
    (void)state;
    sender_account_init(&acct, "alice");
    assert_false(acct.has_login);
    assert_false(owns(&acct, "<alice@example.org>", false));
    sender_account_free(&acct);
}

static void test_exact_alias_is_owned_and_only_it(void **state)
{
    struct sender_account acct;
    (void)state;
    sender_account_init(&acct, "alice");
    assert_true(sender_account_add_alias(&acct, "sales@Example.NET"));
    assert_true(owns(&acct, "<sales@example.net>", false));
    assert_false(owns(&acct, "<sales2@example.net>", false));
    assert_false(owns(&acct, "<sales@example.net.evil>", false));
    assert_false(owns(&acct, "<sales@sub.example.net>", false));
    sender_account_free(&acct);
}

static void test_domain_alias_owns_every_address_of_that_domain_only(void **state)
{
    struct sender_account acct;
    (void)state;
    sender_account_init(&acct, "admin@example.com");
    assert_true(sender_account_add_alias(&acct, "@Example.ORG"));
    assert_true(owns(&acct, "<anyone@example.org>", false));
    assert_true(owns(&acct, "<\"quoted one\"@EXAMPLE.ORG>", true));
    assert_false(owns(&acct, "<anyone@sub.example.org>", false));
    assert_false(owns(&acct, "<anyone@example.org.evil>", false));
    assert_false(owns(&acct, "<anyone@notexample.org>", false));
    sender_account_free(&acct);
}

static void test_local_part_case_is_ignored_by_default_and_kept_when_asked(void **state)
{
    struct sender_account acct;
    (void)state;
    sender_account_init(&acct, "Alice@example.org");
    assert_true(sender_account_add_alias(&acct, "Sales@example.net"));
    assert_true(owns(&acct, "<alice@example.org>", false));
    assert_false(owns(&acct, "<alice@example.org>", true));
    assert_true(owns(&acct, "<Alice@Example.org>", true));
    assert_true(owns(&acct, "<SALES@example.net>", false));
    assert_false(owns(&acct, "<SALES@example.net>", true));
    sender_account_free(&acct);
}

static void test_null_sender_is_owned_by_nobody(void **state)
{
    struct sender_account acct;
    struct addr null = {"", ""};
    (void)state;
    sender_account_init(&acct, "alice@example.org");
    assert_true(sender_account_add_alias(&acct, "@example.org"));
    assert_false(sender_owns(&acct, &null, false));
    sender_account_free(&acct);
    sender_account_free(NULL);
}

static void test_alias_normalize_refuses_what_is_not_an_address(void **state)
{
    char out[ADDR_TEXT_MAX], why[128];
    (void)state;
    assert_true(sender_alias_normalize("<Bob@Example.ORG>", out, sizeof out, why, sizeof why));
    assert_string_equal(out, "Bob@example.org");
    assert_true(sender_alias_normalize("@Example.ORG", out, sizeof out, why, sizeof why));
    assert_string_equal(out, "@example.org");
    assert_false(sender_alias_normalize("bob", out, sizeof out, why, sizeof why));
    assert_false(sender_alias_normalize("@", out, sizeof out, why, sizeof why));
    assert_false(sender_alias_normalize("<>", out, sizeof out, why, sizeof why));
    assert_false(sender_alias_normalize("@a b", out, sizeof out, why, sizeof why));
}

static void test_check_rejects_naming_the_first_address_not_owned(void **state)
{
    struct config *cfg = config_new_defaults();
    struct sender_account acct;
    struct addr addrs[3] = {A("<alice@example.org>"), A("<mallory@evil.example>"),
                            A("<eve@evil.example>")};
    struct verdict v;
    (void)state;
    sender_account_init(&acct, "alice@example.org");
    assert_int_equal(cfg->sender_check, SENDER_CHECK_REJECT);
    v = sender_check_addresses(cfg, &acct, addrs, 1, "mail_from");
    assert_int_equal(v.action, VERDICT_CONTINUE);
    v = sender_check_addresses(cfg, &acct, addrs, 3, "header_from");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SENDER_MISMATCH);
    assert_non_null(strstr(v.text, "mallory@evil.example"));
    assert_non_null(strstr(v.detail, "header_from=<mallory@evil.example>"));
    assert_true(verdict_reply_consistent(&v));

    assert_true(config_set(cfg, "sender_check", "log", NULL, 0));
    v = sender_check_addresses(cfg, &acct, addrs, 3, "header_from");
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(v.detail, "would reject"));
    assert_true(config_set(cfg, "sender_check", "off", NULL, 0));
    v = sender_check_addresses(cfg, &acct, addrs, 3, "header_from");
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_string_equal(v.detail, "");
    sender_account_free(&acct);
    config_free(cfg);
}

/* ---- the store's accounts section ---- */

static void count_alias(const struct store_alias *a, void *arg)
{
    (void)a;
    (*(int *)arg)++;
}

static void keep_account(const struct store_account *a, void *arg)
{
    *(struct store_account *)arg = *a;
    ((struct store_account *)arg)->name = NULL; /* lives only during the call */
}

static void test_store_aliases_round_trip_and_load(void **state)
{
    char dir[] = "/tmp/test_sender.XXXXXX", db[64];
    struct store *s;
    struct sender_account acct;
    struct store_alias alias = {.account = "alice@example.org",
                                .address = "@example.net",
                                .added_by = "test",
                                .added_at = 1700000000};
    struct store_account seen = {0};
    bool created;
    int n = 0;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/ingress.db", dir);
    struct store_error serr;
    s = store_open(db, 1000, &serr);
    assert_non_null(s);

    assert_int_equal(store_alias_add(s, &alias, &created, NULL), STORE_OK);
    assert_true(created);
    assert_int_equal(store_alias_add(s, &alias, &created, NULL), STORE_OK);
    assert_false(created);
    alias.address = "sales@example.com";
    assert_int_equal(store_alias_add(s, &alias, &created, NULL), STORE_OK);
    /* the account was created by its first alias; a second add is no change */
    assert_int_equal(store_account_add(s, "ALICE@example.org", 1, &created, NULL), STORE_OK);
    assert_false(created);
    assert_int_equal(store_account_each(s, "alice@example.org", keep_account, &seen, NULL),
                     STORE_OK);
    assert_int_equal(seen.alias_count, 2);
    assert_int_equal(seen.created, 1700000000);
    assert_int_equal(seen.suspended, 0);

    assert_int_equal(sender_account_load(s, "alice@example.org", &acct), STORE_OK);
    assert_int_equal(acct.alias_count, 2);
    assert_true(owns(&acct, "<x@example.net>", false));
    assert_true(owns(&acct, "<sales@example.com>", false));
    assert_false(owns(&acct, "<x@example.com>", false));
    sender_account_free(&acct);

    assert_int_equal(store_alias_del(s, "alice@example.org", "@example.net", NULL), STORE_OK);
    assert_int_equal(store_alias_del(s, "alice@example.org", "@example.net", NULL), STORE_NOTFOUND);
    assert_int_equal(store_alias_each(s, NULL, count_alias, &n, NULL), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_alias_each(s, "nobody", count_alias, &n, NULL), STORE_NOTFOUND);
    assert_int_equal(sender_account_load(s, "nobody@example.org", &acct), STORE_OK);
    assert_int_equal(acct.alias_count, 0);
    sender_account_free(&acct);
    assert_int_equal(store_account_each(s, "nobody", keep_account, &seen, NULL), STORE_NOTFOUND);

    store_close(s);
    char path[128];
    static const char *const files[] = {"ingress.db", "ingress.db-wal", "ingress.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_that_is_an_address_is_owned),
        cmocka_unit_test(test_login_that_is_not_an_address_owns_nothing),
        cmocka_unit_test(test_exact_alias_is_owned_and_only_it),
        cmocka_unit_test(test_domain_alias_owns_every_address_of_that_domain_only),
        cmocka_unit_test(test_local_part_case_is_ignored_by_default_and_kept_when_asked),
        cmocka_unit_test(test_null_sender_is_owned_by_nobody),
        cmocka_unit_test(test_alias_normalize_refuses_what_is_not_an_address),
        cmocka_unit_test(test_check_rejects_naming_the_first_address_not_owned),
        cmocka_unit_test(test_store_aliases_round_trip_and_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
