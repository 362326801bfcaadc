/*
 * Unit tests for proto/resp: Akumuli RESP ingestion. Points (canonical keys, timestamps, values,
 * events), bulk rows, dictionaries, every error line the grammar can produce (exact reply bytes,
 * context rule included), limits, the dead-parser contract, and incremental parsing: feeding a
 * stream in every split gives the same points and the same reply. Every parse of the shared
 * helpers runs again through a RespNames cache, cold and warm, and must give the same points,
 * status and reply; the callback checks that a ref slot only ever holds what was written for
 * its own key. Then the cache itself: hits, tag order, dictionary refs, bad names, eviction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/hash.h"
#include "proto/resp.h"

/* Collects points as text lines "key|ts|value" or "key|ts|!text". */
typedef struct Sink {
    Buf log;
    int calls;
    int fail_at;   /* return TS_ERR_NOTFOUND on this call (1-based); 0 = never */
    int ref_hits;  /* points whose ref slot was already set */
    bool no_write; /* leave ref slots alone */
} Sink;

/* What the callback stores in a ref slot: a function of the key, so a slot handed out with
 * another key is caught. */
static uint64_t ref_of(Slice key)
{
    return hash64(key.p, key.n) | 1;
}

static int on_point(void *ctx, Slice key, uint64_t *ref, int64_t ts_ns, double value, bool is_event,
                    Slice text)
{
    Sink *s = ctx;
    s->calls++;
    assert_non_null(ref);
    if (*ref != 0) {
        assert_true(*ref == ref_of(key));
        s->ref_hits++;
    } else if (!s->no_write) {
        *ref = ref_of(key);
    }
    if (s->fail_at && s->calls == s->fail_at)
        return TS_ERR_NOTFOUND;
    buf_append(&s->log, key.p, key.n);
    buf_printf(&s->log, "|%lld|", (long long)ts_ns);
    if (is_event) {
        buf_puts(&s->log, "!");
        buf_append(&s->log, text.p, text.n);
    } else {
        if (text.n != 0)
            buf_puts(&s->log, "TEXT-ON-NUMBER");
        buf_printf(&s->log, "%.17g", value);
    }
    buf_puts(&s->log, "\n");
    return TS_OK;
}

static void sink_init(Sink *s)
{
    memset(s, 0, sizeof(*s));
    buf_init(&s->log);
}

/* NUL-terminated copy of a Buf for string comparison (returned pointer owned by 'b'). */
static const char *buf_str(Buf *b)
{
    buf_put_u8(b, 0);
    b->n--;
    return (const char *)b->p;
}

/* Parse 'in' in one call with a fresh parser. */
static int run_lim(const RespLimits *lim, const char *in, size_t n, Sink *s, Buf *reply,
                   size_t *consumed)
{
    size_t reply0 = reply->n;
    size_t log0 = s->log.n;
    int calls0 = s->calls;
    RespParser *p = resp_parser_new(lim);
    int rc = resp_parse(p, (const uint8_t *)in, n, on_point, s, consumed, reply);
    resp_parser_free(p);

    /* The same through a name cache, cold then warm: nothing observable may change. */
    RespNames *names = resp_names_new(lim, 0);
    for (int pass = 0; pass < 2; pass++) {
        Sink s2;
        Buf r2;
        size_t used2 = 0;
        memset(&s2, 0, sizeof(s2));
        buf_init(&s2.log);
        buf_init(&r2);
        s2.fail_at = s->fail_at;
        RespParser *q = resp_parser_new(lim);
        resp_parser_set_names(q, names);
        assert_int_equal(resp_parse(q, (const uint8_t *)in, n, on_point, &s2, &used2, &r2), rc);
        resp_parser_free(q);
        assert_int_equal(used2, *consumed);
        assert_int_equal(r2.n, reply->n - reply0);
        assert_true(r2.n == 0 || memcmp(r2.p, reply->p + reply0, r2.n) == 0);
        assert_int_equal(s2.calls, s->calls - calls0);
        assert_int_equal(s2.log.n, s->log.n - log0);
        assert_true(s2.log.n == 0 || memcmp(s2.log.p, s->log.p + log0, s2.log.n) == 0);
        buf_deinit(&s2.log);
        buf_deinit(&r2);
    }
    resp_names_free(names);
    return rc;
}

static void expect_points_n(const char *in, size_t n, const char *want)
{
    Sink s;
    Buf reply;
    size_t used = 0;
    sink_init(&s);
    buf_init(&reply);
    int rc = run_lim(NULL, in, n, &s, &reply, &used);
    if (rc != TS_OK)
        fail_msg("rejected (%d): %.*s", rc, (int)reply.n, reply.p ? (char *)reply.p : "");
    assert_int_equal(reply.n, 0);
    assert_int_equal(used, n);
    assert_string_equal(buf_str(&s.log), want);
    buf_deinit(&s.log);
    buf_deinit(&reply);
}

static void expect_points(const char *in, const char *want)
{
    expect_points_n(in, strlen(in), want);
}

/* The reply to 'in' (one call) must be exactly 'want'; returns the number of points seen. */
static int expect_reply_lim(const RespLimits *lim, const char *in, size_t n, int want_rc,
                            const char *want)
{
    Sink s;
    Buf reply;
    size_t used = 0;
    sink_init(&s);
    buf_init(&reply);
    int rc = run_lim(lim, in, n, &s, &reply, &used);
    assert_int_equal(rc, want_rc);
    assert_string_equal(buf_str(&reply), want);
    int calls = s.calls;
    buf_deinit(&s.log);
    buf_deinit(&reply);
    return calls;
}

static int expect_reply(const char *in, const char *want)
{
    return expect_reply_lim(NULL, in, strlen(in), TS_ERR_PROTO, want);
}

/* ---- points ---- */

