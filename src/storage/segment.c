/*
 * Segment files: the immutable on-disk home of sealed blocks.
 *
 * When the storage engine flushes its in-memory head (or compaction merges older files), it
 * streams blocks into a SegmentWriter in (series_id, min_ts) order; finish appends a sorted index
 * and a checksummed footer, fsyncs and atomically renames the file into place. Readers mmap the
 * file once, validate its structure and then hand out borrowed block bytes without copying;
 * refcounting keeps the mapping alive while a query uses it, even after compaction has marked
 * the file deleted. Blocks are opaque here: the block module checks their own checksums.
 *
 * BYTE LAYOUT (all integers little-endian; crc is CRC-32C from core/hash.h, seed 0)
 *
 *   [header 16][data area: blocks back to back][index: entry_count x 40][footer 64]
 *
 * Header, 16 bytes at offset 0:
 *   off  size  field
 *     0     8  magic "CAIRNSEG"
 *     8     4  u32 version, currently 1
 *    12     4  u32 crc32c over bytes [0, 12)
 *
 * Data area, [16, index_off): the blocks, in index order, as the caller gave them.
 *
 * Index, entry_count entries of 40 bytes at index_off, sorted by (series_id, min_ts_ns):
 *     0     8  u64 series_id
 *     8     8  i64 min_ts_ns
 *    16     8  i64 max_ts_ns
 *    24     8  u64 offset of the block (absolute file offset)
 *    32     4  u32 length of the block in bytes
 *    36     4  u32 n_points
 *
 * Footer, the last 64 bytes of the file:
 *     0     8  u64 index_off
 *     8     8  u64 entry_count
 *    16     8  u64 seq (the writer's sequence number; the file is normally named after it)
 *    24     8  i64 min_ts_ns of the file (smallest entry min_ts_ns; INT64_MAX when empty)
 *    32     8  i64 max_ts_ns of the file (largest entry max_ts_ns; INT64_MIN when empty)
 *    40     8  u64 point_count (sum of n_points)
 *    48     4  u32 crc32c over the index bytes
 *    52     4  u32 version, currently 1
 *    56     4  magic "CSEG"
 *    60     4  u32 crc32c over footer bytes [0, 60)
 *
 * Validity (checked by segment_open and segment_verify; anything else is TS_ERR_CORRUPT):
 * file size >= 80; header magic, version and crc; footer crc, magic and version;
 * 16 <= index_off and index_off + 40 * entry_count + 64 == file size; index crc; for every
 * entry min_ts_ns <= max_ts_ns, (series_id, min_ts_ns) non-decreasing, offset >= the end of the
 * previous entry's block (16 for the first) and offset + length <= index_off; the footer's
 * min/max/point_count equal those computed from the entries.
 *
 * A file is written as '<path>.tmp' and renamed to '<path>' only after the whole file is
 * fsynced, then the directory is fsynced, so '<path>' is always complete. Stray '.tmp' files are
 * leftovers of a crash and may be deleted.
 */
#include "storage/segment.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/endian.h"
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_MAGIC "CAIRNSEG"
#define SEG_FOOT_MAGIC "CSEG"
#define SEG_VERSION 1u
#define SEG_HDR_BYTES 16u
#define SEG_ENTRY_BYTES 40u
#define SEG_FOOT_BYTES 64u
/* The writer hands data to the kernel in chunks of about this size. */
#define SEG_WRITE_CHUNK_BYTES (1u << 20)

struct SegmentWriter {
    char *path;          /* final name */
    char *tmp;           /* '<path>.tmp' */
    int fd;              /* the tmp file */
    uint64_t seq;        /* stored in the footer */
    Buf out;             /* bytes not yet written to fd */
    uint64_t file_bytes; /* bytes written or buffered so far (= next block offset) */
    Buf index;           /* encoded index entries */
    uint64_t entry_count;
    uint64_t last_series; /* order check; valid when entry_count > 0 */
    int64_t last_min_ts_ns;
    int64_t min_ts_ns; /* INT64_MAX until the first entry */
    int64_t max_ts_ns; /* INT64_MIN until the first entry */
    uint64_t point_count;
    bool failed; /* a write failed; only abort is allowed */
};

