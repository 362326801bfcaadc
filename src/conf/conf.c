/*
 * cairn configuration: the schema table and everything it drives.
 *
 * KEYS[] below has one row per configuration key: section, name, type, default (as config
 * text), valid range, help text, and where the value lives in a Config. Defaults are produced
 * by parsing the default text, so `cairnd --init` (conf_write_default), conf_init_defaults and
 * the parser cannot disagree. Loading goes through the pure INI tokenizer (ini.c) into a copy
 * of the Config, which replaces the caller's only when the whole text was valid, so a bad file
 * or --set never leaves a half-applied configuration behind.
 *
 * Not pure in the STYLE.md sense only because conf_load_file reads a file; nothing here logs.
 */
#include "conf/conf.h"
#include "conf/ini.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/series_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(LOG_DEBUG == 0 && LOG_INFO == 1 && LOG_WARN == 2 && LOG_ERROR == 3,
               "log.level words must follow LogLevel");

typedef enum ConfType {
    CONF_STRING,   /* char *; min/max bound the length in bytes */
    CONF_DURATION, /* int64_t nanoseconds; min/max in ns */
    CONF_SIZE,     /* uint64_t bytes; min/max in bytes */
    CONF_UINT,     /* uint64_t; min/max */
    CONF_ENUM,     /* int index into words[] */
    CONF_LISTEN,   /* ConfListen */
    CONF_BOOL      /* bool; conf_parse_bool's words, written back as true/false */
} ConfType;

typedef struct ConfKey {
    const char *section; /* "storage" */
    const char *key;     /* "sync_interval" */
    ConfType type;
    const char *def;          /* default as it would be written in the file */
    uint64_t min, max;        /* inclusive bounds; see ConfType */
    const char *const *words; /* CONF_ENUM: allowed words, NULL-terminated, index = value */
    size_t offset;            /* of the field in Config */
    const char *help;         /* one or more sentences for --init */
    /* Optional extra check of a CONF_STRING value: TS_OK, or TS_ERR_PROTO with 'what' filled. */
    int (*check)(Slice v, char *what, size_t what_cap);
} ConfKey;

typedef struct ConfSection {
    const char *name;
    const char *help;
} ConfSection;

/*
 * offsetof(Config, f), refusing to compile (distinct pointer types) when f is not of type T,
 * so a row cannot point a duration parser at a uint64_t field.
 */
#define FIELD(f, T) (offsetof(Config, f) + 0 * sizeof(&((Config *)0)->f == (T *)0))

/* clang-format off */
#define K_STRING(s, k, f, def, lo, hi, help)                                                      \
    {s, k, CONF_STRING, def, lo, hi, NULL, FIELD(f, char *), help, NULL}
#define K_DURATION(s, k, f, def, lo, hi, help)                                                    \
    {s, k, CONF_DURATION, def, lo, hi, NULL, FIELD(f, int64_t), help, NULL}
#define K_SIZE(s, k, f, def, lo, hi, help)                                                        \
    {s, k, CONF_SIZE, def, lo, hi, NULL, FIELD(f, uint64_t), help, NULL}
#define K_UINT(s, k, f, def, lo, hi, help)                                                        \
    {s, k, CONF_UINT, def, lo, hi, NULL, FIELD(f, uint64_t), help, NULL}
#define K_ENUM(s, k, f, def, words, help)                                                         \
    {s, k, CONF_ENUM, def, 0, 0, words, FIELD(f, int), help, NULL}
#define K_LISTEN(s, k, f, def, help)                                                              \
    {s, k, CONF_LISTEN, def, 0, 0, NULL, FIELD(f, ConfListen), help, NULL}
#define K_BOOL(s, k, f, def, help)                                                                \
    {s, k, CONF_BOOL, def, 0, 0, NULL, FIELD(f, bool), help, NULL}
#define K_STRING_CHECK(s, k, f, def, lo, hi, check, help)                                         \
    {s, k, CONF_STRING, def, lo, hi, NULL, FIELD(f, char *), help, check}
/* clang-format on */

#define NS_MS 1000000ULL
#define NS_S 1000000000ULL
#define NS_HOUR (3600ULL * NS_S)
#define NS_DAY (24ULL * NS_HOUR)
#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)
#define I64MAX ((uint64_t)INT64_MAX)

static const char *const LOG_LEVEL_WORDS[] = {"debug", "info", "warn", "error", NULL};
static const char *const LATE_WRITES_WORDS[] = {"accept", "reject", NULL};

static const ConfSection SECTIONS[] = {
    {"storage", "Data directory, write-ahead log, in-memory buffer, segments and retention."},
    {"graphite", "Graphite carbon listeners (plaintext and pickle)."},
    {"resp", "Akumuli RESP protocol listeners."},
    {"opentsdb", "OpenTSDB telnet protocol listener."},
    {"net", "Limits shared by every network listener."},
    {"http", "HTTP API: Akumuli /api/*, Graphite /render, /metrics/*, /tags/*, /health."},
    {"query", "Query limits."},
    {"amqp", "AMQP (RabbitMQ) consumer: Graphite metrics from a queue, acknowledged only once "
             "they are durable. Off unless url is set."},
    {"log", "Server log."},
};