static void test_single_points(void **state)
{
    expect_points("+balancers.memusage host=machine1 region=NW\r\n"
                  "+20141210T074343.999999999\r\n:31\r\n",
                  "balancers.memusage host=machine1 region=NW|1418197423999999999|31\n");
    expect_points("+cpu host=a\r\n:1418224205000000000\r\n+5.0\r\n"
                  "+cpu host=a\r\n+20141210T074343.5\r\n+-3.25\r\n"
                  "+cpu host=a\r\n+20141210T074343,25\r\n+1e3\r\n",
                  "cpu host=a|1418224205000000000|5\n"
                  "cpu host=a|1418197423500000000|-3.25\n"
                  "cpu host=a|1418197423250000000|1000\n");
    /* Short or T-less timestamp strings are integer nanoseconds; leading non-digits skipped. */
    expect_points("+m t=1\r\n+1418224205\r\n+1\r\n"
                  "+m t=1\r\n+ts=20141210T074343\r\n+2\r\n",
                  "m t=1|1418224205|1\nm t=1|1418197423000000000|2\n");
    /* Negative integers: Akumuli rejects ":-5", cairn accepts it; "+-5" works in both. */
    expect_points(
        "+m t=1\r\n:1\r\n:-5\r\n+m t=1\r\n:2\r\n+-5\r\n+m t=1\r\n:3\r\n:18446744073709551615\r\n",
        "m t=1|1|-5\nm t=1|2|-5\nm t=1|3|1.8446744073709552e+19\n");
    /* Akumuli quirks kept: an empty integer is 0, an empty float text is 0, nan parses. */
    expect_points("+m t=1\r\n:\r\n:\r\n+m t=1\r\n:1\r\n+\r\n+m t=1\r\n:2\r\n+nan\r\n",
                  "m t=1|0|0\nm t=1|1|0\nm t=1|2|nan\n");
    /* Bare "\n" line ends; a '\r' inside a string is data. */
    expect_points("+m t=1\n:7\n+2.5\n+m\rx t=1\r\n:8\r\n:9\r\n", "m t=1|7|2.5\nm\rx t=1|8|9\n");
}

static void test_names_canonical(void **state)
{
    expect_points("+cpu  region=NW   host=a\r\n:1\r\n:1\r\n"
                  "+ \t cpu host=a\t region=NW \r\n:2\r\n:2\r\n",
                  "cpu host=a region=NW|1|1\ncpu host=a\t region=NW|2|2\n");
    /* '=' ends the key: "a=" sorts before "ab=" and "a-b="; duplicates kept in input order. */
    expect_points("+m ab=1 a-b=2 a=3\r\n:1\r\n:1\r\n+dup host=b host=a\r\n:1\r\n:1\r\n",
                  "m a=3 a-b=2 ab=1|1|1\ndup host=b host=a|1|1\n");
    /* Escaped spaces are kept; empty values allowed; a tab inside the tag list is data. */
    expect_points("+esc\\ m host=a\\ b\r\n:1\r\n:1\r\n+bad host=\r\n:1\r\n:1\r\n"
                  "+m alpha=2\tbeta=3\r\n:1\r\n:1\r\n",
                  "esc\\ m host=a\\ b|1|1\nbad host=|1|1\nm alpha=2\tbeta=3|1|1\n");
    /* More than 32 tags: the first 32 in input order are kept, even if the rest is garbage. */
    char in[1024];
    char want[1024];
    size_t k = (size_t)snprintf(in, sizeof(in), "+m");
    for (int i = 0; i < 40; i++)
        k += (size_t)snprintf(in + k, sizeof(in) - k, " t%02d=%d", 39 - i, i);
    snprintf(in + k, sizeof(in) - k, " garbage\r\n:1\r\n:1\r\n");
    k = (size_t)snprintf(want, sizeof(want), "m");
    for (int i = 31; i >= 0; i--)
        k += (size_t)snprintf(want + k, sizeof(want) - k, " t%02d=%d", 39 - i, i);
    snprintf(want + k, sizeof(want) - k, "|1|1\n");
    expect_points(in, want);
}

static void test_reference_example(void **state)
{
    expect_reply("+cpu\r\n:1418224205000000000\r\n+5.0\r\n",
                 "-PARSER invalid series name format - +cpu\\r\\n:1418224205000000000\\r\\n"
                 "+5.0\\r\r\n");
    /* test_ingestion_errors.py: a lone "\n", and a value line without its CRLF. */
    expect_reply("\n", "-PARSER unexpected parameter id format - \\n\r\n");
    expect_reply("+metric\r\n:123\r\n+5.0",
                 "-PARSER invalid series name format - +metric\\r\\n:123\\r\\n+5.0\r\n");
    /* The context starts at the failing message, not at the start of the buffer. */
    assert_int_equal(expect_reply("+a b=c\r\n:1\r\n:1\r\n+x\r\n:2\r\n:2\r\n+y z=1\r\n",
                                  "-PARSER invalid series name format - +x\\r\\n:2\\r\\n:2\\r\r\n"),
                     1);
}

static void test_invalid_names(void **state)
{
    const char *bad[] = {"+cpu host\r\n:1\r\n:1\r\n", "+cpu =v\r\n:1\r\n:1\r\n",
                         "+cpu  \r\n:1\r\n:1\r\n",    "+\r\n:1\r\n:1\r\n",
                         "+a||b x=1\r\n:1\r\n:1\r\n", "+m x\t=1\r\n:1\r\n:1\r\n",
                         "+m a=1 b\r\n:1\r\n:1\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[256];
        char ctx[128];
        size_t k = 0;
        int nl = 0;
        for (const char *q = bad[i]; *q; q++) {
            if (*q == '\n' && ++nl == 3)
                break;
            if (*q == '\r' || *q == '\n') {
                ctx[k++] = '\\';
                ctx[k++] = *q == '\r' ? 'r' : 'n';
            } else {
                ctx[k++] = *q;
            }
        }
        ctx[k] = 0;
        snprintf(want, sizeof(want), "-PARSER invalid series name format - %s\r\n", ctx);
        assert_int_equal(expect_reply(bad[i], want), 0);
    }
}

