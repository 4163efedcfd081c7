/* Tests for storage/log_block.c and storage/log_index.c: block round
 * trips (metadata, equal timestamps, both compressions), determinism,
 * rejection of malformed blocks and index records, the needle sketch
 * (never a false negative; long absent needles mostly pruned), the
 * metadata sketch, time texts stored as references, and the size of
 * blocks plus indexes against zstd -3 of the raw lines. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "lib/err.h"
#include "storage/log_block.h"
#include "storage/log_index.h"
#include "tests/lib/oom.h"

static uint64_t lb_rng = 88172645463325252ULL;

static uint64_t lb_rand(void)
{
    lb_rng ^= lb_rng << 13;
    lb_rng ^= lb_rng >> 7;
    lb_rng ^= lb_rng << 17;
    return lb_rng;
}

static const char *lb_words[] = {
    "GET",     "POST",     "user",       "login", "failed",   "ok",
    "timeout", "db",       "query",      "cache", "miss",     "hit",
    "status",  "200",      "404",        "500",   "latency",  "ms",
    "request", "upstream", "connection", "reset", "retrying", "worker"};

/* A log-like line: level, words, a hex request id and a number. */
static size_t lb_line(char *buf, size_t cap)
{
    static const char *levels[] = {"info", "warn", "error", "debug"};
    size_t o =
        (size_t)snprintf(buf, cap, "level=%s msg=\"", levels[lb_rand() % 4]);
    int nw = 3 + (int)(lb_rand() % 8);
    for (int i = 0; i < nw && o + 20 < cap; i++) {
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? " " : "",
                              lb_words[lb_rand() % 24]);
    }
    o += (size_t)snprintf(buf + o, cap - o,
                          "\" request_id=%08llx%08llx duration=%llums",
                          (unsigned long long)(lb_rand() & 0xffffffff),
                          (unsigned long long)(lb_rand() & 0xffffffff),
                          (unsigned long long)(lb_rand() % 5000));
    return o;
}

struct lb_set {
    struct tr_log_line *lines;
    char *bytes;
    size_t n;
};

static struct lb_set lb_make(size_t n, int64_t t0, bool meta)
{
    struct lb_set s;
    s.n = n;
    s.lines = calloc(n, sizeof(*s.lines));
    s.bytes = malloc(n * 256);
    static struct tr_label m[2] = {
        {{"trace_id", 8}, {"abc", 3}},
        {{"pod", 3}, {"p-1", 3}},
    };
    int64_t t = t0;
    for (size_t i = 0; i < n; i++) {
        char *b = s.bytes + i * 256;
        size_t l = lb_line(b, 256);
        t += (int64_t)(lb_rand() % 3) * 1000; /* equal timestamps too */
        s.lines[i].ts = t;
        s.lines[i].line = (struct tr_slice){b, l};
        if (meta && i % 3 == 0) {
            s.lines[i].meta = m;
            s.lines[i].n_meta = 1 + (i % 2);
        }
    }
    return s;
}

static void lb_free(struct lb_set *s)
{
    free(s->lines);
    free(s->bytes);
}

static void lb_roundtrip(uint8_t compression)
{
    struct lb_set s = lb_make(500, 1700000000000000000LL, true);
    struct tr_buf b, b2;
    tr_buf_init(&b);
    tr_buf_init(&b2);
    cr_assert_eq(tr_log_block_encode(s.lines, s.n, compression, &b), 0);
    cr_assert_eq(tr_log_block_encode(s.lines, s.n, compression, &b2), 0);
    cr_assert_eq(b.len, b2.len, "deterministic");
    cr_assert_eq(memcmp(b.data, b2.data, b.len), 0, "deterministic");
    struct tr_log_block_info bi;
    cr_assert_eq(tr_log_block_info(b.data, b.len, &bi), 0);
    cr_assert_eq(bi.count, 500);
    cr_assert_eq(bi.mint, s.lines[0].ts);
    cr_assert_eq(bi.maxt, s.lines[499].ts);
    cr_assert_eq(bi.compression, compression);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_log_line *out;
    size_t n;
    cr_assert_eq(tr_log_block_decode(b.data, b.len, &a, &out, &n), 0);
    cr_assert_eq(n, 500);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i].ts, s.lines[i].ts);
        cr_assert(tr_slice_eq(out[i].line, s.lines[i].line), "line %zu", i);
        cr_assert_eq(out[i].n_meta, s.lines[i].n_meta);
        for (size_t j = 0; j < out[i].n_meta; j++) {
            cr_assert(
                tr_slice_eq(out[i].meta[j].name, s.lines[i].meta[j].name));
            cr_assert(
                tr_slice_eq(out[i].meta[j].value, s.lines[i].meta[j].value));
        }
    }
    tr_arena_free(&a);
    tr_buf_free(&b);
    tr_buf_free(&b2);
    lb_free(&s);
}

