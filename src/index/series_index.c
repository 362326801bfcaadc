/*
 * The series index: canonical series key <-> dense series id, the inverted indexes behind tag
 * queries, suggest and Graphite /metrics/find, and the series file that makes ids durable.
 *
 * Ingest resolves every point's series key to an id through series_index_intern (a read-locked
 * hash probe for series that already exist); storage only ever sees ids; queries turn metric and
 * tag conditions back into id lists (series_index_find) and ids into keys (series_index_key).
 *
 * Memory layout, all guarded by one rwlock and never shrunk:
 *   - key store: the key bytes, appended to chunks (4 KiB growing to 1 MiB) that are never
 *     reallocated, so a borrowed key slice lives as long as the index;
 *   - keys: id -> (pointer, length), in 4096-entry pages allocated on first use (ids loaded out
 *     of order may leave holes);
 *   - key table: open addressing, linear probing, one u64 per slot = (low 32 bits of
 *     hash64(key)) << 32 | (id - SERIES_ID_FIRST + 1), load <= 0.7, 0 = empty;
 *   - terms: one per distinct metric of a key that has a space (tagged, or with `\ ` in the
 *     name) and one per distinct tag key=value, each with its postings (relative ids, kept
 *     sorted; a single posting is stored inline), found through a term table of the same
 *     shape. Term names are the unescaped strings; they point into the key itself unless the
 *     key had `\ ` escapes, in which case an unescaped copy is stored. A plain name (no space
 *     at all) needs no metric term: the key table already maps it to its only series;
 *   - name tree: one 24-byte node per distinct dotted prefix of a plain name, linked parent ->
 *     first child -> next sibling, found through a node table keyed by (parent, segment). A
 *     node records which series' key its path is a prefix of, so paths are never rebuilt.
 * Relative ids, term numbers and node numbers are 32-bit, which caps the index at about 4e9
 * series. Measured with glibc (tests/unit/test_series_index.c, release build): 1M plain names
 * `servers.webN.cpuM.user` (2.1 tree nodes each) take about 118 bytes per series beyond the
 * key bytes, 1M tagged `cpu.user dc=.. host=..` about 91.
 *
 * Series file (<dir>/series.dat), little-endian, append-only:
 *
 *   offset  size  field
 *   0       8     magic "cairnSRS"
 *   8       4     u32 version = 1
 *   12      4     u32 crc32c of bytes 0..11
 *   16      ...   records, back to back:
 *                   +0   u32 key_bytes   1..SERIES_KEY_MAX
 *                   +4   u32 crc32c over the 8 id bytes then the key bytes
 *                   +8   u64 id          SERIES_ID_FIRST <= id < SERIES_ID_FIRST + SERIES_ID_SPAN
 *                   +16  key_bytes bytes of canonical series key
 *
 * Records are written in id order by series_index_persist, which fdatasyncs before reporting
 * the ids durable; a record whose id and key are both already known is harmless. Validity when
 * loading: a record is good when it is complete, its length is in range, its checksum matches
 * and series_index_insert accepts it (no conflict). Loading stops at the first bad record and
 * truncates the file there: after a crash only a torn tail can be bad, and every record before
 * it was synced. A complete header that does not match is reported as TS_ERR_CORRUPT and the
 * file is left alone (it is not ours); a header shorter than 16 bytes is a torn creation and is
 * cut to an empty file.
 */
#include "index/series_index.h"
#include "index/glob.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/endian.h"
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_CHUNK_MIN 4096
#define KEY_CHUNK_MAX (1u << 20)
#define PAGE_BITS 12
#define PAGE_SLOTS ((size_t)1 << PAGE_BITS)
#define NONE UINT32_MAX
#define ITEM_LIMIT (UINT32_MAX - 16u) /* terms and nodes stay below this */
#define TERM_METRIC UINT32_MAX        /* Term.val_n of a metric term */

_Static_assert(SERIES_KEY_MAX <= UINT16_MAX, "Node lengths are 16-bit");

#define FILE_MAGIC "cairnSRS"
#define FILE_VERSION 1u
#define FILE_HDR_BYTES 16
#define REC_HDR_BYTES 16
#define PERSIST_BATCH_BYTES (4u << 20)
#define LOAD_BUF_BYTES ((size_t)(1u << 20) + REC_HDR_BYTES + SERIES_KEY_MAX)

typedef struct KeyChunk {
    struct KeyChunk *next; /* older chunk */
    size_t size_bytes;     /* usable bytes in data[] */
    size_t used_bytes;     /* bytes handed out */
    uint8_t data[];
} KeyChunk;

typedef struct KeyRef {
    const uint8_t *p;        /* key bytes in the key store; NULL for an unassigned id */
    uint32_t n;              /* key length */
    _Atomic int64_t last_ts; /* newest ts seen by series_index_check_order; 0 = none yet */
} KeyRef;

typedef struct Term {
    const uint8_t *name; /* unescaped metric, or unescaped tag key '=' value */
    uint32_t key_n;      /* metric length, or tag key length */
    uint32_t val_n;      /* tag value length (value at name + key_n + 1); TERM_METRIC */
    union {
        uint32_t one;  /* the only posting while cap == 0 */
        uint32_t *ids; /* sorted relative ids when cap > 0 */
    } post;
    uint32_t n;   /* postings */
    uint32_t cap; /* capacity of post.ids; 0 = inline */
} Term;

typedef struct Node {
    uint32_t key_rel;      /* series whose key starts with this node's path; NONE: the root */
    uint16_t path_n;       /* path length (keys are at most SERIES_KEY_MAX bytes) */
    uint16_t seg_n;        /* the segment is the last seg_n bytes of the path */
    uint32_t parent;       /* node number; NONE for the root (node 0) */
    uint32_t first_child;  /* newest child, or NONE */
    uint32_t next_sibling; /* next older sibling, or NONE */
    bool is_leaf;          /* a series has exactly this name */
} Node;

/* Fixed-size elements in pages that never move; the page directory may be reallocated. */
typedef struct Paged {
    uint8_t **pages;   /* directory; NULL entries are pages never touched */
    size_t npages;     /* directory length */
    size_t elem_bytes; /* element size */
} Paged;

/* Open-addressing table of 32-bit item numbers; see the opening comment for the slot format. */
typedef struct Table {
    uint64_t *slots; /* cap entries, NULL when cap == 0 */
    size_t cap;      /* power of two, or 0 */
    size_t n;        /* items held */
    unsigned shift;  /* 64 - log2(cap): the slot index is the top bits of the hash */
} Table;

