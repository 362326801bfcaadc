/*
 * amqp_pub: a test publisher that loses nothing. It publishes N persistent messages of
 * Graphite points to an exchange with publisher confirms, and republishes every message the
 * broker has not confirmed after a lost connection (a broker restart), so every message ends up
 * in the broker at least once. Duplicates are harmless to cairn (same series and timestamp).
 *
 *   amqp_pub --url amqp://guest:guest@127.0.0.1:5672 --exchange graphite --name test.m
 *            --count N [--lines L] [--body-names] [--start-ts T] [--interval-us U]
 *            [--window W] [--timeout S]
 *
 * Message i (0-based) carries points k = i*L .. i*L+L-1, each with timestamp T+k and value k.
 * Without --body-names the routing key is the metric name and each line is "value timestamp"
 * (carbon's default); with it the routing key is the name too, but each line is
 * "name value timestamp". Prints "published N messages, P points in S s: M msg/s, Q points/s"
 * and exits 0 once every message is confirmed; exits 1 after --timeout seconds (default 60).
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHANNEL 1

typedef struct Opts {
    const char *url, *exchange, *name;
    uint64_t count, lines, start_ts, interval_us, window, timeout_s;
    bool body_names;
} Opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (!s[0] || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

static bool reply_ok(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        fprintf(stderr, "amqp_pub: %s: %s\n", what, amqp_error_string2(r.library_error));
    else
        fprintf(stderr, "amqp_pub: %s: broker error\n", what);
    return false;
}

/* Connect, open channel 1, declare the exchange, enable confirms; NULL on failure. */
static amqp_connection_state_t pub_connect(struct amqp_connection_info *ci, const Opts *o)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(c);
    struct timeval tv = {5, 0};
    if (!sock || amqp_socket_open_noblock(sock, ci->host, ci->port, &tv) != AMQP_STATUS_OK)
        goto fail;
    amqp_set_rpc_timeout(c, &tv);
    if (!reply_ok(
            amqp_login(c, ci->vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci->user, ci->password),
            "login"))
        goto fail;
    amqp_channel_open(c, CHANNEL);
    if (!reply_ok(amqp_get_rpc_reply(c), "channel.open"))
        goto fail;
    amqp_exchange_declare(c, CHANNEL, amqp_cstring_bytes(o->exchange), amqp_cstring_bytes("topic"),
                          0, 1, 0, 0, amqp_empty_table);
    if (!reply_ok(amqp_get_rpc_reply(c), "exchange.declare"))
        goto fail;
    amqp_confirm_select(c, CHANNEL);
    if (!reply_ok(amqp_get_rpc_reply(c), "confirm.select"))
        goto fail;
    return c;
fail:
    amqp_destroy_connection(c);
    return NULL;
}

