/*
 * test_mimeword: RFC 2047 encoded words decoded for a person (lib/mimeword.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "mimeword.h"

static const char *decoded(const char *in)
{
    static char out[256];
    return mimeword_decode(in, out, sizeof out);
}

static void utf8_b_and_q_words_decode(void **state)
{
    (void)state;
    assert_string_equal(decoded("=?UTF-8?B?Y2Fmw6k=?="), "caf\xc3\xa9");
    assert_string_equal(decoded("=?utf-8?q?caf=C3=A9_cr=C3=A8me?="), "caf\xc3\xa9 cr\xc3\xa8me");
    assert_string_equal(decoded("Re: =?UTF-8?B?w6l0w6k=?= report"), "Re: \xc3\xa9t\xc3\xa9 report");
}

static void latin1_becomes_utf8(void **state)
{
    (void)state;
    assert_string_equal(decoded("=?ISO-8859-1?Q?caf=E9?="), "caf\xc3\xa9");
    assert_string_equal(decoded("=?iso-8859-1?B?Y2Fm6Q==?="), "caf\xc3\xa9");
}

static void blanks_between_encoded_words_are_dropped(void **state)
{
    (void)state;
    /* RFC 2047 6.2 and its examples in 8. */
    assert_string_equal(decoded("=?UTF-8?Q?a?= =?UTF-8?Q?b?="), "ab");
    assert_string_equal(decoded("=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?="), "ab");
    assert_string_equal(decoded("=?UTF-8?Q?a?= b"), "a b");
    assert_string_equal(decoded("a =?UTF-8?Q?b?="), "a b");
}

static void other_charsets_and_broken_words_stay_raw(void **state)
{
    (void)state;
    assert_string_equal(decoded("=?KOI8-R?B?8NLJ18XU?="), "=?KOI8-R?B?8NLJ18XU?=");
    assert_string_equal(decoded("=?UTF-8?X?abc?="), "=?UTF-8?X?abc?=");
    assert_string_equal(decoded("=?UTF-8?Q?bad=Z1?="), "=?UTF-8?Q?bad=Z1?=");
    assert_string_equal(decoded("=?UTF-8?Q?unterminated"), "=?UTF-8?Q?unterminated");
    assert_string_equal(decoded("=?UTF-8?B?***?="), "=?UTF-8?B?***?=");
    assert_string_equal(decoded("plain text"), "plain text");
}

static void output_is_bounded_and_terminated(void **state)
{
    char small[6];
    (void)state;
    mimeword_decode("=?UTF-8?Q?abcdefgh?=", small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    mimeword_decode("abcdefgh", small, sizeof small);
    assert_string_equal(small, "abcde");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_b_and_q_words_decode),
        cmocka_unit_test(latin1_becomes_utf8),
        cmocka_unit_test(blanks_between_encoded_words_are_dropped),
        cmocka_unit_test(other_charsets_and_broken_words_stay_raw),
        cmocka_unit_test(output_is_bounded_and_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