Test(log_block, roundtrip_zstd)
{
    lb_roundtrip(TR_LOG_BLOCK_ZSTD);
}

Test(log_block, roundtrip_uncompressed)
{
    lb_roundtrip(TR_LOG_BLOCK_NONE);
}

Test(log_block, encode_refuses_bad_input)
{
    struct tr_log_line l[2] = {
        {.ts = 10, .line = {"a", 1}},
        {.ts = 5, .line = {"b", 1}},
    };
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_log_block_encode(l, 0, TR_LOG_BLOCK_ZSTD, &b), TR_EINVAL);
    cr_assert_eq(tr_log_block_encode(l, 2, TR_LOG_BLOCK_ZSTD, &b), TR_EINVAL);
    cr_assert_eq(tr_log_block_encode(l, 1, 7, &b), TR_EINVAL);
    /* an empty line is a line */
    struct tr_log_line e = {.ts = -5, .line = {"", 0}};
    cr_assert_eq(tr_log_block_encode(&e, 1, TR_LOG_BLOCK_NONE, &b), 0);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_log_line *out;
    size_t n;
    cr_assert_eq(tr_log_block_decode(b.data, b.len, &a, &out, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].ts, -5);
    cr_assert_eq(out[0].line.len, 0);
    tr_arena_free(&a);
    tr_buf_free(&b);
}

Test(log_block, decode_rejects_damage)
{
    struct lb_set s = lb_make(40, 1000, true);
    for (int comp = 0; comp <= 1; comp++) {
        struct tr_buf b;
        tr_buf_init(&b);
        cr_assert_eq(tr_log_block_encode(s.lines, s.n, (uint8_t)comp, &b), 0);
        struct tr_arena a;
        tr_arena_init(&a, 4096);
        struct tr_log_line *out;
        size_t n;
        /* every truncation is refused */
        for (size_t l = 0; l < b.len; l++) {
            tr_arena_reset(&a);
            cr_assert_neq(tr_log_block_decode(b.data, l, &a, &out, &n), 0,
                          "truncated at %zu", l);
        }
        /* byte flips never crash; header damage is refused */
        for (size_t i = 0; i < b.len; i++) {
            char saved = b.data[i];
            b.data[i] = (char)(b.data[i] ^ 0x5a);
            tr_arena_reset(&a);
            int rv = tr_log_block_decode(b.data, b.len, &a, &out, &n);
            if (i < 3 || (i >= 19 && i < 23) || (i >= 31 && i < 35)) {
                cr_assert_neq(rv, 0, "flip at %zu", i);
            }
            if (rv == 0) {
                cr_assert(n > 0);
                for (size_t j = 1; j < n; j++) {
                    cr_assert(out[j - 1].ts <= out[j].ts);
                }
            }
            b.data[i] = saved;
        }
        tr_arena_free(&a);
        tr_buf_free(&b);
    }
    lb_free(&s);
}

/* Hex runs are packed in zstd blocks and come back byte for byte: runs
 * at the ends of lines, odd and very long runs, runs of only digits or
 * only letters (left as text), 0x01 bytes (the packing's marker) and
 * lines with a newline (length column). */
static void lb_hex_roundtrip(bool with_newline)
{
    char big[700];
    for (size_t i = 0; i < sizeof(big) - 1; i++) {
        big[i] = "0123456789abcdef"[(i * 7 + i / 3) % 16];
    }
    big[sizeof(big) - 1] = 0;
    const char *texts[] = {
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "odd 4bf92f3577b34da6a3ce929d0e0e473 end",
        "only letters deadbeefdeadbeefcafe, only digits 01234567890123456789",
        "marker \x01 byte \x01\x01 and a run \x01"
        "4bf92f3577b34da6\x01",
        big,
        "",
        "UPPER 4BF92F3577B34DA6A3CE929D0E0E4736 and mixed 4bf92f3577B34da6a3",
        with_newline ? "two\nlines 4bf92f3577b34da6a3ce929d0e0e4736" : "x",
    };
    size_t n = sizeof(texts) / sizeof(texts[0]);
    struct tr_log_line lines[16];
    for (size_t i = 0; i < n; i++) {
        lines[i] = (struct tr_log_line){
            .ts = 1000 + (int64_t)i,
            .line = {texts[i], strlen(texts[i])},
        };
    }
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_log_block_encode(lines, n, TR_LOG_BLOCK_ZSTD, &b), 0);
    struct tr_log_block_info bi;
    cr_assert_eq(tr_log_block_info(b.data, b.len, &bi), 0);
    cr_assert(bi.flags & TR_LOG_BLOCK_PACKED);
    cr_assert_eq(!!(bi.flags & TR_LOG_BLOCK_NEWLINES), !with_newline);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_log_line *out;
    size_t got;
    cr_assert_eq(tr_log_block_decode(b.data, b.len, &a, &out, &got), 0);
    cr_assert_eq(got, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert(tr_slice_eq(out[i].line, lines[i].line), "line %zu: %.*s", i,
                  (int)out[i].line.len, out[i].line.base);
    }
    /* uncompressed blocks (fragments) are never packed */
    tr_buf_reset(&b);
    cr_assert_eq(tr_log_block_encode(lines, n, TR_LOG_BLOCK_NONE, &b), 0);
    cr_assert_eq(tr_log_block_info(b.data, b.len, &bi), 0);
    cr_assert_eq(bi.flags & TR_LOG_BLOCK_PACKED, 0);
    tr_arena_free(&a);
    tr_buf_free(&b);
}

