/*
 * test_dkim_keycache: the decoded-key cache on its own, with keys made by OpenSSL at test time
 * (Ed25519 keys: fast to make; the cache does not look at the key type, d2i_PUBKEY does).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dkim_keycache.h"
#include "util.h"

struct der {
    unsigned char *bytes;
    size_t len;
    EVP_PKEY *key; /* the key the bytes encode */
};

static struct der make_key(void)
{
    struct der d = {0};
    d.key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(d.key);
    unsigned char *out = NULL;
    int len = i2d_PUBKEY(d.key, &out);
    assert_true(len > 0);
    d.bytes = out;
    d.len = (size_t)len;
    return d;
}

static void der_free(struct der *d)
{
    OPENSSL_free(d->bytes);
    EVP_PKEY_free(d->key);
}

static void same_bytes_give_the_same_decoded_key(void **state)
{
    (void)state;
    struct dkim_keycache *kc = dkim_keycache_new();
    struct der d = make_key();
    size_t used = 0;
    EVP_PKEY *a = dkim_keycache_get(kc, d.bytes, d.len, &used);
    assert_non_null(a);
    assert_int_equal(used, d.len);
    assert_int_equal(EVP_PKEY_eq(a, d.key), 1);
    EVP_PKEY *b = dkim_keycache_get(kc, d.bytes, d.len, &used);
    assert_ptr_equal(a, b);
    assert_int_equal(used, d.len);
    struct dkim_keycache_stats st;
    dkim_keycache_stats(kc, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.entries, 1);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    der_free(&d);
    dkim_keycache_free(kc);
}

/* The caller's reference outlives the cache. */
static void key_outlives_the_cache(void **state)
{
    (void)state;
    struct dkim_keycache *kc = dkim_keycache_new();
    struct der d = make_key();
    size_t used;
    EVP_PKEY *a = dkim_keycache_get(kc, d.bytes, d.len, &used);
    dkim_keycache_free(kc);
    assert_int_equal(EVP_PKEY_eq(a, d.key), 1);
    EVP_PKEY_free(a);
    der_free(&d);
}

static void bytes_that_are_no_key_are_never_kept(void **state)
{
    (void)state;
    struct dkim_keycache *kc = dkim_keycache_new();
    static const unsigned char junk[] = "not a key at all";
    size_t used = 99;
    for (int i = 0; i < 3; i++) {
        assert_null(dkim_keycache_get(kc, junk, sizeof junk - 1, &used));
        assert_int_equal(used, 0);
    }
    assert_null(dkim_keycache_get(kc, junk, 0, &used));
    struct dkim_keycache_stats st;
    dkim_keycache_stats(kc, &st);
    assert_int_equal(st.invalid, 3);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.entries, 0);
    dkim_keycache_free(kc);
}

/* A key followed by other bytes decodes as d2i_PUBKEY does (the first object); "used" tells how
 * far, on a hit as on the miss.  The whole string is the entry: without the tail it is another. */
static void trailing_bytes_are_part_of_the_entry(void **state)
{
    (void)state;
    struct dkim_keycache *kc = dkim_keycache_new();
    struct der d = make_key();
    unsigned char buf[128];
    memcpy(buf, d.bytes, d.len);
    memset(buf + d.len, 0xA5, 16);
    size_t used = 0;
    for (int i = 0; i < 2; i++) {
        EVP_PKEY *k = dkim_keycache_get(kc, buf, d.len + 16, &used);
        assert_non_null(k);
        assert_int_equal(used, d.len);
        EVP_PKEY_free(k);
    }
    EVP_PKEY *k = dkim_keycache_get(kc, d.bytes, d.len, &used);
    EVP_PKEY_free(k);
    struct dkim_keycache_stats st;
    dkim_keycache_stats(kc, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.entries, 2);
    der_free(&d);
    dkim_keycache_free(kc);
}

static void byte_string_longer_than_the_bound_is_decoded_not_kept(void **state)
{
    (void)state;
    struct dkim_keycache *kc = dkim_keycache_new();
    struct der d = make_key();
    size_t len = DKIM_KEYCACHE_MAX_DER + 1;
    unsigned char *buf = calloc(1, len);
    memcpy(buf, d.bytes, d.len);
    size_t used;
    for (int i = 0; i < 2; i++) {
        EVP_PKEY *k = dkim_keycache_get(kc, buf, len, &used);
        assert_int_equal(EVP_PKEY_eq(k, d.key), 1);
        EVP_PKEY_free(k);
    }
    struct dkim_keycache_stats st;
    dkim_keycache_stats(kc, &st);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.entries, 0);
    free(buf);
    der_free(&d);
    dkim_keycache_free(kc);
}

