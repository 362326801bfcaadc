/*
 * Point codec: turns one chunk of (int64 ns timestamp, double) points of one series into a
 * compact byte string and back. It is the innermost layer of the storage engine; block.c wraps
 * each chunk with a header, optional zstd and a CRC.
 *
 * Both columns are reduced to a sequence of 64-bit integers and coded by one integer-sequence
 * coder ("intseq") that, per chunk, tries first differences (DELTA) and second differences (DOD)
 * and, for each, four residual coders, and keeps the cheapest by computed size (the Rice
 * variants are first ranked by a quick estimate; only the best one is sized exactly):
 *   - timestamps: x_i = (ts_i - ts_0) / unit, unit = gcd of all deltas, so second- or
 *     10-second resolution data costs nothing for the ns unit, and a regular series is one
 *     constant residual (zero bits per point);
 *   - values: if every value is exactly (double)k / 10^d for one scale d in 0..15 and integers
 *     |k| < 2^53 (verified bit-exactly at encode time), x_i = k_i ("decimal mode"); otherwise
 *     the raw IEEE bits are XORed with the previous value (Gorilla style, "XOR mode"). When a
 *     decimal chunk costs more than 8 bits per point, the XOR size is computed too and the
 *     smaller mode wins.
 * Residual coders: CONST (every residual equal: 0 bits/point), RICE_ZZ (Rice code of
 * zigzag(r - base), parameter chosen per 128 residuals), RICE_OFF (Rice code of r - min, for
 * one-sided data such as counter increments) and UNIFORM (a range coder with a flat distribution
 * over [min, max]: exactly log2(max - min + 1) bits per residual, which beats Rice on bounded
 * noise such as a random walk with uniform steps).
 *
 * codec_encode_fast writes the same format without the planner, for chunks that live briefly in
 * memory (the memtable's sealed heads): decimal mode whenever it applies (else XOR), DELTA
 * residuals, and either CONST or RICE_OFF with one k equal to the bit width of the residual
 * range, so every residual is a stop bit plus k bits (a fixed width, packed without branches).
 *
 * Pure: no I/O, no logging, no mutable globals. The decoder treats its input as hostile: every
 * read is bounds-checked, every loop is bounded by the point count, and any inconsistency gives
 * TS_ERR_CORRUPT.
 *
 * ---------------------------------------------------------------------------------------------
 * CHUNK LAYOUT (version 1). All integers are unsigned LEB128 varints ("varint") or zigzag-mapped
 * signed varints ("zvarint", zigzag(v) = (v << 1) ^ (v >> 63)) unless said otherwise. All
 * arithmetic on reconstructed integers is modulo 2^64 (two's complement wrap), so every int64
 * input, including deltas near 2^64, round-trips.
 *
 *   chunk     := n:varint (1..65536)  values  timestamps           (nothing may follow)
 *   values    := vmode:u8  ( vmode 0..15:  decimal scale d = vmode;  k_0:zvarint;
 *                                          [n >= 2: intseq(x_0 = k_0)]
 *                            vmode 16:     xorbits )                value_i = (double)k_i / 10^d
 *   timestamps:= t_0:zvarint  [n >= 2: unit:varint (>= 1)  intseq(x_0 = 0)]
 *                                                               ts_i = t_0 + x_i * unit
 *   intseq    := tmode:u8  [DOD: delta_1:zvarint]  base:zvarint  [UNIFORM: (R - 1):varint]
 *                payload
 *       tmode bit 0 = transform: 0 DELTA: residuals r_i = x_i - x_(i-1),           i = 1..n-1
 *                                1 DOD:   r_i = (x_i - x_(i-1)) - (x_(i-1) - x_(i-2)),
 *                                         i = 2..n-1 (needs n >= 3; delta_1 = x_1 - x_0)
 *       tmode bits 1-2 = coder, bits 3-7 must be 0:
 *            0 CONST     every r_i = base; no payload
 *            1 RICE_ZZ   u_i = zigzag(r_i - base), rice payload
 *            2 RICE_OFF  u_i = r_i - base, rice payload
 *            3 UNIFORM   u_i = r_i - base in [0, R), 2 <= R <= 2^23, uniform payload
 *
 *   Bit streams (rice payload, xorbits) are LSB-first: the first bit is bit 0 of the first byte;
 *   a w-bit field is stored least significant bit first. A stream ends at the next byte boundary
 *   and its padding bits must be zero.
 *
 *   rice payload := for each group of 128 residuals (the last may be shorter):
 *                     k:6 bits (0..63), then per residual:
 *                       q = u >> k < 32:  q zero bits, a one bit, then the low k bits of u
 *                       q >= 32 (escape): 32 zero bits, then u in 64 bits
 *
 *   uniform payload := rANS with a flat distribution, 32-bit state, byte renormalisation.
 *                     Let s = 23 - floor(log2 R), L = R << s (so 2^23 <= L < 2^24).
 *                     state:u32le (L <= state < 256 L), then the renormalisation bytes.
 *                     Decode: u = state % R; state /= R; while state < L: state = state << 8 |
 *                     next byte. After the last residual, state must equal L again.
 *                     (The encoder runs backwards from state L, emitting the low byte while
 *                     state >= 2^(s+8), then state = state * R + u.)
 *
 *   xorbits := bits of value_0 in 64 bits, then per further value, with x = bits(v_i) ^
 *              bits(v_(i-1)) and lz/tz = leading/trailing zero bits of x:
 *                 '0'                          x == 0
 *                 '1' '0' x>>wt in 64-wl-wt    x fits the current window (wl, wt); only after
 *                                              a window has been set
 *                 '1' '1' lz:6 (len-1):6 x>>tz in len bits, len = 64 - lz - tz (1..64);
 *                                              sets the window (wl, wt) = (lz, tz)
 *
 * Validity rules checked by the decoder: n in range; vmode <= 16; reserved tmode bits zero;
 * DOD only with n >= 3; 2 <= R <= 2^23; unit >= 1; decimal |k_i| < 2^53; lz + len <= 64; the
 * uniform final state equals L; timestamps strictly ascending; every stream within the input,
 * zero padding, and no byte after the timestamp section.
 * ---------------------------------------------------------------------------------------------
 */