Test(log_block, hex_runs_packed_and_restored)
{
    lb_hex_roundtrip(false);
}

Test(log_block, hex_runs_packed_with_length_column)
{
    lb_hex_roundtrip(true);
}

/* The packing as the format defines it, byte by byte: the size of the
 * packed line section (uvarint T, T text bytes, the packed bytes). */
static size_t lb_ref_packed_size(const unsigned char *p, size_t n)
{
    size_t t = 0, ids = 0, i = 0;
    while (i < n) {
        bool hex = (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f');
        if (!hex) {
            t += p[i] == 0x01 ? 2 : 1;
            i++;
            continue;
        }
        size_t j = i;
        bool digit = false, letter = false;
        while (j < n &&
               ((p[j] >= '0' && p[j] <= '9') || (p[j] >= 'a' && p[j] <= 'f'))) {
            digit = digit || p[j] <= '9';
            letter = letter || p[j] >= 'a';
            j++;
        }
        size_t m = (j - i) / 2;
        if (j - i < 16 || !digit || !letter) {
            t += j - i;
            i = j;
            continue;
        }
        m = m > 255 ? 255 : m;
        t += 2;
        ids += m;
        i += 2 * m;
    }
    size_t uv = 1;
    for (size_t v = t; v >= 0x80; v >>= 7) {
        uv++;
    }
    return uv + t + ids;
}

/* Time texts that spell the entry's timestamp (storage/log_timeref.h)
 * are stored as references and come back byte for byte: every layout,
 * texts at the start and the end of a line, right after a hex run, texts
 * of another second (left as text), lines without one, and (with_newline)
 * entries of several lines (length column). The texts are written here
 * with gmtime_r, independently of the encoder. The same lines with every
 * timestamp a second off (no text matches) make a larger block. */
static void lb_time_roundtrip(bool with_newline)
{
    enum { N = 400 };
    static char buf[N][160];
    struct tr_log_line lines[N], shifted[N];
    int64_t ts = 1796464650LL * 1000000000LL;
    for (size_t i = 0; i < N; i++) {
        ts += (int64_t)(lb_rand() % 40000000000ULL); /* up to 40 s */
        int64_t sec = ts / 1000000000LL, frac = ts % 1000000000LL;
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        char date[16], hms[16], clf[32];
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
        strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
        strftime(clf, sizeof(clf), "%d/%b/%Y:%H:%M:%S", &tm);
        char *b = buf[i];
        size_t cap = sizeof(buf[i]);
        unsigned id = (unsigned)(lb_rand() & 0xffffff);
        switch (i % 9) {
            case 0:
                snprintf(b, cap, "{\"ts\":\"%sT%s.%06lldZ\",\"id\":\"%06x\"}",
                         date, hms, (long long)(frac / 1000), id);
                break;
            case 1:
                snprintf(b, cap, "ts=%sT%s.%03lldZ level=info n=%u", date, hms,
                         (long long)(frac / 1000000), id);
                break;
            case 2:
                snprintf(b, cap, "%s %s,%03lld  INFO [main]%s", date, hms,
                         (long long)(frac / 1000000),
                         with_newline ? "\n\tat x.y(Z.java:1)" : "");
                break;
            case 3:
                snprintf(b, cap, "10.0.0.%u - - [%s +0000] \"GET / HTTP/1.1\"",
                         id % 256, clf);
                break;
            case 4:
                snprintf(b, cap, "{\"time\":%lld%03lld,\"msg\":\"m%u\"}",
                         (long long)sec, (long long)(frac / 1000000), id);
                break;
            case 5: /* at the end of the line, right after a hex run */
                snprintf(b, cap, "req=4bf92f3577b34da6a3ce929d0e0e%04x%sT%s",
                         id & 0xffff, date, hms);
                break;
            case 6: /* another second: stays text */
                snprintf(b, cap, "ts=%sT%s.000Z late", date, "00:00:00");
                break;
            case 7:
                snprintf(b, cap, "no time here %u", id);
                break;
            default:
                snprintf(b, cap, "%s %s.%09lld x", date, hms, (long long)frac);
                break;
        }
        lines[i] = (struct tr_log_line){.ts = ts, .line = {b, strlen(b)}};
        shifted[i] = lines[i];
        shifted[i].ts += 1000000000LL;
    }
    struct tr_buf z, zs;
    tr_buf_init(&z);
    tr_buf_init(&zs);
    cr_assert_eq(tr_log_block_encode(lines, N, TR_LOG_BLOCK_ZSTD, &z), 0);
    cr_assert_eq(tr_log_block_encode(shifted, N, TR_LOG_BLOCK_ZSTD, &zs), 0);
    struct tr_log_block_info bi, bs;
    cr_assert_eq(tr_log_block_info(z.data, z.len, &bi), 0);
    cr_assert_eq(tr_log_block_info(zs.data, zs.len, &bs), 0);
    cr_assert(bi.flags & TR_LOG_BLOCK_TIMES);
    cr_assert_not(bs.flags & TR_LOG_BLOCK_TIMES);
    cr_assert_eq(!!(bi.flags & TR_LOG_BLOCK_NEWLINES), !with_newline);
    cr_assert(z.len < zs.len, "with references %zu, without %zu", z.len,
              zs.len);
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_log_line *out;
    size_t got;
    cr_assert_eq(tr_log_block_decode(z.data, z.len, &a, &out, &got), 0);
    cr_assert_eq(got, (size_t)N);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(out[i].ts, lines[i].ts);
        cr_assert(tr_slice_eq(out[i].line, lines[i].line),
                  "line %zu: %.*s\nwant %.*s", i, (int)out[i].line.len,
                  out[i].line.base, (int)lines[i].line.len, lines[i].line.base);
    }
    /* a needle spanning a reference and the text around it */
    struct tr_slice needle = {lines[1].line.base, 20};
    struct tr_log_block_filter f = {.start = INT64_MIN,
                                    .end = INT64_MAX,
                                    .needles = &needle,
                                    .n_needles = 1};
    cr_assert_eq(
        tr_log_block_select(z.data, z.len, &f, &a, &out, NULL, &got, NULL), 0);
    cr_assert_eq(got, 1);
    cr_assert_eq(out[0].ts, lines[1].ts);
    tr_arena_free(&a);
    tr_buf_free(&z);
    tr_buf_free(&zs);
}