/* The body of message i into buf; returns its length. */
static size_t make_body(const Opts *o, uint64_t i, char *buf, size_t cap)
{
    size_t n = 0;
    for (uint64_t j = 0; j < o->lines; j++) {
        uint64_t k = i * o->lines + j;
        int w;
        if (o->body_names)
            w = snprintf(buf + n, cap - n, "%s %llu %llu\n", o->name, (unsigned long long)k,
                         (unsigned long long)(o->start_ts + k));
        else
            w = snprintf(buf + n, cap - n, "%llu %llu\n", (unsigned long long)k,
                         (unsigned long long)(o->start_ts + k));
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return n;
}

int main(int argc, char **argv)
{
    Opts o = {.url = "amqp://guest:guest@127.0.0.1:5672",
              .exchange = "graphite",
              .name = "amqp.test",
              .count = 1000,
              .lines = 1,
              .start_ts = 1700000000,
              .interval_us = 0,
              .window = 1000,
              .timeout_s = 60,
              .body_names = false};
    for (int a = 1; a < argc; a++) {
        const char *k = argv[a];
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        bool ok = true;
        if (strcmp(k, "--body-names") == 0) {
            o.body_names = true;
            continue;
        }
        if (!v) {
            ok = false;
        } else if (strcmp(k, "--url") == 0) {
            o.url = v;
        } else if (strcmp(k, "--exchange") == 0) {
            o.exchange = v;
        } else if (strcmp(k, "--name") == 0) {
            o.name = v;
        } else if (strcmp(k, "--count") == 0) {
            ok = parse_u64(v, &o.count);
        } else if (strcmp(k, "--lines") == 0) {
            ok = parse_u64(v, &o.lines) && o.lines > 0 && o.lines <= 100000;
        } else if (strcmp(k, "--start-ts") == 0) {
            ok = parse_u64(v, &o.start_ts);
        } else if (strcmp(k, "--interval-us") == 0) {
            ok = parse_u64(v, &o.interval_us);
        } else if (strcmp(k, "--window") == 0) {
            ok = parse_u64(v, &o.window) && o.window > 0;
        } else if (strcmp(k, "--timeout") == 0) {
            ok = parse_u64(v, &o.timeout_s);
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr,
                    "amqp_pub: bad or unknown option %s (see the comment in "
                    "tests/tools/amqp_pub.c)\n",
                    k);
            return 2;
        }
        a++;
    }
    char *url = strdup(o.url);
    struct amqp_connection_info ci;
    amqp_default_connection_info(&ci);
    if (!url || amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
        fprintf(stderr, "amqp_pub: bad url %s\n", o.url);
        return 2;
    }
    size_t cap = (size_t)o.lines * (strlen(o.name) + 64) + 1;
    char *body = malloc(cap);
    bool *confirmed = calloc(o.count ? o.count : 1, sizeof(bool));
    uint64_t *seq_msg = calloc(o.count ? o.count : 1, sizeof(uint64_t)); /* seq-1 -> message */
    if (!body || !confirmed || !seq_msg)
        return 1;

    amqp_basic_properties_t props;
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.delivery_mode = 2; /* persistent */
    props.content_type = amqp_cstring_bytes("text/plain");

    double t0 = now_s();
    double deadline = t0 + (double)o.timeout_s;
    uint64_t done = 0;  /* confirmed messages */
    uint64_t first = 0; /* no message below this is unconfirmed */
    uint64_t reconnects = 0;
    amqp_connection_state_t c = NULL;
    uint64_t next = 0;  /* next message to publish on this channel */
    uint64_t seq = 0;   /* publishes on this channel */
    uint64_t acked = 0; /* highest sequence number confirmed on this channel (multiple) */
    while (done < o.count) {
        if (now_s() > deadline) {
            fprintf(stderr, "amqp_pub: timeout: %llu of %llu messages confirmed\n",
                    (unsigned long long)done, (unsigned long long)o.count);
            return 1;
        }
        if (!c) {
            c = pub_connect(&ci, &o);
            if (!c) {
                nap_us(200000);
                continue;
            }
            while (first < o.count && confirmed[first])
                first++;
            next = first;
            seq = 0;
            acked = 0;
        }
        bool broken = false;
        /* Publish while the window has room. */
        while (next < o.count && seq - acked < o.window) {
            if (confirmed[next]) {
                next++;
                continue;
            }
            char rk[256];
            snprintf(rk, sizeof(rk), "%s", o.name);
            size_t n = make_body(&o, next, body, cap);
            amqp_bytes_t b = {n, body};
            if (amqp_basic_publish(c, CHANNEL, amqp_cstring_bytes(o.exchange),
                                   amqp_cstring_bytes(rk), 0, 0, &props, b) != AMQP_STATUS_OK) {
                broken = true;
                break;
            }
            seq_msg[seq++] = next++;
            if (o.interval_us)
                nap_us(o.interval_us);
            if (o.interval_us)
                break; /* paced: read confirms between messages */
        }
        /* Read confirms. */
        while (!broken) {
            amqp_frame_t f;
            struct timeval tv = {0, (next < o.count && seq - acked < o.window) ? 0 : 100000};
            int st = amqp_simple_wait_frame_noblock(c, &f, &tv);
            if (st == AMQP_STATUS_TIMEOUT)
                break;
            if (st != AMQP_STATUS_OK) {
                broken = true;
                break;
            }
            if (f.frame_type != AMQP_FRAME_METHOD)
                continue;
            if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
                const amqp_basic_ack_t *ack = f.payload.method.decoded;
                uint64_t lo = ack->multiple ? acked + 1 : ack->delivery_tag;
                for (uint64_t s = lo; s <= ack->delivery_tag && s <= seq; s++) {
                    if (!confirmed[seq_msg[s - 1]]) {
                        confirmed[seq_msg[s - 1]] = true;
                        done++;
                    }
                }
                if (ack->multiple && ack->delivery_tag > acked)
                    acked = ack->delivery_tag;
                else if (ack->delivery_tag == acked + 1)
                    acked++;
            } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD ||
                       f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                       f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
                broken = true; /* republish what is unconfirmed on a new connection */
            }
            amqp_maybe_release_buffers(c);
        }
        if (broken) {
            amqp_destroy_connection(c);
            c = NULL;
            reconnects++;
            nap_us(200000);
        }
    }
    double secs = now_s() - t0;
    if (c) {
        amqp_channel_close(c, CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(c, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(c);
    }
    printf("published %llu messages, %llu points in %.3f s: %.0f msg/s, %.0f points/s "
           "(%llu reconnects)\n",
           (unsigned long long)o.count, (unsigned long long)(o.count * o.lines), secs,
           (double)o.count / secs, (double)(o.count * o.lines) / secs,
           (unsigned long long)reconnects);
    free(body);
    free(confirmed);
    free(seq_msg);
    free(url);
    return 0;
}
