/* limits.c - per-tenant ingestion rate limiting (token buckets). */
#include <pthread.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/hash.h"
#include "lib/u64map.h"
#include "server/app.h"

struct bucket {
    char *tenant;
    double tokens;
    int64_t last_ns;
    struct bucket *next; /* same hash */
};

struct tr_rate_limiters {
    pthread_mutex_t mu;
    double rate; /* tokens per second; 0 = unlimited */
    double burst;
    struct tr_u64map buckets; /* hash(tenant) -> chain */
};

struct tr_rate_limiters *tr_rate_limiters_new(double rate, double burst)
{
    struct tr_rate_limiters *l = tr_calloc(1, sizeof(*l));
    if (l == NULL) {
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->rate = rate;
    l->burst = burst > 0 ? burst : rate;
    tr_u64map_init(&l->buckets);
    return l;
}

void tr_rate_limiters_free(struct tr_rate_limiters *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->buckets.cap; i++) {
        struct bucket *b = l->buckets.slots[i].value;
        while (b != NULL) {
            struct bucket *next = b->next;
            tr_free(b->tenant);
            tr_free(b);
            b = next;
        }
    }
    tr_u64map_free(&l->buckets);
    pthread_mutex_destroy(&l->mu);
    tr_free(l);
}

bool tr_rate_limit_take(struct tr_rate_limiters *l,
                        const char *tenant,
                        double n)
{
    return l == NULL ||
           tr_rate_limit_take_with(l, tenant, n, l->rate, l->burst);
}

bool tr_rate_limit_take_with(struct tr_rate_limiters *l,
                             const char *tenant,
                             double n,
                             double rate,
                             double burst)
{
    if (l == NULL || rate <= 0) {
        return true;
    }
    if (burst <= 0) {
        burst = rate;
    }
    uint64_t h = tr_hash64(tenant, strlen(tenant), 1);
    int64_t now = tr_mono_ns();
    pthread_mutex_lock(&l->mu);
    struct bucket *head = tr_u64map_get(&l->buckets, h);
    struct bucket *b = head;
    while (b != NULL && strcmp(b->tenant, tenant) != 0) {
        b = b->next;
    }
    if (b == NULL) {
        b = tr_calloc(1, sizeof(*b));
        if (b == NULL || (b->tenant = tr_strdup(tenant)) == NULL) {
            tr_free(b);
            pthread_mutex_unlock(&l->mu);
            return true; /* fail open: never drop data on our own OOM */
        }
        b->tokens = burst;
        b->last_ns = now;
        b->next = head;
        tr_u64map_put(&l->buckets, h, b);
    }
    double elapsed = (double)(now - b->last_ns) / 1e9;
    b->last_ns = now;
    b->tokens += elapsed * rate;
    if (b->tokens > burst) {
        b->tokens = burst;
    }
    bool ok = false;
    /* a request larger than the burst passes when the bucket is full */
    if (b->tokens >= n || b->tokens >= burst) {
        b->tokens -= n;
        ok = true;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}
