/*
 * dkim_keycache: decoded DKIM public keys by the bytes of their DER encoding; see
 * dkim_keycache.h for why and for the bounds.
 */
#include "dkim_keycache.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "util.h"

struct keycache_entry {
    unsigned char *der; /* NULL: the way is empty */
    size_t len, used;
    EVP_PKEY *key; /* the cache's own reference */
    uint64_t last_use;
};

struct dkim_keycache {
    pthread_mutex_t mutex;
    uint64_t clock; /* ticks once per lookup, for least-recently-used */
    struct dkim_keycache_stats stats;
    struct keycache_entry ways[DKIM_KEYCACHE_SETS][DKIM_KEYCACHE_WAYS];
};

struct dkim_keycache *dkim_keycache_new(void)
{
    struct dkim_keycache *kc = xcalloc(1, sizeof *kc);
    if (pthread_mutex_init(&kc->mutex, NULL) != 0)
        abort();
    return kc;
}

void dkim_keycache_free(struct dkim_keycache *kc)
{
    if (kc == NULL)
        return;
    for (size_t s = 0; s < DKIM_KEYCACHE_SETS; s++)
        for (size_t w = 0; w < DKIM_KEYCACHE_WAYS; w++) {
            EVP_PKEY_free(kc->ways[s][w].key);
            free(kc->ways[s][w].der);
        }
    pthread_mutex_destroy(&kc->mutex);
    free(kc);
}

/* The set only spreads keys; a collision costs a decode, never a wrong key, because an entry
 * matches only on its whole byte string. */
static size_t set_of(const unsigned char *der, size_t len)
{
    return (size_t)(hash_fnv1a(der, len) % DKIM_KEYCACHE_SETS);
}

static struct keycache_entry *find(struct keycache_entry *set, const unsigned char *der, size_t len)
{
    for (size_t w = 0; w < DKIM_KEYCACHE_WAYS; w++)
        if (set[w].der != NULL && set[w].len == len && memcmp(set[w].der, der, len) == 0)
            return &set[w];
    return NULL;
}

static EVP_PKEY *decode(const unsigned char *der, size_t len, size_t *used)
{
    if (len > LONG_MAX)
        return NULL;
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);
    if (key != NULL)
        *used = (size_t)(p - der);
    return key;
}

EVP_PKEY *dkim_keycache_get(struct dkim_keycache *kc, const unsigned char *der, size_t len,
                            size_t *used)
{
    *used = 0;
    if (len == 0)
        return NULL;
    struct keycache_entry *set = kc->ways[set_of(der, len)];

    pthread_mutex_lock(&kc->mutex);
    struct keycache_entry *e = find(set, der, len);
    if (e != NULL && EVP_PKEY_up_ref(e->key) == 1) {
        e->last_use = ++kc->clock;
        kc->stats.hits++;
        EVP_PKEY *key = e->key;
        *used = e->used;
        pthread_mutex_unlock(&kc->mutex);
        return key;
    }
    kc->stats.misses++;
    pthread_mutex_unlock(&kc->mutex);

    /* Decoded outside the mutex: two threads that miss the same key both decode it, and the
     * second insert finds the first and keeps it. */
    size_t key_used = 0;
    EVP_PKEY *key = decode(der, len, &key_used);
    if (key == NULL) {
        pthread_mutex_lock(&kc->mutex);
        kc->stats.invalid++;
        pthread_mutex_unlock(&kc->mutex);
        return NULL;
    }
    *used = key_used;
    if (len > DKIM_KEYCACHE_MAX_DER)
        return key;
    unsigned char *copy = xmalloc(len);
    memcpy(copy, der, len);

    pthread_mutex_lock(&kc->mutex);
    if (find(set, der, len) != NULL || EVP_PKEY_up_ref(key) != 1) {
        pthread_mutex_unlock(&kc->mutex);
        free(copy);
        return key;
    }
    struct keycache_entry *victim = &set[0];
    for (size_t w = 1; w < DKIM_KEYCACHE_WAYS; w++)
        if (set[w].der == NULL || (victim->der != NULL && set[w].last_use < victim->last_use))
            victim = &set[w];
    EVP_PKEY *old_key = victim->key;
    unsigned char *old_der = victim->der;
    if (old_der == NULL)
        kc->stats.entries++;
    *victim = (struct keycache_entry){
        .der = copy, .len = len, .used = key_used, .key = key, .last_use = ++kc->clock};
    pthread_mutex_unlock(&kc->mutex);
    EVP_PKEY_free(old_key);
    free(old_der);
    return key;
}

void dkim_keycache_stats(struct dkim_keycache *kc, struct dkim_keycache_stats *out)
{
    pthread_mutex_lock(&kc->mutex);
    *out = kc->stats;
    pthread_mutex_unlock(&kc->mutex);
}
