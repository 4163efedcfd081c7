/* log_timeref.h - time texts in log lines that spell the entry's own
 * timestamp. Most lines start with the time they were written, and agents
 * commonly take the entry's timestamp from that text (Promtail's timestamp
 * stage, Fluent Bit parsers with Time_Key, loggers that stamp both): the
 * text then holds nothing the timestamp column does not, yet its changing
 * digits cost a compressor ~10 % of a block's line bytes (bench/logs). A
 * block stores such a text as a reference to a layout, expanded from the
 * entry's timestamp when read (storage/log_block.h, flag bit 2). A text
 * that differs in any byte (another zone, another precision, a time the
 * agent stamped on reading) stays as it is.
 *
 * Layout descriptor (one byte; the time is UTC, ts = sec * 10^9 + frac
 * with frac in 0 .. 10^9 - 1)
 *   BITS  DESCRIPTION
 *   0-1   sub-second digits D: 0 none, 1 three, 2 six, 3 nine (the first D
 *         digits of frac written with 9 digits)
 *   2-3   what precedes them: 0 '.', 1 ',', 2 nothing (layout 3 only); 0
 *         when D is 0; 3 is invalid
 *   4-5   layout of the seconds: 0 "YYYY-MM-DDTHH:MM:SS" (RFC 3339),
 *         1 "YYYY-MM-DD HH:MM:SS", 2 "DD/Mon/YYYY:HH:MM:SS" (the common
 *         log format of nginx and Apache; Mon = Jan .. Dec), 3 sec in
 *         decimal (epoch seconds; only from 10^9 on, 2001-09-09: shorter
 *         numbers match too often by chance)
 *   6-7   0
 * Examples: 0x01 "2026-12-05T09:57:30.135", 0x12 "2026-12-05
 * 09:57:30.135980", 0x20 "05/Dec/2026:09:57:30", 0x39 "1733392650123"
 * (epoch milliseconds). */
#ifndef TR_STORAGE_LOG_TIMEREF_H
#define TR_STORAGE_LOG_TIMEREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* The longest text of a descriptor: 20 + 1 + 9 bytes. */
#define TR_LOG_TIMEREF_MAX 30
/* Lines are searched for a time text in their first this many bytes. */
#define TR_LOG_TIMEREF_SCAN 256

/* The texts of one second, kept between calls (consecutive entries share
 * their second): zero-initialise before first use. */
struct tr_log_timeref_cache {
    bool valid;
    int64_t sec;       /* the second of hms */
    int64_t day;       /* the day of date and clf_date */
    char date[10];     /* YYYY-MM-DD */
    char clf_date[12]; /* DD/Mon/YYYY: */
    char hms[8];       /* HH:MM:SS */
    int64_t epoch_sec; /* the second of epoch (-1: none made yet) */
    char epoch[20];    /* epoch_sec in decimal */
    uint8_t epoch_len;
};

/* Finds the first text in the first TR_LOG_TIMEREF_SCAN bytes of line
 * that spells ts in some layout (RFC 3339 / space-separated dates first,
 * then the common log format, then epoch seconds), with as many of its
 * sub-second digits as match. true with *off, *len and *desc set, false
 * when there is none. Deterministic. */
bool tr_log_timeref_find(struct tr_slice line,
                         int64_t ts,
                         struct tr_log_timeref_cache *c,
                         size_t *off,
                         size_t *len,
                         uint8_t *desc);
/* Writes the text of descriptor desc for ts at out (room for
 * TR_LOG_TIMEREF_MAX bytes) and returns its length; 0 when desc is not a
 * valid descriptor or cannot spell ts (layout 3 before 10^9 s). */
size_t tr_log_timeref_format(uint8_t desc,
                             int64_t ts,
                             struct tr_log_timeref_cache *c,
                             char *out);

#endif