struct Segment {
    atomic_uint refs;      /* references held; the last unref frees */
    atomic_bool deleted;   /* unlink the file at the last unref */
    char *path;            /* owned copy */
    const uint8_t *map;    /* the whole file, read-only */
    uint64_t file_bytes;   /* size of the mapping */
    SegmentEntry *entries; /* decoded index, entry_count long */
    size_t entry_count;
    uint64_t seq;
    int64_t min_ts_ns;
    int64_t max_ts_ns;
    uint64_t point_count;
};

/* ---- helpers ---- */

static int io_error(TsError *err, int e, const char *what, const char *path)
{
    if (err)
        err->sys_errno = e;
    return ts_error(err, TS_ERR_IO, 0, "segment: %s %s: %s", what, path, strerror(e));
}

/* Write all n bytes, looping on short writes and EINTR. Returns 0 or an errno. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno ? errno : EIO;
        }
        if (k == 0)
            return EIO;
        p += (size_t)k;
        n -= (size_t)k;
    }
    return 0;
}

/* fsync the directory containing 'path'. Returns 0 or an errno. */
static int sync_parent_dir(const char *path)
{
    char *d = ts_strdup(path);
    char *slash = strrchr(d, '/');
    const char *dir = ".";
    if (slash == d)
        dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = d;
    }
    int e = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        e = errno;
    else {
        if (fsync(fd) != 0)
            e = errno;
        close(fd);
    }
    ts_free(d);
    return e;
}

/* ---- writer ---- */

static int writer_flush(SegmentWriter *w)
{
    int e = write_all(w->fd, w->out.p, w->out.n);
    buf_clear(&w->out);
    if (e)
        w->failed = true;
    return e;
}

int segment_writer_open(const char *path, uint64_t seq, SegmentWriter **out, TsError *err)
{
    *out = NULL;
    size_t len = strlen(path);
    char *tmp = ts_malloc(len + 5);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = io_error(err, errno, "create", tmp);
        ts_free(tmp);
        return rc;
    }
    SegmentWriter *w = ts_calloc(1, sizeof(*w));
    w->path = ts_strdup(path);
    w->tmp = tmp;
    w->fd = fd;
    w->seq = seq;
    buf_init(&w->out);
    buf_init(&w->index);
    w->min_ts_ns = INT64_MAX;
    w->max_ts_ns = INT64_MIN;
    uint8_t h[SEG_HDR_BYTES];
    memcpy(h, SEG_MAGIC, 8);
    put_u32le(h + 8, SEG_VERSION);
    put_u32le(h + 12, crc32c(h, 12));
    buf_append(&w->out, h, sizeof(h));
    w->file_bytes = SEG_HDR_BYTES;
    *out = w;
    return TS_OK;
}

int segment_writer_add(SegmentWriter *w, uint64_t series_id, int64_t min_ts_ns, int64_t max_ts_ns,
                       uint32_t n_points, Slice block, TsError *err)
{
    if (w->failed)
        return ts_error(err, TS_ERR_IO, 0, "segment: %s: writer failed earlier", w->tmp);
    if (min_ts_ns > max_ts_ns)
        return ts_error(err, TS_ERR_PROTO, 0, "segment: block min_ts %" PRId64 " > max_ts %" PRId64,
                        min_ts_ns, max_ts_ns);
    if (w->entry_count > 0 && (series_id < w->last_series ||
                               (series_id == w->last_series && min_ts_ns < w->last_min_ts_ns)))
        return ts_error(err, TS_ERR_PROTO, 0,
                        "segment: block (%" PRIu64 ", %" PRId64 ") out of order", series_id,
                        min_ts_ns);
    if (block.n > UINT32_MAX)
        return ts_error(err, TS_ERR_LIMIT, 0, "segment: block of %zu bytes too large", block.n);

    uint8_t e[SEG_ENTRY_BYTES];
    put_u64le(e, series_id);
    put_u64le(e + 8, (uint64_t)min_ts_ns);
    put_u64le(e + 16, (uint64_t)max_ts_ns);
    put_u64le(e + 24, w->file_bytes);
    put_u32le(e + 32, (uint32_t)block.n);
    put_u32le(e + 36, n_points);
    buf_append(&w->index, e, sizeof(e));
    buf_append(&w->out, block.p, block.n);
    w->file_bytes += block.n;
    w->entry_count++;
    w->last_series = series_id;
    w->last_min_ts_ns = min_ts_ns;
    if (min_ts_ns < w->min_ts_ns)
        w->min_ts_ns = min_ts_ns;
    if (max_ts_ns > w->max_ts_ns)
        w->max_ts_ns = max_ts_ns;
    w->point_count += n_points;
    if (w->out.n >= SEG_WRITE_CHUNK_BYTES) {
        int er = writer_flush(w);
        if (er)
            return io_error(err, er, "write", w->tmp);
    }
    return TS_OK;
}

