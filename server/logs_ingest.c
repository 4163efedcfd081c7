/* logs_ingest.c - the shared log write path (contract in
 * server/logs_ingest.h). */
#include "server/logs_ingest.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cluster/cluster.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "storage/labels.h"
#include "storage/log_entry.h"

#define LI_MAX_LISTED 100            /* rejected lines listed in the body */
#define LI_MAX_META_BYTES (64 << 10) /* Loki's max_structured_metadata_size */
#define LI_MAX_META_ENTRIES 128      /* ..._entries_count */
#define LI_MAX_PARSED_LABELS 1024    /* text form labels parsed at most */

struct li_ctx {
    struct tr_app *app;
    const char *tenant;
    struct tr_arena *a;
    struct tr_logs_push_result *out;
    int64_t min_ts; /* older: too old */
    int64_t max_ts; /* newer: too new */
    uint64_t listed;
};

static void li__reject(struct li_ctx *c,
                       uint64_t n,
                       const char *reason,
                       const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

/* Counts n rejected lines and lists why (the first LI_MAX_LISTED). */
static void li__reject(struct li_ctx *c,
                       uint64_t n,
                       const char *reason,
                       const char *fmt,
                       ...)
{
    c->out->rejected += n;
    tr_selfmetrics_inc(c->app->m_log_rejected, (double)n, c->tenant, reason);
    if (c->listed++ >= LI_MAX_LISTED) {
        return;
    }
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    tr_buf_puts(&c->out->body, line);
    tr_buf_putc(&c->out->body, '\n');
}

/* s with every invalid UTF-8 sequence replaced by U+FFFD (a copy in the
 * arena when needed). */
static struct tr_slice li__utf8(struct tr_arena *a, struct tr_slice s)
{
    if (tr_utf8_valid(s.base, s.len)) {
        return s;
    }
    char *o = tr_arena_alloc(a, s.len * 3 + 1);
    if (o == NULL) {
        return (struct tr_slice){"", 0};
    }
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s.base;
    for (size_t i = 0; i < s.len;) {
        size_t k = tr_utf8_seq_len(p + i, s.len - i);
        if (k == 0) {
            memcpy(o + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        } else {
            memcpy(o + n, p + i, k);
            n += k;
            i += k;
        }
    }
    return (struct tr_slice){o, n};
}

/* {a="b", c="d"} of sorted labels, values escaped as Go's %q does for
 * the common cases, cut at cap (a message must still say what is wrong
 * after it). */
static void li__labels_str(const struct tr_label *ls,
                           size_t n,
                           char *out,
                           size_t cap)
{
    size_t o = 0;
#define LI_PUT(ch)           \
    do {                     \
        if (o + 5 < cap) {   \
            out[o++] = (ch); \
        }                    \
    } while (0)
    LI_PUT('{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            LI_PUT(',');
            LI_PUT(' ');
        }
        for (size_t k = 0; k < ls[i].name.len; k++) {
            LI_PUT(ls[i].name.base[k]);
        }
        LI_PUT('=');
        LI_PUT('"');
        for (size_t k = 0; k < ls[i].value.len; k++) {
            char ch = ls[i].value.base[k];
            if (ch == '"' || ch == '\\') {
                LI_PUT('\\');
                LI_PUT(ch);
            } else if (ch == '\n') {
                LI_PUT('\\');
                LI_PUT('n');
            } else {
                LI_PUT(ch);
            }
        }
        LI_PUT('"');
    }
#undef LI_PUT
    if (o + 5 >= cap) { /* cut: the 5 bytes kept free take "...}" */
        memcpy(out + o, "...}", 4);
        o += 4;
    } else {
        out[o++] = '}';
    }
    out[o] = '\0';
}

/* ---- level detection (Loki 3's distributor field detection) ------------- */

/* The level fields in Loki's order, with their lengths (looked up
 * several times per line: no strlen). */
#define LI_FIELD(s)      \
    {                    \
        s, sizeof(s) - 1 \
    }
static const struct {
    const char *name;
    size_t len;
} li_level_fields[] = {
    LI_FIELD("level"),         LI_FIELD("LEVEL"),
    LI_FIELD("Level"),         LI_FIELD("log.level"),
    LI_FIELD("severity"),      LI_FIELD("SEVERITY"),
    LI_FIELD("Severity"),      LI_FIELD("SeverityText"),
    LI_FIELD("lvl"),           LI_FIELD("LVL"),
    LI_FIELD("Lvl"),           LI_FIELD("severity_text"),
    LI_FIELD("Severity_Text"), LI_FIELD("SEVERITY_TEXT"),
};
#define LI_N_LEVEL_FIELDS (sizeof(li_level_fields) / sizeof(li_level_fields[0]))

static bool li__eqfold(struct tr_slice s, const char *w)
{
    size_t n = strlen(w);
    return s.len == n && strncasecmp(s.base, w, n) == 0;
}

/* The normalised level of a value, or NULL when it is none of Loki's. */
static const char *li__norm_level(struct tr_slice v)
{
    if (li__eqfold(v, "trace") || li__eqfold(v, "trc")) {
        return "trace";
    }
    if (li__eqfold(v, "debug") || li__eqfold(v, "dbg")) {
        return "debug";
    }
    if (li__eqfold(v, "info") || li__eqfold(v, "inf") ||
        li__eqfold(v, "information")) {
        return "info";
    }
    if (li__eqfold(v, "warn") || li__eqfold(v, "wrn") ||
        li__eqfold(v, "warning")) {
        return "warn";
    }
    if (li__eqfold(v, "error") || li__eqfold(v, "err")) {
        return "error";
    }
    if (li__eqfold(v, "critical")) {
        return "critical";
    }
    if (li__eqfold(v, "fatal")) {
        return "fatal";
    }
    return NULL;
}

#define LI_WORD(s, level)       \
    {                           \
        s, sizeof(s) - 1, level \
    }
/* The keywords of Loki's level detection, by level in its order of
 * precedence (info first). */
static const struct {
    const char *word;
    uint8_t len;
    uint8_t level; /* index into li_word_levels */
} li_words[] = {
    LI_WORD("info", 0),      LI_WORD("INFO", 0),       LI_WORD("err:", 1),
    LI_WORD("ERR:", 1),      LI_WORD("[err]", 1),      LI_WORD("[ERR]", 1),
    LI_WORD("[error]", 1),   LI_WORD("[ERROR]", 1),    LI_WORD("warn:", 2),
    LI_WORD("WARN:", 2),     LI_WORD("[warn]", 2),     LI_WORD("[WARN]", 2),
    LI_WORD("warning", 2),   LI_WORD("WARNING", 2),    LI_WORD("critical:", 3),
    LI_WORD("CRITICAL:", 3), LI_WORD("[critical]", 3), LI_WORD("[CRITICAL]", 3),
    LI_WORD("debug", 4),     LI_WORD("DEBUG", 4),
};
static const char *const li_word_levels[] = {"info", "error", "warn",
                                             "critical", "debug"};
#define LI_N_WORDS (sizeof(li_words) / sizeof(li_words[0]))

/* For each byte, the keywords (bits: indexes into li_words) that start
 * with it; checked by a unit test against li_words. */
static const uint32_t li_word_starts[256] = {
    ['i'] = 1u << 0,
    ['I'] = 1u << 1,
    ['e'] = 1u << 2,
    ['E'] = 1u << 3,
    ['['] = (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 10) |
            (1u << 11) | (1u << 16) | (1u << 17),
    ['w'] = (1u << 8) | (1u << 12),
    ['W'] = (1u << 9) | (1u << 13),
    ['c'] = 1u << 14,
    ['C'] = 1u << 15,
    ['d'] = 1u << 18,
    ['D'] = 1u << 19,
};

/* Keywords anywhere in the line, in Loki's order: one pass over the line
 * that tries only the keywords starting with each byte. */
static const char *li__level_from_words(struct tr_slice l)
{
    unsigned found = 0; /* bit per level */
    const unsigned char *p = (const unsigned char *)l.base;
    const unsigned char *end = p + l.len;
    for (; p < end; p++) {
        uint32_t cand = li_word_starts[*p];
        while (cand != 0) {
            unsigned i = (unsigned)__builtin_ctz(cand);
            cand &= cand - 1;
            if ((size_t)(end - p) >= li_words[i].len &&
                memcmp(p, li_words[i].word, li_words[i].len) == 0) {
                found |= 1u << li_words[i].level;
            }
        }
        if (found & 1u) {
            break; /* info wins over everything */
        }
    }
    for (unsigned lv = 0; lv < 5; lv++) {
        if (found & (1u << lv)) {
            return li_word_levels[lv];
        }
    }
    return "unknown";
}

bool tr_logs_level_tables_consistent(void)
{
    for (size_t i = 0; i < LI_N_LEVEL_FIELDS; i++) {
        char c = li_level_fields[i].name[li_level_fields[i].len - 1];
        if ((c | 0x20) != 'l' && (c | 0x20) != 'y' && (c | 0x20) != 't') {
            return false; /* li__maybe_logfmt_level_field would miss it */
        }
    }
    for (unsigned b = 0; b < 256; b++) {
        uint32_t want = 0;
        for (size_t i = 0; i < LI_N_WORDS; i++) {
            want |= (unsigned char)li_words[i].word[0] == b ? 1u << i : 0;
        }
        if (li_word_starts[b] != want) {
            return false;
        }
    }
    return true;
}

static bool li__is_json(struct tr_slice l)
{
    size_t i = 0, j = l.len;
    while (i < j && (l.base[i] == ' ' || l.base[i] == '\t' ||
                     l.base[i] == '\n' || l.base[i] == '\r')) {
        i++;
    }
    while (j > i && (l.base[j - 1] == ' ' || l.base[j - 1] == '\t' ||
                     l.base[j - 1] == '\n' || l.base[j - 1] == '\r')) {
        j--;
    }
    return j > i && l.base[i] == '{' && l.base[j - 1] == '}';
}

/* A JSON line's string value of a level field, any depth: the first
 * `"<field>"` key (a quoted word followed by ':') whose value is a string.
 * A textual scan (no full parse): keys are the quoted words followed by a
 * colon outside strings. */
static bool li__json_level(struct tr_slice l, struct tr_slice *v)
{
    const char *p = l.base, *end = l.base + l.len;
    while (p < end) {
        if (*p != '"') {
            p++;
            continue;
        }
        const char *ks = ++p;
        while (p < end && *p != '"') {
            p += *p == '\\' ? 2 : 1;
        }
        if (p >= end) {
            return false;
        }
        struct tr_slice key = {ks, (size_t)(p - ks)};
        p++;
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\t')) {
            q++;
        }
        if (q >= end || *q != ':') {
            continue; /* a value, not a key */
        }
        q++;
        while (q < end && (*q == ' ' || *q == '\t')) {
            q++;
        }
        bool field = false;
        for (size_t i = 0; i < LI_N_LEVEL_FIELDS && !field; i++) {
            field = key.len == li_level_fields[i].len &&
                    memcmp(key.base, li_level_fields[i].name, key.len) == 0;
        }
        if (field && q < end && *q == '"') {
            const char *vs = ++q;
            while (q < end && *q != '"') {
                q += *q == '\\' ? 2 : 1;
            }
            if (q > end) {
                return false;
            }
            *v = (struct tr_slice){vs, (size_t)(q - vs)};
            return true;
        }
        p = q;
    }
    return false;
}

