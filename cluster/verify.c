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
 * null and an error, and its shard is not consistent (not proven).
 *
 * A SEALED shard has no group (sealed.c): every replica answers with the
 * checksum of its sealed copy after the window's tenant drops
 * ("sealed":true, "index" = the seal entry's); all must agree, and with
 * the catalog's sealed checksum when no tenant was dropped. A replica
 * that differs from a majority is told to copy the shard again. */
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
#include "lib/log.h"

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

/* Asks replica r for the checksum of its sealed copy of id once it has
 * applied at least `known` tenant drops of the window (retrying until the
 * deadline while it has not learnt them or answers nothing). */
static void verify__sealed_ask(struct tr_cluster *c,
                               const struct tr_shard_id *id,
                               uint64_t known,
                               int64_t deadline,
                               struct cl_replica_sum *r)
{
    struct tr_buf body, out;
    tr_buf_init(&body);
    tr_buf_init(&out);
    cl_put_shard(&body, id);
    tr_buf_put_uvarint(&body, known);
    for (;;) {
        int rv;
        char err[TR_ERRMSG_SIZE] = "";
        if (r->node == c->self.id) {
            rv = cl_sealed_sum(c, id, known, &r->checksum, err);
        } else {
            char url[CL_URL_MAX];
            long status = 0;
            tr_buf_reset(&out);
            rv = TR_EUNAVAIL;
            if (cl_node_url(c, r->node, "/internal/v1/shard/sealed-sum", url,
                            sizeof(url)) &&
                tr_rpc_call(c->rpc, url, body.data, body.len, NULL, 30000,
                            &status, &out) == 0) {
                rv = status == 200   ? 0
                     : status == 404 ? TR_ENOTFOUND
                                     : TR_EUNAVAIL;
            }
            struct tr_cursor cur = tr_cursor_make(out.data, out.len);
            if (rv == 0 && tr_cursor_u64be(&cur, &r->checksum) != 0) {
                rv = TR_EPROTO;
            }
        }
        if (rv == 0) {
            r->ok = true;
            break;
        }
        if (cl_mono_ms() >= deadline || c->stopping) {
            snprintf(r->err, sizeof(r->err), "%s",
                     rv == TR_ENOTFOUND
                         ? "has not applied the window's tenant drops in time"
                     : rv == TR_EUNAVAIL ? "no sealed copy here (copying?)"
                                         : "did not answer");
            break;
        }
        cl_sleep_ms(50);
    }
    tr_buf_free(&body);
    tr_buf_free(&out);
}

void cl_recopy_ask(struct tr_cluster *c,
                   const struct tr_shard_id *id,
                   uint64_t node)
{
    char url[CL_URL_MAX];
    if (!cl_node_url(c, node, "/internal/v1/shard/recopy", url, sizeof(url))) {
        return;
    }
    struct tr_buf body, out;
    tr_buf_init(&body);
    tr_buf_init(&out);
    cl_put_shard(&body, id);
    long status = 0;
    tr_rpc_call(c->rpc, url, body.data, body.len, NULL, 5000, &status, &out);
    tr_buf_free(&body);
    tr_buf_free(&out);
}

/* A sealed shard: every replica's checksum of its sealed copy; replicas
 * that differ from a majority are told to copy again. Consistent when all
 * agree and, with no tenant dropped from the window, agree with the
 * catalog's sealed checksum. */
static bool verify__sealed(struct tr_cluster *c,
                           const struct tr_catalog *cat,
                           const struct tr_catalog_shard *sh,
                           int64_t deadline,
                           struct cl_replica_sum *reps)
{
    struct tr_shard_id id = {sh->signal, sh->window, sh->slot};
    uint64_t known = tr_catalog_drops_of(cat, sh->signal, sh->window);
    for (size_t r = 0; r < sh->n_replicas; r++) {
        reps[r].node = sh->replicas[r];
        reps[r].index = sh->sealed_index;
        verify__sealed_ask(c, &id, known, deadline, &reps[r]);
    }
    /* a replica whose catalog knew one more drop meanwhile: ask again */
    bool consistent = true;
    for (int again = 0; again < 3; again++) {
        consistent = true;
        for (size_t r = 0; r < sh->n_replicas; r++) {
            consistent = consistent && reps[r].ok &&
                         reps[r].checksum == reps[0].checksum;
        }
        if (consistent || cl_mono_ms() >= deadline) {
            break;
        }
        for (size_t r = 0; r < sh->n_replicas; r++) {
            if (reps[r].ok) {
                verify__sealed_ask(c, &id, known, deadline, &reps[r]);
            }
        }
    }
    uint64_t expect = known == 0 ? sh->sealed_checksum : 0;
    size_t agree = 0;
    uint64_t best = 0;
    for (size_t r = 0; r < sh->n_replicas; r++) {
        size_t k = 0;
        for (size_t q = 0; q < sh->n_replicas; q++) {
            k += reps[r].ok && reps[q].ok &&
                 reps[q].checksum == reps[r].checksum;
        }
        if (k > agree) {
            agree = k;
            best = reps[r].checksum;
        }
    }
    if (consistent && known == 0 && reps[0].checksum != expect) {
        consistent = false;
    }
    if (agree * 2 > sh->n_replicas && (known > 0 || best == expect)) {
        for (size_t r = 0; r < sh->n_replicas; r++) {
            if (reps[r].ok && reps[r].checksum != best) {
                char name[48];
                tr_shard_group_name(&id, name, sizeof(name));
                const struct tr_catalog_node *nd =
                    tr_catalog_node(cat, reps[r].node);
                tr_log_error(
                    "verify: a sealed replica differs from the majority; "
                    "it copies the shard again",
                    "group=%s node=%s checksum=%016" PRIx64
                    " majority=%016" PRIx64,
                    name, nd != NULL ? nd->name : "?", reps[r].checksum, best);
                snprintf(reps[r].err, sizeof(reps[r].err),
                         "differs from the majority: copying it again");
                cl_recopy_ask(c, &id, reps[r].node);
            }
        }
    }
    return consistent;
}

static void verify__shard_json(struct tr_json *j,
                               const struct tr_catalog *cat,
                               const struct tr_catalog_shard *sh,
                               uint64_t index,
                               const struct cl_replica_sum *reps,
                               const char *failed, /* all replicas' error */
                               bool consistent)
{
    tr_json_obj_begin(j);
    tr_json_key(j, "signal");
    tr_json_str(j, tr_signal_name(sh->signal));
    tr_json_key(j, "window");
    tr_json_int(j, sh->window);
    tr_json_key(j, "slot");
    tr_json_uint(j, sh->slot);
    tr_json_key(j, "sealed");
    tr_json_bool(j, sh->state == TR_SHARD_SEALED);
    tr_json_key(j, "index");
    tr_json_uint(j, index);
    tr_json_key(j, "replicas");
    tr_json_arr_begin(j);
    for (size_t r = 0; r < sh->n_replicas; r++) {
        const struct tr_catalog_node *nd = tr_catalog_node(cat, reps[r].node);
        tr_json_obj_begin(j);
        tr_json_key(j, "node");
        tr_json_str(j, nd ? nd->name : "");
        tr_json_key(j, "checksum");
        if (reps[r].ok) {
            char hex[24];
            snprintf(hex, sizeof(hex), "%016" PRIx64, reps[r].checksum);
            tr_json_str(j, hex);
        } else {
            tr_json_null(j);
        }
        tr_json_key(j, "error");
        if (failed != NULL) {
            tr_json_str(j, failed);
        } else if (reps[r].err[0] != '\0') {
            tr_json_str(j, reps[r].err);
        } else {
            tr_json_null(j);
        }
        tr_json_obj_end(j);
    }
    tr_json_arr_end(j);
    tr_json_key(j, "consistent");
    tr_json_bool(j, consistent);
    tr_json_obj_end(j);
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
        if (sh->state == TR_SHARD_DELETED || sh->state == TR_SHARD_SEALED ||
            cl_signal_ops(sh->signal) == NULL) {
            continue; /* sealed shards have no group: asked below */
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
            }
            consistent = consistent && reps[r].ok &&
                         reps[r].checksum == reps[0].checksum &&
                         reps[r].index == reps[0].index;
        }
        all = all && consistent;
        verify__shard_json(&j, &cat, sh, b[i].res.index, reps,
                           b[i].rv != 0 ? werr : NULL, consistent);
    }
    for (size_t i = 0; i < cat.n_shards; i++) {
        const struct tr_catalog_shard *sh = &cat.shards[i];
        if (sh->state != TR_SHARD_SEALED || cl_signal_ops(sh->signal) == NULL) {
            continue;
        }
        struct cl_replica_sum reps[TR_CATALOG_MAX_REPLICAS];
        memset(reps, 0, sizeof(reps));
        bool consistent = verify__sealed(c, &cat, sh, deadline, reps);
        all = all && consistent;
        verify__shard_json(&j, &cat, sh, sh->sealed_index, reps, NULL,
                           consistent);
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