static void test_bulk_rows(void **state)
{
    expect_points("+cpu.real|cpu.user|cpu.sys host=machine1 region=NW\r\n"
                  "+20141210T074343\r\n*3\r\n+3.12\r\n:8\r\n+12.6\r\n",
                  "cpu.real host=machine1 region=NW|1418197423000000000|3.1200000000000001\n"
                  "cpu.user host=machine1 region=NW|1418197423000000000|8\n"
                  "cpu.sys host=machine1 region=NW|1418197423000000000|12.6\n");
    /* A one-name message may carry a one-element array. */
    expect_points("+m t=1\r\n:5\r\n*1\r\n:-7\r\n", "m t=1|5|-7\n");

    expect_reply("+a|b t=1\r\n:1\r\n+1.5\r\n",
                 "-PARSER array expected (bulk format), string found - +a|b t=1\\r\\n:1\\r\\n"
                 "+1.5\\r\r\n");
    expect_reply("+a|b t=1\r\n:1\r\n:15\r\n",
                 "-PARSER array expected (bulk format), integer found - +a|b t=1\\r\\n:1\\r\\n"
                 ":15\\r\r\n");
    expect_reply("+a|b t=1\r\n:1\r\n*1\r\n:1\r\n",
                 "-PARSER wrong array size, more values expected - +a|b t=1\\r\\n:1\\r\\n"
                 "*1\\r\r\n");
    expect_reply("+a|b t=1\r\n:1\r\n*3\r\n:1\r\n",
                 "-PARSER wrong array size, less values expected - +a|b t=1\\r\\n:1\\r\\n"
                 "*3\\r\r\n");
    expect_reply("+a|b t=1\r\n:1\r\n*2\r\n:1\r\n*1\r\n",
                 "-PARSER unexpected parameter value format - +a|b t=1\\r\\n:1\\r\\n*2\\r\r\n");
    expect_reply("+a|b t=1\r\n:1\r\n*2\r\n$1\r\nx\r\n",
                 "-PARSER unexpected parameter value format - +a|b t=1\\r\\n:1\\r\\n*2\\r\r\n");
    expect_reply("+a|b t=1\r\n:1\r\n*2\r\n:1\r\n+zz\r\n",
                 "-PARSER can't parse double value: zz - +a|b t=1\\r\\n:1\\r\\n*2\\r\r\n");
    expect_reply("+a|b t=1\r\n:1\r\n*-2\r\n",
                 "-PARSER can't parse integer (character value out of range) - +a|b t=1\\r\\n"
                 ":1\\r\\n*-2\\r\r\n");

    /* Row width: 256 names are fine, 257 are an invalid name. */
    Buf in;
    Buf want;
    buf_init(&in);
    buf_init(&want);
    buf_puts(&in, "+m");
    for (int i = 1; i < 256; i++)
        buf_puts(&in, "|m");
    buf_puts(&in, " t=1\r\n:1\r\n*256\r\n");
    for (int i = 0; i < 256; i++) {
        buf_printf(&in, ":%d\r\n", i);
        buf_printf(&want, "m t=1|1|%d\n", i);
    }
    expect_points_n((const char *)in.p, in.n, buf_str(&want));
    buf_clear(&in);
    buf_puts(&in, "+m");
    for (int i = 1; i < 257; i++)
        buf_puts(&in, "|m");
    buf_puts(&in, " t=1\r\n:1\r\n*257\r\n");
    Sink s;
    Buf reply;
    size_t used = 0;
    sink_init(&s);
    buf_init(&reply);
    assert_int_equal(run_lim(NULL, (const char *)in.p, in.n, &s, &reply, &used), TS_ERR_PROTO);
    assert_true(strncmp(buf_str(&reply), "-PARSER invalid series name format - +m|m|m|", 44) == 0);
    buf_deinit(&s.log);
    buf_deinit(&reply);
    buf_deinit(&in);
    buf_deinit(&want);
}

static void test_events(void **state)
{
    expect_points("+!net.tcp host=a\r\n:1418224300000000000\r\n+hello world\r\n",
                  "!net.tcp host=a|1418224300000000000|!hello world\n");
    expect_points("+!ev|cpu host=a\r\n:1\r\n*2\r\n+1.5\r\n+1.5\r\n",
                  "!ev host=a|1|!1.5\ncpu host=a|1|1.5\n");
    /* An event text may be as long as any string (1022 bytes before CRLF). */
    Buf in;
    Buf want;
    buf_init(&in);
    buf_init(&want);
    buf_puts(&in, "+!e t=1\r\n:1\r\n+");
    buf_puts(&want, "!e t=1|1|!");
    for (int i = 0; i < 1022; i++) {
        buf_put_u8(&in, 'a' + i % 26);
        buf_put_u8(&want, 'a' + i % 26);
    }
    buf_puts(&in, "\r\n");
    buf_puts(&want, "\n");
    expect_points_n((const char *)in.p, in.n, buf_str(&want));
    buf_deinit(&in);
    buf_deinit(&want);

    /* An integer value for an event: the storage error, no point delivered. */
    assert_int_equal(expect_reply("+!ev t=1\r\n:1\r\n:5\r\n", "-DB bad argument\r\n"), 0);
    assert_int_equal(expect_reply("+!ev|m t=1\r\n:1\r\n*2\r\n:5\r\n:5\r\n",
                                  "-PARSER unexpected event format - +!ev|m t=1\\r\\n:1\\r\\n"
                                  "*2\\r\r\n"),
                     0);
}

static void test_dictionary(void **state)
{
    expect_points("*4\r\n+cpu.user host=m1\r\n:1\r\n+mem.usage  host=m1\r\n:2\r\n"
                  ":1\r\n+20180102T000200\r\n+11.2\r\n:2\r\n:5\r\n:3\r\n",
                  "cpu.user host=m1|1514851320000000000|11.199999999999999\n"
                  "mem.usage host=m1|5|3\n");
    /* Several arrays, a compound id, redefinition ignored, an empty dictionary. */
    expect_points("*0\r\n*2\r\n+a|b h=1\r\n:7\r\n*2\r\n+c h=2\r\n:7\r\n*2\r\n+c h=2\r\n:8\r\n"
                  ":7\r\n:1\r\n*2\r\n:1\r\n:2\r\n:8\r\n:2\r\n:3\r\n",
                  "a h=1|1|1\nb h=1|1|2\nc h=2|2|3\n");
    /* Dictionary ids and names can be mixed with name lines afterwards. */
    expect_points("*2\r\n+a h=1\r\n:1\r\n+z h=9\r\n:1\r\n:1\r\n:1\r\n:2\r\n:2\r\n",
                  "z h=9|1|1\na h=1|2|2\n");

    assert_int_equal(expect_reply("*2\r\n+a h=1\r\n:1\r\n:2\r\n:1\r\n:1\r\n",
                                  "-PARSER invalid series name format - :2\\r\\n:1\\r\\n:1\\r\r\n"),
                     0);
    expect_reply(":1\r\n:1\r\n:1\r\n",
                 "-PARSER invalid series name format - :1\\r\\n:1\\r\\n:1\\r\r\n");
    expect_reply("*3\r\n+a h=1\r\n:1\r\n",
                 "-PARSER number of elements in the dictionary should be even - *3\\r\\n"
                 "+a h=1\\r\\n:1\\r\r\n");
    expect_reply("*2\r\n:1\r\n+a h=1\r\n",
                 "-PARSER unexpected series name format - *2\\r\\n:1\\r\\n+a h=1\\r\r\n");
    expect_reply("*2\r\n+a h=1\r\n+1\r\n",
                 "-PARSER unexpected series name format - *2\\r\\n+a h=1\\r\\n+1\\r\r\n");
    expect_reply("*2\r\n+a\r\n:1\r\n",
                 "-PARSER invalid series name format - *2\\r\\n+a\\r\\n:1\\r\r\n");
    /* The context of an error in a later array starts at that array. */
    expect_reply("*2\r\n+a h=1\r\n:1\r\n*1\r\n+b h=1\r\n",
                 "-PARSER number of elements in the dictionary should be even - *1\\r\\n"
                 "+b h=1\\r\\n\r\n");
    /* After the first data message an array is no longer a dictionary. */
    assert_int_equal(expect_reply("+a h=1\r\n:1\r\n:1\r\n*2\r\n+b h=1\r\n:1\r\n",
                                  "-PARSER unexpected parameter id format - *2\\r\\n+b h=1\\r\\n"
                                  ":1\\r\r\n"),
                     1);
    /* A dictionary id always stands for a name: "-" values stay invalid there. */
    expect_reply("*2\r\n+a h=1\r\n:-1\r\n",
                 "-PARSER can't parse integer (character value out of range) - *2\\r\\n"
                 "+a h=1\\r\\n:-1\\r\r\n");
}

