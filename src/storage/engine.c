/*
 * The storage engine: WAL -> memtable -> segments, with recovery, flush, compaction, retention
 * and the read path. The file layout and WAL record payloads are described in engine.h.
 *
 * Threads and locks:
 *   storage thread  pops batches, appends them to the WAL, applies them to the active memtable
 *                   (under mem_rw write lock), fsyncs per sync_interval, freezes full memtables.
 *   flusher thread  writes a frozen memtable to a new segment, persists new series keys, deletes
 *                   the WAL files it covered; then compacts and applies retention.
 *   queries         any thread: snapshot (segments list, frozen) under state_mu, read the active
 *                   memtable under mem_rw read lock.
 * Precedence for "last write wins": segments by ascending seq, then the frozen memtable, then the
 * active one; inside a memtable a series' sealed blocks in seal order, then its head. Within one
 * segment a series' blocks never overlap (flush and compaction merge before writing).
 */
#include "storage/engine.h"
#include "storage/block.h"
#include "storage/codec.h"
#include "storage/event_block.h"
#include "storage/segment.h"
#include "storage/wal.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/endian.h"
#include "core/log.h"
#include "core/time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_MAX 64               /* raw points per series before sealing a memory block */
#define SEG_BLOCK_POINTS 8192     /* points per block written to segments */
#define ENGINE_WAL_FLUSH_FILES 16 /* flush once this many WAL files of data are in the memtable */
#define WAL_MAX_RECORD (64u << 20)

/* ---- batches ------------------------------------------------------------------------------ */

struct BatchPool {
    pthread_mutex_t mu; /* guards free_list */
    PointBatch *free_list;
    PointBatch *all; /* array of count batches */
    uint32_t count;
    int wake_fd; /* eventfd written when a batch returns to an empty pool */
};

BatchPool *batch_pool_new(uint32_t count, uint32_t cap, int wake_fd)
{
    BatchPool *p = ts_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->count = count;
    p->wake_fd = wake_fd;
    p->all = ts_calloc(count, sizeof(PointBatch));
    for (uint32_t i = 0; i < count; i++) {
        PointBatch *b = &p->all[i];
        b->pool = p;
        b->cap = cap;
        b->ids = ts_malloc(cap * sizeof(uint64_t));
        b->ts_ns = ts_malloc(cap * sizeof(int64_t));
        b->values = ts_malloc(cap * sizeof(double));
        event_vec_init(&b->events);
        b->next = p->free_list;
        p->free_list = b;
    }
    return p;
}

void batch_pool_free(BatchPool *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->count; i++) {
        ts_free(p->all[i].ids);
        ts_free(p->all[i].ts_ns);
        ts_free(p->all[i].values);
        event_vec_deinit(&p->all[i].events);
        ts_free(p->all[i].event_ids);
    }
    ts_free(p->all);
    pthread_mutex_destroy(&p->mu);
    ts_free(p);
}

