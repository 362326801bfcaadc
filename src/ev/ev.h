/*
 * EvLoop: a small epoll event loop, one per ingest thread.
 *
 * Handlers are registered per file descriptor with a callback and a context pointer; the loop
 * owns neither. A periodic tick (for idle timeouts, batch flushes) and a thread-safe stop are
 * built in. Level-triggered, so a handler that stops reading early is called again.
 */
#ifndef CAIRN_EV_EV_H
#define CAIRN_EV_EV_H

#include <stdint.h>
#include <sys/epoll.h>

typedef struct EvLoop EvLoop;
typedef struct EvHandler EvHandler;

/* Called with the ready events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP). */
typedef void (*EvFn)(EvLoop *loop, EvHandler *h, uint32_t events);

/* Embed one per watched fd; the loop keeps a pointer to it until ev_del. */
struct EvHandler {
    int fd;          /* watched descriptor */
    uint32_t events; /* current interest set */
    EvFn fn;         /* callback */
    void *ctx;       /* owner's context */
};

/* New loop; caller owns; free with ev_free. Returns NULL and sets errno on failure. */
EvLoop *ev_new(void);
void ev_free(EvLoop *loop);
/* Start watching h->fd for 'events'. h must stay valid until ev_del. Returns TsStatus. */
int ev_add(EvLoop *loop, EvHandler *h, uint32_t events);
/* Change the interest set (e.g. pause reading with 0). */
int ev_mod(EvLoop *loop, EvHandler *h, uint32_t events);
int ev_del(EvLoop *loop, EvHandler *h);
/* Call fn(loop, ctx) every interval_ms (at most one tick per loop). */
void ev_set_tick(EvLoop *loop, int interval_ms, void (*fn)(EvLoop *, void *), void *ctx);
/* Run until ev_stop is called (from any thread). */
void ev_run(EvLoop *loop);
/* Thread-safe, async-signal-safe request to return from ev_run. */
void ev_stop(EvLoop *loop);

#endif