static void test_tsbs_stream(void **state)
{
    const char *in =
        "*2\n+cpu.usage_user|cpu.usage_system|cpu.usage_idle  hostname=host_0 region=eu-west-1 "
        "datacenter=eu-west-1b\n:1\n"
        "*2\n+cpu.usage_user|cpu.usage_system|cpu.usage_idle  hostname=host_1 region=us-east-1 "
        "datacenter=us-east-1a\n:2\n"
        ":1\n:1451606400000000000\n*3\n:58\n+2.5\n:0\n"
        ":2\n:1451606400000000000\n*3\n:1\n:2\n+3.75\n";
    expect_points(in, "cpu.usage_user datacenter=eu-west-1b hostname=host_0 region=eu-west-1"
                      "|1451606400000000000|58\n"
                      "cpu.usage_system datacenter=eu-west-1b hostname=host_0 region=eu-west-1"
                      "|1451606400000000000|2.5\n"
                      "cpu.usage_idle datacenter=eu-west-1b hostname=host_0 region=eu-west-1"
                      "|1451606400000000000|0\n"
                      "cpu.usage_user datacenter=us-east-1a hostname=host_1 region=us-east-1"
                      "|1451606400000000000|1\n"
                      "cpu.usage_system datacenter=us-east-1a hostname=host_1 region=us-east-1"
                      "|1451606400000000000|2\n"
                      "cpu.usage_idle datacenter=us-east-1a hostname=host_1 region=us-east-1"
                      "|1451606400000000000|3.75\n");
}

/* A name line of 'len' bytes before its line end: "m t=" padded with 'v'. */
static void make_name(Buf *b, size_t len, const char *eol)
{
    buf_puts(b, "+m t=");
    for (size_t i = 4; i < len; i++)
        buf_put_u8(b, 'v');
    buf_puts(b, eol);
}

static void test_quotas(void **state)
{
    Buf in;
    buf_init(&in);
    /* Names: 1022 bytes before CRLF, 1023 before LF; one more is out of quota. */
    make_name(&in, 1022, "\r\n");
    make_name(&in, 1023, "\n");
    buf_puts(&in, ":1\r\n:1\r\n");
    Sink s;
    Buf reply;
    size_t used = 0;
    sink_init(&s);
    buf_init(&reply);
    /* The first message's timestamp is the second name line: it is out of quota (28). */
    assert_int_equal(run_lim(NULL, (const char *)in.p, in.n, &s, &reply, &used), TS_ERR_PROTO);
    assert_true(strncmp(buf_str(&reply), "-PARSER out of quota - +m t=vvv", 31) == 0);
    buf_clear(&in);
    buf_clear(&reply);
    make_name(&in, 1022, "\r\n");
    buf_puts(&in, ":1\r\n:1\r\n");
    make_name(&in, 1023, "\n");
    buf_puts(&in, ":1\r\n:1\r\n");
    assert_int_equal(run_lim(NULL, (const char *)in.p, in.n, &s, &reply, &used), TS_OK);
    assert_int_equal(s.calls, 2);
    assert_int_equal(used, in.n);
    buf_clear(&in);
    make_name(&in, 1023, "\r\n");
    buf_puts(&in, ":1\r\n:1\r\n");
    assert_int_equal(run_lim(NULL, (const char *)in.p, in.n, &s, &reply, &used), TS_ERR_PROTO);
    Buf want;
    buf_init(&want);
    buf_puts(&want, "-PARSER out of quota - +m t=");
    for (int i = 4; i < 1023; i++)
        buf_put_u8(&want, 'v');
    buf_puts(&want, "\\r\\n:1\\r\\n:1\\r\r\n");
    assert_string_equal(buf_str(&reply), buf_str(&want));
    /* Fewer bytes than the window and no line end yet: wait, do not fail. */
    buf_clear(&reply);
    assert_int_equal(run_lim(NULL, (const char *)in.p, 1000, &s, &reply, &used), TS_OK);
    assert_int_equal(used, 0);
    assert_int_equal(reply.n, 0);
    buf_deinit(&in);
    buf_deinit(&want);
    buf_deinit(&reply);
    buf_deinit(&s.log);

    /* Timestamps: 26 characters before CRLF (27 before LF). */
    expect_points("+m t=1\r\n+aaaaaaaaaaaaaaaaaaaaaaaaa1\r\n:1\r\n+m t=1\r\n"
                  "+aaaaaaaaaaaaaaaaaaaaaaaaaa2\n:1\r\n",
                  "m t=1|1|1\nm t=1|2|1\n");
    expect_reply("+m t=1\r\n+aaaaaaaaaaaaaaaaaaaaaaaaaa1\r\n:1\r\n",
                 "-PARSER out of quota - +m t=1\\r\\n+aaaaaaaaaaaaaaaaaaaaaaaaaa1\\r\\n:1\\r\r\n");
    /* Floats: 62 characters before CRLF; 63 are out of quota. */
    expect_points("+m t=1\r\n:1\r\n+0.00000000000000000000000000000000000000000000000000000000000"
                  "1\r\n",
                  "m t=1|1|9.9999999999999997e-61\n");
    expect_reply("+m t=1\r\n:1\r\n+0.000000000000000000000000000000000000000000000000000000000000"
                 "1\r\n",
                 "-PARSER out of quota - +m t=1\\r\\n:1\\r\\n+0.00000000000000000000000000000"
                 "00000000000000000000000000000001\\r\r\n");
}