PointBatch *batch_pool_get(BatchPool *p)
{
    pthread_mutex_lock(&p->mu);
    PointBatch *b = p->free_list;
    if (b) {
        p->free_list = b->next;
        b->next = NULL;
        b->n = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

static void batch_pool_put(PointBatch *b)
{
    BatchPool *p = b->pool;
    pthread_mutex_lock(&p->mu);
    bool was_empty = p->free_list == NULL;
    b->n = 0;
    event_vec_clear(&b->events);
    b->on_durable = NULL;
    b->next = p->free_list;
    p->free_list = b;
    pthread_mutex_unlock(&p->mu);
    if (was_empty && p->wake_fd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(p->wake_fd, &one, sizeof(one));
        (void)r;
    }
}

void batch_add_event(PointBatch *b, uint64_t id, int64_t ts_ns, Slice text)
{
    size_t cap = b->events.cap;
    event_vec_push(&b->events, ts_ns, text);
    if (b->events.cap != cap || !b->event_ids)
        b->event_ids = ts_realloc(b->event_ids, b->events.cap * sizeof(uint64_t));
    b->event_ids[b->events.n - 1] = id;
}

bool batch_events_room(const PointBatch *b, size_t text_bytes)
{
    return b->events.n < BATCH_EVENTS_MAX &&
           (b->events.n == 0 || b->events.text.n + text_bytes <= BATCH_EVENT_TEXT_MAX);
}

/* ---- memtable ----------------------------------------------------------------------------- */

/*
 * A sealed head: one codec chunk written by codec_encode_fast (no planning, fixed-width
 * residuals: cheap to write on the storage thread and to read back). It never leaves memory, so
 * it carries no block header or checksum; the flusher decodes it and writes planned blocks
 * (block_build) to the segment.
 */
typedef struct MemBlock {
    struct MemBlock *next; /* next sealed block (newer) */
    uint32_t n_points;
    uint32_t len; /* bytes in data */
    int64_t min_ts_ns, max_ts_ns;
    uint8_t data[]; /* the codec chunk */
} MemBlock;

typedef struct HeadPoint {
    int64_t ts_ns;
    double value;
} HeadPoint;

/* One series in a memtable: a small sorted head of raw points inline (one allocation, points
 * and their values side by side), then the sealed blocks. */
typedef struct MemSeries {
    MemBlock *first, *last;   /* sealed blocks in seal order */
    HeadPoint head[HEAD_MAX]; /* ascending, unique timestamps; the slot's n are in use */
} MemSeries;

/* A series' entry in the memtable's dense array. The head count lives here, not in MemSeries,
 * so applying a point touches this small array (cache-resident: 16 bytes per series) and the
 * head's cache line, not also the MemSeries header. */
typedef struct MemSlot {
    MemSeries *s; /* NULL = no data */
    uint32_t n;   /* head points in use, < HEAD_MAX between calls */
} MemSlot;

typedef struct Memtable {
    atomic_int refs;      /* owners: the engine slot (active/frozen) plus readers */
    MemSlot *slots;       /* index id - SERIES_ID_FIRST */
    size_t n_slots;       /* length of slots[] */
    EventVec **events;    /* event series, same indexing: events in arrival order */
    size_t n_ev_slots;    /* length of events[] */
    uint64_t bytes;       /* approximate memory held */
    uint64_t points;      /* points applied */
    uint64_t wal_seq_end; /* once frozen: WAL files with seq <= this are covered */
    int64_t created_ns;   /* monotonic time of creation */
} Memtable;

static Memtable *memtable_new(void)
{
    Memtable *m = ts_calloc(1, sizeof(*m));
    atomic_init(&m->refs, 1);
    m->created_ns = ts_mono_ns();
    return m;
}

static void memtable_unref(Memtable *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    for (size_t i = 0; i < m->n_slots; i++) {
        MemSeries *s = m->slots[i].s;
        if (!s)
            continue;
        MemBlock *b = s->first;
        while (b) {
            MemBlock *next = b->next;
            ts_free(b);
            b = next;
        }
        ts_free(s);
    }
    ts_free(m->slots);
    for (size_t i = 0; i < m->n_ev_slots; i++) {
        if (m->events[i]) {
            event_vec_deinit(m->events[i]);
            ts_free(m->events[i]);
        }
    }
    ts_free(m->events);
    ts_free(m);
}

/* Grow the array 'arr' of *n elements of 'elem' bytes, doubling from 'first', until index 'slot'
 * fits; new elements are zeroed and their bytes added to *bytes. Returns the new array. */
static void *slots_fit(void *arr, size_t *n, size_t elem, size_t slot, size_t first,
                       uint64_t *bytes)
{
    size_t k = *n ? *n : first;
    while (k <= slot)
        k *= 2;
    arr = ts_realloc(arr, k * elem);
    memset((uint8_t *)arr + *n * elem, 0, (k - *n) * elem);
    *bytes += (k - *n) * elem;
    *n = k;
    return arr;
}

/* The slot of series 'id' in m with its MemSeries, created when 'create'; NULL if the id is
 * not a series id, or (without 'create') if the series has no data in m. */
static MemSlot *memtable_slot(Memtable *m, uint64_t id, bool create)
{
    if (id < SERIES_ID_FIRST)
        return NULL;
    size_t slot = (size_t)(id - SERIES_ID_FIRST);
    if (slot >= m->n_slots) {
        if (!create)
            return NULL;
        m->slots = slots_fit(m->slots, &m->n_slots, sizeof(MemSlot), slot, 1024, &m->bytes);
    }
    MemSlot *sl = &m->slots[slot];
    if (!sl->s) {
        if (!create)
            return NULL;
        sl->s = ts_malloc(sizeof(MemSeries));
        sl->s->first = sl->s->last = NULL;
        sl->n = 0;
        m->bytes += sizeof(MemSeries);
    }
    return sl;
}

/* The event log of series 'id' in m; created when 'create' (else NULL if it has none). */
static EventVec *memtable_events(Memtable *m, uint64_t id, bool create)
{
    if (id < SERIES_ID_FIRST)
        return NULL;
    size_t slot = (size_t)(id - SERIES_ID_FIRST);
    if (slot >= m->n_ev_slots) {
        if (!create)
            return NULL;
        m->events = slots_fit(m->events, &m->n_ev_slots, sizeof(EventVec *), slot, 64, &m->bytes);
    }
    if (!m->events[slot] && create) {
        m->events[slot] = ts_malloc(sizeof(EventVec));
        event_vec_init(m->events[slot]);
        m->bytes += sizeof(EventVec);
    }
    return m->events[slot];
}

/* Apply one event: appended to its series' log (reads merge it, the last write wins). */
static void memtable_apply_event(Memtable *m, uint64_t id, int64_t ts_ns, Slice text)
{
    EventVec *v = memtable_events(m, id, true);
    if (!v)
        return;
    m->points++;
    m->bytes += text.n + 2 * sizeof(uint32_t) + sizeof(int64_t);
    event_vec_push(v, ts_ns, text);
}

/* Compress the head of the slot's series into a new sealed chunk (codec fast mode). */
static void memseries_seal(Memtable *m, MemSlot *sl, Buf *scratch)
{
    MemSeries *s = sl->s;
    uint32_t n = sl->n;
    if (n == 0)
        return;
    int64_t ts[HEAD_MAX];
    double vs[HEAD_MAX];
    for (uint32_t i = 0; i < n; i++) {
        ts[i] = s->head[i].ts_ns;
        vs[i] = s->head[i].value;
    }
    buf_clear(scratch);
    codec_encode_fast(ts, vs, n, scratch);
    MemBlock *b = ts_malloc(sizeof(MemBlock) + scratch->n);
    b->next = NULL;
    b->n_points = n;
    b->min_ts_ns = ts[0];
    b->max_ts_ns = ts[n - 1];
    b->len = (uint32_t)scratch->n;
    memcpy(b->data, scratch->p, scratch->n);
    if (s->last)
        s->last->next = b;
    else
        s->first = b;
    s->last = b;
    m->bytes += sizeof(MemBlock) + b->len;
    sl->n = 0;
}

/* Apply one point: append, or insert/replace in the sorted head; seal a full head. */
static void memtable_apply(Memtable *m, uint64_t id, int64_t ts_ns, double value, Buf *scratch)
{
    MemSlot *sl = memtable_slot(m, id, true);
    if (!sl)
        return;
    MemSeries *s = sl->s;
    uint32_t n = sl->n;
    m->points++;
    if (n > 0 && ts_ns <= s->head[n - 1].ts_ns) {
        uint32_t lo = 0, hi = n;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (s->head[mid].ts_ns < ts_ns)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (s->head[lo].ts_ns == ts_ns) {
            s->head[lo].value = value;
            return;
        }
        memmove(s->head + lo + 1, s->head + lo, (n - lo) * sizeof(HeadPoint));
        s->head[lo] = (HeadPoint){ts_ns, value};
    } else {
        s->head[n] = (HeadPoint){ts_ns, value};
    }
    sl->n = ++n;
    if (n == HEAD_MAX)
        memseries_seal(m, sl, scratch);
}

/* ---- segment list ------------------------------------------------------------------------- */

typedef struct SegList {
    atomic_int refs; /* the engine's slot plus readers */
    size_t n;
    Segment *segs[]; /* ascending seq; each holds one reference owned by this list */
} SegList;

static SegList *seglist_new(size_t n)
{
    SegList *l = ts_calloc(1, sizeof(SegList) + n * sizeof(Segment *));
    atomic_init(&l->refs, 1);
    l->n = n;
    return l;
}

static void seglist_unref(SegList *l)
{
    if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    for (size_t i = 0; i < l->n; i++)
        segment_unref(l->segs[i]);
    ts_free(l);
}

/* ---- engine ------------------------------------------------------------------------------- */

/* A stored batch's on_durable callback, kept until the WAL bytes written before it are synced. */
typedef struct DurableWait {
    void (*fn)(void *arg, uint64_t token, bool ok);
    void *arg;
    uint64_t token;
} DurableWait;

struct Engine {
    EngineOptions opt;
    char *dir; /* owned copies of paths */
    char *wal_dir, *seg_dir, *series_path;
    int lock_fd;     /* flock()ed LOCK file */
    SeriesIndex *ix; /* borrowed */
    Wal *wal;        /* storage thread only (and open/close) */

    pthread_mutex_t q_mu; /* guards q_head, q_tail, stopping, flush_req */
    pthread_cond_t q_cond;
    PointBatch *q_head, *q_tail;
    bool stopping;
    uint64_t flush_req;  /* flush requests made */
    uint64_t flush_done; /* flush requests satisfied (guarded by state_mu) */
    uint64_t sync_req;   /* engine_sync requests made */
    uint64_t sync_done;  /* engine_sync requests satisfied (guarded by state_mu) */

    pthread_rwlock_t mem_rw;  /* guards the contents of 'active' */
    pthread_mutex_t state_mu; /* guards active/frozen/segs pointers, flusher state */
    pthread_cond_t state_cond;
    Memtable *active;
    Memtable *frozen; /* being flushed, or NULL */
    SegList *segs;
    uint64_t next_seg_seq;
    bool flusher_stop;
    bool flusher_busy; /* flushing, compacting or applying retention */

    uint64_t logged_upto;    /* ids below this have their SERIES record in WAL or series.dat */
    uint64_t persisted_upto; /* ids below this are in series.dat (flusher) */
    int64_t last_sync_ns;
    bool dirty;                /* WAL bytes not yet fsynced */
    uint64_t wal_bytes_frozen; /* wal_bytes_total at the last freeze */
    DurableWait *waits;        /* storage thread: on_durable callbacks waiting for an fsync */
    size_t n_waits, cap_waits;

    pthread_t storage_thr, flusher_thr;
    Buf rec;          /* storage thread: WAL record scratch */
    Buf seal_scratch; /* storage thread: block scratch */

    _Atomic uint64_t st_points, st_flushes, st_compactions, st_retention_drops;
    _Atomic uint64_t st_wal_bytes, st_wal_fsyncs, st_dropped_points;
    uint64_t recovered_points, wal_dropped_bytes;
    uint64_t bad_segments; /* segments found unreadable at open and moved aside */
    atomic_bool read_only;
};

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = ts_malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int mkdir_p(const char *path, TsError *err)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return TS_OK;
    int e = errno;
    if (err)
        err->sys_errno = e;
    return ts_error(err, TS_ERR_IO, 0, "cannot create %s: %s", path, strerror(e));
}

static void seg_path(const Engine *e, uint64_t seq, char *out, size_t n)
{
    snprintf(out, n, "%s/%016" PRIx64 ".seg", e->seg_dir, seq);
}

static void engine_latch_read_only(Engine *e, const char *what)
{
    if (!atomic_exchange(&e->read_only, true))
        log_error("storage: %s failed (%s); the store is now READ-ONLY and refuses writes until "
                  "restarted",
                  what, strerror(wal_failed_errno(e->wal)));
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Points gathered from several sources with a precedence rank, merged at the end. */
typedef struct Gather {
    int64_t *ts_ns;
    double *values;
    uint32_t *rank;
    size_t n, cap;
    bool sorted; /* strictly ascending so far */
} Gather;

static void gather_push(Gather *g, int64_t ts, double v, uint32_t rank)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 1024;
        g->ts_ns = ts_realloc(g->ts_ns, g->cap * sizeof(int64_t));
        g->values = ts_realloc(g->values, g->cap * sizeof(double));
        g->rank = ts_realloc(g->rank, g->cap * sizeof(uint32_t));
    }
    if (g->n > 0 && ts <= g->ts_ns[g->n - 1])
        g->sorted = false;
    g->ts_ns[g->n] = ts;
    g->values[g->n] = v;
    g->rank[g->n] = rank;
    g->n++;
}

typedef struct GatherItem {
    int64_t ts;
    uint32_t rank;
    double v;
} GatherItem;

