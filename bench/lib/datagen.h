/* datagen.h - shared by the benchmarks: the deterministic data set
 * (series labels, values and timestamps of "realistic" scrapes), small
 * protobuf writing helpers and utilities. */
#ifndef TR_BENCH_DATAGEN_H
#define TR_BENCH_DATAGEN_H

#include <stddef.h>
#include <stdint.h>

#define SCRAPE_MS 15000
#define COMBOS 1000 /* label combinations per metric name */

extern const char *bench_prog; /* program name for die() */
extern int64_t t0_ms;          /* timestamp of round 0 */

struct bytes {
    char *p;
    size_t len, cap;
};

enum kind { COUNTER, GAUGE_INT, GAUGE_FLOAT, GAUGE_RATIO, BUCKET };

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
double mono_s(void);
uint64_t mix64(uint64_t x);
uint64_t h2(uint64_t a, uint64_t b);
void b_reserve(struct bytes *b, size_t n);
void b_put(struct bytes *b, const void *p, size_t n);
void b_uvarint(struct bytes *b, uint64_t v);
size_t uvarint_len(uint64_t v);
void b_field_str(struct bytes *b, unsigned field, const char *s);
enum kind kind_of(long s);
void encode_labels(long s, struct bytes *out);
double initial_value(long s);
double next_value(long s, long r, double prev);
int64_t ts_of(long s, long r);

#endif