static void test_timestamp_errors(void **state)
{
    expect_reply("+m t=1\r\n+2014-12-10 07:43:43\r\n+1\r\n",
                 "-PARSER unexpected parameter timestamp format - +m t=1\\r\\n"
                 "+2014-12-10 07:43:43\\r\\n+1\\r\r\n");
    expect_reply("+m t=1\r\n+20141310T074343\r\n+1\r\n",
                 "-PARSER unexpected parameter timestamp format - +m t=1\\r\\n"
                 "+20141310T074343\\r\\n+1\\r\r\n");
    expect_reply("+m t=1\r\n*1\r\n+1\r\n",
                 "-PARSER unexpected parameter timestamp format - +m t=1\\r\\n*1\\r\\n+1\\r\r\n");
    expect_reply("+m t=1\r\n$2\r\n12\r\n",
                 "-PARSER unexpected parameter timestamp format - +m t=1\\r\\n$2\\r\\n12\\r\r\n");
    expect_reply("+m t=1\r\n-ERR x\r\n",
                 "-PARSER unexpected parameter timestamp format - +m t=1\\r\\n-ERR x\\r\\n\r\n");
    /* Timestamps are unsigned: no '-' here; past int64 nanoseconds is refused. */
    expect_reply("+m t=1\r\n:-5\r\n:1\r\n",
                 "-PARSER can't parse integer (character value out of range) - +m t=1\\r\\n"
                 ":-5\\r\\n:1\\r\r\n");
    expect_reply("+m t=1\r\n:9223372036854775808\r\n:1\r\n",
                 "-PARSER unexpected parameter timestamp format - +m t=1\\r\\n"
                 ":9223372036854775808\\r\\n:1\\r\r\n");
    expect_points("+m t=1\r\n:9223372036854775807\r\n:1\r\n", "m t=1|9223372036854775807|1\n");
}

static void test_value_errors(void **state)
{
    expect_reply("+m t=1\r\n:1\r\n+abc\r\n",
                 "-PARSER can't parse double value: abc - +m t=1\\r\\n:1\\r\\n+abc\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n+1.5 \r\n",
                 "-PARSER can't parse double value: 1.5  - +m t=1\\r\\n:1\\r\\n+1.5 \\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n$3\r\nabc\r\n",
                 "-PARSER unexpected parameter value format - +m t=1\\r\\n:1\\r\\n$3\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n-ERR\r\n",
                 "-PARSER unexpected parameter value format - +m t=1\\r\\n:1\\r\\n-ERR\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\nx\r\n",
                 "-PARSER unexpected parameter value format - +m t=1\\r\\n:1\\r\\nx\\r\r\n");
    /* The id position: bulk strings, arrays after data, errors, other bytes. */
    expect_reply("$3\r\nabc\r\n:1\r\n",
                 "-PARSER unexpected parameter id format - $3\\r\\nabc\\r\\n:1\\r\r\n");
    expect_reply("-ERR\r\n", "-PARSER unexpected parameter id format - -ERR\\r\\n\r\n");
}

static void test_integer_errors(void **state)
{
    expect_reply("+m t=1\r\n:1\r\n:12a\r\n",
                 "-PARSER can't parse integer (character value out of range) - +m t=1\\r\\n"
                 ":1\\r\\n:12a\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n:--5\r\n",
                 "-PARSER can't parse integer (character value out of range) - +m t=1\\r\\n"
                 ":1\\r\\n:--5\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n:-\r\n",
                 "-PARSER can't parse integer (character value out of range) - +m t=1\\r\\n"
                 ":1\\r\\n:-\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n:5-\r\n",
                 "-PARSER can't parse integer (character value out of range) - +m t=1\\r\\n"
                 ":1\\r\\n:5-\\r\r\n");
    /* 21 digits plus CRLF do not fit the 22-byte window. */
    expect_reply("+m t=1\r\n:1\r\n:123456789012345678901\r\n",
                 "-PARSER integer is too long - +m t=1\\r\\n:1\\r\\n:123456789012345678901\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n:18446744073709551616\r\n",
                 "-PARSER integer overflow - +m t=1\\r\\n:1\\r\\n:18446744073709551616\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n:99999999999999999999\r\n",
                 "-PARSER integer overflow - +m t=1\\r\\n:1\\r\\n:99999999999999999999\\r\r\n");
    expect_reply(
        "+m t=1\r\n:1\r\n:12\r5\r\n",
        "-PARSER invalid symbol inside stream - '\\r' - +m t=1\\r\\n:1\\r\\n:12\\r5\\r\r\n");
    expect_reply(
        "+m t=1\r\n:1\r\n:12\r\r\n",
        "-PARSER invalid symbol inside stream - '\\r' - +m t=1\\r\\n:1\\r\\n:12\\r\\r\r\n");
    expect_reply(":12\r5\r\n", "-PARSER invalid symbol inside stream - '\\r' - :12\\r5\\r\\n\r\n");
}

static void test_limits(void **state)
{
    RespLimits lim = {.max_tags = 2};
    const char *three = "+m a=1 b=2 c=3\r\n:1\r\n:1\r\n";
    expect_reply_lim(&lim, three, strlen(three), TS_ERR_PROTO,
                     "-PARSER invalid series name format - +m a=1 b=2 c=3\\r\\n:1\\r\\n:1\\r\r\n");
    RespLimits lim2 = {.max_name_bytes = 8};
    const char *longname = "+mm a=123 b=2\r\n:1\r\n:1\r\n";
    expect_reply_lim(&lim2, longname, strlen(longname), TS_ERR_PROTO,
                     "-PARSER invalid series name format - +mm a=123 b=2\\r\\n:1\\r\\n:1\\r\r\n");
    RespLimits lim3 = {.max_dict_entries = 2};
    const char *dict =
        "*6\r\n+a h=1\r\n:1\r\n+b h=1\r\n:2\r\n+b h=1\r\n:2\r\n*2\r\n+c h=1\r\n:3\r\n";
    expect_reply_lim(&lim3, dict, strlen(dict), TS_ERR_LIMIT, "-ERR dictionary is too large\r\n");
    RespLimits lim4 = {.max_dict_bytes = 10};
    expect_reply_lim(&lim4, dict, strlen(dict), TS_ERR_LIMIT, "-ERR dictionary is too large\r\n");
}

