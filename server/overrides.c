/* overrides.c - tenant override fields by name, and the runtime overrides
 * file (server/overrides.h). */
#include "server/overrides.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/selfmetrics.h"
#include "server/app.h"
#include "server/config.h"

const char *const tr_overrides_keys[] = {"max_series",
                                         "ingestion_rate",
                                         "ingestion_burst",
                                         "retention_metrics",
                                         "retention_logs",
                                         "retention_traces",
                                         "traces_max_bytes_per_trace",
                                         "traces_max_attribute_bytes",
                                         "traces_ingestion_rate_bytes",
                                         "traces_ingestion_burst_bytes",
                                         "traces_span_metrics",
                                         "traces_service_graph",
                                         NULL};

/* Upstream names (Mimir, Loki, Tempo) and the field they set. */
static const char *const ov_aliases[][2] = {
    {"max_global_series_per_user", "max_series"},
    {"ingestion_burst_size", "ingestion_burst"},
    {"compactor_blocks_retention_period", "retention_metrics"},
    {"retention_period", "retention_logs"},
    {"block_retention", "retention_traces"},
    {"max_bytes_per_trace", "traces_max_bytes_per_trace"},
};

void tr_overrides_init(struct tr_catalog_tenant *t, const char *name)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->ingestion_rate = -1;
    t->retention_metrics_ms = -1;
    t->retention_logs_ms = -1;
    t->retention_traces_ms = -1;
}

static int ov__num(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || d != d || d < 0 || d > 1e18) {
        return TR_EINVAL;
    }
    *out = d;
    return 0;
}

int tr_overrides_set(struct tr_catalog_tenant *t,
                     const char *key,
                     const char *value)
{
    for (size_t i = 0; i < sizeof(ov_aliases) / sizeof(ov_aliases[0]); i++) {
        if (strcmp(key, ov_aliases[i][0]) == 0) {
            key = ov_aliases[i][1];
        }
    }
    double d = 0;
    int64_t ms = 0;
    uint64_t *u64 = NULL;
    if (strcmp(key, "max_series") == 0) {
        u64 = &t->max_series;
    } else if (strcmp(key, "ingestion_burst") == 0) {
        u64 = &t->ingestion_burst;
    } else if (strcmp(key, "traces_max_bytes_per_trace") == 0) {
        u64 = &t->traces_max_bytes_per_trace;
    } else if (strcmp(key, "traces_max_attribute_bytes") == 0) {
        u64 = &t->traces_max_attr_bytes;
    } else if (strcmp(key, "traces_ingestion_rate_bytes") == 0) {
        u64 = &t->traces_rate_bytes;
    } else if (strcmp(key, "traces_ingestion_burst_bytes") == 0) {
        u64 = &t->traces_burst_bytes;
    }
    if (u64 != NULL) {
        if (ov__num(value, &d) != 0) {
            return TR_EINVAL;
        }
        *u64 = (uint64_t)d;
        return 0;
    }
    if (strcmp(key, "ingestion_rate") == 0) {
        if (ov__num(value, &d) != 0) {
            return TR_EINVAL;
        }
        t->ingestion_rate = d;
        return 0;
    }
    int64_t *dur =
        strcmp(key, "retention_metrics") == 0  ? &t->retention_metrics_ms
        : strcmp(key, "retention_logs") == 0   ? &t->retention_logs_ms
        : strcmp(key, "retention_traces") == 0 ? &t->retention_traces_ms
                                               : NULL;
    if (dur != NULL) {
        if (tr_parse_duration_ms(value, &ms) != 0 || ms < 0) {
            return TR_EINVAL;
        }
        *dur = ms;
        return 0;
    }
    uint8_t *sw =
        strcmp(key, "traces_span_metrics") == 0    ? &t->traces_span_metrics
        : strcmp(key, "traces_service_graph") == 0 ? &t->traces_service_graph
                                                   : NULL;
    if (sw != NULL) {
        if (strcmp(value, "true") == 0 || strcmp(value, "on") == 0) {
            *sw = 1;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "off") == 0) {
            *sw = 2;
        } else {
            return TR_EINVAL;
        }
        return 0;
    }
    return TR_ENOTFOUND;
}

int tr_overrides_equal(const struct tr_catalog_tenant *a,
                       const struct tr_catalog_tenant *b)
{
    return strcmp(a->name, b->name) == 0 && a->max_series == b->max_series &&
           a->ingestion_rate == b->ingestion_rate &&
           a->ingestion_burst == b->ingestion_burst &&
           a->retention_metrics_ms == b->retention_metrics_ms &&
           a->retention_logs_ms == b->retention_logs_ms &&
           a->retention_traces_ms == b->retention_traces_ms &&
           a->traces_max_bytes_per_trace == b->traces_max_bytes_per_trace &&
           a->traces_max_attr_bytes == b->traces_max_attr_bytes &&
           a->traces_rate_bytes == b->traces_rate_bytes &&
           a->traces_burst_bytes == b->traces_burst_bytes &&
           a->traces_span_metrics == b->traces_span_metrics &&
           a->traces_service_graph == b->traces_service_graph;
}

