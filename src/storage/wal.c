/*
 * Write-ahead log of opaque typed records.
 *
 * Every accepted batch of points is appended here before it is acknowledged (DESIGN.md §4); the
 * storage engine calls wal_sync every sync_interval, rotates files when they reach a size hint,
 * and deletes files whose contents have reached segment files. At startup wal_replay hands every
 * surviving record back, cutting torn or corrupt tails instead of failing, and wal_open then
 * starts a fresh file so that a cut file is never appended to again.
 *
 * BYTE LAYOUT (all integers little-endian; crc is CRC-32C from core/hash.h, seed 0)
 *
 * A log is a directory of files named '<seq>.wal', seq as exactly 16 lowercase hex digits
 * (e.g. 000000000000002a.wal). Seqs increase by one per file; replay goes in seq order.
 *
 * File header, 24 bytes:
 *   off  size  field
 *     0     8  magic "CAIRNWAL"
 *     8     4  u32 version, currently 1
 *    12     8  u64 seq, equal to the seq in the file name
 *    20     4  u32 crc32c over bytes [0, 20)
 *
 * Then zero or more records, back to back, to the end of the file:
 *     0     4  u32 payload_len (n)
 *     4     4  u32 crc32c over the type byte followed by the n payload bytes
 *     8     1  u8 type, 1..255 (0 is never written, so zero-filled tails are detected)
 *     9     n  payload (opaque to the WAL)
 *
 * Validity: a file whose header is short, has a bad magic, a bad crc or a seq different from its
 * name has no good records. A record is good when its 9 header bytes and n payload bytes are all
 * inside the file, n <= the replay's max_record_bytes, type != 0 and the crc matches. The good
 * records of a file are the longest run of good records from offset 24; everything after them is
 * a torn or corrupt tail that replay truncates away. A header with good magic and crc but a
 * version other than 1 is a format this code does not know: replay stops with TS_ERR_CORRUPT and
 * leaves the file alone rather than destroy it.
 *
 * Durability: records are written with one write(2) each and made durable by fdatasync in
 * wal_sync. New files and deletions are made durable by fsyncing the directory. Any failed write
 * or fsync latches the Wal read-only and is never retried (fsyncgate).
 *
 * Preallocation: a new file gets segment_max_bytes (at most WAL_PREALLOC_MAX) of blocks with
 * fallocate(FALLOC_FL_KEEP_SIZE), so appends do not pay ext4's delayed-allocation bookkeeping
 * page by page. The file size still grows with each write, so the layout and replay are
 * unchanged; the unused blocks past the end are released (ftruncate to the size) when the file
 * is closed. Filesystems without fallocate just skip it.
 */
#include "storage/wal.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/endian.h"
#include "core/hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAL_MAGIC "CAIRNWAL"
#define WAL_VERSION 1u
#define WAL_HDR_BYTES 24u
#define WAL_NAME_HEX 16u
#define WAL_NAME_BYTES (WAL_NAME_HEX + 4u) /* 16 hex digits + ".wal" */
/* Largest preallocation of a new file (see "Preallocation" above). */
#define WAL_PREALLOC_MAX (256ull << 20)
/* Record scratch buffers larger than this are released after use rather than kept. */
#define WAL_KEEP_BUF_BYTES (4u << 20)

struct Wal {
    char *dir;                  /* owned copy of the directory path */
    int fd;                     /* current file, -1 after a failed rotate */
    uint64_t seq;               /* seq of the current file */
    uint64_t file_bytes;        /* size of the current file */
    uint64_t segment_max_bytes; /* rotate hint, 0 = never */
    uint64_t bytes_total;       /* record bytes appended since open */
    uint64_t syncs_total;       /* successful fdatasyncs since open */
    bool dirty;                 /* bytes written since the last fdatasync */
    bool failed;                /* latched after any write/fsync failure */
    int failed_errno;           /* errno of the latching failure */
    WalIo io;                   /* system calls or test hooks */
    Buf rec;                    /* scratch for building one record */
};