struct SeriesIndex {
    pthread_rwlock_t lock; /* guards every field below except max_series */
    uint64_t max_series;   /* 0 = no cap; immutable */
    uint64_t count;        /* series held */
    uint64_t rejected;     /* interns refused by max_series or the id space */
    uint32_t next_rel;     /* next id minus SERIES_ID_FIRST */
    KeyChunk *chunks;      /* newest key store chunk first */
    Paged keys;            /* KeyRef by relative id */
    Table key_table;       /* key -> relative id */
    Paged terms;           /* Term by term number */
    uint32_t nterms;       /* terms in use */
    Table term_table;      /* (metric) or (key, value) -> term number */
    Paged nodes;           /* Node by node number; node 0 is the root */
    uint32_t nnodes;       /* nodes in use */
    Table node_table;      /* (parent, segment) -> node number */
    Buf scratch;           /* unescaping room for writers (write lock) */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

static bool has_prefix(Slice s, Slice prefix)
{
    return s.n >= prefix.n && bytes_eq(s.p, prefix.p, prefix.n);
}

static void rd_lock(SeriesIndex *ix)
{
    int rc = pthread_rwlock_rdlock(&ix->lock);
    TS_ASSERT(rc == 0);
}

static void wr_lock(SeriesIndex *ix)
{
    int rc = pthread_rwlock_wrlock(&ix->lock);
    TS_ASSERT(rc == 0);
}

static void un_lock(SeriesIndex *ix)
{
    int rc = pthread_rwlock_unlock(&ix->lock);
    TS_ASSERT(rc == 0);
}

/* ---- key syntax ------------------------------------------------------------------------- */

/*
 * Walks the parts of a canonical key separated by unescaped spaces: the metric, then each
 * key=value tag. `\ ` is an escaped space; a backslash before anything else is literal.
 */
typedef struct KeyIter {
    const uint8_t *p; /* key */
    size_t n;         /* key length */
    size_t pos;       /* start of the next part; n + 1 when done */
} KeyIter;

static void key_iter_init(KeyIter *it, Slice key)
{
    it->p = key.p;
    it->n = key.n;
    it->pos = 0;
}

static bool key_iter_next(KeyIter *it, Slice *part, bool *escaped)
{
    if (it->pos > it->n)
        return false;
    size_t s = it->pos, i = s;
    bool esc = false;
    while (i < it->n) {
        if (it->p[i] == '\\' && i + 1 < it->n && it->p[i + 1] == ' ') {
            esc = true;
            i += 2;
            continue;
        }
        if (it->p[i] == ' ')
            break;
        i++;
    }
    *part = slice_make(it->p + s, i - s);
    *escaped = esc;
    it->pos = i + 1;
    return true;
}

/* Tag part -> its raw key and value (split at the first '='); false without one. */
static bool tag_split(Slice part, Slice *key, Slice *val)
{
    const uint8_t *eq = part.n ? memchr(part.p, '=', part.n) : NULL;
    if (!eq)
        return false;
    size_t kn = (size_t)(eq - part.p);
    *key = slice_make(part.p, kn);
    *val = slice_make(eq + 1, part.n - kn - 1);
    return true;
}

/* Unescape 'raw' into dst (room for raw.n bytes); returns the length written. */
static size_t unescape(uint8_t *dst, Slice raw)
{
    size_t j = 0;
    for (size_t i = 0; i < raw.n; i++) {
        uint8_t c = raw.p[i];
        if (c == '\\' && i + 1 < raw.n && raw.p[i + 1] == ' ') {
            c = ' ';
            i++;
        }
        dst[j++] = c;
    }
    return j;
}

/* Does 'raw' unescape to exactly 'plain'? */
static bool raw_eq_plain(Slice raw, Slice plain)
{
    size_t j = 0;
    for (size_t i = 0; i < raw.n; i++) {
        uint8_t c = raw.p[i];
        if (c == '\\' && i + 1 < raw.n && raw.p[i + 1] == ' ') {
            c = ' ';
            i++;
        }
        if (j >= plain.n || plain.p[j] != c)
            return false;
        j++;
    }
    return j == plain.n;
}

/*
 * Check the shape the index relies on: non-empty metric, every tag non-empty with a '=' and a
 * non-empty key. *nparts receives 1 + tags, *nsegs the dot segments (untagged keys only).
 */
static int key_validate(Slice key, size_t *nparts, size_t *nsegs)
{
    if (key.n == 0)
        return TS_ERR_PROTO;
    KeyIter it;
    Slice part, k, v;
    bool esc;
    key_iter_init(&it, key);
    *nparts = 0;
    while (key_iter_next(&it, &part, &esc)) {
        if (part.n == 0)
            return TS_ERR_PROTO;
        if (*nparts > 0 && (!tag_split(part, &k, &v) || k.n == 0))
            return TS_ERR_PROTO;
        (*nparts)++;
    }
    *nsegs = 0;
    if (*nparts == 1 && !memchr(key.p, ' ', key.n)) {
        *nsegs = 1;
        for (size_t i = 0; i < key.n; i++)
            *nsegs += key.p[i] == '.';
    }
    return TS_OK;
}

/* ---- key store and paged arrays --------------------------------------------------------- */

/* Room for n <= KEY_CHUNK_MAX bytes that never move; n may be 0. */
static uint8_t *store_alloc(SeriesIndex *ix, size_t n)
{
    KeyChunk *c = ix->chunks;
    if (!c || c->size_bytes - c->used_bytes < n) {
        size_t size = c ? c->size_bytes * 2 : KEY_CHUNK_MIN;
        if (size > KEY_CHUNK_MAX)
            size = KEY_CHUNK_MAX;
        if (size < n)
            size = n;
        c = ts_malloc(sizeof(KeyChunk) + size);
        c->size_bytes = size;
        c->used_bytes = 0;
        c->next = ix->chunks;
        ix->chunks = c;
    }
    uint8_t *p = c->data + c->used_bytes;
    c->used_bytes += n;
    return p;
}

static const uint8_t *store_put(SeriesIndex *ix, Slice s)
{
    uint8_t *p = store_alloc(ix, s.n);
    if (s.n)
        memcpy(p, s.p, s.n);
    return p;
}

static void *paged_get(const Paged *pg, size_t i)
{
    size_t pi = i >> PAGE_BITS;
    if (pi >= pg->npages || !pg->pages[pi])
        return NULL;
    return pg->pages[pi] + (i & (PAGE_SLOTS - 1)) * pg->elem_bytes;
}

/* Element i, allocating (zeroed) its page and growing the directory as needed. */
static void *paged_at(Paged *pg, size_t i)
{
    size_t pi = i >> PAGE_BITS;
    if (pi >= pg->npages) {
        size_t n = pg->npages ? pg->npages * 2 : 16;
        if (n <= pi)
            n = pi + 1;
        pg->pages = ts_realloc(pg->pages, n * sizeof(*pg->pages));
        memset(pg->pages + pg->npages, 0, (n - pg->npages) * sizeof(*pg->pages));
        pg->npages = n;
    }
    if (!pg->pages[pi])
        pg->pages[pi] = ts_calloc(PAGE_SLOTS, pg->elem_bytes);
    return pg->pages[pi] + (i & (PAGE_SLOTS - 1)) * pg->elem_bytes;
}

static void paged_free(Paged *pg)
{
    for (size_t i = 0; i < pg->npages; i++)
        ts_free(pg->pages[i]);
    ts_free(pg->pages);
    pg->pages = NULL;
    pg->npages = 0;
}

static Slice key_of(const SeriesIndex *ix, uint32_t rel)
{
    const KeyRef *r = paged_get(&ix->keys, rel);
    if (!r || !r->p)
        return slice_make(NULL, 0);
    return slice_make(r->p, r->n);
}

static Term *term_at(const SeriesIndex *ix, uint32_t t)
{
    return paged_get(&ix->terms, t);
}

static Node *node_at(const SeriesIndex *ix, uint32_t nd)
{
    return paged_get(&ix->nodes, nd);
}

/* ---- hash tables ------------------------------------------------------------------------ */

typedef bool (*ItemEq)(const SeriesIndex *ix, uint32_t item, const void *probe);
typedef uint64_t (*ItemHash)(const SeriesIndex *ix, uint32_t item);

static uint32_t table_find(const SeriesIndex *ix, const Table *t, uint64_t h, ItemEq eq,
                           const void *probe)
{
    if (!t->cap)
        return NONE;
    size_t mask = t->cap - 1, i = (size_t)(h >> t->shift);
    uint32_t tag = (uint32_t)h;
    for (;;) {
        uint64_t s = t->slots[i];
        if (!s)
            return NONE;
        if ((uint32_t)(s >> 32) == tag && eq(ix, (uint32_t)s - 1, probe))
            return (uint32_t)s - 1;
        i = (i + 1) & mask;
    }
}

static void table_put(Table *t, uint64_t h, uint32_t item)
{
    size_t mask = t->cap - 1, i = (size_t)(h >> t->shift);
    while (t->slots[i])
        i = (i + 1) & mask;
    t->slots[i] = ((uint64_t)(uint32_t)h << 32) | ((uint64_t)item + 1);
}

static void table_add(SeriesIndex *ix, Table *t, uint64_t h, uint32_t item, ItemHash hf)
{
    if ((t->n + 1) * 10 > t->cap * 7) {
        Table nt;
        nt.cap = t->cap ? t->cap * 2 : 64;
        nt.n = t->n;
        nt.shift = 64;
        for (size_t c = nt.cap; c > 1; c >>= 1)
            nt.shift--;
        nt.slots = ts_calloc(nt.cap, sizeof(uint64_t));
        for (size_t i = 0; i < t->cap; i++) {
            if (t->slots[i]) {
                uint32_t it = (uint32_t)t->slots[i] - 1;
                table_put(&nt, hf(ix, it), it);
            }
        }
        ts_free(t->slots);
        *t = nt;
    }
    table_put(t, h, item);
    t->n++;
}

static bool key_eq(const SeriesIndex *ix, uint32_t rel, const void *probe)
{
    return slice_eq(key_of(ix, rel), *(const Slice *)probe);
}

static uint64_t key_hash(const SeriesIndex *ix, uint32_t rel)
{
    Slice k = key_of(ix, rel);
    return hash64(k.p, k.n);
}

typedef struct TermProbe {
    bool metric; /* a metric term (then only 'key' is used) */
    Slice key;   /* metric, or tag key; unescaped */
    Slice val;   /* tag value; unescaped */
} TermProbe;

static uint64_t term_hash_of(bool metric, Slice key, Slice val)
{
    uint64_t h = hash64(key.p, key.n);
    if (metric)
        return h;
    return mix64(h ^ (hash64(val.p, val.n) * 0x9e3779b97f4a7c15ULL) ^ 0x5bd1e995u);
}

static bool term_eq(const SeriesIndex *ix, uint32_t item, const void *probe)
{
    const Term *t = term_at(ix, item);
    const TermProbe *pr = probe;
    if (t->key_n != pr->key.n || !bytes_eq(t->name, pr->key.p, pr->key.n))
        return false;
    if (pr->metric)
        return t->val_n == TERM_METRIC;
    return t->val_n == pr->val.n && bytes_eq(t->name + t->key_n + 1, pr->val.p, pr->val.n);
}

static uint64_t term_hash(const SeriesIndex *ix, uint32_t item)
{
    const Term *t = term_at(ix, item);
    if (t->val_n == TERM_METRIC)
        return term_hash_of(true, slice_make(t->name, t->key_n), slice_make(NULL, 0));
    return term_hash_of(false, slice_make(t->name, t->key_n),
                        slice_make(t->name + t->key_n + 1, t->val_n));
}

typedef struct NodeProbe {
    uint32_t parent; /* node number */
    Slice seg;       /* segment under it */
} NodeProbe;

static uint64_t node_hash_of(uint32_t parent, Slice seg)
{
    return mix64(hash64(seg.p, seg.n) ^ (((uint64_t)parent + 1) * 0x9e3779b97f4a7c15ULL));
}

static Slice node_path(const SeriesIndex *ix, const Node *nd)
{
    if (nd->key_rel == NONE)
        return slice_make(NULL, 0);
    return slice_make(key_of(ix, nd->key_rel).p, nd->path_n);
}

static Slice node_seg(const SeriesIndex *ix, const Node *nd)
{
    Slice path = node_path(ix, nd);
    return slice_make(path.p + path.n - nd->seg_n, nd->seg_n);
}

static bool node_eq(const SeriesIndex *ix, uint32_t item, const void *probe)
{
    const Node *nd = node_at(ix, item);
    const NodeProbe *pr = probe;
    return nd->parent == pr->parent && slice_eq(node_seg(ix, nd), pr->seg);
}

static uint64_t node_hash(const SeriesIndex *ix, uint32_t item)
{
    const Node *nd = node_at(ix, item);
    return node_hash_of(nd->parent, node_seg(ix, nd));
}

/* ---- terms and postings ----------------------------------------------------------------- */

static const uint32_t *term_ids(const Term *t)
{
    return t->cap ? t->post.ids : &t->post.one;
}

static void posting_add(Term *t, uint32_t rel)
{
    if (t->n == 0) {
        t->post.one = rel;
        t->n = 1;
        return;
    }
    if (term_ids(t)[t->n - 1] == rel)
        return;
    if (t->cap == 0) {
        uint32_t one = t->post.one;
        t->post.ids = ts_malloc(4 * sizeof(uint32_t));
        t->post.ids[0] = one;
        t->cap = 4;
    } else if (t->n == t->cap) {
        t->cap = t->cap < 1024 ? t->cap * 2 : t->cap + t->cap / 2;
        t->post.ids = ts_realloc(t->post.ids, (size_t)t->cap * sizeof(uint32_t));
    }
    uint32_t *ids = t->post.ids;
    if (ids[t->n - 1] < rel) {
        ids[t->n++] = rel;
        return;
    }
    /* Out-of-order insert (series file loaded in another order): keep the list sorted. */
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (ids[lo] == rel)
        return;
    memmove(ids + lo + 1, ids + lo, (t->n - lo) * sizeof(uint32_t));
    ids[lo] = rel;
    t->n++;
}

static uint32_t term_find(const SeriesIndex *ix, bool metric, Slice key, Slice val)
{
    TermProbe pr = {metric, key, val};
    return table_find(ix, &ix->term_table, term_hash_of(metric, key, val), term_eq, &pr);
}

/* Add 'rel' to the postings of the term named by raw key part 'raw' (creating the term). */
static void term_index(SeriesIndex *ix, bool metric, Slice raw, bool escaped, uint32_t rel)
{
    Slice plain = raw;
    if (escaped) {
        buf_clear(&ix->scratch);
        buf_reserve(&ix->scratch, raw.n);
        plain = slice_make(ix->scratch.p, unescape(ix->scratch.p, raw));
    }
    Slice key = plain, val = slice_make(NULL, 0);
    if (!metric)
        (void)tag_split(plain, &key, &val); /* validated: a '=' is present */
    uint32_t t = term_find(ix, metric, key, val);
    if (t == NONE) {
        t = ix->nterms++;
        Term *nt = paged_at(&ix->terms, t);
        nt->name = escaped ? store_put(ix, plain) : raw.p;
        nt->key_n = (uint32_t)key.n;
        nt->val_n = metric ? TERM_METRIC : (uint32_t)val.n;
        nt->n = 0;
        nt->cap = 0;
        table_add(ix, &ix->term_table, term_hash_of(metric, key, val), t, term_hash);
    }
    posting_add(term_at(ix, t), rel);
}

/* ---- name tree -------------------------------------------------------------------------- */

static void tree_add(SeriesIndex *ix, Slice key, uint32_t rel)
{
    uint32_t parent = 0;
    size_t start = 0;
    for (size_t i = 0; i <= key.n; i++) {
        if (i < key.n && key.p[i] != '.')
            continue;
        NodeProbe pr = {parent, slice_make(key.p + start, i - start)};
        uint64_t h = node_hash_of(parent, pr.seg);
        uint32_t c = table_find(ix, &ix->node_table, h, node_eq, &pr);
        if (c == NONE) {
            c = ix->nnodes++;
            Node *nd = paged_at(&ix->nodes, c);
            Node *pn = node_at(ix, parent);
            nd->key_rel = rel;
            nd->path_n = (uint16_t)i;
            nd->seg_n = (uint16_t)(i - start);
            nd->parent = parent;
            nd->first_child = NONE;
            nd->next_sibling = pn->first_child;
            nd->is_leaf = false;
            pn->first_child = c;
            table_add(ix, &ix->node_table, h, c, node_hash);
        }
        parent = c;
        start = i + 1;
    }
    node_at(ix, parent)->is_leaf = true;
}

/* ---- lifecycle, intern, lookup ---------------------------------------------------------- */

SeriesIndex *series_index_new(uint64_t max_series)
{
    SeriesIndex *ix = ts_calloc(1, sizeof(*ix));
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Ingest threads mostly read; a writer (a new series) must not starve behind them. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&ix->lock, &attr);
    TS_ASSERT(rc == 0);
    pthread_rwlockattr_destroy(&attr);
    ix->max_series = max_series;
    ix->keys.elem_bytes = sizeof(KeyRef);
    ix->terms.elem_bytes = sizeof(Term);
    ix->nodes.elem_bytes = sizeof(Node);
    buf_init(&ix->scratch);
    Node *root = paged_at(&ix->nodes, 0);
    root->key_rel = NONE;
    root->parent = NONE;
    root->first_child = NONE;
    root->next_sibling = NONE;
    ix->nnodes = 1;
    return ix;
}

