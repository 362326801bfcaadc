/*
 * Akumuli RESP ingestion parser: bytes of one TCP session in, canonical points out.
 *
 * The wire format, the message forms and the reply rules are described at the top of resp.h.
 * The parser mirrors the structure of Akumuli's RESPProtocolParser (akumulid/protocolparser.cpp
 * and resp.cpp): a message is parsed element by element from its first byte each time more
 * bytes arrive, and an error is reported as soon as the offending element is complete, with the
 * context taken from the bytes available at that moment. Nothing but the dictionary survives
 * between messages, so re-parsing an incomplete trailing message costs at most one message
 * (about 17 KB for a 256-wide row) per call, and no point is delivered twice.
 *
 * Series names go through Akumuli's SeriesParser rules (leading whitespace skipped, spaces and
 * tabs between tags collapsed, the first 32 tags kept) and then core/series_key.h, which sorts
 * the tags by key bytewise, keeps duplicates and escapes, and joins "metric k=v ...". Keys are
 * kept in a KeyStore: records [u8 is_event][u32le length][bytes] in a Buf plus one caller ref
 * slot per record (RespPointFn). There are three: the per-message scratch for a name line, the
 * session dictionary for an id, and the RespNames cache shared by the parsers of a thread. The
 * dictionary and the cache are open-addressing tables from an id or a name line to the first
 * record, first ref and record count of its (possibly compound) name. Canonicalising a name is
 * the costly part of a message (a 10-metric bulk row builds 10 keys), so with a cache a name
 * line seen before costs one hash and one compare.
 */
#include "proto/resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/endian.h"
#include "core/hash.h"
#include "core/pyfloat.h"
#include "core/series_key.h"
#include "core/time.h"

/* Line windows after the type byte, '\n' included (Akumuli's buffer sizes and quotas). */
#define WIN_NAME 1024 /* RESPStream::STRING_LENGTH_MAX */
#define WIN_TS 28     /* tsbuflen in parse_timestamp */
#define WIN_FLOAT 64  /* buflen in parse_values */
#define WIN_INT 22    /* 20 digits of a u64 plus "\r\n" */
#define WIN_EVENT 1024

#define REC_HDR 5 /* u8 is_event + u32le length */
#define NAME_BYTES_DEFAULT 4096

enum { ST_OK = 0, ST_AGAIN = 1, ST_FAIL = 2 };

/* Key records and their ref slots; record i of the Buf owns refs[i]. */
typedef struct KeyStore {
    Buf recs;       /* records [u8 is_event][u32le length][key bytes] */
    uint64_t *refs; /* owned, nrefs used of refs_cap; 0 until a caller writes one */
    size_t nrefs;
    size_t refs_cap;
} KeyStore;

typedef struct DictSlot {
    uint64_t id;  /* dictionary id as sent */
    size_t off;   /* first key record in dict.recs */
    size_t ref0;  /* its ref in dict.refs */
    size_t count; /* records (names of the compound); 0 marks an empty slot */
} DictSlot;

/* One cached name line: the line's bytes in RespNames.lines, its records in RespNames.keys. */
typedef struct NameSlot {
    uint64_t hash;   /* hash64 of the line; 0 marks an empty slot */
    size_t line_off; /* in lines */
    size_t rec_off;  /* first key record in keys.recs */
    size_t ref0;     /* its ref in keys.refs */
    uint32_t line_len;
    uint32_t count; /* records (names of the compound), >= 1 */
} NameSlot;

struct RespNames {
    RespLimits lim;   /* the limits cached names were validated with (defaults filled in) */
    size_t max_bytes; /* cap on lines + records + refs + table */
    NameSlot *slots;  /* nslots a power of two, at most half full */
    size_t nslots;
    size_t n;        /* lines cached */
    Buf lines;       /* name line bytes */
    KeyStore keys;   /* their records */
    uint64_t resets; /* times the cache started over */
};

