/*
 * Graphite pickle payloads: a safe unpickler for the data subset of pickle, and the walk that
 * turns its result into points the way carbon's MetricPickleReceiver does.
 *
 * carbon unpickles each frame with a SafeUnpickler that refuses globals (Launchpad #817247),
 * so nothing but plain data can arrive: lists, tuples, dicts, strings and numbers. This file
 * implements exactly that much of pickle's virtual machine (the opcode list and byte layout are
 * in pickle.h): a value stack, a separate stack of MARK positions (CPython's _pickle.c layout,
 * so POP on an empty segment pops the mark, as CPython does) and a memo. Any opcode that could
 * name a callable or build an object is refused before anything else happens, and so is any
 * frame that is malformed, truncated, followed by extra bytes or larger than the limits; only
 * a fully decoded frame is walked, so a rejected frame never reports a point.
 *
 * Resource bounds, all enforced while decoding:
 *   - Every object created counts against max_items; every (ts, value) visited by the walk
 *     too (checked before the first point is reported, so memo sharing cannot amplify output).
 *   - Open MARKs and the nesting of containers are capped by max_depth. A container's depth
 *     is 1 + the deepest item it received when that item was added; a shared memoized list
 *     grown after it was nested elsewhere does not update its parents. Nothing here recurses:
 *     the walk reads exactly two levels below the top, so stale depths cannot cost anything.
 *   - The memo is a 16-ary trie over 32-bit keys (no hash to flood; a sparse key costs at most
 *     seven 128-byte nodes), capped at max_memo keys. GET pushes the shared object, never a
 *     copy; APPEND to a shared list mutates it for every holder, as in Python.
 *   - Declared string lengths are checked against the bytes left before anything is read or
 *     allocated; binary strings are not copied (their Slices point into the frame).
 *   - All memory comes from the caller's capped arena; exhaustion is TS_ERR_LIMIT.
 *
 * Conversions (Python's float() of the unpickled value):
 *   - INT, BININT, BININT1, BININT2, LONG1, LONG4 and L within int64 convert with C's
 *     int64->double (round to nearest even, as Python). Larger longs are rounded correctly:
 *     LONG1/LONG4 from their top 64 bits plus a sticky bit, protocol-0 decimal ones with strtod
 *     (correctly rounded in glibc); a long of 2^1024 or more after rounding does not convert
 *     (Python's OverflowError), so its entry is skipped.
 *   - str/bytes numbers: ASCII whitespace stripped, then Python float() syntax without '_'
 *     separators or non-ASCII digits, at most PICKLE_NUM_MAX bytes.
 *   - Names are passed as decoded: BINUNICODE and friends as sent (UTF-8 is not validated),
 *     'V' raw-unicode-escape re-encoded as UTF-8 (lone surrogates as 3-byte sequences, like
 *     Python's surrogatepass), 'S' with Python's bytes escape rules, bytes as given.
 * Frames in the shape picklers give take a fast path that builds no value tree and is checked
 * against this machine (see "the fast path" below); everything else comes here.
 * Leniencies, harmless for points: dict keys and set items are not checked for hashability and
 * are discarded (nothing reads them); INT/LONG/PUT/GET take plain decimal only.
 */
#include "proto/pickle.h"
#include "core/pyfloat.h"

#include <math.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/endian.h"

/* Longest str/bytes (after whitespace stripping) or 'F' line converted as a float. */
#define PICKLE_NUM_MAX PYFLOAT_MAX
/* A decimal long with more significant digits than this is >= 10^400: not a double. */
#define PICKLE_DEC_DIGITS_MAX 400
#define PICKLE_PROTO_MAX 5
#define MEMO_FANOUT 16
#define MEMO_BITS 4
#define STACK_INIT 64
#define LIST_INIT 4

typedef enum PvKind {
    PV_NONE,
    PV_BOOL,   /* u.i is 0 or 1 */
    PV_INT,    /* u.i */
    PV_BIG,    /* a long outside int64; u.f is float() of it */
    PV_BIGOVF, /* a long float() cannot convert */
    PV_FLOAT,  /* u.f */
    PV_STR,    /* str, unicode or bytes; u.s */
    PV_LIST,   /* u.seq, growable */
    PV_TUPLE,  /* u.seq, fixed */
    PV_DICT,   /* contents discarded */
    PV_SET,    /* contents discarded */
    PV_FSET    /* frozenset: contents discarded, ADDITEMS refused */
} PvKind;

typedef struct PVal PVal;
struct PVal {
    uint8_t kind; /* PvKind */
    size_t depth; /* 0 for scalars; containers: 1 + deepest item seen when added */
    union {
        int64_t i;
        double f;
        Slice s; /* points into the frame or the arena */
        struct {
            PVal **v;   /* items; NULL when cap == 0 */
            size_t n;   /* items in use */
            size_t cap; /* allocated slots (lists grow by doubling in the arena) */
        } seq;
    } u;
};

typedef struct MemoNode {
    void *slot[MEMO_FANOUT]; /* child MemoNode, or at the last level a PVal */
} MemoNode;

typedef struct Dec {
    const uint8_t *p; /* the frame */
    size_t n;         /* frame bytes */
    size_t pos;       /* next byte to read */
    size_t op_pos;    /* offset of the opcode being executed, for errors */
    uint8_t op;       /* that opcode */
    Arena *arena;
    size_t max_depth;
    size_t max_items;
    size_t max_memo;
    size_t items;   /* objects created so far */
    PVal **stk;     /* value stack */
    size_t sn;      /* values on it */
    size_t scap;    /* its capacity */
    size_t *marks;  /* stack heights at each open MARK */
    size_t mn;      /* open MARKs */
    size_t mcap;    /* capacity of marks */
    MemoNode *memo; /* trie root; NULL while empty */
    size_t memo_n;  /* distinct keys stored */
    TsError *err;
} Dec;

/* pickletools names of every opcode, allowed or not; NULL for bytes that are none. */
static const char *const OP_NAMES[256] = {
    ['('] = "MARK",
    ['.'] = "STOP",
    ['0'] = "POP",
    ['1'] = "POP_MARK",
    ['2'] = "DUP",
    ['F'] = "FLOAT",
    ['I'] = "INT",
    ['J'] = "BININT",
    ['K'] = "BININT1",
    ['L'] = "LONG",
    ['M'] = "BININT2",
    ['N'] = "NONE",
    ['P'] = "PERSID",
    ['Q'] = "BINPERSID",
    ['R'] = "REDUCE",
    ['S'] = "STRING",
    ['T'] = "BINSTRING",
    ['U'] = "SHORT_BINSTRING",
    ['V'] = "UNICODE",
    ['X'] = "BINUNICODE",
    ['a'] = "APPEND",
    ['b'] = "BUILD",
    ['c'] = "GLOBAL",
    ['d'] = "DICT",
    ['}'] = "EMPTY_DICT",
    ['e'] = "APPENDS",
    ['g'] = "GET",
    ['h'] = "BINGET",
    ['i'] = "INST",
    ['j'] = "LONG_BINGET",
    ['l'] = "LIST",
    [']'] = "EMPTY_LIST",
    ['o'] = "OBJ",
    ['p'] = "PUT",
    ['q'] = "BINPUT",
    ['r'] = "LONG_BINPUT",
    ['s'] = "SETITEM",
    ['t'] = "TUPLE",
    [')'] = "EMPTY_TUPLE",
    ['u'] = "SETITEMS",
    ['G'] = "BINFLOAT",
    ['B'] = "BINBYTES",
    ['C'] = "SHORT_BINBYTES",
    [0x80] = "PROTO",
    [0x81] = "NEWOBJ",
    [0x82] = "EXT1",
    [0x83] = "EXT2",
    [0x84] = "EXT4",
    [0x85] = "TUPLE1",
    [0x86] = "TUPLE2",
    [0x87] = "TUPLE3",
    [0x88] = "NEWTRUE",
    [0x89] = "NEWFALSE",
    [0x8a] = "LONG1",
    [0x8b] = "LONG4",
    [0x8c] = "SHORT_BINUNICODE",
    [0x8d] = "BINUNICODE8",
    [0x8e] = "BINBYTES8",
    [0x8f] = "EMPTY_SET",
    [0x90] = "ADDITEMS",
    [0x91] = "FROZENSET",
    [0x92] = "NEWOBJ_EX",
    [0x93] = "STACK_GLOBAL",
    [0x94] = "MEMOIZE",
    [0x95] = "FRAME",
    [0x96] = "BYTEARRAY8",
    [0x97] = "NEXT_BUFFER",
    [0x98] = "READONLY_BUFFER",
};

