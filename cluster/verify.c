/* verify.c - POST /api/v1/admin/cluster/verify: proves that the replicas of
 * every active shard hold the same data. A verify entry (storage/entry.h)
 * goes through each shard's Raft log; every replica checkpoints and
 * checksums the shard when it applies that entry, i.e. at the same index,
 * and keeps the result; the coordinator then asks every replica for it.
 *
 *   {"shards":[{"signal":"metrics","window":W,"slot":S,"index":I,
 *     "replicas":[{"node":"n1","checksum":"89ab...","error":null}, ...],
 *     "consistent":true}, ...],"consistent":true}
 *
 * A replica that does not answer within the write timeout gets "checksum":
 * null and an error, and its shard is not consistent (not proven). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hash.h"
#include "lib/json.h"

void cl_verify_ask(struct tr_cluster *c,
                   const struct tr_shard_id *id,
                   uint64_t request,
                   int64_t deadline,
                   struct cl_replica_sum *r)
{
    struct tr_buf body, out;
    tr_buf_init(&body);
    tr_buf_init(&out);
    cl_put_shard(&body, id);
    tr_buf_put_u64be(&body, request);
    for (;;) {
        int rv;
        if (r->node == c->self.id) {
            rv = cl_verify_local(c, id, request, &r->index, &r->checksum);
        } else {
            char url[CL_URL_MAX];
            long status = 0;
            tr_buf_reset(&out);
            rv = TR_EUNAVAIL;
            if (cl_node_url(c, r->node, "/internal/v1/shard/verify", url,
                            sizeof(url)) &&
                tr_rpc_call(c->rpc, url, body.data, body.len, NULL, 2000,
                            &status, &out) == 0) {
                rv = status == 200   ? 0
                     : status == 404 ? TR_ENOTFOUND
                                     : TR_EUNAVAIL;
            }
            if (rv == 0) {
                struct tr_cursor cur = tr_cursor_make(out.data, out.len);
                if (tr_cursor_u64be(&cur, &r->index) != 0 ||
                    tr_cursor_u64be(&cur, &r->checksum) != 0) {
                    rv = TR_EPROTO;
                }
            }
        }
        if (rv == 0) {
            r->ok = true;
            break;
        }
        if (cl_mono_ms() >= deadline || c->stopping) {
            snprintf(r->err, sizeof(r->err), "%s",
                     rv == TR_ENOTFOUND
                         ? "has not applied the verify entry in time"
                         : "did not answer");
            break;
        }
        cl_sleep_ms(20);
    }
    tr_buf_free(&body);
    tr_buf_free(&out);
}

int cl_verify(struct tr_cluster *c, struct tr_buf *out, char *errmsg)
{
    struct tr_catalog cat;
    if (cl_catalog_copy(c, &cat) != 0) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    struct cl_batch *b = tr_calloc(cat.n_shards ? cat.n_shards : 1, sizeof(*b));
    const struct tr_catalog_shard **shs =
        tr_calloc(cat.n_shards ? cat.n_shards : 1, sizeof(*shs));
    if (b == NULL || shs == NULL) {
        tr_free(b);
        tr_free(shs);
        tr_catalog_free(&cat);
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    /* one request id for this run: every replica reports it back (never
     * the same twice: a fake wall clock stands still) */
    static _Atomic uint64_t runs;
    uint64_t seed[3] = {(uint64_t)tr_mono_ns(), c->self.id,
                        atomic_fetch_add(&runs, 1)};
    uint64_t request = tr_hash64(seed, sizeof(seed), 0x766572) | 1;
    size_t n = 0;
    for (size_t i = 0; i < cat.n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat.shards[i];
        if (sh->state == TR_SHARD_DELETED ||
            cl_signal_ops(sh->signal) == NULL) {
            continue; /* sealing and sealed shards keep their groups */
        }
        uint8_t e[TR_ENTRY_VERIFY_SIZE];
        tr_entry_verify_encode(request, e);
        b[n].id = (struct tr_shard_id){sh->signal, sh->window, sh->slot};
        tr_buf_init(&b[n].entry);
        tr_buf_append(&b[n].entry, e, sizeof(e));
        shs[n] = sh;
        n++;
    }
    int64_t deadline = cl_mono_ms() + c->cfg.write_timeout_ms;
    struct tr_apply_result total;
    char werr[TR_ERRMSG_SIZE] = "";
    cl_write_batches(c, b, n, deadline, &total, werr);
    struct tr_json j;
    tr_json_init(&j, out);
    tr_json_obj_begin(&j);
    tr_json_key(&j, "shards");
    tr_json_arr_begin(&j);
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        const struct tr_catalog_shard *sh = shs[i];
        struct cl_replica_sum reps[TR_CATALOG_MAX_REPLICAS];
        memset(reps, 0, sizeof(reps));
        bool consistent = b[i].rv == 0;
        for (size_t r = 0; r < sh->n_replicas; r++) {
            reps[r].node = sh->replicas[r];
            if (b[i].rv == 0) {
                cl_verify_ask(c, &b[i].id, request, deadline, &reps[r]);
            } else {
                snprintf(reps[r].err, sizeof(reps[r].err),
                         "verify entry not committed");
            }
            consistent = consistent && reps[r].ok &&
                         reps[r].checksum == reps[0].checksum &&
                         reps[r].index == reps[0].index;
        }
        all = all && consistent;
        tr_json_obj_begin(&j);
        tr_json_key(&j, "signal");
        tr_json_str(&j, tr_signal_name(sh->signal));
        tr_json_key(&j, "window");
        tr_json_int(&j, sh->window);
        tr_json_key(&j, "slot");
        tr_json_uint(&j, sh->slot);
        tr_json_key(&j, "index");
        tr_json_uint(&j, b[i].res.index);
        tr_json_key(&j, "replicas");
        tr_json_arr_begin(&j);
        for (size_t r = 0; r < sh->n_replicas; r++) {
            const struct tr_catalog_node *nd =
                tr_catalog_node(&cat, reps[r].node);
            tr_json_obj_begin(&j);
            tr_json_key(&j, "node");
            tr_json_str(&j, nd ? nd->name : "");
            tr_json_key(&j, "checksum");
            if (reps[r].ok) {
                char hex[24];
                snprintf(hex, sizeof(hex), "%016" PRIx64, reps[r].checksum);
                tr_json_str(&j, hex);
            } else {
                tr_json_null(&j);
            }
            tr_json_key(&j, "error");
            if (reps[r].ok) {
                tr_json_null(&j);
            } else {
                tr_json_str(&j, b[i].rv != 0 ? werr : reps[r].err);
            }
            tr_json_obj_end(&j);
        }
        tr_json_arr_end(&j);
        tr_json_key(&j, "consistent");
        tr_json_bool(&j, consistent);
        tr_json_obj_end(&j);
    }
    tr_json_arr_end(&j);
    tr_json_key(&j, "consistent");
    tr_json_bool(&j, all);
    tr_json_obj_end(&j);
    for (size_t i = 0; i < n; i++) {
        tr_buf_free(&b[i].entry);
    }
    tr_free(b);
    tr_free(shs);
    tr_catalog_free(&cat);
    return 0;
}
