/*
 * lifecycle: SIGHUP, SIGTERM and SIGINT for the main thread, and a stop of libmilter in two steps.
 * What follows is how Debian's libmilter 8.17 behaves (sendmail's libmilter/signal.c,
 * listener.c, worker.c; it is built with the pool of worker threads).
 *
 * Hearing the signals.  smfi_main() starts a thread that waits for SIGHUP, SIGTERM and SIGINT with
 * sigwait() and stops the milter on any of them, SIGHUP included, so a reload must never reach
 * it.  Linux gives a signal sent to the process to the main thread whenever that thread does not
 * block it (complete_signal() tries the thread the signal was sent to first), and only otherwise
 * to another thread that takes it, such as libmilter's.  So every thread but main blocks the
 * three, and main never does: its handler writes the signal's number to a pipe, which
 * lifecycle_wait() reads.  (Waiting in sigtimedwait() instead left main blocking them
 * during each reload, and a SIGHUP sent then stopped the milter.)
 *
 * Stopping.  smfi_stop() sets libmilter's stop flag.  The pool's controller and workers read it
 * before each command and then serve no connection any more: a transaction in flight would be
 * left without its answers.  So smfi_stop() waits until the transactions are over, and the
 * listening socket is closed before, at SIGTERM, by replacing its descriptor with an eventfd that
 * never becomes readable (dup3): the socket is gone, connections are refused, and libmilter's
 * listener polls the eventfd without noticing.  A listener already inside poll() holds the socket
 * until poll() returns (up to MI_CHK_TIME, 5 s), so it is woken with WAKE_SIGNAL.  libmilter's
 * own clean-up (mi_closener) later closes the eventfd, and does not remove the socket file, which
 * it does only for a socket or a FIFO.
 *
 * smfi_stop() itself closes the listening descriptor under the listener's mutex, which the
 * listener holds while it waits in poll() for up to 5 s and reads the stop flag only when poll()
 * returns: alone, smfi_stop() took up to 5 s with nothing to do.  It runs here on a thread of its
 * own while the listener's thread gets WAKE_SIGNAL every WAKE_INTERVAL_MS: its poll() returns
 * EINTR, it lets the mutex go, sees the flag, and smfi_main() returns.  The signal is sent again
 * until then, since one sent just before the listener enters poll() would be lost.
 */
#include "lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <libmilter/mfapi.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define WAKE_SIGNAL SIGUSR1
#define WAKE_INTERVAL_MS 20

static const int handled[] = {SIGHUP, SIGTERM, SIGINT};
static int signal_pipe[2] = {-1, -1};

static void signal_set(sigset_t *set, bool with_wake)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        sigaddset(set, handled[i]);
    if (with_wake)
        sigaddset(set, WAKE_SIGNAL);
}

static void note(unsigned char byte)
{
    int saved = errno;
    ssize_t n = write(signal_pipe[1], &byte, 1); /* a full pipe has bytes to read already */
    (void)n;
    errno = saved;
}

static void on_signal(int sig)
{
    note((unsigned char)sig);
}

/* Only there to interrupt what the listener's thread waits in (poll(), accept(), sleep()). */
static void on_wake(int sig)
{
    (void)sig;
}

void lifecycle_block_signals(void)
{
    sigset_t set;
    signal_set(&set, true);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

bool lifecycle_init(char *err, size_t errlen)
{
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        str_printf(err, errlen, "signal pipe: %s", strerror(errno));
        return false;
    }
    /* SA_NODEFER: a signal that comes while the handler runs is not left to another thread. */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART | SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    struct sigaction wake = {.sa_handler = on_wake, .sa_flags = 0};
    sigemptyset(&wake.sa_mask);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
        if (sigaction(handled[i], &sa, NULL) != 0) {
            str_printf(err, errlen, "sigaction: %s", strerror(errno));
            return false;
        }
    }
    if (sigaction(WAKE_SIGNAL, &wake, NULL) != 0) {
        str_printf(err, errlen, "sigaction: %s", strerror(errno));
        return false;
    }
    return true;
}

void lifecycle_thread_attr(pthread_attr_t *attr, bool listener)
{
    sigset_t set;
    signal_set(&set, !listener);
    pthread_attr_init(attr);
    pthread_attr_setsigmask_np(attr, &set);
}

void lifecycle_unblock_signals(void)
{
    sigset_t set;
    signal_set(&set, false);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

unsigned lifecycle_wait(int timeout_ms)
{
    struct pollfd pfd = {.fd = signal_pipe[0], .events = POLLIN};
    unsigned char bytes[64];
    unsigned seen = 0;
    for (;;) {
        ssize_t n;
        while ((n = read(signal_pipe[0], bytes, sizeof bytes)) > 0)
            for (ssize_t i = 0; i < n; i++)
                seen |= bytes[i] == 0 ? LIFECYCLE_NOTIFIED : LIFECYCLE_BIT(bytes[i]);
        if (seen != 0)
            return seen;
        int ready = poll(&pfd, 1, timeout_ms);
        if (ready == 0 || (ready < 0 && errno != EINTR))
            return 0;
    }
}

void lifecycle_notify(void)
{
    note(0);
}

int lifecycle_listener_fd(void)
{
    struct rlimit rl;
    int max = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536)
        max = (int)rl.rlim_cur;
    for (int fd = 3; fd < max; fd++) {
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
            return fd;
    }
    return -1;
}

bool lifecycle_close_listener(pthread_t listener)
{
    int fd = lifecycle_listener_fd();
    int quiet = eventfd(0, EFD_CLOEXEC);
    if (fd < 0 || quiet < 0 || dup3(quiet, fd, O_CLOEXEC) < 0) {
        if (quiet >= 0)
            close(quiet);
        return false;
    }
    close(quiet);
    /* A poll() that began before dup3() still holds the socket: end it (one that begins after
     * polls the eventfd). */
    pthread_kill(listener, WAKE_SIGNAL);
    return true;
}

static void *stop_thread(void *arg)
{
    (void)arg;
    smfi_stop();
    return NULL;
}

void lifecycle_stop_libmilter(pthread_t listener, atomic_bool *done)
{
    pthread_t stopper;
    pthread_attr_t attr;
    lifecycle_thread_attr(&attr, false);
    bool threaded = pthread_create(&stopper, &attr, stop_thread, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (!threaded)
        smfi_stop(); /* the slow way: within libmilter's 5 s */
    while (!atomic_load(done)) {
        pthread_kill(listener, WAKE_SIGNAL);
        struct timespec ts = {0, WAKE_INTERVAL_MS * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (threaded)
        pthread_join(stopper, NULL);
    pthread_join(listener, NULL);
}