Test(log_block, time_texts_referenced_and_restored)
{
    lb_time_roundtrip(false);
}

Test(log_block, time_texts_with_length_column)
{
    lb_time_roundtrip(true);
}

/* Timestamp deltas in byte planes (zstd blocks): every width from one
 * to eight bytes, from equal timestamps to the whole int64 range, come
 * back exactly. */
Test(log_block, timestamp_planes_every_width)
{
    for (unsigned w = 1; w <= 8; w++) {
        struct tr_log_line lines[40];
        int64_t ts = INT64_MIN / 2;
        for (size_t i = 0; i < 40; i++) {
            /* deltas of up to 8w - 6 bits on every 8th entry, small ones
             * between (the sum stays inside int64) */
            uint64_t d =
                i % 8 == 1 ? (lb_rand() >> (64 - 8 * w)) >> 6 : lb_rand() % 3;
            if (w == 8 && i == 39) {
                ts = INT64_MAX; /* a delta of more than 2^63 */
            } else {
                ts += (int64_t)d;
            }
            lines[i] = (struct tr_log_line){.ts = ts, .line = {"x", 1}};
        }
        struct tr_buf b;
        tr_buf_init(&b);
        cr_assert_eq(tr_log_block_encode(lines, 40, TR_LOG_BLOCK_ZSTD, &b), 0);
        struct tr_log_block_info bi;
        cr_assert_eq(tr_log_block_info(b.data, b.len, &bi), 0);
        cr_assert(bi.flags & TR_LOG_BLOCK_TS_PLANES);
        struct tr_arena a;
        tr_arena_init(&a, 4096);
        struct tr_log_line *out;
        size_t n;
        cr_assert_eq(tr_log_block_decode(b.data, b.len, &a, &out, &n), 0);
        cr_assert_eq(n, 40);
        for (size_t i = 0; i < 40; i++) {
            cr_assert_eq(out[i].ts, lines[i].ts, "width %u, entry %zu", w, i);
        }
        tr_arena_free(&a);
        tr_buf_free(&b);
    }
}

