/*
 * Unit tests for conf/ini.c (tokenizer) and conf/conf.c (schema, units, files, --set, --init).
 *
 * Error messages are compared exactly: they are what a user sees when cairnd refuses to start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/ini.h"
#include "core/alloc.h"

/* ---- ini ---- */

#define MAX_EVENTS 16

typedef struct Event {
    char section[64];
    char key[64];
    char value[64];
    bool is_header;
    unsigned line;
} Event;

typedef struct Collect {
    Event ev[MAX_EVENTS];
    int n;
    int stop_at; /* return TS_ERR_AGAIN on this event index; -1 = never */
} Collect;

static void copy_slice(char *dst, size_t cap, Slice s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

static int collect_cb(void *ctx, Slice section, Slice key, Slice value, unsigned line)
{
    Collect *c = ctx;
    if (c->n == c->stop_at)
        return TS_ERR_AGAIN;
    if (c->n >= MAX_EVENTS)
        return TS_ERR_LIMIT;
    Event *e = &c->ev[c->n++];
    copy_slice(e->section, sizeof(e->section), section);
    copy_slice(e->key, sizeof(e->key), key);
    copy_slice(e->value, sizeof(e->value), value);
    e->is_header = key.n == 0 && key.p == NULL;
    e->line = line;
    return TS_OK;
}

static int ini_run(const char *text, Collect *c, TsError *err)
{
    memset(c, 0, sizeof(*c));
    c->stop_at = -1;
    memset(err, 0, sizeof(*err));
    return ini_parse(slice_cstr(text), collect_cb, c, err);
}

static void assert_event(const Event *e, const char *section, const char *key, const char *value,
                         unsigned line)
{
    assert_string_equal(e->section, section);
    assert_string_equal(e->key, key);
    assert_string_equal(e->value, value);
    assert_int_equal(e->line, line);
    assert_int_equal(e->is_header, key[0] == '\0');
}

static void test_ini_basic(void **state)
{
    Collect c;
    TsError err;
    const char *text = "# top comment\n"
                       "  ; indented comment\n"
                       "\n"
                       "[ storage ]\n"
                       "path = /var/lib/cairn  \n"
                       "\tsync_interval=1s\n"
                       "empty =\n"
                       "quoted = \"  spaced  \"\n"
                       "hash = a # not a comment\n"
                       "eq = a=b\n"
                       "[log]\n"
                       "file = \"\"";
    assert_int_equal(ini_run(text, &c, &err), TS_OK);
    assert_int_equal(c.n, 9);
    assert_event(&c.ev[0], "storage", "", "", 4);
    assert_event(&c.ev[1], "storage", "path", "/var/lib/cairn", 5);
    assert_event(&c.ev[2], "storage", "sync_interval", "1s", 6);
    assert_event(&c.ev[3], "storage", "empty", "", 7);
    assert_event(&c.ev[4], "storage", "quoted", "  spaced  ", 8);
    assert_event(&c.ev[5], "storage", "hash", "a # not a comment", 9);
    assert_event(&c.ev[6], "storage", "eq", "a=b", 10);
    assert_event(&c.ev[7], "log", "", "", 11);
    assert_event(&c.ev[8], "log", "file", "", 12);
}

static void test_ini_crlf_bom_and_key_before_section(void **state)
{
    Collect c;
    TsError err;
    assert_int_equal(
        ini_run("\xEF\xBB\xBFk = v\r\n[s]\r\n# c\r\na = \"x\"\r\n\r\nb = 2\r\n", &c, &err), TS_OK);
    assert_int_equal(c.n, 4);
    assert_event(&c.ev[0], "", "k", "v", 1);
    assert_event(&c.ev[1], "s", "", "", 2);
    assert_event(&c.ev[2], "s", "a", "x", 4);
    assert_event(&c.ev[3], "s", "b", "2", 6);
    /* An empty text and a text of blank lines give no events. */
    assert_int_equal(ini_run("", &c, &err), TS_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(ini_run("\n\n  \r\n", &c, &err), TS_OK);
    assert_int_equal(c.n, 0);
}

static void test_ini_syntax_errors(void **state)
{
    static const struct {
        const char *text;
        size_t line;
        const char *msg;
    } cases[] = {
        {"[s]\nnovalue\n", 2, "expected 'key = value' or '[section]'"},
        {"[s\n", 1, "expected ']' after section name"},
        {"[s] x\n", 1, "unexpected text after ']'"},
        {"[  ]\n", 1, "empty section name"},
        {"[s]\n\n = v\n", 3, "empty key before '='"},
        {"[s]\na = \"open\n", 2, "unterminated quoted value"},
        {"[s]\na = \"\n", 2, "unterminated quoted value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Collect c;
        TsError err;
        assert_int_equal(ini_run(cases[i].text, &c, &err), TS_ERR_PROTO);
        assert_int_equal(err.pos, cases[i].line);
        assert_string_equal(err.msg, cases[i].msg);
    }
    /* A NUL byte inside a line. */
    static const char nul[] = "[s]\na = x\0y\n";
    Collect c;
    memset(&c, 0, sizeof(c));
    c.stop_at = -1;
    TsError err;
    assert_int_equal(ini_parse(slice_make(nul, sizeof(nul) - 1), collect_cb, &c, &err),
                     TS_ERR_PROTO);
    assert_int_equal(err.pos, 2);
    assert_string_equal(err.msg, "NUL byte in line");
}

static void test_ini_handler_stops(void **state)
{
    Collect c;
    memset(&c, 0, sizeof(c));
    c.stop_at = 2;
    TsError err;
    memset(&err, 0, sizeof(err));
    int rc = ini_parse(slice_cstr("[s]\na = 1\nb = 2\nc = 3\n"), collect_cb, &c, &err);
    assert_int_equal(rc, TS_ERR_AGAIN);
    assert_int_equal(c.n, 2);
    assert_string_equal(err.msg, ""); /* the tokenizer leaves err to the handler */
}

static void test_ini_limits(void **state)
{
    Collect c;
    TsError err;
    /* A line of exactly INI_MAX_LINE_BYTES passes, one byte more fails; CRLF is not counted. */
    char *text = ts_malloc(INI_MAX_LINE_BYTES + 16);
    memcpy(text, "[s]\nk = ", 8);
    size_t line_start = 4;
    size_t fill = INI_MAX_LINE_BYTES - (8 - line_start);
    memset(text + 8, 'x', fill);
    memcpy(text + 8 + fill, "\r\n", 3);
    assert_int_equal(ini_run(text, &c, &err), TS_OK);
    assert_int_equal(strlen(c.ev[1].value), 63); /* truncated by the test's copy only */
    text[8 + fill] = 'x';
    text[8 + fill + 1] = '\0';
    assert_int_equal(ini_run(text, &c, &err), TS_ERR_LIMIT);
    assert_int_equal(err.pos, 2);
    assert_string_equal(err.msg, "line too long (more than 4096 bytes)");
    ts_free(text);

    /* The whole text is capped at 1 MiB; exactly 1 MiB of comments is fine. */
    size_t big_n = INI_MAX_FILE_BYTES + 1;
    char *big = ts_malloc(big_n);
    for (size_t i = 0; i < big_n; i += 64) {
        size_t n = big_n - i < 64 ? big_n - i : 64;
        memset(big + i, '#', n);
        big[i + n - 1] = '\n';
    }
    memset(&c, 0, sizeof(c));
    c.stop_at = -1;
    assert_int_equal(ini_parse(slice_make(big, big_n), collect_cb, &c, &err), TS_ERR_LIMIT);
    assert_int_equal(err.pos, 0);
    assert_string_equal(err.msg, "file too large (more than 1048576 bytes)");
    assert_int_equal(ini_parse(slice_make(big, big_n - 1), collect_cb, &c, &err), TS_OK);
    ts_free(big);
}

/* ---- units ---- */

static int dur(const char *s, int64_t *out)
{
    *out = -12345;
    return conf_parse_duration_ns(slice_cstr(s), out);
}

static void test_duration(void **state)
{
    static const struct {
        const char *text;
        int64_t ns;
    } good[] = {
        {"0", 0},
        {"500ms", 500000000LL},
        {"1s", 1000000000LL},
        {"7", 7000000000LL},
        {"5m", 300000000000LL},
        {"5min", 300000000000LL},
        {"5MIN", 300000000000LL},
        {"3sec", 3000000000LL},
        {"2h", 7200000000000LL},
        {"30d", 30LL * 86400 * 1000000000LL},
        {"1w", 7LL * 86400 * 1000000000LL},
        {"1y", 365LL * 86400 * 1000000000LL},
        {"10us", 10000},
        {"100ns", 100},
        {"0ms", 0},
        {"292y", 292LL * 365 * 86400 * 1000000000LL},
        {"9223372036854775807ns", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v;
        assert_int_equal(dur(good[i].text, &v), TS_OK);
        assert_true(v == good[i].ns);
    }
    static const char *const bad[] = {"",  "abc", "-1s", "+1s", "1.5s", "1 s",  " 1s", "1s ",
                                      "s", "1x",  "1ss", "1hh", "1m2s", "0x10", "1e3", "ms"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v;
        assert_int_equal(dur(bad[i], &v), TS_ERR_PROTO);
        assert_true(v == -12345); /* untouched on error */
    }
    int64_t v;
    assert_int_equal(dur("293y", &v), TS_ERR_LIMIT);
    assert_int_equal(dur("9223372036854775808ns", &v), TS_ERR_LIMIT);
    assert_int_equal(dur("99999999999999999999999999s", &v), TS_ERR_LIMIT);
    assert_int_equal(dur("9223372037", &v), TS_ERR_LIMIT);
    assert_int_equal(dur("99999999999999999999999999xs", &v), TS_ERR_PROTO);
}

static void test_size(void **state)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        {"0", 0},
        {"4096", 4096},
        {"10B", 10},
        {"64KB", 65536},
        {"64KiB", 65536},
        {"64kb", 65536},
        {"64k", 65536},
        {"4MB", 4194304},
        {"4mib", 4194304},
        {"4GB", 4294967296ULL},
        {"1TB", 1099511627776ULL},
        {"16777215TB", 16777215ULL << 40},
        {"18446744073709551615", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 1;
        assert_int_equal(conf_parse_size_bytes(slice_cstr(good[i].text), &v), TS_OK);
        assert_true(v == good[i].bytes);
    }
    static const char *const bad[] = {"", "-1", "1.5MB", "MB", "4 MB", "4PB", "4KBB", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;
        assert_int_equal(conf_parse_size_bytes(slice_cstr(bad[i]), &v), TS_ERR_PROTO);
        assert_true(v == 7);
    }
    uint64_t v;
    assert_int_equal(conf_parse_size_bytes(slice_cstr("16777216TB"), &v), TS_ERR_LIMIT);
    assert_int_equal(conf_parse_size_bytes(slice_cstr("18446744073709551616"), &v), TS_ERR_LIMIT);
}

static void test_bool(void **state)
{
    static const char *const t[] = {"true", "TRUE", "yes", "On", "1"};
    static const char *const f[] = {"false", "No", "off", "OFF", "0"};
    for (size_t i = 0; i < 5; i++) {
        bool v = false;
        assert_int_equal(conf_parse_bool(slice_cstr(t[i]), &v), TS_OK);
        assert_true(v);
        assert_int_equal(conf_parse_bool(slice_cstr(f[i]), &v), TS_OK);
        assert_false(v);
    }
    static const char *const bad[] = {"", "2", "tru", "yes!", " true", "enabled"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool v = true;
        assert_int_equal(conf_parse_bool(slice_cstr(bad[i]), &v), TS_ERR_PROTO);
        assert_true(v);
    }
}

static void test_listen(void **state)
{
    static const struct {
        const char *text;
        const char *host;
        unsigned port;
    } good[] = {
        {"0.0.0.0:2003", "0.0.0.0", 2003},
        {"127.0.0.1:0", "127.0.0.1", 0},
        {"localhost:65535", "localhost", 65535},
        {":8181", "0.0.0.0", 8181},
        {"2004", "0.0.0.0", 2004},
        {"[::1]:2003", "::1", 2003},
        {"[::]:1", "::", 1},
        {"[fe80::1%eth0]:80", "fe80::1%eth0", 80},
        {"my-host.example_1.com:9", "my-host.example_1.com", 9},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ConfListen l;
        assert_int_equal(conf_parse_listen(slice_cstr(good[i].text), &l), TS_OK);
        assert_true(l.enabled);
        assert_string_equal(l.host, good[i].host);
        assert_int_equal(l.port, good[i].port);
    }
    ConfListen l;
    memset(&l, 'x', sizeof(l));
    assert_int_equal(conf_parse_listen(slice_cstr(""), &l), TS_OK);
    assert_false(l.enabled);
    assert_string_equal(l.host, "");
    assert_int_equal(l.port, 0);

    static const char *const bad[] = {
        "host",  "host:",       "host:65536", "host:-1",   ":",         "::1:2003",
        "[::1]", "[::1]2003",   "[]:1",       "[::1:2003", "a b:1",     "host:20x3",
        "h/x:1", "host:000001", "[::1]:",     "a:b:c",     "[::1]:1:2", "h\x01:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ConfListen v;
        v.port = 4242;
        assert_int_equal(conf_parse_listen(slice_cstr(bad[i]), &v), TS_ERR_PROTO);
        assert_int_equal(v.port, 4242);
    }
    /* Host length: 255 bytes fit in host[256], 256 do not. */
    char name[300];
    memset(name, 'h', 255);
    memcpy(name + 255, ":1", 3);
    assert_int_equal(conf_parse_listen(slice_cstr(name), &l), TS_OK);
    assert_int_equal(strlen(l.host), 255);
    memset(name, 'h', 256);
    memcpy(name + 256, ":1", 3);
    assert_int_equal(conf_parse_listen(slice_cstr(name), &l), TS_ERR_PROTO);
}

/* ---- conf ---- */

#define S_NS 1000000000LL

static void assert_listen_eq(const ConfListen *a, const ConfListen *b)
{
    assert_int_equal(a->enabled, b->enabled);
    assert_string_equal(a->host, b->host);
    assert_int_equal(a->port, b->port);
}

/* Every field of Config, one by one. */
static void assert_conf_eq(const Config *a, const Config *b)
{
    assert_string_equal(a->storage.path, b->storage.path);
    assert_true(a->storage.sync_interval_ns == b->storage.sync_interval_ns);
    assert_true(a->storage.retention_ns == b->storage.retention_ns);
    assert_true(a->storage.max_series == b->storage.max_series);
    assert_true(a->storage.wal_segment_size_bytes == b->storage.wal_segment_size_bytes);
    assert_true(a->storage.memtable_size_bytes == b->storage.memtable_size_bytes);
    assert_true(a->storage.flush_interval_ns == b->storage.flush_interval_ns);
    assert_true(a->storage.compact_segments == b->storage.compact_segments);
    assert_listen_eq(&a->graphite.plaintext, &b->graphite.plaintext);
    assert_listen_eq(&a->graphite.udp, &b->graphite.udp);
    assert_true(a->graphite.max_line_bytes == b->graphite.max_line_bytes);
    assert_true(a->net.threads == b->net.threads);
    assert_true(a->net.max_connections == b->net.max_connections);
    assert_true(a->net.idle_timeout_ns == b->net.idle_timeout_ns);
    assert_true(a->net.max_name_bytes == b->net.max_name_bytes);
    assert_true(a->net.max_tags == b->net.max_tags);
    assert_listen_eq(&a->http.listen, &b->http.listen);
    assert_true(a->http.threads == b->http.threads);
    assert_true(a->http.max_body_bytes == b->http.max_body_bytes);
    assert_true(a->query.max_points == b->query.max_points);
    assert_string_equal(a->amqp.url, b->amqp.url);
    assert_string_equal(a->amqp.exchange, b->amqp.exchange);
    assert_string_equal(a->amqp.queue, b->amqp.queue);
    assert_string_equal(a->amqp.binding_key, b->amqp.binding_key);
    assert_int_equal(a->amqp.metric_name_in_body, b->amqp.metric_name_in_body);
    assert_true(a->amqp.prefetch == b->amqp.prefetch);
    assert_true(a->amqp.heartbeat_ns == b->amqp.heartbeat_ns);
    assert_true(a->amqp.max_message_bytes == b->amqp.max_message_bytes);
    assert_int_equal(a->log.level, b->log.level);
    assert_string_equal(a->log.file, b->log.file);
}

static void test_defaults(void **state)
{
    Config c;
    conf_init_defaults(&c);
    assert_string_equal(c.storage.path, "./data");
    assert_true(c.storage.sync_interval_ns == S_NS);
    assert_true(c.storage.retention_ns == 0);
    assert_true(c.storage.max_series == 10000000);
    assert_true(c.storage.wal_segment_size_bytes == 64ULL << 20);
    assert_true(c.storage.memtable_size_bytes == 256ULL << 20);
    assert_true(c.storage.flush_interval_ns == 600 * S_NS);
    assert_true(c.storage.compact_segments == 8);
    assert_true(c.graphite.plaintext.enabled);
    assert_string_equal(c.graphite.plaintext.host, "0.0.0.0");
    assert_int_equal(c.graphite.plaintext.port, 2003);
    assert_string_equal(c.graphite.udp.host, "0.0.0.0");
    assert_int_equal(c.graphite.udp.port, 2003);
    assert_true(c.graphite.max_line_bytes == 16384);
    assert_true(c.net.threads == 0);
    assert_true(c.net.max_connections == 10000);
    assert_true(c.net.idle_timeout_ns == 0);
    assert_true(c.net.max_name_bytes == 4096);
    assert_true(c.net.max_tags == 64);
    assert_true(c.http.listen.enabled);
    assert_string_equal(c.http.listen.host, "0.0.0.0");
    assert_int_equal(c.http.listen.port, 8181);
    assert_true(c.http.threads == 4);
    assert_true(c.http.max_body_bytes == 4ULL << 20);
    assert_true(c.query.max_points == 50000000);
    assert_string_equal(c.amqp.url, "");              /* no AMQP consumer unless asked for */
    assert_string_equal(c.amqp.exchange, "graphite"); /* carbon's AMQP_EXCHANGE */
    assert_string_equal(c.amqp.queue, "cairn");
    assert_string_equal(c.amqp.binding_key, "#"); /* carbon's BIND_PATTERNS */
    assert_false(c.amqp.metric_name_in_body);     /* carbon's AMQP_METRIC_NAME_IN_BODY */
    assert_true(c.amqp.prefetch == 1000);
    assert_true(c.amqp.heartbeat_ns == 30 * S_NS);
    assert_true(c.amqp.max_message_bytes == 1ULL << 20);
    assert_int_equal(c.log.level, 1); /* LOG_INFO */
    assert_string_equal(c.log.file, "");
    conf_deinit(&c);
}

static int load(Config *c, const char *text, TsError *err)
{
    memset(err, 0, sizeof(*err));
    return conf_load_text(c, "cairn.ini", slice_cstr(text), err);
}

static void test_load_good(void **state)
{
    Config c;
    conf_init_defaults(&c);
    TsError err;
    const char *text = "; cairn test config\r\n"
                       "[storage]\r\n"
                       "path = \"/srv/cairn data\"\r\n"
                       "sync_interval = 0\r\n"
                       "retention = 30d\r\n"
                       "compact_segments = 2\r\n"
                       "wal_segment_size = 4KiB\r\n"
                       "[graphite]\r\n"
                       "  # comment\r\n"
                       "plaintext =\r\n"
                       "udp = \"\"\r\n"
                       "[net]\r\n"
                       "max_tags = 0\r\n"
                       "idle_timeout = 5min\r\n"
                       "[http]\r\n"
                       "listen = [::1]:0\r\n"
                       "[log]\r\n"
                       "level = debug\r\n"
                       "level = WARN\r\n" /* later wins; words are case-insensitive */
                       "file = /var/log/cairn.log";
    assert_int_equal(load(&c, text, &err), TS_OK);
    assert_string_equal(c.storage.path, "/srv/cairn data");
    assert_true(c.storage.sync_interval_ns == 0);
    assert_true(c.storage.retention_ns == 30LL * 86400 * S_NS);
    assert_true(c.storage.compact_segments == 2);
    assert_true(c.storage.wal_segment_size_bytes == 4096);
    assert_false(c.graphite.plaintext.enabled);
    assert_false(c.graphite.udp.enabled);
    assert_true(c.http.listen.enabled);
    assert_string_equal(c.http.listen.host, "::1");
    assert_int_equal(c.http.listen.port, 0);
    assert_true(c.net.max_tags == 0);
    assert_true(c.net.idle_timeout_ns == 300 * S_NS);
    assert_int_equal(c.log.level, 2);
    assert_string_equal(c.log.file, "/var/log/cairn.log");
    /* Untouched keys keep their values. */
    assert_true(c.storage.max_series == 10000000);
    assert_true(c.http.threads == 4);
    assert_true(c.graphite.max_line_bytes == 16384);

    /* A second load applies over the first. */
    assert_int_equal(load(&c, "[storage]\nretention = 1w\n", &err), TS_OK);
    assert_true(c.storage.retention_ns == 7LL * 86400 * S_NS);
    assert_string_equal(c.storage.path, "/srv/cairn data");
    conf_deinit(&c);
}

static void test_load_errors(void **state)
{
    static const struct {
        const char *text;
        int rc;
        size_t line;
        const char *msg;
    } cases[] = {
        {"[storage]\n\n\n\n\n\nsync_interval = abc\n", TS_ERR_PROTO, 7,
         "cairn.ini:7: storage.sync_interval: invalid duration 'abc' (use e.g. 500ms, 1s, 5m)"},
        {"[storage]\npath = x\nbogus = 1\n", TS_ERR_PROTO, 3,
         "cairn.ini:3: storage.bogus: unknown key"},
        {"[log]\nlevel = info\n\n\n\n\n\n\n[bogus]\nx = 1\n", TS_ERR_PROTO, 9,
         "cairn.ini:9: [bogus]: unknown section"},
        {"path = x\n", TS_ERR_PROTO, 1, "cairn.ini:1: path: key before any [section]"},
        {"[storage]\nnonsense\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: expected 'key = value' or '[section]'"},
        {"[storage]\ncompact_segments = 1\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.compact_segments: '1' out of range (must be between 2 and 1000)"},
        {"[storage]\ncompact_segments = -1\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.compact_segments: invalid number '-1'"},
        {"[storage]\nmax_series = 99999999999999999999999\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.max_series: '99999999999999999999999' too large"},
        {"[storage]\nmax_series = 4294967296\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.max_series: '4294967296' out of range (must be between 1 and "
         "4294967295)"},
        {"[storage]\nretention = 1000y\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.retention: '1000y' too large"},
        {"[storage]\nsync_interval = 2h\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.sync_interval: '2h' out of range (must be at most 1h)"},
        {"[storage]\nflush_interval = 0\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.flush_interval: '0' out of range (must be between 1ms and 1y)"},
        {"[storage]\nwal_segment_size = 1GiB0\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.wal_segment_size: invalid size '1GiB0' (use e.g. 4096, 64KB, "
         "4MB)"},
        {"[storage]\nmemtable_size = 2TB\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.memtable_size: '2TB' out of range (must be between 4KB and 1TB)"},
        {"[storage]\npath =\n", TS_ERR_PROTO, 2, "cairn.ini:2: storage.path: must not be empty"},
        {"[net]\nmax_tags = 257\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: net.max_tags: '257' out of range (must be at most 256)"},
        /* Keys of listeners that do not exist yet are refused, not silently ignored. */
        {"[graphite]\nprotobuf = :2005\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: graphite.protobuf: unknown key"},
        {"[amqp]\nurl = http://h/\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: amqp.url: must start with amqp:// (amqp://user:pass@host:port/vhost)"},
        {"[amqp]\nurl = amqps://h/\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: amqp.url: amqps:// (TLS) is not supported"},
        {"[amqp]\nurl = \"amqp://h /\"\n", TS_ERR_PROTO, 2, "cairn.ini:2: amqp.url: blank in URL"},
        {"[amqp]\nmetric_name_in_body = maybe\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: amqp.metric_name_in_body: invalid boolean 'maybe' (use true or false)"},
        {"[amqp]\nprefetch = 0\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: amqp.prefetch: '0' out of range (must be between 1 and 65535)"},
        {"[amqp]\nprefetch = 65536\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: amqp.prefetch: '65536' out of range (must be between 1 and 65535)"},
        {"[amqp]\nqueue =\n", TS_ERR_PROTO, 2, "cairn.ini:2: amqp.queue: must not be empty"},
        {"[amqp]\nexchange = \"\"\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: amqp.exchange: must not be empty"},
        {"[amqp]\nheartbeat = 2h\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: amqp.heartbeat: '2h' out of range (must be at most 1h)"},
        {"[amqp]\nmax_message_bytes = 1GB\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: amqp.max_message_bytes: '1GB' out of range (must be between 64 and 256MB)"},
        {"[amqp]\nurl = amqp://h/\nbogus = 1\n", TS_ERR_PROTO, 3,
         "cairn.ini:3: amqp.bogus: unknown key"},
        {"[log]\nlevel = loud\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: log.level: invalid value 'loud' (use debug, info, warn, error)"},
        {"[http]\nlisten = 8181x\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: http.listen: invalid address '8181x' (use host:port, [::1]:port, :port or "
         "\"\")"},
        {"[log]\nfile = a\tb\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: log.file: control character in value"},
        {"[storage]\nsync_interval = 0123456789012345678901234567890123456789\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: storage.sync_interval: '01234567890123456789012345678901...' too large"},
        {"[net]\nthreads = 1025\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: net.threads: '1025' out of range (must be at most 1024)"},
        {"[query]\nmax_points = 0\n", TS_ERR_PROTO, 2,
         "cairn.ini:2: query.max_points: '0' out of range (must be at least 1)"},
        {"[Storage]\n", TS_ERR_PROTO, 1, "cairn.ini:1: [Storage]: unknown section"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Config c;
        conf_init_defaults(&c);
        TsError err;
        assert_int_equal(load(&c, cases[i].text, &err), cases[i].rc);
        assert_string_equal(err.msg, cases[i].msg);
        assert_int_equal(err.pos, cases[i].line);
        conf_deinit(&c);
    }
}

static void test_load_is_atomic(void **state)
{
    Config c;
    Config d;
    conf_init_defaults(&c);
    conf_init_defaults(&d);
    TsError err;
    assert_int_equal(load(&c,
                          "[storage]\npath = /elsewhere\nretention = 1d\n"
                          "[log]\nfile = x.log\nlevel = nope\n",
                          &err),
                     TS_ERR_PROTO);
    assert_conf_eq(&c, &d); /* nothing from the failed file was applied */
    conf_deinit(&c);
    conf_deinit(&d);
}

static void test_load_file(void **state)
{
    char dir[] = "/tmp/test_conf.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/cairn.ini", dir);

    Config c;
    conf_init_defaults(&c);
    TsError err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(conf_load_file(&c, path, &err), TS_ERR_IO);
    assert_int_equal(err.sys_errno, ENOENT);
    char want[256];
    snprintf(want, sizeof(want), "cannot read %s: No such file or directory", path);
    assert_string_equal(err.msg, want);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[http]\r\nlisten = 127.0.0.1:0\r\n[net]\r\nmax_tags = many\r\n", f);
    fclose(f);
    assert_int_equal(conf_load_file(&c, path, &err), TS_ERR_PROTO);
    snprintf(want, sizeof(want), "%s:4: net.max_tags: invalid number 'many'", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(err.pos, 4);
    assert_int_equal(c.http.listen.port, 8181);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[http]\nlisten = 127.0.0.1:0\n", f);
    fclose(f);
    assert_int_equal(conf_load_file(&c, path, &err), TS_OK);
    assert_string_equal(c.http.listen.host, "127.0.0.1");
    assert_int_equal(c.http.listen.port, 0);

    /* A directory is unreadable as a file. */
    assert_int_equal(conf_load_file(&c, dir, &err), TS_ERR_IO);
    assert_int_equal(err.sys_errno, EISDIR);

    /* Over 1 MiB is refused before parsing. */
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < (1 << 20) / 64 + 1; i++)
        fputs("#23456789012345678901234567890123456789012345678901234567890123\n", f);
    fclose(f);
    assert_int_equal(conf_load_file(&c, path, &err), TS_ERR_LIMIT);
    snprintf(want, sizeof(want), "%s: file too large (more than 1048576 bytes)", path);
    assert_string_equal(err.msg, want);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    conf_deinit(&c);
}

static void test_set(void **state)
{
    Config c;
    conf_init_defaults(&c);
    TsError err;
    assert_int_equal(conf_set(&c, "storage.retention=30d", &err), TS_OK);
    assert_true(c.storage.retention_ns == 30LL * 86400 * S_NS);
    assert_int_equal(conf_set(&c, " graphite.plaintext = ", &err), TS_OK);
    assert_false(c.graphite.plaintext.enabled);
    assert_int_equal(conf_set(&c, "http.listen=127.0.0.1:18181", &err), TS_OK);
    assert_int_equal(c.http.listen.port, 18181);
    assert_int_equal(conf_set(&c, "storage.path=\" /a b \"", &err), TS_OK);
    assert_string_equal(c.storage.path, " /a b ");
    assert_int_equal(conf_set(&c, "log.file=x=y", &err), TS_OK);
    assert_string_equal(c.log.file, "x=y");
    assert_int_equal(conf_set(&c, "log.level=ERROR", &err), TS_OK);
    assert_int_equal(c.log.level, 3);
    assert_int_equal(conf_set(&c, "net.max_tags=256", &err), TS_OK);
    assert_true(c.net.max_tags == 256);

    static const struct {
        const char *arg;
        const char *msg;
    } bad[] = {
        {"storage.sync_interval=abc",
         "--set: storage.sync_interval: invalid duration 'abc' (use e.g. 500ms, 1s, 5m)"},
        {"storage.bogus=1", "--set: storage.bogus: unknown key"},
        {"bogus.key=1", "--set: bogus.key: unknown section"},
        {"storage.path", "--set: expected section.key=value, got 'storage.path'"},
        {"path=/x", "--set: expected section.key=value, got 'path=/x'"},
        {".path=/x", "--set: expected section.key=value, got '.path=/x'"},
        {"storage.=/x", "--set: expected section.key=value, got 'storage.=/x'"},
        {"", "--set: expected section.key=value, got ''"},
        {"net.max_connections=0",
         "--set: net.max_connections: '0' out of range (must be between 1 and 10000000)"},
        {"log.file=\"x", "--set: log.file: unterminated quoted value"},
        {"log.file=a\nb", "--set: log.file: control character in value"},
        {"net.max_tags=1024", "--set: net.max_tags: '1024' out of range (must be at most 256)"},
        {"amqp.url=amqp:/h", "--set: amqp.url: must start with amqp:// "
                             "(amqp://user:pass@host:port/vhost)"},
        {"amqp.metric_name_in_body=2", "--set: amqp.metric_name_in_body: invalid boolean '2' "
                                       "(use true or false)"},
    };
    Config before;
    conf_init_defaults(&before);
    assert_int_equal(conf_set(&before, "storage.retention=30d", &err), TS_OK);
    assert_int_equal(conf_set(&before, "graphite.plaintext=", &err), TS_OK);
    assert_int_equal(conf_set(&before, "http.listen=127.0.0.1:18181", &err), TS_OK);
    assert_int_equal(conf_set(&before, "storage.path=\" /a b \"", &err), TS_OK);
    assert_int_equal(conf_set(&before, "log.file=x=y", &err), TS_OK);
    assert_int_equal(conf_set(&before, "log.level=error", &err), TS_OK);
    assert_int_equal(conf_set(&before, "net.max_tags=256", &err), TS_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(conf_set(&c, bad[i].arg, &err), TS_ERR_PROTO);
        assert_string_equal(err.msg, bad[i].msg);
        assert_conf_eq(&c, &before);
    }
    conf_deinit(&before);
    conf_deinit(&c);
}

static void test_init_text_parses_to_defaults(void **state)
{
    Buf b;
    buf_init(&b);
    conf_write_default(&b);
    /* It is commented, covers every section, and every line fits 100 columns. */
    char *text = ts_strndup((const char *)b.p, b.n);
    assert_non_null(strstr(text, "\n[storage]\n"));
    assert_non_null(strstr(text, "\n[log]\n"));
    assert_non_null(strstr(text, "\nsync_interval = 1s\n"));
    assert_non_null(strstr(text, "\n# fsync the write-ahead log"));
    assert_non_null(strstr(text, "\nfile = \"\"\n"));
    assert_non_null(strstr(text, "\nmax_line_bytes = 16384\n"));
    assert_non_null(strstr(text, "\n# Most tags in one series name. Must be at most 256.\n"));
    assert_non_null(strstr(text, "\nmax_tags = 64\n"));
    assert_non_null(strstr(text, "\n[amqp]\n"));
    assert_non_null(strstr(text, "\nurl = \"\"\n"));
    assert_non_null(strstr(text, "\nmetric_name_in_body = false\n"));
    assert_non_null(strstr(text, "\nmax_message_bytes = 1MiB\n"));
    size_t col = 0;
    for (size_t i = 0; i < b.n; i++) {
        col = b.p[i] == '\n' ? 0 : col + 1;
        assert_true(col <= 100);
    }
    ts_free(text);

    /* Loaded over a config with every key changed, it restores exactly the defaults. */
    Config c;
    Config d;
    conf_init_defaults(&c);
    conf_init_defaults(&d);
    TsError err;
    assert_int_equal(load(&c,
                          "[storage]\npath=/p\nsync_interval=5s\nretention=1d\n"
                          "max_series=5\nwal_segment_size=1MB\nmemtable_size=1MB\n"
                          "flush_interval=1s\ncompact_segments=3\n"
                          "[graphite]\nplaintext=\nudp=:1\nmax_line_bytes=1KB\n"
                          "[net]\nthreads=2\nmax_connections=3\nidle_timeout=1m\n"
                          "max_name_bytes=100\nmax_tags=1\n"
                          "[http]\nlisten=[::1]:9\nthreads=9\nmax_body_bytes=1MB\n"
                          "[query]\nmax_points=7\n"
                          "[amqp]\nurl=amqp://x\nexchange=e\nqueue=q\nbinding_key=a.*\n"
                          "metric_name_in_body=on\nprefetch=1\nheartbeat=5s\n"
                          "max_message_bytes=64\n"
                          "[log]\nlevel=error\nfile=f\n",
                          &err),
                     TS_OK);
    assert_int_equal(conf_load_text(&c, "init", slice_make(b.p, b.n), &err), TS_OK);
    assert_conf_eq(&c, &d);
    conf_deinit(&c);
    conf_deinit(&d);
    buf_deinit(&b);
}

static void test_effective_round_trip(void **state)
{
    Config c;
    conf_init_defaults(&c);
    TsError err;
    static const char *const sets[] = {
        "storage.path=\"  spaced path \"",
        "storage.sync_interval=1500ms",
        "storage.retention=2w",
        "storage.flush_interval=90s",
        "storage.memtable_size=1536KB",
        "graphite.plaintext=",
        "graphite.udp=[::1]:2004",
        "graphite.max_line_bytes=1000",
        "net.idle_timeout=7us",
        "net.max_name_bytes=300",
        "net.max_tags=256",
        "http.listen=\"127.0.0.1:0\"",
        "log.level=warn",
        "log.file=\"\"x\"\"",
        "amqp.url=amqp://u:p%2f@broker.example:5673/%2fmetrics",
        "amqp.exchange=metrics",
        "amqp.queue=q 1",
        "amqp.binding_key=\"\"",
        "amqp.metric_name_in_body=YES",
        "amqp.prefetch=65535",
        "amqp.heartbeat=0",
        "amqp.max_message_bytes=64KB",
    };
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        assert_int_equal(conf_set(&c, sets[i], &err), TS_OK);
    assert_string_equal(c.log.file, "\"x\"");

    Buf b;
    buf_init(&b);
    conf_write_effective(&c, &b);
    Config d;
    conf_init_defaults(&d);
    assert_int_equal(conf_load_text(&d, "effective", slice_make(b.p, b.n), &err), TS_OK);
    assert_conf_eq(&c, &d);
    char *text = ts_strndup((const char *)b.p, b.n);
    assert_non_null(strstr(text, "\nsync_interval = 1500ms\n"));
    assert_non_null(strstr(text, "\nretention = 2w\n"));
    assert_non_null(strstr(text, "\nplaintext = \"\"\n"));
    assert_non_null(strstr(text, "\nudp = [::1]:2004\n"));
    assert_non_null(strstr(text, "\nlisten = 127.0.0.1:0\n"));
    assert_non_null(strstr(text, "\nmemtable_size = 1536KB\n"));
    assert_non_null(strstr(text, "\nmax_line_bytes = 1000\n"));
    assert_non_null(strstr(text, "\nmax_tags = 256\n"));
    assert_non_null(strstr(text, "\nlevel = warn\n"));
    assert_non_null(strstr(text, "\nfile = \"\"x\"\"\n"));
    assert_non_null(strstr(text, "\n[amqp]\nurl = amqp://u:p%2f@broker.example:5673/%2fmetrics\n"));
    assert_non_null(strstr(text, "\nbinding_key = \"\"\n"));
    assert_non_null(strstr(text, "\nmetric_name_in_body = true\n"));
    assert_non_null(strstr(text, "\nheartbeat = 0\n"));
    assert_non_null(strstr(text, "\nmax_message_bytes = 64KB\n"));
    assert_true(c.amqp.metric_name_in_body);
    assert_string_equal(c.amqp.queue, "q 1");
    ts_free(text);
    conf_deinit(&d);
    buf_deinit(&b);
    conf_deinit(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ini_basic),
        cmocka_unit_test(test_ini_crlf_bom_and_key_before_section),
        cmocka_unit_test(test_ini_syntax_errors),
        cmocka_unit_test(test_ini_handler_stops),
        cmocka_unit_test(test_ini_limits),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_good),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_is_atomic),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_init_text_parses_to_defaults),
        cmocka_unit_test(test_effective_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
