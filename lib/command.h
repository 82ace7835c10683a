/*
 * command: the external commands ingressctl runs to drive the MTA's queue (release and reject of
 * held mail; listing the queue to reconcile the held table; the release or reject of a message
 * another host of a shared database holds).
 *
 * A command template is the text of an option such as held_release_command: one or more
 * commands separated by ';', each split on blanks into an argument vector; "{queue_id}" inside
 * an argument is replaced by the queue id.  Nothing goes through a shell: the program is looked
 * up in PATH (when it has no '/') and started with execve(2), so a queue id can never become a
 * command.  Queue ids are checked first anyway: letters and digits only (Postfix and Sendmail
 * both use those), at most COMMAND_QUEUE_ID_MAX characters.
 */
#ifndef INGRESS_COMMAND_H
#define INGRESS_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#define COMMAND_QUEUE_ID_MAX 32
#define COMMAND_ARGS_MAX 32
#define COMMAND_TEMPLATE_MAX 2048

/* Letters and digits, 1 to COMMAND_QUEUE_ID_MAX of them. */
bool command_queue_id_valid(const char *queue_id);

/*
 * Checks a template without running it: at least one command, no empty command between ';',
 * at most COMMAND_ARGS_MAX arguments each, no placeholder other than {queue_id}.  why gets the
 * problem.
 */
bool command_template_valid(const char *tmpl, char *why, size_t whylen);

/*
 * Runs every command of tmpl in order with {queue_id} replaced by queue_id (NULL: the template
 * must not use it), stopping at the first that fails.  The commands' standard error goes to
 * ours; their standard output is collected into *out (malloc'd, NUL-terminated, at most
 * out_max bytes kept; the rest is read and dropped) when out is not NULL, else it goes to our
 * standard output.  Returns true when every command exited 0; otherwise why says which command
 * failed and how (exit status, signal, or not found).
 */
bool command_run(const char *tmpl, const char *queue_id, char **out, size_t out_max, char *why,
                 size_t whylen);

/*
 * The template of held_remote_command: empty (none), or commands as above that use {host} and
 * {queue_id}, and may use {action}; no other placeholder.
 */
bool command_remote_template_valid(const char *tmpl, char *why, size_t whylen);

/* A host name a command may get as an argument: letters, digits, '.', '-' and '_', at most 255,
 * not starting with '-' (which a program would read as an option). */
bool command_host_valid(const char *host);

/*
 * Runs held_remote_command's template with {host}, {queue_id} and {action} ("release" or
 * "reject") replaced, after checking each (command_host_valid, command_queue_id_valid); the
 * commands' output goes to ours.  Returns true when every command exited 0, else why says why.
 */
bool command_run_remote(const char *tmpl, const char *host, const char *queue_id,
                        const char *action, char *why, size_t whylen);

#endif
