/* shard.c - signal names and shard group names. */
#include "storage/shard.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    char letter;
} shard_signals[] = {
    [TR_SIGNAL_METRICS] = {"metrics", 'm'},
    [TR_SIGNAL_LOGS] = {"logs", 'l'},
    [TR_SIGNAL_TRACES] = {"traces", 't'},
};

bool tr_signal_valid(uint8_t signal)
{
    return signal >= TR_SIGNAL_MIN && signal <= TR_SIGNAL_MAX;
}

const char *tr_signal_name(uint8_t signal)
{
    return tr_signal_valid(signal) ? shard_signals[signal].name : "unknown";
}

char tr_signal_letter(uint8_t signal)
{
    return tr_signal_valid(signal) ? shard_signals[signal].letter : '?';
}

uint8_t tr_signal_parse(const char *name)
{
    for (uint8_t s = TR_SIGNAL_MIN; s <= TR_SIGNAL_MAX; s++) {
        if (strcmp(name, shard_signals[s].name) == 0) {
            return s;
        }
    }
    return 0;
}

char *tr_shard_group_name(const struct tr_shard_id *id, char *out, size_t n)
{
    snprintf(out, n, "%c%" PRId64 "-%u", tr_signal_letter(id->signal),
             id->window, id->slot);
    return out;
}

int tr_shard_group_parse(const char *name, struct tr_shard_id *out)
{
    uint8_t sig = 0;
    for (uint8_t s = TR_SIGNAL_MIN; s <= TR_SIGNAL_MAX; s++) {
        if (name[0] == shard_signals[s].letter) {
            sig = s;
        }
    }
    if (sig == 0) {
        return -1;
    }
    char *end;
    long long w = strtoll(name + 1, &end, 10);
    if (end == name + 1 || *end != '-') {
        return -1;
    }
    char *end2;
    unsigned long slot = strtoul(end + 1, &end2, 10);
    if (end2 == end + 1 || *end2 != '\0' || slot > UINT16_MAX) {
        return -1;
    }
    out->signal = sig;
    out->window = (int64_t)w;
    out->slot = (uint16_t)slot;
    return 0;
}