static void test_incomplete_and_dead(void **state)
{
    const char *in = "+a h=1\r\n:1\r\n:1\r\n+b|c h=1\r\n:2\r\n*2\r\n:1\r\n";
    RespParser *p = resp_parser_new(NULL);
    Sink s;
    Buf reply;
    size_t used = 99;
    sink_init(&s);
    buf_init(&reply);
    assert_int_equal(resp_parse(p, (const uint8_t *)in, strlen(in), on_point, &s, &used, &reply),
                     TS_OK);
    assert_int_equal(used, 16);
    assert_int_equal(s.calls, 1);
    /* The caller passes the rest again with more bytes. */
    const char *rest = "+b|c h=1\r\n:2\r\n*2\r\n:1\r\n+x\r\n+c h=1\r\n";
    assert_int_equal(
        resp_parse(p, (const uint8_t *)rest, strlen(rest), on_point, &s, &used, &reply),
        TS_ERR_PROTO);
    assert_int_equal(used, 0);
    assert_string_equal(buf_str(&reply),
                        "-PARSER can't parse double value: x - +b|c h=1\\r\\n:2\\r\\n*2\\r\r\n");
    assert_int_equal(s.calls, 1);
    /* Dead: same status, nothing consumed or written. */
    size_t n_reply = reply.n;
    assert_int_equal(resp_parse(p, (const uint8_t *)in, strlen(in), on_point, &s, &used, &reply),
                     TS_ERR_PROTO);
    assert_int_equal(used, 0);
    assert_int_equal(reply.n, n_reply);
    assert_int_equal(s.calls, 1);
    resp_parser_free(p);
    resp_parser_free(NULL);

    /* A callback error stops parsing; its message counts as consumed. */
    p = resp_parser_new(NULL);
    buf_clear(&reply);
    s.calls = 0;
    s.fail_at = 3;
    const char *rows = "+a|b h=1\r\n:1\r\n*2\r\n:1\r\n:2\r\n+a|b h=1\r\n:2\r\n*2\r\n:1\r\n:2\r\n"
                       "+c h=1\r\n:1\r\n:1\r\n";
    assert_int_equal(
        resp_parse(p, (const uint8_t *)rows, strlen(rows), on_point, &s, &used, &reply),
        TS_ERR_NOTFOUND);
    assert_int_equal(used, 52);
    assert_int_equal(reply.n, 0);
    assert_int_equal(
        resp_parse(p, (const uint8_t *)rows, strlen(rows), on_point, &s, &used, &reply),
        TS_ERR_NOTFOUND);
    assert_int_equal(s.calls, 3);
    resp_parser_free(p);
    buf_deinit(&reply);
    buf_deinit(&s.log);
}

/* ---- incremental parsing ---- */

/* Feed in[0..n) to a fresh parser in chunks ending at cuts[0..ncuts) then n, as a server does;
 * 'names' (may be NULL) is the parser's name cache. */
static int feed_names(const char *in, size_t n, const size_t *cuts, size_t ncuts, Sink *s,
                      Buf *reply, RespNames *names)
{
    RespParser *p = resp_parser_new(NULL);
    resp_parser_set_names(p, names);
    Buf pending;
    size_t from = 0;
    int rc = TS_OK;
    buf_init(&pending);
    for (size_t i = 0; i <= ncuts && rc == TS_OK; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        size_t used = 0;
        buf_append(&pending, in + from, to - from);
        from = to;
        rc = resp_parse(p, pending.p, pending.n, on_point, s, &used, reply);
        assert_true(used <= pending.n);
        if (used > 0) {
            memmove(pending.p, pending.p + used, pending.n - used);
            pending.n -= used;
        }
    }
    buf_deinit(&pending);
    resp_parser_free(p);
    return rc;
}

static int feed(const char *in, size_t n, const size_t *cuts, size_t ncuts, Sink *s, Buf *reply)
{
    return feed_names(in, n, cuts, ncuts, s, reply, NULL);
}

static void check_splits(const char *in)
{
    size_t n = strlen(in);
    RespNames *names = resp_names_new(NULL, 0); /* shared by every split: mostly hits */
    Sink whole;
    Buf whole_reply;
    sink_init(&whole);
    buf_init(&whole_reply);
    int whole_rc = feed(in, n, NULL, 0, &whole, &whole_reply);
    assert_true(whole.calls > 0 || whole_reply.n > 0);

    size_t *cuts = malloc(n * sizeof(*cuts));
    for (size_t k = 0; k <= n; k++) {
        Sink s;
        Buf reply;
        sink_init(&s);
        buf_init(&reply);
        int rc = feed_names(in, n, &k, 1, &s, &reply, (k & 1) ? names : NULL);
        assert_int_equal(rc, whole_rc);
        assert_string_equal(buf_str(&s.log), buf_str(&whole.log));
        assert_string_equal(buf_str(&reply), buf_str(&whole_reply));
        buf_deinit(&s.log);
        buf_deinit(&reply);
    }
    for (size_t k = 0; k < n; k++)
        cuts[k] = k + 1;
    for (size_t step = 1; step <= 3; step++) {
        Sink s;
        Buf reply;
        size_t nc = 0;
        sink_init(&s);
        buf_init(&reply);
        for (size_t k = step; k < n; k += step)
            cuts[nc++] = k;
        int rc = feed_names(in, n, cuts, nc, &s, &reply, names);
        assert_int_equal(rc, whole_rc);
        assert_string_equal(buf_str(&s.log), buf_str(&whole.log));
        assert_string_equal(buf_str(&reply), buf_str(&whole_reply));
        buf_deinit(&s.log);
        buf_deinit(&reply);
    }
    free(cuts);
    resp_names_free(names);
    buf_deinit(&whole.log);
    buf_deinit(&whole_reply);
}