void series_index_free(SeriesIndex *ix)
{
    if (!ix)
        return;
    for (uint32_t t = 0; t < ix->nterms; t++) {
        Term *tm = term_at(ix, t);
        if (tm->cap)
            ts_free(tm->post.ids);
    }
    KeyChunk *c = ix->chunks;
    while (c) {
        KeyChunk *next = c->next;
        ts_free(c);
        c = next;
    }
    paged_free(&ix->keys);
    paged_free(&ix->terms);
    paged_free(&ix->nodes);
    ts_free(ix->key_table.slots);
    ts_free(ix->term_table.slots);
    ts_free(ix->node_table.slots);
    buf_deinit(&ix->scratch);
    pthread_rwlock_destroy(&ix->lock);
    ts_free(ix);
}

/* Store a new series under 'rel' (write lock held; key validated; room checked). */
static void series_add(SeriesIndex *ix, Slice key, uint64_t h, uint32_t rel)
{
    Slice stored = slice_make(store_put(ix, key), key.n);
    KeyRef *r = paged_at(&ix->keys, rel);
    r->p = stored.p;
    r->n = (uint32_t)stored.n;
    table_add(ix, &ix->key_table, h, rel, key_hash);
    ix->count++;

    /* A plain name (no space at all) is its own metric: the key table already maps it to its
       only series, so it gets no metric term, only its place in the name tree. */
    if (!memchr(stored.p, ' ', stored.n)) {
        tree_add(ix, stored, rel);
        return;
    }
    KeyIter it;
    Slice part;
    bool esc, first = true;
    key_iter_init(&it, stored);
    while (key_iter_next(&it, &part, &esc)) {
        term_index(ix, first, part, esc, rel);
        first = false;
    }
}