static const char *op_name(uint8_t op)
{
    return OP_NAMES[op] ? OP_NAMES[op] : "unknown";
}

/* Report 'what' about the current opcode; returns rc. */
static int fail(Dec *d, int rc, const char *what)
{
    if (d->op >= 0x21 && d->op < 0x7f)
        return ts_error(d->err, rc, d->op_pos, "pickle opcode '%c' (%s): %s", d->op, op_name(d->op),
                        what);
    return ts_error(d->err, rc, d->op_pos, "pickle opcode 0x%02x (%s): %s", d->op, op_name(d->op),
                    what);
}

static int dalloc(Dec *d, size_t n, void **out)
{
    void *p = arena_alloc(d->arena, n ? n : 1);
    if (!p) {
        (void)fail(d, TS_ERR_LIMIT, "pickle arena cap reached");
        return TS_ERR_LIMIT; /* a constant, so analyzers see *out is set whenever TS_OK */
    }
    *out = p;
    return TS_OK;
}

/* An array of 'n' pointers; n is bounded by the frame size, the check is belt and braces. */
static int dalloc_ptrs(Dec *d, size_t n, PVal ***out)
{
    void *p = NULL;
    if (n > SIZE_MAX / sizeof(PVal *)) {
        (void)fail(d, TS_ERR_LIMIT, "too many items");
        return TS_ERR_LIMIT;
    }
    int rc = dalloc(d, n * sizeof(PVal *), &p);
    if (rc == TS_OK)
        *out = p;
    return rc;
}

/* Take 'k' argument bytes. */
static int take(Dec *d, size_t k, const uint8_t **out)
{
    if (d->n - d->pos < k)
        return fail(d, TS_ERR_PROTO, "truncated argument");
    *out = d->p + d->pos;
    d->pos += k;
    return TS_OK;
}

/* Take a protocol-0 argument line, without its '\n'. */
static int take_line(Dec *d, Slice *line)
{
    const uint8_t *nl = d->pos < d->n ? memchr(d->p + d->pos, '\n', d->n - d->pos) : NULL;
    if (!nl)
        return fail(d, TS_ERR_PROTO, "truncated argument (no newline)");
    *line = slice_make(d->p + d->pos, (size_t)(nl - (d->p + d->pos)));
    d->pos = (size_t)(nl - d->p) + 1;
    return TS_OK;
}

static int new_val(Dec *d, uint8_t kind, PVal **out)
{
    void *p = NULL;
    if (d->items >= d->max_items)
        return fail(d, TS_ERR_LIMIT, "more objects than max_items");
    int rc = dalloc(d, sizeof(PVal), &p);
    if (rc != TS_OK)
        return rc;
    d->items++;
    PVal *v = p;
    if (!v) /* cannot happen after TS_OK; tells the compiler so */
        return fail(d, TS_ERR_LIMIT, "out of memory");
    memset(v, 0, sizeof(*v));
    v->kind = kind;
    *out = v;
    return TS_OK;
}

static int push(Dec *d, PVal *v)
{
    if (d->sn == d->scap) {
        PVal **nv = NULL;
        size_t ncap = d->scap ? d->scap * 2 : STACK_INIT;
        int rc = dalloc_ptrs(d, ncap, &nv);
        if (rc != TS_OK)
            return rc;
        if (d->sn)
            memcpy(nv, d->stk, d->sn * sizeof(PVal *));
        d->stk = nv;
        d->scap = ncap;
    }
    d->stk[d->sn++] = v;
    return TS_OK;
}

static int push_new(Dec *d, uint8_t kind, PVal **out)
{
    int rc = new_val(d, kind, out);
    return rc == TS_OK ? push(d, *out) : rc;
}

/* Stack height at the innermost open MARK (0 without one): values below it are out of reach. */
static size_t fence(const Dec *d)
{
    return d->mn ? d->marks[d->mn - 1] : 0;
}

static int need_items(Dec *d, size_t k)
{
    if (d->sn - fence(d) < k)
        return fail(d, TS_ERR_PROTO, "stack underflow");
    return TS_OK;
}

static int pop_mark(Dec *d, size_t *mark)
{
    if (d->mn == 0)
        return fail(d, TS_ERR_PROTO, "no MARK on the stack");
    *mark = d->marks[--d->mn];
    return TS_OK;
}

/* Record that container 'c' holds 'item'. */
static int note_depth(Dec *d, PVal *c, const PVal *item)
{
    if (item->depth + 1 > c->depth) {
        c->depth = item->depth + 1;
        if (c->depth > d->max_depth)
            return fail(d, TS_ERR_LIMIT, "nesting deeper than max_depth");
    }
    return TS_OK;
}

static int list_append(Dec *d, PVal *list, PVal *const *items, size_t k)
{
    int rc = TS_OK;
    if (list->u.seq.cap - list->u.seq.n < k) {
        size_t ncap = list->u.seq.cap ? list->u.seq.cap : LIST_INIT;
        while (ncap - list->u.seq.n < k) {
            if (ncap > SIZE_MAX / 2)
                return fail(d, TS_ERR_LIMIT, "list too long");
            ncap *= 2;
        }
        PVal **nv;
        rc = dalloc_ptrs(d, ncap, &nv);
        if (rc != TS_OK)
            return rc;
        if (list->u.seq.n)
            memcpy(nv, list->u.seq.v, list->u.seq.n * sizeof(PVal *));
        list->u.seq.v = nv;
        list->u.seq.cap = ncap;
    }
    for (size_t i = 0; i < k && rc == TS_OK; i++) {
        list->u.seq.v[list->u.seq.n++] = items[i];
        rc = note_depth(d, list, items[i]);
    }
    return rc;
}

/* Build a container of 'kind' from the values above stack height 'from' and replace them. */
static int build_from(Dec *d, uint8_t kind, size_t from)
{
    PVal *c = NULL;
    size_t k = d->sn - from;
    int rc = new_val(d, kind, &c);
    if (rc != TS_OK)
        return rc;
    c->depth = 1;
    if ((kind == PV_LIST || kind == PV_TUPLE) && k) {
        rc = dalloc_ptrs(d, k, &c->u.seq.v);
        if (rc != TS_OK)
            return rc;
        memcpy(c->u.seq.v, d->stk + from, k * sizeof(PVal *));
        c->u.seq.n = k;
        c->u.seq.cap = k;
    }
    for (size_t i = from; i < d->sn && rc == TS_OK; i++)
        rc = note_depth(d, c, d->stk[i]);
    if (rc != TS_OK)
        return rc;
    d->sn = from;
    return push(d, c);
}

/* ---- memo ---------------------------------------------------------------------------------- */