/* ---- the file ------------------------------------------------------------ */

struct ov_parse {
    yaml_parser_t p;
    char *errmsg;
    struct tr_catalog_tenant *v;
    size_t n, cap;
};

static int ov__err(struct ov_parse *o, size_t line, const char *msg)
{
    return tr_errf(TR_EINVAL, o->errmsg, "runtime overrides: line %zu: %s",
                   line, msg);
}

static int ov__next(struct ov_parse *o, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&o->p, ev)) {
        return ov__err(o, o->p.problem_mark.line + 1,
                       o->p.problem ? o->p.problem : "syntax error");
    }
    return 0;
}

/* Skips the value whose first event is ev (a scalar, or a whole nested
 * mapping or sequence). */
static int ov__skip(struct ov_parse *o, yaml_event_t *ev)
{
    int depth = ev->type == YAML_MAPPING_START_EVENT ||
                ev->type == YAML_SEQUENCE_START_EVENT;
    yaml_event_delete(ev);
    while (depth > 0) {
        yaml_event_t e;
        int rv = ov__next(o, &e);
        if (rv != 0) {
            return rv;
        }
        depth += e.type == YAML_MAPPING_START_EVENT ||
                 e.type == YAML_SEQUENCE_START_EVENT;
        depth -= e.type == YAML_MAPPING_END_EVENT ||
                 e.type == YAML_SEQUENCE_END_EVENT;
        yaml_event_delete(&e);
    }
    return 0;
}

/* One tenant's mapping (its start event consumed). */
static int ov__tenant(struct ov_parse *o, const char *name, size_t line)
{
    if (name[0] == '\0' || strlen(name) >= TR_CATALOG_TENANT_MAX) {
        return ov__err(o, line, "empty or too long tenant name");
    }
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->v[i].name, name) == 0) {
            return ov__err(o, line, "tenant listed twice");
        }
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        struct tr_catalog_tenant *v = tr_realloc(o->v, cap * sizeof(*v));
        if (v == NULL) {
            return tr_errf(TR_ENOMEM, o->errmsg, "out of memory");
        }
        o->v = v;
        o->cap = cap;
    }
    struct tr_catalog_tenant *t = &o->v[o->n++];
    tr_overrides_init(t, name);
    for (;;) {
        yaml_event_t k, v;
        int rv = ov__next(o, &k);
        if (rv != 0) {
            return rv;
        }
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return 0;
        }
        size_t kl = k.start_mark.line + 1;
        if (k.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&k);
            return ov__err(o, kl, "expected a limit name");
        }
        char key[64];
        snprintf(key, sizeof(key), "%s", (const char *)k.data.scalar.value);
        yaml_event_delete(&k);
        if ((rv = ov__next(o, &v)) != 0) {
            return rv;
        }
        if (v.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&v);
            return ov__err(o, kl, "expected a scalar value");
        }
        char msg[200];
        rv = tr_overrides_set(t, key, (const char *)v.data.scalar.value);
        yaml_event_delete(&v);
        if (rv == TR_ENOTFOUND) {
            snprintf(msg, sizeof(msg), "unknown limit \"%s\"", key);
            return ov__err(o, kl, msg);
        }
        if (rv != 0) {
            snprintf(msg, sizeof(msg),
                     "bad value for \"%s\" (numbers >= 0, durations like "
                     "30d, switches on or off)",
                     key);
            return ov__err(o, kl, msg);
        }
    }
}

/* The "overrides" mapping (its start event consumed). */
static int ov__overrides(struct ov_parse *o)
{
    for (;;) {
        yaml_event_t k, v;
        int rv = ov__next(o, &k);
        if (rv != 0) {
            return rv;
        }
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return 0;
        }
        size_t line = k.start_mark.line + 1;
        if (k.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&k);
            return ov__err(o, line, "expected a tenant name");
        }
        char name[TR_CATALOG_TENANT_MAX + 1];
        snprintf(name, sizeof(name), "%s", (const char *)k.data.scalar.value);
        bool too_long = k.data.scalar.length >= TR_CATALOG_TENANT_MAX;
        yaml_event_delete(&k);
        if ((rv = ov__next(o, &v)) != 0) {
            return rv;
        }
        if (v.type == YAML_SCALAR_EVENT &&
            v.data.scalar.value[0] == '\0') { /* "team-a:" with nothing */
            yaml_event_delete(&v);
            continue;
        }
        if (v.type != YAML_MAPPING_START_EVENT) {
            yaml_event_delete(&v);
            return ov__err(o, line, "expected the tenant's limits as a map");
        }
        yaml_event_delete(&v);
        rv = ov__tenant(o, too_long ? "" : name, line);
        if (rv != 0) {
            return rv;
        }
    }
}

