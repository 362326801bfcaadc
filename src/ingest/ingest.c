/*
 * Per-thread ingest: key -> id cache, batch filling and submission (see ingest.h).
 *
 * The cache is an open-addressing table of (hash, id, borrowed key) entries. Keys point into
 * the SeriesIndex's key storage, which never moves or frees them, so a cached entry stays valid
 * for the life of the index.
 */
#include "ingest/ingest.h"
#include "storage/event_block.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/status.h"

#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CACHE_INLINE_KEY 36 /* keys up to this long are compared inside the entry */

/* One cache slot: exactly one 64-byte cache line, so a hit on a short key touches one line. */
typedef struct CacheEntry {
    uint64_t hash;      /* hash64 of the key; 0 marks an empty slot */
    uint64_t id;        /* series id */
    const uint8_t *key; /* borrowed from the index (stable for its lifetime) */
    uint32_t key_len;
    uint8_t key_inline[CACHE_INLINE_KEY]; /* copy of the key when key_len <= CACHE_INLINE_KEY */
} CacheEntry;

_Static_assert(sizeof(CacheEntry) == 64, "cache entries are one cache line");

/* An open-addressing table of CacheEntry (linear probing, at most half full). */
typedef struct KeyCache {
    CacheEntry *slots; /* owned, 64-byte aligned, cap slots */
    size_t cap;        /* power of two */
    size_t n;          /* used slots */
} KeyCache;

#define ALIAS_BYTES_MAX (64u << 20) /* name copies kept by the alias cache before it resets */

struct Ingest {
    Engine *e;          /* borrowed */
    SeriesIndex *ix;    /* borrowed */
    BatchPool *pool;    /* owned */
    PointBatch *cur;    /* batch being filled, or NULL */
    int wake_fd;        /* owned eventfd */
    KeyCache keys;      /* canonical key -> id; keys borrowed from the index */
    KeyCache aliases;   /* name as sent -> id; names copied into alias_bytes */
    Arena alias_bytes;  /* capped; when full, the alias cache starts over */
    Buf key_scratch;    /* canonical key built for an alias miss */
};

static void cache_init(KeyCache *kc)
{
    kc->cap = 1024;
    kc->n = 0;
    kc->slots = ts_calloc_aligned(64, kc->cap * sizeof(CacheEntry));
}

Ingest *ingest_new(Engine *e, SeriesIndex *ix, uint32_t batches, uint32_t batch_points)
{
    Ingest *in = ts_calloc(1, sizeof(*in));
    in->e = e;
    in->ix = ix;
    in->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    in->pool = batch_pool_new(batches, batch_points, in->wake_fd);
    cache_init(&in->keys);
    cache_init(&in->aliases);
    arena_init(&in->alias_bytes, ALIAS_BYTES_MAX);
    buf_init(&in->key_scratch);
    return in;
}

void ingest_free(Ingest *in)
{
    if (!in)
        return;
    batch_pool_free(in->pool);
    if (in->wake_fd >= 0)
        close(in->wake_fd);
    ts_free(in->keys.slots);
    ts_free(in->aliases.slots);
    arena_deinit(&in->alias_bytes);
    buf_deinit(&in->key_scratch);
    ts_free(in);
}

static uint64_t key_hash(Slice key)
{
    uint64_t h = hash64(key.p, key.n);
    return h ? h : 1;
}

/* Add (h, id, key); 'key' must stay valid as long as the entry (it is compared on lookups). */
static void cache_insert(KeyCache *kc, uint64_t h, uint64_t id, Slice key)
{
    if ((kc->n + 1) * 2 > kc->cap) {
        size_t cap = kc->cap * 2;
        CacheEntry *t = ts_calloc_aligned(64, cap * sizeof(CacheEntry));
        for (size_t i = 0; i < kc->cap; i++) {
            CacheEntry *c = &kc->slots[i];
            if (!c->hash)
                continue;
            size_t j = c->hash & (cap - 1);
            while (t[j].hash)
                j = (j + 1) & (cap - 1);
            t[j] = *c;
        }
        ts_free(kc->slots);
        kc->slots = t;
        kc->cap = cap;
    }
    size_t j = h & (kc->cap - 1);
    while (kc->slots[j].hash)
        j = (j + 1) & (kc->cap - 1);
    CacheEntry *c = &kc->slots[j];
    c->hash = h;
    c->id = id;
    c->key = key.p;
    c->key_len = (uint32_t)key.n;
    if (key.n <= CACHE_INLINE_KEY)
        memcpy(c->key_inline, key.p, key.n);
    kc->n++;
}