/* Would nparts more terms and nsegs more nodes still fit the 32-bit numbering? */
static bool room_for(const SeriesIndex *ix, size_t nparts, size_t nsegs)
{
    return (uint64_t)ix->nterms + nparts < ITEM_LIMIT && (uint64_t)ix->nnodes + nsegs < ITEM_LIMIT;
}

int series_index_lookup(SeriesIndex *ix, Slice key, uint64_t *id)
{
    if (key.n == 0 || key.n > SERIES_KEY_MAX)
        return TS_ERR_NOTFOUND;
    uint64_t h = hash64(key.p, key.n);
    rd_lock(ix);
    uint32_t rel = table_find(ix, &ix->key_table, h, key_eq, &key);
    un_lock(ix);
    if (rel == NONE)
        return TS_ERR_NOTFOUND;
    *id = (uint64_t)rel + SERIES_ID_FIRST;
    return TS_OK;
}

int series_index_intern(SeriesIndex *ix, Slice key, uint64_t *id, bool *created)
{
    *created = false;
    if (key.n > SERIES_KEY_MAX)
        return TS_ERR_LIMIT;
    if (series_index_lookup(ix, key, id) == TS_OK)
        return TS_OK;
    size_t nparts, nsegs;
    int rc = key_validate(key, &nparts, &nsegs);
    if (rc != TS_OK)
        return rc;
    uint64_t h = hash64(key.p, key.n);
    wr_lock(ix);
    uint32_t rel = table_find(ix, &ix->key_table, h, key_eq, &key);
    if (rel != NONE) {
        *id = (uint64_t)rel + SERIES_ID_FIRST;
    } else if ((ix->max_series && ix->count >= ix->max_series) || ix->next_rel >= SERIES_ID_SPAN ||
               !room_for(ix, nparts, nsegs)) {
        ix->rejected++;
        rc = TS_ERR_LIMIT;
    } else {
        rel = ix->next_rel++;
        series_add(ix, key, h, rel);
        *id = (uint64_t)rel + SERIES_ID_FIRST;
        *created = true;
    }
    un_lock(ix);
    return rc;
}

