/* sealing.h - shared by the benchmarks: a node on a fake clock
 * (--debug.fake-clock) and sealing its ended windows by moving the clock
 * (POST /debug/clock?advance=) while GET /api/v1/status/cluster is polled. */
#ifndef TR_BENCH_SEALING_H
#define TR_BENCH_SEALING_H

#include <stdint.h>

#define BENCH_DAY_MS 86400000LL

/* ms as RFC3339 (seconds), the value of --debug.fake-clock. */
void rfc3339(int64_t ms, char *out, unsigned n);
/* The wall clock in ms. */
int64_t wall_ms(void);
/* Moves the clock of the node at base (http://host:port) on by `by` (e.g.
 * "3d"); dies on failure. */
void clock_advance(const char *base, const char *by);
/* Counts the shards of signal ("metrics", "logs", "traces") in windows
 * starting before `before` (ms), and how many of them are sealed; *jobs =
 * compaction jobs listed. -1s when the status cannot be read. */
void shards_sealed(const char *base,
                   const char *signal,
                   int64_t before,
                   int *total,
                   int *sealed,
                   int *jobs);
/* Polls (every 50 ms, at most 30 min) until every shard of signal before
 * `before` is sealed and no job is left; seconds since t0 (mono_s). */
double wait_sealed(const char *base,
                   const char *signal,
                   int64_t before,
                   double t0);
/* Then polls until every replica of those shards runs no Raft group any
 * more (state "sealed" in the status) and no job is left (their retire
 * jobs removed the groups' logs); seconds since t0. */
double wait_retired(const char *base,
                    const char *signal,
                    int64_t before,
                    double t0);

#endif
