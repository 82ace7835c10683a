/*
 * cidrtree: a longest-prefix-match set of IPv4 and IPv6 networks (RFC 4632 3.1 "longest match"
 * for IPv4, RFC 4291 2.5 prefixes for IPv6), as a path-compressed binary (PATRICIA) trie.
 *
 * One trie per family.  Every node holds a prefix (its bits and length); a node's children extend
 * it by at least one bit, and a chain of nodes that would each have one child and no value is
 * collapsed into one, so n networks take at most 2n nodes and a lookup visits at most one node per
 * distinct prefix length on the path: 33 for IPv4, 129 for IPv6, whatever n is.  Nodes live in
 * one array and refer to each other by index, so the tree is a few large allocations.
 *
 * A tree is built by cidrtree_insert() from one thread, then only read: lookups on a finished
 * tree are safe from any number of threads (lists.c shares it inside an immutable snapshot).
 * Each network carries an int32 value (lists.c: the index of its list entry); inserting the same
 * network twice keeps the last value.
 */
#ifndef INGRESS_CIDRTREE_H
#define INGRESS_CIDRTREE_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

struct cidrtree;

struct cidrtree *cidrtree_new(void);
void cidrtree_free(struct cidrtree *t); /* NULL is a no-op */

/* Adds net (host bits beyond its prefix are ignored) with value >= 0. */
void cidrtree_insert(struct cidrtree *t, const struct cidr *net, int32_t value);

/*
 * The value of the longest network containing addr (its prefix is ignored: the full address is
 * looked up), or -1 when none does.  *prefix gets the matched network's length when not NULL.
 */
int32_t cidrtree_lookup(const struct cidrtree *t, const struct cidr *addr, unsigned *prefix);

/* Networks stored (distinct), and nodes used (for the figures in the tests). */
size_t cidrtree_count(const struct cidrtree *t);
size_t cidrtree_nodes(const struct cidrtree *t);

#endif