static int cmp_gather(const void *a, const void *b)
{
    const GatherItem *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Emit the merged points (last rank wins per timestamp) into out. */
static void gather_finish(Gather *g, PointVec *out)
{
    if (g->sorted) {
        for (size_t i = 0; i < g->n; i++)
            point_vec_push(out, g->ts_ns[i], g->values[i]);
        return;
    }
    GatherItem *items = ts_malloc(g->n * sizeof(GatherItem));
    for (size_t i = 0; i < g->n; i++) {
        items[i].ts = g->ts_ns[i];
        items[i].rank = g->rank[i];
        items[i].v = g->values[i];
    }
    qsort(items, g->n, sizeof(GatherItem), cmp_gather);
    for (size_t i = 0; i < g->n; i++) {
        if (i + 1 < g->n && items[i + 1].ts == items[i].ts)
            continue;
        point_vec_push(out, items[i].ts, items[i].v);
    }
    ts_free(items);
}

static void gather_free(Gather *g)
{
    ts_free(g->ts_ns);
    ts_free(g->values);
    ts_free(g->rank);
}

/* Decoding scratch for blocks. */
typedef struct DecodeBuf {
    int64_t *ts_ns;
    double *values;
    size_t cap;
    Buf zbuf;
} DecodeBuf;

static void decodebuf_free(DecodeBuf *d)
{
    ts_free(d->ts_ns);
    ts_free(d->values);
    buf_deinit(&d->zbuf);
}

/* Room for n points in d. */
static void decodebuf_reserve(DecodeBuf *d, size_t n)
{
    if (n > d->cap) {
        d->cap = n;
        d->ts_ns = ts_realloc(d->ts_ns, d->cap * sizeof(int64_t));
        d->values = ts_realloc(d->values, d->cap * sizeof(double));
    }
}

/* Decode one block into d; returns the point count or -1 (corruption is logged). */
static long decode_block(DecodeBuf *d, Slice blk)
{
    BlockHeader h;
    size_t total;
    TsError err = {0};
    if (block_parse(blk, &h, &total, &err) != TS_OK) {
        log_error("storage: corrupt block skipped: %s", err.msg);
        return -1;
    }
    decodebuf_reserve(d, h.n_points);
    size_t n = 0;
    if (block_decode(blk, d->ts_ns, d->values, d->cap, &n, &d->zbuf, &err) != TS_OK) {
        log_error("storage: corrupt block skipped: %s", err.msg);
        return -1;
    }
    return (long)n;
}

static void gather_block(Gather *g, DecodeBuf *d, Slice blk, int64_t from, int64_t to,
                         uint32_t rank)
{
    if (event_block_is(blk))
        return; /* an event series read as numbers: nothing */
    long n = decode_block(d, blk);
    for (long i = 0; i < n; i++)
        if (d->ts_ns[i] >= from && d->ts_ns[i] < to)
            gather_push(g, d->ts_ns[i], d->values[i], rank);
}

static void gather_memseries(Gather *g, DecodeBuf *d, const MemSlot *sl, int64_t from, int64_t to,
                             uint32_t *rank)
{
    const MemSeries *s = sl->s;
    for (const MemBlock *b = s->first; b; b = b->next) {
        if (b->max_ts_ns >= from && b->min_ts_ns < to) {
            size_t n = 0;
            TsError err = {0};
            decodebuf_reserve(d, b->n_points);
            if (codec_decode(slice_make(b->data, b->len), d->ts_ns, d->values, d->cap, &n, &err) !=
                TS_OK) {
                log_error("storage: corrupt memtable chunk skipped: %s", err.msg);
                n = 0; /* cannot happen: the chunk was written by this process */
            }
            for (size_t i = 0; i < n; i++)
                if (d->ts_ns[i] >= from && d->ts_ns[i] < to)
                    gather_push(g, d->ts_ns[i], d->values[i], *rank);
        }
        (*rank)++;
    }
    for (uint32_t i = 0; i < sl->n; i++)
        if (s->head[i].ts_ns >= from && s->head[i].ts_ns < to)
            gather_push(g, s->head[i].ts_ns, s->head[i].value, *rank);
    (*rank)++;
}

static void gather_segment(Gather *g, DecodeBuf *d, const Segment *seg, uint64_t id, int64_t from,
                           int64_t to, uint32_t rank)
{
    const SegmentEntry *first;
    size_t k = segment_find(seg, id, &first);
    for (size_t i = 0; i < k; i++) {
        const SegmentEntry *en = &first[i];
        if (en->max_ts_ns >= from && en->min_ts_ns < to)
            gather_block(g, d, segment_block(seg, en), from, to, rank);
    }
}

/* Snapshot of the immutable sources, each referenced. */
typedef struct Snapshot {
    SegList *segs;
    Memtable *frozen;
} Snapshot;

static void snapshot_take(Engine *e, Snapshot *s)
{
    pthread_mutex_lock(&e->state_mu);
    s->segs = e->segs;
    atomic_fetch_add(&s->segs->refs, 1);
    s->frozen = e->frozen;
    if (s->frozen)
        atomic_fetch_add(&s->frozen->refs, 1);
    pthread_mutex_unlock(&e->state_mu);
}

static void snapshot_release(Snapshot *s)
{
    seglist_unref(s->segs);
    memtable_unref(s->frozen);
}

/* All points of series 'id' in [from, to), merged, appended to out. */
static void engine_read(Engine *e, uint64_t id, int64_t from, int64_t to, PointVec *out)
{
    Gather g = {.sorted = true};
    DecodeBuf d = {0};
    Snapshot snap;
    snapshot_take(e, &snap);
    uint32_t rank = 0;
    for (size_t i = 0; i < snap.segs->n; i++)
        gather_segment(&g, &d, snap.segs->segs[i], id, from, to, rank++);
    if (snap.frozen) {
        const MemSlot *sl = memtable_slot(snap.frozen, id, false);
        if (sl)
            gather_memseries(&g, &d, sl, from, to, &rank);
    }
    pthread_rwlock_rdlock(&e->mem_rw);
    const MemSlot *sl = memtable_slot(e->active, id, false);
    if (sl)
        gather_memseries(&g, &d, sl, from, to, &rank);
    pthread_rwlock_unlock(&e->mem_rw);
    snapshot_release(&snap);
    gather_finish(&g, out);
    gather_free(&g);
    decodebuf_free(&d);
}

/* Events gathered from several sources with a precedence rank, merged at the end. */
typedef struct EventGather {
    EventVec v;
    uint32_t *rank; /* parallel to v; capacity v.cap */
    EventVec blk;   /* scratch: one decoded block */
} EventGather;

static void evgather_init(EventGather *g)
{
    event_vec_init(&g->v);
    event_vec_init(&g->blk);
    g->rank = NULL;
}

static void evgather_free(EventGather *g)
{
    event_vec_deinit(&g->v);
    event_vec_deinit(&g->blk);
    ts_free(g->rank);
}

/* Add the events of 'src' with from <= ts < to at precedence 'rank' (later ones win ties). */
static void evgather_add(EventGather *g, const EventVec *src, int64_t from, int64_t to,
                         uint32_t rank)
{
    for (size_t i = 0; i < src->n; i++) {
        if (src->ts_ns[i] < from || src->ts_ns[i] >= to)
            continue;
        size_t cap = g->v.cap;
        event_vec_push(&g->v, src->ts_ns[i], event_vec_text(src, i));
        if (g->v.cap != cap || !g->rank)
            g->rank = ts_realloc(g->rank, g->v.cap * sizeof(uint32_t));
        g->rank[g->v.n - 1] = rank;
    }
}

/* Add the event blocks of series 'id' in 'seg' that overlap [from, to). */
static void evgather_segment(EventGather *g, const Segment *seg, uint64_t id, int64_t from,
                             int64_t to, uint32_t rank)
{
    const SegmentEntry *first;
    size_t k = segment_find(seg, id, &first);
    for (size_t i = 0; i < k; i++) {
        const SegmentEntry *en = &first[i];
        Slice blk = segment_block(seg, en);
        if (en->max_ts_ns < from || en->min_ts_ns >= to || !event_block_is(blk))
            continue;
        TsError err = {0};
        event_vec_clear(&g->blk);
        if (event_block_decode(blk, &g->blk, &err) != TS_OK) {
            log_error("storage: corrupt event block skipped: %s", err.msg);
            continue;
        }
        evgather_add(g, &g->blk, from, to, rank);
    }
}

typedef struct EventItem {
    int64_t ts;
    uint32_t rank;
    uint32_t idx;
} EventItem;

static int cmp_event_item(const void *a, const void *b)
{
    const EventItem *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Append the merged events (ascending; per timestamp the highest rank, then the latest added,
 * wins) to out. */
static void evgather_finish(EventGather *g, EventVec *out)
{
    EventItem *items = ts_malloc((g->v.n ? g->v.n : 1) * sizeof(EventItem));
    for (size_t i = 0; i < g->v.n; i++)
        items[i] = (EventItem){g->v.ts_ns[i], g->rank[i], (uint32_t)i};
    qsort(items, g->v.n, sizeof(EventItem), cmp_event_item);
    for (size_t i = 0; i < g->v.n; i++) {
        if (i + 1 < g->v.n && items[i + 1].ts == items[i].ts)
            continue;
        event_vec_push(out, items[i].ts, event_vec_text(&g->v, items[i].idx));
    }
    ts_free(items);
}

/* All events of series 'id' in [from, to), merged, appended to out. */
static void engine_read_events(Engine *e, uint64_t id, int64_t from, int64_t to, EventVec *out)
{
    EventGather g;
    evgather_init(&g);
    Snapshot snap;
    snapshot_take(e, &snap);
    uint32_t rank = 0;
    for (size_t i = 0; i < snap.segs->n; i++)
        evgather_segment(&g, snap.segs->segs[i], id, from, to, rank++);
    if (snap.frozen) {
        const EventVec *v = memtable_events(snap.frozen, id, false);
        if (v)
            evgather_add(&g, v, from, to, rank);
    }
    rank++;
    pthread_rwlock_rdlock(&e->mem_rw);
    const EventVec *v = memtable_events(e->active, id, false);
    if (v)
        evgather_add(&g, v, from, to, rank);
    pthread_rwlock_unlock(&e->mem_rw);
    snapshot_release(&snap);
    evgather_finish(&g, out);
    evgather_free(&g);
}

/* ---- QuerySource -------------------------------------------------------------------------- */

static int qs_find(void *ctx, Slice metric, const QueryTagFilter *f, size_t nf, uint64_t **ids,
                   size_t *n)
{
    EngineQuery *q = ctx;
    SeriesFilter *sf = ts_calloc(nf ? nf : 1, sizeof(SeriesFilter));
    for (size_t i = 0; i < nf; i++) {
        sf[i].key = f[i].key;
        sf[i].values = f[i].values;
        sf[i].n_values = f[i].n_values;
    }
    int rc = series_index_find(q->e->ix, metric, sf, nf, ids, n);
    ts_free(sf);
    return rc;
}

static int qs_key(void *ctx, uint64_t id, Slice *key)
{
    EngineQuery *q = ctx;
    return series_index_key(q->e->ix, id, key);
}

static int qs_read(void *ctx, uint64_t id, int64_t from_ns, int64_t to_ns, PointVec *out)
{
    EngineQuery *q = ctx;
    size_t before = out->n;
    engine_read(q->e, id, from_ns, to_ns, out);
    q->points_read += out->n - before;
    if (q->e->opt.max_points_per_query && q->points_read > q->e->opt.max_points_per_query)
        return TS_ERR_LIMIT;
    return TS_OK;
}

static int qs_read_events(void *ctx, uint64_t id, int64_t from_ns, int64_t to_ns, EventVec *out)
{
    EngineQuery *q = ctx;
    size_t before = out->n;
    engine_read_events(q->e, id, from_ns, to_ns, out);
    q->points_read += out->n - before;
    if (q->e->opt.max_points_per_query && q->points_read > q->e->opt.max_points_per_query)
        return TS_ERR_LIMIT;
    return TS_OK;
}

void engine_query_source(Engine *e, EngineQuery *q, QuerySource *out)
{
    q->e = e;
    q->points_read = 0;
    out->ctx = q;
    out->find = qs_find;
    out->key = qs_key;
    out->read = qs_read;
    out->read_events = qs_read_events;
}

/* ---- storage thread ----------------------------------------------------------------------- */

static int write_series_records(Engine *e)
{
    uint64_t next = series_index_next_id(e->ix);
    for (uint64_t id = e->logged_upto; id < next; id++) {
        Slice key;
        if (series_index_key(e->ix, id, &key) != TS_OK)
            continue;
        buf_clear(&e->rec);
        buf_put_u64le(&e->rec, id);
        buf_append(&e->rec, key.p, key.n);
        int rc = wal_append(e->wal, ENGINE_REC_SERIES, e->rec.p, e->rec.n);
        if (rc != TS_OK)
            return rc;
    }
    e->logged_upto = next;
    return TS_OK;
}

/* The ENGINE_REC_POINTS record of b (layout in engine.h), built after WAL_REC_HDR_BYTES of
 * room for the WAL's record header so wal_append_framed writes it without a copy. */
static int write_points_record(Engine *e, const PointBatch *b)
{
    buf_clear(&e->rec);
    buf_reserve(&e->rec, WAL_REC_HDR_BYTES + 10 + (size_t)b->n * 28);
    uint8_t *p = e->rec.p + WAL_REC_HDR_BYTES;
    p += varint_put(p, b->n);
    int64_t prev = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        p += varint_put(p, b->ids[i]);
        p += varint_put(p, zigzag_enc((int64_t)((uint64_t)b->ts_ns[i] - (uint64_t)prev)));
        put_u64le(p, double_bits(b->values[i]));
        p += 8;
        prev = b->ts_ns[i];
    }
    e->rec.n = (size_t)(p - e->rec.p);
    return wal_append_framed(e->wal, ENGINE_REC_POINTS, e->rec.p, e->rec.n);
}

static int write_events_record(Engine *e, const PointBatch *b)
{
    const EventVec *ev = &b->events;
    buf_clear(&e->rec);
    buf_put_varint(&e->rec, ev->n);
    int64_t prev = 0;
    for (size_t i = 0; i < ev->n; i++) {
        Slice t = event_vec_text(ev, i);
        buf_put_varint(&e->rec, b->event_ids[i]);
        buf_put_varint(&e->rec, zigzag_enc((int64_t)((uint64_t)ev->ts_ns[i] - (uint64_t)prev)));
        buf_put_varint(&e->rec, t.n);
        buf_append(&e->rec, t.p, t.n);
        prev = ev->ts_ns[i];
    }
    return wal_append(e->wal, ENGINE_REC_EVENTS, e->rec.p, e->rec.n);
}

/* Freeze the active memtable and rotate the WAL; the flusher takes it from there. */
static void freeze_active(Engine *e)
{
    uint64_t closed = 0;
    if (atomic_load(&e->read_only))
        return;
    if (wal_rotate(e->wal, &closed) != TS_OK) {
        engine_latch_read_only(e, "WAL rotation");
        return;
    }
    e->dirty = false;
    e->wal_bytes_frozen = wal_bytes_total(e->wal);
    atomic_store(&e->st_wal_fsyncs, wal_syncs_total(e->wal));
    Memtable *fresh = memtable_new();
    pthread_mutex_lock(&e->state_mu);
    while (e->frozen && !e->flusher_stop && !atomic_load(&e->read_only))
        pthread_cond_wait(&e->state_cond, &e->state_mu);
    if (e->frozen) {
        pthread_mutex_unlock(&e->state_mu);
        memtable_unref(fresh);
        return;
    }
    pthread_rwlock_wrlock(&e->mem_rw);
    e->frozen = e->active;
    e->frozen->wal_seq_end = closed;
    e->active = fresh;
    pthread_rwlock_unlock(&e->mem_rw);
    pthread_cond_broadcast(&e->state_cond);
    pthread_mutex_unlock(&e->state_mu);
}

/* Keep b's on_durable callback until the next fsync (storage thread). */
static void durable_wait_add(Engine *e, const PointBatch *b)
{
    if (!b->on_durable)
        return;
    if (e->n_waits == e->cap_waits) {
        e->cap_waits = e->cap_waits ? 2 * e->cap_waits : 16;
        e->waits = ts_realloc(e->waits, e->cap_waits * sizeof(*e->waits));
    }
    e->waits[e->n_waits++] = (DurableWait){b->on_durable, b->durable_arg, b->durable_token};
}

/* Run the waiting callbacks once nothing written is left unsynced, or as failed when the store
 * is read-only (storage thread). */
static void durable_waits_fire(Engine *e)
{
    bool failed = atomic_load(&e->read_only);
    if (!failed && e->dirty)
        return;
    for (size_t i = 0; i < e->n_waits; i++)
        e->waits[i].fn(e->waits[i].arg, e->waits[i].token, !failed);
    e->n_waits = 0;
}

static void store_batches(Engine *e, PointBatch *list)
{
    for (PointBatch *b = list; b; b = b->next) {
        durable_wait_add(e, b);
        uint32_t n_all = b->n + (uint32_t)b->events.n;
        if (atomic_load(&e->read_only)) {
            atomic_fetch_add(&e->st_dropped_points, n_all);
            continue;
        }
        int rc = write_series_records(e);
        if (rc == TS_OK && b->n)
            rc = write_points_record(e, b);
        if (rc == TS_OK && b->events.n)
            rc = write_events_record(e, b);
        if (rc != TS_OK) {
            engine_latch_read_only(e, "WAL write");
            atomic_fetch_add(&e->st_dropped_points, n_all);
            continue;
        }
        e->dirty = true;
        pthread_rwlock_wrlock(&e->mem_rw);
        Memtable *m = e->active;
        for (uint32_t i = 0; i < b->n; i++) {
            /* Series are touched in no particular order: prefetch the head cache line a few
             * points ahead (the slot array itself stays cached) so the misses overlap. */
            if (i + 8 < b->n) {
                uint64_t slot = b->ids[i + 8] - SERIES_ID_FIRST;
                const MemSlot *sl = slot < m->n_slots ? &m->slots[slot] : NULL;
                if (sl && sl->s)
                    __builtin_prefetch(&sl->s->head[sl->n], 1);
            }
            memtable_apply(m, b->ids[i], b->ts_ns[i], b->values[i], &e->seal_scratch);
        }
        for (size_t i = 0; i < b->events.n; i++)
            memtable_apply_event(m, b->event_ids[i], b->events.ts_ns[i],
                                 event_vec_text(&b->events, i));
        pthread_rwlock_unlock(&e->mem_rw);
        atomic_fetch_add(&e->st_points, n_all);
    }
    atomic_store(&e->st_wal_bytes, wal_bytes_total(e->wal));
}

static void maybe_sync(Engine *e, bool force)
{
    if (!e->dirty || atomic_load(&e->read_only))
        return;
    int64_t now = ts_mono_ns();
    if (!force && e->opt.sync_interval_ns > 0 && now - e->last_sync_ns < e->opt.sync_interval_ns)
        return;
    if (wal_sync(e->wal) != TS_OK) {
        engine_latch_read_only(e, "WAL fsync");
        return;
    }
    e->dirty = false;
    e->last_sync_ns = now;
    atomic_store(&e->st_wal_fsyncs, wal_syncs_total(e->wal));
}

static void *storage_main(void *arg)
{
    Engine *e = arg;
    uint64_t flush_seen = 0, sync_seen = 0;
    for (;;) {
        pthread_mutex_lock(&e->q_mu);
        if (!e->q_head && !e->stopping && e->flush_req == flush_seen && e->sync_req == sync_seen) {
            int64_t wait_ns = 100 * TS_NS_PER_MS;
            if (e->dirty && e->opt.sync_interval_ns > 0) {
                int64_t left = e->opt.sync_interval_ns - (ts_mono_ns() - e->last_sync_ns);
                if (left < wait_ns)
                    wait_ns = left > 0 ? left : 0;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t abs_ns = (int64_t)ts.tv_sec * TS_NS_PER_SEC + ts.tv_nsec + wait_ns;
            ts.tv_sec = abs_ns / TS_NS_PER_SEC;
            ts.tv_nsec = abs_ns % TS_NS_PER_SEC;
            pthread_cond_timedwait(&e->q_cond, &e->q_mu, &ts);
        }
        PointBatch *list = e->q_head;
        e->q_head = e->q_tail = NULL;
        bool stopping = e->stopping;
        uint64_t flush_req = e->flush_req;
        uint64_t sync_req = e->sync_req;
        pthread_mutex_unlock(&e->q_mu);

        if (list)
            store_batches(e, list);
        maybe_sync(e, e->opt.sync_interval_ns == 0 || sync_req != sync_seen);
        while (list) {
            PointBatch *next = list->next;
            batch_pool_put(list);
            list = next;
        }
        durable_waits_fire(e);
        if (sync_req != sync_seen) {
            sync_seen = sync_req;
            pthread_mutex_lock(&e->state_mu);
            e->sync_done = sync_seen;
            pthread_cond_broadcast(&e->state_cond);
            pthread_mutex_unlock(&e->state_mu);
        }

        Memtable *a = e->active;
        bool by_size = a->bytes >= e->opt.memtable_bytes;
        bool by_age = e->opt.flush_interval_ns > 0 && a->points > 0 &&
                      ts_mono_ns() - a->created_ns >= e->opt.flush_interval_ns;
        /* The WAL is cut into files of wal_segment_size; the memtable is flushed (and the files
         * it covered deleted) by size or age, or once ENGINE_WAL_FLUSH_FILES files of WAL have
         * piled up. Flushing at every WAL file would leave a few dozen points per series per
         * segment when there are many series. */
        bool by_wal = a->points > 0 && wal_bytes_total(e->wal) - e->wal_bytes_frozen >=
                                           ENGINE_WAL_FLUSH_FILES * e->opt.wal_segment_bytes;
        if (!(flush_req != flush_seen || by_size || by_age || by_wal) &&
            wal_should_rotate(e->wal)) {
            uint64_t closed;
            if (wal_rotate(e->wal, &closed) != TS_OK)
                engine_latch_read_only(e, "WAL rotation");
            e->dirty = false;
        }
        if (flush_req != flush_seen || by_size || by_age || by_wal) {
            /* A WAL-size trigger alone does not wait for a busy flusher. */
            pthread_mutex_lock(&e->state_mu);
            bool busy = e->frozen != NULL;
            pthread_mutex_unlock(&e->state_mu);
            if (!(busy && by_wal && !by_size && !by_age && flush_req == flush_seen))
                freeze_active(e);
            if (flush_req != flush_seen) {
                flush_seen = flush_req;
                pthread_mutex_lock(&e->state_mu);
                while (e->frozen && !e->flusher_stop && !atomic_load(&e->read_only))
                    pthread_cond_wait(&e->state_cond, &e->state_mu);
                e->flush_done = flush_seen;
                pthread_cond_broadcast(&e->state_cond);
                pthread_mutex_unlock(&e->state_mu);
            }
        }
        if (stopping) {
            pthread_mutex_lock(&e->q_mu);
            bool empty = e->q_head == NULL;
            pthread_mutex_unlock(&e->q_mu);
            if (empty)
                break;
        }
    }
    maybe_sync(e, true);
    durable_waits_fire(e);
    pthread_mutex_lock(&e->q_mu);
    uint64_t sync_req = e->sync_req;
    pthread_mutex_unlock(&e->q_mu);
    pthread_mutex_lock(&e->state_mu);
    e->sync_done = sync_req;
    pthread_cond_broadcast(&e->state_cond);
    pthread_mutex_unlock(&e->state_mu);
    block_thread_release();
    return NULL;
}

void engine_submit(Engine *e, PointBatch *b)
{
    b->next = NULL;
    pthread_mutex_lock(&e->q_mu);
    if (e->q_tail)
        e->q_tail->next = b;
    else
        e->q_head = b;
    e->q_tail = b;
    pthread_cond_signal(&e->q_cond);
    pthread_mutex_unlock(&e->q_mu);
}

int engine_sync(Engine *e, bool wait)
{
    pthread_mutex_lock(&e->q_mu);
    uint64_t want = ++e->sync_req;
    pthread_cond_signal(&e->q_cond);
    pthread_mutex_unlock(&e->q_mu);
    if (wait) {
        pthread_mutex_lock(&e->state_mu);
        while (e->sync_done < want)
            pthread_cond_wait(&e->state_cond, &e->state_mu);
        pthread_mutex_unlock(&e->state_mu);
    }
    return atomic_load(&e->read_only) ? TS_ERR_READONLY : TS_OK;
}

int engine_flush(Engine *e)
{
    pthread_mutex_lock(&e->q_mu);
    uint64_t want = ++e->flush_req;
    pthread_cond_signal(&e->q_cond);
    pthread_mutex_unlock(&e->q_mu);
    pthread_mutex_lock(&e->state_mu);
    while ((e->flush_done < want || e->flusher_busy || e->frozen) && !e->flusher_stop &&
           !atomic_load(&e->read_only))
        pthread_cond_wait(&e->state_cond, &e->state_mu);
    pthread_mutex_unlock(&e->state_mu);
    return atomic_load(&e->read_only) ? TS_ERR_READONLY : TS_OK;
}

/* ---- flush, compaction, retention --------------------------------------------------------- */

/* Write points[0..n) (ascending, unique) of one series as blocks of SEG_BLOCK_POINTS. */
static int write_series_blocks(SegmentWriter *w, uint64_t id, const PointVec *pts, Buf *blk,
                               TsError *err)
{
    for (size_t off = 0; off < pts->n; off += SEG_BLOCK_POINTS) {
        size_t k = pts->n - off < SEG_BLOCK_POINTS ? pts->n - off : SEG_BLOCK_POINTS;
        buf_clear(blk);
        block_build(pts->ts_ns + off, pts->values + off, k, blk);
        int rc = segment_writer_add(w, id, pts->ts_ns[off], pts->ts_ns[off + k - 1], (uint32_t)k,
                                    slice_make(blk->p, blk->n), err);
        if (rc != TS_OK)
            return rc;
    }
    return TS_OK;
}

/* Write the merged events of one series (ascending, unique) as event blocks. */
static int write_event_blocks(SegmentWriter *w, uint64_t id, const EventVec *ev, Buf *blk,
                              TsError *err)
{
    for (size_t off = 0; off < ev->n;) {
        size_t k = event_block_span(ev, off);
        buf_clear(blk);
        event_block_build(ev, off, k, blk);
        int rc = segment_writer_add(w, id, ev->ts_ns[off], ev->ts_ns[off + k - 1], (uint32_t)k,
                                    slice_make(blk->p, blk->n), err);
        if (rc != TS_OK)
            return rc;
        off += k;
    }
    return TS_OK;
}

/* Merge 'g' (dropping events older than 'cutoff_ns') and write it as series 'id'. */
static int write_gathered_events(SegmentWriter *w, uint64_t id, EventGather *g, int64_t cutoff_ns,
                                 EventVec *scratch, Buf *blk, TsError *err)
{
    event_vec_clear(scratch);
    evgather_finish(g, scratch);
    size_t k = 0;
    while (k < scratch->n && scratch->ts_ns[k] < cutoff_ns)
        k++;
    if (k == scratch->n)
        return TS_OK;
    if (k > 0) { /* rare (retention): rebuild without the expired head */
        EventVec kept;
        event_vec_init(&kept);
        for (size_t i = k; i < scratch->n; i++)
            event_vec_push(&kept, scratch->ts_ns[i], event_vec_text(scratch, i));
        int rc = write_event_blocks(w, id, &kept, blk, err);
        event_vec_deinit(&kept);
        return rc;
    }
    return write_event_blocks(w, id, scratch, blk, err);
}

/* Drop points older than the retention cutoff from a merged series (compaction only). */
static void drop_expired(PointVec *pts, int64_t cutoff_ns)
{
    size_t k = 0;
    while (k < pts->n && pts->ts_ns[k] < cutoff_ns)
        k++;
    if (k == 0)
        return;
    memmove(pts->ts_ns, pts->ts_ns + k, (pts->n - k) * sizeof(int64_t));
    memmove(pts->values, pts->values + k, (pts->n - k) * sizeof(double));
    pts->n -= k;
}

static int flush_memtable(Engine *e, Memtable *m, uint64_t seq, TsError *err)
{
    char path[4096];
    seg_path(e, seq, path, sizeof(path));
    SegmentWriter *w = NULL;
    int rc = segment_writer_open(path, seq, &w, err);
    if (rc != TS_OK)
        return rc;
    Buf blk;
    buf_init(&blk);
    PointVec pts;
    point_vec_init(&pts);
    EventVec evs;
    event_vec_init(&evs);
    DecodeBuf d = {0};
    size_t n_slots = m->n_slots > m->n_ev_slots ? m->n_slots : m->n_ev_slots;
    for (size_t slot = 0; slot < n_slots && rc == TS_OK; slot++) {
        const MemSlot *s = slot < m->n_slots && m->slots[slot].s ? &m->slots[slot] : NULL;
        const EventVec *ev = slot < m->n_ev_slots ? m->events[slot] : NULL;
        if (s) {
            Gather g = {.sorted = true};
            uint32_t rank = 0;
            gather_memseries(&g, &d, s, INT64_MIN, INT64_MAX, &rank);
            point_vec_clear(&pts);
            gather_finish(&g, &pts);
            gather_free(&g);
            rc = write_series_blocks(w, SERIES_ID_FIRST + slot, &pts, &blk, err);
        } else if (ev) {
            EventGather g;
            evgather_init(&g);
            evgather_add(&g, ev, INT64_MIN, INT64_MAX, 0);
            rc = write_gathered_events(w, SERIES_ID_FIRST + slot, &g, INT64_MIN, &evs, &blk, err);
            evgather_free(&g);
        }
    }
    event_vec_deinit(&evs);
    point_vec_deinit(&pts);
    buf_deinit(&blk);
    decodebuf_free(&d);
    if (rc != TS_OK) {
        segment_writer_abort(w);
        return rc;
    }
    return segment_writer_finish(w, err);
}

/* True if the first block of series 'id' in any of segs[0..n) is an event block. */
static bool segments_hold_events(Segment *const *segs, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++) {
        const SegmentEntry *first;
        if (segment_find(segs[i], id, &first) > 0)
            return event_block_is(segment_block(segs[i], first));
    }
    return false;
}

/*
 * Merge the contiguous run segs[0..n) (ascending seq) into one segment written under the run's
 * highest seq (tmp file + rename over it), dropping points older than the retention. Precedence
 * is kept because the run is contiguous: everything older stays below it, everything newer
 * above. *out receives the opened merged segment.
 */
static int compact(Engine *e, Segment *const *segs, size_t n, Segment **out, TsError *err)
{
    uint64_t seq = segment_seq(segs[n - 1]);
    char path[4096];
    seg_path(e, seq, path, sizeof(path));
    SegmentWriter *w = NULL;
    int rc = segment_writer_open(path, seq, &w, err);
    if (rc != TS_OK)
        return rc;
    int64_t cutoff = e->opt.retention_ns > 0 ? ts_now_ns() - e->opt.retention_ns : INT64_MIN;
    uint64_t max_id = 0;
    for (size_t i = 0; i < n; i++) {
        size_t ne = segment_entry_count(segs[i]);
        if (ne && segment_entries(segs[i])[ne - 1].series_id > max_id)
            max_id = segment_entries(segs[i])[ne - 1].series_id;
    }
    Buf blk;
    buf_init(&blk);
    PointVec pts;
    point_vec_init(&pts);
    EventVec evs;
    event_vec_init(&evs);
    DecodeBuf d = {0};
    for (uint64_t id = SERIES_ID_FIRST; id <= max_id && rc == TS_OK; id++) {
        if (segments_hold_events(segs, n, id)) {
            EventGather eg;
            evgather_init(&eg);
            for (size_t i = 0; i < n; i++)
                evgather_segment(&eg, segs[i], id, INT64_MIN, INT64_MAX, (uint32_t)i);
            rc = write_gathered_events(w, id, &eg, cutoff, &evs, &blk, err);
            evgather_free(&eg);
            continue;
        }
        Gather g = {.sorted = true};
        for (size_t i = 0; i < n; i++)
            gather_segment(&g, &d, segs[i], id, INT64_MIN, INT64_MAX, (uint32_t)i);
        if (g.n == 0)
            continue;
        point_vec_clear(&pts);
        gather_finish(&g, &pts);
        gather_free(&g);
        drop_expired(&pts, cutoff);
        rc = write_series_blocks(w, id, &pts, &blk, err);
    }
    event_vec_deinit(&evs);
    point_vec_deinit(&pts);
    buf_deinit(&blk);
    decodebuf_free(&d);
    if (rc != TS_OK) {
        segment_writer_abort(w);
        return rc;
    }
    rc = segment_writer_finish(w, err);
    if (rc != TS_OK)
        return rc;
    return segment_open(path, out, err);
}

static void publish_seglist(Engine *e, SegList *l)
{
    pthread_mutex_lock(&e->state_mu);
    SegList *old = e->segs;
    e->segs = l;
    pthread_mutex_unlock(&e->state_mu);
    seglist_unref(old);
}

/*
 * Size-tiered compaction: when more than compact_segments segments exist, merge the contiguous
 * window of w = max(2, compact_segments / 2) segments with the smallest total size. Small new
 * segments merge with each other first and big old ones are rewritten rarely, so the bytes
 * rewritten per flushed byte grow with the log of the data, not linearly.
 */
static void compact_window(Engine *e, SegList *cur, size_t best, size_t w, uint64_t best_bytes);

static void maybe_compact(Engine *e)
{
    pthread_mutex_lock(&e->state_mu);
    SegList *cur = e->segs;
    atomic_fetch_add(&cur->refs, 1);
    pthread_mutex_unlock(&e->state_mu);
    if (cur->n <= e->opt.compact_segments || cur->n < 2) {
        seglist_unref(cur);
        return;
    }
    size_t w = e->opt.compact_segments / 2 < 2 ? 2 : e->opt.compact_segments / 2;
    size_t best = 0;
    uint64_t best_bytes = UINT64_MAX;
    for (size_t i = 0; i + w <= cur->n; i++) {
        uint64_t sum = 0;
        for (size_t k = i; k < i + w; k++)
            sum += segment_file_bytes(cur->segs[k]);
        if (sum < best_bytes) {
            best_bytes = sum;
            best = i;
        }
    }
    compact_window(e, cur, best, w, best_bytes);
}

/*
 * Idle compaction: once no point has arrived for idle_compact_ns, merge the newest segments, as
 * many as fit together in ENGINE_IDLE_COMPACT_BYTES, into one. A store at rest then keeps one
 * block per series per (large) segment instead of one per flush, which is what makes it small
 * at many series (each flush holds only a few hundred points per series).
 */
static void idle_compact(Engine *e)
{
    pthread_mutex_lock(&e->state_mu);
    SegList *cur = e->segs;
    atomic_fetch_add(&cur->refs, 1);
    pthread_mutex_unlock(&e->state_mu);
    size_t i = cur->n;
    uint64_t sum = 0;
    while (i > 0 && sum + segment_file_bytes(cur->segs[i - 1]) <= ENGINE_IDLE_COMPACT_BYTES)
        sum += segment_file_bytes(cur->segs[--i]);
    if (cur->n - i < 2) {
        seglist_unref(cur);
        return;
    }
    compact_window(e, cur, i, cur->n - i, sum);
}

/* Merge cur->segs[best, best + w) into one segment and publish the new list; consumes the
 * caller's reference to 'cur' (flusher thread only). */
static void compact_window(Engine *e, SegList *cur, size_t best, size_t w, uint64_t best_bytes)
{
    Segment *merged = NULL;
    TsError err = {0};
    int64_t t0 = ts_mono_ns();
    if (compact(e, cur->segs + best, w, &merged, &err) != TS_OK) {
        log_error("storage: compaction failed: %s", err.msg);
        seglist_unref(cur);
        return;
    }
    /* Only the flusher thread changes the list, so 'cur' is still current. The window's highest
     * segment was replaced by rename; the others are deleted once no reader holds them. */
    SegList *l = seglist_new(cur->n - w + 1);
    size_t k = 0;
    for (size_t i = 0; i < cur->n; i++) {
        if (i >= best && i < best + w) {
            if (i + 1 < best + w)
                segment_mark_deleted(cur->segs[i]);
            else
                l->segs[k++] = merged;
            continue;
        }
        segment_ref(cur->segs[i]);
        l->segs[k++] = cur->segs[i];
    }
    publish_seglist(e, l);
    log_info("storage: compacted %zu segments (%llu bytes) into one of %llu bytes (%.1f ms)", w,
             (unsigned long long)best_bytes, (unsigned long long)segment_file_bytes(merged),
             (double)(ts_mono_ns() - t0) / 1e6);
    seglist_unref(cur);
    atomic_fetch_add(&e->st_compactions, 1);
}

static void apply_retention(Engine *e)
{
    if (e->opt.retention_ns <= 0)
        return;
    int64_t cutoff = ts_now_ns() - e->opt.retention_ns;
    pthread_mutex_lock(&e->state_mu);
    SegList *cur = e->segs;
    atomic_fetch_add(&cur->refs, 1);
    pthread_mutex_unlock(&e->state_mu);
    size_t keep = 0;
    for (size_t i = 0; i < cur->n; i++)
        if (segment_max_ts(cur->segs[i]) >= cutoff)
            keep++;
    if (keep < cur->n) {
        SegList *l = seglist_new(keep);
        size_t k = 0;
        for (size_t i = 0; i < cur->n; i++) {
            Segment *s = cur->segs[i];
            if (segment_max_ts(s) >= cutoff) {
                segment_ref(s);
                l->segs[k++] = s;
            } else {
                segment_mark_deleted(s);
                atomic_fetch_add(&e->st_retention_drops, 1);
                log_info("storage: retention dropped segment %016" PRIx64, segment_seq(s));
            }
        }
        publish_seglist(e, l);
    }
    seglist_unref(cur);
}

static void flush_frozen(Engine *e, Memtable *m)
{
    TsError err = {0};
    uint64_t seq = e->next_seg_seq++;
    int64_t t0 = ts_mono_ns();
    int rc = TS_OK;
    if (m->points > 0)
        rc = flush_memtable(e, m, seq, &err);
    uint64_t upto = 0;
    if (rc == TS_OK)
        rc = series_index_persist(e->ix, e->series_path, e->persisted_upto, &upto, &err);
    if (rc != TS_OK) {
        log_error("storage: flush failed: %s", err.msg);
        if (!atomic_exchange(&e->read_only, true))
            log_error("storage: the store is now READ-ONLY after a failed flush");
        pthread_mutex_lock(&e->state_mu);
        pthread_cond_broadcast(&e->state_cond);
        pthread_mutex_unlock(&e->state_mu);
        return; /* keep 'frozen' readable; its WAL files stay */
    }
    e->persisted_upto = upto;
    Segment *seg = NULL;
    if (m->points > 0) {
        char path[4096];
        seg_path(e, seq, path, sizeof(path));
        if (segment_open(path, &seg, &err) != TS_OK) {
            log_error("storage: cannot reopen new segment %s: %s", path, err.msg);
            atomic_store(&e->read_only, true);
            pthread_mutex_lock(&e->state_mu);
            pthread_cond_broadcast(&e->state_cond);
            pthread_mutex_unlock(&e->state_mu);
            return;
        }
    }
    pthread_mutex_lock(&e->state_mu);
    SegList *old = e->segs;
    SegList *l = seglist_new(old->n + (seg ? 1 : 0));
    for (size_t i = 0; i < old->n; i++) {
        segment_ref(old->segs[i]);
        l->segs[i] = old->segs[i];
    }
    if (seg)
        l->segs[old->n] = seg;
    e->segs = l;
    e->frozen = NULL;
    pthread_cond_broadcast(&e->state_cond);
    pthread_mutex_unlock(&e->state_mu);
    seglist_unref(old);
    uint64_t wal_seq_end = m->wal_seq_end;
    memtable_unref(m);
    /* The WAL files are deleted only once the segment and series.dat are durable. */
    if (wal_remove_upto(e->wal, wal_seq_end) != TS_OK)
        log_warn("storage: could not delete old WAL files");
    atomic_fetch_add(&e->st_flushes, 1);
    log_debug("storage: flushed memtable to segment %016" PRIx64 " in %.1f ms", seq,
              (double)(ts_mono_ns() - t0) / 1e6);
}

static void *flusher_main(void *arg)
{
    Engine *e = arg;
    int64_t last_retention = 0;
    uint64_t seen_points = atomic_load(&e->st_points);
    int64_t seen_ns = ts_mono_ns();
    bool idle_done = true; /* nothing to do for the data found at start */
    pthread_mutex_lock(&e->state_mu);
    for (;;) {
        if (!e->frozen && !e->flusher_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&e->state_cond, &e->state_mu, &ts);
        }
        Memtable *m = e->frozen;
        bool stop = e->flusher_stop;
        e->flusher_busy = m != NULL;
        pthread_mutex_unlock(&e->state_mu);
        if (m && !atomic_load(&e->read_only)) {
            flush_frozen(e, m);
            maybe_compact(e);
        }
        if (m || ts_mono_ns() - last_retention > 10 * TS_NS_PER_SEC) {
            apply_retention(e);
            last_retention = ts_mono_ns();
        }
        uint64_t points = atomic_load(&e->st_points);
        if (points != seen_points || m) {
            seen_points = points;
            seen_ns = ts_mono_ns();
            idle_done = false;
        } else if (!idle_done && e->opt.idle_compact_ns > 0 && !stop &&
                   ts_mono_ns() - seen_ns >= e->opt.idle_compact_ns &&
                   !atomic_load(&e->read_only)) {
            idle_compact(e);
            idle_done = true;
        }
        pthread_mutex_lock(&e->state_mu);
        e->flusher_busy = false;
        pthread_cond_broadcast(&e->state_cond);
        if (stop && (!e->frozen || atomic_load(&e->read_only)))
            break;
        if (m && e->frozen == m && atomic_load(&e->read_only)) {
            /* A failed flush: wait for shutdown rather than spin. */
            pthread_cond_broadcast(&e->state_cond);
            while (!e->flusher_stop)
                pthread_cond_wait(&e->state_cond, &e->state_mu);
        }
    }
    pthread_mutex_unlock(&e->state_mu);
    block_thread_release();
    return NULL;
}

