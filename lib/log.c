/*
 * log: syslog, or stderr in the foreground (-f) and in the tools.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Set once by main before any thread starts; read-only afterwards. */
static bool log_to_stderr = true;
static int log_level = LOG_INFO;

static const struct {
    const char *name;
    int facility;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

int log_facility_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (strcasecmp(name, facilities[i].name) == 0)
            return facilities[i].facility;
    return -1;
}

void log_open(const char *ident, bool to_stderr, const char *facility)
{
    log_to_stderr = to_stderr;
    if (!to_stderr) {
        int f = facility ? log_facility_from_name(facility) : LOG_MAIL;
        openlog(ident, LOG_PID | LOG_NDELAY, f < 0 ? LOG_MAIL : f);
    }
}

void log_set_level(int priority)
{
    log_level = priority;
}

static const char *priority_name(int priority)
{
    switch (priority) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
        return "fatal";
    case LOG_ERR:
        return "error";
    case LOG_WARNING:
        return "warning";
    case LOG_DEBUG:
        return "debug";
    default:
        return "info";
    }
}

void log_msg(int priority, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    if (priority > log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!log_to_stderr) {
        syslog(priority, "%s", line);
        return;
    }
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s: %s\n", stamp, ts.tv_nsec / 1000000L, priority_name(priority),
            line);
}