static int memo_put(Dec *d, uint64_t key64, PVal *v)
{
    void *p = NULL;
    int rc;
    if (key64 > UINT32_MAX)
        return fail(d, TS_ERR_PROTO, "memo key out of range");
    uint32_t key = (uint32_t)key64;
    if (!d->memo) {
        if ((rc = dalloc(d, sizeof(MemoNode), &p)) != TS_OK)
            return rc;
        memset(p, 0, sizeof(MemoNode));
        d->memo = p;
    }
    MemoNode *node = d->memo;
    for (int shift = 32 - MEMO_BITS; shift > 0; shift -= MEMO_BITS) {
        unsigned k = (key >> shift) & (MEMO_FANOUT - 1);
        if (!node->slot[k]) {
            if (d->memo_n >= d->max_memo)
                return fail(d, TS_ERR_LIMIT, "more memo entries than max_memo");
            if ((rc = dalloc(d, sizeof(MemoNode), &p)) != TS_OK)
                return rc;
            memset(p, 0, sizeof(MemoNode));
            node->slot[k] = p;
        }
        node = node->slot[k];
    }
    unsigned k = key & (MEMO_FANOUT - 1);
    if (!node->slot[k]) {
        if (d->memo_n >= d->max_memo)
            return fail(d, TS_ERR_LIMIT, "more memo entries than max_memo");
        d->memo_n++;
    }
    node->slot[k] = v;
    return TS_OK;
}

static int memo_get(Dec *d, uint64_t key64)
{
    MemoNode *node = d->memo;
    if (key64 > UINT32_MAX)
        return fail(d, TS_ERR_PROTO, "memo key out of range");
    uint32_t key = (uint32_t)key64;
    for (int shift = 32 - MEMO_BITS; shift > 0 && node; shift -= MEMO_BITS)
        node = node->slot[(key >> shift) & (MEMO_FANOUT - 1)];
    PVal *v = node ? node->slot[key & (MEMO_FANOUT - 1)] : NULL;
    if (!v)
        return fail(d, TS_ERR_PROTO, "memo key not found");
    return push(d, v);
}

static int memo_put_top(Dec *d, uint64_t key)
{
    int rc = need_items(d, 1);
    return rc == TS_OK ? memo_put(d, key, d->stk[d->sn - 1]) : rc;
}

/* ---- numbers ------------------------------------------------------------------------------- */

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A protocol-0 INT or LONG argument: [+-]digits. Within int64 it is exact, else float(). */
static int make_dec_int(Dec *d, Slice s)
{
    PVal *v;
    size_t i = 0;
    bool neg = false;
    if (s.n && (s.p[0] == '+' || s.p[0] == '-')) {
        neg = s.p[0] == '-';
        i = 1;
    }
    if (i == s.n || pyfloat_digit_run(s.p, s.n, i) != s.n - i)
        return fail(d, TS_ERR_PROTO, "not a decimal integer");
    while (i + 1 < s.n && s.p[i] == '0')
        i++;
    uint64_t mag = 0;
    bool big = false;
    for (size_t k = i; k < s.n && !big; k++) {
        uint64_t dig = (uint64_t)(s.p[k] - '0');
        if (mag > (UINT64_MAX - dig) / 10)
            big = true;
        else
            mag = mag * 10 + dig;
    }
    if (!big && (mag <= (uint64_t)INT64_MAX || (neg && mag == (uint64_t)INT64_MAX + 1))) {
        int rc = push_new(d, PV_INT, &v);
        if (rc == TS_OK)
            v->u.i =
                neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
        return rc;
    }
    size_t digits = s.n - i;
    if (digits > PICKLE_DEC_DIGITS_MAX)
        return push_new(d, PV_BIGOVF, &v);
    char tmp[PICKLE_DEC_DIGITS_MAX + 2];
    tmp[0] = neg ? '-' : '+';
    memcpy(tmp + 1, s.p + i, digits);
    tmp[digits + 1] = '\0';
    char *end = NULL;
    double x = strtod(tmp, &end);
    if (end != tmp + digits + 1)
        return fail(d, TS_ERR_PROTO, "not a decimal integer");
    if (isinf(x))
        return push_new(d, PV_BIGOVF, &v);
    int rc = push_new(d, PV_BIG, &v);
    if (rc == TS_OK)
        v->u.f = x;
    return rc;
}

static unsigned bit_at(const uint8_t *mag, size_t i)
{
    return (mag[i >> 3] >> (i & 7)) & 1u;
}

/* The value of n <= 8 bytes of little-endian two's complement (LONG1/LONG4 within int64). */
static int64_t long_le_small(const uint8_t *b, size_t n)
{
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++)
        u |= (uint64_t)b[i] << (8 * i);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80))
        u |= ~(uint64_t)0 << (8 * n);
    return (u >> 63) ? -(int64_t)(~u) - 1 : (int64_t)u;
}

/* LONG1/LONG4: 'n' bytes of little-endian two's complement. */
static int make_long_le(Dec *d, const uint8_t *b, size_t n)
{
    PVal *v;
    int rc;
    if (n <= 8) {
        if ((rc = push_new(d, PV_INT, &v)) == TS_OK)
            v->u.i = long_le_small(b, n);
        return rc;
    }
    bool neg = (b[n - 1] & 0x80) != 0;
    const uint8_t *mag = b;
    if (neg) {
        void *p = NULL;
        if ((rc = dalloc(d, n, &p)) != TS_OK)
            return rc;
        uint8_t *m = p;
        unsigned carry = 1;
        for (size_t i = 0; i < n; i++) {
            unsigned x = (uint8_t)~b[i] + carry;
            m[i] = (uint8_t)x;
            carry = x >> 8;
        }
        mag = m;
    }
    size_t top = n;
    while (top > 0 && mag[top - 1] == 0)
        top--;
    if (top == 0) {
        if ((rc = push_new(d, PV_INT, &v)) == TS_OK)
            v->u.i = 0;
        return rc;
    }
    if (top > 129) /* at least 2^1024 */
        return push_new(d, PV_BIGOVF, &v);
    size_t bits = (top - 1) * 8;
    for (unsigned t = mag[top - 1]; t; t >>= 1)
        bits++;
    double x;
    if (bits <= 64) {
        uint64_t u = 0;
        for (size_t i = 0; i < top; i++)
            u |= (uint64_t)mag[i] << (8 * i);
        x = (double)u;
    } else {
        /* Top 64 bits plus a sticky bit: the 53-bit rounding sees the same nearest-even. */
        size_t shift = bits - 64;
        uint64_t m = 0;
        for (size_t i = 0; i < 64; i++)
            m = (m << 1) | bit_at(mag, shift + 63 - i);
        bool sticky = false;
        for (size_t i = 0; i < shift / 8 && !sticky; i++)
            sticky = mag[i] != 0;
        if (!sticky && (shift & 7))
            sticky = (mag[shift / 8] & ((1u << (shift & 7)) - 1)) != 0;
        x = ldexp((double)(m | (uint64_t)sticky), (int)shift);
    }
    if (isinf(x))
        return push_new(d, PV_BIGOVF, &v);
    if ((rc = push_new(d, PV_BIG, &v)) == TS_OK)
        v->u.f = neg ? -x : x;
    return rc;
}

/* A plain decimal memo index for PUT/GET. */
static int parse_memo_key(Dec *d, Slice s, uint64_t *key)
{
    if (s.n == 0 || s.n > 10 || pyfloat_digit_run(s.p, s.n, 0) != s.n)
        return fail(d, TS_ERR_PROTO, "bad memo index");
    uint64_t k = 0;
    for (size_t i = 0; i < s.n; i++)
        k = k * 10 + (uint64_t)(s.p[i] - '0');
    *key = k;
    return TS_OK;
}