struct RespParser {
    RespLimits lim;   /* effective limits, defaults filled in */
    int dead_rc;      /* TS_OK while alive; the status to repeat once dead */
    bool dict_phase;  /* true until the first message that does not start with '*' */
    DictSlot *slots;  /* dictionary table, nslots a power of two (or 0), half full at most */
    size_t nslots;    /* table size */
    size_t ndict;     /* ids defined */
    KeyStore dict;    /* key records of all dictionary names */
    KeyStore scratch; /* key records of the current message's name line (no cache) */
    RespNames *names; /* borrowed name-line cache, or NULL */
    SeriesTag tags[RESP_AKUMULI_TAGS]; /* tags of the name being canonicalised */
    Slice keys[RESP_ROW_MAX];          /* current row: keys (into a KeyStore) */
    uint64_t *refs[RESP_ROW_MAX];      /* current row: ref slots (into the same KeyStore) */
    bool is_event[RESP_ROW_MAX];       /* current row: event series? */
    double values[RESP_ROW_MAX];       /* current row: numeric values */
    Slice texts[RESP_ROW_MAX];         /* current row: event texts (into the input) */
};

/* Position in the bytes of one call. */
typedef struct Cur {
    const uint8_t *b; /* input of this call */
    size_t n;         /* bytes available */
    size_t pos;       /* next byte to read */
    size_t msg;       /* first byte of the current message: origin of the error context */
} Cur;

/* ---- key stores ---- */

static void ks_init(KeyStore *ks)
{
    buf_init(&ks->recs);
    ks->refs = NULL;
    ks->nrefs = ks->refs_cap = 0;
}

static void ks_deinit(KeyStore *ks)
{
    buf_deinit(&ks->recs);
    ts_free(ks->refs);
}

static void ks_clear(KeyStore *ks)
{
    buf_clear(&ks->recs);
    ks->nrefs = 0;
}

/* Cut the store back to 'recs' record bytes and 'nrefs' refs (undo a partial append). */
static void ks_truncate(KeyStore *ks, size_t recs, size_t nrefs)
{
    ks->recs.n = recs;
    ks->nrefs = nrefs;
}

static void ks_add_ref(KeyStore *ks)
{
    if (ks->nrefs == ks->refs_cap) {
        ks->refs_cap = ks->refs_cap ? ks->refs_cap * 2 : 64;
        ks->refs = ts_realloc(ks->refs, ks->refs_cap * sizeof(*ks->refs));
    }
    ks->refs[ks->nrefs++] = 0;
}

static RespLimits limits_filled(const RespLimits *lim)
{
    RespLimits l = {0};
    if (lim)
        l = *lim;
    if (l.max_name_bytes == 0)
        l.max_name_bytes = NAME_BYTES_DEFAULT;
    if (l.max_dict_entries == 0)
        l.max_dict_entries = RESP_DICT_ENTRIES;
    if (l.max_dict_bytes == 0)
        l.max_dict_bytes = RESP_DICT_BYTES;
    return l;
}

RespParser *resp_parser_new(const RespLimits *lim)
{
    RespParser *p = ts_calloc(1, sizeof(*p));
    p->lim = limits_filled(lim);
    p->dead_rc = TS_OK;
    p->dict_phase = true;
    ks_init(&p->dict);
    ks_init(&p->scratch);
    return p;
}

void resp_parser_free(RespParser *p)
{
    if (!p)
        return;
    ts_free(p->slots);
    ks_deinit(&p->dict);
    ks_deinit(&p->scratch);
    ts_free(p);
}

void resp_parser_set_names(RespParser *p, RespNames *c)
{
    bool same =
        c && c->lim.max_name_bytes == p->lim.max_name_bytes && c->lim.max_tags == p->lim.max_tags;
    p->names = same ? c : NULL;
}

/* ---- dictionary ---- */

static size_t slot_of(uint64_t id, size_t nslots)
{
    return (size_t)hash64(&id, sizeof(id)) & (nslots - 1);
}