/* ---- system call indirection ---- */

static ssize_t io_write(const WalIo *io, int fd, const void *p, size_t n)
{
    return io->write ? io->write(io->ctx, fd, p, n) : write(fd, p, n);
}

static int io_fdatasync(const WalIo *io, int fd)
{
    return io->fdatasync ? io->fdatasync(io->ctx, fd) : fdatasync(fd);
}

static int io_fsync(const WalIo *io, int fd)
{
    return io->fsync ? io->fsync(io->ctx, fd) : fsync(fd);
}

/* Write all n bytes, looping on short writes and EINTR. Returns 0 or an errno. */
static int write_all(const WalIo *io, int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = io_write(io, fd, p, n);
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

/* fsync a directory by path. Returns 0 or an errno. */
static int sync_dir(const WalIo *io, const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = io_fsync(io, fd) == 0 ? 0 : errno;
    close(fd);
    return e;
}

/* ---- names ---- */

/* Parse exactly 16 lowercase hex digits + ".wal"; false for any other name. */
static bool parse_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != WAL_NAME_BYTES || strcmp(name + WAL_NAME_HEX, ".wal") != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < WAL_NAME_HEX; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = (v << 4) | d;
    }
    *seq = v;
    return true;
}

/* '<dir>/<seq>.wal'; caller owns, free with ts_free. */
static char *path_of(const char *dir, uint64_t seq)
{
    size_t cap = strlen(dir) + 1 + WAL_NAME_BYTES + 1;
    char *p = ts_malloc(cap);
    snprintf(p, cap, "%s/%016" PRIx64 ".wal", dir, seq);
    return p;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Seqs of every .wal file in 'dir', ascending. *seqs is caller-owned (ts_free). A missing
 * directory yields zero files.
 */
static int list_seqs(const char *dir, uint64_t **seqs, size_t *count, TsError *err)
{
    *seqs = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return TS_OK;
        if (err)
            err->sys_errno = errno;
        return ts_error(err, TS_ERR_IO, 0, "wal: opendir %s: %s", dir, strerror(errno));
    }
    size_t n = 0, cap = 0;
    uint64_t *v = NULL;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        uint64_t seq;
        if (!parse_name(de->d_name, &seq))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = ts_realloc(v, cap * sizeof(*v));
        }
        v[n++] = seq;
        errno = 0;
    }
    int e = errno;
    closedir(d);
    if (e) {
        ts_free(v);
        if (err)
            err->sys_errno = e;
        return ts_error(err, TS_ERR_IO, 0, "wal: readdir %s: %s", dir, strerror(e));
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_u64);
    *seqs = v;
    *count = n;
    return TS_OK;
}

/* ---- replay ---- */

static void header_encode(uint8_t h[WAL_HDR_BYTES], uint64_t seq)
{
    memcpy(h, WAL_MAGIC, 8);
    put_u32le(h + 8, WAL_VERSION);
    put_u64le(h + 12, seq);
    put_u32le(h + 20, crc32c(h, 20));
}

/*
 * Classify a file header: 1 = good, 0 = bad (no good records), -1 = well-formed header of an
 * unknown version.
 */
static int header_check(const uint8_t *p, uint64_t size, uint64_t seq)
{
    if (size < WAL_HDR_BYTES || memcmp(p, WAL_MAGIC, 8) != 0)
        return 0;
    if (get_u32le(p + 20) != crc32c(p, 20))
        return 0;
    if (get_u32le(p + 8) != WAL_VERSION)
        return -1;
    return get_u64le(p + 12) == seq ? 1 : 0;
}

