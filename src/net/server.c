/*
 * Listeners, worker threads and connections for the ingest protocols (see net.h).
 *
 * Each worker owns: an EvLoop, one SO_REUSEPORT socket per enabled listener, its connections
 * (a doubly linked list), an Ingest, and a tick that flushes partial batches, enforces the idle
 * timeout and frees closed connections (freed only in the tick, so an epoll batch never sees a
 * freed handler).
 *
 * Balance: the kernel's SO_REUSEPORT hash often puts most of a few connections on one worker,
 * so the worker that accepts a TCP connection gives it to the worker with the fewest open TCP
 * connections (itself on a tie): the descriptor goes through that worker's hand-off queue and
 * eventfd, and the connection is created on the owning thread. UDP sockets stay per worker.
 *
 * A connection's receive buffer holds at most max_line_bytes + NET_READ_CHUNK bytes. Complete
 * lines are parsed in place. When ingest has no free batch, the connection is paused: its
 * EPOLLIN interest is dropped and it waits on the worker's paused list until the ingest wake fd
 * fires, then the buffered lines are parsed again from where parsing stopped.
 * UDP sockets use the same structure with one datagram in the buffer at a time; lines never span
 * datagrams.
 */
#include "net/net.h"
#include "net/protocols.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "core/version.h"
#include "ev/ev.h"
#include "ingest/ingest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define NET_READ_CHUNK (64 * 1024)
#define NET_BATCHES 8
#define NET_BATCH_POINTS 4096
#define NET_TICK_MS 100
#define NET_TX_MAX (256 * 1024) /* unsent reply bytes before a non-reading client is dropped */

typedef struct Worker Worker;

typedef struct Conn {
    EvHandler h;              /* must be first: the loop hands us &h */
    Worker *w;                /* owning worker */
    int listener;             /* NET_GRAPHITE_TCP ... */
    bool is_udp;              /* datagram socket (not owned by a connection list) */
    bool paused;              /* waiting for a free batch */
    bool closed;              /* closed, to be freed at the next tick */
    bool eof;                 /* peer closed its side: parse the rest, then close */
    bool closing;             /* send what is in pc.reply, then close */
    uint8_t *rx;              /* receive buffer, grown on demand up to rx_max */
    size_t rx_n;              /* bytes in rx */
    size_t rx_cap;            /* allocated bytes */
    size_t rx_max;            /* cap of the protocol (proto_rx_cap) */
    size_t tx_off;            /* bytes of pc.reply already sent */
    ProtoConn pc;             /* protocol state: reply buffer, pending points, sessions */
    int64_t last_active_ns;   /* monotonic time of the last read */
    char peer[64];            /* "ip:port" for logs */
    struct Conn *prev, *next; /* worker's open list, or its free list */
    struct Conn *next_paused; /* worker's paused list */
} Conn;

/* An accepted descriptor on its way to the worker that will own it. */
typedef struct Handoff {
    int fd;
    int kind;             /* NET_GRAPHITE_TCP ... */
    char peer[64];        /* "ip:port" */
    struct Handoff *next; /* queue link */
} Handoff;

typedef struct Listener {
    EvHandler h; /* first; fd is the listening socket */
    Worker *w;
    int kind; /* NET_GRAPHITE_TCP ... */
} Listener;

struct Worker {
    NetServer *srv;
    int index;
    EvLoop *loop;
    Ingest *in;
    EvHandler wake_h;            /* ingest wake eventfd */
    Listener tcp[NET_LISTENERS]; /* TCP listening sockets (fd -1 if none) */
    Conn *udp[NET_LISTENERS];    /* UDP sockets as pseudo-connections */
    Conn *conns;                 /* open TCP connections */
    Conn *dead;                  /* closed, freed at the next tick */
    Conn *paused;                /* waiting for a batch */
    pthread_t thr;
    ProtoCtx pctx;                  /* per-worker protocol scratch */
    _Atomic uint32_t n_tcp;         /* open TCP connections owned, plus hand-offs on their way */
    EvHandler hand_h;               /* eventfd written when a hand-off is queued */
    pthread_mutex_t hand_mu;        /* guards hand_head, hand_tail */
    Handoff *hand_head, *hand_tail; /* accepted descriptors handed to this worker */
};