static int ov__cmp(const void *a, const void *b)
{
    return strcmp(((const struct tr_catalog_tenant *)a)->name,
                  ((const struct tr_catalog_tenant *)b)->name);
}

int tr_overrides_parse(const char *text,
                       size_t len,
                       struct tr_catalog_tenant **out,
                       size_t *n,
                       char *errmsg)
{
    struct ov_parse o;
    memset(&o, 0, sizeof(o));
    o.errmsg = errmsg;
    if (!yaml_parser_initialize(&o.p)) {
        return tr_errf(TR_ENOMEM, errmsg, "out of memory");
    }
    yaml_parser_set_input_string(&o.p, (const unsigned char *)text, len);
    int rv = 0;
    int depth = 0; /* mapping levels entered */
    for (bool done = false; rv == 0 && !done;) {
        yaml_event_t ev;
        if ((rv = ov__next(&o, &ev)) != 0) {
            break;
        }
        switch (ev.type) {
            case YAML_STREAM_END_EVENT:
                done = true;
                yaml_event_delete(&ev);
                break;
            case YAML_MAPPING_START_EVENT:
                if (depth++ > 0) {
                    rv = ov__skip(&o, &ev); /* not reached: keys below */
                    break;
                }
                yaml_event_delete(&ev);
                break;
            case YAML_MAPPING_END_EVENT:
                depth--;
                yaml_event_delete(&ev);
                break;
            case YAML_SCALAR_EVENT:
                if (depth == 0) { /* a document that is one scalar */
                    size_t line = ev.start_mark.line + 1;
                    bool empty = ev.data.scalar.value[0] == '\0';
                    yaml_event_delete(&ev);
                    rv = empty ? 0
                               : ov__err(&o, line,
                                         "expected a map with \"overrides\"");
                    break;
                }
                {
                    bool ovr = strcmp((const char *)ev.data.scalar.value,
                                      "overrides") == 0;
                    yaml_event_delete(&ev);
                    yaml_event_t v;
                    if ((rv = ov__next(&o, &v)) != 0) {
                        break;
                    }
                    if (ovr && v.type == YAML_MAPPING_START_EVENT) {
                        yaml_event_delete(&v);
                        rv = ov__overrides(&o);
                    } else if (ovr && !(v.type == YAML_SCALAR_EVENT &&
                                        v.data.scalar.value[0] == '\0')) {
                        size_t line = v.start_mark.line + 1;
                        yaml_event_delete(&v);
                        rv = ov__err(&o, line,
                                     "\"overrides\" must map tenants to "
                                     "their limits");
                    } else {
                        rv = ov__skip(&o, &v); /* other sections: ignored */
                    }
                }
                break;
            case YAML_SEQUENCE_START_EVENT:
                if (depth == 0) {
                    size_t line = ev.start_mark.line + 1;
                    yaml_event_delete(&ev);
                    rv = ov__err(&o, line, "expected a map with \"overrides\"");
                    break;
                }
                rv = ov__skip(&o, &ev);
                break;
            default:
                yaml_event_delete(&ev);
                break;
        }
    }
    yaml_parser_delete(&o.p);
    if (rv != 0) {
        tr_free(o.v);
        return rv;
    }
    if (o.n > 1) {
        qsort(o.v, o.n, sizeof(*o.v), ov__cmp);
    }
    *out = o.v;
    *n = o.n;
    return 0;
}

/* ---- reloading the file (--runtime-config.file) -------------------------- */

struct tr_overrides_reloader {
    struct tr_app *app;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool running;
    /* tenants the file set last time on this node (to reset the ones it
     * no longer lists) */
    char (*names)[TR_CATALOG_TENANT_MAX];
    size_t n_names;
    struct tr_sm_family *m_ok;   /* last reload successful (0/1) */
    struct tr_sm_family *m_time; /* its time */
};

