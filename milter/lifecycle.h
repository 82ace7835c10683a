/*
 * lifecycle: signals for the main thread, and stopping libmilter in steps: the listening socket
 * closed at once, libmilter's threads stopped later, once the transactions in flight are over
 * (lifecycle.c says why libmilter needs this).
 *
 * Use, in main: lifecycle_block_signals() before any thread exists; lifecycle_init(); every thread
 * created with lifecycle_thread_attr() (listener true for the one that calls smfi_main); then
 * lifecycle_unblock_signals(), and lifecycle_wait() in a loop.  At SIGTERM:
 * lifecycle_close_listener(), then, when the transactions are over, lifecycle_stop_libmilter().
 * State: one pipe, written by the handlers and lifecycle_notify(), read by the main thread only.
 */
#ifndef INGRESS_LIFECYCLE_H
#define INGRESS_LIFECYCLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Blocks SIGHUP, SIGTERM, SIGINT and the listener's wake signal in the calling thread. */
void lifecycle_block_signals(void);

/* Makes the pipe and installs the handlers; false with err when it cannot. */
bool lifecycle_init(char *err, size_t errlen);

/* Attributes for a new thread: SIGHUP, SIGTERM and SIGINT blocked, and the wake signal too unless
 * the thread is the listener's (the one that calls smfi_main).  The caller destroys attr. */
void lifecycle_thread_attr(pthread_attr_t *attr, bool listener);

/* Lets the calling (main) thread take SIGHUP, SIGTERM and SIGINT, once the other threads run. */
void lifecycle_unblock_signals(void);

/* What lifecycle_wait() saw: bits of the signals caught, LIFECYCLE_NOTIFIED for notifies. */
#define LIFECYCLE_BIT(sig) (1U << (sig))
#define LIFECYCLE_NOTIFIED 1U

/*
 * Waits until a signal was caught or lifecycle_notify() was called, or timeout_ms passes (-1: no
 * timeout); returns everything that came since the last call (so ten SIGHUPs make one reload), 0
 * after a timeout.  Main thread only.
 */
unsigned lifecycle_wait(int timeout_ms);

/* Makes lifecycle_wait() return; async-signal-safe, any thread. */
void lifecycle_notify(void);

/* libmilter's listening socket (the one descriptor of the process that accepts connections), or
 * -1. */
int lifecycle_listener_fd(void);

/* Closes libmilter's listening socket now: connections are refused from here on, while libmilter
 * goes on serving those already open.  False when no listening socket was found. */
bool lifecycle_close_listener(pthread_t listener);

/*
 * Stops libmilter: smfi_stop(), with the listener's thread woken until smfi_main() has returned
 * there (it sets *done first), then joins that thread.  Open connections are no longer served.
 */
void lifecycle_stop_libmilter(pthread_t listener, atomic_bool *done);

#endif