struct NetServer {
    const Config *cfg;
    Engine *e;
    SeriesIndex *ix;
    int n_workers;
    Worker *workers;
    NetListenerStats stats[NET_LISTENERS];
    uint16_t ports[NET_LISTENERS];
    _Atomic uint64_t open_conns; /* across listeners, for net.max_connections */
    LogLimit bad_line_limit;     /* rate limit for bad-input log lines */
    const char *version;         /* for protocol replies (OpenTSDB version) */
};

static const char *const listener_names[NET_LISTENERS] = {
    "graphite_tcp", "graphite_udp", "pickle_tcp", "resp_tcp", "resp_udp", "opentsdb_tcp"};

/* ---- sockets ------------------------------------------------------------------------------ */

int net_listen_socket(const ConfListen *l, bool udp, bool shared, uint16_t *bound, TsError *err)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", l->port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(l->host[0] ? l->host : NULL, port, &hints, &res);
    if (g != 0)
        return ts_error(err, TS_ERR_IO, 0, "cannot resolve %s: %s", l->host, gai_strerror(g));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return ts_error(err, TS_ERR_IO, 0, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (shared)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (udp) {
        int rcv = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    }
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || (!udp && listen(fd, 1024) != 0)) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        return ts_error(err, TS_ERR_IO, 0, "cannot listen on %s:%u/%s: %s", l->host, l->port,
                        udp ? "udp" : "tcp", strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%u", host, port);
}

/* ---- connections -------------------------------------------------------------------------- */

static void conn_on_event(EvLoop *loop, EvHandler *h, uint32_t events);

static void conn_close(Conn *c)
{
    if (c->closed)
        return;
    Worker *w = c->w;
    c->closed = true;
    ev_del(w->loop, &c->h);
    close(c->h.fd);
    if (c->paused) {
        /* Leave it on the paused list; the resume pass skips closed connections. */
    }
    if (c->prev)
        c->prev->next = c->next;
    else if (w->conns == c)
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = w->dead;
    w->dead = c;
    atomic_fetch_sub(&w->srv->stats[c->listener].connections_open, 1);
    atomic_fetch_sub(&w->srv->open_conns, 1);
    if (!c->is_udp)
        atomic_fetch_sub(&w->n_tcp, 1);
}

static void conn_pause(Conn *c)
{
    if (c->paused)
        return;
    c->paused = true;
    ev_mod(c->w->loop, &c->h, 0);
    c->next_paused = c->w->paused;
    c->w->paused = c;
}

/*
 * Send what is queued in c->pc.reply without blocking; the rest waits for EPOLLOUT. A reply
 * that cannot drain within a cap closes the connection (a client that never reads).
 */
static void conn_flush_reply(Conn *c)
{
    Buf *r = &c->pc.reply;
    while (c->tx_off < r->n && !c->closed) {
        ssize_t k = c->is_udp ? (ssize_t)(r->n - c->tx_off) /* nothing is sent back on UDP */
                              : write(c->h.fd, r->p + c->tx_off, r->n - c->tx_off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (r->n - c->tx_off > NET_TX_MAX) {
                conn_close(c);
                return;
            }
            ev_mod(c->w->loop, &c->h, (c->paused ? 0 : EPOLLIN) | EPOLLOUT);
            return;
        }
        if (k <= 0) {
            conn_close(c);
            return;
        }
        c->tx_off += (size_t)k;
    }
    buf_clear(r);
    c->tx_off = 0;
    if (c->closing) {
        shutdown(c->h.fd, SHUT_RDWR);
        conn_close(c);
    }
}

/*
 * Hand the buffered bytes to the protocol handler. Returns false if the connection must close
 * now. Leaves an incomplete unit (or the unhandled rest, when paused) at the start of rx.
 */