/*
 * amqp.url: "" or an amqp:// URL. Only the scheme is checked here; the consumer parses the rest
 * with librabbitmq's amqp_parse_url at start-up and refuses to start on an error.
 */
static int check_amqp_url(Slice v, char *what, size_t what_cap)
{
    static const char scheme[] = "amqp://";
    if (v.n == 0)
        return TS_OK;
    if (v.n >= 8 && memcmp(v.p, "amqps://", 8) == 0) {
        snprintf(what, what_cap, "amqps:// (TLS) is not supported");
        return TS_ERR_PROTO;
    }
    if (v.n < sizeof(scheme) - 1 || memcmp(v.p, scheme, sizeof(scheme) - 1) != 0) {
        snprintf(what, what_cap, "must start with amqp:// (amqp://user:pass@host:port/vhost)");
        return TS_ERR_PROTO;
    }
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] == ' ' || v.p[i] == '\t') {
            snprintf(what, what_cap, "blank in URL");
            return TS_ERR_PROTO;
        }
    }
    return TS_OK;
}

/*
 * The schema: one row per key. Sections must appear in SECTIONS and rows grouped by section.
 * Only keys that something reads are listed ("no stubs"): the keys of a listener are added
 * with the listener itself, together with their Config fields and sections.
 */
static const ConfKey KEYS[] = {
    K_STRING("storage", "path", storage.path, "./data", 1, 4000, "Data directory."),
    K_DURATION("storage", "sync_interval", storage.sync_interval_ns, "1s", 0, NS_HOUR,
               "fsync the write-ahead log at most this long after a write; 0 = before every "
               "acknowledgement."),
    K_DURATION("storage", "retention", storage.retention_ns, "0", 0, I64MAX,
               "Drop data older than this; 0 = keep forever."),
    K_UINT("storage", "max_series", storage.max_series, "10000000", 1, UINT32_MAX,
           "Most series; new series past this are rejected and counted."),
    K_SIZE("storage", "wal_segment_size", storage.wal_segment_size_bytes, "64MB", 4 * KIB, 16 * GIB,
           "Start a new write-ahead log file past this size."),
    K_SIZE("storage", "memtable_size", storage.memtable_size_bytes, "256MB", 4 * KIB, TIB,
           "In-memory data is flushed to a segment file past this size."),
    K_DURATION("storage", "flush_interval", storage.flush_interval_ns, "10m", NS_MS, 365 * NS_DAY,
               "Flush in-memory data to a segment file at least this often."),
    K_UINT("storage", "compact_segments", storage.compact_segments, "8", 2, 1000,
           "Merge segment files when more than this many exist."),

    K_LISTEN("graphite", "plaintext", graphite.plaintext, "0.0.0.0:2003",
             "Plaintext protocol over TCP: \"name value timestamp\" lines."),
    K_LISTEN("graphite", "udp", graphite.udp, "0.0.0.0:2003", "Plaintext protocol over UDP."),
    K_LISTEN("graphite", "pickle", graphite.pickle, "0.0.0.0:2004",
             "Pickle protocol over TCP (4-byte big-endian length + pickle, as carbon-relay "
             "sends)."),
    K_SIZE("graphite", "pickle_max_bytes", graphite.pickle_max_bytes, "1MiB", 64, 256 * MIB,
           "Larger pickle frames close the connection, as carbon does."),
    K_SIZE("graphite", "max_line_bytes", graphite.max_line_bytes, "16384", 256, 64 * MIB,
           "Longer plaintext lines close the TCP connection, as carbon does."),

    K_LISTEN("resp", "tcp", resp.tcp, "0.0.0.0:8282", "Akumuli RESP protocol over TCP."),
    K_LISTEN("resp", "udp", resp.udp, "0.0.0.0:8383", "Akumuli RESP protocol over UDP."),
    K_ENUM("resp", "late_writes", resp.late_writes, "accept", LATE_WRITES_WORDS,
           "A point older than the newest one of its series: accept (last write wins) or "
           "reject (answer -DB late write and close, as Akumuli does)."),

    K_LISTEN("opentsdb", "tcp", opentsdb.tcp, "0.0.0.0:4242",
             "OpenTSDB telnet protocol (put, version, stats, help, exit)."),

    K_UINT("net", "threads", net.threads, "0", 0, 1024,
           "Event-loop threads; 0 = one per CPU core."),
    K_UINT("net", "max_connections", net.max_connections, "10000", 1, 10000000,
           "Most open client connections."),
    K_DURATION("net", "idle_timeout", net.idle_timeout_ns, "0", 0, I64MAX,
               "Close client connections idle for this long; 0 = never."),
    K_SIZE("net", "max_name_bytes", net.max_name_bytes, "4096", 16, 65535,
           "Longest series name, tags included."),
    K_UINT("net", "max_tags", net.max_tags, "64", 0, SERIES_KEY_TAGS_MAX,
           "Most tags in one series name."),

    K_LISTEN("http", "listen", http.listen, "0.0.0.0:8181", "HTTP API address."),
    K_UINT("http", "threads", http.threads, "4", 1, 1024, "HTTP worker threads."),
    K_SIZE("http", "max_body_bytes", http.max_body_bytes, "4MB", KIB, GIB, "Largest request body."),

    K_UINT("query", "max_points", query.max_points, "50000000", 1, UINT64_MAX,
           "Most points one query may read; more is an error."),

    K_STRING_CHECK("amqp", "url", amqp.url, "", 0, 4000, check_amqp_url,
                   "Broker to consume from: amqp://user:password@host:port/vhost (percent-encode "
                   "'/' in a vhost as %2f; no /vhost means \"/\"). Empty = no AMQP consumer."),
    K_STRING("amqp", "exchange", amqp.exchange, "graphite", 1, 255,
             "Exchange the queue is bound to; declared as a durable topic exchange if it does "
             "not exist (an existing one is used as it is)."),
    K_STRING("amqp", "queue", amqp.queue, "cairn", 1, 255,
             "Queue consumed; declared durable if it does not exist (an existing one is used as "
             "it is). Messages stay in it while cairnd is down."),
    K_STRING("amqp", "binding_key", amqp.binding_key, "#", 0, 255,
             "Routing-key pattern binding the queue to the exchange (# = every message)."),
    K_BOOL("amqp", "metric_name_in_body", amqp.metric_name_in_body, "false",
           "true: each message body holds plaintext lines \"name value timestamp\". false (as "
           "carbon): the routing key is the metric name and each body line is \"value "
           "timestamp\" or just \"value\" (now)."),
    K_UINT("amqp", "prefetch", amqp.prefetch, "1000", 1, 65535,
           "Unacknowledged messages the broker may send ahead (basic.qos prefetch count)."),
    K_DURATION("amqp", "heartbeat", amqp.heartbeat_ns, "30s", 0, NS_HOUR,
               "AMQP heartbeat, rounded up to whole seconds; 0 = none."),
    K_SIZE("amqp", "max_message_bytes", amqp.max_message_bytes, "1MiB", 64, 256 * MIB,
           "Larger message bodies are not read: counted as bad messages and acknowledged."),

    K_ENUM("log", "level", log.level, "info", LOG_LEVEL_WORDS, "Least severe level logged."),
    K_STRING("log", "file", log.file, "", 0, 4000, "Log file, reopened on SIGHUP; empty = stderr."),
};

