/*
 * cidrtree: longest-prefix match over IPv4 and IPv6 networks (RFC 4632 3.1, RFC 4291 2.5) with a
 * path-compressed binary trie.  See cidrtree.h for the shape and the costs.
 *
 * Bit i of an address is counted from the most significant bit of its first byte, the order in
 * which prefixes are written.  A node's key has every bit past its length cleared, so two keys
 * compare with memcmp over whole bytes plus one masked byte.
 */
#include "cidrtree.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

struct cidrtree_node {
    uint8_t key[16];
    uint8_t len;      /* prefix length, 0..128 */
    int32_t child[2]; /* next bit 0 / 1; -1: none */
    int32_t value;    /* -1: a branching node that is not itself a network of the set */
};

struct cidrtree {
    struct cidrtree_node *nodes;
    size_t count, cap;
    int32_t root[2]; /* [0] IPv4, [1] IPv6 */
    size_t networks;
};

static unsigned bit_at(const uint8_t *key, unsigned i)
{
    return (key[i / 8] >> (7 - i % 8)) & 1u;
}

/* Leading bits a and b share, at most limit. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned limit)
{
    unsigned i = 0;

    while (i + 8 <= limit && a[i / 8] == b[i / 8])
        i += 8;
    while (i < limit && bit_at(a, i) == bit_at(b, i))
        i++;
    return i;
}

/* True when the first len bits of addr are those of key. */
static bool prefix_equal(const uint8_t *addr, const uint8_t *key, unsigned len)
{
    unsigned full = len / 8, rest = len % 8;

    if (memcmp(addr, key, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == key[full];
}

static int family_index(int family)
{
    return family == AF_INET6 ? 1 : 0;
}

static unsigned family_bits(int family)
{
    return family == AF_INET6 ? 128 : 32;
}

static int32_t node_new(struct cidrtree *t, const uint8_t *key, unsigned len, int32_t value)
{
    if (t->count == t->cap) {
        /* Indexes are int32: two billion nodes is a billion networks, far past any list. */
        if (t->cap >= (size_t)INT32_MAX / 2) {
            log_msg(LOG_ERR, "cidrtree: too many networks");
            abort();
        }
        t->cap = t->cap ? t->cap * 2 : 64;
        t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
    }
    struct cidrtree_node *n = &t->nodes[t->count];
    unsigned full = len / 8, rest = len % 8;
    memset(n->key, 0, sizeof n->key);
    memcpy(n->key, key, full);
    if (rest != 0)
        n->key[full] = (uint8_t)(key[full] & (0xff << (8 - rest)));
    n->len = (uint8_t)len;
    n->child[0] = n->child[1] = -1;
    n->value = value;
    return (int32_t)t->count++;
}

/* Makes child the node below parent on side (parent -1: the family's root). */
static void link_node(struct cidrtree *t, int fam, int32_t parent, unsigned side, int32_t child)
{
    if (parent < 0)
        t->root[fam] = child;
    else
        t->nodes[parent].child[side] = child;
}

struct cidrtree *cidrtree_new(void)
{
    struct cidrtree *t = xcalloc(1, sizeof *t);
    t->root[0] = t->root[1] = -1;
    return t;
}

void cidrtree_free(struct cidrtree *t)
{
    if (t == NULL)
        return;
    free(t->nodes);
    free(t);
}

void cidrtree_insert(struct cidrtree *t, const struct cidr *net, int32_t value)
{
    int fam = family_index(net->family);
    unsigned len = net->prefix > family_bits(net->family) ? family_bits(net->family) : net->prefix;
    const uint8_t *key = net->addr;
    int32_t parent = -1, idx = t->root[fam];
    unsigned side = 0;

    while (idx >= 0) {
        const struct cidrtree_node *n = &t->nodes[idx];
        unsigned common = common_bits(key, n->key, len < n->len ? len : n->len);

        if (common == n->len) {
            /* n's prefix covers the key: the same network, or go down one side. */
            if (n->len == len) {
                if (t->nodes[idx].value < 0)
                    t->networks++;
                t->nodes[idx].value = value;
                return;
            }
            parent = idx;
            side = bit_at(key, n->len);
            idx = n->child[side];
            continue;
        }
        /* The key leaves n's prefix after common bits.  node_new() may move the array: from
         * here on, only indexes. */
        int32_t above;
        if (common == len) {
            /* The key is a prefix of n: it goes between n and its parent. */
            above = node_new(t, key, len, value);
            t->nodes[above].child[bit_at(t->nodes[idx].key, len)] = idx;
        } else {
            /* They differ at bit common: a branching node takes both. */
            int32_t leaf = node_new(t, key, len, value);
            above = node_new(t, key, common, -1);
            t->nodes[above].child[bit_at(key, common)] = leaf;
            t->nodes[above].child[bit_at(t->nodes[idx].key, common)] = idx;
        }
        link_node(t, fam, parent, side, above);
        t->networks++;
        return;
    }
    link_node(t, fam, parent, side, node_new(t, key, len, value));
    t->networks++;
}

int32_t cidrtree_lookup(const struct cidrtree *t, const struct cidr *addr, unsigned *prefix)
{
    unsigned bits = family_bits(addr->family);
    int32_t idx = t->root[family_index(addr->family)], best = -1;
    unsigned best_len = 0;

    while (idx >= 0) {
        const struct cidrtree_node *n = &t->nodes[idx];
        if (!prefix_equal(addr->addr, n->key, n->len))
            break;
        if (n->value >= 0) {
            best = n->value;
            best_len = n->len;
        }
        if (n->len >= bits)
            break;
        idx = n->child[bit_at(addr->addr, n->len)];
    }
    if (prefix != NULL)
        *prefix = best_len;
    return best;
}

size_t cidrtree_count(const struct cidrtree *t)
{
    return t->networks;
}

size_t cidrtree_nodes(const struct cidrtree *t)
{
    return t->count;
}