static const DictSlot *dict_find(const RespParser *p, uint64_t id)
{
    if (p->nslots == 0)
        return NULL;
    for (size_t i = slot_of(id, p->nslots);; i = (i + 1) & (p->nslots - 1)) {
        const DictSlot *s = &p->slots[i];
        if (s->count == 0)
            return NULL;
        if (s->id == id)
            return s;
    }
}

static void dict_put(DictSlot *slots, size_t nslots, DictSlot v)
{
    size_t i = slot_of(v.id, nslots);
    while (slots[i].count != 0)
        i = (i + 1) & (nslots - 1);
    slots[i] = v;
}

static void dict_insert(RespParser *p, uint64_t id, size_t off, size_t ref0, size_t count)
{
    if ((p->ndict + 1) * 2 > p->nslots) {
        size_t nn = p->nslots ? p->nslots * 2 : 64;
        DictSlot *ns = ts_calloc(nn, sizeof(*ns));
        for (size_t i = 0; i < p->nslots; i++)
            if (p->slots[i].count != 0)
                dict_put(ns, nn, p->slots[i]);
        ts_free(p->slots);
        p->slots = ns;
        p->nslots = nn;
    }
    DictSlot v = {id, off, ref0, count};
    dict_put(p->slots, p->nslots, v);
    p->ndict++;
}

/* ---- series names ---- */

/* True when b[i] is a space that separates tokens (not escaped by a preceding '\'). */
static bool bare_space(const uint8_t *b, size_t i)
{
    return b[i] == ' ' && (i == 0 || b[i - 1] != '\\');
}

static void skip_blanks(const uint8_t *b, size_t n, size_t *i)
{
    while (*i < n && (b[*i] == ' ' || b[*i] == '\t'))
        (*i)++;
}

/*
 * Canonicalise the name line 's' (Akumuli's SeriesParser::to_canonical_form followed by the
 * compound split of StorageSession::get_series_ids) and append one key record (and a zero ref)
 * per metric to 'ks'. Returns the number of records, or 0 (with 'ks' unchanged) for an invalid
 * name.
 */
static size_t name_to_records(RespParser *p, Slice s, KeyStore *ks)
{
    Buf *out = &ks->recs;
    const uint8_t *b = s.p;
    size_t n = s.n;
    size_t i = 0;
    size_t ntags = 0;

    skip_blanks(b, n, &i);
    size_t m0 = i;
    while (i < n && !bare_space(b, i))
        i++;
    Slice metric = slice_make(b + m0, i - m0);
    skip_blanks(b, n, &i);
    if (i == n || metric.n == 0)
        return 0; /* at least one tag is required */
    /* Akumuli stops after 32 tags and ignores whatever follows, well-formed or not. */
    while (i < n && ntags < RESP_AKUMULI_TAGS) {
        size_t k0 = i;
        while (i < n && b[i] != '=' && b[i] != '\t' && !bare_space(b, i))
            i++;
        if (i == k0 || i == n || b[i] != '=')
            return 0;
        size_t v0 = ++i;
        while (i < n && !bare_space(b, i))
            i++; /* a tab belongs to the value */
        p->tags[ntags].key = slice_make(b + k0, v0 - 1 - k0);
        p->tags[ntags].value = slice_make(b + v0, i - v0);
        ntags++;
        skip_blanks(b, n, &i);
    }
    if (p->lim.max_tags != 0 && ntags > p->lim.max_tags)
        return 0;

    size_t start = out->n;
    size_t ref_start = ks->nrefs;
    size_t count = 0;
    size_t c0 = 0;
    for (size_t k = 0; k <= metric.n; k++) {
        if (k < metric.n && metric.p[k] != '|')
            continue;
        Slice comp = slice_make(metric.p + c0, k - c0);
        c0 = k + 1;
        if (count == RESP_ROW_MAX || comp.n == 0)
            goto bad;
        size_t hdr = out->n;
        buf_put_u8(out, comp.p[0] == '!');
        buf_put_u32le(out, 0);
        if (series_key_build(comp, p->tags, ntags, RESP_AKUMULI_TAGS, p->lim.max_name_bytes, out,
                             NULL) != TS_OK)
            goto bad;
        put_u32le(out->p + hdr + 1, (uint32_t)(out->n - hdr - REC_HDR));
        ks_add_ref(ks);
        count++;
    }
    return count;
bad:
    ks_truncate(ks, start, ref_start);
    return 0;
}