/* ---- strings ------------------------------------------------------------------------------- */

static int push_str(Dec *d, const uint8_t *p, size_t n)
{
    PVal *v;
    int rc = push_new(d, PV_STR, &v);
    if (rc == TS_OK)
        v->u.s = slice_make(p, n);
    return rc;
}

/* A binary string whose length has 'len_bytes' bytes (1, 4 or 8), little-endian. */
static int op_binstr(Dec *d, size_t len_bytes, bool is_signed)
{
    const uint8_t *a = NULL;
    const uint8_t *s;
    uint64_t len;
    int rc = take(d, len_bytes, &a);
    if (rc != TS_OK)
        return rc;
    if (len_bytes == 1)
        len = a[0];
    else if (len_bytes == 4)
        len = get_u32le(a);
    else
        len = get_u64le(a);
    if (is_signed && (len & 0x80000000u))
        return fail(d, TS_ERR_PROTO, "negative byte count");
    if (len > d->n - d->pos)
        return fail(d, TS_ERR_PROTO, "declared length beyond the end of the frame");
    if ((rc = take(d, (size_t)len, &s)) != TS_OK)
        return rc;
    return push_str(d, s, (size_t)len);
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 'S': a quoted Python 2 str repr, decoded with Python's bytes escape rules. */
static int op_string(Dec *d)
{
    Slice line;
    void *mem = NULL;
    int rc = take_line(d, &line);
    if (rc != TS_OK)
        return rc;
    if (line.n < 2 || line.p[0] != line.p[line.n - 1] || (line.p[0] != '\'' && line.p[0] != '"'))
        return fail(d, TS_ERR_PROTO, "argument must be quoted");
    const uint8_t *s = line.p + 1;
    size_t n = line.n - 2;
    if ((rc = dalloc(d, n, &mem)) != TS_OK)
        return rc;
    uint8_t *out = mem;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        if (++i == n)
            return fail(d, TS_ERR_PROTO, "trailing \\ in string");
        uint8_t c = s[i];
        static const char esc_in[] = "\\'\"abfnrtv", esc_out[] = "\\'\"\a\b\f\n\r\t\v";
        const char *e = c ? strchr(esc_in, c) : NULL;
        if (e) {
            out[o++] = (uint8_t)esc_out[e - esc_in];
            continue;
        }
        if (c == 'x') {
            int hi = n - i >= 3 ? hex_val(s[i + 1]) : -1;
            int lo = hi >= 0 ? hex_val(s[i + 2]) : -1;
            if (lo < 0)
                return fail(d, TS_ERR_PROTO, "invalid \\x escape");
            out[o++] = (uint8_t)(hi * 16 + lo);
            i += 2;
        } else if (c >= '0' && c <= '7') {
            unsigned x = c - '0';
            for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                x = x * 8 + (unsigned)(s[++i] - '0');
            out[o++] = (uint8_t)x; /* > 0o377 wraps, as CPython stores a char */
        } else {
            out[o++] = '\\'; /* unknown escapes are kept, backslash included */
            out[o++] = c;
        }
    }
    return push_str(d, out, o);
}

static size_t utf8_put(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * 'V': raw-unicode-escape, re-encoded as UTF-8. Bytes are Latin-1 code points; \uXXXX and
 * \UXXXXXXXX are escapes only after an odd run of backslashes (CPython's rule).
 * Output is at most 2 bytes per input byte.
 */
static int op_unicode(Dec *d)
{
    Slice line;
    void *mem = NULL;
    int rc = take_line(d, &line);
    if (rc != TS_OK)
        return rc;
    const uint8_t *s = line.p;
    size_t n = line.n;
    if (n > SIZE_MAX / 2)
        return fail(d, TS_ERR_LIMIT, "string too long");
    if ((rc = dalloc(d, 2 * n, &mem)) != TS_OK)
        return rc;
    uint8_t *out = mem;
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] != '\\') {
            o += utf8_put(out + o, s[i]);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && s[j] == '\\')
            j++;
        size_t run = j - i;
        bool esc = (run & 1) && j < n && (s[j] == 'u' || s[j] == 'U');
        size_t lit = esc ? run - 1 : run;
        memset(out + o, '\\', lit);
        o += lit;
        i = j;
        if (!esc)
            continue;
        size_t ndig = s[j] == 'u' ? 4 : 8;
        uint32_t cp = 0;
        if (n - (j + 1) < ndig)
            return fail(d, TS_ERR_PROTO, "truncated \\uXXXX escape");
        for (size_t k = 0; k < ndig; k++) {
            int h = hex_val(s[j + 1 + k]);
            if (h < 0)
                return fail(d, TS_ERR_PROTO, "truncated \\uXXXX escape");
            cp = cp * 16 + (uint32_t)h;
        }
        if (cp > 0x10ffff)
            return fail(d, TS_ERR_PROTO, "\\Uxxxxxxxx out of range");
        o += utf8_put(out + o, cp);
        i = j + 1 + ndig;
    }
    return push_str(d, out, o);
}

/* ---- the machine --------------------------------------------------------------------------- */

static int op_appends(Dec *d)
{
    size_t mark = 0;
    int rc = pop_mark(d, &mark);
    if (rc != TS_OK)
        return rc;
    if (mark == 0 || mark - 1 < fence(d))
        return fail(d, TS_ERR_PROTO, "stack underflow");
    PVal *list = d->stk[mark - 1];
    if (list->kind != PV_LIST)
        return fail(d, TS_ERR_PROTO, "target is not a list");
    rc = list_append(d, list, d->stk + mark, d->sn - mark);
    d->sn = mark;
    return rc;
}

/* SETITEMS and ADDITEMS: contents are discarded, only depth and shape are checked. */
static int op_fill(Dec *d, uint8_t kind)
{
    size_t mark = 0;
    int rc = pop_mark(d, &mark);
    if (rc != TS_OK)
        return rc;
    if (mark == 0 || mark - 1 < fence(d))
        return fail(d, TS_ERR_PROTO, "stack underflow");
    PVal *c = d->stk[mark - 1];
    if (c->kind != kind)
        return fail(d, TS_ERR_PROTO,
                    kind == PV_DICT ? "target is not a dict" : "target is not a set");
    if (kind == PV_DICT && ((d->sn - mark) & 1))
        return fail(d, TS_ERR_PROTO, "odd number of items");
    for (size_t i = mark; i < d->sn && rc == TS_OK; i++)
        rc = note_depth(d, c, d->stk[i]);
    d->sn = mark;
    return rc;
}

