/*
 * log: one place where log lines leave the process: syslog, or stderr in the foreground.
 *
 * Callers escape untrusted values with str_escape() before passing them; the format string is
 * always a literal (checked by the compiler through the format attribute).
 * Thread-safe: syslog(3) is, and stderr lines are written with one fprintf under the stdio lock.
 */
#ifndef INGRESS_LOG_H
#define INGRESS_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Opens the log: to_stderr for -f and the tools; facility is a syslog facility name ("mail"). */
void log_open(const char *ident, bool to_stderr, const char *facility);
/* Messages above this priority are dropped (LOG_INFO by default, LOG_DEBUG with -v). */
void log_set_level(int priority);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Maps "mail", "local0" ... "local7", "daemon", "user" to LOG_*; -1 when unknown. */
int log_facility_from_name(const char *name);

#endif