/* Point p->keys / p->refs / p->is_event at 'count' records of 'ks' from 'off' and 'ref0'. */
static void load_row(RespParser *p, KeyStore *ks, size_t off, size_t ref0, size_t count)
{
    const Buf *store = &ks->recs;
    for (size_t k = 0; k < count; k++) {
        uint32_t len = get_u32le(store->p + off + 1);
        p->is_event[k] = store->p[off] != 0;
        p->keys[k] = slice_make(store->p + off + REC_HDR, len);
        p->refs[k] = &ks->refs[ref0 + k];
        off += REC_HDR + len;
    }
}

/* ---- the name-line cache ---- */

RespNames *resp_names_new(const RespLimits *lim, size_t max_bytes)
{
    RespNames *c = ts_calloc(1, sizeof(*c));
    c->lim = limits_filled(lim);
    c->max_bytes = max_bytes ? max_bytes : RESP_NAMES_BYTES;
    buf_init(&c->lines);
    ks_init(&c->keys);
    return c;
}

void resp_names_free(RespNames *c)
{
    if (!c)
        return;
    ts_free(c->slots);
    buf_deinit(&c->lines);
    ks_deinit(&c->keys);
    ts_free(c);
}

size_t resp_names_count(const RespNames *c)
{
    return c->n;
}

uint64_t resp_names_resets(const RespNames *c)
{
    return c->resets;
}

static uint64_t line_hash(Slice line)
{
    uint64_t h = hash64(line.p, line.n);
    return h ? h : 1;
}

static const NameSlot *names_find(const RespNames *c, Slice line, uint64_t h)
{
    if (c->nslots == 0)
        return NULL;
    for (size_t i = (size_t)h & (c->nslots - 1);; i = (i + 1) & (c->nslots - 1)) {
        const NameSlot *s = &c->slots[i];
        if (s->hash == 0)
            return NULL;
        if (s->hash == h && s->line_len == line.n &&
            memcmp(c->lines.p + s->line_off, line.p, line.n) == 0)
            return s;
    }
}

static void names_put(NameSlot *slots, size_t nslots, const NameSlot *v)
{
    size_t i = (size_t)v->hash & (nslots - 1);
    while (slots[i].hash != 0)
        i = (i + 1) & (nslots - 1);
    slots[i] = *v;
}

/* Bytes the cache holds now (what max_bytes caps). */
static size_t names_bytes(const RespNames *c)
{
    return c->lines.n + c->keys.recs.n + c->keys.nrefs * sizeof(uint64_t) +
           c->nslots * sizeof(NameSlot);
}

/* Start over empty; the buffers keep their capacity (bounded by max_bytes plus one entry). */
static void names_reset(RespNames *c)
{
    ts_free(c->slots);
    c->slots = NULL;
    c->nslots = 0;
    c->n = 0;
    buf_clear(&c->lines);
    ks_clear(&c->keys);
    c->resets++;
}

/*
 * The cached entry of name line 'line', canonicalising and adding it first if it is new;
 * NULL for an invalid name (nothing is cached).
 */
