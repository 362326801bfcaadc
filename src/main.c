/*
 * cairnd: command line, configuration, start-up and shutdown order. Nothing else lives here.
 *
 * Start: config (defaults < --config file < --data < --set, in that order) -> logging -> series
 * index + storage engine (recovery) -> ingest listeners -> AMQP consumer -> HTTP. Stop on
 * SIGINT/SIGTERM in the reverse order: listeners stop reading and hand over their last batches,
 * the AMQP consumer acknowledges what is durable and disconnects, HTTP finishes its requests,
 * the engine stores and flushes everything and fsyncs; exit 0. SIGHUP reopens the log.
 */
#include "amqp/amqp_source.h"
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "core/version.h"
#include "http/http.h"
#include "index/series_index.h"
#include "net/net.h"
#include "storage/engine.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static const char usage[] =
    "usage: cairnd [options]\n"
    "\n"
    "cairn time-series server. With no options it runs with built-in defaults and keeps its data\n"
    "in ./data.\n"
    "\n"
    "  --config FILE        read an INI configuration file\n"
    "  --data DIR           data directory (same as --set storage.path=DIR)\n"
    "  --set SECTION.KEY=V  override one configuration key (repeatable)\n"
    "  --init               print a commented default configuration and exit\n"
    "  --version            print the version and exit\n"
    "  --help               print this help and exit\n";

static int fail_config(const TsError *err)
{
    fprintf(stderr, "cairnd: %s\n", err->msg);
    return 2;
}

/* Parse argv into cfg; returns -1 to continue, or an exit code. */
static int parse_args(int argc, char **argv, Config *cfg)
{
    const char *config_path = NULL, *data_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_arg = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("cairnd %s\n", CAIRN_VERSION);
            return 0;
        } else if (strcmp(a, "--init") == 0) {
            Buf b;
            buf_init(&b);
            conf_write_default(&b);
            fwrite(b.p, 1, b.n, stdout);
            buf_deinit(&b);
            return 0;
        } else if (strcmp(a, "--config") == 0 && has_arg) {
            config_path = argv[++i];
        } else if (strcmp(a, "--data") == 0 && has_arg) {
            data_dir = argv[++i];
        } else if (strcmp(a, "--set") == 0 && has_arg) {
            i++; /* applied below, after the file */
        } else {
            fprintf(stderr, "cairnd: unknown or incomplete option '%s'\n\n%s", a, usage);
            return 2;
        }
    }
    TsError err = {0};
    if (config_path && conf_load_file(cfg, config_path, &err) != TS_OK)
        return fail_config(&err);
    if (data_dir) {
        Buf b;
        buf_init(&b);
        buf_printf(&b, "storage.path=%s", data_dir);
        buf_put_u8(&b, 0);
        int rc = conf_set(cfg, (const char *)b.p, &err);
        buf_deinit(&b);
        if (rc != TS_OK)
            return fail_config(&err);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            if (conf_set(cfg, argv[++i], &err) != TS_OK)
                return fail_config(&err);
        } else if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "--data") == 0) &&
                   i + 1 < argc) {
            i++;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    Config cfg;
    conf_init_defaults(&cfg);
    int code = parse_args(argc, argv, &cfg);
    if (code >= 0) {
        conf_deinit(&cfg);
        return code;
    }
    log_set_level((LogLevel)cfg.log.level);
    if (log_open(cfg.log.file) != TS_OK) {
        fprintf(stderr, "cairnd: cannot open log file %s\n", cfg.log.file);
        conf_deinit(&cfg);
        return 1;
    }

    /* Every thread inherits this mask; the main thread alone takes signals with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info("cairnd %s starting, data in %s", CAIRN_VERSION, cfg.storage.path);
    Buf eff;
    buf_init(&eff);
    conf_write_effective(&cfg, &eff);
    for (size_t at = 0; at < eff.n;) {
        const uint8_t *nl = memchr(eff.p + at, '\n', eff.n - at);
        size_t len = nl ? (size_t)(nl - eff.p) - at : eff.n - at;
        /* The AMQP password is not logged: "amqp://user:secret@host" shows "amqp://user:***@". */
        const char *line = (const char *)eff.p + at;
        const char *scheme = memmem(line, len, "amqp://", 7);
        const char *at_sign = scheme ? memchr(scheme, '@', len - (size_t)(scheme - line)) : NULL;
        const char *colon = at_sign ? memchr(scheme + 7, ':', (size_t)(at_sign - scheme - 7)) : NULL;
        if (colon)
            log_debug("config: %.*s***%.*s", (int)(colon + 1 - line), line,
                      (int)(len - (size_t)(at_sign - line)), at_sign);
        else if (len)
            log_debug("config: %.*s", (int)len, line);
        at += len + 1;
    }
    buf_deinit(&eff);
    int64_t started_ns = ts_now_ns();
    SeriesIndex *ix = series_index_new(cfg.storage.max_series);
    EngineOptions eo = {
        .dir = cfg.storage.path,
        .sync_interval_ns = cfg.storage.sync_interval_ns,
        .retention_ns = cfg.storage.retention_ns,
        .wal_segment_bytes = cfg.storage.wal_segment_size_bytes,
        .memtable_bytes = cfg.storage.memtable_size_bytes,
        .flush_interval_ns = cfg.storage.flush_interval_ns,
        .compact_segments = (uint32_t)cfg.storage.compact_segments,
        .max_points_per_query = cfg.query.max_points,
    };
    Engine *engine = NULL;
    NetServer *net = NULL;
    AmqpSource *amqp = NULL;
    HttpServer *http = NULL;
    TsError err = {0};
    int rc = engine_open(&eo, ix, &engine, &err);
    if (rc != TS_OK) {
        log_error("cannot open storage: %s", err.msg);
        series_index_free(ix);
        conf_deinit(&cfg);
        return 1;
    }
    log_info("storage ready: %llu series", (unsigned long long)series_index_count(ix));
    rc = net_start(&cfg, engine, ix, &net, &err);
    if (rc == TS_OK)
        rc = amqp_source_start(&cfg, engine, ix, &amqp, &err);
    if (rc == TS_OK && cfg.http.listen.enabled) {
        HttpDeps deps = {&cfg, engine, ix, net, started_ns, amqp_source_stats(amqp)};
        rc = http_start(&deps, &http, &err);
    }
    if (rc != TS_OK) {
        log_error("%s", err.msg);
        net_stop(net);
        amqp_source_stop(amqp);
        engine_close(engine);
        net_free(net);
        amqp_source_free(amqp);
        series_index_free(ix);
        conf_deinit(&cfg);
        return 1;
    }
    log_info("cairnd ready");

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_reopen();
            log_info("SIGHUP: log reopened");
            continue;
        }
        log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    net_stop(net);
    amqp_source_stop(amqp);
    http_stop(http);
    engine_close(engine);
    net_free(net);
    amqp_source_free(amqp);
    series_index_free(ix);
    log_info("stopped cleanly");
    conf_deinit(&cfg);
    return 0;
}