int series_index_insert(SeriesIndex *ix, Slice key, uint64_t id)
{
    if (id < SERIES_ID_FIRST || id - SERIES_ID_FIRST >= SERIES_ID_SPAN)
        return TS_ERR_CORRUPT;
    if (key.n > SERIES_KEY_MAX)
        return TS_ERR_LIMIT;
    size_t nparts, nsegs;
    int rc = key_validate(key, &nparts, &nsegs);
    if (rc != TS_OK)
        return rc;
    uint32_t rel = (uint32_t)(id - SERIES_ID_FIRST);
    uint64_t h = hash64(key.p, key.n);
    wr_lock(ix);
    uint32_t have = table_find(ix, &ix->key_table, h, key_eq, &key);
    if (have != NONE) {
        rc = have == rel ? TS_OK : TS_ERR_CORRUPT;
    } else if (key_of(ix, rel).p) {
        rc = TS_ERR_CORRUPT;
    } else if (!room_for(ix, nparts, nsegs)) {
        rc = TS_ERR_LIMIT;
    } else {
        series_add(ix, key, h, rel);
        if (rel >= ix->next_rel)
            ix->next_rel = rel + 1;
    }
    un_lock(ix);
    return rc;
}

int series_index_key(SeriesIndex *ix, uint64_t id, Slice *key)
{
    if (id < SERIES_ID_FIRST || id - SERIES_ID_FIRST >= SERIES_ID_SPAN)
        return TS_ERR_NOTFOUND;
    rd_lock(ix);
    Slice k = key_of(ix, (uint32_t)(id - SERIES_ID_FIRST));
    un_lock(ix);
    if (!k.p)
        return TS_ERR_NOTFOUND;
    *key = k;
    return TS_OK;
}

int series_index_check_order(SeriesIndex *ix, uint64_t id, int64_t ts_ns, bool *late)
{
    *late = false;
    if (id < SERIES_ID_FIRST || id - SERIES_ID_FIRST >= SERIES_ID_SPAN)
        return TS_ERR_NOTFOUND;
    rd_lock(ix);
    KeyRef *r = paged_get(&ix->keys, (uint32_t)(id - SERIES_ID_FIRST));
    if (!r || !r->p) {
        un_lock(ix);
        return TS_ERR_NOTFOUND;
    }
    int64_t cur = atomic_load(&r->last_ts);
    for (;;) {
        if (cur != 0 && ts_ns < cur) {
            *late = true;
            break;
        }
        if (ts_ns == cur || atomic_compare_exchange_weak(&r->last_ts, &cur, ts_ns))
            break;
    }
    un_lock(ix);
    return TS_OK;
}

void series_index_note_newest(SeriesIndex *ix, uint64_t id, int64_t ts_ns)
{
    if (id < SERIES_ID_FIRST || id - SERIES_ID_FIRST >= SERIES_ID_SPAN)
        return;
    rd_lock(ix);
    KeyRef *r = paged_get(&ix->keys, (uint32_t)(id - SERIES_ID_FIRST));
    if (r && r->p) {
        int64_t cur = atomic_load(&r->last_ts);
        while ((cur == 0 || ts_ns > cur) && !atomic_compare_exchange_weak(&r->last_ts, &cur, ts_ns))
            ;
    }
    un_lock(ix);
}

uint64_t series_index_count(SeriesIndex *ix)
{
    rd_lock(ix);
    uint64_t n = ix->count;
    un_lock(ix);
    return n;
}

uint64_t series_index_next_id(SeriesIndex *ix)
{
    rd_lock(ix);
    uint64_t n = (uint64_t)ix->next_rel + SERIES_ID_FIRST;
    un_lock(ix);
    return n;
}

uint64_t series_index_rejected(SeriesIndex *ix)
{
    rd_lock(ix);
    uint64_t n = ix->rejected;
    un_lock(ix);
    return n;
}

/* ---- find ------------------------------------------------------------------------------- */

typedef struct IdList {
    const uint32_t *ids; /* sorted relative ids */
    size_t n;            /* how many */
    uint32_t *owned;     /* == ids when this list was built for the query; else NULL */
} IdList;

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_idlist(const void *a, const void *b)
{
    size_t x = ((const IdList *)a)->n, y = ((const IdList *)b)->n;
    return x < y ? -1 : x > y;
}

static size_t lower_bound_u32(const uint32_t *a, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Keep the elements of r[0..nr) that are also in b; returns the new count. Both sorted. */
static size_t intersect(uint32_t *r, size_t nr, const uint32_t *b, size_t nb)
{
    size_t w = 0, j = 0;
    bool seek = nb > 16 * nr;
    for (size_t i = 0; i < nr && j < nb; i++) {
        uint32_t x = r[i];
        if (seek)
            j += lower_bound_u32(b + j, nb - j, x);
        else
            while (j < nb && b[j] < x)
                j++;
        if (j < nb && b[j] == x)
            r[w++] = x;
    }
    return w;
}

/* Does the raw key carry a tag whose (unescaped) key is 'tag'? */
static bool key_has_tag(Slice key, Slice tag)
{
    KeyIter it;
    Slice part, k, v;
    bool esc, first = true;
    key_iter_init(&it, key);
    while (key_iter_next(&it, &part, &esc)) {
        if (!first && tag_split(part, &k, &v) && raw_eq_plain(k, tag))
            return true;
        first = false;
    }
    return false;
}

/* Union of the postings of tag=v for every v in f (read lock held). Caller frees ->owned. */
static void filter_union(const SeriesIndex *ix, const SeriesFilter *f, IdList *out)
{
    size_t total = 0;
    for (size_t v = 0; v < f->n_values; v++) {
        uint32_t t = term_find(ix, false, f->key, f->values[v]);
        if (t != NONE)
            total += term_at(ix, t)->n;
    }
    uint32_t *all = ts_malloc((total ? total : 1) * sizeof(uint32_t));
    size_t n = 0;
    for (size_t v = 0; v < f->n_values; v++) {
        uint32_t t = term_find(ix, false, f->key, f->values[v]);
        if (t == NONE)
            continue;
        const Term *tm = term_at(ix, t);
        memcpy(all + n, term_ids(tm), (size_t)tm->n * sizeof(uint32_t));
        n += tm->n;
    }
    qsort(all, n, sizeof(uint32_t), cmp_u32);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || all[w - 1] != all[i])
            all[w++] = all[i];
    out->ids = all;
    out->owned = all;
    out->n = w;
}