#define N_KEYS (sizeof(KEYS) / sizeof(KEYS[0]))
#define N_SECTIONS (sizeof(SECTIONS) / sizeof(SECTIONS[0]))

/* Longest piece of user text echoed in a message, so messages fit TsError.msg. */
#define ECHO_BYTES 32
#define NAME_ECHO_BYTES 40

/* ---- small text helpers ---- */

static uint8_t ascii_lower(uint8_t ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch - 'A' + 'a') : ch;
}

/* Case-insensitive (ASCII) equality of a slice and a lower-case word. */
static bool slice_eq_word(Slice s, const char *word)
{
    size_t n = strlen(word);
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower(s.p[i]) != (uint8_t)word[i])
            return false;
    }
    return true;
}

static bool is_digit(uint8_t ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_blank(uint8_t ch)
{
    return ch == ' ' || ch == '\t';
}

static Slice trim(Slice s)
{
    while (s.n && is_blank(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && is_blank(s.p[s.n - 1]))
        s.n--;
    return s;
}

/* Copy 's' into 'out' for a message: at most ECHO_BYTES, non-printables as '?', "..." if cut. */
static void echo_value(Slice s, char *out, size_t cap)
{
    size_t n = s.n < ECHO_BYTES ? s.n : ECHO_BYTES;
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        out[j++] = (s.p[i] >= 0x20 && s.p[i] < 0x7f) ? (char)s.p[i] : '?';
    if (s.n > n) {
        for (int k = 0; k < 3 && j + 1 < cap; k++)
            out[j++] = '.';
    }
    out[j] = '\0';
}

/*
 * Decimal digits of s from *i on, leaving *i after the last one. TS_ERR_PROTO if there are none,
 * TS_ERR_LIMIT if they overflow (*i still moves past them all).
 */
static int parse_digits(Slice s, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    bool overflow = false;
    size_t start = *i;
    while (*i < s.n && is_digit(s.p[*i])) {
        uint64_t d = (uint64_t)(s.p[*i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
        (*i)++;
    }
    if (*i == start)
        return TS_ERR_PROTO;
    if (overflow)
        return TS_ERR_LIMIT;
    *out = v;
    return TS_OK;
}

typedef struct Unit {
    const char *word; /* lower case */
    uint64_t mult;
} Unit;

static const Unit DURATION_UNITS[] = {
    {"", NS_S},     {"ns", 1},     {"us", 1000},      {"ms", NS_MS},
    {"s", NS_S},    {"sec", NS_S}, {"m", 60 * NS_S},  {"min", 60 * NS_S},
    {"h", NS_HOUR}, {"d", NS_DAY}, {"w", 7 * NS_DAY}, {"y", 365 * NS_DAY},
};

static const Unit SIZE_UNITS[] = {
    {"", 1},      {"b", 1},   {"k", KIB},  {"kb", KIB},  {"kib", KIB}, {"m", MIB},  {"mb", MIB},
    {"mib", MIB}, {"g", GIB}, {"gb", GIB}, {"gib", GIB}, {"t", TIB},   {"tb", TIB}, {"tib", TIB},
};

/* digits + unit from 'units'; result must not exceed 'limit'. */
static int parse_with_unit(Slice s, const Unit *units, size_t n_units, uint64_t limit,
                           uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    int rc = parse_digits(s, &i, &v);
    if (rc == TS_ERR_PROTO)
        return rc;
    Slice unit = slice_make(s.p + i, s.n - i);
    for (size_t u = 0; u < n_units; u++) {
        if (!slice_eq_word(unit, units[u].word))
            continue;
        if (rc != TS_OK || v > limit / units[u].mult)
            return TS_ERR_LIMIT;
        *out = v * units[u].mult;
        return TS_OK;
    }
    return TS_ERR_PROTO;
}

int conf_parse_duration_ns(Slice s, int64_t *out_ns)
{
    uint64_t v = 0;
    int rc = parse_with_unit(s, DURATION_UNITS, sizeof(DURATION_UNITS) / sizeof(Unit), I64MAX, &v);
    if (rc == TS_OK)
        *out_ns = (int64_t)v;
    return rc;
}

int conf_parse_size_bytes(Slice s, uint64_t *out)
{
    return parse_with_unit(s, SIZE_UNITS, sizeof(SIZE_UNITS) / sizeof(Unit), UINT64_MAX, out);
}

int conf_parse_bool(Slice s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (slice_eq_word(s, yes[i])) {
            *out = true;
            return TS_OK;
        }
        if (slice_eq_word(s, no[i])) {
            *out = false;
            return TS_OK;
        }
    }
    return TS_ERR_PROTO;
}

static bool host_char_ok(uint8_t ch, bool bracketed)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch))
        return true;
    if (ch == '.' || ch == '-' || ch == '_')
        return true;
    return bracketed && (ch == ':' || ch == '%');
}