/* ---- open / recovery / close -------------------------------------------------------------- */

typedef struct ReplayCtx {
    Engine *e;
    uint64_t points, unknown;
} ReplayCtx;

/* Apply an ENGINE_REC_EVENTS record (see engine.h); a malformed tail is ignored. */
static int replay_events(ReplayCtx *rc, const uint8_t *p, size_t n)
{
    Engine *e = rc->e;
    uint64_t count;
    size_t off = varint_get(p, n, &count);
    if (!off)
        return TS_OK;
    int64_t prev = 0;
    uint64_t next_id = series_index_next_id(e->ix);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t id, zz, len;
        size_t k = varint_get(p + off, n - off, &id);
        if (!k)
            break;
        off += k;
        k = varint_get(p + off, n - off, &zz);
        if (!k)
            break;
        off += k;
        k = varint_get(p + off, n - off, &len);
        if (!k || len > n - off - k)
            break;
        off += k;
        int64_t ts = (int64_t)((uint64_t)prev + (uint64_t)zigzag_dec(zz));
        prev = ts;
        Slice text = slice_make(p + off, (size_t)len);
        off += (size_t)len;
        if (id < SERIES_ID_FIRST || id >= next_id || len > EVENT_TEXT_MAX) {
            rc->unknown++;
            continue;
        }
        memtable_apply_event(e->active, id, ts, text);
        rc->points++;
    }
    return TS_OK;
}