static const NameSlot *names_get(RespParser *p, RespNames *c, Slice line)
{
    uint64_t h = line_hash(line);
    const NameSlot *hit = names_find(c, line, h);
    if (hit)
        return hit;
    if (c->n > 0 && names_bytes(c) >= c->max_bytes)
        names_reset(c);
    NameSlot v = {
        .hash = h, .rec_off = c->keys.recs.n, .ref0 = c->keys.nrefs, .line_len = (uint32_t)line.n};
    size_t count = name_to_records(p, line, &c->keys);
    if (count == 0)
        return NULL;
    v.count = (uint32_t)count;
    v.line_off = c->lines.n;
    buf_append(&c->lines, line.p, line.n);
    if ((c->n + 1) * 2 > c->nslots) {
        size_t nn = c->nslots ? c->nslots * 2 : 256;
        NameSlot *ns = ts_calloc(nn, sizeof(*ns));
        for (size_t i = 0; i < c->nslots; i++)
            if (c->slots[i].hash != 0)
                names_put(ns, nn, &c->slots[i]);
        ts_free(c->slots);
        c->slots = ns;
        c->nslots = nn;
    }
    names_put(c->slots, c->nslots, &v);
    c->n++;
    return names_find(c, line, h);
}

/* ---- errors ---- */

/* Mark the parser dead with 'rc' and return ST_FAIL. */
static int die(RespParser *p, int rc)
{
    p->dead_rc = rc;
    return ST_FAIL;
}

/* Append "-PARSER <msg> - <context>\r\n" (resp.h) and die. */
static int fail_n(RespParser *p, const Cur *c, Buf *reply, const char *msg, size_t msg_n)
{
    int nl = 0;
    buf_puts(reply, "-PARSER ");
    buf_append(reply, msg, msg_n);
    buf_puts(reply, " - ");
    for (size_t i = c->msg; i < c->n; i++) {
        uint8_t ch = c->b[i];
        if (ch == '\n') {
            if (++nl == 3)
                break;
            buf_append(reply, "\\n", 2);
        } else if (ch == '\r') {
            buf_append(reply, "\\r", 2);
        } else {
            buf_put_u8(reply, ch);
        }
    }
    buf_puts(reply, "\r\n");
    return die(p, TS_ERR_PROTO);
}

static int fail(RespParser *p, const Cur *c, Buf *reply, const char *msg)
{
    return fail_n(p, c, reply, msg, strlen(msg));
}

/* ---- RESP elements (c->pos is at the type byte, which is present) ---- */

/*
 * Find the '\n' that ends the line starting at 'start' within 'window' bytes. ST_OK sets *nl;
 * ST_AGAIN when fewer than 'window' bytes are available; ST_FAIL when the window is full.
 */
static int find_line(const Cur *c, size_t start, size_t window, size_t *nl)
{
    size_t avail = c->n - start;
    size_t lim = avail < window ? avail : window;
    const uint8_t *q = lim ? memchr(c->b + start, '\n', lim) : NULL;
    if (q) {
        *nl = (size_t)(q - c->b);
        return ST_OK;
    }
    return avail >= window ? ST_FAIL : ST_AGAIN;
}

/* Integer element or array header. A leading '-' is accepted only when 'neg' is not NULL. */
static int read_int(RespParser *p, Cur *c, Buf *reply, uint64_t *out, bool *neg)
{
    size_t start = c->pos + 1;
    size_t nl = 0;
    int r = find_line(c, start, WIN_INT, &nl);
    if (r == ST_AGAIN)
        return r;
    if (r == ST_FAIL)
        return fail(p, c, reply, "integer is too long");
    uint64_t v = 0;
    size_t ndigits = 0;
    bool minus = false;
    for (size_t i = start; i < nl; i++) {
        uint8_t ch = c->b[i];
        if (ch >= '0' && ch <= '9') {
            unsigned d = (unsigned)(ch - '0');
            if (v > (UINT64_MAX - d) / 10)
                return fail(p, c, reply, "integer overflow");
            v = v * 10 + d;
            ndigits++;
        } else if (ch == '\r') {
            if (i + 1 == nl)
                break;
            return fail(p, c, reply, "invalid symbol inside stream - '\\r'");
        } else if (ch == '-' && neg && i == start) {
            minus = true;
        } else {
            return fail(p, c, reply, "can't parse integer (character value out of range)");
        }
    }
    if (minus && ndigits == 0)
        return fail(p, c, reply, "can't parse integer (character value out of range)");
    if (neg)
        *neg = minus;
    *out = v;
    c->pos = nl + 1;
    return ST_OK;
}