static int parse_port(Slice s, uint16_t *out)
{
    if (s.n == 0 || s.n > 5)
        return TS_ERR_PROTO;
    size_t i = 0;
    uint64_t v = 0;
    if (parse_digits(s, &i, &v) != TS_OK || i != s.n || v > 65535)
        return TS_ERR_PROTO;
    *out = (uint16_t)v;
    return TS_OK;
}

int conf_parse_listen(Slice s, ConfListen *out)
{
    ConfListen l;
    memset(&l, 0, sizeof(l));
    if (s.n == 0) {
        *out = l;
        return TS_OK;
    }
    Slice host;
    Slice port;
    bool bracketed = s.p[0] == '[';
    if (bracketed) {
        const uint8_t *close = memchr(s.p, ']', s.n);
        if (!close)
            return TS_ERR_PROTO;
        size_t close_i = (size_t)(close - s.p);
        host = slice_make(s.p + 1, close_i - 1);
        if (host.n == 0 || close_i + 1 >= s.n || s.p[close_i + 1] != ':')
            return TS_ERR_PROTO;
        port = slice_make(s.p + close_i + 2, s.n - close_i - 2);
    } else {
        size_t colon = s.n;
        while (colon > 0 && s.p[colon - 1] != ':')
            colon--;
        if (colon == 0) { /* a bare port */
            host = slice_make(NULL, 0);
            port = s;
        } else {
            host = slice_make(s.p, colon - 1);
            port = slice_make(s.p + colon, s.n - colon);
        }
    }
    if (parse_port(port, &l.port) != TS_OK)
        return TS_ERR_PROTO;
    if (host.n >= sizeof(l.host))
        return TS_ERR_PROTO;
    for (size_t i = 0; i < host.n; i++) {
        if (!host_char_ok(host.p[i], bracketed))
            return TS_ERR_PROTO;
    }
    if (host.n == 0)
        memcpy(l.host, "0.0.0.0", sizeof("0.0.0.0"));
    else
        memcpy(l.host, host.p, host.n);
    l.enabled = true;
    *out = l;
    return TS_OK;
}

/* ---- formatting values back to text ---- */

static void format_with_unit(uint64_t v, const Unit *units, size_t n_units, char *out, size_t cap)
{
    /* Largest unit that divides v exactly; units[0] is the unitless one, never chosen here. */
    uint64_t best_mult = 1;
    const char *best_word = "";
    for (size_t u = 1; u < n_units; u++) {
        if (v != 0 && units[u].mult > best_mult && v % units[u].mult == 0) {
            best_mult = units[u].mult;
            best_word = units[u].word;
        }
    }
    snprintf(out, cap, "%llu%s", (unsigned long long)(v / best_mult), best_word);
}

