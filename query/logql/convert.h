/* convert.h - Go's value parsers as LogQL uses them, shared by the lexer
 * (number, duration and bytes literals) and the pipeline stages (label
 * filters, unwrap conversions): one implementation (convert.c). */
#ifndef TR_QUERY_LOGQL_CONVERT_H
#define TR_QUERY_LOGQL_CONVERT_H

#include <stddef.h>
#include <stdint.h>

/* Go's strconv.ParseFloat(s, 64): decimal or hex (0x1p-2) floats, inf,
 * infinity, nan (any case), optional sign; out of range gives +-Inf with
 * an error. 0 or TR_EINVAL with errmsg "strconv.ParseFloat: parsing
 * \"s\": invalid syntax" (or "value out of range"). errmsg may be NULL. */
int tr_logql_parse_float(const char *s, size_t n, double *out, char *errmsg);
/* Go's time.ParseDuration: [-+]([0-9]*(\.[0-9]*)?unit)+ with units ns us
 * µs μs ms s m h, or "0". 0 or TR_EINVAL with "time: invalid duration
 * \"s\"", "time: missing unit in duration \"s\"", "time: unknown unit
 * \"u\" in duration \"s\"". */
int tr_logql_parse_duration(const char *s, size_t n, int64_t *ns, char *errmsg);
/* go-humanize's ParseBytes: digits with '.' and ',' then an optional space
 * and a case-insensitive unit (b, k/kb, ki/kib, m/mb, mi/mib ... e/eb,
 * ei/eib); 1.5B is 1. 0 or TR_EINVAL ("strconv.ParseFloat: parsing \"\":
 * invalid syntax", "unhandled size name: x", "too large: s"). */
int tr_logql_parse_bytes(const char *s, size_t n, uint64_t *out, char *errmsg);

#endif