static int step(Dec *d)
{
    const uint8_t *a = NULL;
    Slice line;
    PVal *v;
    size_t mark = 0;
    uint64_t key = 0;
    int rc;

    switch (d->op) {
    case '(':
        if (d->mn >= d->max_depth)
            return fail(d, TS_ERR_LIMIT, "more open MARKs than max_depth");
        if (d->mn == d->mcap) {
            void *p = NULL;
            size_t ncap = d->mcap ? d->mcap * 2 : 16;
            if ((rc = dalloc(d, ncap * sizeof(size_t), &p)) != TS_OK)
                return rc;
            if (d->mn)
                memcpy(p, d->marks, d->mn * sizeof(size_t));
            d->marks = p;
            d->mcap = ncap;
        }
        d->marks[d->mn++] = d->sn;
        return TS_OK;
    case '0':
        if (d->mn && d->marks[d->mn - 1] == d->sn) {
            d->mn--;
            return TS_OK;
        }
        if ((rc = need_items(d, 1)) != TS_OK)
            return rc;
        d->sn--;
        return TS_OK;
    case '1':
        if ((rc = pop_mark(d, &mark)) != TS_OK)
            return rc;
        d->sn = mark;
        return TS_OK;
    case '2':
        if ((rc = need_items(d, 1)) != TS_OK)
            return rc;
        return push(d, d->stk[d->sn - 1]);
    case 'F': {
        double x;
        if ((rc = take_line(d, &line)) != TS_OK)
            return rc;
        if (!pyfloat_parse(line, &x))
            return fail(d, TS_ERR_PROTO, "not a float");
        if ((rc = push_new(d, PV_FLOAT, &v)) == TS_OK)
            v->u.f = x;
        return rc;
    }
    case 'I':
        if ((rc = take_line(d, &line)) != TS_OK)
            return rc;
        if (slice_eq_cstr(line, "00") || slice_eq_cstr(line, "01")) {
            if ((rc = push_new(d, PV_BOOL, &v)) == TS_OK)
                v->u.i = line.p[1] == '1';
            return rc;
        }
        return make_dec_int(d, line);
    case 'L':
        if ((rc = take_line(d, &line)) != TS_OK)
            return rc;
        if (line.n && line.p[line.n - 1] == 'L')
            line.n--;
        return make_dec_int(d, line);
    case 'J':
        if ((rc = take(d, 4, &a)) != TS_OK)
            return rc;
        if ((rc = push_new(d, PV_INT, &v)) == TS_OK)
            v->u.i = (int32_t)get_u32le(a);
        return rc;
    case 'K':
        if ((rc = take(d, 1, &a)) != TS_OK)
            return rc;
        if ((rc = push_new(d, PV_INT, &v)) == TS_OK)
            v->u.i = a[0];
        return rc;
    case 'M':
        if ((rc = take(d, 2, &a)) != TS_OK)
            return rc;
        if ((rc = push_new(d, PV_INT, &v)) == TS_OK)
            v->u.i = get_u16le(a);
        return rc;
    case 0x8a: {
        size_t len;
        if ((rc = take(d, 1, &a)) != TS_OK)
            return rc;
        len = a[0];
        if ((rc = take(d, len, &a)) != TS_OK)
            return rc;
        return make_long_le(d, a, len);
    }
    case 0x8b: {
        uint32_t len;
        if ((rc = take(d, 4, &a)) != TS_OK)
            return rc;
        len = get_u32le(a);
        if (len & 0x80000000u)
            return fail(d, TS_ERR_PROTO, "negative byte count");
        if ((rc = take(d, len, &a)) != TS_OK)
            return rc;
        return make_long_le(d, a, len);
    }
    case 'G':
        if ((rc = take(d, 8, &a)) != TS_OK)
            return rc;
        if ((rc = push_new(d, PV_FLOAT, &v)) == TS_OK)
            v->u.f = bits_double(((uint64_t)get_u32be(a) << 32) | get_u32be(a + 4));
        return rc;
    case 'N':
        return push_new(d, PV_NONE, &v);
    case 0x88:
    case 0x89:
        if ((rc = push_new(d, PV_BOOL, &v)) == TS_OK)
            v->u.i = d->op == 0x88;
        return rc;
    case 'S':
        return op_string(d);
    case 'V':
        return op_unicode(d);
    case 'T':
        return op_binstr(d, 4, true);
    case 'X':
    case 'B':
        return op_binstr(d, 4, false);
    case 'U':
    case 'C':
    case 0x8c:
        return op_binstr(d, 1, false);
    case 0x8d:
    case 0x8e:
        return op_binstr(d, 8, false);
    case ']':
        if ((rc = push_new(d, PV_LIST, &v)) == TS_OK)
            v->depth = 1;
        return rc;
    case ')':
        if ((rc = push_new(d, PV_TUPLE, &v)) == TS_OK)
            v->depth = 1;
        return rc;
    case '}':
        if ((rc = push_new(d, PV_DICT, &v)) == TS_OK)
            v->depth = 1;
        return rc;
    case 0x8f:
        if ((rc = push_new(d, PV_SET, &v)) == TS_OK)
            v->depth = 1;
        return rc;
    case 'l':
    case 't':
    case 'd':
    case 0x91: {
        uint8_t kind = d->op == 'l'   ? PV_LIST
                       : d->op == 't' ? PV_TUPLE
                       : d->op == 'd' ? PV_DICT
                                      : PV_FSET;
        if ((rc = pop_mark(d, &mark)) != TS_OK)
            return rc;
        if (kind == PV_DICT && ((d->sn - mark) & 1))
            return fail(d, TS_ERR_PROTO, "odd number of items");
        return build_from(d, kind, mark);
    }
    case 0x85:
    case 0x86:
    case 0x87: {
        size_t k = (size_t)(d->op - 0x84);
        if ((rc = need_items(d, k)) != TS_OK)
            return rc;
        return build_from(d, PV_TUPLE, d->sn - k);
    }
    case 'a': {
        if ((rc = need_items(d, 2)) != TS_OK)
            return rc;
        PVal *list = d->stk[d->sn - 2];
        if (list->kind != PV_LIST)
            return fail(d, TS_ERR_PROTO, "target is not a list");
        rc = list_append(d, list, d->stk + d->sn - 1, 1);
        d->sn--;
        return rc;
    }
    case 'e':
        return op_appends(d);
    case 's': {
        if ((rc = need_items(d, 3)) != TS_OK)
            return rc;
        PVal *dict = d->stk[d->sn - 3];
        if (dict->kind != PV_DICT)
            return fail(d, TS_ERR_PROTO, "target is not a dict");
        if ((rc = note_depth(d, dict, d->stk[d->sn - 2])) == TS_OK)
            rc = note_depth(d, dict, d->stk[d->sn - 1]);
        d->sn -= 2;
        return rc;
    }
    case 'u':
        return op_fill(d, PV_DICT);
    case 0x90:
        return op_fill(d, PV_SET);
    case 'p':
        if ((rc = take_line(d, &line)) != TS_OK)
            return rc;
        if ((rc = parse_memo_key(d, line, &key)) != TS_OK)
            return rc;
        return memo_put_top(d, key);
    case 'q':
        if ((rc = take(d, 1, &a)) != TS_OK)
            return rc;
        return memo_put_top(d, a[0]);
    case 'r':
        if ((rc = take(d, 4, &a)) != TS_OK)
            return rc;
        return memo_put_top(d, get_u32le(a));
    case 0x94:
        return memo_put_top(d, d->memo_n);
    case 'g':
        if ((rc = take_line(d, &line)) != TS_OK)
            return rc;
        if ((rc = parse_memo_key(d, line, &key)) != TS_OK)
            return rc;
        return memo_get(d, key);
    case 'h':
        if ((rc = take(d, 1, &a)) != TS_OK)
            return rc;
        return memo_get(d, a[0]);
    case 'j':
        if ((rc = take(d, 4, &a)) != TS_OK)
            return rc;
        return memo_get(d, get_u32le(a));
    case 0x80:
        if ((rc = take(d, 1, &a)) != TS_OK)
            return rc;
        if (a[0] > PICKLE_PROTO_MAX)
            return fail(d, TS_ERR_PROTO, "unsupported pickle protocol");
        return TS_OK;
    case 0x95:
        if ((rc = take(d, 8, &a)) != TS_OK)
            return rc;
        if (get_u64le(a) > d->n - d->pos)
            return fail(d, TS_ERR_PROTO, "frame longer than the data");
        return TS_OK;
    default:
        if (!OP_NAMES[d->op])
            return fail(d, TS_ERR_PROTO, "unknown opcode");
        return fail(d, TS_ERR_PROTO, "opcode not allowed");
    }
}

/* ---- the walk ------------------------------------------------------------------------------ */

static bool is_seq(const PVal *v)
{
    return v->kind == PV_LIST || v->kind == PV_TUPLE;
}