static void writer_free(SegmentWriter *w)
{
    if (w->fd >= 0)
        close(w->fd);
    buf_deinit(&w->out);
    buf_deinit(&w->index);
    ts_free(w->path);
    ts_free(w->tmp);
    ts_free(w);
}

int segment_writer_finish(SegmentWriter *w, TsError *err)
{
    int rc = TS_OK;
    if (w->failed) {
        rc = ts_error(err, TS_ERR_IO, 0, "segment: %s: writer failed earlier", w->tmp);
        goto fail;
    }
    uint64_t index_off = w->file_bytes;
    uint8_t f[SEG_FOOT_BYTES];
    put_u64le(f, index_off);
    put_u64le(f + 8, w->entry_count);
    put_u64le(f + 16, w->seq);
    put_u64le(f + 24, (uint64_t)w->min_ts_ns);
    put_u64le(f + 32, (uint64_t)w->max_ts_ns);
    put_u64le(f + 40, w->point_count);
    put_u32le(f + 48, crc32c(w->index.p, w->index.n));
    put_u32le(f + 52, SEG_VERSION);
    memcpy(f + 56, SEG_FOOT_MAGIC, 4);
    put_u32le(f + 60, crc32c(f, 60));
    buf_append(&w->out, w->index.p, w->index.n);
    buf_append(&w->out, f, sizeof(f));
    int e = writer_flush(w);
    if (e) {
        rc = io_error(err, e, "write", w->tmp);
        goto fail;
    }
    if (fsync(w->fd) != 0) {
        rc = io_error(err, errno, "fsync", w->tmp);
        goto fail;
    }
    if (close(w->fd) != 0) {
        w->fd = -1;
        rc = io_error(err, errno, "close", w->tmp);
        goto fail;
    }
    w->fd = -1;
    if (rename(w->tmp, w->path) != 0) {
        rc = io_error(err, errno, "rename", w->tmp);
        goto fail;
    }
    /* From here on the complete file is in place under its final name (it may have replaced an
     * older file of the same name), so a failed directory fsync must not unlink it. */
    e = sync_parent_dir(w->path);
    if (e)
        rc = io_error(err, e, "fsync dir of", w->path);
    writer_free(w);
    return rc;
fail:
    unlink(w->tmp);
    writer_free(w);
    return rc;
}

void segment_writer_abort(SegmentWriter *w)
{
    if (!w)
        return;
    unlink(w->tmp);
    writer_free(w);
}

/* ---- reader ---- */

typedef struct SegFooter {
    uint64_t index_off, entry_count, seq, point_count;
    int64_t min_ts_ns, max_ts_ns;
} SegFooter;

static void entry_decode(const uint8_t *p, SegmentEntry *e)
{
    e->series_id = get_u64le(p);
    e->min_ts_ns = (int64_t)get_u64le(p + 8);
    e->max_ts_ns = (int64_t)get_u64le(p + 16);
    e->offset = get_u64le(p + 24);
    e->length = get_u32le(p + 32);
    e->n_points = get_u32le(p + 36);
}

/*
 * Validate header, footer and index crc of a mapped file of 'size' bytes and decode the footer
 * into *ft. The entries themselves are checked by check_entries.
 */