/* A flood of new keys never grows the cache past its bound, and a key used between each of them
 * stays (its set replaces the least recently used way). */
static void flood_of_keys_stays_bounded_and_a_key_in_use_stays(void **state)
{
    (void)state;
    enum { FLOOD = 3 * DKIM_KEYCACHE_SETS * DKIM_KEYCACHE_WAYS };
    struct dkim_keycache *kc = dkim_keycache_new();
    struct der hot = make_key();
    size_t used;
    EVP_PKEY *k = dkim_keycache_get(kc, hot.bytes, hot.len, &used);
    EVP_PKEY_free(k);
    for (int i = 0; i < FLOOD; i++) {
        struct der d = make_key();
        k = dkim_keycache_get(kc, d.bytes, d.len, &used);
        assert_int_equal(EVP_PKEY_eq(k, d.key), 1);
        EVP_PKEY_free(k);
        der_free(&d);
        k = dkim_keycache_get(kc, hot.bytes, hot.len, &used);
        assert_int_equal(EVP_PKEY_eq(k, hot.key), 1);
        EVP_PKEY_free(k);
    }
    struct dkim_keycache_stats st;
    dkim_keycache_stats(kc, &st);
    assert_true(st.entries <= DKIM_KEYCACHE_SETS * DKIM_KEYCACHE_WAYS);
    assert_true(st.entries > DKIM_KEYCACHE_SETS); /* both ways of most sets are used */
    assert_int_equal(st.misses, 1 + FLOOD);       /* the hot key was decoded once */
    assert_int_equal(st.hits, FLOOD);
    der_free(&hot);
    dkim_keycache_free(kc);
}

enum { POOL = 24, THREADS = 8, ROUNDS = 2000 };

struct pool_worker {
    struct dkim_keycache *kc;
    struct der *pool;
    unsigned seed;
    int wrong;
};

static void *pool_run(void *arg)
{
    struct pool_worker *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        w->seed = w->seed * 1103515245u + 12345u;
        struct der *d = &w->pool[(w->seed >> 16) % POOL];
        size_t used;
        EVP_PKEY *k = dkim_keycache_get(w->kc, d->bytes, d->len, &used);
        if (k == NULL || EVP_PKEY_eq(k, d->key) != 1 || used != d->len)
            w->wrong++;
        EVP_PKEY_free(k);
    }
    return NULL;
}

static void threads_sharing_the_cache_each_get_their_own_key(void **state)
{
    (void)state;
    struct dkim_keycache *kc = dkim_keycache_new();
    /* At most WAYS keys of the pool in one set, so that no key is ever evicted and every miss
     * is a first sight (24 random keys in 256 sets put three in one set in a few runs in a
     * hundred, and those then evict each other). */
    struct der pool[POOL];
    int in_set[DKIM_KEYCACHE_SETS] = {0};
    for (int i = 0; i < POOL;) {
        pool[i] = make_key();
        int *n = &in_set[hash_fnv1a(pool[i].bytes, pool[i].len) % DKIM_KEYCACHE_SETS];
        if (*n == DKIM_KEYCACHE_WAYS) {
            der_free(&pool[i]);
            continue;
        }
        (*n)++;
        i++;
    }
    pthread_t threads[THREADS];
    struct pool_worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct pool_worker){.kc = kc, .pool = pool, .seed = (unsigned)i + 1};
        assert_int_equal(pthread_create(&threads[i], NULL, pool_run, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].wrong, 0);
    }
    struct dkim_keycache_stats st;
    dkim_keycache_stats(kc, &st);
    assert_int_equal(st.hits + st.misses, THREADS * ROUNDS);
    assert_true(st.entries <= POOL);
    /* two threads may both miss a key they ask for at once; not more often than that */
    assert_true(st.misses <= POOL * THREADS);
    for (int i = 0; i < POOL; i++)
        der_free(&pool[i]);
    dkim_keycache_free(kc);
}

static void free_of_null_is_a_no_op(void **state)
{
    (void)state;
    dkim_keycache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_bytes_give_the_same_decoded_key),
        cmocka_unit_test(key_outlives_the_cache),
        cmocka_unit_test(bytes_that_are_no_key_are_never_kept),
        cmocka_unit_test(trailing_bytes_are_part_of_the_entry),
        cmocka_unit_test(byte_string_longer_than_the_bound_is_decoded_not_kept),
        cmocka_unit_test(flood_of_keys_stays_bounded_and_a_key_in_use_stays),
        cmocka_unit_test(threads_sharing_the_cache_each_get_their_own_key),
        cmocka_unit_test(free_of_null_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