/* Python float() of a str or bytes: ASCII whitespace stripped, then a float literal. */
static bool str_to_double(Slice s, double *out)
{
    const uint8_t *p = s.p;
    size_t n = s.n;
    while (n && is_space(p[0])) {
        p++;
        n--;
    }
    while (n && is_space(p[n - 1]))
        n--;
    return pyfloat_parse(slice_make(p, n), out);
}

/* Python float(v) for the kinds carbon may receive; false where float() raises. */
static bool to_double(const PVal *v, double *out)
{
    switch (v->kind) {
    case PV_BOOL:
    case PV_INT:
        *out = (double)v->u.i;
        return true;
    case PV_BIG:
    case PV_FLOAT:
        *out = v->u.f;
        return true;
    case PV_STR:
        return str_to_double(v->u.s, out);
    default:
        return false;
    }
}

static int walk(Dec *d, const PVal *top, size_t stop_pos, PicklePointFn fn, void *ctx,
                size_t *skipped)
{
    size_t budget = top->u.seq.n;
    for (size_t i = 0; i < top->u.seq.n; i++) {
        const PVal *e = top->u.seq.v[i];
        if (is_seq(e)) {
            if (e->u.seq.n > SIZE_MAX - budget)
                budget = SIZE_MAX;
            else
                budget += e->u.seq.n;
        }
    }
    if (budget > d->max_items)
        return ts_error(d->err, TS_ERR_LIMIT, stop_pos,
                        "pickle: walking the result would visit more than max_items entries");
    for (size_t i = 0; i < top->u.seq.n; i++) {
        const PVal *e = top->u.seq.v[i];
        if (!is_seq(e) || e->u.seq.n < 2 || e->u.seq.v[0]->kind != PV_STR) {
            (*skipped)++;
            continue;
        }
        Slice name = e->u.seq.v[0]->u.s;
        for (size_t k = 1; k < e->u.seq.n; k++) {
            const PVal *pt = e->u.seq.v[k];
            double ts_s;
            double value;
            if (!is_seq(pt) || pt->u.seq.n != 2 || !to_double(pt->u.seq.v[0], &ts_s) ||
                !to_double(pt->u.seq.v[1], &value)) {
                (*skipped)++;
                continue;
            }
            int rc = fn(ctx, name, ts_s, value);
            if (rc != TS_OK)
                return rc;
        }
    }
    return TS_OK;
}

int pickle_decode_points_general(Slice frame, const PickleLimits *lim, Arena *arena,
                                 PicklePointFn fn, void *ctx, size_t *skipped, TsError *err)
{
    Dec d;
    size_t skipped_local = 0;
    int rc = TS_OK;

    if (!skipped)
        skipped = &skipped_local;
    *skipped = 0;
    memset(&d, 0, sizeof(d));
    d.p = frame.p;
    d.n = frame.n;
    d.arena = arena;
    d.err = err;
    d.max_depth = lim && lim->max_depth ? lim->max_depth : PICKLE_DEPTH_DEFAULT;
    d.max_items = lim && lim->max_items ? lim->max_items : PICKLE_ITEMS_DEFAULT;
    d.max_memo = lim && lim->max_memo ? lim->max_memo : PICKLE_MEMO_DEFAULT;

    while (d.pos < d.n) {
        d.op_pos = d.pos;
        d.op = d.p[d.pos++];
        if (d.op == '.') {
            if ((rc = need_items(&d, 1)) != TS_OK)
                return rc;
            if (d.pos != d.n)
                return ts_error(err, TS_ERR_PROTO, d.pos, "pickle: %zu bytes after STOP",
                                d.n - d.pos);
            const PVal *top = d.stk[d.sn - 1];
            if (!is_seq(top))
                return ts_error(err, TS_ERR_PROTO, d.op_pos,
                                "pickle: top level is not a list or tuple");
            return walk(&d, top, d.op_pos, fn, ctx, skipped);
        }
        if ((rc = step(&d)) != TS_OK)
            return rc;
    }
    return ts_error(err, TS_ERR_PROTO, d.n, "pickle: truncated (no STOP opcode)");
}

/* ---- the fast path ------------------------------------------------------------------------- */

/*
 * Nearly every sender pickles [(name, (ts, value)), ...] with a pickler at protocol 2-5 (or
 * writes the same opcodes itself, as bench/gen.c does), which gives one shape of byte stream:
 * [PROTO] [FRAME] EMPTY_LIST [put], then per batch of entries MARK <entries> APPENDS (or
 * <entry> APPEND), then STOP, where an entry is
 *
 *     name [put] | GET of a memoized name     str/bytes opcodes: X T U B C 0x8c 0x8d 0x8e
 *     ts [put]  value [put]                   J K M LONG1(<= 8 bytes) G NEWTRUE NEWFALSE, or a
 *                                             str/bytes holding a float literal
 *     TUPLE2 [put]  TUPLE2 [put]              (ts, value), then (name, (ts, value))
 *
 * with FRAME and PROTO allowed between any two opcodes and 'put' one of BINPUT, LONG_BINPUT or
 * MEMOIZE storing the object just made under the next memo index (0, 1, 2, ...), as picklers
 * number them. The fast path reads that shape directly, building no value tree (an "entry
 * lane" takes a whole entry with a BINUNICODE or SHORT_BINUNICODE name at once): one pass
 * checks the whole frame and counts what the general machine would create, and only if the
 * frame fits the shape and the general machine would have accepted it within every limit (its
 * objects, memo keys, nesting and walk budget, and a bound on its arena use) does a second
 * pass report the points. Anything else (another opcode or order, a number that does not
 * convert, a shared tuple, a limit that could be hit) leaves the arena untouched and goes to
 * the general machine from the start, so both give the same points, skipped count, status
 * and error for every frame; tests/unit/test_pickle.c and tests/fuzz/fuzz_pickle.c compare
 * them.
 */

#define FAST_MEMO_KINDS 65536 /* memo keys whose str-ness the scan remembers (for GET) */
#define FAST_BLOCK_SLACK 64   /* >= the arena's header per block */
#define ROUND16(x) (((x) + 15) & ~(size_t)15)

typedef struct Fast {
    const uint8_t *p;
    size_t n;
    bool emit;         /* second pass: report points */
    PicklePointFn fn;  /* emit pass */
    void *ctx;         /* emit pass */
    int fn_rc;         /* emit pass: first non-OK status of fn, else TS_OK */
    Slice *names;      /* emit pass with GETs: memo index -> str (only str entries are read) */
    size_t items;      /* objects the general machine would create */
    size_t tuples;     /* TUPLE2s among them */
    size_t memo_n;     /* memo keys stored (always 0..memo_n-1) */
    size_t entries;    /* entries appended to the list */
    size_t height_max; /* deepest value stack of the general machine */
    size_t list_cap;   /* the general machine's list capacity (it grows by doubling from 4) */
    size_t list_bytes; /* arena bytes of those list arrays */
    bool marks_used;   /* a MARK was seen (the general machine allocates its mark stack) */
    bool gets;         /* a GET was seen */
    uint8_t kinds[FAST_MEMO_KINDS / 8]; /* bit k: memo key k holds a str; keys < memo_n set */
} Fast;

/* Memo index 'key' (the next one) now holds a str ('s') or something else. */
static inline void fast_memo_note(Fast *f, size_t key, bool is_str, Slice s)
{
    if (key < FAST_MEMO_KINDS) {
        if ((key & 7) == 0)
            f->kinds[key >> 3] = 0; /* indices come in order: the byte's first bit clears it */
        if (is_str)
            f->kinds[key >> 3] |= (uint8_t)(1u << (key & 7));
    }
    if (f->names && is_str)
        f->names[key] = s;
}

