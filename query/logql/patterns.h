/* patterns.h - log pattern mining for GET /loki/api/v1/patterns: a Drain
 * log-template miner (He et al., ICWS 2017) in the variant Loki's pattern
 * ingester runs (pkg/pattern/drain), written for triad.
 *
 * Lines are trained one at a time. Each is cut into tokens, routed through
 * a fixed-depth prefix tree (first level: the token count; next levels: the
 * leading tokens, a token holding a digit always going to the wildcard
 * child) to a leaf holding candidate clusters, and joins the most similar
 * candidate (share of equal tokens >= sim_threshold) or starts a new
 * cluster. Joining turns every differing position of the template into the
 * placeholder `<_>`. Each cluster counts its lines per time bucket
 * (floor(ts / bucket_ns) * bucket_ns).
 *
 * Tokenizers (the format is guessed from the first line, as Loki does per
 * stream, unless the configuration fixes it):
 *   - json   (first line starts with '{' and ends with '}'): the first of
 *            the top-level string fields log, message, msg, msg_, _msg,
 *            content is tokenized as free text; a line without one is
 *            skipped; the pattern renders as `<_>` + text + `<_>`.
 *   - logfmt (first line is key=value pairs): tokens are keys and values
 *            (a quoted value is one token); the values of ts, time,
 *            timestamp, traceID (any case) and t are `<_>` from the start;
 *            an unparsable line is skipped; rendered back as logfmt (values
 *            quoted when they hold a space, '=', '"' or a control byte).
 *   - text   (anything else): split at spaces, at '=' and at punctuation
 *            other than _ - . : / (each punctuation character is its own
 *            token, spaces are remembered and rendered back).
 * A line longer than max_line_length (the JSON message, for json), with
 * fewer than min_tokens or more than max_tokens tokens is skipped. Runs of
 * `<_><_>` render as one `<_>`.
 *
 * Memory is bounded: each level keeps at most max_clusters clusters and
 * evicts the least recently used one (a cluster is "used" when it is
 * looked at as a candidate, joined, or its leaf gains a cluster - Loki's
 * LRU touches), and each cluster at most max_buckets buckets. When more
 * than max_eviction_ratio of the lines trained since the last reset caused
 * an eviction, the level stops learning for eviction_block_ns (measured on
 * the lines' timestamps, not the wall clock, so results are reproducible).
 * The same lines in the same order always give the same patterns.
 *
 * Levels: like Loki, one tree per detected level (unknown, debug, info,
 * warn, error, fatal, critical, trace; any other level is unknown).
 *
 * Where this differs from Loki (pkg/pattern/drain as of 2026-08):
 *   - the limiter runs on log time in both directions (Loki: wall clock);
 *   - lines may come in any time order and all are counted (Loki's stream
 *     drops a line older than the previous one);
 *   - a multi-byte punctuation character is one token (Loki cuts off its
 *     first byte); Unicode letters/punctuation are approximated: ASCII is
 *     exact, non-ASCII punctuation is a table of the common blocks, only
 *     ASCII digits make a token "have numbers";
 *   - leading spaces are kept (Loki loses every space of such a line);
 *   - Loki prunes evicted clusters out of the tree on a timer; here after
 *     every max(max_clusters, 64) evictions of a level, without LRU touches;
 *   - the JSON fields are Loki's defaults (no per-tenant list).
 * Current Loki does not replace numbers, hex or UUIDs before clustering
 * (older experimental tokenizers did) nor drop patterns made mostly of
 * `<_>`: tokens holding a digit take the wildcard branch of the tree, and
 * the querier keeps patterns of at least 30 lines, at most 300.
 *
 * HTTP response (Loki's pkg/util/marshal WriteQueryPatternsResponseJSON,
 * logproto.PatternSeries) for the handler to write from tr_drain_patterns:
 *
 *   {"status":"success","data":[
 *     {"pattern":"<_> caller=... level=info ...","level":"info",
 *      "samples":[[<unix seconds>,<count>],...]}, ...]}
 *
 *   - "pattern" is written with HTML escaping (jsoniter
 *     WriteStringWithHTMLEscaped): `<_>` goes on the wire as
 *     "\u003c_\u003e", '&' as "\u0026".
 *   - "level" is always present (e.g. "unknown").
 *   - each sample is a two-element array of integers: the bucket start in
 *     whole unix SECONDS (model.Time.Unix(): ts_ns / 1e9, truncated) and
 *     the count. Samples are sorted by time; "data" is [] when empty.
 *   - Loki's querier drops patterns whose total is below 30 lines and
 *     returns at most 300 (min_total, max_patterns below), most frequent
 *     first.
 *   - query parameters: query (a stream selector), start, end, step
 *     (the bucket width; Loki's default sample interval is 10s).
 */
#ifndef TR_QUERY_LOGQL_PATTERNS_H
#define TR_QUERY_LOGQL_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"

#define TR_DRAIN_PARAM "<_>"

enum tr_drain_format {
    TR_DRAIN_FORMAT_AUTO,   /* guess from the first line added */
    TR_DRAIN_FORMAT_TEXT,   /* punctuation tokenizer ("unknown" in Loki) */
    TR_DRAIN_FORMAT_LOGFMT, /* logfmt key/value tokenizer */
    TR_DRAIN_FORMAT_JSON,   /* message field of a JSON object */
};