static int replay_record(void *ctx, uint64_t seq, uint8_t type, const uint8_t *p, size_t n)
{
    ReplayCtx *rc = ctx;
    Engine *e = rc->e;
    if (type == ENGINE_REC_SERIES) {
        if (n < 8)
            return TS_OK;
        uint64_t id = get_u64le(p);
        if (series_index_insert(e->ix, slice_make(p + 8, n - 8), id) != TS_OK)
            log_warn("recovery: conflicting series record for id %" PRIu64 " ignored", id);
        return TS_OK;
    }
    if (type == ENGINE_REC_EVENTS)
        return replay_events(rc, p, n);
    if (type != ENGINE_REC_POINTS)
        return TS_OK;
    uint64_t count;
    size_t off = varint_get(p, n, &count);
    if (!off)
        return TS_OK;
    int64_t prev = 0;
    uint64_t next_id = series_index_next_id(e->ix);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t id, zz;
        size_t k = varint_get(p + off, n - off, &id);
        if (!k)
            break;
        off += k;
        k = varint_get(p + off, n - off, &zz);
        if (!k || n - off - k < 8)
            break;
        off += k;
        int64_t ts = (int64_t)((uint64_t)prev + (uint64_t)zigzag_dec(zz));
        double v = bits_double(get_u64le(p + off));
        off += 8;
        prev = ts;
        if (id < SERIES_ID_FIRST || id >= next_id) {
            rc->unknown++;
            continue;
        }
        memtable_apply(e->active, id, ts, v, &e->seal_scratch);
        rc->points++;
    }
    return TS_OK;
}