/* The entry lane's helpers are inlined so that q, m and the numbers stay in registers. */

/* Entry lane: a put of memo index *m at p[*q]: 0 none there, 1 taken (*q and *m advanced),
 * -1 a put of another index (left to the opcode loop, which refuses it). */
static inline __attribute__((always_inline)) int lane_put(const uint8_t *p, size_t n, size_t *q,
                                                          size_t *m)
{
    if (*q == n)
        return 0;
    switch (p[*q]) {
    case 0x94:
        *q += 1;
        break;
    case 'q':
        if (n - *q < 2 || p[*q + 1] != *m)
            return -1;
        *q += 2;
        break;
    case 'r':
        if (n - *q < 5 || get_u32le(p + *q + 1) != *m)
            return -1;
        *q += 5;
        break;
    default:
        return 0;
    }
    (*m)++;
    return 1;
}

/* Entry lane: a binary number at p[*q] (BININT, BINFLOAT, BININT1, BININT2, LONG1 <= 8). */
static inline __attribute__((always_inline)) bool lane_num(const uint8_t *p, size_t n, size_t *q,
                                                           double *x)
{
    size_t left = n - *q;
    const uint8_t *a = p + *q;
    if (left >= 5 && a[0] == 'J') {
        *x = (double)(int32_t)get_u32le(a + 1);
        *q += 5;
    } else if (left >= 9 && a[0] == 'G') {
        *x = bits_double(((uint64_t)get_u32be(a + 1) << 32) | get_u32be(a + 5));
        *q += 9;
    } else if (left >= 2 && a[0] == 'K') {
        *x = (double)a[1];
        *q += 2;
    } else if (left >= 3 && a[0] == 'M') {
        *x = (double)get_u16le(a + 1);
        *q += 3;
    } else if (left >= 2 && a[0] == 0x8a && a[1] <= 8 && left - 2 >= a[1]) {
        *x = (double)long_le_small(a + 2, a[1]);
        *q += 2 + (size_t)a[1];
    } else {
        return false;
    }
    return true;
}

/* The general machine's list_append growth for k more items: it doubles from 4. */
#define LIST_GROW(k)                                                                               \
    do {                                                                                           \
        if (list_cap - entries < (k)) {                                                            \
            size_t ncap_ = list_cap ? list_cap : LIST_INIT;                                        \
            while (ncap_ - entries < (k))                                                          \
                ncap_ *= 2;                                                                        \
            list_bytes += ROUND16(ncap_ * sizeof(PVal *));                                         \
            list_cap = ncap_;                                                                      \
        }                                                                                          \
    } while (0)

/*
 * One pass over the frame. Returns false as soon as it leaves the shape (nothing is reported
 * then in the scan pass; the emit pass follows only a successful scan of the same bytes, so it
 * never returns false after reporting a point). In the emit pass a non-OK status of fn stops
 * it: f->fn_rc.
 */
static bool fast_run(Fast *f)
{
    /* The counters live in locals: updating them through f costs store-forwarding stalls. */
    size_t items = f->items, tuples = f->tuples, memo_n = f->memo_n, entries = f->entries;
    size_t height_max = f->height_max, list_cap = f->list_cap, list_bytes = f->list_bytes;
    bool ok = false;
    const uint8_t *p = f->p;
    size_t n = f->n;
    size_t pos = 0;
    bool list = false;    /* the top list exists (it is the first object) */
    bool mark = false;    /* a MARK is open above it */
    bool can_put = false; /* the stack top is an object made by the last opcode, not memoized */
    bool top_str = false; /* ... and it is a str */
    unsigned part = 0;    /* entry being built: 0 none, 1 name, 2 +ts, 3 +value, 4 name+pair */
    size_t pending = 0;   /* finished entries on the stack, not yet appended */
    Slice name = {0};     /* the entry's name */
    Slice last_str = {0}; /* the last str made (what a put after it stores) */
    double ts_s = 0;      /* the entry's numbers (separate scalars: copying them as a pair */
    double value = 0;     /* after two scalar stores stalls store forwarding) */

    while (pos < n) {
        uint8_t op = p[pos++];
        uint64_t key;
        uint64_t slen;
        double x;
        size_t h;
        if (part == 0 && (op == 'X' || op == 0x8c) && list && (mark || !pending)) {
            /*
             * The entry lane: a whole (name, (ts, value)) with its puts in one go, as the
             * opcode loop below would take it opcode by opcode (it does, if anything here
             * differs). The name is a BINUNICODE or SHORT_BINUNICODE, the numbers binary.
             */
            size_t q = pos;
            size_t m = memo_n;
            int put_name, put_pair, put_entry;
            if (op == 'X') {
                if (n - q < 4)
                    goto opcode;
                slen = get_u32le(p + q);
                q += 4;
            } else {
                if (q == n)
                    goto opcode;
                slen = p[q++];
            }
            if (slen > n - q)
                goto opcode;
            Slice nm = slice_make(p + q, (size_t)slen);
            q += (size_t)slen;
            if ((put_name = lane_put(p, n, &q, &m)) < 0 || !lane_num(p, n, &q, &ts_s) ||
                !lane_num(p, n, &q, &value) || q == n || p[q] != 0x86)
                goto opcode;
            q++;
            if ((put_pair = lane_put(p, n, &q, &m)) < 0 || q == n || p[q] != 0x86)
                goto opcode;
            q++;
            if ((put_entry = lane_put(p, n, &q, &m)) < 0)
                goto opcode;
            if (put_name)
                fast_memo_note(f, memo_n++, true, nm);
            if (put_pair)
                fast_memo_note(f, memo_n++, false, nm);
            if (put_entry)
                fast_memo_note(f, memo_n++, false, nm);
            items += 5;
            tuples += 2;
            h = 1 + pending + 3;
            if (h > height_max)
                height_max = h;
            pending++;
            name = last_str = nm;
            can_put = !put_entry;
            top_str = false;
            pos = q;
            if (f->emit && f->fn_rc == TS_OK) {
                f->fn_rc = f->fn(f->ctx, name, ts_s, value);
                if (f->fn_rc != TS_OK) {
                    ok = true;
                    goto out;
                }
            }
            continue;
        }
    opcode:
        switch (op) {
        case 0x80: /* PROTO */
            if (pos == n || p[pos] > PICKLE_PROTO_MAX)
                goto out;
            pos++;
            continue;
        case 0x95: /* FRAME */
            if (n - pos < 8 || get_u64le(p + pos) > n - pos - 8)
                goto out;
            pos += 8;
            continue;
        case ']':
            if (list)
                goto out;
            list = true;
            items++;
            can_put = true;
            top_str = false;
            h = 1;
            break;
        case '(':
            if (!list || mark || part || pending)
                goto out;
            mark = true;
            f->marks_used = true;
            can_put = false;
            continue;
        case 'e': /* APPENDS */
            if (!mark || part)
                goto out;
            LIST_GROW(pending);
            entries += pending;
            pending = 0;
            mark = false;
            can_put = false;
            continue;
        case 'a': /* APPEND */
            if (mark || part || pending != 1)
                goto out;
            LIST_GROW(1);
            entries++;
            pending = 0;
            can_put = false;
            continue;
        case '.':
            ok = list && !mark && !part && !pending && pos == n;
            goto out;
        case 'q':
        case 'r':
        case 0x94: /* BINPUT, LONG_BINPUT, MEMOIZE */
            if (op == 'q') {
                if (pos == n)
                    goto out;
                key = p[pos++];
            } else if (op == 'r') {
                if (n - pos < 4)
                    goto out;
                key = get_u32le(p + pos);
                pos += 4;
            } else {
                key = memo_n;
            }
            if (!can_put || key != memo_n)
                goto out;
            fast_memo_note(f, memo_n++, top_str, last_str);
            can_put = false;
            continue;
        case 'h':
        case 'j': /* BINGET, LONG_BINGET: a memoized str as a name */
            if (op == 'h') {
                if (pos == n)
                    goto out;
                key = p[pos++];
            } else {
                if (n - pos < 4)
                    goto out;
                key = get_u32le(p + pos);
                pos += 4;
            }
            if (!list || part || (!mark && pending) || key >= memo_n || key >= FAST_MEMO_KINDS ||
                !(f->kinds[key >> 3] & (1u << (key & 7))))
                goto out;
            f->gets = true;
            if (f->emit)
                name = f->names[key];
            part = 1;
            can_put = false;
            h = 1 + pending + 1;
            if (h > height_max)
                height_max = h;
            continue;
        case 0x86: /* TUPLE2 */
            if (part == 3) {
                part = 4;
                h = 1 + pending + 2;
            } else if (part == 4) {
                part = 0;
                pending++;
                h = 1 + pending;
                if (f->emit && f->fn_rc == TS_OK) {
                    f->fn_rc = f->fn(f->ctx, name, ts_s, value);
                    if (f->fn_rc != TS_OK) {
                        ok = true;
                        goto out;
                    }
                }
            } else {
                goto out;
            }
            items++;
            tuples++;
            can_put = true;
            top_str = false;
            break;
        case 'U':
        case 'C':
        case 0x8c: /* SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE */
            if (pos == n)
                goto out;
            slen = p[pos++];
            goto str;
        case 'X':
        case 'B':
        case 'T': /* BINUNICODE, BINBYTES, BINSTRING (a signed length) */
            if (n - pos < 4)
                goto out;
            slen = get_u32le(p + pos);
            pos += 4;
            if (op == 'T' && (slen & 0x80000000u))
                goto out;
            goto str;
        case 0x8d:
        case 0x8e: /* BINUNICODE8, BINBYTES8 */
            if (n - pos < 8)
                goto out;
            slen = get_u64le(p + pos);
            pos += 8;
        str:
            if (slen > n - pos)
                goto out;
            last_str = slice_make(p + pos, (size_t)slen);
            pos += (size_t)slen;
            if (part == 0) {
                if (!list || (!mark && pending))
                    goto out;
                name = last_str;
            } else if (part <= 2) {
                if (!str_to_double(last_str, part == 1 ? &ts_s : &value))
                    goto out;
            } else {
                goto out;
            }
            top_str = true;
            goto made;
        case 'J': /* BININT */
            if (n - pos < 4)
                goto out;
            x = (double)(int32_t)get_u32le(p + pos);
            pos += 4;
            goto number;
        case 'G': /* BINFLOAT */
            if (n - pos < 8)
                goto out;
            x = bits_double(((uint64_t)get_u32be(p + pos) << 32) | get_u32be(p + pos + 4));
            pos += 8;
            goto number;
        case 'K': /* BININT1 */
            if (pos == n)
                goto out;
            x = (double)p[pos++];
            goto number;
        case 'M': /* BININT2 */
            if (n - pos < 2)
                goto out;
            x = (double)get_u16le(p + pos);
            pos += 2;
            goto number;
        case 0x8a: /* LONG1 within int64 */
            if (pos == n || p[pos] > 8 || n - pos - 1 < p[pos])
                goto out;
            x = (double)long_le_small(p + pos + 1, p[pos]);
            pos += 1 + (size_t)p[pos];
            goto number;
        case 0x88:
        case 0x89: /* NEWTRUE, NEWFALSE */
            x = op == 0x88 ? 1.0 : 0.0;
        number:
            if (part != 1 && part != 2)
                goto out;
            if (part == 1)
                ts_s = x;
            else
                value = x;
            top_str = false;
        made:
            part++;
            items++;
            can_put = true;
            h = 1 + pending + part;
            break;
        default:
            goto out;
        }
        if (h > height_max)
            height_max = h;
    }
out: /* ok stays false without STOP */
    f->items = items;
    f->tuples = tuples;
    f->memo_n = memo_n;
    f->entries = entries;
    f->height_max = height_max;
    f->list_cap = list_cap;
    f->list_bytes = list_bytes;
    return ok;
}