struct tr_drain_config {
    size_t depth;                /* LogClusterDepth, >= 3: 30 */
    double sim_threshold;        /* share of equal tokens to join: 0.3 */
    size_t max_children;         /* prefix tree fan-out: 15 */
    size_t max_clusters;         /* per level, LRU-evicted; 0 = no limit: 300 */
    double max_eviction_ratio;   /* evicted/trained that blocks; <0 off: 0.25 */
    int64_t eviction_block_ns;   /* how long a block lasts: 10 minutes */
    size_t max_line_length;      /* longer lines are skipped: 3000 */
    size_t min_tokens;           /* fewer tokens: skipped: 4 */
    size_t max_tokens;           /* more tokens: skipped: 80 (at most 1024) */
    int64_t bucket_ns;           /* sample width, > 0: 10 seconds */
    size_t max_buckets;          /* buckets per pattern, >= 1: 11000 */
    enum tr_drain_format format; /* AUTO */
    uint64_t min_total;          /* tr_drain_patterns drops below: 30 */
    size_t max_patterns;         /* tr_drain_patterns keeps: 300 (0 = all) */
};

/* Loki's defaults (drain.DefaultConfig and the querier's pruning). */
void tr_drain_config_default(struct tr_drain_config *c);

struct tr_drain;

/* Creates a miner (cfg is copied). 0, TR_EINVAL (depth < 3, bucket_ns <=
 * 0, max_buckets 0, min_tokens > max_tokens, max_tokens > 1024, or a NaN
 * threshold, with a message in errmsg, which may be NULL) or TR_ENOMEM.
 * *out is NULL on error. Free with tr_drain_free. */
int tr_drain_new(const struct tr_drain_config *cfg,
                 struct tr_drain **out,
                 char *errmsg);
void tr_drain_free(struct tr_drain *d); /* NULL is a no-op */

/* Trains on one line (len bytes, any bytes, not kept) of level "unknown"
 * at ts_ns and counts it in its pattern's bucket. Returns 0 whether the
 * line was counted or skipped (too long, too few or too many tokens,
 * unparsable for the format, or the level's eviction limiter is blocking:
 * see tr_drain_stats); TR_ELIMIT when the line joined a pattern that
 * already has max_buckets buckets and its bucket is a new one (nothing
 * changed); TR_EINVAL when line is NULL and len > 0 or ts_ns is so close
 * to INT64_MIN that its bucket start does not fit; TR_ENOMEM (the miner
 * stays consistent: the line is not counted). */
int tr_drain_add(struct tr_drain *d,
                 int64_t ts_ns,
                 const char *line,
                 size_t len);

/* tr_drain_add for a line of a detected level (the detected_level
 * structured metadata; compared case-insensitively; an empty or unknown
 * level is "unknown"). */
int tr_drain_add_level(struct tr_drain *d,
                       int64_t ts_ns,
                       struct tr_slice level,
                       const char *line,
                       size_t len);

struct tr_drain_sample {
    int64_t ts_ns;  /* bucket start, a multiple of bucket_ns */
    uint64_t count; /* lines in the bucket, >= 1 */
};

struct tr_drain_pattern {
    const char *pattern; /* NUL-terminated template with `<_>` */
    size_t pattern_len;
    const char *level;                     /* "unknown", "info", ... (static) */
    uint64_t total;                        /* sum of the samples' counts */
    const struct tr_drain_sample *samples; /* sorted by ts, no duplicates */
    size_t n_samples;
};

/* The patterns mined so far, every array and string allocated from a
 * (valid after tr_drain_free; freed with the arena). Clusters of one level
 * rendering the same text are merged into one pattern (their counts added
 * per bucket, as Loki's merge iterator does); a cluster rendering as ""
 * (logfmt it cannot write back) is left out. Sorted by total descending,
 * then level in the order above, then first seen; those below min_total
 * are dropped and at most max_patterns kept. *out is NULL when *n is 0.
 * 0 or TR_ENOMEM (*out NULL, *n 0). The miner is unchanged. */
int tr_drain_patterns(struct tr_drain *d,
                      struct tr_arena *a,
                      struct tr_drain_pattern **out,
                      size_t *n);

struct tr_drain_stats {
    uint64_t lines;              /* lines given to tr_drain_add* */
    uint64_t counted;            /* lines counted in a pattern */
    uint64_t too_long;           /* skipped: longer than max_line_length */
    uint64_t too_few_tokens;     /* skipped: fewer than min_tokens */
    uint64_t too_many_tokens;    /* skipped: more than max_tokens */
    uint64_t unparsable;         /* skipped: not logfmt / no JSON message */
    uint64_t limited;            /* skipped: eviction limiter blocking */
    uint64_t evicted;            /* clusters evicted (LRU) */
    size_t clusters;             /* clusters alive over all levels */
    enum tr_drain_format format; /* AUTO until the first line */
};

void tr_drain_stats(const struct tr_drain *d, struct tr_drain_stats *st);

/* Loki's DetectLogFormat on one line: JSON when it starts with '{' and
 * ends with '}', logfmt when it is a space-separated run of key=value
 * (key: word characters; value unquoted without spaces, or "quoted"),
 * else TEXT. */
enum tr_drain_format tr_drain_detect_format(const char *line, size_t len);

#endif