/* Tell the index the newest stored timestamp of every series (segments and the replayed
 * memtable), for resp.late_writes = reject across restarts. */
static void seed_newest(Engine *e)
{
    for (size_t i = 0; i < e->segs->n; i++) {
        const SegmentEntry *en = segment_entries(e->segs->segs[i]);
        size_t ne = segment_entry_count(e->segs->segs[i]);
        for (size_t k = 0; k < ne; k++)
            if (k + 1 == ne || en[k + 1].series_id != en[k].series_id)
                series_index_note_newest(e->ix, en[k].series_id, en[k].max_ts_ns);
    }
    const Memtable *m = e->active;
    for (size_t slot = 0; slot < m->n_slots; slot++) {
        const MemSlot *sl = &m->slots[slot];
        const MemSeries *ms = sl->s;
        if (!ms)
            continue;
        int64_t newest = sl->n ? ms->head[sl->n - 1].ts_ns : INT64_MIN;
        for (const MemBlock *b = ms->first; b; b = b->next)
            newest = b->max_ts_ns > newest ? b->max_ts_ns : newest;
        series_index_note_newest(e->ix, SERIES_ID_FIRST + slot, newest);
    }
    for (size_t slot = 0; slot < m->n_ev_slots; slot++) {
        const EventVec *v = m->events[slot];
        for (size_t k = 0; v && k < v->n; k++)
            series_index_note_newest(e->ix, SERIES_ID_FIRST + slot, v->ts_ns[k]);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int open_segments(Engine *e, TsError *err)
{
    DIR *d = opendir(e->seg_dir);
    if (!d) {
        if (err)
            err->sys_errno = errno;
        return ts_error(err, TS_ERR_IO, 0, "cannot open %s: %s", e->seg_dir, strerror(errno));
    }
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", e->seg_dir, name);
        if (len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
            unlink(full);
            continue;
        }
        if (len != 20 || strcmp(name + 16, ".seg") != 0)
            continue;
        char *end;
        uint64_t seq = strtoull(name, &end, 16);
        if (end != name + 16)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            seqs = ts_realloc(seqs, cap * sizeof(uint64_t));
        }
        seqs[n++] = seq;
    }
    closedir(d);
    if (n)
        qsort(seqs, n, sizeof(uint64_t), cmp_u64);
    SegList *l = seglist_new(n);
    size_t k = 0;
    e->next_seg_seq = 1;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        seg_path(e, seqs[i], path, sizeof(path));
        Segment *s = NULL;
        TsError serr = {0};
        if (seqs[i] >= e->next_seg_seq)
            e->next_seg_seq = seqs[i] + 1;
        if (segment_open(path, &s, &serr) != TS_OK) {
            char bad[4200];
            snprintf(bad, sizeof(bad), "%s.corrupt", path);
            log_error("storage: segment %s is unreadable (%s); moved aside to %s", path, serr.msg,
                      bad);
            e->bad_segments++;
            if (rename(path, bad) != 0)
                log_error("storage: cannot rename %s: %s", path, strerror(errno));
            continue;
        }
        l->segs[k++] = s;
    }
    l->n = k;
    e->segs = l;
    ts_free(seqs);
    return TS_OK;
}

