/*
 * test_command: lib/command.c runs the MTA's commands for `ingressctl held` without a shell.
 * Real processes (/bin/echo, /bin/false, printf from coreutils), no mocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "command.h"

static void queue_ids_are_letters_and_digits(void **state)
{
    (void)state;
    assert_true(command_queue_id_valid("4XyZ1b2C3d"));
    assert_true(command_queue_id_valid("A1"));
    assert_false(command_queue_id_valid(""));
    assert_false(command_queue_id_valid(NULL));
    assert_false(command_queue_id_valid("ABC;rm"));
    assert_false(command_queue_id_valid("ABC DEF"));
    assert_false(command_queue_id_valid("../etc"));
    assert_false(command_queue_id_valid("-d"));
    assert_false(command_queue_id_valid("ABC\n"));
    char longest[COMMAND_QUEUE_ID_MAX + 2];
    memset(longest, 'A', sizeof longest);
    longest[COMMAND_QUEUE_ID_MAX] = '\0';
    assert_true(command_queue_id_valid(longest));
    longest[COMMAND_QUEUE_ID_MAX] = 'A';
    longest[COMMAND_QUEUE_ID_MAX + 1] = '\0';
    assert_false(command_queue_id_valid(longest));
}

static void placeholder_is_replaced_inside_arguments(void **state)
{
    (void)state;
    char *out = NULL, why[256];
    assert_true(
        command_run("echo -H {queue_id} -qI{queue_id}", "ABC123", &out, 4096, why, sizeof why));
    assert_string_equal(out, "-H ABC123 -qIABC123\n");
    free(out);
}

/* Without a shell, shell syntax is plain text: nothing is expanded, piped or redirected. */
static void no_shell_between_template_and_program(void **state)
{
    (void)state;
    char *out = NULL, why[256];
    assert_true(command_run("echo $HOME a|b >x `id` *", NULL, &out, 4096, why, sizeof why));
    assert_string_equal(out, "$HOME a|b >x `id` *\n");
    free(out);
}

static void commands_run_in_order_and_stop_at_the_first_failure(void **state)
{
    (void)state;
    char *out = NULL, why[256];
    assert_true(command_run("echo one; echo two {queue_id}", "Q1", &out, 4096, why, sizeof why));
    assert_string_equal(out, "one\ntwo Q1\n");
    free(out);
    assert_false(command_run("echo one; false; echo three", NULL, &out, 4096, why, sizeof why));
    assert_string_equal(out, "one\n");
    assert_non_null(strstr(why, "false exited with status 1"));
    free(out);
}

static void missing_program_is_named(void **state)
{
    (void)state;
    char why[256];
    assert_false(command_run("no-such-program-ingress {queue_id}", "Q1", NULL, 0, why, sizeof why));
    assert_non_null(strstr(why, "no-such-program-ingress: not found"));
    assert_false(
        command_run("/nonexistent/bin/postsuper -H {queue_id}", "Q1", NULL, 0, why, sizeof why));
    assert_non_null(strstr(why, "/nonexistent/bin/postsuper: not found"));
}

static void bad_queue_id_runs_nothing(void **state)
{
    (void)state;
    char *out = NULL, why[256];
    assert_false(command_run("echo {queue_id}", "x;id", &out, 4096, why, sizeof why));
    assert_string_equal(out, "");
    assert_non_null(strstr(why, "not a queue id"));
    free(out);
    /* A template that needs a queue id, run without one (the queue listing). */
    assert_false(command_run("echo {queue_id}", NULL, &out, 4096, why, sizeof why));
    assert_non_null(strstr(why, "needs a queue id"));
    free(out);
}

static void output_is_bounded(void **state)
{
    (void)state;
    char *out = NULL, why[256];
    /* seq prints 488,895 bytes for 1..100000: all read (no SIGPIPE), 1000 kept. */
    assert_true(command_run("seq 1 100000", NULL, &out, 1000, why, sizeof why));
    assert_int_equal(strlen(out), 1000);
    assert_memory_equal(out, "1\n2\n3\n", 6);
    free(out);
}

static void templates_are_checked(void **state)
{
    (void)state;
    char why[256];
    assert_true(command_template_valid("postsuper -H {queue_id}; postqueue -i {queue_id}", why,
                                       sizeof why));
    assert_false(command_template_valid("postsuper -d {id}", why, sizeof why));
    assert_non_null(strstr(why, "unknown placeholder"));
    assert_false(command_template_valid("a;;b", why, sizeof why));
    assert_false(command_template_valid("", why, sizeof why));
    assert_false(command_template_valid(NULL, why, sizeof why));
    char many[COMMAND_ARGS_MAX * 2 + 8];
    size_t o = 0;
    for (int i = 0; i <= COMMAND_ARGS_MAX; i++) {
        many[o++] = 'a';
        many[o++] = ' ';
    }
    many[o] = '\0';
    assert_false(command_template_valid(many, why, sizeof why));
    assert_non_null(strstr(why, "more than"));
}

/* held_remote_command: {host}, {queue_id} and {action} replaced, each checked first; a host that
 * would read as an option, a queue id or an action that is not one, runs nothing. */
static void remote_template_gets_host_queue_id_and_action(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_command.XXXXXX", tmpl[256], path[256], why[256];

    assert_non_null(mkdtemp(dir));
    snprintf(tmpl, sizeof tmpl, "touch %s/{host}-{action}-{queue_id}", dir);
    assert_true(command_run_remote(tmpl, "mx1.example_test", "Q1", "release", why, sizeof why));
    snprintf(path, sizeof path, "%s/mx1.example_test-release-Q1", dir);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(unlink(path), 0);

    assert_false(command_run_remote(tmpl, "-oProxyCommand=id", "Q1", "release", why, sizeof why));
    assert_non_null(strstr(why, "not a host name"));
    assert_false(command_run_remote(tmpl, "mx 1", "Q1", "reject", why, sizeof why));
    assert_false(command_run_remote(tmpl, "mx1", "Q1;id", "reject", why, sizeof why));
    assert_non_null(strstr(why, "not a queue id"));
    assert_false(command_run_remote(tmpl, "mx1", "Q1", "delete", why, sizeof why));
    assert_non_null(strstr(why, "release or reject"));
    assert_int_equal(rmdir(dir), 0); /* nothing was made by the refused ones */

    assert_true(command_remote_template_valid("", why, sizeof why));
    assert_true(
        command_remote_template_valid("ssh {host} held-{action} {queue_id}", why, sizeof why));
    assert_false(command_remote_template_valid("ssh mx1 postsuper -H {queue_id}", why, sizeof why));
    assert_non_null(strstr(why, "{host}"));
    assert_false(command_remote_template_valid("ssh {host} {verb} {queue_id}", why, sizeof why));
    assert_non_null(strstr(why, "unknown placeholder"));
    /* The MTA's own templates know only {queue_id}. */
    assert_false(command_template_valid("ssh {host} postsuper -H {queue_id}", why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_ids_are_letters_and_digits),
        cmocka_unit_test(placeholder_is_replaced_inside_arguments),
        cmocka_unit_test(no_shell_between_template_and_program),
        cmocka_unit_test(commands_run_in_order_and_stop_at_the_first_failure),
        cmocka_unit_test(missing_program_is_named),
        cmocka_unit_test(bad_queue_id_runs_nothing),
        cmocka_unit_test(output_is_bounded),
        cmocka_unit_test(templates_are_checked),
        cmocka_unit_test(remote_template_gets_host_queue_id_and_action),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