static int check_footer(const uint8_t *m, uint64_t size, const char *path, SegFooter *ft,
                        TsError *err)
{
    if (size < SEG_HDR_BYTES + SEG_FOOT_BYTES)
        return ts_error(err, TS_ERR_CORRUPT, 0, "segment: %s: %" PRIu64 " bytes is too short", path,
                        size);
    if (memcmp(m, SEG_MAGIC, 8) != 0 || get_u32le(m + 12) != crc32c(m, 12))
        return ts_error(err, TS_ERR_CORRUPT, 0, "segment: %s: bad header", path);
    if (get_u32le(m + 8) != SEG_VERSION)
        return ts_error(err, TS_ERR_CORRUPT, 8, "segment: %s: unsupported version %" PRIu32, path,
                        get_u32le(m + 8));
    uint64_t fo = size - SEG_FOOT_BYTES;
    const uint8_t *f = m + fo;
    if (get_u32le(f + 60) != crc32c(f, 60) || memcmp(f + 56, SEG_FOOT_MAGIC, 4) != 0)
        return ts_error(err, TS_ERR_CORRUPT, (size_t)fo, "segment: %s: bad footer", path);
    if (get_u32le(f + 52) != SEG_VERSION)
        return ts_error(err, TS_ERR_CORRUPT, (size_t)fo,
                        "segment: %s: unsupported footer version %" PRIu32, path,
                        get_u32le(f + 52));
    ft->index_off = get_u64le(f);
    ft->entry_count = get_u64le(f + 8);
    ft->seq = get_u64le(f + 16);
    ft->min_ts_ns = (int64_t)get_u64le(f + 24);
    ft->max_ts_ns = (int64_t)get_u64le(f + 32);
    ft->point_count = get_u64le(f + 40);
    if (ft->index_off < SEG_HDR_BYTES || ft->index_off > fo ||
        ft->entry_count != (fo - ft->index_off) / SEG_ENTRY_BYTES ||
        (fo - ft->index_off) % SEG_ENTRY_BYTES != 0)
        return ts_error(err, TS_ERR_CORRUPT, (size_t)fo,
                        "segment: %s: index at %" PRIu64 " with %" PRIu64
                        " entries does not fit the file",
                        path, ft->index_off, ft->entry_count);
    const uint8_t *idx = m + ft->index_off;
    size_t idx_bytes = (size_t)(fo - ft->index_off);
    if (crc32c(idx, idx_bytes) != get_u32le(f + 48))
        return ts_error(err, TS_ERR_CORRUPT, (size_t)ft->index_off,
                        "segment: %s: index checksum mismatch", path);
    return TS_OK;
}

/*
 * Validate every index entry of a file whose footer passed check_footer; when 'out' is not
 * NULL, store the decoded entries there (room for ft->entry_count).
 */
static int check_entries(const uint8_t *m, const SegFooter *ft, const char *path, SegmentEntry *out,
                         TsError *err)
{
    const uint8_t *idx = m + ft->index_off;
    uint64_t data_end = SEG_HDR_BYTES;
    int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
    uint64_t points = 0;
    SegmentEntry prev = {0};
    for (uint64_t i = 0; i < ft->entry_count; i++) {
        SegmentEntry e;
        entry_decode(idx + i * SEG_ENTRY_BYTES, &e);
        size_t pos = (size_t)(ft->index_off + i * SEG_ENTRY_BYTES);
        if (e.min_ts_ns > e.max_ts_ns)
            return ts_error(err, TS_ERR_CORRUPT, pos,
                            "segment: %s: entry %" PRIu64 " has min_ts > max_ts", path, i);
        if (i > 0 && (e.series_id < prev.series_id ||
                      (e.series_id == prev.series_id && e.min_ts_ns < prev.min_ts_ns)))
            return ts_error(err, TS_ERR_CORRUPT, pos, "segment: %s: entry %" PRIu64 " out of order",
                            path, i);
        if (e.offset < data_end || e.offset > ft->index_off || e.length > ft->index_off - e.offset)
            return ts_error(err, TS_ERR_CORRUPT, pos,
                            "segment: %s: entry %" PRIu64 " block [%" PRIu64 ", +%" PRIu32
                            ") outside the data area or overlapping",
                            path, i, e.offset, e.length);
        data_end = e.offset + e.length;
        if (e.min_ts_ns < min_ts)
            min_ts = e.min_ts_ns;
        if (e.max_ts_ns > max_ts)
            max_ts = e.max_ts_ns;
        points += e.n_points;
        if (out)
            out[i] = e;
        prev = e;
    }
    if (min_ts != ft->min_ts_ns || max_ts != ft->max_ts_ns || points != ft->point_count)
        return ts_error(err, TS_ERR_CORRUPT, (size_t)ft->index_off,
                        "segment: %s: footer totals do not match the index", path);
    return TS_OK;
}