static bool conn_process(Conn *c)
{
    Worker *w = c->w;
    NetServer *s = w->srv;
    size_t off = 0;
    bool final = c->eof || c->is_udp;
    w->pctx.peer = c->peer;
    ProtoResult r = proto_handle(&w->pctx, &c->pc, c->rx, c->rx_n, final, &off);
    if (r == PROTO_PAUSE)
        conn_pause(c);
    if (off > 0) {
        memmove(c->rx, c->rx + off, c->rx_n - off);
        c->rx_n -= off;
    }
    if (r == PROTO_CLOSE) {
        c->closing = true;
        conn_flush_reply(c);
        return !c->closed;
    }
    if (c->pc.reply.n)
        conn_flush_reply(c);
    bool too_long =
        r == PROTO_LINE_TOO_LONG || (r == PROTO_OK && !c->is_udp && c->rx_n >= c->rx_max);
    if (too_long) {
        atomic_fetch_add(&s->stats[c->listener].long_lines, 1);
        uint64_t sup;
        if (log_limit_allow(&s->bad_line_limit, 10, &sup))
            log_warn("%s: line or message from %s over its size cap (%zu bytes); closing the "
                     "connection (%llu similar messages suppressed)",
                     listener_names[c->listener], c->peer, c->rx_max, (unsigned long long)sup);
        if (c->is_udp) {
            c->rx_n = 0;
            return true;
        }
        return false;
    }
    if (c->is_udp && r != PROTO_PAUSE)
        c->rx_n = 0;
    return true;
}

/* Read what is available, parse it; close on EOF, error or protocol violation. */
static void conn_read(Conn *c)
{
    Worker *w = c->w;
    NetServer *s = w->srv;
    NetListenerStats *st = &s->stats[c->listener];
    for (int rounds = 0; rounds < 16 && !c->paused && !c->closed; rounds++) {
        if (c->is_udp && c->rx_n > 0)
            break;
        if (c->rx_n == c->rx_cap && c->rx_cap < c->rx_max) {
            c->rx_cap = c->rx_cap * 2 < c->rx_max ? c->rx_cap * 2 : c->rx_max;
            c->rx = ts_realloc(c->rx, c->rx_cap);
        }
        size_t room = c->rx_cap - c->rx_n;
        if (room == 0) {
            if (!conn_process(c))
                conn_close(c);
            break;
        }
        ssize_t k = c->is_udp ? recv(c->h.fd, c->rx + c->rx_n, room, 0)
                              : read(c->h.fd, c->rx + c->rx_n, room);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK && !c->is_udp)
                conn_close(c);
            break;
        }
        if (k == 0 && !c->is_udp) {
            c->eof = true;
            conn_process(c);
            if (!c->paused)
                conn_close(c);
            break;
        }
        c->last_active_ns = ts_mono_ns();
        c->rx_n += (size_t)k;
        atomic_fetch_add(&st->bytes, (uint64_t)k);
        if (c->is_udp)
            atomic_fetch_add(&st->datagrams, 1);
        if (!conn_process(c)) {
            conn_close(c);
            break;
        }
    }
    ingest_flush(w->in);
}