/* Whether a logfmt key could be a level field: every field name ends in
 * l, y or t (either case), so some '=' must follow one (a URL's "?a=b"
 * in an access line seldom does; the full parse finds nothing else). */
static bool li__maybe_logfmt_level_field(struct tr_slice l)
{
    const char *p = l.base, *end = l.base + l.len;
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL) {
            return false;
        }
        if (eq > l.base) {
            switch (eq[-1] | 0x20) {
                case 'l':
                case 'y':
                case 't':
                    return true;
                default:
                    break;
            }
        }
        p = eq + 1;
    }
    return false;
}

/* A logfmt line's value of a level field (case-insensitive keys; the
 * earliest field of Loki's list wins). */
static bool li__logfmt_level(struct tr_slice l, struct tr_slice *v)
{
    size_t best = LI_N_LEVEL_FIELDS;
    const char *p = l.base, *end = l.base + l.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        const char *ks = p;
        while (p < end && *p != '=' && *p != ' ' && *p != '\t') {
            p++;
        }
        struct tr_slice key = {ks, (size_t)(p - ks)};
        struct tr_slice val = {p, 0};
        if (p < end && *p == '=') {
            p++;
            if (p < end && *p == '"') {
                const char *vs = ++p;
                while (p < end && *p != '"') {
                    p += *p == '\\' ? 2 : 1;
                }
                val = (struct tr_slice){vs, (size_t)((p < end ? p : end) - vs)};
                p++;
            } else {
                const char *vs = p;
                while (p < end && *p != ' ' && *p != '\t') {
                    p++;
                }
                val = (struct tr_slice){vs, (size_t)(p - vs)};
            }
        } else if (p < end) {
            p++;
        }
        for (size_t i = 0; i < best && key.len > 0; i++) {
            if (key.len == li_level_fields[i].len &&
                strncasecmp(key.base, li_level_fields[i].name, key.len) == 0) {
                best = i;
                *v = val;
                if (i == 0) {
                    return true;
                }
            }
        }
    }
    return best < LI_N_LEVEL_FIELDS;
}