static bool cache_find(const KeyCache *kc, Slice key, uint64_t h, uint64_t *id)
{
    size_t j = h & (kc->cap - 1);
    for (;;) {
        const CacheEntry *c = &kc->slots[j];
        if (!c->hash)
            return false;
        if (c->hash == h && c->key_len == key.n &&
            memcmp(key.n <= CACHE_INLINE_KEY ? c->key_inline : c->key, key.p, key.n) == 0) {
            *id = c->id;
            return true;
        }
        j = (j + 1) & (kc->cap - 1);
    }
}

static void cache_prefetch(const KeyCache *kc, uint64_t h)
{
    __builtin_prefetch(&kc->slots[h & (kc->cap - 1)]);
}

/* Resolve a key (with its hash) to an id: the private cache first, then the shared index. */
static int resolve(Ingest *in, Slice key, uint64_t h, uint64_t *id)
{
    if (cache_find(&in->keys, key, h, id))
        return TS_OK;
    bool created = false;
    int rc = series_index_intern(in->ix, key, id, &created);
    if (rc != TS_OK)
        return rc;
    Slice stable;
    rc = series_index_key(in->ix, *id, &stable);
    if (rc != TS_OK)
        return rc;
    cache_insert(&in->keys, h, *id, stable);
    return TS_OK;
}

/* Remember that 'name' (as sent) is series 'id'; the name is copied. */
static void alias_insert(Ingest *in, uint64_t h, uint64_t id, Slice name)
{
    uint8_t *copy = arena_alloc(&in->alias_bytes, name.n ? name.n : 1);
    if (!copy) {
        /* Names are unbounded in variety (tag orders, ...): start over rather than grow. */
        ts_free(in->aliases.slots);
        cache_init(&in->aliases);
        arena_reset(&in->alias_bytes);
        copy = arena_alloc(&in->alias_bytes, name.n ? name.n : 1);
        if (!copy)
            return;
    }
    memcpy(copy, name.p, name.n);
    cache_insert(&in->aliases, h, id, slice_make(copy, name.n));
}

int ingest_resolve(Ingest *in, Slice key, uint64_t *id)
{
    return resolve(in, key, key_hash(key), id);
}

/* resolve(), but nothing new is interned while the store is read-only. */
static int resolve_writable(Ingest *in, Slice key, uint64_t h, uint64_t *id)
{
    if (cache_find(&in->keys, key, h, id))
        return TS_OK;
    if (engine_read_only(in->e))
        return TS_ERR_READONLY;
    return resolve(in, key, h, id);
}

int ingest_resolve_writable(Ingest *in, Slice key, uint64_t *id)
{
    return resolve_writable(in, key, key_hash(key), id);
}

bool ingest_alias_find(Ingest *in, Slice name, uint64_t *id)
{
    return cache_find(&in->aliases, name, key_hash(name), id);
}

int ingest_alias_resolve(Ingest *in, Slice name, Slice key, uint64_t *id)
{
    int rc = resolve_writable(in, key, key_hash(key), id);
    if (rc == TS_OK)
        alias_insert(in, key_hash(name), *id, name);
    return rc;
}

int ingest_ready(Ingest *in)
{
    if (!in->cur)
        in->cur = batch_pool_get(in->pool);
    return in->cur != NULL;
}

bool ingest_reserve(Ingest *in, uint32_t n)
{
    if (in->cur && in->cur->cap - in->cur->n < n) {
        engine_submit(in->e, in->cur);
        in->cur = NULL;
    }
    return ingest_ready(in);
}

/* An event series' key (Akumuli `!name`): such a series takes events only, never numbers. */
static bool is_event_key(Slice key)
{
    return key.n > 0 && key.p[0] == '!';
}

/* Append one resolved point to the current batch, submitting it when full. */
static void batch_add(Ingest *in, uint64_t id, int64_t ts_ns, double value)
{
    PointBatch *b = in->cur;
    b->ids[b->n] = id;
    b->ts_ns[b->n] = ts_ns;
    b->values[b->n] = value;
    if (++b->n == b->cap) {
        engine_submit(in->e, b);
        in->cur = NULL;
    }
}