/*
 * The series of 'metric' (read lock held): its term's postings, plus the plain name spelled
 * the same (plain names have no metric term). Caller frees out->owned.
 */
static void metric_ids(const SeriesIndex *ix, Slice metric, IdList *out)
{
    uint32_t t = term_find(ix, true, metric, slice_make(NULL, 0));
    uint32_t plain = NONE;
    if (!memchr(metric.p, ' ', metric.n))
        plain = table_find(ix, &ix->key_table, hash64(metric.p, metric.n), key_eq, &metric);
    const Term *tm = t == NONE ? NULL : term_at(ix, t);
    out->owned = NULL;
    out->ids = tm ? term_ids(tm) : NULL;
    out->n = tm ? tm->n : 0;
    if (plain == NONE)
        return;
    uint32_t *all = ts_malloc((out->n + 1) * sizeof(uint32_t));
    size_t pos = lower_bound_u32(out->ids, out->n, plain);
    if (pos)
        memcpy(all, out->ids, pos * sizeof(uint32_t));
    all[pos] = plain;
    if (out->n > pos)
        memcpy(all + pos + 1, out->ids + pos, (out->n - pos) * sizeof(uint32_t));
    out->ids = all;
    out->owned = all;
    out->n++;
}

int series_index_find(SeriesIndex *ix, Slice metric, const SeriesFilter *f, size_t nf,
                      uint64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    IdList *lists = ts_calloc(nf + 1, sizeof(*lists));
    size_t nl = 0, nres = 0;
    uint32_t *res = NULL;
    bool empty = false;

    rd_lock(ix);
    if (metric.n) {
        metric_ids(ix, metric, &lists[nl]);
        if (lists[nl++].n == 0)
            empty = true;
    }
    for (size_t i = 0; i < nf && !empty; i++) {
        if (f[i].n_values == 0)
            continue;
        if (f[i].n_values == 1) {
            uint32_t t = term_find(ix, false, f[i].key, f[i].values[0]);
            if (t == NONE) {
                empty = true;
                break;
            }
            lists[nl].ids = term_ids(term_at(ix, t));
            lists[nl++].n = term_at(ix, t)->n;
        } else {
            filter_union(ix, &f[i], &lists[nl]);
            if (lists[nl++].n == 0)
                empty = true;
        }
    }
    if (!empty) {
        if (nl == 0) {
            res = ts_malloc((ix->count ? ix->count : 1) * sizeof(uint32_t));
            for (uint32_t rel = 0; rel < ix->next_rel; rel++)
                if (key_of(ix, rel).p)
                    res[nres++] = rel;
        } else {
            qsort(lists, nl, sizeof(*lists), cmp_idlist);
            res = ts_malloc((lists[0].n ? lists[0].n : 1) * sizeof(uint32_t));
            memcpy(res, lists[0].ids, lists[0].n * sizeof(uint32_t));
            nres = lists[0].n;
            for (size_t l = 1; l < nl && nres; l++)
                nres = intersect(res, nres, lists[l].ids, lists[l].n);
        }
        for (size_t i = 0; i < nf && nres; i++) {
            if (f[i].n_values)
                continue;
            size_t w = 0;
            for (size_t k = 0; k < nres; k++)
                if (key_has_tag(key_of(ix, res[k]), f[i].key))
                    res[w++] = res[k];
            nres = w;
        }
    }
    un_lock(ix);

    if (nres) {
        *ids = ts_malloc(nres * sizeof(uint64_t));
        for (size_t k = 0; k < nres; k++)
            (*ids)[k] = (uint64_t)res[k] + SERIES_ID_FIRST;
        *n = nres;
    }
    ts_free(res);
    for (size_t l = 0; l < nl; l++)
        ts_free(lists[l].owned);
    ts_free(lists);
    return TS_OK;
}

/* ---- suggest ---------------------------------------------------------------------------- */

/* A set of distinct slices, each stable for the set's lifetime (escaped ones copied). */
typedef struct SliceSet {
    Slice *items;    /* distinct items, insertion order */
    size_t n, cap;   /* items used / allocated */
    uint32_t *slots; /* open addressing: item index + 1, 0 = empty */
    size_t nslots;   /* power of two */
    Arena arena;     /* unescaped copies */
} SliceSet;

static void set_init(SliceSet *s)
{
    memset(s, 0, sizeof(*s));
    arena_init(&s->arena, 0);
}

static void set_deinit(SliceSet *s)
{
    ts_free(s->items);
    ts_free(s->slots);
    arena_deinit(&s->arena);
}

static void set_add(SliceSet *s, Slice x)
{
    if ((s->n + 1) * 2 > s->nslots) {
        size_t ns = s->nslots ? s->nslots * 2 : 64;
        ts_free(s->slots);
        s->slots = ts_calloc(ns, sizeof(uint32_t));
        s->nslots = ns;
        for (size_t i = 0; i < s->n; i++) {
            size_t j = (size_t)hash64(s->items[i].p, s->items[i].n) & (ns - 1);
            while (s->slots[j])
                j = (j + 1) & (ns - 1);
            s->slots[j] = (uint32_t)i + 1;
        }
    }
    size_t j = (size_t)hash64(x.p, x.n) & (s->nslots - 1);
    while (s->slots[j]) {
        if (slice_eq(s->items[s->slots[j] - 1], x))
            return;
        j = (j + 1) & (s->nslots - 1);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->items = ts_realloc(s->items, s->cap * sizeof(Slice));
    }
    s->items[s->n] = x;
    s->slots[j] = (uint32_t)++s->n;
}

/* Add the unescaped form of raw part 'raw' if it starts with 'prefix'. */
static void set_add_raw(SliceSet *s, Slice raw, bool escaped, Slice prefix)
{
    Slice plain = raw;
    if (escaped && memchr(raw.p, '\\', raw.n)) {
        uint8_t *dst = arena_alloc(&s->arena, raw.n);
        plain = slice_make(dst, unescape(dst, raw));
    }
    if (has_prefix(plain, prefix))
        set_add(s, plain);
}