static bool li__find(const struct tr_loki_label *ls,
                     size_t n,
                     const char *name,
                     size_t k,
                     struct tr_slice *v)
{
    for (size_t i = 0; i < n; i++) {
        if (ls[i].name.len == k && memcmp(ls[i].name.base, name, k) == 0) {
            *v = ls[i].value;
            return true;
        }
    }
    return false;
}

/* The level of the first of Loki's level fields among ls: true with the
 * normalised level in *lv (NULL and the value in *other when it is none of
 * Loki's), false when ls has none of the fields. */
static bool li__level_field(const struct tr_loki_label *ls,
                            size_t n,
                            const char **lv,
                            struct tr_slice *other)
{
    struct tr_slice v;
    for (size_t i = 0; i < LI_N_LEVEL_FIELDS; i++) {
        if (li__find(ls, n, li_level_fields[i].name, li_level_fields[i].len,
                     &v)) {
            *lv = li__norm_level(v);
            if (*lv == NULL) {
                *other = v;
            }
            return true;
        }
    }
    return false;
}

/* tr_logs_detect_level after the stream labels held no level field. */
static const char *li__detect_entry_level(const struct tr_loki_label *meta,
                                          size_t n_meta,
                                          struct tr_slice line,
                                          struct tr_slice *other)
{
    const char *lv;
    struct tr_slice v;
    if (li__level_field(meta, n_meta, &lv, other)) {
        return lv;
    }
    if (li__find(meta, n_meta, "severity_number", 15, &v)) {
        int64_t num = 0;
        bool ok = v.len > 0 && v.len < 10;
        for (size_t i = 0; i < v.len && ok; i++) {
            ok = v.base[i] >= '0' && v.base[i] <= '9';
            num = num * 10 + (v.base[i] - '0');
        }
        return !ok         ? "info"
               : num == 0  ? "unknown"
               : num <= 4  ? "trace"
               : num <= 8  ? "debug"
               : num <= 12 ? "info"
               : num <= 16 ? "warn"
               : num <= 20 ? "error"
               : num <= 24 ? "fatal"
                           : "unknown";
    }
    bool found = li__is_json(line) ? li__json_level(line, &v)
                 : li__maybe_logfmt_level_field(line)
                     ? li__logfmt_level(line, &v)
                     : false;
    lv = found ? li__norm_level(v) : NULL;
    return lv != NULL ? lv : li__level_from_words(line);
}