/* Reads, parses and (on the meta leader) applies the file once. */
static void ov__reload(struct tr_overrides_reloader *r)
{
    const char *path = r->app->cfg->runtime_config_file;
    char err[TR_ERRMSG_SIZE] = "";
    size_t len = 0;
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        struct tr_buf b;
        tr_buf_init(&b);
        char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
               b.len < TR_OVERRIDES_MAX_BYTES) {
            tr_buf_append(&b, chunk, got);
        }
        fclose(f);
        if (b.len >= TR_OVERRIDES_MAX_BYTES || b.oom) {
            snprintf(err, sizeof(err), "runtime overrides: %s is too large",
                     path);
        } else {
            tr_buf_putc(&b, '\0');
            len = b.len - 1;
            text = (char *)b.data;
            b.data = NULL;
        }
        tr_buf_free(&b);
    } else {
        snprintf(err, sizeof(err), "runtime overrides: cannot read %s", path);
    }
    struct tr_catalog_tenant *v = NULL;
    size_t n = 0;
    int rv = text != NULL ? tr_overrides_parse(text, len, &v, &n, err) : TR_EIO;
    tr_free(text);
    if (rv != 0) {
        tr_log_error("runtime overrides not loaded; the last good ones stay",
                     "err=\"%s\"", err);
        tr_selfmetrics_set(r->m_ok, 0);
        return;
    }
    /* only the meta leader proposes, so that nodes whose files differ for
     * a moment (a ConfigMap being rolled out) do not flap */
    struct tr_cluster *c = r->app->cluster;
    bool failed = false;
    if (c != NULL && tr_cluster_is_meta_leader(c)) {
        for (size_t i = 0; i < n; i++) {
            struct tr_catalog_tenant cur;
            if (!tr_cluster_tenant(c, v[i].name, &cur) ||
                !tr_overrides_equal(&cur, &v[i])) {
                tr_log_info("runtime overrides: tenant updated", "tenant=%s",
                            v[i].name);
                failed |= tr_cluster_set_tenant(c, &v[i]) != 0;
            }
        }
        for (size_t i = 0; i < r->n_names; i++) {
            bool listed = false;
            for (size_t k = 0; k < n && !listed; k++) {
                listed = strcmp(v[k].name, r->names[i]) == 0;
            }
            struct tr_catalog_tenant cur, def;
            if (!listed && tr_cluster_tenant(c, r->names[i], &cur)) {
                tr_overrides_init(&def, r->names[i]);
                tr_log_info(
                    "runtime overrides: tenant no longer listed, "
                    "back to the defaults",
                    "tenant=%s", r->names[i]);
                failed |= tr_cluster_set_tenant(c, &def) != 0;
            }
        }
    }
    tr_free(r->names);
    r->names = n ? tr_calloc(n, sizeof(*r->names)) : NULL;
    r->n_names = r->names != NULL ? n : 0;
    for (size_t i = 0; i < r->n_names; i++) {
        snprintf(r->names[i], sizeof(r->names[i]), "%s", v[i].name);
    }
    tr_free(v);
    tr_selfmetrics_set(r->m_ok, failed ? 0 : 1);
    if (!failed) {
        tr_selfmetrics_set(r->m_time, (double)tr_now_ms() / 1000.0);
    }
}

static void *ov__run(void *arg)
{
    struct tr_overrides_reloader *r = arg;
    int64_t period = r->app->cfg->runtime_config_reload_ms;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        ov__reload(r);
        pthread_mutex_lock(&r->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += period / 1000;
        ts.tv_nsec += (long)(period % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0) {
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int tr_overrides_start(struct tr_app *app)
{
    if (app->cfg->runtime_config_file == NULL ||
        app->cfg->runtime_config_file[0] == '\0' || app->overrides != NULL) {
        return 0;
    }
    struct tr_overrides_reloader *r = tr_calloc(1, sizeof(*r));
    if (r == NULL) {
        return TR_ENOMEM;
    }
    r->app = app;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    struct tr_selfmetrics *sm = tr_selfmetrics_default();
    r->m_ok = tr_selfmetrics_gauge(
        sm, "triad_runtime_config_last_reload_successful",
        "1 when the last read of --runtime-config.file parsed and (on the "
        "meta leader) was stored, else 0.",
        0, NULL);
    r->m_time = tr_selfmetrics_gauge(
        sm, "triad_runtime_config_last_reload_success_timestamp_seconds",
        "When --runtime-config.file was last read successfully.", 0, NULL);
    if (pthread_create(&r->thread, NULL, ov__run, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        tr_free(r);
        return TR_EIO;
    }
    r->running = true;
    app->overrides = r;
    return 0;
}

void tr_overrides_stop(struct tr_app *app)
{
    struct tr_overrides_reloader *r = app->overrides;
    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void tr_overrides_join(struct tr_app *app)
{
    struct tr_overrides_reloader *r = app->overrides;
    if (r == NULL) {
        return;
    }
    tr_overrides_stop(app);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    tr_free(r->names);
    tr_free(r);
    app->overrides = NULL;
}
