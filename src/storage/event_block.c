/*
 * Event block: one run of one event series (timestamps and texts), stored in segment files
 * beside numeric blocks and told apart from them by its magic byte. Events are rare next to
 * numbers, so the layout favours simplicity: varint timestamp deltas, varint lengths, the texts
 * back to back, and zstd over the lot where it pays (texts of one series repeat a lot).
 *
 * Pure: no I/O, no logging, no globals.
 *
 * ---------------------------------------------------------------------------------------------
 * EVENT BLOCK LAYOUT (version 1). varint = unsigned LEB128; zvarint = zigzag then varint.
 *
 *   offset  field
 *   0       magic:u8            0xC2 (EVENT_BLOCK_MAGIC)
 *   1       flags:u8            bit 0 EVENT_BLOCK_F_ZSTD; bits 1-7 must be zero
 *   2       n_events:varint     1..4096 (EVENT_BLOCK_MAX_EVENTS)
 *           min_ts:zvarint      first timestamp, int64 ns
 *           span:varint         max_ts - min_ts (unsigned; 0 iff n_events == 1)
 *           raw_bytes:varint    payload length before zstd, 1..event_raw_cap(n_events)
 *           stored_bytes:varint == raw_bytes without zstd, 1..raw_bytes - 1 with zstd
 *   H       payload             stored_bytes bytes: the raw payload, or one zstd frame whose
 *                               content size field equals raw_bytes
 *   H+S     crc:u32le           CRC-32C of bytes [0, H + S)
 *
 *   Raw payload:
 *     (n_events - 1) x delta:varint   ts[i] - ts[i-1], each >= 1 (strictly ascending)
 *     n_events x length:varint        text lengths, each <= EVENT_TEXT_MAX
 *     texts                           the texts back to back; exactly the sum of the lengths,
 *                                     ending the payload
 *
 *   Validity: magic, flags, ranges, crc; on decode also the payload against the header (the
 *   deltas add up to span, nothing left over). raw_bytes is capped so a hostile header cannot
 *   make the decoder allocate more than about 1.4 MiB.
 * ---------------------------------------------------------------------------------------------
 */
#include "storage/event_block.h"

#include "core/alloc.h"
#include "core/endian.h"
#include "core/hash.h"

#include <string.h>
#include <zstd.h>

#define EVENT_BLOCK_F_ZSTD 0x01
#define EVENT_ZSTD_LEVEL 3
#define EVENT_ZSTD_MIN_BYTES 64

/* Largest raw payload a block of n events may declare: deltas and lengths (at most 10 and 3
 * bytes each), the text target, plus one text that crossed it. */
static uint64_t event_raw_cap(uint64_t n)
{
    return 13 * n + EVENT_BLOCK_MAX_TEXT + EVENT_TEXT_MAX;
}

bool event_block_is(Slice in)
{
    return in.n > 0 && in.p[0] == EVENT_BLOCK_MAGIC;
}

size_t event_block_span(const EventVec *ev, size_t from)
{
    size_t n = 0;
    uint64_t text = 0;
    while (from + n < ev->n && n < EVENT_BLOCK_MAX_EVENTS && (n == 0 || text < EVENT_BLOCK_MAX_TEXT))
        text += ev->len[from + n++];
    return n;
}

void event_block_build(const EventVec *ev, size_t from, size_t n, Buf *out)
{
    TS_ASSERT(n >= 1 && n <= EVENT_BLOCK_MAX_EVENTS && from + n <= ev->n);
    const int64_t *ts = ev->ts_ns + from;
    Buf raw;
    buf_init(&raw);
    for (size_t i = 1; i < n; i++) {
        TS_ASSERT(ts[i] > ts[i - 1]);
        buf_put_varint(&raw, (uint64_t)ts[i] - (uint64_t)ts[i - 1]);
    }
    for (size_t i = 0; i < n; i++) {
        TS_ASSERT(ev->len[from + i] <= EVENT_TEXT_MAX);
        buf_put_varint(&raw, ev->len[from + i]);
    }
    for (size_t i = 0; i < n; i++) {
        Slice t = event_vec_text(ev, from + i);
        buf_append(&raw, t.p, t.n);
    }
    if (raw.n == 0)
        buf_put_u8(&raw, 0); /* cannot happen (n >= 1 gives a length byte); keeps raw >= 1 */

    uint8_t flags = 0;
    Buf z;
    buf_init(&z);
    if (raw.n >= EVENT_ZSTD_MIN_BYTES) {
        size_t bound = ZSTD_compressBound(raw.n);
        buf_reserve(&z, bound);
        size_t zn = ZSTD_compress(z.p, bound, raw.p, raw.n, EVENT_ZSTD_LEVEL);
        if (!ZSTD_isError(zn) && zn > 0 && zn < raw.n - raw.n / 20) {
            z.n = zn;
            flags = EVENT_BLOCK_F_ZSTD;
        }
    }
    const Buf *payload = flags ? &z : &raw;
    size_t start = out->n;
    buf_put_u8(out, EVENT_BLOCK_MAGIC);
    buf_put_u8(out, flags);
    buf_put_varint(out, n);
    buf_put_varint(out, zigzag_enc(ts[0]));
    buf_put_varint(out, (uint64_t)ts[n - 1] - (uint64_t)ts[0]);
    buf_put_varint(out, raw.n);
    buf_put_varint(out, payload->n);
    buf_append(out, payload->p, payload->n);
    buf_put_u32le(out, crc32c(out->p + start, out->n - start));
    buf_deinit(&raw);
    buf_deinit(&z);
}