static int cmp_slice(const void *a, const void *b)
{
    return slice_cmp(*(const Slice *)a, *(const Slice *)b);
}

/* Sort the set and hand each item to fn (no lock held). */
static int set_emit(SliceSet *s, int (*fn)(void *, Slice), void *ctx)
{
    if (s->n)
        qsort(s->items, s->n, sizeof(Slice), cmp_slice);
    for (size_t i = 0; i < s->n; i++) {
        int rc = fn(ctx, s->items[i]);
        if (rc)
            return rc;
    }
    return TS_OK;
}

int series_index_metric_names(SeriesIndex *ix, Slice prefix, int (*fn)(void *, Slice), void *ctx)
{
    SliceSet s;
    set_init(&s);
    rd_lock(ix);
    for (uint32_t t = 0; t < ix->nterms; t++) {
        const Term *tm = term_at(ix, t);
        Slice name = slice_make(tm->name, tm->key_n);
        if (tm->val_n == TERM_METRIC && has_prefix(name, prefix))
            set_add(&s, name);
    }
    for (uint32_t rel = 0; rel < ix->next_rel; rel++) {
        Slice key = key_of(ix, rel);
        if (key.p && !memchr(key.p, ' ', key.n) && has_prefix(key, prefix))
            set_add(&s, key);
    }
    un_lock(ix);
    int rc = set_emit(&s, fn, ctx);
    set_deinit(&s);
    return rc;
}

/*
 * Collect into 's' the tag keys (want_tag.p == NULL) or the values of tag 'want_tag' over the
 * series of 'metric' (all series when metric.n == 0), keeping those that start with 'prefix'.
 */
static void collect_tags(SeriesIndex *ix, Slice metric, Slice want_tag, bool values, Slice prefix,
                         SliceSet *s)
{
    rd_lock(ix);
    IdList ml = {NULL, ix->next_rel, NULL};
    if (metric.n)
        metric_ids(ix, metric, &ml);
    const uint32_t *ids = metric.n ? ml.ids : NULL;
    size_t n = ml.n;
    for (size_t i = 0; i < n; i++) {
        Slice key = key_of(ix, ids ? ids[i] : (uint32_t)i);
        if (!key.p || !memchr(key.p, ' ', key.n))
            continue;
        KeyIter it;
        Slice part, k, v;
        bool esc, first = true;
        key_iter_init(&it, key);
        while (key_iter_next(&it, &part, &esc)) {
            if (first || !tag_split(part, &k, &v)) {
                first = false;
                continue;
            }
            if (!values)
                set_add_raw(s, k, esc, prefix);
            else if (raw_eq_plain(k, want_tag))
                set_add_raw(s, v, esc, prefix);
        }
    }
    un_lock(ix);
    ts_free(ml.owned);
}

int series_index_tag_names(SeriesIndex *ix, Slice metric, Slice prefix, int (*fn)(void *, Slice),
                           void *ctx)
{
    SliceSet s;
    set_init(&s);
    collect_tags(ix, metric, slice_make(NULL, 0), false, prefix, &s);
    int rc = set_emit(&s, fn, ctx);
    set_deinit(&s);
    return rc;
}

int series_index_tag_values(SeriesIndex *ix, Slice metric, Slice tag, Slice prefix,
                            int (*fn)(void *, Slice), void *ctx)
{
    SliceSet s;
    set_init(&s);
    collect_tags(ix, metric, tag, true, prefix, &s);
    int rc = set_emit(&s, fn, ctx);
    set_deinit(&s);
    return rc;
}

/* ---- glob over the name tree ------------------------------------------------------------ */

typedef struct U32Vec {
    uint32_t *v;   /* elements */
    size_t n, cap; /* used / allocated */
} U32Vec;

static void u32_push(U32Vec *a, uint32_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = ts_realloc(a->v, a->cap * sizeof(uint32_t));
    }
    a->v[a->n++] = x;
}

typedef struct GlobHit {
    Slice path;        /* in the key store */
    bool is_leaf;      /* a series has this exact name */
    bool has_children; /* deeper names exist */
} GlobHit;

static int cmp_hit(const void *a, const void *b)
{
    return slice_cmp(((const GlobHit *)a)->path, ((const GlobHit *)b)->path);
}

int series_index_glob(SeriesIndex *ix, Slice pattern,
                      int (*fn)(void *ctx, Slice path, bool is_leaf, bool has_children), void *ctx)
{
    Slice *segs = ts_malloc(SERIES_GLOB_SEGMENTS_MAX * sizeof(Slice));
    size_t nsegs = 0;
    int rc = glob_split(pattern, segs, SERIES_GLOB_SEGMENTS_MAX, &nsegs);
    if (rc != TS_OK) {
        ts_free(segs);
        return rc;
    }
    U32Vec cur = {0}, next = {0};
    GlobHit *hits = NULL;
    size_t nhits = 0;
    u32_push(&cur, 0);

    rd_lock(ix);
    for (size_t s = 0; s < nsegs && cur.n; s++) {
        bool magic = glob_has_magic(segs[s]);
        next.n = 0;
        for (size_t i = 0; i < cur.n; i++) {
            if (!magic) {
                NodeProbe pr = {cur.v[i], segs[s]};
                uint32_t c =
                    table_find(ix, &ix->node_table, node_hash_of(cur.v[i], segs[s]), node_eq, &pr);
                if (c != NONE)
                    u32_push(&next, c);
                continue;
            }
            for (uint32_t c = node_at(ix, cur.v[i])->first_child; c != NONE;
                 c = node_at(ix, c)->next_sibling)
                if (glob_match(segs[s], node_seg(ix, node_at(ix, c))))
                    u32_push(&next, c);
        }
        U32Vec tmp = cur;
        cur = next;
        next = tmp;
    }
    if (cur.n) {
        hits = ts_malloc(cur.n * sizeof(GlobHit));
        for (size_t i = 0; i < cur.n; i++) {
            const Node *nd = node_at(ix, cur.v[i]);
            hits[i].path = node_path(ix, nd);
            hits[i].is_leaf = nd->is_leaf;
            hits[i].has_children = nd->first_child != NONE;
        }
        nhits = cur.n;
    }
    un_lock(ix);

    if (nhits)
        qsort(hits, nhits, sizeof(GlobHit), cmp_hit);
    for (size_t i = 0; i < nhits && rc == TS_OK; i++)
        rc = fn(ctx, hits[i].path, hits[i].is_leaf, hits[i].has_children);
    ts_free(hits);
    ts_free(cur.v);
    ts_free(next.v);
    ts_free(segs);
    return rc;
}

/* ---- series file ------------------------------------------------------------------------ */