static int replay_file(const char *dir, uint64_t seq, uint64_t max_rec, WalRecordFn fn, void *ctx,
                       WalReplayStats *st, TsError *err)
{
    int rc = TS_OK;
    char *path = path_of(dir, seq);
    uint8_t *map = NULL;
    uint64_t size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC); /* O_RDWR only if a tail must be cut */
    if (fd < 0) {
        if (err)
            err->sys_errno = errno;
        rc = ts_error(err, TS_ERR_IO, 0, "wal: open %s: %s", path, strerror(errno));
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        if (err)
            err->sys_errno = errno;
        rc = ts_error(err, TS_ERR_IO, 0, "wal: stat %s: %s", path, strerror(errno));
        goto out;
    }
    size = (uint64_t)sb.st_size;
    if (size > 0) {
        void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            if (err)
                err->sys_errno = errno;
            rc = ts_error(err, TS_ERR_IO, 0, "wal: mmap %s: %s", path, strerror(errno));
            goto out;
        }
        map = m;
    }
    st->files++;

    uint64_t good = 0;
    int hc = header_check(map, size, seq);
    if (hc < 0) {
        rc = ts_error(err, TS_ERR_CORRUPT, 0, "wal: %s: unsupported format version %" PRIu32, path,
                      get_u32le(map + 8));
        goto out;
    }
    if (hc > 0) {
        uint64_t off = WAL_HDR_BYTES;
        good = off;
        while (size - off >= WAL_REC_HDR_BYTES) {
            const uint8_t *r = map + off;
            uint64_t n = get_u32le(r);
            uint8_t type = r[8];
            if (n > max_rec || n > size - off - WAL_REC_HDR_BYTES || type == 0)
                break;
            if (crc32c_extend(crc32c(r + 8, 1), r + WAL_REC_HDR_BYTES, (size_t)n) !=
                get_u32le(r + 4))
                break;
            rc = fn(ctx, seq, type, r + WAL_REC_HDR_BYTES, (size_t)n);
            if (rc != TS_OK)
                goto out;
            st->records++;
            st->bytes += WAL_REC_HDR_BYTES + n;
            off += WAL_REC_HDR_BYTES + n;
            good = off;
        }
    }

    if (good < size) {
        st->corrupt_files++;
        st->dropped_bytes += size - good;
        munmap(map, (size_t)size);
        map = NULL;
        close(fd);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)good) != 0 || fsync(fd) != 0) {
            if (err)
                err->sys_errno = errno;
            rc = ts_error(err, TS_ERR_IO, 0, "wal: truncate %s: %s", path, strerror(errno));
            goto out;
        }
    }
out:
    if (map)
        munmap(map, (size_t)size);
    if (fd >= 0)
        close(fd);
    ts_free(path);
    return rc;
}

int wal_replay(const char *dir, size_t max_record_bytes, WalRecordFn fn, void *ctx,
               WalReplayStats *st, TsError *err)
{
    WalReplayStats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof(*st));
    uint64_t max_rec = max_record_bytes == 0 || max_record_bytes > UINT32_MAX
                           ? UINT32_MAX
                           : (uint64_t)max_record_bytes;
    uint64_t *seqs;
    size_t n;
    int rc = list_seqs(dir, &seqs, &n, err);
    if (rc != TS_OK)
        return rc;
    for (size_t i = 0; i < n && rc == TS_OK; i++)
        rc = replay_file(dir, seqs[i], max_rec, fn, ctx, st, err);
    ts_free(seqs);
    return rc;
}

/* ---- appending ---- */

/* Latch the Wal failed with errno 'e'; returns TS_ERR_READONLY. */
static int wal_latch(Wal *w, int e)
{
    if (!w->failed) {
        w->failed = true;
        w->failed_errno = e ? e : EIO;
    }
    return TS_ERR_READONLY;
}

/* fsync the directory that contains 'path' (which names a directory). Returns 0 or an errno. */
static int sync_parent(const char *path)
{
    WalIo real = {0};
    char *p = ts_strdup(path);
    char *slash = strrchr(p, '/');
    int e;
    if (!slash)
        e = sync_dir(&real, ".");
    else if (slash == p)
        e = sync_dir(&real, "/");
    else {
        *slash = '\0';
        e = sync_dir(&real, p);
    }
    ts_free(p);
    return e;
}

