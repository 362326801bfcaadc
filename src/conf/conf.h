/*
 * cairn configuration: every key, its type, default and help live in one schema table in
 * conf.c, which drives defaults, parsing, validation, `cairnd --init` and the start-up dump.
 * Adding a key is one field here plus one row there.
 *
 * A Config is embedded (conf_init_defaults/conf_deinit). Its string fields are owned by the
 * Config, NUL-terminated, never NULL, and valid until the next conf_load_*, conf_set or
 * conf_deinit on it. Units are in the field names: *_ns durations, *_bytes sizes.
 *
 * Value syntax (see the conf_parse_* functions): durations "500ms", "1s", "5m", "2h", "30d";
 * sizes "4096", "64KB" (KB = KiB = 1024); listeners "host:port", "[::1]:port", ":port" (all
 * IPv4 interfaces) or "" (disabled).
 */
#ifndef CAIRN_CONF_CONF_H
#define CAIRN_CONF_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"

/* A listener address. Port 0 asks the kernel for any free port (tests use it). */
typedef struct ConfListen {
    bool enabled;   /* false when the value was "" */
    char host[256]; /* numeric address or host name, without brackets; "" when disabled */
    uint16_t port;
} ConfListen;

/* Values of resp.late_writes. */
typedef enum ConfLateWrites { CONF_LATE_ACCEPT = 0, CONF_LATE_REJECT = 1 } ConfLateWrites;

typedef struct Config {
    struct {
        char *path;                      /* data directory */
        int64_t sync_interval_ns;        /* WAL fsync delay after a write; 0 = before every ack */
        int64_t retention_ns;            /* drop data older than this; 0 = keep forever */
        uint64_t max_series;             /* new series past this are rejected and counted */
        uint64_t wal_segment_size_bytes; /* start a new WAL file past this */
        uint64_t memtable_size_bytes;    /* flush in-memory data to a segment past this */
        int64_t flush_interval_ns;       /* ... and at least this often */
        uint64_t compact_segments;       /* merge segments when more than this many (>= 2) */
    } storage;
    struct {
        ConfListen plaintext;    /* TCP line protocol */
        ConfListen udp;          /* UDP line protocol */
        ConfListen pickle;       /* TCP pickle protocol */
        uint64_t max_line_bytes; /* longer TCP lines close the connection (carbon does) */
        uint64_t pickle_max_bytes; /* larger pickle frames close the connection */
    } graphite;
    struct {
        ConfListen tcp; /* Akumuli RESP over TCP */
        ConfListen udp; /* Akumuli RESP over UDP */
        int late_writes; /* ConfLateWrites */
    } resp;
    struct {
        ConfListen tcp; /* OpenTSDB telnet protocol */
    } opentsdb;
    struct {
        uint64_t threads;         /* event-loop threads; 0 = one per CPU core */
        uint64_t max_connections; /* open client connections, all listeners together */
        int64_t idle_timeout_ns;  /* close idle client connections after this; 0 = never */
        uint64_t max_name_bytes;  /* longest series name */
        uint64_t max_tags;        /* most tags in one series name (<= SERIES_KEY_TAGS_MAX) */
    } net;
    struct {
        ConfListen listen;
        uint64_t threads;
        uint64_t max_body_bytes;
    } http;
    struct {
        uint64_t max_points; /* most points one query may read; more is an error */
    } query;
    struct {
        char *url;                  /* amqp://user:pass@host:port/vhost; "" = no AMQP consumer */
        char *exchange;             /* topic exchange, declared durable if absent */
        char *queue;                /* durable queue, declared if absent */
        char *binding_key;          /* the queue is bound to the exchange with this key */
        bool metric_name_in_body;   /* true: "name value ts" lines; false: name = routing key */
        uint64_t prefetch;          /* unacknowledged messages the broker may send ahead */
        int64_t heartbeat_ns;       /* AMQP heartbeat (whole seconds); 0 = none */
        uint64_t max_message_bytes; /* larger message bodies are bad messages (acked, counted) */
    } amqp;
    struct {
        int level;  /* LogLevel from core/log.h: 0 debug, 1 info, 2 warn, 3 error */
        char *file; /* "" = stderr */
    } log;
} Config;

/* Set every key of 'c' to its default. 'c' is treated as uninitialised (nothing is freed). */
void conf_init_defaults(Config *c);

/* Free the strings of 'c'. It must be re-initialised with conf_init_defaults before reuse. */
void conf_deinit(Config *c);

/*
 * Apply INI 'text' over the current values of 'c'. 'name' (borrowed) is the file name used in
 * messages. All or nothing: on error 'c' is unchanged.
 *
 * Returns TS_OK; TS_ERR_PROTO with err->msg "<name>:<line>: <section>.<key>: <what is wrong>"
 * (e.g. "cairn.ini:3: storage.bogus: unknown key", "cairn.ini:9: [bogus]: unknown section",
 * or "cairn.ini:4: expected 'key = value' or '[section]'" for syntax errors); or TS_ERR_LIMIT
 * for an over-long line or text. err->pos is the line number. 'text' is borrowed.
 */
int conf_load_text(Config *c, const char *name, Slice text, TsError *err);

/*
 * Read the file at 'path' and apply it with conf_load_text (messages name 'path' as given).
 * Returns conf_load_text's codes, or TS_ERR_IO with "cannot read <path>: <strerror>" and
 * err->sys_errno set. On error 'c' is unchanged.
 */
int conf_load_file(Config *c, const char *path, TsError *err);

/*
 * Apply one "section.key=value" assignment (from --set). Blanks around the key and value are
 * trimmed and one pair of surrounding double quotes is removed from the value. Returns TS_OK or
 * TS_ERR_PROTO with "--set: section.key: what is wrong". On error 'c' is unchanged.
 */
int conf_set(Config *c, const char *assignment, TsError *err);

/*
 * Append the commented default configuration (what `cairnd --init` prints) to 'out': every key
 * with its default and help, grouped by section. Loading it gives exactly the defaults.
 */
void conf_write_default(Buf *out);

/* Append the values of 'c' as INI to 'out' (for the start-up log). It loads back to 'c'. */
void conf_write_effective(const Config *c, Buf *out);

/*
 * Units. All pure; none accepts blanks, signs or fractions.
 *
 * conf_parse_duration_ns: digits plus an optional unit, case-insensitive: ns, us, ms, s (or
 * sec), m (or min), h, d, w, y (= 365d); no unit means seconds. "0" is zero.
 * conf_parse_size_bytes: digits plus an optional unit, case-insensitive: B, K/KB/KiB (1024),
 * M/MB/MiB, G/GB/GiB, T/TB/TiB.
 * conf_parse_bool: true/false, yes/no, on/off, 1/0, case-insensitive (amqp.metric_name_in_body).
 * conf_parse_listen: "" (disabled), "host:port", "[v6addr]:port", ":port" (host 0.0.0.0) or a
 * bare "port" (same); port 0..65535; host at most 255 bytes of [A-Za-z0-9.-_] (plus ':' and
 * '%' inside brackets).
 * Each returns TS_OK, TS_ERR_PROTO for bad syntax, or (duration, size) TS_ERR_LIMIT when the
 * number does not fit. '*out' is written only on TS_OK.
 */
int conf_parse_duration_ns(Slice s, int64_t *out_ns);
int conf_parse_size_bytes(Slice s, uint64_t *out);
int conf_parse_bool(Slice s, bool *out);
int conf_parse_listen(Slice s, ConfListen *out);

#endif
