/* fuzz_otlp_traces.c - libFuzzer driver for the OTLP traces decoders
 * (protobuf and JSON: proto/otlp_traces.c over proto/otlp_groups.c and
 * proto/otlp_common.c).
 *
 * The input is decoded as a protobuf ExportTraceServiceRequest: every
 * string, bytes and id slice must lie inside the input, ids must be empty
 * or of their length (16 / 8 bytes), the span counts must add up, a
 * failure leaves an empty result and a message. The same bytes are then
 * decoded as an OTLP/JSON request with the same checks on the counts and
 * ids. Seeds: fuzz/corpus/fuzz_otlp_traces/ (the JS SDK captures of
 * ../shared/wire/traces, protobuf and JSON, and a hand-made span with an
 * event, a link and a status). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/err.h"
#include "fuzz/fuzz_otlp.h"
#include "proto/otlp_traces.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ids_ok(const struct tr_otlp_span *sp)
{
    check(sp->trace_id.len == 0 || sp->trace_id.len == 16);
    check(sp->span_id.len == 0 || sp->span_id.len == 8);
    check(sp->parent_span_id.len == 0 || sp->parent_span_id.len == 8);
    for (size_t l = 0; l < sp->n_links; l++) {
        check(sp->links[l].trace_id.len == 0 ||
              sp->links[l].trace_id.len == 16);
        check(sp->links[l].span_id.len == 0 || sp->links[l].span_id.len == 8);
    }
}

/* Protobuf slices point into the input. */
static void span_inside(const struct tr_otlp_span *sp,
                        const uint8_t *data,
                        size_t size)
{
    inside(sp->trace_id, data, size);
    inside(sp->span_id, data, size);
    inside(sp->parent_span_id, data, size);
    inside(sp->trace_state, data, size);
    inside(sp->name, data, size);
    inside(sp->status_message, data, size);
    kvs_inside(sp->attrs, sp->n_attrs, data, size);
    for (size_t e = 0; e < sp->n_events; e++) {
        inside(sp->events[e].name, data, size);
        kvs_inside(sp->events[e].attrs, sp->events[e].n_attrs, data, size);
    }
    for (size_t l = 0; l < sp->n_links; l++) {
        inside(sp->links[l].trace_state, data, size);
        kvs_inside(sp->links[l].attrs, sp->links[l].n_attrs, data, size);
    }
}

static void walk(const struct tr_otlp_traces *t,
                 const uint8_t *data,
                 size_t size,
                 int proto)
{
    size_t spans = 0;
    for (size_t r = 0; r < t->n_resources; r++) {
        const struct tr_otlp_resource_group *rg = &t->resources[r];
        if (proto) {
            kvs_inside(rg->resource.attrs, rg->resource.n_attrs, data, size);
            inside(rg->schema_url, data, size);
        }
        for (size_t s = 0; s < rg->n_scopes; s++) {
            const struct tr_otlp_scope_group *sg = &rg->scopes[s];
            if (proto) {
                inside(sg->scope.name, data, size);
                inside(sg->scope.version, data, size);
                kvs_inside(sg->scope.attrs, sg->scope.n_attrs, data, size);
            }
            for (size_t k = 0; k < sg->n_items; k++) {
                ids_ok(&sg->spans[k]);
                if (proto) {
                    span_inside(&sg->spans[k], data, size);
                }
            }
            spans += sg->n_items;
        }
    }
    check(spans == t->n_spans);
    check(t->body_len == size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int json = 0; json <= 1; json++) {
        struct tr_arena a;
        tr_arena_init(&a, 4096);
        struct tr_otlp_traces t;
        char err[TR_ERRMSG_SIZE] = "";
        int rv = json ? tr_otlp_traces_decode_json(data, size, &a, &t, err)
                      : tr_otlp_traces_decode(data, size, &a, &t, err);
        if (rv == 0) {
            walk(&t, data, size, !json);
        } else {
            check(rv == (json ? TR_EINVAL : TR_EPROTO) || rv == TR_ENOMEM);
            check(t.n_resources == 0 && t.n_spans == 0 && err[0] != '\0');
        }
        tr_arena_free(&a);
    }
    return 0;
}