void ingest_put_many(Ingest *in, const IngestPoint *pts, size_t n, int *rcs)
{
    uint64_t h[INGEST_MANY_MAX];
    TS_ASSERT(n <= INGEST_MANY_MAX && in->cur && in->cur->cap - in->cur->n >= n);
    bool ro = engine_read_only(in->e);
    for (size_t i = 0; i < n; i++) {
        if (pts[i].id)
            continue;
        h[i] = key_hash(pts[i].key);
        cache_prefetch(&in->keys, h[i]);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t id = pts[i].id;
        if (ro)
            rcs[i] = TS_ERR_READONLY;
        else if (!id && is_event_key(pts[i].key))
            rcs[i] = TS_ERR_PROTO;
        else
            rcs[i] = id ? TS_OK : resolve(in, pts[i].key, h[i], &id);
        if (rcs[i] == TS_OK)
            batch_add(in, id, pts[i].ts_ns, pts[i].value);
    }
}

int ingest_put(Ingest *in, Slice key, int64_t ts_ns, double value)
{
    if (engine_read_only(in->e))
        return TS_ERR_READONLY;
    if (!ingest_reserve(in, 1))
        return TS_ERR_AGAIN;
    IngestPoint p = {key, ts_ns, value, 0};
    int rc;
    ingest_put_many(in, &p, 1, &rc);
    return rc;
}

void ingest_put_many_named(Ingest *in, const IngestPoint *pts, size_t n, IngestKeyFn key_fn,
                           void *ctx, int *rcs)
{
    uint64_t h[INGEST_MANY_MAX];
    TS_ASSERT(n <= INGEST_MANY_MAX && in->cur && in->cur->cap - in->cur->n >= n);
    bool ro = engine_read_only(in->e);
    for (size_t i = 0; i < n; i++) {
        if (pts[i].id)
            continue;
        h[i] = key_hash(pts[i].key);
        cache_prefetch(&in->aliases, h[i]);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t id = pts[i].id;
        if (ro) {
            rcs[i] = TS_ERR_READONLY;
            continue;
        }
        if (!id && !cache_find(&in->aliases, pts[i].key, h[i], &id)) {
            buf_clear(&in->key_scratch);
            rcs[i] = key_fn(ctx, pts[i].key, &in->key_scratch);
            if (rcs[i] != TS_OK)
                continue;
            Slice key = slice_make(in->key_scratch.p, in->key_scratch.n);
            rcs[i] = is_event_key(key) ? TS_ERR_PROTO : resolve(in, key, key_hash(key), &id);
            if (rcs[i] != TS_OK)
                continue;
            alias_insert(in, h[i], id, pts[i].key);
        }
        rcs[i] = TS_OK;
        batch_add(in, id, pts[i].ts_ns, pts[i].value);
    }
}

int ingest_put_event(Ingest *in, uint64_t id, int64_t ts_ns, Slice text)
{
    if (engine_read_only(in->e))
        return TS_ERR_READONLY;
    if (text.n > EVENT_TEXT_MAX)
        return TS_ERR_LIMIT;
    if (in->cur && !batch_events_room(in->cur, text.n)) {
        engine_submit(in->e, in->cur);
        in->cur = NULL;
    }
    if (!ingest_ready(in))
        return TS_ERR_AGAIN;
    batch_add_event(in->cur, id, ts_ns, text);
    return TS_OK;
}

void ingest_flush(Ingest *in)
{
    if (in->cur && (in->cur->n > 0 || in->cur->events.n > 0)) {
        engine_submit(in->e, in->cur);
        in->cur = NULL;
    }
}

bool ingest_flush_durable(Ingest *in, void (*fn)(void *arg, uint64_t token, bool ok), void *arg,
                          uint64_t token)
{
    if (!ingest_ready(in))
        return false;
    in->cur->on_durable = fn;
    in->cur->durable_arg = arg;
    in->cur->durable_token = token;
    engine_submit(in->e, in->cur);
    in->cur = NULL;
    return true;
}

int ingest_wake_fd(Ingest *in)
{
    return in->wake_fd;
}

void ingest_drain_wake(Ingest *in)
{
    uint64_t v;
    ssize_t r = read(in->wake_fd, &v, sizeof(v));
    (void)r;
}