const char *tr_logs_detect_level(const struct tr_loki_label *labels,
                                 size_t n_labels,
                                 const struct tr_loki_label *meta,
                                 size_t n_meta,
                                 struct tr_slice line,
                                 struct tr_slice *other)
{
    const char *lv;
    if (li__level_field(labels, n_labels, &lv, other)) {
        return lv;
    }
    return li__detect_entry_level(meta, n_meta, line, other);
}

/* ---- streams --------------------------------------------------------------
 */

static bool li__name_ok(struct tr_slice s)
{
    if (s.len == 0) {
        return false;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return true;
}

/* The stream's labels, validated and enriched, sorted into *ls_out and *n_out
 * (arena). false when the stream is rejected (listed). */
static bool li__stream_labels(struct li_ctx *c,
                              const struct tr_loki_stream *st,
                              struct tr_label **ls_out,
                              size_t *n_out)
{
    const struct tr_limits *lim = &c->app->cfg->limits;
    char errmsg[TR_ERRMSG_SIZE];
    const struct tr_loki_label *in = st->label_set;
    size_t n = st->n_labels;
    if (in == NULL || n == 0) {
        struct tr_loki_label *parsed =
            tr_arena_alloc(c->a, LI_MAX_PARSED_LABELS * sizeof(*parsed));
        if (parsed == NULL ||
            tr_loki_labels_parse(st->labels, c->a, parsed, LI_MAX_PARSED_LABELS,
                                 &n, errmsg) != 0) {
            li__reject(c, st->n_entries, "invalid_labels", "%s",
                       parsed ? errmsg : "out of memory");
            return false;
        }
        in = parsed;
    }
    /* +1: service_name */
    struct tr_label *ls = tr_arena_alloc(c->a, (n + 1) * sizeof(*ls));
    if (ls == NULL) {
        li__reject(c, st->n_entries, "internal", "out of memory");
        return false;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].value.len == 0) {
            continue; /* an empty value is no label (Prometheus rules) */
        }
        ls[m].name = in[i].name;
        ls[m].value = li__utf8(c->a, in[i].value);
        m++;
    }
    tr_labels_sort(ls, m);
    char sstr[320];
    li__labels_str(ls, m, sstr, sizeof(sstr));
    if (m == 0) {
        li__reject(c, st->n_entries, "invalid_labels",
                   "error at least one label pair is required per stream");
        return false;
    }
    if (m > lim->logs_max_label_names) {
        li__reject(c, st->n_entries, "max_label_names_per_series",
                   "entry for stream '%s' has %zu label names; limit %u", sstr,
                   m, lim->logs_max_label_names);
        return false;
    }
    for (size_t i = 0; i < m; i++) {
        if (!li__name_ok(ls[i].name)) {
            li__reject(c, st->n_entries, "invalid_labels",
                       "error parsing labels '%s': invalid label name '%.*s'",
                       sstr, (int)(ls[i].name.len > 200 ? 200 : ls[i].name.len),
                       ls[i].name.base);
            return false;
        }
        if (ls[i].name.len > lim->max_label_name_len) {
            li__reject(c, st->n_entries, "label_name_too_long",
                       "stream '%s' has label name too long: '%.*s'", sstr,
                       (int)(ls[i].name.len > 200 ? 200 : ls[i].name.len),
                       ls[i].name.base);
            return false;
        }
        if (ls[i].value.len > lim->max_label_value_len) {
            li__reject(c, st->n_entries, "label_value_too_long",
                       "stream '%s' has label value too long: '%.*s'", sstr,
                       (int)(ls[i].value.len > 200 ? 200 : ls[i].value.len),
                       ls[i].value.base);
            return false;
        }
        if (i > 0 && tr_slice_eq(ls[i].name, ls[i - 1].name)) {
            li__reject(c, st->n_entries, "duplicate_label_names",
                       "stream '%s' has duplicate label name: '%.*s'", sstr,
                       (int)ls[i].name.len, ls[i].name.base);
            return false;
        }
    }
    /* service_name: the first of the discovery list the stream has */
    if (tr_labels_get(ls, m, "service_name", 12).base == NULL &&
        lim->discover_service_name != NULL &&
        lim->discover_service_name[0] != '\0') {
        struct tr_slice svc = {"unknown_service", 15};
        const char *p = lim->discover_service_name;
        while (*p != '\0') {
            const char *e = strchr(p, ',');
            size_t k = e ? (size_t)(e - p) : strlen(p);
            struct tr_slice v = tr_labels_get(ls, m, p, k);
            if (v.base != NULL && v.len > 0) {
                svc = v;
                break;
            }
            p += k + (e != NULL);
        }
        ls[m].name = (struct tr_slice){"service_name", 12};
        ls[m].value = svc;
        m++;
        tr_labels_sort(ls, m);
    }
    *ls_out = ls;
    *n_out = m;
    return true;
}