/* The encoder packs exactly the runs the format's definition packs (its
 * scan skips ahead; the bytes it writes must not depend on how): random
 * lines of hex runs of every length around 16, other letters, spaces and
 * 0x01 markers; the packed section's size is the payload's size minus the
 * columns (the payload of the same lines unpacked minus their bytes). */
Test(log_block, hex_packing_matches_the_definition)
{
    unsigned seed = 99;
    char buf[64][200];
    struct tr_log_line lines[64];
    for (int round = 0; round < 300; round++) {
        size_t n = 1 + round % 64, section = 0;
        unsigned char all[64 * 201];
        for (size_t i = 0; i < n; i++) {
            size_t len = 0;
            while (len < 180) {
                seed = seed * 1103515245u + 12345u;
                unsigned kind = (seed >> 16) % 6, run = 1 + (seed >> 8) % 40;
                for (unsigned k = 0; k < run && len < 199; k++) {
                    seed = seed * 1103515245u + 12345u;
                    unsigned r = (seed >> 16) % 16;
                    buf[i][len++] = kind == 0   ? "0123456789"[r % 10]
                                    : kind == 1 ? "abcdef"[r % 6]
                                    : kind == 5 ? (r == 0 ? 0x01 : 'g')
                                    : kind == 4 ? ' '
                                                : "0123456789abcdef"[r];
                }
            }
            lines[i] = (struct tr_log_line){
                .ts = 1000 + (int64_t)i,
                .line = {buf[i], len},
            };
            memcpy(all + section, buf[i], len);
            section += len;
            all[section++] = '\n';
        }
        struct tr_buf z, u;
        tr_buf_init(&z);
        tr_buf_init(&u);
        cr_assert_eq(tr_log_block_encode(lines, n, TR_LOG_BLOCK_ZSTD, &z), 0);
        cr_assert_eq(tr_log_block_encode(lines, n, TR_LOG_BLOCK_NONE, &u), 0);
        struct tr_log_block_info bz, bu;
        cr_assert_eq(tr_log_block_info(z.data, z.len, &bz), 0);
        cr_assert_eq(tr_log_block_info(u.data, u.len, &bu), 0);
        cr_assert(bu.flags & TR_LOG_BLOCK_NEWLINES);
        cr_assert_not(bz.flags & TR_LOG_BLOCK_TIMES); /* no time texts */
        /* the zstd block's timestamps are one plane (deltas < 256) after
         * its width byte: one byte more than the varints (deltas < 128) */
        cr_assert(bz.flags & TR_LOG_BLOCK_TS_PLANES);
        size_t columns = bu.payload_len - section + 1;
        size_t want = columns + lb_ref_packed_size(all, section);
        if (bz.flags & TR_LOG_BLOCK_PACKED) {
            cr_assert_eq(bz.payload_len, want, "round %d: payload %u, want %zu",
                         round, bz.payload_len, want);
        }
        tr_buf_free(&z);
        tr_buf_free(&u);
    }
}

/* A filtered select keeps exactly the entries in range that hold every
 * needle, with their positions and metadata, through the column search
 * (newline-terminated lines) and the per-line path (lines with a
 * newline). */
static void lb_select(bool with_newline)
{
    struct lb_set s = lb_make(800, 1000000, true);
    if (with_newline) {
        s.bytes[7 * 256 + 3] = '\n'; /* the block keeps a length column */
    }
    struct tr_buf b;
    tr_buf_init(&b);
    cr_assert_eq(tr_log_block_encode(s.lines, s.n, TR_LOG_BLOCK_ZSTD, &b), 0);
    static const char *const needles[][2] = {
        {"error", ""}, {"request_id=0", "ms"},
        {"zzzz", ""},  {"duration=1", "e"},
        {"", ""},
    };
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    for (size_t q = 0; q < sizeof(needles) / sizeof(needles[0]); q++) {
        struct tr_slice nd[2] = {{needles[q][0], strlen(needles[q][0])},
                                 {needles[q][1], strlen(needles[q][1])}};
        struct tr_log_block_filter f = {s.lines[100].ts, s.lines[700].ts, nd,
                                        2};
        struct tr_log_line *kept;
        uint32_t *pos;
        size_t n, in_range, want = 0, ranged = 0;
        cr_assert_eq(tr_log_block_select(b.data, b.len, &f, &a, &kept, &pos, &n,
                                         &in_range),
                     0);
        for (size_t i = 0; i < s.n; i++) {
            const struct tr_log_line *l = &s.lines[i];
            if (l->ts < f.start || l->ts >= f.end) {
                continue;
            }
            ranged++;
            bool hit = true;
            for (int k = 0; k < 2; k++) {
                hit = hit &&
                      (nd[k].len == 0 || memmem(l->line.base, l->line.len,
                                                nd[k].base, nd[k].len) != NULL);
            }
            if (!hit) {
                continue;
            }
            cr_assert_lt(want, n, "query %zu: too few kept", q);
            cr_assert_eq(pos[want], i);
            cr_assert_eq(kept[want].ts, l->ts);
            cr_assert(tr_slice_eq(kept[want].line, l->line));
            cr_assert_eq(kept[want].n_meta, l->n_meta);
            want++;
        }
        cr_assert_eq(n, want, "query %zu: %zu kept, %zu expected", q, n, want);
        cr_assert_eq(in_range, ranged);
        cr_assert(q == 2 ? n == 0 : n > 0, "query %zu keeps %zu", q, n);
    }
    tr_arena_free(&a);
    tr_buf_free(&b);
    lb_free(&s);
}

