/*
 * libFuzzer target for the on-disk readers of storage/: the input is written as a WAL file and
 * replayed, then written as a segment file, opened, verified and walked. Neither may crash,
 * leak, or accept a structure its own validator then rejects.
 *
 * Input: byte 0 selects helpers that get the fuzzer past checksums, the rest is the file body.
 *   bit 0: prefix the WAL body with a valid file header (seq 1), so records themselves get fuzzed
 *   bit 1: in the segment image, force magics/versions and recompute the header, index and
 *          footer crcs, so the index and footer semantics get fuzzed
 *   bit 2: replay with a small max_record_bytes (64) instead of 64 KiB
 */
#include "core/alloc.h"
#include "core/endian.h"
#include "core/hash.h"
#include "storage/segment.h"
#include "storage/wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64];
static char g_wal[128];
static char g_seg[128];

static void cleanup(void)
{
    unlink(g_wal);
    unlink(g_seg);
    rmdir(g_dir);
}

static void setup_once(void)
{
    if (g_dir[0])
        return;
    strcpy(g_dir, "/dev/shm/cairn-fuzz-wal-XXXXXX");
    if (!mkdtemp(g_dir)) {
        strcpy(g_dir, "/tmp/cairn-fuzz-wal-XXXXXX");
        if (!mkdtemp(g_dir))
            abort();
    }
    snprintf(g_wal, sizeof(g_wal), "%s/0000000000000001.wal", g_dir);
    snprintf(g_seg, sizeof(g_seg), "%s/0000000000000001.seg", g_dir);
    atexit(cleanup);
}

static void write_file(const char *path, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if ((an && fwrite(a, 1, an, f) != an) || (bn && fwrite(b, 1, bn, f) != bn))
        abort();
    fclose(f);
}

typedef struct Sum {
    uint64_t bytes;
    uint32_t x;
} Sum;

static int on_record(void *ctx, uint64_t seq, uint8_t type, const uint8_t *payload, size_t n)
{
    Sum *s = ctx;
    if (type == 0 || seq != 1)
        abort();
    for (size_t i = 0; i < n; i++)
        s->x += payload[i];
    s->bytes += n;
    return TS_OK;
}

static void fuzz_wal(uint8_t mode, const uint8_t *body, size_t n)
{
    uint8_t h[24];
    memcpy(h, "CAIRNWAL", 8);
    put_u32le(h + 8, 1);
    put_u64le(h + 12, 1);
    put_u32le(h + 20, crc32c(h, 20));
    bool with_header = mode & 1;
    write_file(g_wal, h, with_header ? sizeof(h) : 0, body, n);
    Sum sum = {0};
    WalReplayStats st;
    TsError err;
    size_t max_rec = (mode & 4) ? 64 : 65536;
    int rc = wal_replay(g_dir, max_rec, on_record, &sum, &st, &err);
    if (rc != TS_OK && rc != TS_ERR_CORRUPT)
        abort();
    /* Every byte is either the header, a good record, or dropped. */
    uint64_t total = n + (with_header ? sizeof(h) : 0);
    if (rc == TS_OK) {
        bool all_dropped = st.records == 0 && st.dropped_bytes == total;
        if (st.files != 1 || (!all_dropped && 24 + st.bytes + st.dropped_bytes != total) ||
            st.bytes != sum.bytes + 9 * st.records)
            abort();
    }
    /* A second replay of the cut file must be clean and give the same records. */
    if (rc == TS_OK) {
        Sum again = {0};
        WalReplayStats st2;
        if (wal_replay(g_dir, max_rec, on_record, &again, &st2, &err) != TS_OK)
            abort();
        if (st2.dropped_bytes != 0 || st2.records != st.records || again.x != sum.x)
            abort();
    }
    unlink(g_wal);
}

static void reseal(uint8_t *img, size_t n)
{
    if (n < 80)
        return;
    memcpy(img, "CAIRNSEG", 8);
    put_u32le(img + 8, 1);
    put_u32le(img + 12, crc32c(img, 12));
    uint8_t *f = img + n - 64;
    uint64_t index_off = get_u64le(f);
    if (index_off >= 16 && index_off <= n - 64)
        put_u32le(f + 48, crc32c(img + index_off, (n - 64) - (size_t)index_off));
    put_u32le(f + 52, 1);
    memcpy(f + 56, "CSEG", 4);
    put_u32le(f + 60, crc32c(f, 60));
}

static void fuzz_segment(uint8_t mode, const uint8_t *body, size_t n)
{
    uint8_t *img = ts_malloc(n ? n : 1);
    if (n)
        memcpy(img, body, n);
    if (mode & 2)
        reseal(img, n);
    write_file(g_seg, img, n, NULL, 0);
    ts_free(img);
    Segment *s = NULL;
    TsError err;
    int rc = segment_open(g_seg, &s, &err);
    if (rc == TS_OK) {
        if (segment_verify(s, &err) != TS_OK)
            abort();
        const SegmentEntry *es = segment_entries(s);
        size_t count = segment_entry_count(s);
        uint32_t x = 0;
        for (size_t i = 0; i < count; i++) {
            Slice b = segment_block(s, &es[i]);
            if (b.n)
                x += b.p[0] + b.p[b.n - 1];
            const SegmentEntry *first;
            size_t k = segment_find(s, es[i].series_id, &first);
            if (k == 0 || first > &es[i] || first + k <= &es[i] ||
                first->series_id != es[i].series_id)
                abort();
        }
        (void)x;
        segment_unref(s);
    } else if (rc != TS_ERR_CORRUPT || s != NULL) {
        abort();
    }
    unlink(g_seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    uint8_t mode = size ? data[0] : 0;
    const uint8_t *body = size ? data + 1 : data;
    size_t n = size ? size - 1 : 0;
    fuzz_wal(mode, body, n);
    fuzz_segment(mode, body, n);
    return 0;
}
