/* fuzz_config_yaml.c - libFuzzer driver for the YAML configuration loader
 * (server/config.h): the input is written to /tmp/triad-fuzz-config.<pid>.yaml
 * and loaded with `triad serve --config <file>`.
 *
 * Properties checked: no crash, leak or UB; the result is 0, TR_EINVAL or
 * TR_ENOMEM; after a successful load every string field is non-NULL (the
 * contract in config.h) and an error leaves a message; tr_config_free
 * releases everything. The file is removed at exit. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "server/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof(path), "/tmp/triad-fuzz-config.%ld.yaml",
             (long)getpid());
    atexit(remove_file);
    return 0;
}

static void check_loaded(const struct tr_config *cfg)
{
    const char *strs[] = {
        cfg->config_file,    cfg->http_addr,      cfg->tempo_http_addr,
        cfg->otlp_grpc_addr, cfg->otlp_http_addr, cfg->cluster_addr,
        cfg->data_dir,       cfg->node_name,      cfg->advertise_addr,
        cfg->join,           cfg->cluster_secret, cfg->log_level,
        cfg->status_addr,
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (strs[i] == NULL) {
            abort(); /* config.h: every char * field non-NULL on success */
        }
    }
    if (cfg->command != TR_CMD_SERVE) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    if (fclose(f) != 0) {
        return 0;
    }

    char a0[] = "triad", a1[] = "serve", a2[] = "--config";
    char *argv[] = {a0, a1, a2, path, NULL};
    char errmsg[TR_ERRMSG_SIZE];
    struct tr_config cfg;
    errmsg[0] = '\0';
    memset(&cfg, 0, sizeof(cfg));
    int rv = tr_config_load(&cfg, 4, argv, errmsg);
    if (rv == 0) {
        check_loaded(&cfg);
    } else if (rv != TR_EINVAL && rv != TR_ENOMEM) {
        abort();
    } else if (errmsg[0] == '\0') {
        abort(); /* an error says why */
    }
    tr_config_free(&cfg);
    return 0;
}