/* Upper bound of the arena bytes (blocks and their headers) the general machine would take
 * for the frame the scan counted. */
static size_t fast_arena_bound(const Fast *f)
{
    size_t sum =
        f->items * ROUND16(sizeof(PVal)) + f->tuples * ROUND16(2 * sizeof(PVal *)) + f->list_bytes;
    /* Value stack: 64 slots, doubled each time it is full. */
    size_t cap = STACK_INIT;
    sum += ROUND16(cap * sizeof(PVal *));
    while (cap < f->height_max) {
        cap *= 2;
        sum += ROUND16(cap * sizeof(PVal *));
    }
    if (f->marks_used)
        sum += ROUND16(16 * sizeof(size_t));
    /* Memo trie over keys 0..memo_n-1: the root, and per level one node per distinct prefix. */
    if (f->memo_n) {
        size_t nodes = 1;
        for (int shift = MEMO_BITS; shift < 32; shift += MEMO_BITS)
            nodes += ((f->memo_n - 1) >> shift) + 1;
        sum += nodes * ROUND16(sizeof(MemoNode));
    }
    /*
     * The arena bumps through 64 KiB blocks and gives a request larger than that a block of its
     * own. A 64 KiB block is left behind only when a request does not fit in it, unused room
     * smaller than that request (each request leaves at most one block behind), so all blocks
     * but the last hold at most 2 * sum; the last adds 64 KiB, and there are at most
     * 3 * sum / 64 KiB + 2 block headers.
     */
    return 2 * sum + sum / 256 + 65536 + 4 * FAST_BLOCK_SLACK;
}

int pickle_decode_points(Slice frame, const PickleLimits *lim, Arena *arena, PicklePointFn fn,
                         void *ctx, size_t *skipped, TsError *err)
{
    Fast f;
    size_t max_depth = lim && lim->max_depth ? lim->max_depth : PICKLE_DEPTH_DEFAULT;
    size_t max_items = lim && lim->max_items ? lim->max_items : PICKLE_ITEMS_DEFAULT;
    size_t max_memo = lim && lim->max_memo ? lim->max_memo : PICKLE_MEMO_DEFAULT;

    memset(&f, 0, offsetof(Fast, kinds));
    f.p = frame.p;
    f.n = frame.n;
    /* list > entry > pair is 3 deep; the walk visits the list and 2 items per entry */
    if (max_depth < 3 || !fast_run(&f) || f.items > max_items || f.memo_n > max_memo ||
        f.entries > max_items / 3)
        goto general;
    if (arena->cap_bytes && (arena->used_bytes > arena->cap_bytes ||
                             arena->cap_bytes - arena->used_bytes < fast_arena_bound(&f)))
        goto general;
    if (f.gets) {
        /* Cannot fail after the bound check; if it did, the arena would be left as it was and
         * the general machine would decide. */
        f.names = arena_alloc(arena, f.memo_n * sizeof(Slice));
        if (!f.names)
            goto general;
    }
    if (skipped)
        *skipped = 0;
    f.emit = true;
    f.fn = fn;
    f.ctx = ctx;
    f.fn_rc = TS_OK;
    f.items = f.tuples = f.memo_n = f.entries = f.list_cap = 0;
    (void)fast_run(&f);
    return f.fn_rc;
general:
    return pickle_decode_points_general(frame, lim, arena, fn, ctx, skipped, err);
}
