#include "lib/json.h"

#include "lib/dtoa.h"

#include <inttypes.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tr_json_init(struct tr_json *j, struct tr_buf *out)
{
    memset(j, 0, sizeof(*j));
    j->out = out;
    j->first[0] = true;
}

static void json__sep(struct tr_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (!j->first[j->depth]) {
        tr_buf_putc(j->out, ',');
    }
    j->first[j->depth] = false;
}

static void json__open(struct tr_json *j, char c)
{
    json__sep(j);
    tr_buf_putc(j->out, c);
    if (j->depth < TR_JSON_MAX_DEPTH - 1) {
        j->depth++;
    }
    j->first[j->depth] = true;
}

static void json__close(struct tr_json *j, char c)
{
    tr_buf_putc(j->out, c);
    if (j->depth > 0) {
        j->depth--;
    }
}

void tr_json_obj_begin(struct tr_json *j)
{
    json__open(j, '{');
}

void tr_json_obj_end(struct tr_json *j)
{
    json__close(j, '}');
}

void tr_json_arr_begin(struct tr_json *j)
{
    json__open(j, '[');
}

void tr_json_arr_end(struct tr_json *j)
{
    json__close(j, ']');
}

void tr_json_key_n(struct tr_json *j, const char *key, size_t n)
{
    json__sep(j);
    tr_buf_putc(j->out, '"');
    tr_json_escape(j->out, key, n);
    tr_buf_append(j->out, "\":", 2);
    j->after_key = true;
}

void tr_json_key(struct tr_json *j, const char *key)
{
    tr_json_key_n(j, key, strlen(key));
}

void tr_json_escape(struct tr_buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t start = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = tr_utf8_seq_len(s + i, n - i);
            if (l > 0) {
                /* Go escapes U+2028 and U+2029 */
                if (l == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
                    (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
                    tr_buf_append(b, str + start, i - start);
                    tr_buf_append(b, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029",
                                  6);
                    i += 3;
                    start = i;
                    continue;
                }
                i += l;
                continue;
            }
            tr_buf_append(b, str + start, i - start);
            tr_buf_append(b, "\\ufffd", 6);
            i++;
            start = i;
            continue;
        }
        tr_buf_append(b, str + start, i - start);
        switch (c) {
            case '"':
                tr_buf_append(b, "\\\"", 2);
                break;
            case '\\':
                tr_buf_append(b, "\\\\", 2);
                break;
            case '\n':
                tr_buf_append(b, "\\n", 2);
                break;
            case '\r':
                tr_buf_append(b, "\\r", 2);
                break;
            case '\t':
                tr_buf_append(b, "\\t", 2);
                break;
            default: {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                tr_buf_append(b, u, 6);
            }
        }
        i++;
        start = i;
    }
    tr_buf_append(b, str + start, n - start);
}

void tr_json_str_n(struct tr_json *j, const char *s, size_t n)
{
    json__sep(j);
    tr_buf_putc(j->out, '"');
    tr_json_escape(j->out, s, n);
    tr_buf_putc(j->out, '"');
}

void tr_json_str(struct tr_json *j, const char *s)
{
    tr_json_str_n(j, s, strlen(s));
}

void tr_json_int(struct tr_json *j, int64_t v)
{
    json__sep(j);
    tr_buf_printf(j->out, "%" PRId64, v);
}

void tr_json_uint(struct tr_json *j, uint64_t v)
{
    json__sep(j);
    tr_buf_printf(j->out, "%" PRIu64, v);
}

void tr_json_bool(struct tr_json *j, bool v)
{
    json__sep(j);
    tr_buf_puts(j->out, v ? "true" : "false");
}

void tr_json_null(struct tr_json *j)
{
    json__sep(j);
    tr_buf_puts(j->out, "null");
}

void tr_json_raw(struct tr_json *j, const char *s, size_t n)
{
    json__sep(j);
    tr_buf_append(j->out, s, n);
}

void tr_json_double(struct tr_json *j, double v)
{
    char tmp[TR_DOUBLE_BUF];
    size_t n = tr_format_double(tmp, v);
    json__sep(j);
    tr_buf_append(j->out, tmp, n);
}

size_t tr_format_double(char *buf, double v)
{
    if (isnan(v)) {
        memcpy(buf, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(buf, v > 0 ? "+Inf" : "-Inf", 5);
        return 4;
    }
    int neg = signbit(v) != 0;
    if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v) {
        /* integers below 2^53: the rounding interval is at most one unit
         * wide, so the shortest digits are the integer's own */
        uint64_t u = (uint64_t)(int64_t)fabs(v);
        size_t o = 0;
        if (neg) {
            buf[o++] = '-';
        }
        size_t nd = tr_dtoa_u64(buf + o, u);
        o += nd;
        buf[o] = '\0';
        return o;
    }
    char digits[17];
    int exp10;
    int nd = tr_dtoa_shortest(v, digits, &exp10);
    size_t o = 0;
    if (neg) {
        buf[o++] = '-';
    }
    /* value = 0.d1d2... * 10^(exp10+1); 'f' layout */
    int point = exp10 + 1; /* digits before the decimal point */
    if (point <= 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = 0; i < -point; i++) {
            buf[o++] = '0';
        }
        for (int i = 0; i < nd; i++) {
            buf[o++] = digits[i];
        }
    } else if (point >= nd) {
        for (int i = 0; i < nd; i++) {
            buf[o++] = digits[i];
        }
        for (int i = nd; i < point; i++) {
            buf[o++] = '0';
        }
    } else {
        for (int i = 0; i < point; i++) {
            buf[o++] = digits[i];
        }
        buf[o++] = '.';
        for (int i = point; i < nd; i++) {
            buf[o++] = digits[i];
        }
    }
    buf[o] = '\0';
    return o;
}