#include "storage/codec.h"

#include "core/alloc.h"
#include "core/endian.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define DEC_MAX_SCALE 15
#define VMODE_XOR 16
#define K_LIMIT ((int64_t)1 << 53)
#define RICE_GROUP 128
#define RICE_QMAX 32
#define UNI_MAX_R ((uint64_t)1 << 23)

enum { SEQ_DELTA = 0, SEQ_DOD = 1 };
enum { SEQ_CONST = 0, SEQ_RICE_ZZ = 1, SEQ_RICE_OFF = 2, SEQ_UNIFORM = 3 };

static const double P10[DEC_MAX_SCALE + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                              1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* ---- small helpers ------------------------------------------------------------------------ */

static unsigned varint_len(uint64_t v)
{
    unsigned n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint64_t low_mask(unsigned w) /* w <= 64 */
{
    return w >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << w) - 1;
}

static inline unsigned floor_log2(uint64_t v) /* v >= 1 */
{
    return 63u - (unsigned)__builtin_clzll(v);
}

/* Multiplicative inverse of an odd number modulo 2^64 (Newton iteration). */
static uint64_t inverse_odd(uint64_t o)
{
    uint64_t x = o; /* correct to 3 bits for odd o */
    for (int i = 0; i < 5; i++)
        x *= 2 - o * x;
    return x;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* ---- bit writer (LSB-first) ---------------------------------------------------------------- */

typedef struct BitW {
    Buf *b;         /* destination; room reserved up front by bitw_init */
    uint64_t acc;   /* pending bits, the oldest at bit 0 */
    unsigned nbits; /* pending bit count, < 32 between calls */
} BitW;

static void bitw_init(BitW *w, Buf *b, uint64_t max_bits)
{
    buf_reserve(b, (size_t)(max_bits / 8) + 16);
    w->b = b;
    w->acc = 0;
    w->nbits = 0;
}

/* Append the low 'width' bits of v (width <= 32, v < 2^width). */
static inline void bitw_put(BitW *w, uint64_t v, unsigned width)
{
    w->acc |= v << w->nbits;
    w->nbits += width;
    if (w->nbits >= 32) {
        put_u32le(w->b->p + w->b->n, (uint32_t)w->acc);
        w->b->n += 4;
        w->acc >>= 32;
        w->nbits -= 32;
    }
}

static inline void bitw_put64(BitW *w, uint64_t v, unsigned width) /* width <= 64 */
{
    if (width <= 32) {
        bitw_put(w, v, width);
    } else {
        bitw_put(w, v & 0xffffffffu, 32);
        bitw_put(w, v >> 32, width - 32);
    }
}

static void bitw_finish(BitW *w)
{
    while (w->nbits > 0) {
        w->b->p[w->b->n++] = (uint8_t)w->acc;
        w->acc >>= 8;
        w->nbits = w->nbits > 8 ? w->nbits - 8 : 0;
    }
}

/* ---- bit reader (LSB-first, bounds-checked) ------------------------------------------------ */

typedef struct BitR {
    const uint8_t *p; /* whole input */
    size_t n;         /* input length */
    size_t pos;       /* next byte to load; may run past n (zeros are loaded there) */
    uint64_t acc;     /* loaded bits, the next one at bit 0 */
    unsigned nbits;   /* valid bits in acc */
} BitR;

static void bitr_init(BitR *r, Slice in, size_t pos)
{
    r->p = in.p;
    r->n = in.n;
    r->pos = pos;
    r->acc = 0;
    r->nbits = 0;
}

/* Make at least 56 bits available; bytes past the end read as zero (caught by bitr_end). */
static inline void bitr_refill(BitR *r)
{
    if (r->pos + 8 <= r->n) {
        r->acc |= get_u64le(r->p + r->pos) << r->nbits;
        r->pos += (63 - r->nbits) >> 3;
        r->nbits |= 56;
    } else {
        while (r->nbits <= 56) {
            uint64_t byte = r->pos < r->n ? r->p[r->pos] : 0;
            r->acc |= byte << r->nbits;
            r->pos++;
            r->nbits += 8;
        }
    }
}

static inline void bitr_skip(BitR *r, unsigned w) /* w <= nbits, w < 64 */
{
    r->acc >>= w;
    r->nbits -= w;
}

static inline uint64_t bitr_get(BitR *r, unsigned w) /* w <= 32 */
{
    if (r->nbits < w)
        bitr_refill(r);
    uint64_t v = r->acc & low_mask(w);
    bitr_skip(r, w);
    return v;
}

static inline uint64_t bitr_get64(BitR *r, unsigned w) /* w <= 64 */
{
    if (w <= 32)
        return bitr_get(r, w);
    uint64_t lo = bitr_get(r, 32);
    return lo | (bitr_get(r, w - 32) << 32);
}

static inline bool bitr_overrun(const BitR *r)
{
    return r->pos * 8 - r->nbits > r->n * 8;
}

/* Finish a stream: check bounds and zero padding; *pos receives the next byte offset. */
static int bitr_end(BitR *r, size_t *pos, TsError *err)
{
    size_t used_bits = r->pos * 8 - r->nbits;
    if (used_bits > r->n * 8)
        return ts_error(err, TS_ERR_CORRUPT, r->n, "codec: bit stream runs past the end");
    unsigned pad = (unsigned)((8 - used_bits % 8) % 8);
    if (r->acc & low_mask(pad))
        return ts_error(err, TS_ERR_CORRUPT, used_bits / 8, "codec: nonzero padding bits");
    *pos = (used_bits + pad) / 8;
    return TS_OK;
}

/* ---- byte-level readers -------------------------------------------------------------------- */

static int read_varint(Slice in, size_t *pos, uint64_t *v, TsError *err)
{
    size_t k = *pos < in.n ? varint_get(in.p + *pos, in.n - *pos, v) : 0;
    if (!k)
        return ts_error(err, TS_ERR_CORRUPT, *pos, "codec: bad or truncated varint");
    *pos += k;
    return TS_OK;
}

static int read_u8(Slice in, size_t *pos, uint8_t *v, TsError *err)
{
    if (*pos >= in.n)
        return ts_error(err, TS_ERR_CORRUPT, *pos, "codec: truncated");
    *v = in.p[(*pos)++];
    return TS_OK;
}

/* ---- Rice coding --------------------------------------------------------------------------- */

static inline uint64_t map_residual(uint64_t r, uint64_t base, bool zz)
{
    return zz ? zigzag_enc((int64_t)(r - base)) : r - base;
}

/* Rice parameter for a group whose mean mapped residual is 'mean': 2^(k+1) >= mean. */
static unsigned rice_k_rule(double mean)
{
    if (mean >= 9.2e18)
        return 62;
    if (mean > 2.0)
        return floor_log2((uint64_t)mean - 1);
    return 0;
}

/*
 * Size in bits (before byte padding) of the Rice coding of residuals r[0..m) mapped around
 * 'base'. With 'ks' NULL this is a quick estimate from group sums, assuming the low k bits are
 * uniform, used to rank candidates. Otherwise the k of every group is chosen exactly: the rule
 * above and its two neighbours are costed in one pass, ks[g] receives group g's k, and the
 * exact size is returned.
 */
static uint64_t rice_plan(const uint64_t *r, size_t m, uint64_t base, bool zz, uint8_t *ks)
{
    uint64_t u[RICE_GROUP];
    uint64_t total = 0;
    for (size_t i = 0, g = 0; i < m; i += RICE_GROUP, g++) {
        size_t cnt = m - i < RICE_GROUP ? m - i : RICE_GROUP;
        uint64_t sum_hi = 0, sum_lo = 0, mx = 0;
        for (size_t j = 0; j < cnt; j++) {
            uint64_t v = map_residual(r[i + j], base, zz);
            u[j] = v;
            sum_hi += v >> 8;
            sum_lo += v & 255;
            mx = v > mx ? v : mx;
        }
        double sum = (double)sum_hi * 256.0 + (double)sum_lo;
        unsigned k = rice_k_rule(sum / (double)cnt);
        if (!ks) {
            double p = (double)((uint64_t)1 << k);
            double q = (sum - (double)cnt * (p - 1) / 2) / p;
            total += (uint64_t)cnt * (k + 1) + 6 + (q > 0 ? (uint64_t)q : 0);
            continue;
        }
        unsigned ka = k > 0 ? k - 1 : 0, kc = k < 63 ? k + 1 : 63;
        uint64_t ca = 0, cb = 0, cc = 0;
        if ((mx >> ka) < RICE_QMAX) { /* no escapes: plain sums */
            for (size_t j = 0; j < cnt; j++) {
                ca += u[j] >> ka;
                cb += u[j] >> k;
                cc += u[j] >> kc;
            }
        } else {
            for (size_t j = 0; j < cnt; j++) {
                uint64_t qa = u[j] >> ka, qb = u[j] >> k, qc = u[j] >> kc;
                ca += qa < RICE_QMAX ? qa : RICE_QMAX + 63 - ka;
                cb += qb < RICE_QMAX ? qb : RICE_QMAX + 63 - k;
                cc += qc < RICE_QMAX ? qc : RICE_QMAX + 63 - kc;
            }
        }
        ca += (uint64_t)cnt * (ka + 1);
        cb += (uint64_t)cnt * (k + 1);
        cc += (uint64_t)cnt * (kc + 1);
        uint64_t best = cb;
        if (ca < best) {
            best = ca;
            k = ka;
        }
        if (cc < best) {
            best = cc;
            k = kc;
        }
        ks[g] = (uint8_t)k;
        total += best + 6;
    }
    return total;
}

static void rice_write(BitW *w, const uint64_t *r, size_t m, uint64_t base, bool zz,
                       const uint8_t *ks)
{
    uint64_t u[RICE_GROUP];
    for (size_t i = 0, g = 0; i < m; i += RICE_GROUP, g++) {
        size_t cnt = m - i < RICE_GROUP ? m - i : RICE_GROUP;
        for (size_t j = 0; j < cnt; j++)
            u[j] = map_residual(r[i + j], base, zz);
        unsigned k = ks[g];
        bitw_put(w, k, 6);
        uint64_t mask = low_mask(k);
        for (size_t j = 0; j < cnt; j++) {
            uint64_t q = u[j] >> k;
            if (q >= RICE_QMAX) {
                bitw_put(w, 0, RICE_QMAX);
                bitw_put64(w, u[j], 64);
            } else if (q + 1 + k <= 32) {
                bitw_put(w, ((u[j] & mask) << (q + 1)) | ((uint64_t)1 << q), (unsigned)q + 1 + k);
            } else {
                bitw_put(w, (uint64_t)1 << q, (unsigned)q + 1);
                bitw_put64(w, u[j] & mask, k);
            }
        }
    }
}

static int rice_read(BitR *br, uint64_t *dst, size_t m, uint64_t base, bool zz, TsError *err)
{
    for (size_t i = 0; i < m; i += RICE_GROUP) {
        size_t cnt = m - i < RICE_GROUP ? m - i : RICE_GROUP;
        unsigned k = (unsigned)bitr_get(br, 6);
        uint64_t mask = low_mask(k);
        for (size_t j = 0; j < cnt; j++) {
            uint64_t u;
            bitr_refill(br);
            if ((uint32_t)br->acc == 0) {
                bitr_skip(br, RICE_QMAX);
                u = bitr_get64(br, 64);
            } else {
                unsigned q = (unsigned)__builtin_ctzll(br->acc);
                bitr_skip(br, q + 1);
                if (k <= 24) {
                    u = ((uint64_t)q << k) | (br->acc & mask);
                    bitr_skip(br, k);
                } else {
                    u = ((uint64_t)q << k) | bitr_get64(br, k);
                }
            }
            dst[i + j] = zz ? base + (uint64_t)zigzag_dec(u) : base + u;
        }
        if (bitr_overrun(br))
            return ts_error(err, TS_ERR_CORRUPT, br->n, "codec: rice stream truncated");
    }
    return TS_OK;
}

/* ---- uniform rANS -------------------------------------------------------------------------- */

static unsigned uni_shift(uint64_t range)
{
    return 23u - floor_log2(range);
}

static void uni_write(Buf *out, const uint64_t *r, size_t m, uint64_t base, uint64_t range)
{
    unsigned s = uni_shift(range);
    uint32_t lo = (uint32_t)(range << s);
    uint32_t xmax = (uint32_t)1 << (s + 8);
    uint32_t R = (uint32_t)range;
    size_t room = m * 3 + 8;
    buf_reserve(out, room);
    uint8_t *end = out->p + out->n + room;
    uint8_t *w = end;
    uint32_t x = lo;
    for (size_t i = m; i-- > 0;) {
        uint32_t u = (uint32_t)(r[i] - base);
        while (x >= xmax) {
            *--w = (uint8_t)x;
            x >>= 8;
        }
        x = x * R + u;
    }
    w -= 4;
    put_u32le(w, x);
    size_t len = (size_t)(end - w);
    memmove(out->p + out->n, w, len);
    out->n += len;
}

static int uni_read(Slice in, size_t *pos, uint64_t *dst, size_t m, uint64_t base, uint64_t range,
                    TsError *err)
{
    unsigned s = uni_shift(range);
    uint32_t lo = (uint32_t)(range << s);
    uint32_t R = (uint32_t)range;
    size_t p = *pos;
    if (in.n - p < 4)
        return ts_error(err, TS_ERR_CORRUPT, p, "codec: uniform stream truncated");
    uint32_t x = get_u32le(in.p + p);
    p += 4;
    if (x < lo || x >= lo * 256ull)
        return ts_error(err, TS_ERR_CORRUPT, p - 4, "codec: bad uniform state");
    for (size_t i = 0; i < m; i++) {
        uint32_t u = x % R;
        x /= R;
        while (x < lo) {
            if (p >= in.n)
                return ts_error(err, TS_ERR_CORRUPT, p, "codec: uniform stream truncated");
            x = (x << 8) | in.p[p++];
        }
        dst[i] = base + u;
    }
    if (x != lo)
        return ts_error(err, TS_ERR_CORRUPT, p, "codec: uniform stream final state mismatch");
    *pos = p;
    return TS_OK;
}

/* ---- integer sequences --------------------------------------------------------------------- */

#define RICE_MAX_GROUPS ((CODEC_MAX_POINTS + RICE_GROUP - 1) / RICE_GROUP)

typedef struct SeqPlan {
    unsigned transform;          /* SEQ_DELTA or SEQ_DOD */
    unsigned coder;              /* SEQ_CONST .. SEQ_UNIFORM */
    uint64_t first;              /* DOD: x_1 - x_0 */
    uint64_t base;               /* see the layout */
    uint64_t range;              /* UNIFORM: R */
    uint64_t bits;               /* total size of the intseq in bits (UNIFORM: estimate) */
    uint8_t ks[RICE_MAX_GROUPS]; /* RICE_*: k of every group of 128 residuals */
} SeqPlan;

/* One residual array (under one transform) and its range statistics. */
typedef struct SeqCand {
    unsigned transform;
    const uint64_t *r; /* residuals */
    size_t m;          /* residual count, >= 1 */
    uint64_t first;    /* DOD: x_1 - x_0 */
    int64_t mn, mx;    /* range, as signed values */
    int64_t center;    /* rounded mean, clamped to [mn, mx] */
    uint64_t hdr_bits; /* tmode byte and, for DOD, the first delta */
} SeqCand;

static void seq_cand(SeqCand *c, unsigned transform, const uint64_t *r, size_t m, uint64_t first)
{
    int64_t mn = (int64_t)r[0], mx = (int64_t)r[0];
    int64_t sum_hi = 0;
    uint64_t sum_lo = 0;
    for (size_t i = 0; i < m; i++) {
        int64_t v = (int64_t)r[i];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum_hi += v >> 16; /* arithmetic shift on gcc/clang; only steers the estimate */
        sum_lo += r[i] & 0xffff;
    }
    double mean = ((double)sum_hi * 65536.0 + (double)sum_lo) / (double)m;
    int64_t center = mn;
    if (mean > (double)mn && mean < (double)mx)
        center = (int64_t)llround(mean);
    c->transform = transform;
    c->r = r;
    c->m = m;
    c->first = first;
    c->mn = mn;
    c->mx = mx;
    c->center = center < mn ? mn : center > mx ? mx : center;
    c->hdr_bits = 8 + (transform == SEQ_DOD ? 8 * varint_len(zigzag_enc((int64_t)first)) : 0);
}

/* CONST and UNIFORM costs are known from the range alone. */
static void seq_eval_range(const SeqCand *c, SeqPlan *best)
{
    uint64_t hdr = c->hdr_bits + 8 * varint_len(zigzag_enc(c->mn));
    uint64_t spread = (uint64_t)c->mx - (uint64_t)c->mn;
    uint64_t bits = UINT64_MAX;
    unsigned coder = SEQ_CONST;
    if (spread == 0) {
        bits = hdr;
    } else if (spread < UNI_MAX_R) {
        coder = SEQ_UNIFORM;
        bits = hdr + 8 * varint_len(spread) + 32 +
               8 * (uint64_t)ceil((double)c->m * log2((double)(spread + 1)) / 8.0);
    }
    if (bits < best->bits) {
        best->transform = c->transform;
        best->coder = coder;
        best->first = c->first;
        best->base = (uint64_t)c->mn;
        best->range = spread + 1;
        best->bits = bits;
    }
}

/*
 * Plan the cheapest coding of x_0..x_n-1 (n >= 2) given its first differences d[0..n-1)
 * (d[i] = x_(i+1) - x_i). 'dod' is scratch for n - 2 entries and receives the second
 * differences, which seq_write needs when the plan says DOD.
 * The Rice variants (DELTA/DOD x ZZ/OFF) are ranked by estimate and only the best one is
 * costed exactly; CONST and UNIFORM are costed from the ranges.
 */
static void seq_plan(const uint64_t *d, size_t n, uint64_t *dod, SeqPlan *best)
{
    SeqCand cand[2];
    size_t nc = 1;
    best->bits = UINT64_MAX;
    seq_cand(&cand[0], SEQ_DELTA, d, n - 1, 0);
    if (cand[0].mn == cand[0].mx) { /* constant deltas: nothing is cheaper */
        seq_eval_range(&cand[0], best);
        return;
    }
    if (n >= 3) {
        for (size_t i = 0; i + 2 < n; i++)
            dod[i] = d[i + 1] - d[i];
        seq_cand(&cand[1], SEQ_DOD, dod, n - 2, d[0]);
        nc = 2;
    }
    const SeqCand *rc = NULL;
    bool rzz = true;
    uint64_t rbits = UINT64_MAX;
    for (size_t i = 0; i < nc; i++) {
        seq_eval_range(&cand[i], best);
        if (cand[i].mn == cand[i].mx)
            continue;
        for (int zz = 1; zz >= 0; zz--) {
            uint64_t base = (uint64_t)(zz ? cand[i].center : cand[i].mn);
            uint64_t bits = rice_plan(cand[i].r, cand[i].m, base, zz, NULL) + cand[i].hdr_bits +
                            8 * varint_len(zigzag_enc((int64_t)base));
            if (bits < rbits) {
                rbits = bits;
                rc = &cand[i];
                rzz = zz;
            }
        }
    }
    if (!rc)
        return;
    uint64_t base = (uint64_t)(rzz ? rc->center : rc->mn);
    uint64_t pay = rice_plan(rc->r, rc->m, base, rzz, best->ks);
    uint64_t bits = rc->hdr_bits + 8 * varint_len(zigzag_enc((int64_t)base)) + (pay + 7) / 8 * 8;
    if (bits < best->bits) {
        best->transform = rc->transform;
        best->coder = rzz ? SEQ_RICE_ZZ : SEQ_RICE_OFF;
        best->first = rc->first;
        best->base = base;
        best->bits = bits;
    }
}

static void seq_write(Buf *out, const uint64_t *d, const uint64_t *dod, size_t n, const SeqPlan *p)
{
    const uint64_t *r = p->transform == SEQ_DOD ? dod : d;
    size_t m = p->transform == SEQ_DOD ? n - 2 : n - 1;
    buf_put_u8(out, (uint8_t)(p->transform | p->coder << 1));
    if (p->transform == SEQ_DOD)
        buf_put_varint(out, zigzag_enc((int64_t)p->first));
    buf_put_varint(out, zigzag_enc((int64_t)p->base));
    if (p->coder == SEQ_UNIFORM) {
        buf_put_varint(out, p->range - 1);
        uni_write(out, r, m, p->base, p->range);
    } else if (p->coder != SEQ_CONST) {
        BitW w;
        bitw_init(&w, out, p->bits);
        rice_write(&w, r, m, p->base, p->coder == SEQ_RICE_ZZ, p->ks);
        bitw_finish(&w);
    }
}

/* Decode an intseq into x[0..n) (n >= 2) with x[0] = x0. */
static int seq_read(Slice in, size_t *pos, uint64_t x0, uint64_t *x, size_t n, TsError *err)
{
    int rc;
    uint8_t tmode = 0;
    uint64_t first = 0, zbase, range = 0;
    size_t at = *pos;
    if ((rc = read_u8(in, pos, &tmode, err)))
        return rc;
    unsigned transform = tmode & 1, coder = (tmode >> 1) & 3;
    if (tmode >> 3)
        return ts_error(err, TS_ERR_CORRUPT, at, "codec: reserved sequence mode bits set");
    if (transform == SEQ_DOD) {
        if (n < 3)
            return ts_error(err, TS_ERR_CORRUPT, at, "codec: DOD needs at least 3 points");
        if ((rc = read_varint(in, pos, &first, err)))
            return rc;
        first = (uint64_t)zigzag_dec(first);
    }
    if ((rc = read_varint(in, pos, &zbase, err)))
        return rc;
    uint64_t base = (uint64_t)zigzag_dec(zbase);
    size_t skip = transform == SEQ_DOD ? 2 : 1;
    size_t m = n - skip;
    uint64_t *r = x + skip;
    if (coder == SEQ_CONST) {
        for (size_t i = 0; i < m; i++)
            r[i] = base;
    } else if (coder == SEQ_UNIFORM) {
        at = *pos;
        if ((rc = read_varint(in, pos, &range, err)))
            return rc;
        if (range < 1 || range >= UNI_MAX_R)
            return ts_error(err, TS_ERR_CORRUPT, at, "codec: bad uniform range");
        if ((rc = uni_read(in, pos, r, m, base, range + 1, err)))
            return rc;
    } else {
        BitR br;
        bitr_init(&br, in, *pos);
        if ((rc = rice_read(&br, r, m, base, coder == SEQ_RICE_ZZ, err)))
            return rc;
        if ((rc = bitr_end(&br, pos, err)))
            return rc;
    }
    x[0] = x0;
    if (transform == SEQ_DELTA) {
        for (size_t i = 1; i < n; i++)
            x[i] += x[i - 1];
    } else {
        uint64_t delta = first;
        x[1] = x0 + first;
        for (size_t i = 2; i < n; i++) {
            delta += x[i];
            x[i] = x[i - 1] + delta;
        }
    }
    return TS_OK;
}

/* ---- XOR values ---------------------------------------------------------------------------- */

/* Size in bits of the XOR coding of v[0..n); writes it too when w is not NULL. */
static uint64_t xor_run(const double *v, size_t n, BitW *w)
{
    uint64_t prev = double_bits(v[0]);
    uint64_t bits = 64;
    unsigned wl = 0, wt = 0;
    bool window = false;
    if (w)
        bitw_put64(w, prev, 64);
    for (size_t i = 1; i < n; i++) {
        uint64_t cur = double_bits(v[i]);
        uint64_t x = cur ^ prev;
        prev = cur;
        if (x == 0) {
            bits += 1;
            if (w)
                bitw_put(w, 0, 1);
            continue;
        }
        unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
        unsigned len = 64 - lz - tz;
        if (window && lz >= wl && tz >= wt && 64 - wl - wt <= len + 12) {
            unsigned wlen = 64 - wl - wt;
            bits += 2 + wlen;
            if (w) {
                bitw_put(w, 1, 2);
                bitw_put64(w, x >> wt, wlen);
            }
        } else {
            bits += 14 + len;
            if (w) {
                bitw_put(w, 3 | lz << 2 | (len - 1) << 8, 14);
                bitw_put64(w, x >> tz, len);
            }
            window = true;
            wl = lz;
            wt = tz;
        }
    }
    return bits;
}

static int xor_read(BitR *br, double *v, size_t n, TsError *err)
{
    uint64_t prev = bitr_get64(br, 64);
    unsigned wl = 0, wt = 0;
    bool window = false;
    v[0] = bits_double(prev);
    for (size_t i = 1; i < n; i++) {
        bitr_refill(br);
        if (!(br->acc & 1)) {
            bitr_skip(br, 1);
        } else if (!(br->acc & 2)) {
            bitr_skip(br, 2);
            if (!window)
                return ts_error(err, TS_ERR_CORRUPT, br->pos, "codec: XOR window before set");
            prev ^= bitr_get64(br, 64 - wl - wt) << wt;
        } else {
            unsigned lz = (unsigned)(br->acc >> 2) & 63, len = ((unsigned)(br->acc >> 8) & 63) + 1;
            bitr_skip(br, 14);
            if (lz + len > 64)
                return ts_error(err, TS_ERR_CORRUPT, br->pos, "codec: bad XOR window");
            window = true;
            wl = lz;
            wt = 64 - lz - len;
            prev ^= bitr_get64(br, len) << wt;
        }
        v[i] = bits_double(prev);
        if ((i & 1023) == 0 && bitr_overrun(br))
            return ts_error(err, TS_ERR_CORRUPT, br->n, "codec: XOR stream truncated");
    }
    return TS_OK;
}

/* ---- decimal detection --------------------------------------------------------------------- */

/* k such that (double)k / 10^d is bit-identical to v and |k| < 2^53, if there is one. */
static inline bool dec_try(double v, unsigned d, int64_t *k)
{
    double x = v * P10[d];
    if (!(x > -9007199254740992.0 && x < 9007199254740992.0))
        return false;
    int64_t kk = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
    if (kk <= -K_LIMIT || kk >= K_LIMIT)
        return false;
    if (double_bits((double)kk / P10[d]) != double_bits(v))
        return false;
    *k = kk;
    return true;
}

/*
 * Find the smallest scale d that makes every value an exact decimal and fill k[]. Exactness at
 * d implies exactness at d + 1 (same rational, correctly rounded division) as long as k stays
 * below 2^53, so one pass raising d, then a pass redoing the prefix, suffices.
 */
static bool dec_detect(const double *v, size_t n, uint64_t *k, unsigned *scale)
{
    unsigned d = 0;
    size_t redo = 0;
    int64_t kk;
    for (size_t i = 0; i < n; i++) {
        while (!dec_try(v[i], d, &kk)) {
            if (++d > DEC_MAX_SCALE)
                return false;
            redo = i;
        }
        k[i] = (uint64_t)kk;
    }
    for (size_t i = 0; i < redo; i++) {
        if (!dec_try(v[i], d, &kk))
            return false;
        k[i] = (uint64_t)kk;
    }
    *scale = d;
    return true;
}

/* ---- public API ---------------------------------------------------------------------------- */

/*
 * Timestamp deltas in units: d[i] = (ts_(i+1) - ts_i) / unit for i < n - 1 (n >= 2), with unit
 * the gcd of the deltas (the first delta when the series is regular, the common case). With
 * 'regular' not NULL, a regular series only sets *regular (d[] is then every 1, not written).
 */
static uint64_t ts_unit_deltas(const int64_t *ts_ns, size_t n, uint64_t *d, bool *regular_out)
{
    bool regular = true;
    uint64_t d0 = (uint64_t)ts_ns[1] - (uint64_t)ts_ns[0];
    for (size_t i = 0; i + 1 < n; i++) {
        TS_ASSERT(ts_ns[i + 1] > ts_ns[i]);
        d[i] = (uint64_t)ts_ns[i + 1] - (uint64_t)ts_ns[i];
        regular &= d[i] == d0;
    }
    if (regular_out)
        *regular_out = regular;
    if (regular) {
        if (!regular_out)
            for (size_t i = 0; i + 1 < n; i++)
                d[i] = 1;
        return d0;
    }
    uint64_t unit = d0;
    for (size_t i = 0; i + 1 < n && unit > 1; i++)
        unit = gcd_u64(d[i], unit);
    if (unit > 1) {
        unsigned tz = (unsigned)__builtin_ctzll(unit);
        uint64_t inv = inverse_odd(unit >> tz);
        for (size_t i = 0; i + 1 < n; i++)
            d[i] = (d[i] >> tz) * inv; /* exact: unit divides d[i] */
    }
    return unit;
}

void codec_encode(const int64_t *ts_ns, const double *values, size_t n, Buf *out)
{
    TS_ASSERT(n >= 1 && n <= CODEC_MAX_POINTS);
    uint64_t *a = ts_malloc(3 * n * sizeof(uint64_t));
    uint64_t *d = a + n, *dod = a + 2 * n;
    SeqPlan plan;
    buf_put_varint(out, n);

    /* values */
    unsigned scale = 0;
    bool dec = dec_detect(values, n, a, &scale);
    if (dec && n >= 2) {
        for (size_t i = 0; i + 1 < n; i++)
            d[i] = a[i + 1] - a[i];
        seq_plan(d, n, dod, &plan);
        if (plan.bits > 8 * n && xor_run(values, n, NULL) + 8 < plan.bits)
            dec = false;
    }
    if (dec) {
        buf_put_u8(out, (uint8_t)scale);
        buf_put_varint(out, zigzag_enc((int64_t)a[0]));
        if (n >= 2)
            seq_write(out, d, dod, n, &plan);
    } else {
        BitW w;
        buf_put_u8(out, VMODE_XOR);
        bitw_init(&w, out, 80 * (uint64_t)n);
        xor_run(values, n, &w);
        bitw_finish(&w);
    }

    /* timestamps */
    buf_put_varint(out, zigzag_enc(ts_ns[0]));
    if (n >= 2) {
        buf_put_varint(out, ts_unit_deltas(ts_ns, n, d, NULL));
        seq_plan(d, n, dod, &plan);
        seq_write(out, d, dod, n, &plan);
    }
    ts_free(a);
}

/*
 * The fast mode's intseq: DELTA residuals d[0..m) (m >= 1) as CONST when they are all equal,
 * else RICE_OFF around their minimum with one k for every group, k = the bit width of
 * (max - min) capped at 63. With that k every quotient is 0 (or 1 for a 64-bit spread), so each
 * residual is a one bit followed by k bits: a fixed width, written without any branch per
 * residual, and no escapes.
 */
static void seq_write_fixed(Buf *out, const uint64_t *d, size_t m)
{
    int64_t mn = (int64_t)d[0], mx = (int64_t)d[0];
    for (size_t i = 1; i < m; i++) {
        int64_t v = (int64_t)d[i];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    uint64_t spread = (uint64_t)mx - (uint64_t)mn;
    uint64_t base = (uint64_t)mn;
    buf_put_u8(out, (uint8_t)(SEQ_DELTA | (spread ? SEQ_RICE_OFF : SEQ_CONST) << 1));
    buf_put_varint(out, zigzag_enc(mn));
    if (!spread)
        return;
    unsigned k = 64 - (unsigned)__builtin_clzll(spread);
    k = k > 63 ? 63 : k;
    if (k < 32) {
        /* Branch-free packing: every put stores 8 bytes at p and advances by whole bytes, so
         * fewer than 8 bits stay pending. Needs 8 bytes of slack past the last byte. */
        size_t groups = m / RICE_GROUP + 1;
        buf_reserve(out, (6 * groups + m * (k + 1)) / 8 + 16);
        uint8_t *p = out->p + out->n;
        uint64_t acc = 0;
        unsigned nb = 0;
        for (size_t i = 0; i < m; i += RICE_GROUP) {
            size_t end = m - i < RICE_GROUP ? m : i + RICE_GROUP;
            acc |= (uint64_t)k << nb;
            nb += 6;
            put_u64le(p, acc);
            p += nb >> 3;
            acc >>= nb & ~7u;
            nb &= 7;
            for (size_t j = i; j < end; j++) {
                acc |= ((d[j] - base) << 1 | 1) << nb; /* < 2^(7 + 32) */
                nb += k + 1;
                put_u64le(p, acc);
                p += nb >> 3;
                acc >>= nb & ~7u;
                nb &= 7;
            }
        }
        out->n = (size_t)(p - out->p) + (nb ? 1 : 0); /* the partial byte is stored already */
        return;
    }
    BitW w;
    bitw_init(&w, out, (uint64_t)m * (k + 2) + 6 * (m / RICE_GROUP + 1));
    uint64_t mask = low_mask(k);
    for (size_t i = 0; i < m; i += RICE_GROUP) {
        size_t end = m - i < RICE_GROUP ? m : i + RICE_GROUP;
        bitw_put(&w, k, 6);
        for (size_t j = i; j < end; j++) {
            uint64_t u = d[j] - base;
            unsigned q = (unsigned)(u >> k); /* 0, or 1 for a 64-bit spread */
            bitw_put(&w, (uint64_t)1 << q, q + 1);
            bitw_put64(&w, u & mask, k);
        }
    }
    bitw_finish(&w);
}

#define FAST_STACK_POINTS 128

void codec_encode_fast(const int64_t *ts_ns, const double *values, size_t n, Buf *out)
{
    TS_ASSERT(n >= 1 && n <= CODEC_MAX_POINTS);
    uint64_t stack[2 * FAST_STACK_POINTS];
    uint64_t *a = n <= FAST_STACK_POINTS ? stack : ts_malloc(2 * n * sizeof(uint64_t));
    uint64_t *d = a + n;
    buf_put_varint(out, n);

    /* values: decimal whenever possible (at most 55 bits per point, never worse than XOR's
     * worst case), XOR otherwise */
    unsigned scale = 0;
    if (dec_detect(values, n, a, &scale)) {
        buf_put_u8(out, (uint8_t)scale);
        buf_put_varint(out, zigzag_enc((int64_t)a[0]));
        if (n >= 2) {
            for (size_t i = 0; i + 1 < n; i++)
                d[i] = a[i + 1] - a[i];
            seq_write_fixed(out, d, n - 1);
        }
    } else {
        BitW w;
        buf_put_u8(out, VMODE_XOR);
        bitw_init(&w, out, 80 * (uint64_t)n);
        xor_run(values, n, &w);
        bitw_finish(&w);
    }

    /* timestamps */
    buf_put_varint(out, zigzag_enc(ts_ns[0]));
    if (n >= 2) {
        bool regular;
        buf_put_varint(out, ts_unit_deltas(ts_ns, n, d, &regular));
        if (regular) {
            buf_put_u8(out, (uint8_t)(SEQ_DELTA | SEQ_CONST << 1)); /* every x_i - x_(i-1) = 1 */
            buf_put_varint(out, zigzag_enc(1));
        } else {
            seq_write_fixed(out, d, n - 1);
        }
    }
    if (a != stack)
        ts_free(a);
}

int codec_count(Slice in, size_t *n, TsError *err)
{
    size_t pos = 0;
    uint64_t v;
    int rc = read_varint(in, &pos, &v, err);
    if (rc)
        return rc;
    if (v < 1 || v > CODEC_MAX_POINTS)
        return ts_error(err, TS_ERR_CORRUPT, 0, "codec: bad point count %llu",
                        (unsigned long long)v);
    *n = (size_t)v;
    return TS_OK;
}

int codec_decode(Slice in, int64_t *ts_ns, double *values, size_t cap, size_t *n, TsError *err)
{
    int rc;
    size_t cnt, pos = 0;
    uint64_t v;
    uint8_t vmode = 0;
    uint64_t *x = (uint64_t *)ts_ns; /* the unsigned type of int64_t may alias it */

    if ((rc = codec_count(in, &cnt, err)))
        return rc;
    if (cnt > cap)
        return ts_error(err, TS_ERR_LIMIT, 0, "codec: %zu points exceed room for %zu", cnt, cap);
    read_varint(in, &pos, &v, err);

    /* values (decoded through ts_ns as integer scratch in decimal mode) */
    size_t at = pos;
    if ((rc = read_u8(in, &pos, &vmode, err)))
        return rc;
    if (vmode <= DEC_MAX_SCALE) {
        if ((rc = read_varint(in, &pos, &v, err)))
            return rc;
        uint64_t k0 = (uint64_t)zigzag_dec(v);
        if (cnt == 1)
            x[0] = k0;
        else if ((rc = seq_read(in, &pos, k0, x, cnt, err)))
            return rc;
        double p10 = P10[vmode];
        for (size_t i = 0; i < cnt; i++) {
            int64_t k = (int64_t)x[i];
            if (k <= -K_LIMIT || k >= K_LIMIT)
                return ts_error(err, TS_ERR_CORRUPT, at, "codec: decimal out of range");
            values[i] = (double)k / p10;
        }
    } else if (vmode == VMODE_XOR) {
        BitR br;
        bitr_init(&br, in, pos);
        if ((rc = xor_read(&br, values, cnt, err)))
            return rc;
        if ((rc = bitr_end(&br, &pos, err)))
            return rc;
    } else {
        return ts_error(err, TS_ERR_CORRUPT, at, "codec: bad value mode %u", vmode);
    }

    /* timestamps */
    at = pos;
    if ((rc = read_varint(in, &pos, &v, err)))
        return rc;
    uint64_t t0 = (uint64_t)zigzag_dec(v);
    if (cnt == 1) {
        x[0] = t0;
    } else {
        uint64_t unit;
        at = pos;
        if ((rc = read_varint(in, &pos, &unit, err)))
            return rc;
        if (unit == 0)
            return ts_error(err, TS_ERR_CORRUPT, at, "codec: zero timestamp unit");
        if ((rc = seq_read(in, &pos, 0, x, cnt, err)))
            return rc;
        x[0] = t0;
        for (size_t i = 1; i < cnt; i++) {
            x[i] = t0 + x[i] * unit;
            if (ts_ns[i] <= ts_ns[i - 1])
                return ts_error(err, TS_ERR_CORRUPT, at, "codec: timestamps not ascending");
        }
    }
    if (pos != in.n)
        return ts_error(err, TS_ERR_CORRUPT, pos, "codec: %zu trailing bytes", in.n - pos);
    *n = cnt;
    return TS_OK;
}
