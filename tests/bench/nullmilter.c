/*
 * nullmilter: a libmilter filter that accepts everything, the ceiling of the milter protocol on
 * this machine (a benchmark baseline, not a test).
 *
 *   nullmilter -p inet:PORT@HOST|unix:PATH [-a] [-D] [-R]
 *
 * Every callback milter-ingress registers is registered here too and answers CONTINUE, so the MTA
 * sends the same steps.  -a adds one header at end of message, as milter-ingress adds
 * Authentication-Results, so the comparison is fair (two writes per end of message).  -D sets
 * TCP_NODELAY on the listening socket as milter-ingress does (listeners_set_nodelay); without it an
 * inet socket shows libmilter's default, Nagle against the MTA's delayed ACK.  Runs in the
 * foreground until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static bool add_header;
static bool no_reply_steps;

/* milter-ingress's choice (milter/callbacks.c): the steps answered without a reply. */
#define NO_REPLY_STEPS (SMFIP_NR_HELO | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)

/* What a step that got no-reply at negotiation must answer (the grant is kept per connection,
 * as the connection's private pointer: the steps it holds, not an address). */
static sfsistat step_continue(SMFICTX *ctx, unsigned long step)
{
    uintptr_t granted = (uintptr_t)smfi_getpriv(ctx);
    return (granted & step) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long actions, unsigned long steps,
                             unsigned long f2, unsigned long f3, unsigned long *pactions,
                             unsigned long *psteps, unsigned long *p2, unsigned long *p3)
{
    (void)f2;
    (void)f3;
    if ((actions & SMFIF_ADDHDRS) == 0)
        return SMFIS_REJECT;
    unsigned long granted = no_reply_steps ? steps & NO_REPLY_STEPS : 0;
    smfi_setpriv(ctx, (void *)(uintptr_t)granted);
    *pactions = SMFIF_ADDHDRS;
    *psteps = granted | (steps & (SMFIP_NOUNKNOWN | SMFIP_NODATA));
    *p2 = 0;
    *p3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat cb_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void)ctx;
    (void)host;
    (void)addr;
    return SMFIS_CONTINUE;
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
    (void)helo;
    return step_continue(ctx, SMFIP_NR_HELO);
}

static sfsistat cb_args(SMFICTX *ctx, char **argv)
{
    (void)ctx;
    (void)argv;
    return SMFIS_CONTINUE;
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    (void)name;
    (void)value;
    return step_continue(ctx, SMFIP_NR_HDR);
}

static sfsistat cb_ctx(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    return step_continue(ctx, SMFIP_NR_EOH);
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *body, size_t len)
{
    (void)body;
    (void)len;
    return step_continue(ctx, SMFIP_NR_BODY);
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    static char name[] = "Authentication-Results";
    static char value[] = "bench.example; none";
    if (add_header && smfi_insheader(ctx, 0, name, value) != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
    .xxfi_name = "nullmilter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS,
    .xxfi_connect = cb_connect,
    .xxfi_helo = cb_helo,
    .xxfi_envfrom = cb_args,
    .xxfi_envrcpt = cb_args,
    .xxfi_header = cb_header,
    .xxfi_eoh = cb_eoh,
    .xxfi_body = cb_body,
    .xxfi_eom = cb_eom,
    .xxfi_abort = cb_ctx,
    .xxfi_close = cb_ctx,
    .xxfi_negotiate = cb_negotiate,
};

/* libmilter keeps its listening socket to itself: find it among our descriptors. */
static void listeners_set_nodelay(void)
{
    struct rlimit rl;
    int max = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536)
        max = (int)rl.rlim_cur;
    for (int fd = 3; fd < max; fd++) {
        int listening = 0, one = 1;
        socklen_t len = sizeof listening;
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
            continue;
        if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
            continue;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            fprintf(stderr, "nullmilter: TCP_NODELAY: %s\n", strerror(errno));
    }
}

int main(int argc, char **argv)
{
    const char *sock = NULL;
    bool nodelay = false;
    int ch;
    while ((ch = getopt(argc, argv, "p:aDR")) != -1) {
        switch (ch) {
        case 'p':
            sock = optarg;
            break;
        case 'a':
            add_header = true;
            break;
        case 'D':
            nodelay = true;
            break;
        case 'R':
            no_reply_steps = true;
            break;
        default:
            sock = NULL;
            optind = argc + 1;
            break;
        }
    }
    if (sock == NULL || optind != argc) {
        fprintf(stderr, "usage: nullmilter -p inet:PORT@HOST|unix:PATH [-a] [-D] [-R]\n");
        return 2;
    }
    if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_setbacklog(1024) != MI_SUCCESS ||
        smfi_register(desc) != MI_SUCCESS || smfi_opensocket(true) != MI_SUCCESS) {
        fprintf(stderr, "nullmilter: cannot open %s\n", sock);
        return 1;
    }
    if (nodelay)
        listeners_set_nodelay();
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