static void format_duration(uint64_t ns, char *out, size_t cap)
{
    /* Skip the aliases ("sec", "min"); the table lists the canonical spelling first. */
    static const Unit canon[] = {
        {"", 1},          {"ns", 1},      {"us", 1000},  {"ms", NS_MS},     {"s", NS_S},
        {"m", 60 * NS_S}, {"h", NS_HOUR}, {"d", NS_DAY}, {"w", 7 * NS_DAY}, {"y", 365 * NS_DAY}};
    format_with_unit(ns, canon, sizeof(canon) / sizeof(canon[0]), out, cap);
}

static void format_size(uint64_t bytes, char *out, size_t cap)
{
    static const Unit canon[] = {{"", 1}, {"KB", KIB}, {"MB", MIB}, {"GB", GIB}, {"TB", TIB}};
    if (bytes < KIB)
        snprintf(out, cap, "%llu", (unsigned long long)bytes);
    else
        format_with_unit(bytes, canon, sizeof(canon) / sizeof(canon[0]), out, cap);
}

static void format_bound(const ConfKey *k, uint64_t v, char *out, size_t cap)
{
    if (k->type == CONF_DURATION)
        format_duration(v, out, cap);
    else if (k->type == CONF_SIZE)
        format_size(v, out, cap);
    else
        snprintf(out, cap, "%llu", (unsigned long long)v);
}

/*
 * "between A and B" / "at least A" / "at most B" into 'out'; "" when the key takes every value
 * its type can hold.
 */
static void format_range(const ConfKey *k, char *out, size_t cap)
{
    uint64_t top = k->type == CONF_DURATION ? I64MAX : UINT64_MAX;
    char lo[24];
    char hi[24];
    format_bound(k, k->min, lo, sizeof(lo));
    format_bound(k, k->max, hi, sizeof(hi));
    if (k->max >= top && k->min == 0)
        snprintf(out, cap, "%s", "");
    else if (k->max >= top)
        snprintf(out, cap, "at least %s", lo);
    else if (k->min == 0)
        snprintf(out, cap, "at most %s", hi);
    else
        snprintf(out, cap, "between %s and %s", lo, hi);
}

/* ---- typed access through the schema ---- */

static void *field_ptr(Config *c, const ConfKey *k)
{
    return (char *)c + k->offset;
}

static const void *field_cptr(const Config *c, const ConfKey *k)
{
    return (const char *)c + k->offset;
}

/*
 * Parse 'v' for key 'k' and store it in 'c'. On failure write what is wrong (no key name) to
 * 'what' and return TS_ERR_PROTO; 'c' is then unchanged.
 */
static int key_set(Config *c, const ConfKey *k, Slice v, char *what, size_t what_cap)
{
    char shown[ECHO_BYTES + 4];
    char range[64];
    echo_value(v, shown, sizeof(shown));
    uint64_t u = 0;
    int rc = TS_OK;

    switch (k->type) {
    case CONF_STRING: {
        for (size_t i = 0; i < v.n; i++) {
            if (v.p[i] < 0x20 || v.p[i] == 0x7f) {
                snprintf(what, what_cap, "control character in value");
                return TS_ERR_PROTO;
            }
        }
        if (v.n < k->min) {
            snprintf(what, what_cap, "must not be empty");
            return TS_ERR_PROTO;
        }
        if (v.n > k->max) {
            snprintf(what, what_cap, "longer than %llu bytes", (unsigned long long)k->max);
            return TS_ERR_PROTO;
        }
        if (k->check && k->check(v, what, what_cap) != TS_OK)
            return TS_ERR_PROTO;
        char **slot = field_ptr(c, k);
        ts_free(*slot);
        *slot = ts_strndup((const char *)(v.n ? v.p : (const uint8_t *)""), v.n);
        return TS_OK;
    }
    case CONF_DURATION: {
        int64_t ns = 0;
        rc = conf_parse_duration_ns(v, &ns);
        if (rc == TS_ERR_PROTO) {
            snprintf(what, what_cap, "invalid duration '%s' (use e.g. 500ms, 1s, 5m)", shown);
            return TS_ERR_PROTO;
        }
        u = (uint64_t)ns;
        break;
    }
    case CONF_SIZE:
        rc = conf_parse_size_bytes(v, &u);
        if (rc == TS_ERR_PROTO) {
            snprintf(what, what_cap, "invalid size '%s' (use e.g. 4096, 64KB, 4MB)", shown);
            return TS_ERR_PROTO;
        }
        break;
    case CONF_UINT: {
        size_t i = 0;
        rc = parse_digits(v, &i, &u);
        if (rc == TS_ERR_PROTO || i != v.n) {
            snprintf(what, what_cap, "invalid number '%s'", shown);
            return TS_ERR_PROTO;
        }
        break;
    }
    case CONF_ENUM:
        for (int w = 0; k->words[w]; w++) {
            if (slice_eq_word(v, k->words[w])) {
                *(int *)field_ptr(c, k) = w;
                return TS_OK;
            }
        }
        {
            size_t n = (size_t)snprintf(what, what_cap, "invalid value '%s' (use", shown);
            for (int w = 0; k->words[w] && n < what_cap; w++)
                n += (size_t)snprintf(what + n, what_cap - n, "%s %s", w ? "," : "", k->words[w]);
            if (n < what_cap)
                snprintf(what + n, what_cap - n, ")");
        }
        return TS_ERR_PROTO;
    case CONF_BOOL:
        if (conf_parse_bool(v, (bool *)field_ptr(c, k)) != TS_OK) {
            snprintf(what, what_cap, "invalid boolean '%s' (use true or false)", shown);
            return TS_ERR_PROTO;
        }
        return TS_OK;
    case CONF_LISTEN:
        if (conf_parse_listen(v, (ConfListen *)field_ptr(c, k)) != TS_OK) {
            snprintf(what, what_cap,
                     "invalid address '%s' (use host:port, [::1]:port, :port or \"\")", shown);
            return TS_ERR_PROTO;
        }
        return TS_OK;
    }

    /* Numeric types: overflow (rc TS_ERR_LIMIT) or range. */
    if (rc != TS_OK) {
        snprintf(what, what_cap, "'%s' too large", shown);
        return TS_ERR_PROTO;
    }
    if (u < k->min || u > k->max) {
        format_range(k, range, sizeof(range));
        snprintf(what, what_cap, "'%s' out of range (must be %s)", shown, range);
        return TS_ERR_PROTO;
    }
    if (k->type == CONF_DURATION)
        *(int64_t *)field_ptr(c, k) = (int64_t)u;
    else
        *(uint64_t *)field_ptr(c, k) = u;
    return TS_OK;
}