static void test_every_split(void **state)
{
    check_splits("*4\r\n+cpu.user host=m1\r\n:1\r\n+mem.usage host=m1\r\n:2\r\n"
                 ":1\r\n+20180102T000200\r\n+11.2\r\n"
                 "+cpu.real|!ev|cpu.sys  region=NW host=machine1\r\n+20141210T074343.25\r\n"
                 "*3\r\n+3.12\r\n+text with spaces\r\n:-8\r\n"
                 ":2\n:1514851320000000001\n:42\n");
    check_splits("*2\n+cpu.usage_user|cpu.usage_system  hostname=host_0 region=eu\n:1\n"
                 ":1\n:1451606400000000000\n*2\n:58\n+2.5\n"
                 ":1\n:1451606410000000000\n*2\n:59\n+2.75\n");
    /* Errors detected on the third line of their message: the reply never depends on chunks. */
    check_splits("+a h=1\r\n:1\r\n:1\r\n+b h=1\r\n:2\r\n+nope\r\n+c h=1\r\n");
    check_splits("+a h=1\r\n:1\r\n:1\r\n+a|b h=1\r\n:2\r\n*3\r\n:1\r\n");
    check_splits("+a h=1\r\n:1\r\n:1\r\n+!e h=1\r\n:2\r\n:3\r\n");
    check_splits("*2\r\n+a h=1\r\n:1\r\n*2\r\n+b h=1\r\n:99999999999999999999\r\n:1\r\n");
}

/* An error found before the third line of context arrived reports the bytes received so far,
 * as Akumuli does (test_ingestion_errors.py relies on a reply to an incomplete message). */
static void test_early_error_context(void **state)
{
    const char *in = "+cpu\r\n:1418224205000000000\r\n+5.0\r\n";
    size_t cut = 6;
    Sink s;
    Buf reply;
    sink_init(&s);
    buf_init(&reply);
    assert_int_equal(feed(in, strlen(in), &cut, 1, &s, &reply), TS_ERR_PROTO);
    assert_string_equal(buf_str(&reply), "-PARSER invalid series name format - +cpu\\r\\n\r\n");
    buf_deinit(&reply);
    buf_deinit(&s.log);
}

/* ---- the name-line cache ---- */

/* Parse 'in' with a fresh parser on 'names'; returns the status, the log in s->log. */
static int parse_with(RespNames *names, const RespLimits *lim, const char *in, Sink *s, Buf *reply)
{
    RespParser *p = resp_parser_new(lim);
    size_t used = 0;
    resp_parser_set_names(p, names);
    int rc = resp_parse(p, (const uint8_t *)in, strlen(in), on_point, s, &used, reply);
    resp_parser_free(p);
    return rc;
}

static void test_names_cache(void **state)
{
    RespNames *names = resp_names_new(NULL, 0);
    Sink s;
    Buf reply;
    sink_init(&s);
    buf_init(&reply);
    const char *row = "+cpu|mem host=a dc=b\r\n:1\r\n*2\r\n+1.5\r\n:2\r\n";
    assert_int_equal(parse_with(names, NULL, row, &s, &reply), TS_OK);
    assert_int_equal(resp_names_count(names), 1);
    assert_int_equal(s.ref_hits, 0);
    /* Another session (or datagram) on the same cache: a hit, with the refs written before. */
    assert_int_equal(parse_with(names, NULL, row, &s, &reply), TS_OK);
    assert_int_equal(resp_names_count(names), 1);
    assert_int_equal(s.ref_hits, 2);
    /* The same series in another tag order is another line: same keys, its own refs. */
    assert_int_equal(
        parse_with(names, NULL, "+cpu|mem  dc=b host=a\r\n:3\r\n*2\r\n:3\r\n:4\r\n", &s, &reply),
        TS_OK);
    assert_int_equal(resp_names_count(names), 2);
    assert_int_equal(s.ref_hits, 2);
    assert_string_equal(buf_str(&s.log), "cpu dc=b host=a|1|1.5\nmem dc=b host=a|1|2\n"
                                         "cpu dc=b host=a|1|1.5\nmem dc=b host=a|1|2\n"
                                         "cpu dc=b host=a|3|3\nmem dc=b host=a|3|4\n");
    /* Within one call, the second message of a line hits too. */
    assert_int_equal(
        parse_with(names, NULL, "+x h=1\r\n:1\r\n:1\r\n+x h=1\r\n:2\r\n:2\r\n", &s, &reply), TS_OK);
    assert_int_equal(s.ref_hits, 3);
    assert_int_equal(reply.n, 0);

    /* A parser with other limits does not use the cache (a cached line may be too long or
     * have too many tags for it). */
    RespLimits tiny = {.max_name_bytes = 8};
    buf_clear(&s.log);
    assert_int_equal(parse_with(names, &tiny, row, &s, &reply), TS_ERR_PROTO);
    assert_string_equal(buf_str(&reply), "-PARSER invalid series name format - +cpu|mem host=a "
                                         "dc=b\\r\\n:1\\r\\n*2\\r\r\n");
    assert_int_equal(resp_names_count(names), 3);
    resp_names_free(names);
    resp_names_free(NULL);
    buf_deinit(&reply);
    buf_deinit(&s.log);
}

static void test_names_bad_then_good(void **state)
{
    RespNames *names = resp_names_new(NULL, 0);
    Sink s;
    Buf reply;
    sink_init(&s);
    buf_init(&reply);
    const char *bad = "+cpu\r\n:1\r\n+5.0\r\n";
    const char *want = "-PARSER invalid series name format - +cpu\\r\\n:1\\r\\n+5.0\\r\r\n";
    /* A bad name is never cached: every session gets the error again. */
    for (int i = 0; i < 2; i++) {
        buf_clear(&reply);
        assert_int_equal(parse_with(names, NULL, bad, &s, &reply), TS_ERR_PROTO);
        assert_string_equal(buf_str(&reply), want);
        assert_int_equal(resp_names_count(names), 0);
    }
    /* Good names are still cached and hit after it, and the bad one still fails. */
    buf_clear(&reply);
    assert_int_equal(
        parse_with(names, NULL, "+cpu h=1\r\n:1\r\n+5.0\r\n+cpu\r\n:1\r\n:1\r\n", &s, &reply),
        TS_ERR_PROTO);
    assert_int_equal(resp_names_count(names), 1);
    buf_clear(&reply);
    assert_int_equal(parse_with(names, NULL, "+cpu h=1\r\n:2\r\n+6.0\r\n", &s, &reply), TS_OK);
    assert_int_equal(s.ref_hits, 1);
    assert_int_equal(parse_with(names, NULL, bad, &s, &reply), TS_ERR_PROTO);
    assert_string_equal(buf_str(&reply), want);
    assert_string_equal(buf_str(&s.log), "cpu h=1|1|5\ncpu h=1|2|6\n");
    resp_names_free(names);
    buf_deinit(&reply);
    buf_deinit(&s.log);
}