/* Release what engine_open acquired (threads must be stopped already). */
static void engine_free(Engine *e)
{
    wal_close(e->wal);
    seglist_unref(e->segs);
    memtable_unref(e->frozen);
    memtable_unref(e->active);
    if (e->lock_fd >= 0)
        close(e->lock_fd);
    buf_deinit(&e->rec);
    buf_deinit(&e->seal_scratch);
    pthread_rwlock_destroy(&e->mem_rw);
    pthread_mutex_destroy(&e->q_mu);
    pthread_cond_destroy(&e->q_cond);
    pthread_mutex_destroy(&e->state_mu);
    pthread_cond_destroy(&e->state_cond);
    ts_free(e->dir);
    ts_free(e->wal_dir);
    ts_free(e->seg_dir);
    ts_free(e->series_path);
    ts_free(e->waits);
    ts_free(e);
}

int engine_open(const EngineOptions *opt, SeriesIndex *ix, Engine **out, TsError *err)
{
    Engine *e = ts_calloc(1, sizeof(*e));
    e->opt = *opt;
    if (e->opt.idle_compact_ns == 0)
        e->opt.idle_compact_ns = ENGINE_IDLE_COMPACT_DEFAULT_NS;
    e->ix = ix;
    e->lock_fd = -1;
    e->dir = ts_strdup(opt->dir);
    e->wal_dir = path_join(e->dir, "wal");
    e->seg_dir = path_join(e->dir, "seg");
    e->series_path = path_join(e->dir, "series.dat");
    e->opt.dir = e->dir;
    if (e->opt.compact_segments < 2)
        e->opt.compact_segments = 2;
    buf_init(&e->rec);
    buf_init(&e->seal_scratch);
    pthread_mutex_init(&e->q_mu, NULL);
    pthread_cond_init(&e->q_cond, NULL);
    pthread_mutex_init(&e->state_mu, NULL);
    pthread_cond_init(&e->state_cond, NULL);
    pthread_rwlock_init(&e->mem_rw, NULL);
    e->active = memtable_new();
    int rc = mkdir_p(e->dir, err);
    if (rc == TS_OK)
        rc = mkdir_p(e->wal_dir, err);
    if (rc == TS_OK)
        rc = mkdir_p(e->seg_dir, err);
    if (rc != TS_OK)
        goto fail;
    char *lock_path = path_join(e->dir, "LOCK");
    e->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ts_free(lock_path);
    if (e->lock_fd < 0 || flock(e->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = ts_error(err, TS_ERR_IO, 0, "data directory %s is in use by another process (%s)",
                      e->dir, strerror(errno));
        goto fail;
    }
    uint64_t dropped = 0;
    rc = series_index_load(ix, e->series_path, &dropped, err);
    if (rc != TS_OK)
        goto fail;
    if (dropped)
        log_warn("recovery: cut %" PRIu64 " torn bytes from the end of series.dat", dropped);
    e->persisted_upto = series_index_next_id(ix);
    rc = open_segments(e, err);
    if (rc != TS_OK)
        goto fail;
    ReplayCtx rctx = {.e = e};
    WalReplayStats st = {0};
    int64_t t0 = ts_mono_ns();
    rc = wal_replay(e->wal_dir, WAL_MAX_RECORD, replay_record, &rctx, &st, err);
    if (rc != TS_OK)
        goto fail;
    e->recovered_points = rctx.points;
    e->wal_dropped_bytes = st.dropped_bytes;
    if (st.records)
        log_info("recovery: replayed %" PRIu64 " points from %" PRIu64 " WAL records in %" PRIu64
                 " files (%.1f ms)",
                 rctx.points, st.records, st.files, (double)(ts_mono_ns() - t0) / 1e6);
    if (st.dropped_bytes)
        log_warn("recovery: cut %" PRIu64 " bytes of torn or corrupt WAL tail in %" PRIu64
                 " file(s); points in them are lost",
                 st.dropped_bytes, st.corrupt_files);
    if (rctx.unknown)
        log_warn("recovery: dropped %" PRIu64 " points of unknown series", rctx.unknown);
    e->logged_upto = series_index_next_id(ix);
    seed_newest(e);
    if (opt->offline) {
        *out = e;
        return TS_OK;
    }
    rc = wal_open(e->wal_dir, opt->wal_segment_bytes, &e->wal, err);
    if (rc != TS_OK)
        goto fail;
    e->last_sync_ns = ts_mono_ns();
    if (pthread_create(&e->storage_thr, NULL, storage_main, e) != 0) {
        rc = ts_error(err, TS_ERR_IO, 0, "cannot start the storage thread");
        goto fail;
    }
    if (pthread_create(&e->flusher_thr, NULL, flusher_main, e) != 0) {
        pthread_mutex_lock(&e->q_mu);
        e->stopping = true;
        pthread_cond_signal(&e->q_cond);
        pthread_mutex_unlock(&e->q_mu);
        pthread_join(e->storage_thr, NULL);
        rc = ts_error(err, TS_ERR_IO, 0, "cannot start the flusher thread");
        goto fail;
    }
    *out = e;
    return TS_OK;
fail:
    engine_free(e);
    return rc;
}

void engine_close(Engine *e)
{
    if (!e)
        return;
    if (e->opt.offline) {
        engine_free(e);
        return;
    }
    /* Store everything queued and flush it to a segment so the WAL is empty at rest. */
    engine_flush(e);
    pthread_mutex_lock(&e->q_mu);
    e->stopping = true;
    pthread_cond_signal(&e->q_cond);
    pthread_mutex_unlock(&e->q_mu);
    pthread_join(e->storage_thr, NULL);
    pthread_mutex_lock(&e->state_mu);
    e->flusher_stop = true;
    pthread_cond_broadcast(&e->state_cond);
    pthread_mutex_unlock(&e->state_mu);
    pthread_join(e->flusher_thr, NULL);
    engine_free(e);
}

void engine_test_set_wal_io(Engine *e, const WalIo *io)
{
    wal_set_io(e->wal, io);
}

bool engine_read_only(Engine *e)
{
    return atomic_load(&e->read_only);
}

void engine_stats(Engine *e, EngineStats *out)
{
    memset(out, 0, sizeof(*out));
    out->points_written = atomic_load(&e->st_points);
    out->wal_bytes = atomic_load(&e->st_wal_bytes);
    out->wal_fsyncs = atomic_load(&e->st_wal_fsyncs);
    out->flushes = atomic_load(&e->st_flushes);
    out->compactions = atomic_load(&e->st_compactions);
    out->retention_drops = atomic_load(&e->st_retention_drops);
    out->dropped_points = atomic_load(&e->st_dropped_points);
    out->recovered_points = e->recovered_points;
    out->wal_dropped_bytes = e->wal_dropped_bytes;
    out->read_only = atomic_load(&e->read_only);
    Snapshot snap;
    snapshot_take(e, &snap);
    out->segments = snap.segs->n;
    for (size_t i = 0; i < snap.segs->n; i++) {
        out->segment_bytes += segment_file_bytes(snap.segs->segs[i]);
        out->blocks += segment_entry_count(snap.segs->segs[i]);
    }
    if (snap.frozen)
        out->memtable_bytes += snap.frozen->bytes;
    snapshot_release(&snap);
    pthread_rwlock_rdlock(&e->mem_rw);
    out->memtable_bytes += e->active->bytes;
    pthread_rwlock_unlock(&e->mem_rw);
}

int engine_check(Engine *e, Buf *report, uint64_t *problems)
{
    uint64_t bad = e->bad_segments, blocks = 0, points = 0;
    DecodeBuf d = {0};
    EventVec ev;
    event_vec_init(&ev);
    if (bad)
        buf_printf(report, "%" PRIu64 " segment file(s) unreadable (see the log above)\n", bad);
    uint64_t next_id = series_index_next_id(e->ix);
    for (size_t i = 0; i < e->segs->n; i++) {
        const Segment *seg = e->segs->segs[i];
        uint64_t seq = segment_seq(seg);
        TsError err = {0};
        if (segment_verify(seg, &err) != TS_OK) {
            buf_printf(report, "segment %016" PRIx64 ": %s\n", seq, err.msg);
            bad++;
            continue;
        }
        const SegmentEntry *en = segment_entries(seg);
        size_t ne = segment_entry_count(seg);
        for (size_t k = 0; k < ne; k++) {
            const SegmentEntry *x = &en[k];
            blocks++;
            if (x->series_id < SERIES_ID_FIRST || x->series_id >= next_id) {
                buf_printf(report,
                           "segment %016" PRIx64 " entry %zu: unknown series id %" PRIu64 "\n", seq,
                           k, x->series_id);
                bad++;
            }
            if (k > 0 && en[k - 1].series_id == x->series_id &&
                en[k - 1].max_ts_ns >= x->min_ts_ns) {
                buf_printf(report,
                           "segment %016" PRIx64 " entry %zu: blocks of series %" PRIu64
                           " overlap or are out of order\n",
                           seq, k, x->series_id);
                bad++;
            }
            Slice blk = segment_block(seg, x);
            long n;
            const int64_t *ts;
            if (event_block_is(blk)) {
                TsError berr = {0};
                event_vec_clear(&ev);
                n = event_block_decode(blk, &ev, &berr) == TS_OK ? (long)ev.n : -1;
                ts = ev.ts_ns;
            } else {
                n = decode_block(&d, blk);
                ts = d.ts_ns;
            }
            if (n < 0) {
                buf_printf(report, "segment %016" PRIx64 " entry %zu: corrupt block\n", seq, k);
                bad++;
                continue;
            }
            points += (uint64_t)n;
            if ((uint32_t)n != x->n_points || n == 0 || ts[0] != x->min_ts_ns ||
                ts[n - 1] != x->max_ts_ns) {
                buf_printf(report,
                           "segment %016" PRIx64 " entry %zu: index entry does not match "
                           "its block\n",
                           seq, k);
                bad++;
            }
            for (long j = 1; j < n; j++) {
                if (ts[j] <= ts[j - 1]) {
                    buf_printf(report,
                               "segment %016" PRIx64 " entry %zu: timestamps not strictly "
                               "ascending\n",
                               seq, k);
                    bad++;
                    break;
                }
            }
        }
    }
    decodebuf_free(&d);
    event_vec_deinit(&ev);
    buf_printf(report,
               "checked %zu segments, %" PRIu64 " blocks, %" PRIu64 " points in segments, %" PRIu64
               " points in the WAL (%" PRIu64 " torn bytes cut from its copy), %" PRIu64
               " series: %" PRIu64 " problems\n",
               e->segs->n, blocks, points, e->recovered_points, e->wal_dropped_bytes,
               series_index_count(e->ix), bad);
    *problems = bad;
    return bad ? TS_ERR_CORRUPT : TS_OK;
}