/* mkdir -p, fsyncing the parent of every directory it creates. Returns 0 or an errno. */
static int mkdir_parents(const char *dir)
{
    char *p = ts_strdup(dir);
    size_t len = strlen(p);
    int e = 0;
    for (size_t i = 1; i <= len && !e; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) == 0)
            e = sync_parent(p);
        else if (errno != EEXIST)
            e = errno;
        p[i] = saved;
    }
    ts_free(p);
    return e;
}

/* Give back the preallocated blocks past the end of the current file (best effort; the size
 * and the data are unchanged). */
static void release_prealloc(Wal *w)
{
    if (w->fd >= 0 && !w->failed && w->segment_max_bytes > 0)
        (void)ftruncate(w->fd, (off_t)w->file_bytes);
}

/* Create file 'seq', write its header and fsync the directory. Returns 0 or an errno. */
static int start_file(Wal *w, uint64_t seq, TsError *err)
{
    char *path = path_of(w->dir, seq);
    int e = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = errno;
        ts_error(err, TS_ERR_IO, 0, "wal: create %s: %s", path, strerror(e));
        goto out;
    }
    uint8_t h[WAL_HDR_BYTES];
    header_encode(h, seq);
    e = write_all(&w->io, fd, h, sizeof(h));
    if (e) {
        ts_error(err, TS_ERR_IO, 0, "wal: write %s: %s", path, strerror(e));
        close(fd);
        goto out;
    }
    e = sync_dir(&w->io, w->dir);
    if (e) {
        ts_error(err, TS_ERR_IO, 0, "wal: fsync dir %s: %s", w->dir, strerror(e));
        close(fd);
        goto out;
    }
    if (w->segment_max_bytes > 0) {
        uint64_t want =
            w->segment_max_bytes < WAL_PREALLOC_MAX ? w->segment_max_bytes : WAL_PREALLOC_MAX;
        (void)fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)want); /* a hint: errors ignored */
    }
    w->fd = fd;
    w->seq = seq;
    w->file_bytes = WAL_HDR_BYTES;
    w->dirty = true;
out:
    ts_free(path);
    return e;
}

int wal_open(const char *dir, uint64_t segment_max_bytes, Wal **out, TsError *err)
{
    *out = NULL;
    if (dir[0] == '\0')
        return ts_error(err, TS_ERR_PROTO, 0, "wal: empty directory name");
    int e = mkdir_parents(dir);
    if (e) {
        if (err)
            err->sys_errno = e;
        return ts_error(err, TS_ERR_IO, 0, "wal: mkdir %s: %s", dir, strerror(e));
    }
    uint64_t *seqs;
    size_t n;
    int rc = list_seqs(dir, &seqs, &n, err);
    if (rc != TS_OK)
        return rc;
    uint64_t next = n ? seqs[n - 1] + 1 : 1;
    ts_free(seqs);
    if (next == 0)
        return ts_error(err, TS_ERR_LIMIT, 0, "wal: %s: sequence numbers exhausted", dir);

    Wal *w = ts_calloc(1, sizeof(*w));
    w->dir = ts_strdup(dir);
    w->fd = -1;
    w->segment_max_bytes = segment_max_bytes;
    buf_init(&w->rec);
    e = start_file(w, next, err);
    if (e) {
        if (err)
            err->sys_errno = e;
        wal_close(w);
        return TS_ERR_IO;
    }
    *out = w;
    return TS_OK;
}

void wal_close(Wal *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        if (!w->failed && w->dirty && io_fdatasync(&w->io, w->fd) == 0)
            w->syncs_total++;
        release_prealloc(w);
        close(w->fd);
    }
    buf_deinit(&w->rec);
    ts_free(w->dir);
    ts_free(w);
}