Test(log_block, select_column_search)
{
    lb_select(false);
}

Test(log_block, select_lines_with_newlines)
{
    lb_select(true);
}

/* 2,000 test lines, their index record (block size 1234) in *ix, parsed
 * into *x. */
static struct lb_set lb_indexed(struct tr_buf *ix, struct tr_log_index *x)
{
    struct lb_set s = lb_make(2000, 0, true);
    tr_buf_init(ix);
    cr_assert_eq(tr_log_index_build(s.lines, s.n, 1234, ix), 0);
    cr_assert_eq(tr_log_index_parse(ix->data, ix->len, x), 0);
    return s;
}

/* How many of `tries` random lower-case needles of min_len .. min_len +
 * spread - 1 bytes the index rules out. */
static size_t lb_pruned_random(const struct tr_log_index *x,
                               size_t min_len,
                               size_t spread,
                               int tries)
{
    size_t pruned = 0;
    for (int i = 0; i < tries; i++) {
        char nb[64];
        size_t len = min_len + lb_rand() % spread;
        for (size_t j = 0; j < len; j++) {
            nb[j] = (char)('a' + lb_rand() % 26);
        }
        struct tr_slice nd = {nb, len};
        pruned += !tr_log_index_may_match(x, &nd, 1, NULL, 0);
    }
    return pruned;
}

/* k-gram needle sketch: every substring of a line is found; long random
 * needles are almost always ruled out. */
Test(log_block, index_no_false_negatives)
{
    struct tr_buf ix;
    struct tr_log_index x;
    struct lb_set s = lb_indexed(&ix, &x);
    cr_assert_eq(x.count, 2000);
    cr_assert_eq(x.block_bytes, 1234);
    for (int i = 0; i < 20000; i++) {
        const struct tr_log_line *l = &s.lines[lb_rand() % s.n];
        size_t len = 1 + lb_rand() % l->line.len;
        size_t off = lb_rand() % (l->line.len - len + 1);
        struct tr_slice nd = {l->line.base + off, len};
        cr_assert(tr_log_index_may_match(&x, &nd, 1, NULL, 0),
                  "false negative for %.*s", (int)len, nd.base);
    }
    size_t tried = 2000, pruned = lb_pruned_random(&x, 12, 20, 2000);
    /* one k-gram in 4 sampled, 2.6 bits and 2 probes per item
     * (storage/log_index.h): ~94 % of these 12..31-byte needles pruned
     * (~93 % with version 2's winnowing at 2.8 bits) */
    cr_assert_geq(pruned * 100, tried * 90, "pruned %zu of %zu", pruned, tried);
    /* a needle shorter than a k-gram never prunes */
    struct tr_slice shortn = {"zzzq", 4};
    cr_assert(tr_log_index_may_match(&x, &shortn, 1, NULL, 0));
    /* metadata pairs */
    struct tr_label have = {{"trace_id", 8}, {"abc", 3}};
    struct tr_label swapped = {{"abc", 3}, {"trace_id", 8}};
    struct tr_label other = {{"trace_id", 8}, {"abd", 3}};
    cr_assert(tr_log_index_may_match(&x, NULL, 0, &have, 1));
    cr_assert_not(tr_log_index_may_match(&x, NULL, 0, &swapped, 1));
    cr_assert_not(tr_log_index_may_match(&x, NULL, 0, &other, 1));
    /* malformed records */
    for (size_t l = 0; l < ix.len; l++) {
        cr_assert_neq(tr_log_index_parse(ix.data, l, &x), 0);
    }
    tr_buf_free(&ix);
    lb_free(&s);
}