static void test_names_dictionary_refs(void **state)
{
    RespNames *names = resp_names_new(NULL, 0);
    Sink s;
    Buf reply;
    sink_init(&s);
    buf_init(&reply);
    /* Dictionary ids keep their refs for the session; a new session starts from 0. */
    const char *in = "*4\r\n+a|b h=1\r\n:7\r\n+c h=2\r\n:8\r\n"
                     ":7\r\n:1\r\n*2\r\n:1\r\n:2\r\n:8\r\n:1\r\n:3\r\n"
                     ":7\r\n:2\r\n*2\r\n:4\r\n:5\r\n:8\r\n:2\r\n:6\r\n";
    assert_int_equal(parse_with(names, NULL, in, &s, &reply), TS_OK);
    assert_int_equal(s.calls, 6);
    assert_int_equal(s.ref_hits, 3);
    assert_int_equal(parse_with(names, NULL, in, &s, &reply), TS_OK);
    assert_int_equal(s.ref_hits, 6);
    /* Dictionary names do not go through the line cache. */
    assert_int_equal(resp_names_count(names), 0);
    /* A name line with the same text as a dictionary name has its own ref. */
    assert_int_equal(parse_with(names, NULL, "+c h=2\r\n:3\r\n:7\r\n", &s, &reply), TS_OK);
    assert_int_equal(s.ref_hits, 6);
    assert_int_equal(reply.n, 0);
    resp_names_free(names);
    buf_deinit(&reply);
    buf_deinit(&s.log);
}

static void test_names_eviction(void **state)
{
    RespNames *names = resp_names_new(NULL, 4096);
    Sink s;
    Buf reply;
    Buf in;
    Buf want;
    sink_init(&s);
    buf_init(&reply);
    buf_init(&in);
    buf_init(&want);
    /* 200 distinct lines (~100 bytes cached each) through a 4 KiB cache, twice. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 200; i++) {
            buf_printf(&in, "+m%03d|n%03d host=h%03d\r\n:%d\r\n*2\r\n:%d\r\n+%d.5\r\n", i, i, i,
                       round, i, i);
            buf_printf(&want, "m%03d host=h%03d|%d|%d\nn%03d host=h%03d|%d|%d.5\n", i, i, round, i,
                       i, i, round, i);
        }
    }
    buf_put_u8(&in, 0);
    assert_int_equal(parse_with(names, NULL, (const char *)in.p, &s, &reply), TS_OK);
    assert_int_equal(reply.n, 0);
    assert_string_equal(buf_str(&s.log), buf_str(&want));
    assert_true(resp_names_resets(names) >= 5);
    assert_true(resp_names_count(names) >= 1 && resp_names_count(names) < 60);
    /* The second round came long after eviction: no stale ref was handed out (on_point
     * checks every set ref against its key). */
    assert_int_equal(s.calls, 800);
    /* The last line is cached: parsing it again hits. */
    int hits = s.ref_hits;
    assert_int_equal(
        parse_with(names, NULL, "+m199|n199 host=h199\r\n:9\r\n*2\r\n:1\r\n:2\r\n", &s, &reply),
        TS_OK);
    assert_int_equal(s.ref_hits, hits + 2);
    resp_names_free(names);
    buf_deinit(&in);
    buf_deinit(&want);
    buf_deinit(&reply);
    buf_deinit(&s.log);
}

/* Float texts read exactly as strtod reads them, fast path or not. */
static void test_float_values(void **state)
{
    const char *texts[] = {"42.17",
                           "-0.0",
                           "+5",
                           ".5",
                           "5.",
                           "1e3",
                           "-2.5E-3",
                           "0.1",
                           "123456789012345.6",
                           "9007199254740993",
                           "0.30000000000000004",
                           "1e400",
                           "-1e-400",
                           "0x1p3",
                           " 7",
                           "inf",
                           "-Infinity",
                           "-nan",
                           "000012.500",
                           "99.99",
                           "+.5",
                           "-.25",
                           "1.",
                           "-000",
                           "999999999999999",
                           "9999999999999999",
                           "0.000000000000001",
                           "1234567.891011121"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char in[128];
        snprintf(in, sizeof(in), "+m t=1\r\n:1\r\n+%s\r\n", texts[i]);
        Sink s;
        Buf reply;
        size_t used = 0;
        sink_init(&s);
        buf_init(&reply);
        assert_int_equal(run_lim(NULL, in, strlen(in), &s, &reply, &used), TS_OK);
        char want[128];
        double d = strtod(texts[i], NULL);
        snprintf(want, sizeof(want), "m t=1|1|%.17g\n", d);
        assert_string_equal(buf_str(&s.log), want);
        buf_deinit(&s.log);
        buf_deinit(&reply);
    }
    /* Not numbers, fast path or not: strtod's verdict and Akumuli's message. */
    expect_reply("+m t=1\r\n:1\r\n+.\r\n",
                 "-PARSER can't parse double value: . - +m t=1\\r\\n:1\\r\\n+.\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n+-\r\n",
                 "-PARSER can't parse double value: - - +m t=1\\r\\n:1\\r\\n+-\\r\r\n");
    expect_reply("+m t=1\r\n:1\r\n+1.2.3\r\n",
                 "-PARSER can't parse double value: 1.2.3 - +m t=1\\r\\n:1\\r\\n+1.2.3\\r\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_points),
        cmocka_unit_test(test_names_canonical),
        cmocka_unit_test(test_reference_example),
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_bulk_rows),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_tsbs_stream),
        cmocka_unit_test(test_quotas),
        cmocka_unit_test(test_timestamp_errors),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_integer_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_incomplete_and_dead),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_early_error_context),
        cmocka_unit_test(test_names_cache),
        cmocka_unit_test(test_names_bad_then_good),
        cmocka_unit_test(test_names_dictionary_refs),
        cmocka_unit_test(test_names_eviction),
        cmocka_unit_test(test_float_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
