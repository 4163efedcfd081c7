/* Tests for server/grpc.c: the length-prefixed message of a unary call
 * (accepted, compressed, truncated, bad flag, two messages), the prefix
 * written back, HTTP -> gRPC status, and grpc-message percent-encoding. */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/err.h"
#include "server/grpc.h"

Test(grpc, unframe)
{
    const uint8_t ok[] = {0, 0, 0, 0, 2, 'h', 'i'};
    const uint8_t z[] = {1, 0, 0, 0, 1, 'x'};
    bool c;
    size_t n;
    const char *why = NULL;
    cr_assert_eq(tr_grpc_unframe(ok, sizeof ok, &c, &n, &why), 0);
    cr_assert(!c);
    cr_assert_eq(n, 2);
    cr_assert_eq(tr_grpc_unframe(z, sizeof z, &c, &n, &why), 0);
    cr_assert(c);
    cr_assert_eq(n, 1);
    const uint8_t empty[] = {0, 0, 0, 0, 0};
    cr_assert_eq(tr_grpc_unframe(empty, sizeof empty, &c, &n, &why), 0);
    cr_assert_eq(n, 0);
    /* every truncation of ok ends inside the message */
    for (size_t l = 0; l < sizeof ok; l++) {
        cr_assert_eq(tr_grpc_unframe(ok, l, &c, &n, &why), TR_EPROTO);
        cr_assert(strstr(why, "ended inside") != NULL, "%zu: %s", l, why);
    }
    const uint8_t flag[] = {2, 0, 0, 0, 0};
    cr_assert_eq(tr_grpc_unframe(flag, sizeof flag, &c, &n, &why), TR_EPROTO);
    cr_assert(strstr(why, "compressed flag") != NULL);
    const uint8_t two[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(tr_grpc_unframe(two, sizeof two, &c, &n, &why), TR_EPROTO);
    cr_assert(strstr(why, "one message") != NULL);
    uint8_t pre[TR_GRPC_PREFIX];
    tr_grpc_prefix(0x01020304, pre);
    const uint8_t want[] = {0, 1, 2, 3, 4};
    cr_assert(memcmp(pre, want, sizeof want) == 0);
}

Test(grpc, status_of_http)
{
    cr_assert_eq(tr_grpc_code_of_http(200), TR_GRPC_OK);
    cr_assert_eq(tr_grpc_code_of_http(400), TR_GRPC_INVALID_ARGUMENT);
    cr_assert_eq(tr_grpc_code_of_http(413), TR_GRPC_INVALID_ARGUMENT);
    cr_assert_eq(tr_grpc_code_of_http(401), TR_GRPC_UNAUTHENTICATED);
    cr_assert_eq(tr_grpc_code_of_http(404), TR_GRPC_UNIMPLEMENTED);
    /* retryable: Loki-style 429 and back-pressure 503 */
    cr_assert_eq(tr_grpc_code_of_http(429), TR_GRPC_UNAVAILABLE);
    cr_assert_eq(tr_grpc_code_of_http(503), TR_GRPC_UNAVAILABLE);
    cr_assert_eq(tr_grpc_code_of_http(504), TR_GRPC_DEADLINE_EXCEEDED);
    cr_assert_eq(tr_grpc_code_of_http(500), TR_GRPC_INTERNAL);
    cr_assert_eq(tr_grpc_code_of_http(418), TR_GRPC_UNKNOWN);
}

Test(grpc, message_percent_encoded)
{
    struct tr_buf b;
    tr_buf_init(&b);
    const char *m = "100% \xc3\xbc\nok";
    tr_grpc_message(m, strlen(m), 1024, &b);
    tr_buf_putc(&b, '\0');
    cr_assert_str_eq(b.data, "100%25 %C3%BC%0Aok");
    tr_buf_reset(&b);
    tr_grpc_message(m, strlen(m), 5, &b); /* bounded */
    cr_assert_leq(b.len, 5);
    tr_buf_free(&b);
}