/* The stream's lines that pass, with their metadata made valid and
 * detected_level added, into *lines (arena). */
static size_t li__stream_lines(struct li_ctx *c,
                               const struct tr_loki_stream *st,
                               const struct tr_label *ls,
                               size_t nl,
                               struct tr_log_line *lines,
                               uint64_t *bytes)
{
    const struct tr_limits *lim = &c->app->cfg->limits;
    char sstr[320];
    li__labels_str(ls, nl, sstr, sizeof(sstr));
    /* the stream labels as Loki labels for level detection */
    struct tr_loki_label *sl = tr_arena_alloc(c->a, (nl + 1) * sizeof(*sl));
    for (size_t i = 0; sl != NULL && i < nl; i++) {
        sl[i].name = ls[i].name;
        sl[i].value = ls[i].value;
    }
    /* a level field among the stream labels decides for every entry */
    const char *label_lv = NULL;
    struct tr_slice label_other = {NULL, 0};
    bool by_label =
        sl != NULL && li__level_field(sl, nl, &label_lv, &label_other);
    size_t o = 0;
    for (size_t i = 0; i < st->n_entries; i++) {
        const struct tr_loki_entry *e = &st->entries[i];
        char tsb[48], lim_b[48];
        if (lim->logs_max_line_size > 0 &&
            e->line.len > lim->logs_max_line_size) {
            li__reject(c, 1, "line_too_long",
                       "max entry size '%zu' bytes exceeded for stream '%s' "
                       "while adding an entry with length '%zu' bytes",
                       lim->logs_max_line_size, sstr, e->line.len);
            continue;
        }
        if (e->ts_ns < c->min_ts) {
            li__reject(c, 1, "greater_than_max_sample_age",
                       "entry for stream '%s' has timestamp too old: %s, "
                       "oldest acceptable timestamp is: %s",
                       sstr, tr_rfc3339_format_ns(e->ts_ns, tsb, sizeof(tsb)),
                       tr_rfc3339_format_ns(c->min_ts, lim_b, sizeof(lim_b)));
            continue;
        }
        if (e->ts_ns > c->max_ts) {
            li__reject(c, 1, "too_far_in_future",
                       "entry for stream '%s' has timestamp too new: %s", sstr,
                       tr_rfc3339_format_ns(e->ts_ns, tsb, sizeof(tsb)));
            continue;
        }
        size_t meta_bytes = 0;
        for (size_t k = 0; k < e->n_meta; k++) {
            meta_bytes += e->meta[k].name.len + e->meta[k].value.len;
        }
        if (meta_bytes > LI_MAX_META_BYTES) {
            li__reject(c, 1, "structured_metadata_too_large",
                       "stream '%s' has structured metadata too large: '%zu' "
                       "bytes, limit: '%d' bytes",
                       sstr, meta_bytes, LI_MAX_META_BYTES);
            continue;
        }
        if (e->n_meta > LI_MAX_META_ENTRIES) {
            li__reject(c, 1, "structured_metadata_too_many",
                       "stream '%s' has too many structured metadata labels: "
                       "'%zu', limit: '%d'",
                       sstr, e->n_meta, LI_MAX_META_ENTRIES);
            continue;
        }
        struct tr_label *meta =
            tr_arena_alloc(c->a, (e->n_meta + 1) * sizeof(*meta));
        if (meta == NULL || sl == NULL) {
            li__reject(c, 1, "internal", "out of memory");
            continue;
        }
        size_t nm = 0;
        bool has_level = false;
        for (size_t k = 0; k < e->n_meta; k++) {
            if (e->meta[k].name.len == 0) {
                continue;
            }
            meta[nm].name = li__utf8(c->a, e->meta[k].name);
            meta[nm].value = li__utf8(c->a, e->meta[k].value);
            if (meta[nm].name.len == 14 &&
                memcmp(meta[nm].name.base, "detected_level", 14) == 0) {
                has_level = true;
                const char *lv = li__norm_level(meta[nm].value);
                if (lv != NULL) {
                    meta[nm].value = tr_slice_cstr(lv);
                }
            }
            nm++;
        }
        struct tr_slice line = li__utf8(c->a, e->line);
        if (lim->discover_log_levels && !has_level) {
            struct tr_slice other = label_other;
            const char *lv = by_label ? label_lv
                                      : li__detect_entry_level(
                                            e->meta, e->n_meta, line, &other);
            meta[nm].name = (struct tr_slice){"detected_level", 14};
            meta[nm].value = lv != NULL ? tr_slice_cstr(lv) : other;
            nm++;
        }
        lines[o].ts = e->ts_ns;
        lines[o].line = line;
        lines[o].meta = meta;
        lines[o].n_meta = nm;
        *bytes += line.len + meta_bytes;
        o++;
    }
    return o;
}