/* Simple string element: the bytes between '+' and "\r\n" (or "\n"). */
static int read_str(RespParser *p, Cur *c, Buf *reply, size_t window, Slice *out)
{
    size_t start = c->pos + 1;
    size_t nl = 0;
    int r = find_line(c, start, window, &nl);
    if (r == ST_AGAIN)
        return r;
    if (r == ST_FAIL)
        return fail(p, c, reply, "out of quota");
    size_t end = nl;
    if (end > start && c->b[end - 1] == '\r')
        end--;
    *out = slice_make(c->b + start, end - start);
    c->pos = nl + 1;
    return ST_OK;
}

/*
 * The common value text, [+-]digits[.digits] with 1 to 15 digits, read exactly: the mantissa
 * (< 10^15 < 2^53) and 10^k (k <= 15) are exact doubles and IEEE division rounds correctly, so
 * the quotient is what strtod returns. False for anything else.
 */
static bool quick_decimal(Slice s, double *out)
{
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    size_t i = 0;
    bool neg = false;
    bool dot = false;
    uint64_t m = 0;
    size_t digits = 0;
    size_t frac = 0;
    if (s.n > 0 && (s.p[0] == '+' || s.p[0] == '-')) {
        neg = s.p[0] == '-';
        i = 1;
    }
    for (; i < s.n; i++) {
        uint8_t ch = s.p[i];
        if (ch >= '0' && ch <= '9') {
            if (++digits > 15)
                return false;
            m = m * 10 + (uint64_t)(ch - '0');
            frac += dot;
        } else if (ch == '.' && !dot) {
            dot = true;
        } else {
            return false;
        }
    }
    if (digits == 0)
        return false;
    double d = (double)m / pow10[frac];
    *out = neg ? -d : d;
    return true;
}

/* '+' float value: C strtod over the whole text (Akumuli copies it into a NUL-ended buffer). */
static int read_float(RespParser *p, Cur *c, Buf *reply, double *out)
{
    Slice s;
    int r = read_str(p, c, reply, WIN_FLOAT, &s);
    if (r != ST_OK)
        return r;
    /* A plain decimal ([+-]digits[.digits][e[+-]digits], no inf/nan) reads the same through
     * pyfloat_parse, which is exact and much faster for short ones; anything else (hex, blanks,
     * inf, nan and their signs, errors) goes through strtod as Akumuli does. */
    if (quick_decimal(s, out))
        return ST_OK;
    size_t lead = s.n > 0 && (s.p[0] == '+' || s.p[0] == '-') ? 1 : 0;
    if (s.n > lead && ((s.p[lead] >= '0' && s.p[lead] <= '9') || s.p[lead] == '.') &&
        pyfloat_parse(s, out))
        return ST_OK;
    char tmp[WIN_FLOAT];
    char *end = NULL;
    memcpy(tmp, s.p, s.n); /* s.n < WIN_FLOAT: the window holds the '\n' too */
    tmp[s.n] = '\0';
    *out = strtod(tmp, &end);
    if ((size_t)(end - tmp) != s.n) {
        char msg[WIN_FLOAT + 32];
        int k = snprintf(msg, sizeof(msg), "can't parse double value: %s", tmp);
        return fail_n(p, c, reply, msg, k < 0 ? 0 : (size_t)k);
    }
    return ST_OK;
}

/* ':' integer value, converted to double; ":-5" is -5 (a cairn extension, resp.h). */
static int read_int_value(RespParser *p, Cur *c, Buf *reply, double *out)
{
    uint64_t u = 0;
    bool neg = false;
    int r = read_int(p, c, reply, &u, &neg);
    if (r == ST_OK)
        *out = neg ? -(double)u : (double)u;
    return r;
}

/* ---- messages ---- */

