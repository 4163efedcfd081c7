/* shard.h - signals and shard identity, shared by storage, Raft, the
 * catalog and the cluster layer.
 *
 * A shard is (signal, window, slot): the signal is part of its identity
 * everywhere - the column family of its data, its applied-index key, its
 * snapshot marker, its Raft group name and every internal RPC that names
 * it - so a logs shard (W, 0) never collides with the metrics shard (W, 0).
 *
 *   signal   value  letter  column family  Raft group name
 *   metrics  1      'm'     "metrics"      m<window ms>-<slot>
 *   logs     2      'l'     "logs"         l<window ms>-<slot>
 *   traces   3      't'     "traces"       t<window ms>-<slot>
 */
#ifndef TR_STORAGE_SHARD_H
#define TR_STORAGE_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tr_signal {
    TR_SIGNAL_METRICS = 1,
    TR_SIGNAL_LOGS = 2,
    TR_SIGNAL_TRACES = 3
};
#define TR_SIGNAL_MIN TR_SIGNAL_METRICS
#define TR_SIGNAL_MAX TR_SIGNAL_TRACES

/* One shard: (signal, window start ms, slot within the window). */
struct tr_shard_id {
    uint8_t signal; /* enum tr_signal */
    int64_t window; /* window start, ms since the epoch */
    uint16_t slot;
};

/* "metrics", "logs", "traces"; "unknown" otherwise. */
const char *tr_signal_name(uint8_t signal);
/* 'm', 'l', 't'; '?' otherwise. */
char tr_signal_letter(uint8_t signal);
/* true for a known signal value. */
bool tr_signal_valid(uint8_t signal);
/* The signal named by name ("metrics", ...) or 0. */
uint8_t tr_signal_parse(const char *name);

static inline bool tr_shard_eq(const struct tr_shard_id *a,
                               const struct tr_shard_id *b)
{
    return a->signal == b->signal && a->window == b->window &&
           a->slot == b->slot;
}

/* Raft group name of a shard: "<letter><window>-<slot>" (at most 40 bytes
 * with the NUL). Returns out. */
char *tr_shard_group_name(const struct tr_shard_id *id, char *out, size_t n);
/* Parses a group name back; 0 or -1 (not a shard group, e.g. "meta"). */
int tr_shard_group_parse(const char *name, struct tr_shard_id *out);

#endif