int segment_open(const char *path, Segment **out, TsError *err)
{
    *out = NULL;
    int rc = TS_OK;
    void *map = MAP_FAILED;
    uint64_t size = 0;
    SegmentEntry *entries = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, errno, "open", path);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        rc = io_error(err, errno, "stat", path);
        goto out;
    }
    size = (uint64_t)sb.st_size;
    if (size < SEG_HDR_BYTES + SEG_FOOT_BYTES) {
        rc = ts_error(err, TS_ERR_CORRUPT, 0, "segment: %s: %" PRIu64 " bytes is too short", path,
                      size);
        goto out;
    }
    map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        rc = io_error(err, errno, "mmap", path);
        goto out;
    }
    SegFooter ft = {0};
    rc = check_footer(map, size, path, &ft, err);
    if (rc != TS_OK)
        goto out;
    entries = ts_malloc(ft.entry_count ? (size_t)ft.entry_count * sizeof(*entries) : 1);
    rc = check_entries(map, &ft, path, entries, err);
    if (rc != TS_OK)
        goto out;

    Segment *s = ts_calloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    atomic_init(&s->deleted, false);
    s->path = ts_strdup(path);
    s->map = map;
    s->file_bytes = size;
    s->entries = entries;
    s->entry_count = (size_t)ft.entry_count;
    s->seq = ft.seq;
    s->min_ts_ns = ft.min_ts_ns;
    s->max_ts_ns = ft.max_ts_ns;
    s->point_count = ft.point_count;
    *out = s;
    map = MAP_FAILED;
    entries = NULL;
out:
    if (map != MAP_FAILED)
        munmap(map, (size_t)size);
    ts_free(entries);
    close(fd);
    return rc;
}

void segment_ref(Segment *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void segment_unref(Segment *s)
{
    if (!s)
        return;
    unsigned before = atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel);
    TS_ASSERT(before > 0);
    if (before != 1)
        return;
    munmap((void *)s->map, (size_t)s->file_bytes);
    if (atomic_load_explicit(&s->deleted, memory_order_acquire))
        unlink(s->path);
    ts_free(s->entries);
    ts_free(s->path);
    ts_free(s);
}

void segment_mark_deleted(Segment *s)
{
    atomic_store_explicit(&s->deleted, true, memory_order_release);
}

uint64_t segment_seq(const Segment *s)
{
    return s->seq;
}

int64_t segment_min_ts(const Segment *s)
{
    return s->min_ts_ns;
}

int64_t segment_max_ts(const Segment *s)
{
    return s->max_ts_ns;
}

uint64_t segment_file_bytes(const Segment *s)
{
    return s->file_bytes;
}

uint64_t segment_point_count(const Segment *s)
{
    return s->point_count;
}

size_t segment_entry_count(const Segment *s)
{
    return s->entry_count;
}

const SegmentEntry *segment_entries(const Segment *s)
{
    return s->entries;
}

size_t segment_find(const Segment *s, uint64_t series_id, const SegmentEntry **first)
{
    size_t lo = 0, hi = s->entry_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->entries[mid].series_id < series_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    hi = s->entry_count;
    while (end < hi) {
        size_t mid = end + (hi - end) / 2;
        if (s->entries[mid].series_id <= series_id)
            end = mid + 1;
        else
            hi = mid;
    }
    *first = end > lo ? &s->entries[lo] : NULL;
    return end - lo;
}

Slice segment_block(const Segment *s, const SegmentEntry *e)
{
    TS_ASSERT(e >= s->entries && e < s->entries + s->entry_count);
    return slice_make(s->map + e->offset, e->length);
}

int segment_verify(const Segment *s, TsError *err)
{
    SegFooter ft = {0};
    int rc = check_footer(s->map, s->file_bytes, s->path, &ft, err);
    if (rc == TS_OK)
        rc = check_entries(s->map, &ft, s->path, NULL, err);
    return rc;
}