Test(log_block, index_without_long_lines_prunes_every_long_needle)
{
    struct tr_log_line l[2] = {
        {.ts = 1, .line = {"short", 5}},
        {.ts = 2, .line = {"tiny", 4}},
    };
    struct tr_buf ix;
    tr_buf_init(&ix);
    cr_assert_eq(tr_log_index_build(l, 2, 10, &ix), 0);
    struct tr_log_index x;
    cr_assert_eq(tr_log_index_parse(ix.data, ix.len, &x), 0);
    cr_assert_eq(x.needle_bits, 0);
    cr_assert_eq(x.meta_bits, 0);
    struct tr_slice nd = {
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 62};
    cr_assert_not(tr_log_index_may_match(&x, &nd, 1, NULL, 0));
    struct tr_label m = {{"a", 1}, {"b", 1}};
    cr_assert_not(tr_log_index_may_match(&x, NULL, 0, &m, 1));
    tr_buf_free(&ix);
}

/* Needles shorter than a winnowing window (12 bytes) never pruned a
 * version 2 record; with sampled k-grams about half of the absent ones of
 * 6..11 bytes are pruned. */
Test(log_block, index_short_needles_prune)
{
    struct tr_buf ix;
    struct tr_log_index x;
    struct lb_set s = lb_indexed(&ix, &x);
    cr_assert_eq(x.version, 3);
    cr_assert_eq(x.w, TR_LOG_INDEX_SHIFT);
    size_t pruned = lb_pruned_random(&x, 6, 6, 2000);
    /* measured: ~55 % (a 6-byte needle has 2 k-grams, 44 % of them have
     * one sampled or more) */
    cr_assert_geq(pruned, 800, "pruned %zu of 2000", pruned);
    tr_buf_free(&ix);
    lb_free(&s);
}

/* Out of memory at every allocation of an index build (random lines: the
 * set of samples outgrows its first size) is TR_ENOMEM, nothing leaks;
 * with memory the build equals the one made without a failing allocator. */
Test(log_block, index_build_out_of_memory)
{
    static char text[64][200];
    struct tr_log_line l[64];
    for (int i = 0; i < 64; i++) {
        for (int j = 0; j < 200; j++) {
            text[i][j] = (char)('!' + lb_rand() % 90);
        }
        l[i] = (struct tr_log_line){.ts = i, .line = {text[i], 200}};
    }
    struct tr_buf want;
    tr_buf_init(&want);
    cr_assert_eq(tr_log_index_build(l, 64, 1, &want), 0);
    int failed = 0;
    for (int budget = 0; budget < 40; budget++) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_test_oom_install(budget);
        int rv = tr_log_index_build(l, 64, 1, &b);
        tr_test_oom_remove();
        cr_assert(rv == 0 || rv == TR_ENOMEM, "budget %d: %d", budget, rv);
        if (rv == 0) {
            cr_assert(b.len == want.len && !memcmp(b.data, want.data, b.len));
        }
        failed += rv != 0;
        tr_buf_free(&b);
    }
    cr_assert_geq(failed, 3);
    cr_assert_lt(failed, 40);
    tr_buf_free(&want);
}

/* Line i of the version 2 fixture below: a trace id made of i. */
static void lb_v2_line(unsigned i, char *out, size_t cap)
{
    unsigned long long a = 0x9e3779b97f4a7c15ULL * (i + 1);
    unsigned long long b = 0xbf58476d1ce4e5b9ULL * (i + 7);
    snprintf(out, cap,
             "level=info msg=\"request %u done\" trace_id=%016llx%016llx "
             "status=200",
             i, a, b);
}

/* A version 2 record (winnowing k = 5, w = 8, 2.8 bits / 2 probes) as the
 * previous build wrote it for lines 0..39 of lb_v2_line (ts 1000 + i,
 * block size 777) still reads: every trace id of it may match, absent
 * ones are pruned by its window minima. */