static int parse_timestamp(RespParser *p, Cur *c, Buf *reply, int64_t *ts_ns)
{
    static const char bad[] = "unexpected parameter timestamp format";
    if (c->pos >= c->n)
        return ST_AGAIN;
    uint8_t t = c->b[c->pos];
    int r;
    if (t == ':') {
        uint64_t u = 0;
        r = read_int(p, c, reply, &u, NULL);
        if (r != ST_OK)
            return r;
        if (u > (uint64_t)INT64_MAX)
            return fail(p, c, reply, bad);
        *ts_ns = (int64_t)u;
        return ST_OK;
    }
    if (t == '+') {
        Slice s;
        r = read_str(p, c, reply, WIN_TS, &s);
        if (r != ST_OK)
            return r;
        /* Akumuli parses a NUL-terminated copy: a NUL byte ends the text. */
        const uint8_t *z = s.n ? memchr(s.p, '\0', s.n) : NULL;
        if (z)
            s.n = (size_t)(z - s.p);
        if (ts_parse_iso(s, ts_ns, NULL) != TS_OK)
            return fail(p, c, reply, bad);
        return ST_OK;
    }
    return fail(p, c, reply, bad);
}

static int parse_values(RespParser *p, Cur *c, Buf *reply, size_t count)
{
    if (c->pos >= c->n)
        return ST_AGAIN;
    uint8_t t = c->b[c->pos];
    int r;
    if (t == ':') {
        if (count != 1)
            return fail(p, c, reply, "array expected (bulk format), integer found");
        r = read_int_value(p, c, reply, &p->values[0]);
        if (r == ST_OK && p->is_event[0]) {
            /* Akumuli parses the message, then the write of a number to an event fails. */
            buf_puts(reply, "-DB bad argument\r\n");
            return die(p, TS_ERR_PROTO);
        }
        return r;
    }
    if (t == '+') {
        if (count != 1)
            return fail(p, c, reply, "array expected (bulk format), string found");
        if (p->is_event[0])
            return read_str(p, c, reply, WIN_EVENT, &p->texts[0]);
        return read_float(p, c, reply, &p->values[0]);
    }
    if (t != '*')
        return fail(p, c, reply, "unexpected parameter value format");
    uint64_t size = 0;
    r = read_int(p, c, reply, &size, NULL);
    if (r != ST_OK)
        return r;
    if (size != count)
        return fail(p, c, reply,
                    size < count ? "wrong array size, more values expected"
                                 : "wrong array size, less values expected");
    for (size_t k = 0; k < count; k++) {
        if (c->pos >= c->n)
            return ST_AGAIN;
        t = c->b[c->pos];
        if (p->is_event[k]) {
            if (t != '+')
                return fail(p, c, reply, "unexpected event format");
            r = read_str(p, c, reply, WIN_EVENT, &p->texts[k]);
        } else if (t == ':') {
            r = read_int_value(p, c, reply, &p->values[k]);
        } else if (t == '+') {
            r = read_float(p, c, reply, &p->values[k]);
        } else {
            return fail(p, c, reply, "unexpected parameter value format");
        }
        if (r != ST_OK)
            return r;
    }
    return ST_OK;
}

/* One data message: name (or dictionary id), timestamp, value(s). Sets *count. */
static int parse_data(RespParser *p, Cur *c, Buf *reply, size_t *count, int64_t *ts_ns)
{
    if (c->pos >= c->n)
        return ST_AGAIN;
    uint8_t t = c->b[c->pos];
    int r;
    if (t == '+') {
        Slice name;
        r = read_str(p, c, reply, WIN_NAME, &name);
        if (r != ST_OK)
            return r;
        if (p->names) {
            const NameSlot *e = names_get(p, p->names, name);
            if (!e)
                return fail(p, c, reply, "invalid series name format");
            *count = e->count;
            load_row(p, &p->names->keys, e->rec_off, e->ref0, *count);
        } else {
            ks_clear(&p->scratch);
            *count = name_to_records(p, name, &p->scratch);
            if (*count == 0)
                return fail(p, c, reply, "invalid series name format");
            load_row(p, &p->scratch, 0, 0, *count);
        }
    } else if (t == ':') {
        uint64_t id = 0;
        r = read_int(p, c, reply, &id, NULL);
        if (r != ST_OK)
            return r;
        const DictSlot *s = dict_find(p, id);
        if (!s)
            return fail(p, c, reply, "invalid series name format");
        *count = s->count;
        load_row(p, &p->dict, s->off, s->ref0, s->count);
    } else {
        return fail(p, c, reply, "unexpected parameter id format");
    }
    for (size_t k = 0; k < *count; k++) {
        p->values[k] = 0.0;
        p->texts[k] = slice_make(NULL, 0);
    }
    r = parse_timestamp(p, c, reply, ts_ns);
    if (r != ST_OK)
        return r;
    return parse_values(p, c, reply, *count);
}