/* Append string 's' as a config value, in quotes when trimming or unquoting would change it. */
static void write_string(Buf *out, const char *s, size_t n)
{
    bool quote = n == 0 || s[0] == '"' || is_blank((uint8_t)s[0]) || is_blank((uint8_t)s[n - 1]);
    if (quote)
        buf_puts(out, "\"");
    buf_append(out, s, n);
    if (quote)
        buf_puts(out, "\"");
}

/* Append the value of key 'k' in 'c' as config text. */
static void key_write(const Config *c, const ConfKey *k, Buf *out)
{
    char tmp[300];
    switch (k->type) {
    case CONF_STRING: {
        const char *s = *(char *const *)field_cptr(c, k);
        write_string(out, s, strlen(s));
        return;
    }
    case CONF_DURATION: {
        int64_t ns = *(const int64_t *)field_cptr(c, k);
        format_duration((uint64_t)ns, tmp, sizeof(tmp));
        break;
    }
    case CONF_SIZE:
        format_size(*(const uint64_t *)field_cptr(c, k), tmp, sizeof(tmp));
        break;
    case CONF_UINT:
        snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)*(const uint64_t *)field_cptr(c, k));
        break;
    case CONF_ENUM:
        snprintf(tmp, sizeof(tmp), "%s", k->words[*(const int *)field_cptr(c, k)]);
        break;
    case CONF_BOOL:
        snprintf(tmp, sizeof(tmp), "%s", *(const bool *)field_cptr(c, k) ? "true" : "false");
        break;
    case CONF_LISTEN: {
        const ConfListen *l = field_cptr(c, k);
        if (!l->enabled)
            snprintf(tmp, sizeof(tmp), "\"\"");
        else if (strchr(l->host, ':'))
            snprintf(tmp, sizeof(tmp), "[%s]:%u", l->host, (unsigned)l->port);
        else
            snprintf(tmp, sizeof(tmp), "%s:%u", l->host, (unsigned)l->port);
        break;
    }
    }
    buf_puts(out, tmp);
}

static const ConfSection *section_find(Slice name)
{
    for (size_t i = 0; i < N_SECTIONS; i++) {
        if (slice_eq_cstr(name, SECTIONS[i].name))
            return &SECTIONS[i];
    }
    return NULL;
}

static const ConfKey *key_find(Slice section, Slice key)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (slice_eq_cstr(section, KEYS[i].section) && slice_eq_cstr(key, KEYS[i].key))
            return &KEYS[i];
    }
    return NULL;
}

/* ---- lifetime ---- */

void conf_init_defaults(Config *c)
{
    memset(c, 0, sizeof(*c)); /* strings NULL, so key_set's ts_free is a no-op */
    for (size_t i = 0; i < N_KEYS; i++) {
        char what[160];
        int rc = key_set(c, &KEYS[i], slice_cstr(KEYS[i].def), what, sizeof(what));
        TS_ASSERT(rc == TS_OK); /* a default that does not parse is a bug in KEYS[] */
    }
}

void conf_deinit(Config *c)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (KEYS[i].type == CONF_STRING) {
            char **slot = field_ptr(c, &KEYS[i]);
            ts_free(*slot);
            *slot = NULL;
        }
    }
}

/* Deep copy of 'src' into uninitialised 'dst'. */
static void conf_copy(Config *dst, const Config *src)
{
    memcpy(dst, src, sizeof(*dst));
    for (size_t i = 0; i < N_KEYS; i++) {
        if (KEYS[i].type == CONF_STRING) {
            char **slot = field_ptr(dst, &KEYS[i]);
            *slot = ts_strdup(*slot);
        }
    }
}