Test(log_block, index_version2_records_still_read)
{
    static const uint8_t rec[] = {
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x04, 0x0f, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x0d, 0x3e, 0x00, 0x00, 0x03, 0x09, 0x05, 0x08, 0x02,
        0x00, 0x00, 0x03, 0xc8, 0x35, 0xa5, 0xf9, 0x24, 0xee, 0x7c, 0x4f, 0xfb,
        0xdb, 0x67, 0xf8, 0x8f, 0xac, 0x73, 0x59, 0x90, 0x86, 0x18, 0x25, 0x66,
        0xd4, 0xea, 0x43, 0x23, 0xa1, 0x29, 0xac, 0x3a, 0x7e, 0xfc, 0x9d, 0xa2,
        0xac, 0x90, 0xb4, 0xca, 0x37, 0xbf, 0x45, 0x6a, 0xde, 0x9e, 0x5f, 0x26,
        0x93, 0x2d, 0xaa, 0x53, 0xde, 0xfe, 0x6f, 0xe3, 0x09, 0x04, 0xa6, 0xce,
        0x64, 0xf7, 0x5e, 0x08, 0x42, 0x41, 0xf3, 0x01, 0xc2, 0x0d, 0xcb, 0x3c,
        0xcf, 0xc0, 0x8b, 0x40, 0x4b, 0x85, 0x78, 0x66, 0x25, 0x16, 0x52, 0x4c,
        0xe6, 0x2f, 0x67, 0x44, 0xdb, 0x69, 0x29, 0xb5, 0xff, 0xd7, 0x2c, 0xb8,
        0xd8, 0xeb, 0x28, 0x16, 0x86, 0xb3, 0x98, 0x29, 0x44, 0x54, 0x48, 0x33,
        0x6c, 0x6c, 0x95, 0xee, 0x5e, 0xc1, 0x54, 0x06, 0x07, 0xc2, 0xaf, 0x38,
        0xf8, 0x1c, 0xd8, 0x5d, 0x16, 0x07, 0x00, 0x00, 0x00, 0x00,
    };
    struct tr_log_index x;
    cr_assert_eq(tr_log_index_parse(rec, sizeof rec, &x), 0);
    cr_assert_eq(x.version, 2);
    cr_assert_eq(x.k, 5);
    cr_assert_eq(x.w, 8);
    cr_assert_eq(x.count, 40);
    cr_assert_eq(x.mint, 1000);
    cr_assert_eq(x.maxt, 1039);
    cr_assert_eq(x.block_bytes, 777);
    char line[160];
    for (unsigned i = 0; i < 40; i++) {
        lb_v2_line(i, line, sizeof line);
        const char *id = strstr(line, "trace_id=") + 9;
        struct tr_slice nd = {id, 32};
        cr_assert(tr_log_index_may_match(&x, &nd, 1, NULL, 0), "line %u", i);
    }
    size_t pruned = 0;
    for (unsigned i = 40; i < 240; i++) {
        lb_v2_line(i, line, sizeof line);
        struct tr_slice nd = {strstr(line, "trace_id=") + 9, 32};
        pruned += !tr_log_index_may_match(&x, &nd, 1, NULL, 0);
    }
    cr_assert_geq(pruned, 190, "pruned %zu of 200", pruned);
}

/* The disk budget: blocks + indexes of log-like lines against zstd -3 of
 * the same lines (newline separated), in blocks of ~256 KiB. */
Test(log_block, size_against_zstd3)
{
    struct lb_set s = lb_make(40000, 1700000000000000000LL, false);
    struct tr_buf raw, b, ix;
    tr_buf_init(&raw);
    tr_buf_init(&b);
    tr_buf_init(&ix);
    size_t stored = 0, index = 0, zstd = 0, rawn = 0;
    size_t i = 0;
    while (i < s.n) {
        size_t j = i, bytes = 0;
        tr_buf_reset(&raw);
        while (j < s.n && bytes < 256 * 1024) {
            bytes += s.lines[j].line.len;
            tr_buf_append(&raw, s.lines[j].line.base, s.lines[j].line.len);
            tr_buf_putc(&raw, '\n');
            j++;
        }
        tr_buf_reset(&b);
        tr_buf_reset(&ix);
        cr_assert_eq(
            tr_log_block_encode(s.lines + i, j - i, TR_LOG_BLOCK_ZSTD, &b), 0);
        cr_assert_eq(tr_log_index_build(s.lines + i, j - i, b.len, &ix), 0);
        stored += b.len;
        index += ix.len;
        size_t bound = ZSTD_compressBound(raw.len);
        void *z = malloc(bound);
        zstd += ZSTD_compress(z, bound, raw.data, raw.len, 3);
        free(z);
        rawn += raw.len;
        i = j;
    }
    double ratio = (double)(stored + index) / (double)zstd;
    fprintf(stderr,
            "log blocks: raw %zu, zstd-3 %zu, blocks %zu + index %zu = %.3fx "
            "zstd-3 (index %.1f%% of raw)\n",
            rawn, zstd, stored, index, ratio, 100.0 * index / rawn);
    /* a regression guard on the layout (1.020x with 10-bit needle blooms,
     * storage/log_index.h); the disk target is measured by bench/logs */
    cr_assert_leq(ratio, 1.03, "blocks + index %.3fx zstd -3", ratio);
    tr_buf_free(&raw);
    tr_buf_free(&b);
    tr_buf_free(&ix);
    lb_free(&s);
}