/*
 * One dictionary array: '*' 2k then k pairs of '+' name, ':' id. Pairs are added as they parse;
 * a re-parse after more bytes arrive finds them defined and skips them (redefinition of an id
 * is ignored, as in Akumuli).
 */
static int parse_dict(RespParser *p, Cur *c, Buf *reply)
{
    static const char bad_entry[] = "unexpected series name format";
    uint64_t size = 0;
    int r = read_int(p, c, reply, &size, NULL);
    if (r != ST_OK)
        return r;
    if (size % 2 != 0)
        return fail(p, c, reply, "number of elements in the dictionary should be even");
    for (uint64_t k = 0; k < size; k += 2) {
        if (c->pos >= c->n)
            return ST_AGAIN;
        if (c->b[c->pos] != '+')
            return fail(p, c, reply, bad_entry);
        Slice name;
        r = read_str(p, c, reply, WIN_NAME, &name);
        if (r != ST_OK)
            return r;
        size_t mark = p->dict.recs.n;
        size_t ref_mark = p->dict.nrefs;
        size_t count = name_to_records(p, name, &p->dict);
        if (count == 0)
            return fail(p, c, reply, "invalid series name format");
        uint64_t id = 0;
        if (c->pos >= c->n)
            r = ST_AGAIN;
        else if (c->b[c->pos] != ':')
            r = fail(p, c, reply, bad_entry);
        else
            r = read_int(p, c, reply, &id, NULL);
        if (r != ST_OK || dict_find(p, id)) {
            ks_truncate(&p->dict, mark, ref_mark);
            if (r != ST_OK)
                return r;
            continue;
        }
        if (p->ndict >= p->lim.max_dict_entries || p->dict.recs.n > p->lim.max_dict_bytes) {
            ks_truncate(&p->dict, mark, ref_mark);
            buf_puts(reply, "-ERR dictionary is too large\r\n");
            return die(p, TS_ERR_LIMIT);
        }
        dict_insert(p, id, mark, ref_mark, count);
    }
    return ST_OK;
}

int resp_parse(RespParser *p, const uint8_t *buf, size_t n, RespPointFn fn, void *ctx,
               size_t *consumed, Buf *reply)
{
    size_t pos = 0;
    *consumed = 0;
    if (p->dead_rc != TS_OK)
        return p->dead_rc;
    while (pos < n) {
        Cur c = {buf, n, pos, pos};
        int r;
        if (p->dict_phase && buf[pos] == '*') {
            r = parse_dict(p, &c, reply);
            if (r == ST_AGAIN)
                break;
            if (r == ST_FAIL)
                goto out;
            pos = c.pos;
            continue;
        }
        p->dict_phase = false;
        size_t count = 0;
        int64_t ts_ns = 0;
        r = parse_data(p, &c, reply, &count, &ts_ns);
        if (r == ST_AGAIN)
            break;
        if (r == ST_FAIL)
            goto out;
        pos = c.pos;
        for (size_t k = 0; k < count; k++) {
            int rc =
                fn(ctx, p->keys[k], p->refs[k], ts_ns, p->values[k], p->is_event[k], p->texts[k]);
            if (rc != TS_OK) {
                p->dead_rc = rc;
                goto out;
            }
        }
    }
out:
    *consumed = pos;
    return p->dead_rc;
}