/* Replace 'c' by 'fresh' (taking over its strings). */
static void conf_replace(Config *c, Config *fresh)
{
    conf_deinit(c);
    memcpy(c, fresh, sizeof(*c));
}

/* ---- loading ---- */

typedef struct LoadCtx {
    Config *c;        /* the copy being filled */
    const char *name; /* file name for messages */
    TsError *err;
    bool failed; /* the handler filled err (as opposed to the tokenizer) */
} LoadCtx;

/* Record a handler error "<name>:<line>: <item>: <what>" and stop parsing. */
static int load_fail(LoadCtx *lc, unsigned line, const char *item, const char *what)
{
    lc->failed = true;
    int rc = ts_error(lc->err, TS_ERR_PROTO, line, "%s:%u: %s: %s", lc->name, line, item, what);
    if (lc->err)
        lc->err->sys_errno = 0;
    return rc;
}

/* At most NAME_ECHO_BYTES of 's' as a printf "%.*s" length. */
static int echo_len(Slice s)
{
    return s.n > NAME_ECHO_BYTES ? NAME_ECHO_BYTES : (int)s.n;
}

static int load_handler(void *ctx, Slice section, Slice key, Slice value, unsigned line)
{
    LoadCtx *lc = ctx;
    char item[2 * NAME_ECHO_BYTES + 4];
    const char *sp = section.n ? (const char *)section.p : "";
    if (key.n == 0) {
        if (section_find(section))
            return TS_OK;
        snprintf(item, sizeof(item), "[%.*s]", echo_len(section), sp);
        return load_fail(lc, line, item, "unknown section");
    }
    if (section.n == 0) {
        snprintf(item, sizeof(item), "%.*s", echo_len(key), (const char *)key.p);
        return load_fail(lc, line, item, "key before any [section]");
    }
    snprintf(item, sizeof(item), "%.*s.%.*s", echo_len(section), sp, echo_len(key),
             (const char *)key.p);
    const ConfKey *k = key_find(section, key);
    if (!k)
        return load_fail(lc, line, item, "unknown key");
    char what[160];
    if (key_set(lc->c, k, value, what, sizeof(what)) != TS_OK)
        return load_fail(lc, line, item, what);
    return TS_OK;
}

int conf_load_text(Config *c, const char *name, Slice text, TsError *err)
{
    Config tmp;
    conf_copy(&tmp, c);
    TsError ini_err;
    memset(&ini_err, 0, sizeof(ini_err));
    LoadCtx lc = {&tmp, name ? name : "config", err, false};
    int rc = ini_parse(text, load_handler, &lc, &ini_err);
    if (rc == TS_OK) {
        conf_replace(c, &tmp);
        return TS_OK;
    }
    conf_deinit(&tmp);
    if (!lc.failed) {
        if (ini_err.pos == 0)
            ts_error(err, rc, 0, "%s: %s", lc.name, ini_err.msg);
        else
            ts_error(err, rc, ini_err.pos, "%s:%zu: %s", lc.name, ini_err.pos, ini_err.msg);
        if (err)
            err->sys_errno = 0;
    }
    return rc;
}