/* Read one varint at *off of in; false when truncated or malformed. */
static bool get_varint(Slice in, size_t *off, uint64_t *v)
{
    size_t k = varint_get(in.p + *off, in.n - *off, v);
    if (!k)
        return false;
    *off += k;
    return true;
}

int event_block_parse(Slice in, EventBlockHeader *h, size_t *total, TsError *err)
{
    uint64_t n, zz, span, raw, stored;
    size_t off = 2;
    if (in.n < 2 || in.p[0] != EVENT_BLOCK_MAGIC)
        return ts_error(err, TS_ERR_CORRUPT, 0, "event block: bad magic");
    if (in.p[1] & ~EVENT_BLOCK_F_ZSTD)
        return ts_error(err, TS_ERR_CORRUPT, 1, "event block: unknown flags");
    if (!get_varint(in, &off, &n) || !get_varint(in, &off, &zz) || !get_varint(in, &off, &span) ||
        !get_varint(in, &off, &raw) || !get_varint(in, &off, &stored))
        return ts_error(err, TS_ERR_CORRUPT, off, "event block: truncated header");
    if (n < 1 || n > EVENT_BLOCK_MAX_EVENTS)
        return ts_error(err, TS_ERR_CORRUPT, 2, "event block: bad event count");
    if ((n == 1) != (span == 0) || span > INT64_MAX)
        return ts_error(err, TS_ERR_CORRUPT, 2, "event block: bad time span");
    int64_t min_ts = zigzag_dec(zz);
    if ((uint64_t)INT64_MAX - (uint64_t)min_ts < span && min_ts >= 0)
        return ts_error(err, TS_ERR_CORRUPT, 2, "event block: time span overflows");
    if (raw < 1 || raw > event_raw_cap(n))
        return ts_error(err, TS_ERR_CORRUPT, 2, "event block: bad payload size");
    bool zstd = in.p[1] & EVENT_BLOCK_F_ZSTD;
    if (zstd ? (stored < 1 || stored >= raw) : stored != raw)
        return ts_error(err, TS_ERR_CORRUPT, 2, "event block: bad stored size");
    if (stored > in.n - off || in.n - off - stored < 4)
        return ts_error(err, TS_ERR_CORRUPT, off, "event block: truncated");
    size_t body = off + (size_t)stored;
    if (get_u32le(in.p + body) != crc32c(in.p, body))
        return ts_error(err, TS_ERR_CORRUPT, body, "event block: checksum mismatch");
    h->n_events = (uint32_t)n;
    h->min_ts_ns = min_ts;
    h->max_ts_ns = (int64_t)((uint64_t)min_ts + span);
    h->raw_bytes = (uint32_t)raw;
    h->stored_bytes = (uint32_t)stored;
    h->flags = in.p[1];
    h->header_bytes = off;
    *total = body + 4;
    return TS_OK;
}

int event_block_decode(Slice in, EventVec *out, TsError *err)
{
    EventBlockHeader h;
    size_t total;
    int rc = event_block_parse(in, &h, &total, err);
    if (rc != TS_OK)
        return rc;
    const uint8_t *payload = in.p + h.header_bytes;
    uint8_t *plain = NULL;
    if (h.flags & EVENT_BLOCK_F_ZSTD) {
        unsigned long long size = ZSTD_getFrameContentSize(payload, h.stored_bytes);
        if (size != h.raw_bytes)
            return ts_error(err, TS_ERR_CORRUPT, h.header_bytes, "event block: bad zstd frame");
        plain = ts_malloc(h.raw_bytes);
        size_t got = ZSTD_decompress(plain, h.raw_bytes, payload, h.stored_bytes);
        if (ZSTD_isError(got) || got != h.raw_bytes) {
            ts_free(plain);
            return ts_error(err, TS_ERR_CORRUPT, h.header_bytes, "event block: bad zstd frame");
        }
        payload = plain;
    }
    Slice raw = slice_make(payload, h.raw_bytes);
    size_t off = 0, n0 = out->n, text0 = out->text.n;
    uint32_t *lens = ts_malloc(h.n_events * sizeof(uint32_t));
    int64_t *ts = ts_malloc(h.n_events * sizeof(int64_t));
    uint64_t text_total = 0;
    const char *why = NULL;
    ts[0] = h.min_ts_ns;
    for (uint32_t i = 1; i < h.n_events && !why; i++) {
        uint64_t d;
        if (!get_varint(raw, &off, &d) || d < 1 || d > (uint64_t)(h.max_ts_ns - ts[i - 1]))
            why = "event block: bad timestamp delta";
        else
            ts[i] = (int64_t)((uint64_t)ts[i - 1] + d);
    }
    if (!why && ts[h.n_events - 1] != h.max_ts_ns)
        why = "event block: timestamps do not end at the header's";
    for (uint32_t i = 0; i < h.n_events && !why; i++) {
        uint64_t len;
        if (!get_varint(raw, &off, &len) || len > EVENT_TEXT_MAX)
            why = "event block: bad text length";
        else
            text_total += (lens[i] = (uint32_t)len);
    }
    if (!why && text_total != raw.n - off)
        why = "event block: texts do not fill the payload";
    for (uint32_t i = 0; i < h.n_events && !why; i++) {
        event_vec_push(out, ts[i], slice_make(raw.p + off, lens[i]));
        off += lens[i];
    }
    ts_free(lens);
    ts_free(ts);
    ts_free(plain);
    if (why) {
        out->n = n0;
        out->text.n = text0;
        return ts_error(err, TS_ERR_CORRUPT, h.header_bytes, "%s", why);
    }
    return TS_OK;
}
