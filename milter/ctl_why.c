/*
 * ctl_why: `ingressctl why KEY` tells, in plain words, what the milter decided about a queue id,
 * the reference quoted in a reply, an IP address or an email address: the same verdict the
 * sender saw in the reply and the log line holds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ctl_verbs.h"
#include "util.h"

/* Enough for a busy IP address over the retention period, not enough to flood a terminal. */
#define CTL_WHY_LIMIT 1000

/* How `why` says each action, and what it says when no reply was recorded. */
static const struct {
    const char *action; /* verdict_action_name() */
    const char *words;
    const char *without_reply;
} ctl_action_words[] = {
    {"continue", "no objection", "the message was accepted"},
    {"accept", "accepted", "the message was accepted"},
    {"tempfail", "deferred (temporary failure)", "no reply text was recorded"},
    {"reject", "rejected", "no reply text was recorded"},
    {"discard", "discarded", "the message was accepted, then discarded"},
    {"hold", "held for review", "the message was accepted and held for review"},
};

struct why_state {
    FILE *out;
    size_t count;
};

/*
 * One decision, as a postmaster reads it.  Everything from the database is escaped: the rows
 * hold what clients sent (HELO, addresses), and a terminal must not receive their bytes raw.
 */
static void print_decision(const struct decision *d, void *arg)
{
    struct why_state *why = arg;
    char when[64], a[512], b[512], c[512], text[2048];
    const char *words = NULL, *without_reply = "no reply text was recorded";

    for (size_t i = 0; i < sizeof ctl_action_words / sizeof ctl_action_words[0]; i++) {
        if (d->action != NULL && strcmp(d->action, ctl_action_words[i].action) == 0) {
            words = ctl_action_words[i].words;
            without_reply = ctl_action_words[i].without_reply;
        }
    }

    if (why->count++ > 0)
        fputc('\n', why->out);

    ctl_format_time(d->time, when, sizeof when);
    fprintf(why->out, "%s  %s", when,
            ctl_present(d->queue_id) ? str_printable(a, sizeof a, d->queue_id) : "NOQUEUE");
    if (ctl_present(d->ref))
        fprintf(why->out, "  ref %s", str_printable(a, sizeof a, d->ref));
    if (ctl_present(d->host))
        fprintf(why->out, "  on %s", str_printable(a, sizeof a, d->host));
    fputc('\n', why->out);

    fprintf(why->out, "  client %s (%s)",
            ctl_present(d->client_ip) ? str_printable(a, sizeof a, d->client_ip) : "unknown",
            ctl_present(d->client_name) ? str_printable(b, sizeof b, d->client_name) : "unknown");
    if (ctl_present(d->helo))
        fprintf(why->out, ", HELO %s", str_printable(a, sizeof a, d->helo));
    fputc('\n', why->out);

    /* The sender "" is the null sender <>, which is worth showing; NULL means not reached. */
    if (d->sender != NULL || ctl_present(d->recipient)) {
        fputs(" ", why->out);
        if (d->sender != NULL)
            fprintf(why->out, " from <%s>", str_printable(a, sizeof a, d->sender));
        if (ctl_present(d->recipient))
            fprintf(why->out, " to <%s>", str_printable(b, sizeof b, d->recipient));
        fputc('\n', why->out);
    }
    if (ctl_present(d->account))
        fprintf(why->out, "  authenticated as %s\n", str_printable(a, sizeof a, d->account));

    fprintf(why->out, "  check %s: %s\n", str_printable(a, sizeof a, d->check),
            words ? words : str_printable(c, sizeof c, d->action));
    if (ctl_present(d->reply))
        fprintf(why->out, "  the sender was told: %s\n",
                str_printable(text, sizeof text, d->reply));
    else
        fprintf(why->out, "  %s\n", without_reply);
    if (ctl_present(d->detail))
        fprintf(why->out, "  why: %s\n", str_printable(text, sizeof text, d->detail));
}

int ctl_verb_why(struct ctl *ctl, int argc, char **argv)
{
    struct why_state why = {.out = stdout};
    const char *key = argv[0];
    char escaped[CTL_KEY_MAX * 4];
    enum store_status st;

    (void)argc;
    st = store_decision_find(ctl->store, key, CTL_WHY_LIMIT, print_decision, &why, &ctl->err);
    switch (st) {
    case STORE_OK:
        if (why.count == CTL_WHY_LIMIT)
            fprintf(stdout, "\n(the first %d decisions; there may be more)\n", CTL_WHY_LIMIT);
        return CTL_EXIT_OK;
    case STORE_NOTFOUND:
        fprintf(stderr, "nothing recorded about %s\n", str_printable(escaped, sizeof escaped, key));
        return CTL_EXIT_NOTFOUND;
    case STORE_BUSY:
    case STORE_ERROR:
        break;
    }
    fprintf(stderr, "ingressctl: reading the decisions: %s\n", ctl->err.text);
    return CTL_EXIT_ERROR;
}