/* The oldest writable time (ns): the start of the window holding now minus
 * the logs' grace. */
static int64_t li__min_ts(const struct tr_config *cfg, int64_t now_ms)
{
    int64_t grace = cfg->late_write_grace_logs_ms >= 0
                        ? cfg->late_write_grace_logs_ms
                        : cfg->late_write_grace_ms;
    if (grace >= INT64_MAX / 4) {
        return INT64_MIN;
    }
    int64_t w = tr_window_floor(now_ms - grace, cfg->placement_window_ms);
    return w <= INT64_MIN / 1000000 ? INT64_MIN : w * 1000000;
}

void tr_logs_ingest(struct tr_app *app,
                    const char *tenant,
                    const struct tr_loki_push *p,
                    struct tr_arena *a,
                    struct tr_logs_push_result *out)
{
    memset(out, 0, sizeof(*out));
    tr_buf_init(&out->body);
    const struct tr_config *cfg = app->cfg;
    int64_t now_ms = tr_now_ms();
    struct li_ctx c = {app, tenant, a, out, li__min_ts(cfg, now_ms), 0, 0};
    c.max_ts = cfg->creation_grace_ms >= INT64_MAX / 4000000 ||
                       now_ms >= INT64_MAX / 1000000 - cfg->creation_grace_ms
                   ? INT64_MAX
                   : (now_ms + cfg->creation_grace_ms) * 1000000;
    out->lines = p->n_entries;
    struct tr_log_entry_stream *streams =
        tr_arena_alloc(a, (p->n_streams ? p->n_streams : 1) * sizeof(*streams));
    if (streams == NULL) {
        out->status = 500;
        tr_buf_puts(&out->body, "out of memory");
        return;
    }
    size_t ns = 0;
    uint64_t bytes = 0, valid = 0;
    struct tr_buf enc;
    tr_buf_init(&enc);
    for (size_t i = 0; i < p->n_streams; i++) {
        const struct tr_loki_stream *st = &p->streams[i];
        if (st->n_entries == 0) {
            continue;
        }
        struct tr_label *ls;
        size_t nl;
        if (!li__stream_labels(&c, st, &ls, &nl)) {
            continue;
        }
        struct tr_log_line *lines =
            tr_arena_alloc(a, st->n_entries * sizeof(*lines));
        if (lines == NULL) {
            li__reject(&c, st->n_entries, "internal", "out of memory");
            continue;
        }
        size_t n = li__stream_lines(&c, st, ls, nl, lines, &bytes);
        if (n == 0) {
            continue;
        }
        tr_buf_reset(&enc);
        tr_labels_encode(ls, nl, &enc);
        void *canon = tr_arena_memdup(a, enc.data, enc.len);
        if (canon == NULL || enc.oom) {
            li__reject(&c, n, "internal", "out of memory");
            continue;
        }
        streams[ns++] =
            (struct tr_log_entry_stream){{canon, enc.len}, lines, n};
        valid += n;
    }
    tr_buf_free(&enc);
    if (valid > 0 &&
        !tr_rate_limit_take(app->log_limiters, tenant, (double)bytes)) {
        tr_selfmetrics_inc(app->m_log_rejected, (double)valid, tenant,
                           "rate_limited");
        tr_buf_reset(&out->body);
        tr_buf_printf(&out->body,
                      "Ingestion rate limit exceeded for user %s (limit: %zu "
                      "bytes/sec) while attempting to ingest '%" PRIu64
                      "' lines totaling '%" PRIu64
                      "' bytes, reduce log volume or contact your Loki "
                      "administrator to see if the limit can be increased\n",
                      tenant, cfg->limits.logs_rate_bytes, valid, bytes);
        out->rejected += valid;
        out->status = 429;
        out->retry_after = true;
        return;
    }
    struct tr_apply_result res;
    memset(&res, 0, sizeof(res));
    if (valid > 0) {
        struct tr_entry_logs e = {tr_slice_cstr(tenant), streams, ns,
                                  cfg->ooo_window_ms * 1000000};
        char errmsg[TR_ERRMSG_SIZE];
        int rv = tr_cluster_write_logs(app->cluster, &e, &res, errmsg);
        if (rv != 0) {
            tr_log_warn("log push: not committed", "tenant=%s err=\"%s\"",
                        tenant, errmsg);
            tr_buf_reset(&out->body);
            tr_buf_printf(&out->body, "write not committed, retry: %s\n",
                          errmsg);
            out->status = rv == TR_ENOMEM ? 500 : 503;
            out->retry_after = rv == TR_EBUSY;
            return;
        }
    }
    out->stored = res.appended;
    out->duplicate = res.duplicate;
    tr_selfmetrics_inc(app->m_log_lines, (double)res.appended, tenant);
    tr_selfmetrics_inc(app->m_log_bytes, (double)bytes, tenant);
    tr_selfmetrics_inc(app->m_log_streams, (double)res.created, tenant);
    bool stream_limit = false;
    if (res.rejected > 0) {
        stream_limit = res.first_error == TR_ELIMIT;
        li__reject(&c, res.rejected,
                   stream_limit ? "stream_limit" : "out_of_order", "%s",
                   res.errmsg);
        if (!stream_limit) {
            tr_buf_printf(&out->body,
                          "user '%s', total ignored: %" PRIu64
                          " out of %" PRIu64 "\n",
                          tenant, res.rejected, valid);
        }
    }
    if (c.listed > LI_MAX_LISTED) {
        tr_buf_printf(&out->body,
                      "(%" PRIu64 " more rejected lines not listed)\n",
                      c.listed - LI_MAX_LISTED);
    }
    out->status = out->rejected == 0 ? 204 : stream_limit ? 429 : 400;
    out->retry_after = stream_limit;
}