int conf_load_file(Config *c, const char *path, TsError *err)
{
    int rc = TS_OK;
    Buf text;
    buf_init(&text);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto io_error;
    for (;;) {
        if (text.n > INI_MAX_FILE_BYTES) {
            rc = ts_error(err, TS_ERR_LIMIT, 0, "%s: file too large (more than %d bytes)", path,
                          INI_MAX_FILE_BYTES);
            if (err)
                err->sys_errno = 0;
            goto out;
        }
        buf_reserve(&text, 65536);
        ssize_t got = read(fd, text.p + text.n, text.cap - text.n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto io_error;
        if (got == 0)
            break;
        text.n += (size_t)got;
    }
    rc = conf_load_text(c, path, slice_make(text.p, text.n), err);
    goto out;

io_error : {
    int e = errno;
    rc = ts_error(err, TS_ERR_IO, 0, "cannot read %s: %s", path, strerror(e));
    if (err)
        err->sys_errno = e;
}
out:
    if (fd >= 0)
        close(fd);
    buf_deinit(&text);
    return rc;
}

int conf_set(Config *c, const char *assignment, TsError *err)
{
    Slice all = slice_cstr(assignment ? assignment : "");
    const uint8_t *eq = memchr(all.p, '=', all.n);
    Slice name = trim(slice_make(all.p, eq ? (size_t)(eq - all.p) : all.n));
    const uint8_t *dot = name.n ? memchr(name.p, '.', name.n) : NULL;
    char shown[ECHO_BYTES + 4];
    if (!eq || !dot || dot == name.p || dot == name.p + name.n - 1) {
        echo_value(all, shown, sizeof(shown));
        return ts_error(err, TS_ERR_PROTO, 0, "--set: expected section.key=value, got '%s'", shown);
    }
    Slice section = slice_make(name.p, (size_t)(dot - name.p));
    Slice key = slice_make(dot + 1, name.n - section.n - 1);
    int sn = echo_len(section);
    int kn = echo_len(key);
    const char *sp = (const char *)section.p;
    const char *kp = (const char *)key.p;
    if (!section_find(section))
        return ts_error(err, TS_ERR_PROTO, 0, "--set: %.*s.%.*s: unknown section", sn, sp, kn, kp);
    const ConfKey *k = key_find(section, key);
    if (!k)
        return ts_error(err, TS_ERR_PROTO, 0, "--set: %.*s.%.*s: unknown key", sn, sp, kn, kp);

    Slice value = trim(slice_make(eq + 1, all.n - (size_t)(eq + 1 - all.p)));
    if (value.n && value.p[0] == '"') {
        if (value.n < 2 || value.p[value.n - 1] != '"')
            return ts_error(err, TS_ERR_PROTO, 0, "--set: %s.%s: unterminated quoted value",
                            k->section, k->key);
        value = slice_make(value.p + 1, value.n - 2);
    }
    Config tmp;
    conf_copy(&tmp, c);
    char what[160];
    if (key_set(&tmp, k, value, what, sizeof(what)) != TS_OK) {
        conf_deinit(&tmp);
        return ts_error(err, TS_ERR_PROTO, 0, "--set: %s.%s: %s", k->section, k->key, what);
    }
    conf_replace(c, &tmp);
    return TS_OK;
}

/* ---- writing ---- */

/* Append 'text' as "# " comment lines wrapped at 100 columns. */
static void write_comment(Buf *out, const char *text)
{
    const size_t width = 98;
    size_t col = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t wn = strcspn(p, " ");
        if (col > 0 && col + 1 + wn > width) {
            buf_puts(out, "\n");
            col = 0;
        }
        if (col == 0) {
            buf_puts(out, "# ");
        } else {
            buf_puts(out, " ");
            col++;
        }
        buf_append(out, p, wn);
        col += wn;
        p += wn;
    }
    if (col > 0)
        buf_puts(out, "\n");
}

void conf_write_default(Buf *out)
{
    write_comment(out, "cairn configuration, written by `cairnd --init`. Every key is shown "
                       "with its default value. Use it with `cairnd --config FILE`; `--set "
                       "section.key=value` overrides any key.");
    buf_puts(out, "#\n");
    write_comment(out, "Durations: 500ms, 1s, 5m, 2h, 30d, 1w, 1y (= 365d); a bare number is "
                       "seconds. Sizes: 4096, 64KB, 4MB, 1GB (KB = 1024 bytes).");
    write_comment(out, "Listeners: host:port, [::1]:port, :port (all IPv4 interfaces), or \"\" "
                       "to disable.");
    write_comment(out, "Comments are lines starting with # or ;. There are no comments after a "
                       "value.");

    for (size_t s = 0; s < N_SECTIONS; s++) {
        buf_puts(out, "\n");
        write_comment(out, SECTIONS[s].help);
        buf_printf(out, "[%s]\n", SECTIONS[s].name);
        for (size_t i = 0; i < N_KEYS; i++) {
            const ConfKey *k = &KEYS[i];
            if (strcmp(k->section, SECTIONS[s].name) != 0)
                continue;
            char extra[512];
            extra[0] = '\0';
            if (k->type == CONF_UINT || k->type == CONF_SIZE || k->type == CONF_DURATION) {
                char range[64];
                format_range(k, range, sizeof(range));
                if (range[0])
                    snprintf(extra, sizeof(extra), "%s Must be %s.", k->help, range);
                else
                    snprintf(extra, sizeof(extra), "%s", k->help);
            } else if (k->type == CONF_BOOL) {
                snprintf(extra, sizeof(extra), "%s One of: true, false.", k->help);
            } else if (k->type == CONF_ENUM) {
                size_t n = (size_t)snprintf(extra, sizeof(extra), "%s One of:", k->help);
                for (int w = 0; k->words[w] && n < sizeof(extra); w++)
                    n += (size_t)snprintf(extra + n, sizeof(extra) - n, "%s %s", w ? "," : "",
                                          k->words[w]);
                if (n < sizeof(extra))
                    snprintf(extra + n, sizeof(extra) - n, ".");
            } else {
                snprintf(extra, sizeof(extra), "%s", k->help);
            }
            buf_puts(out, "\n");
            write_comment(out, extra);
            /* The default text itself, so the file shows what the table says. */
            buf_printf(out, "%s = %s\n", k->key, k->def[0] ? k->def : "\"\"");
        }
    }
}

void conf_write_effective(const Config *c, Buf *out)
{
    buf_puts(out, "# effective configuration\n");
    for (size_t s = 0; s < N_SECTIONS; s++) {
        buf_printf(out, "[%s]\n", SECTIONS[s].name);
        for (size_t i = 0; i < N_KEYS; i++) {
            if (strcmp(KEYS[i].section, SECTIONS[s].name) != 0)
                continue;
            buf_printf(out, "%s = ", KEYS[i].key);
            key_write(c, &KEYS[i], out);
            buf_puts(out, "\n");
        }
    }
}