static void file_header(uint8_t hdr[FILE_HDR_BYTES])
{
    memcpy(hdr, FILE_MAGIC, 8);
    put_u32le(hdr + 8, FILE_VERSION);
    put_u32le(hdr + 12, crc32c(hdr, 12));
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding 'path' so a newly created file's entry is durable. */
static int sync_parent_dir(const char *path, TsError *err)
{
    const char *slash = strrchr(path, '/');
    char *dir =
        slash ? ts_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : ts_strdup(".");
    int rc = TS_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        rc = ts_error(err, TS_ERR_IO, 0, "fsync directory %s: %s", dir, strerror(e));
        if (err)
            err->sys_errno = e;
    }
    if (fd >= 0)
        close(fd);
    ts_free(dir);
    return rc;
}

static int io_error(TsError *err, const char *what, const char *path)
{
    int e = errno;
    int rc = ts_error(err, TS_ERR_IO, 0, "%s %s: %s", what, path, strerror(e));
    if (err)
        err->sys_errno = e;
    return rc;
}

int series_index_persist(SeriesIndex *ix, const char *path, uint64_t from_id,
                         uint64_t *persisted_upto, TsError *err)
{
    int rc = TS_OK;
    Buf b;
    buf_init(&b);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return io_error(err, "open", path);
    struct stat st;
    bool fresh = false;
    if (fstat(fd, &st) != 0) {
        rc = io_error(err, "fstat", path);
        goto out;
    }
    if (st.st_size > 0 && st.st_size < FILE_HDR_BYTES) {
        rc = ts_error(err, TS_ERR_CORRUPT, 0, "%s: torn header; load the file first", path);
        goto out;
    }
    if (st.st_size == 0) {
        uint8_t hdr[FILE_HDR_BYTES];
        file_header(hdr);
        buf_append(&b, hdr, sizeof(hdr));
        fresh = true;
    }

    uint64_t upto = series_index_next_id(ix);
    uint64_t id = from_id < SERIES_ID_FIRST ? SERIES_ID_FIRST : from_id;
    for (;;) {
        rd_lock(ix);
        for (; id < upto && b.n < PERSIST_BATCH_BYTES; id++) {
            Slice key = key_of(ix, (uint32_t)(id - SERIES_ID_FIRST));
            if (!key.p)
                continue;
            uint8_t rec[REC_HDR_BYTES];
            put_u32le(rec, (uint32_t)key.n);
            put_u64le(rec + 8, id);
            put_u32le(rec + 4, crc32c_extend(crc32c(rec + 8, 8), key.p, key.n));
            buf_append(&b, rec, sizeof(rec));
            buf_append(&b, key.p, key.n);
        }
        un_lock(ix);
        if (b.n && write_all(fd, b.p, b.n) != 0) {
            rc = io_error(err, "write", path);
            goto out;
        }
        buf_clear(&b);
        if (id >= upto)
            break;
    }
    if (fdatasync(fd) != 0) {
        rc = io_error(err, "fdatasync", path);
        goto out;
    }
    if (fresh) {
        rc = sync_parent_dir(path, err);
        if (rc != TS_OK)
            goto out;
    }
    *persisted_upto = upto;
out:
    close(fd);
    buf_deinit(&b);
    return rc;
}

/* Sequential reader over the file with one buffer big enough for any record. */
typedef struct Reader {
    int fd;             /* file */
    uint8_t *buf;       /* LOAD_BUF_BYTES */
    size_t pos, len;    /* unread bytes are buf[pos..len) */
    uint64_t buf_off;   /* file offset of buf[0] */
    uint64_t file_size; /* from fstat */
} Reader;

/* Make 'need' bytes available at buf + pos; false on EOF (or error, then *ioerr). */
static bool reader_fill(Reader *r, size_t need, bool *ioerr)
{
    if (r->len - r->pos >= need)
        return true;
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->buf_off += r->pos;
    r->len -= r->pos;
    r->pos = 0;
    while (r->len < need) {
        ssize_t got =
            pread(r->fd, r->buf + r->len, LOAD_BUF_BYTES - r->len, (off_t)(r->buf_off + r->len));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            *ioerr = true;
            return false;
        }
        if (got == 0)
            return false;
        r->len += (size_t)got;
    }
    return true;
}

int series_index_load(SeriesIndex *ix, const char *path, uint64_t *dropped_bytes, TsError *err)
{
    *dropped_bytes = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return TS_OK;
        return io_error(err, "open", path);
    }
    int rc = TS_OK;
    Reader r = {fd, NULL, 0, 0, 0, 0};
    struct stat st;
    bool ioerr = false;
    uint64_t good = FILE_HDR_BYTES;
    if (fstat(fd, &st) != 0) {
        rc = io_error(err, "fstat", path);
        goto out;
    }
    r.file_size = (uint64_t)st.st_size;
    r.buf = ts_malloc(LOAD_BUF_BYTES);
    if (r.file_size < FILE_HDR_BYTES) {
        good = 0;
    } else {
        uint8_t want[FILE_HDR_BYTES];
        file_header(want);
        if (!reader_fill(&r, FILE_HDR_BYTES, &ioerr)) {
            rc = ioerr ? io_error(err, "read", path) : TS_OK;
            good = 0;
            goto cut;
        }
        if (memcmp(r.buf, want, FILE_HDR_BYTES) != 0) {
            rc = ts_error(err, TS_ERR_CORRUPT, 0, "%s: not a cairn series file", path);
            goto out;
        }
        r.pos = FILE_HDR_BYTES;
        for (;;) {
            if (!reader_fill(&r, REC_HDR_BYTES, &ioerr))
                break;
            const uint8_t *h = r.buf + r.pos;
            uint32_t key_n = get_u32le(h);
            if (key_n == 0 || key_n > SERIES_KEY_MAX)
                break;
            if (!reader_fill(&r, REC_HDR_BYTES + (size_t)key_n, &ioerr))
                break;
            h = r.buf + r.pos;
            uint32_t crc = crc32c_extend(crc32c(h + 8, 8), h + REC_HDR_BYTES, key_n);
            if (crc != get_u32le(h + 4))
                break;
            if (series_index_insert(ix, slice_make(h + REC_HDR_BYTES, key_n), get_u64le(h + 8)) !=
                TS_OK)
                break;
            r.pos += REC_HDR_BYTES + key_n;
            good = r.buf_off + r.pos;
        }
        if (ioerr) {
            rc = io_error(err, "read", path);
            goto out;
        }
    }
cut:
    if (rc == TS_OK && good < r.file_size) {
        if (ftruncate(fd, (off_t)good) != 0) {
            rc = io_error(err, "ftruncate", path);
            goto out;
        }
        if (fdatasync(fd) != 0) {
            rc = io_error(err, "fdatasync", path);
            goto out;
        }
        *dropped_bytes = r.file_size - good;
    }
out:
    ts_free(r.buf);
    close(fd);
    return rc;
}
