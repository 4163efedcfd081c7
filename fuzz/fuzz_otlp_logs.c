/* fuzz_otlp_logs.c - libFuzzer driver for the OTLP logs decoders
 * (protobuf and JSON) and their mapping to Loki streams
 * (proto/otlp_logs.c, proto/otlp_common.c).
 *
 * The input is decoded as a protobuf ExportLogsServiceRequest: every
 * string, bytes and id slice must lie inside the input, ids must be 0, 16
 * or 8 bytes, the record counts must add up, an error names an offset. The
 * decoded request is then mapped to Loki streams: the entries add up to the
 * records minus the dropped ones, every label set is sorted by name with no
 * repeats, is not empty, has only valid label names and non-empty
 * UTF-8 values, no two streams share a label set, and every rendered value
 * renders the same twice. The same bytes are finally decoded as an
 * OTLP/JSON request and mapped with the same checks; a failure leaves
 * nothing behind. Seeds: fuzz/corpus/fuzz_otlp_logs/ (the JS SDK captures
 * of tests/fixtures/otlp_logs/ and small hand-made requests). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "fuzz/fuzz_otlp.h"
#include "proto/otlp_logs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rendering is a pure function of the value. */
static void render_twice(const struct tr_otlp_value *v)
{
    struct tr_buf a, b;
    tr_buf_init(&a);
    tr_buf_init(&b);
    int ra = tr_otlp_value_string(v, &a);
    int rb = tr_otlp_value_string(v, &b);
    check(ra == rb);
    if (ra == 0) {
        check(a.len == b.len &&
              (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
    }
    tr_buf_free(&a);
    tr_buf_free(&b);
}

static void check_decoded(const struct tr_otlp_logs *req,
                          const uint8_t *data,
                          size_t size,
                          int proto)
{
    size_t records = 0;
    for (size_t r = 0; r < req->n_resources; r++) {
        const struct tr_otlp_resource_group *rl = &req->resources[r];
        if (proto) {
            kvs_inside(rl->resource.attrs, rl->resource.n_attrs, data, size);
            inside(rl->schema_url, data, size);
        }
        for (size_t s = 0; s < rl->n_scopes; s++) {
            const struct tr_otlp_scope_group *sl = &rl->scopes[s];
            records += sl->n_items;
            if (proto) {
                inside(sl->scope.name, data, size);
                inside(sl->scope.version, data, size);
                kvs_inside(sl->scope.attrs, sl->scope.n_attrs, data, size);
            }
            for (size_t k = 0; k < sl->n_items; k++) {
                const struct tr_otlp_log_record *rec = &sl->records[k];
                check(rec->trace_id.len == 0 || rec->trace_id.len == 16);
                check(rec->span_id.len == 0 || rec->span_id.len == 8);
                if (proto) {
                    inside(rec->trace_id, data, size);
                    inside(rec->span_id, data, size);
                    inside(rec->severity_text, data, size);
                    inside(rec->event_name, data, size);
                    value_inside(&rec->body, data, size);
                    kvs_inside(rec->attrs, rec->n_attrs, data, size);
                }
                render_twice(&rec->body);
            }
        }
    }
    check(records == req->n_records);
    check(req->body_len == size);
}

static int label_name_ok(struct tr_slice s)
{
    if (s.len == 0) {
        return 0;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && (i == 0 || c < '0' || c > '9')) {
            return 0;
        }
    }
    return 1;
}

static int same_labels(const struct tr_loki_stream *x,
                       const struct tr_loki_stream *y)
{
    if (x->n_labels != y->n_labels) {
        return 0;
    }
    for (size_t i = 0; i < x->n_labels; i++) {
        if (!tr_slice_eq(x->label_set[i].name, y->label_set[i].name) ||
            !tr_slice_eq(x->label_set[i].value, y->label_set[i].value)) {
            return 0;
        }
    }
    return 1;
}

static void map_and_check(const struct tr_otlp_logs *req, struct tr_arena *a)
{
    struct tr_loki_push p;
    size_t dropped = 0;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_otlp_logs_to_loki(req, 1234, a, &p, &dropped, err);
    check(rv == 0 || rv == TR_EINVAL || rv == TR_ETOOLARGE || rv == TR_ENOMEM);
    if (rv != 0) {
        check(p.n_streams == 0 && p.n_entries == 0 && dropped == 0);
        return;
    }
    size_t total = 0;
    for (size_t s = 0; s < p.n_streams; s++) {
        const struct tr_loki_stream *st = &p.streams[s];
        check(st->n_entries > 0);
        check(st->n_labels > 0);
        for (size_t i = 0; i < st->n_labels; i++) {
            const struct tr_loki_label *l = &st->label_set[i];
            check(label_name_ok(l->name));
            check(l->value.len > 0);
            check(tr_utf8_valid(l->value.base, l->value.len));
            if (i > 0) {
                check(tr_slice_cmp(st->label_set[i - 1].name, l->name) < 0);
            }
        }
        for (size_t o = 0; o < s; o++) {
            check(!same_labels(st, &p.streams[o]));
        }
        for (size_t e = 0; e < st->n_entries; e++) {
            const struct tr_loki_entry *en = &st->entries[e];
            for (size_t k = 0; k < en->n_meta; k++) {
                check(label_name_ok(en->meta[k].name));
            }
        }
        total += st->n_entries;
    }
    check(total == p.n_entries);
    check(total + dropped == req->n_records);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tr_arena a;
    tr_arena_init(&a, 4096);
    struct tr_otlp_logs req;
    char err[TR_ERRMSG_SIZE];
    int rv = tr_otlp_logs_decode(data, size, &a, &req, err);
    check(rv == 0 || rv == TR_EPROTO || rv == TR_ENOMEM);
    if (rv == 0) {
        check_decoded(&req, data, size, 1);
        map_and_check(&req, &a);
    } else {
        check(req.n_resources == 0 && req.n_records == 0);
        if (rv == TR_EPROTO) {
            check(strstr(err, "offset") != NULL);
        }
    }
    tr_arena_reset(&a);
    rv = tr_otlp_logs_decode_json(data, size, &a, &req, err);
    check(rv == 0 || rv == TR_EINVAL || rv == TR_ENOMEM);
    if (rv == 0) {
        check_decoded(&req, data, size, 0);
        map_and_check(&req, &a);
    } else {
        check(req.n_resources == 0 && req.n_records == 0);
    }
    tr_arena_free(&a);
    return 0;
}
