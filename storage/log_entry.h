/* log_entry.h - logs write entries: the compact, versioned internal
 * encoding of a validated Loki/OTLP push for one logs shard. Raft entries
 * carry it, never the client's raw bytes. Everything apply needs to decide
 * is in the entry (the out-of-order window comes from the catalog through
 * the proposer), so every replica applies it alike.
 *
 *   logs write entry (type 2, version 1)
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 2
 *   1       1        version = 1
 *   2       varint   out-of-order window ns (>= 0; zig-zag): an entry more
 *                    than this behind its stream's newest entry is refused
 *                    by apply (Loki's "entry too far behind")
 *   .       uvarint  tenant length, then tenant bytes
 *   .       uvarint  number of streams S
 *   .       per stream:
 *             uvarint  length L of the stream's canonical label set
 *                      (storage/labels.h; sorted, validated), then its
 *                      bytes (L >= 1)
 *             uvarint  number of lines N (>= 1)
 *             per line:
 *               varint   timestamp ns minus the previous line's (the first
 *                        line's: minus 0), zig-zag, wrapping int64
 *               uvarint  line length, then the line bytes
 *               uvarint  number of structured metadata pairs M
 *               per pair: uvarint name length, name, uvarint value length,
 *                        value (in the order pushed)
 *
 *   compressed logs write entry (type 2, version 2): a version 1 entry of
 *   512 bytes or more, compressed with zstd
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 2
 *   1       1        version = 2
 *   2       uvarint  length of the version 1 entry (at most 1 GiB)
 *   .       ...      zstd frame of the whole version 1 entry
 *
 *   logs cut entry (type 2, version 3): every stream of the shard with
 *   open fragments gets them merged into a block (storage/log_keys.h), as
 *   if it had reached its size; proposed by a leader before its last
 *   snapshot at a graceful stop, so that a stopped shard holds blocks only
 *   OFFSET  SIZE     DESCRIPTION
 *   0       1        type = 2
 *   1       1        version = 3
 *
 * Lines of one stream are in push order (Loki keeps that order for equal
 * timestamps); apply sorts nothing away. */
#ifndef TR_STORAGE_LOG_ENTRY_H
#define TR_STORAGE_LOG_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "storage/labels.h"

#define TR_ENTRY_LOGS 2
#define TR_ENTRY_LOGS_VERSION 1
#define TR_ENTRY_LOGS_ZSTD 2
#define TR_ENTRY_LOGS_CUT 3
#define TR_ENTRY_LOGS_CUT_SIZE 2

/* One log line: what a select returns too (storage/log_select.h). */
struct tr_log_line {
    int64_t ts;                  /* ns since the epoch */
    struct tr_slice line;        /* the line bytes (valid UTF-8) */
    const struct tr_label *meta; /* structured metadata, in push order */
    size_t n_meta;
};

/* The lines of one stream in an entry. */
struct tr_log_entry_stream {
    struct tr_slice labels; /* canonical label set (storage/labels.h) */
    const struct tr_log_line *lines;
    size_t n_lines;
};

struct tr_entry_logs {
    struct tr_slice tenant;
    const struct tr_log_entry_stream *streams;
    size_t n_streams;
    int64_t ooo_window_ns; /* out-of-order acceptance behind the newest */
};

/* Appends the entry (compressed when large). Streams without lines are
 * left out. 0 or TR_ENOMEM. */
int tr_entry_logs_encode(const struct tr_entry_logs *e, struct tr_buf *out);
/* The same, and when the entry was compressed, its version 1 form (what
 * it decompresses to) in *plain_out (replaced; left as it is otherwise). */
int tr_entry_logs_encode_both(const struct tr_entry_logs *e,
                              struct tr_buf *out,
                              struct tr_buf *plain_out);
/* Decodes; slices point into buf (or into the arena for a compressed
 * entry), arrays in arena. TR_ECORRUPT for anything malformed (a stream
 * with no labels or no lines, lengths past the end, trailing bytes),
 * TR_ENOMEM. */
int tr_entry_logs_decode(const void *buf,
                         size_t len,
                         struct tr_arena *a,
                         struct tr_entry_logs *out);
/* The logs cut entry. */
void tr_entry_logs_cut_encode(uint8_t out[TR_ENTRY_LOGS_CUT_SIZE]);
bool tr_entry_logs_is_cut(const void *buf, size_t len);

#endif
