/*
 * epoll event loop with a periodic tick and an eventfd for cross-thread stop.
 */
#include "ev/ev.h"
#include "core/alloc.h"
#include "core/status.h"
#include "core/time.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EV_MAX_EVENTS 256

struct EvLoop {
    int epfd;                          /* epoll instance */
    EvHandler stop_h;                  /* eventfd written by ev_stop */
    atomic_bool stopping;              /* set by ev_stop */
    int tick_ms;                       /* 0 = no tick */
    int64_t next_tick_ns;              /* monotonic deadline of the next tick */
    void (*tick_fn)(EvLoop *, void *); /* tick callback */
    void *tick_ctx;
};

static void on_stop(EvLoop *loop, EvHandler *h, uint32_t events)
{
    uint64_t v;
    ssize_t r = read(h->fd, &v, sizeof(v));
    (void)r;
    atomic_store(&loop->stopping, true);
}

EvLoop *ev_new(void)
{
    EvLoop *loop = ts_calloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->stop_h.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->stop_h.fd < 0) {
        int e = errno;
        ev_free(loop);
        errno = e;
        return NULL;
    }
    loop->stop_h.fn = on_stop;
    if (ev_add(loop, &loop->stop_h, EPOLLIN) != TS_OK) {
        int e = errno;
        ev_free(loop);
        errno = e;
        return NULL;
    }
    return loop;
}

void ev_free(EvLoop *loop)
{
    if (!loop)
        return;
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->stop_h.fd >= 0)
        close(loop->stop_h.fd);
    ts_free(loop);
}

int ev_add(EvLoop *loop, EvHandler *h, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};
    h->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, h->fd, &ev) == 0 ? TS_OK : TS_ERR_IO;
}

int ev_mod(EvLoop *loop, EvHandler *h, uint32_t events)
{
    if (h->events == events)
        return TS_OK;
    struct epoll_event ev = {.events = events, .data.ptr = h};
    h->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, h->fd, &ev) == 0 ? TS_OK : TS_ERR_IO;
}

int ev_del(EvLoop *loop, EvHandler *h)
{
    return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, h->fd, NULL) == 0 ? TS_OK : TS_ERR_IO;
}

void ev_set_tick(EvLoop *loop, int interval_ms, void (*fn)(EvLoop *, void *), void *ctx)
{
    loop->tick_ms = interval_ms;
    loop->tick_fn = fn;
    loop->tick_ctx = ctx;
    loop->next_tick_ns = ts_mono_ns() + (int64_t)interval_ms * TS_NS_PER_MS;
}

void ev_run(EvLoop *loop)
{
    struct epoll_event evs[EV_MAX_EVENTS];
    while (!atomic_load(&loop->stopping)) {
        int timeout = -1;
        if (loop->tick_ms > 0) {
            int64_t left = loop->next_tick_ns - ts_mono_ns();
            timeout = left <= 0 ? 0 : (int)(left / TS_NS_PER_MS) + 1;
        }
        int n = epoll_wait(loop->epfd, evs, EV_MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            EvHandler *h = evs[i].data.ptr;
            h->fn(loop, h, evs[i].events);
        }
        if (loop->tick_ms > 0) {
            int64_t now = ts_mono_ns();
            if (now >= loop->next_tick_ns) {
                loop->next_tick_ns = now + (int64_t)loop->tick_ms * TS_NS_PER_MS;
                loop->tick_fn(loop, loop->tick_ctx);
            }
        }
    }
}

void ev_stop(EvLoop *loop)
{
    uint64_t one = 1;
    atomic_store(&loop->stopping, true);
    ssize_t r = write(loop->stop_h.fd, &one, sizeof(one));
    (void)r;
}