int wal_append(Wal *w, uint8_t type, const void *payload, size_t n)
{
    if (w->failed)
        return TS_ERR_READONLY;
    if (type == 0)
        return TS_ERR_PROTO;
    if (n > UINT32_MAX)
        return TS_ERR_LIMIT;
    Buf *b = &w->rec;
    buf_clear(b);
    buf_reserve(b, WAL_REC_HDR_BYTES + n);
    if (n)
        memcpy(b->p + WAL_REC_HDR_BYTES, payload, n);
    b->n = WAL_REC_HDR_BYTES + n;
    int rc = wal_append_framed(w, type, b->p, b->n);
    if (b->cap > WAL_KEEP_BUF_BYTES)
        buf_deinit(b);
    return rc;
}

int wal_append_framed(Wal *w, uint8_t type, uint8_t *rec, size_t rec_bytes)
{
    if (w->failed)
        return TS_ERR_READONLY;
    if (type == 0 || rec_bytes < WAL_REC_HDR_BYTES)
        return TS_ERR_PROTO;
    size_t n = rec_bytes - WAL_REC_HDR_BYTES;
    if (n > UINT32_MAX)
        return TS_ERR_LIMIT;
    rec[8] = type;
    put_u32le(rec, (uint32_t)n);
    put_u32le(rec + 4, crc32c(rec + 8, n + 1));
    int e = write_all(&w->io, w->fd, rec, rec_bytes);
    if (e)
        return wal_latch(w, e);
    w->dirty = true;
    w->file_bytes += rec_bytes;
    w->bytes_total += rec_bytes;
    return TS_OK;
}

int wal_sync(Wal *w)
{
    if (w->failed)
        return TS_ERR_READONLY;
    if (!w->dirty)
        return TS_OK;
    if (io_fdatasync(&w->io, w->fd) != 0)
        return wal_latch(w, errno);
    w->dirty = false;
    w->syncs_total++;
    return TS_OK;
}

bool wal_failed(const Wal *w)
{
    return w->failed;
}

int wal_failed_errno(const Wal *w)
{
    return w->failed ? w->failed_errno : 0;
}

bool wal_should_rotate(const Wal *w)
{
    return w->segment_max_bytes > 0 && w->file_bytes >= w->segment_max_bytes;
}

int wal_rotate(Wal *w, uint64_t *closed_seq)
{
    int rc = wal_sync(w);
    if (rc != TS_OK)
        return rc;
    uint64_t old = w->seq;
    if (old == UINT64_MAX)
        return wal_latch(w, EOVERFLOW);
    release_prealloc(w);
    close(w->fd);
    w->fd = -1;
    int e = start_file(w, old + 1, NULL);
    if (e)
        return wal_latch(w, e);
    if (closed_seq)
        *closed_seq = old;
    return TS_OK;
}

int wal_remove_upto(Wal *w, uint64_t upto)
{
    if (w->failed)
        return TS_ERR_READONLY;
    uint64_t *seqs;
    size_t n;
    int rc = list_seqs(w->dir, &seqs, &n, NULL);
    if (rc != TS_OK)
        return rc;
    size_t removed = 0;
    for (size_t i = 0; i < n && rc == TS_OK; i++) {
        if (seqs[i] > upto || seqs[i] == w->seq)
            continue;
        char *path = path_of(w->dir, seqs[i]);
        if (unlink(path) == 0)
            removed++;
        else if (errno != ENOENT)
            rc = TS_ERR_IO;
        ts_free(path);
    }
    ts_free(seqs);
    if (removed > 0) {
        int e = sync_dir(&w->io, w->dir);
        if (e)
            return wal_latch(w, e);
    }
    return rc;
}

uint64_t wal_current_seq(const Wal *w)
{
    return w->seq;
}

uint64_t wal_bytes_total(const Wal *w)
{
    return w->bytes_total;
}

uint64_t wal_syncs_total(const Wal *w)
{
    return w->syncs_total;
}

void wal_set_io(Wal *w, const WalIo *io)
{
    if (io)
        w->io = *io;
    else
        memset(&w->io, 0, sizeof(w->io));
}