static void conn_on_event(EvLoop *loop, EvHandler *h, uint32_t events)
{
    Conn *c = (Conn *)h;
    if (c->closed)
        return;
    if (events & EPOLLOUT) {
        conn_flush_reply(c);
        if (!c->closed && !c->pc.reply.n)
            ev_mod(loop, &c->h, c->paused || c->closing ? 0 : EPOLLIN);
    }
    if (c->closed || c->paused || c->closing || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    conn_read(c);
}

static Conn *conn_new(Worker *w, int fd, int listener, bool udp)
{
    Conn *c = ts_calloc(1, sizeof(*c));
    c->w = w;
    c->listener = listener;
    c->is_udp = udp;
    c->h.fd = fd;
    c->h.fn = conn_on_event;
    c->h.ctx = c;
    c->rx_max = proto_rx_cap(w->srv->cfg, listener);
    c->rx_cap = c->rx_max < NET_READ_CHUNK ? c->rx_max : NET_READ_CHUNK;
    c->rx = ts_malloc(c->rx_cap);
    proto_conn_init(&c->pc, listener);
    c->last_active_ns = ts_mono_ns();
    return c;
}

static void conn_free(Conn *c)
{
    proto_conn_deinit(&c->pc);
    ts_free(c->rx);
    ts_free(c);
}

/*
 * Create the connection for an accepted descriptor on the worker that owns it (its thread).
 * The caller has counted it in open_conns and w->n_tcp; both are undone on failure.
 */
static void conn_register(Worker *w, int fd, int kind, const char *peer)
{
    NetServer *s = w->srv;
    NetListenerStats *st = &s->stats[kind];
    Conn *c = conn_new(w, fd, kind, false);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    if (ev_add(w->loop, &c->h, EPOLLIN) != TS_OK) {
        close(fd);
        conn_free(c);
        atomic_fetch_sub(&s->open_conns, 1);
        atomic_fetch_sub(&w->n_tcp, 1);
        return;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    atomic_fetch_add(&st->connections_total, 1);
    atomic_fetch_add(&st->connections_open, 1);
}

/* The worker with the fewest TCP connections; 'self' on a tie, else the lowest index. */
static Worker *least_loaded(Worker *self)
{
    NetServer *s = self->srv;
    Worker *best = self;
    uint32_t best_n = atomic_load(&self->n_tcp);
    for (int i = 0; i < s->n_workers; i++) {
        uint32_t n = atomic_load(&s->workers[i].n_tcp);
        if (n < best_n) {
            best = &s->workers[i];
            best_n = n;
        }
    }
    return best;
}

static void on_accept(EvLoop *loop, EvHandler *h, uint32_t events)
{
    Listener *l = (Listener *)h;
    Worker *w = l->w;
    NetServer *s = w->srv;
    NetListenerStats *st = &s->stats[l->kind];
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(h->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (atomic_fetch_add(&s->open_conns, 1) >= s->cfg->net.max_connections) {
            atomic_fetch_sub(&s->open_conns, 1);
            atomic_fetch_add(&st->connections_refused, 1);
            close(fd);
            continue;
        }
        char peer[64];
        format_peer(&ss, peer, sizeof(peer));
        Worker *to = least_loaded(w);
        atomic_fetch_add(&to->n_tcp, 1);
        if (to == w) {
            conn_register(w, fd, l->kind, peer);
            continue;
        }
        Handoff *ho = ts_malloc(sizeof(*ho));
        ho->fd = fd;
        ho->kind = l->kind;
        memcpy(ho->peer, peer, sizeof(peer));
        ho->next = NULL;
        pthread_mutex_lock(&to->hand_mu);
        if (to->hand_tail)
            to->hand_tail->next = ho;
        else
            to->hand_head = ho;
        to->hand_tail = ho;
        pthread_mutex_unlock(&to->hand_mu);
        uint64_t one = 1;
        ssize_t r = write(to->hand_h.fd, &one, sizeof(one));
        (void)r; /* the counter cannot overflow in practice; a failed write leaves it set */
    }
}

/* Connections handed to this worker by another one's accept: create them here. */
static void on_handoff(EvLoop *loop, EvHandler *h, uint32_t events)
{
    Worker *w = h->ctx;
    uint64_t v;
    ssize_t r = read(h->fd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&w->hand_mu);
    Handoff *list = w->hand_head;
    w->hand_head = w->hand_tail = NULL;
    pthread_mutex_unlock(&w->hand_mu);
    while (list) {
        Handoff *next = list->next;
        conn_register(w, list->fd, list->kind, list->peer);
        ts_free(list);
        list = next;
    }
}

/* A batch came back: resume paused connections (they re-parse their buffers first). */
static void on_wake(EvLoop *loop, EvHandler *h, uint32_t events)
{
    Worker *w = h->ctx;
    ingest_drain_wake(w->in);
    Conn *list = w->paused;
    w->paused = NULL;
    while (list) {
        Conn *c = list;
        list = c->next_paused;
        c->next_paused = NULL;
        if (c->closed)
            continue;
        c->paused = false;
        if (!conn_process(c)) {
            conn_close(c);
            continue;
        }
        if (c->paused)
            continue;
        if (c->eof) {
            conn_close(c);
            continue;
        }
        ev_mod(loop, &c->h, EPOLLIN | (c->pc.reply.n ? EPOLLOUT : 0));
    }
    ingest_flush(w->in);
}

static void on_tick(EvLoop *loop, void *ctx)
{
    Worker *w = ctx;
    NetServer *s = w->srv;
    ingest_flush(w->in);
    if (s->cfg->net.idle_timeout_ns > 0) {
        int64_t now = ts_mono_ns();
        Conn *c = w->conns;
        while (c) {
            Conn *next = c->next;
            if (!c->paused && now - c->last_active_ns > s->cfg->net.idle_timeout_ns) {
                atomic_fetch_add(&s->stats[c->listener].idle_closed, 1);
                conn_close(c);
            }
            c = next;
        }
    }
    /* Free closed connections that are not on the paused list. */
    bool any_paused_dead = false;
    for (Conn *p = w->paused; p; p = p->next_paused)
        if (p->closed)
            any_paused_dead = true;
    if (!any_paused_dead) {
        while (w->dead) {
            Conn *next = w->dead->next;
            conn_free(w->dead);
            w->dead = next;
        }
    }
    if (w->paused && ingest_ready(w->in)) {
        /* A batch is free although no wake arrived (it came back before we paused). */
        EvHandler fake = {.ctx = w};
        on_wake(loop, &fake, 0);
    }
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    ev_run(w->loop);
    return NULL;
}

/* ---- server ------------------------------------------------------------------------------- */

static const ConfListen *listener_conf(const Config *cfg, int kind)
{
    switch (kind) {
    case NET_GRAPHITE_TCP:
        return &cfg->graphite.plaintext;
    case NET_GRAPHITE_UDP:
        return &cfg->graphite.udp;
    case NET_PICKLE_TCP:
        return &cfg->graphite.pickle;
    case NET_RESP_TCP:
        return &cfg->resp.tcp;
    case NET_RESP_UDP:
        return &cfg->resp.udp;
    case NET_OPENTSDB_TCP:
        return &cfg->opentsdb.tcp;
    default:
        return NULL;
    }
}

static bool listener_is_udp(int kind)
{
    return kind == NET_GRAPHITE_UDP || kind == NET_RESP_UDP;
}

static void worker_deinit(Worker *w)
{
    if (!w->srv)
        return; /* never initialised (net_start failed before reaching it) */
    for (int k = 0; k < NET_LISTENERS; k++) {
        if (w->tcp[k].h.fd >= 0)
            close(w->tcp[k].h.fd);
        if (w->udp[k]) {
            close(w->udp[k]->h.fd);
            conn_free(w->udp[k]);
        }
    }
    while (w->conns) {
        Conn *c = w->conns;
        w->conns = c->next;
        close(c->h.fd);
        conn_free(c);
    }
    while (w->dead) {
        Conn *c = w->dead;
        w->dead = c->next;
        conn_free(c);
    }
    while (w->hand_head) {
        Handoff *ho = w->hand_head;
        w->hand_head = ho->next;
        close(ho->fd);
        ts_free(ho);
    }
    if (w->hand_h.fd >= 0)
        close(w->hand_h.fd);
    pthread_mutex_destroy(&w->hand_mu);
    proto_ctx_deinit(&w->pctx);
    ev_free(w->loop);
    ingest_free(w->in);
}

int net_start(const Config *cfg, Engine *e, SeriesIndex *ix, NetServer **out, TsError *err)
{
    NetServer *s = ts_calloc(1, sizeof(*s));
    s->cfg = cfg;
    s->version = CAIRN_VERSION;
    s->e = e;
    s->ix = ix;
    for (int k = 0; k < NET_LISTENERS; k++)
        s->stats[k].name = listener_names[k];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s->n_workers = cfg->net.threads ? (int)cfg->net.threads : (ncpu > 0 ? (int)ncpu : 1);
    s->workers = ts_calloc((size_t)s->n_workers, sizeof(Worker));
    int rc = TS_OK;
    for (int i = 0; i < s->n_workers && rc == TS_OK; i++) {
        Worker *w = &s->workers[i];
        w->srv = s;
        w->index = i;
        for (int k = 0; k < NET_LISTENERS; k++)
            w->tcp[k].h.fd = -1;
        pthread_mutex_init(&w->hand_mu, NULL);
        w->hand_h.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->hand_h.fn = on_handoff;
        w->hand_h.ctx = w;
        w->loop = ev_new();
        w->in = ingest_new(e, ix, NET_BATCHES, NET_BATCH_POINTS);
        proto_ctx_init(&w->pctx, cfg, ix, w->in, s->stats, &s->bad_line_limit, s->version);
        if (!w->loop || w->hand_h.fd < 0) {
            rc = ts_error(err, TS_ERR_IO, 0, "epoll/eventfd: %s", strerror(errno));
            break;
        }
        ev_add(w->loop, &w->hand_h, EPOLLIN);
        w->wake_h.fd = ingest_wake_fd(w->in);
        w->wake_h.fn = on_wake;
        w->wake_h.ctx = w;
        ev_add(w->loop, &w->wake_h, EPOLLIN);
        ev_set_tick(w->loop, NET_TICK_MS, on_tick, w);
        for (int k = 0; k < NET_LISTENERS && rc == TS_OK; k++) {
            const ConfListen *lc = listener_conf(cfg, k);
            if (!lc || !lc->enabled)
                continue;
            ConfListen bind_to = *lc;
            if (i > 0 && s->ports[k])
                bind_to.port = s->ports[k]; /* port 0: every worker shares the first one's port */
            uint16_t port = 0;
            int fd = net_listen_socket(&bind_to, listener_is_udp(k), true, &port, err);
            if (fd < 0) {
                rc = TS_ERR_IO;
                break;
            }
            s->ports[k] = port;
            if (listener_is_udp(k)) {
                Conn *c = conn_new(w, fd, k, true);
                snprintf(c->peer, sizeof(c->peer), "udp");
                w->udp[k] = c;
                ev_add(w->loop, &c->h, EPOLLIN);
            } else {
                w->tcp[k].h.fd = fd;
                w->tcp[k].h.fn = on_accept;
                w->tcp[k].w = w;
                w->tcp[k].kind = k;
                ev_add(w->loop, &w->tcp[k].h, EPOLLIN);
            }
        }
    }
    if (rc != TS_OK) {
        for (int i = 0; i < s->n_workers; i++)
            worker_deinit(&s->workers[i]);
        ts_free(s->workers);
        ts_free(s);
        return rc;
    }
    for (int i = 0; i < s->n_workers; i++) {
        Worker *w = &s->workers[i];
        if (pthread_create(&w->thr, NULL, worker_main, w) != 0) {
            /* Threads already started are stopped by net_stop; report the failure. */
            s->n_workers = i;
            net_stop(s);
            net_free(s);
            return ts_error(err, TS_ERR_IO, 0, "cannot start network thread");
        }
    }
    for (int k = 0; k < NET_LISTENERS; k++)
        if (s->ports[k])
            log_info("listening: %s on %s:%u", listener_names[k], listener_conf(cfg, k)->host,
                     s->ports[k]);
    *out = s;
    return TS_OK;
}

void net_stop(NetServer *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_workers; i++)
        ev_stop(s->workers[i].loop);
    for (int i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i].thr, NULL);
    for (int i = 0; i < s->n_workers; i++)
        ingest_flush(s->workers[i].in);
}

void net_free(NetServer *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_workers; i++)
        worker_deinit(&s->workers[i]);
    ts_free(s->workers);
    ts_free(s);
}

const NetListenerStats *net_stats(const NetServer *s)
{
    return s->stats;
}

uint16_t net_bound_port(const NetServer *s, int listener)
{
    return listener >= 0 && listener < NET_LISTENERS ? s->ports[listener] : 0;
}
