/*
 * Akumuli JSON query front end (`POST /api/query`): parse, plan, execute, format.
 *
 * The body is parsed with jansson and then checked in the order Akumuli 0.8.80 checks it
 * (QueryResultsPooler::start for `output`, QueryParser::get_query_kind, validate_query,
 * parse_select_query or parse_select_meta_query, parse_processing_topology, and last the
 * "not found" test of Storage::query), so a request with several problems gets the same first
 * error line as from Akumuli. Akumuli reads JSON with boost::property_tree, where a scalar is
 * kept as its text and a node with children has empty text; json_text() gives a jansson value
 * that view, and JsonKids walks "children" the way a ptree does (object members with their
 * keys, array elements with an empty key).
 *
 * Kinds: `select` (numbers), `select-events` (event series: the row value is the event text,
 * `filter` is a regular expression the text must match) and the legacy `meta:names`; the
 * others answer "Query kind `<kind>` is not implemented by cairn yet".
 *
 * Execution: the series come from QuerySource.find (object-form `where`) or from exact
 * canonical names (array-form `where`). `order-by: series` reads one series at a time and emits
 * it before reading the next; `order-by: time` reads every matching series (the source caps the
 * total with TS_ERR_LIMIT) and merges them with a binary heap keyed by (timestamp, series id),
 * ascending, or descending on both for a backward range. The value filter runs before `offset`
 * and `limit`, which count output rows (reference §17). Everything allocated for a request is
 * freed before akumuli_query_run returns; only the response bytes in the caller's Buf remain.
 */
#include "query/akumuli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <regex.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/time.h"

/* Akumuli keeps at most this many tags of a series name (AKU_LIMITS_MAX_TAGS, §3.5). */
#define AKQ_MAX_TAGS 32

/* Longest select-events `filter` regular expression accepted (bounds its compile time). */
#define AKQ_MAX_REGEX 1024
/* Most nodes a `filter` regular expression may expand to (ere_cost): glibc's regcomp copies the
 * operand of `+` and `{m,n}`, so nested repetitions grow its memory exponentially. */
#define AKQ_MAX_REGEX_COST 4096
/* Deepest group nesting accepted in a `filter` regular expression. */
#define AKQ_MAX_REGEX_DEPTH 32

/* Bits of AkqFilter.flags: which bounds of the value filter are set. */
enum { AKQ_F_GT = 1, AKQ_F_LT = 2, AKQ_F_GE = 4, AKQ_F_LE = 8 };

typedef struct AkqFilter {
    unsigned flags; /* AKQ_F_* bits; 0 = no filter */
    double gt;      /* value must be > gt when AKQ_F_GT */
    double lt;      /* value must be < lt when AKQ_F_LT */
    double ge;      /* value must be >= ge when AKQ_F_GE */
    double le;      /* value must be <= le when AKQ_F_LE */
} AkqFilter;

/* One request: its parsed body, output options and row counters. */
typedef struct AkqReq {
    const QuerySource *src; /* borrowed */
    Buf *out;               /* the response body; borrowed */
    Arena arena;            /* texts and arrays living as long as the request */
    json_t *root;           /* parsed body; owned (json_decref) */
    bool csv;               /* CSV rows instead of RESP */
    bool raw_ts;            /* "ts=<ns>" instead of ISO timestamps */
    uint64_t limit;         /* at most this many rows; 0 = no limit (as in Akumuli) */
    uint64_t offset;        /* rows to skip before the first one emitted */
    uint64_t skipped;       /* rows skipped so far, <= offset */
    uint64_t emitted;       /* rows written so far */
    AkqFilter filter;       /* value filter of a select query */
    bool events;            /* a select-events query: rows carry texts */
    bool has_re;            /* select-events `filter`: texts must match 're' */
    regex_t re;             /* compiled when has_re; regfree'd at the end */
    Buf re_text;            /* scratch: the text being matched, NUL-terminated */
} AkqReq;

/* Walks the children of a JSON node as boost::property_tree sees them. */
typedef struct JsonKids {
    json_t *node; /* borrowed */
    void *iter;   /* next member of an object */
    size_t index; /* next element of an array */
} JsonKids;

static const Slice SLICE_EMPTY = {(const uint8_t *)"", 0};

/* ---------------------------------------------------------------- error lines */

/* Append the error line "-<a><s><b>\r\n" and return 'rc'. */
static int fail3(AkqReq *q, int rc, const char *a, Slice s, const char *b)
{
    buf_put_u8(q->out, '-');
    buf_puts(q->out, a);
    if (s.n)
        buf_append(q->out, s.p, s.n);
    buf_puts(q->out, b);
    buf_puts(q->out, "\r\n");
    return rc;
}

static int fail(AkqReq *q, int rc, const char *msg)
{
    return fail3(q, rc, msg, SLICE_EMPTY, "");
}

/* The error line for a failed QuerySource call. */
static int fail_source(AkqReq *q, int rc)
{
    switch (rc) {
    case TS_ERR_LIMIT:
        return fail(q, rc, "query reads more than query.max_points points");
    case TS_ERR_IO:
        return fail(q, rc, "I/O error while reading series data");
    case TS_ERR_CORRUPT:
        return fail(q, rc, "stored series data is corrupt");
    default:
        return fail3(q, rc, "query failed: ", slice_cstr(ts_status_name(rc)), "");
    }
}

/* ---------------------------------------------------------------- JSON as a property tree */

static void kids_init(JsonKids *k, json_t *node)
{
    k->node = node;
    k->index = 0;
    k->iter = json_is_object(node) ? json_object_iter(node) : NULL;
}

/* Next child: an object member with its key, or an array element with an empty key. */
static bool kids_next(JsonKids *k, Slice *key, json_t **val)
{
    if (json_is_object(k->node)) {
        if (!k->iter)
            return false;
        *key = slice_cstr(json_object_iter_key(k->iter));
        *val = json_object_iter_value(k->iter);
        k->iter = json_object_iter_next(k->node, k->iter);
        return true;
    }
    if (json_is_array(k->node) && k->index < json_array_size(k->node)) {
        *key = SLICE_EMPTY;
        *val = json_array_get(k->node, k->index++);
        return true;
    }
    return false;
}

static size_t kids_count(json_t *node)
{
    if (json_is_object(node))
        return json_object_size(node);
    if (json_is_array(node))
        return json_array_size(node);
    return 0;
}

/* Member 'key' of an object node (any bytes, not NUL-terminated), or NULL. */
static json_t *member(json_t *node, Slice key)
{
    JsonKids k;
    Slice name;
    json_t *val;
    if (!json_is_object(node))
        return NULL;
    kids_init(&k, node);
    while (kids_next(&k, &name, &val))
        if (slice_eq(name, key))
            return val;
    return NULL;
}

static json_t *member_cstr(json_t *node, const char *key)
{
    return json_is_object(node) ? json_object_get(node, key) : NULL;
}

/*
 * The text a property tree holds for 'v': a string's bytes, a number printed back (integers
 * exactly, reals with %.17g), "true"/"false"/"null", and "" for an object or array. The Slice
 * is valid while q->root and q->arena live.
 */
static Slice json_text(AkqReq *q, json_t *v)
{
    char tmp[64];
    int len;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return slice_make(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        len = snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        len = snprintf(tmp, sizeof tmp, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        return slice_cstr("true");
    case JSON_FALSE:
        return slice_cstr("false");
    case JSON_NULL:
        return slice_cstr("null");
    default:
        return SLICE_EMPTY;
    }
    if (len <= 0 || (size_t)len >= sizeof tmp)
        return SLICE_EMPTY;
    char *p = arena_alloc(&q->arena, (size_t)len);
    memcpy(p, tmp, (size_t)len);
    return slice_make(p, (size_t)len);
}

static bool slice_eq_nocase(Slice a, const char *b)
{
    size_t n = strlen(b);
    if (a.n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = a.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)b[i])
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- request parsing */

/* Parse the body; on a syntax error append Akumuli's "JSON parsing error" line. */
static int parse_body(AkqReq *q, Slice body)
{
    size_t n = body.n;
    const char *text = n ? (const char *)body.p : "";
    const void *nul = n ? memchr(text, 0, n) : NULL;
    if (nul)
        n = (size_t)((const char *)nul - text);
    json_error_t jerr;
    q->root = json_loadb(n ? text : "", n, JSON_DECODE_ANY, &jerr);
    if (q->root)
        return TS_OK;
    bool blank = true;
    for (size_t i = 0; i < n && blank; i++)
        blank = text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n';
    /* boost says "expected value" for a body holding no value at all. jansson may quote input
       bytes in its text; control bytes are masked so the error stays one line. */
    for (char *c = jerr.text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    buf_printf(q->out, "-JSON parsing error at line %d, %s\r\n", jerr.line < 1 ? 1 : jerr.line,
               blank ? "expected value" : jerr.text);
    return TS_ERR_PROTO;
}

/* The `output` statement; Akumuli checks it before anything else and answers 400. */
static int parse_output(AkqReq *q, int *http_status)
{
    json_t *o = member_cstr(q->root, "output");
    JsonKids k;
    Slice key;
    json_t *v;
    kids_init(&k, o);
    while (kids_next(&k, &key, &v)) {
        if (slice_eq_cstr(key, "timestamp")) {
            Slice t = json_text(q, v);
            if (slice_eq_nocase(t, "iso")) {
                q->raw_ts = false;
            } else if (slice_eq_nocase(t, "raw")) {
                q->raw_ts = true;
            } else {
                *http_status = 400;
                return fail(q, TS_ERR_PROTO, "invalid output statement (timestamp)");
            }
        } else if (slice_eq_cstr(key, "format")) {
            Slice t = json_text(q, v);
            if (slice_eq_nocase(t, "resp")) {
                q->csv = false;
            } else if (slice_eq_nocase(t, "csv")) {
                q->csv = true;
            } else {
                *http_status = 400;
                return fail(q, TS_ERR_PROTO, "invalid output statement (format)");
            }
        }
    }
    return TS_OK;
}

/* validate_query: every top-level key must be one Akumuli knows. */
static int validate_fields(AkqReq *q)
{
    static const char *const allowed[] = {"select",
                                          "aggregate",
                                          "join",
                                          "output",
                                          "order-by",
                                          "group-by",
                                          "group-by-tag",
                                          "pivot-by-tag",
                                          "limit",
                                          "offset",
                                          "range",
                                          "where",
                                          "group-aggregate",
                                          "group-aggregate-join",
                                          "apply",
                                          "eval",
                                          "filter",
                                          "select-events"};
    JsonKids k;
    Slice key;
    json_t *v;
    kids_init(&k, q->root);
    while (kids_next(&k, &key, &v)) {
        bool ok = false;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0] && !ok; i++)
            ok = slice_eq_cstr(key, allowed[i]);
        if (!ok)
            return fail3(q, TS_ERR_PROTO, "Query object contains unexpected field `", key, "`");
    }
    return TS_OK;
}

/* Fields cairn does not implement for select yet: the first grouping field Akumuli would use. */
static int check_grouping(AkqReq *q)
{
    static const char *const fields[] = {"group-by", "pivot-by-tag", "group-by-tag"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = member_cstr(q->root, fields[i]);
        if (!v)
            continue;
        if (kids_count(v) || (json_is_string(v) && json_string_length(v)))
            return fail3(q, TS_ERR_PROTO, "Field `", slice_cstr(fields[i]),
                         "` is not implemented by cairn yet");
        return TS_OK;
    }
    return TS_OK;
}

/* A non-negative integer: a JSON integer or a string of decimal digits. */
static bool parse_count(AkqReq *q, json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return false;
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    Slice t = json_text(q, v);
    if (t.n == 0)
        return false;
    uint64_t r = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (t.p[i] < '0' || t.p[i] > '9')
            return false;
        unsigned d = (unsigned)(t.p[i] - '0');
        if (r > (UINT64_MAX - d) / 10)
            return false;
        r = r * 10 + d;
    }
    *out = r;
    return true;
}

/* parse_processing_topology: `apply`, `limit`, `offset`. */
static int parse_topology(AkqReq *q)
{
    json_t *v = member_cstr(q->root, "apply");
    if (v && kids_count(v))
        return fail(q, TS_ERR_PROTO, "Field `apply` is not implemented by cairn yet");
    v = member_cstr(q->root, "limit");
    if (v && !parse_count(q, v, &q->limit))
        return fail(q, TS_ERR_PROTO,
                    "Query object has invalid `limit` field, a non-negative integer is expected");
    v = member_cstr(q->root, "offset");
    if (v && !parse_count(q, v, &q->offset))
        return fail(q, TS_ERR_PROTO,
                    "Query object has invalid `offset` field, a non-negative integer is expected");
    return TS_OK;
}

/* `range` with Akumuli's exact error texts (parse_range_timestamp). */
static int parse_range(AkqReq *q, int64_t *from_ns, int64_t *to_ns)
{
    json_t *r = member_cstr(q->root, "range");
    bool begin_set = false, end_set = false, error = false;
    Buf msg;
    JsonKids k;
    Slice key;
    json_t *v;
    int rc = TS_OK;
    buf_init(&msg);
    kids_init(&k, r);
    while (kids_next(&k, &key, &v)) {
        bool is_from = slice_eq_cstr(key, "from");
        if (!is_from && !slice_eq_cstr(key, "to"))
            continue;
        Slice t = json_text(q, v);
        TsError e;
        int64_t ts = 0;
        if (ts_parse_iso(t, &ts, &e) == TS_OK) {
            if (is_from) {
                *from_ns = ts;
                begin_set = true;
            } else {
                *to_ns = ts;
                end_set = true;
            }
            continue;
        }
        if (!is_from && !begin_set)
            buf_puts(&msg, ", "); /* sic: Akumuli's separator logic */
        buf_puts(&msg, "can't parse ");
        if (t.n)
            buf_append(&msg, t.p, t.n);
        buf_printf(&msg, " as %s timestamp, %s", is_from ? "begin" : "end", e.msg);
        error = true;
    }
    if (!begin_set || !end_set) {
        if (error)
            rc = fail3(q, TS_ERR_PROTO, "Range field error: ", slice_make(msg.p, msg.n), "");
        else
            rc = fail(q, TS_ERR_PROTO, "Range field is not set");
    }
    buf_deinit(&msg);
    return rc;
}

/* boost::lexical_cast<double>: the whole text is a decimal or inf/nan, no spaces, no hex. */
static bool parse_double_text(Slice t, double *out)
{
    char tmp[128];
    if (t.n == 0 || t.n >= sizeof tmp)
        return false;
    memcpy(tmp, t.p, t.n);
    tmp[t.n] = 0;
    if (tmp[0] == ' ' || (tmp[0] >= '\t' && tmp[0] <= '\r') || strpbrk(tmp, "xX"))
        return false;
    char *end = NULL;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp + t.n || (errno == ERANGE && isinf(d)))
        return false;
    *out = d;
    return true;
}

/* The gt/lt/ge/le members of 'node' into 'f'; false on a value that is not a number. */
static bool filter_bounds(AkqReq *q, json_t *node, AkqFilter *f)
{
    static const char *const names[] = {"gt", "lt", "ge", "le"};
    static const unsigned flags[] = {AKQ_F_GT, AKQ_F_LT, AKQ_F_GE, AKQ_F_LE};
    for (size_t i = 0; i < 4; i++) {
        json_t *item = member_cstr(node, names[i]);
        if (!item)
            continue;
        double d;
        if (!parse_double_text(json_text(q, item), &d))
            return false;
        f->flags |= flags[i];
        if (i == 0)
            f->gt = d;
        else if (i == 1)
            f->lt = d;
        else if (i == 2)
            f->ge = d;
        else
            f->le = d;
    }
    return true;
}

/*
 * `filter` for a one-metric select (parse_filter): form 1 {"<metric>": {bounds}} looked up as
 * a property-tree path (so a dotted metric walks nested objects, as in Akumuli), else form 2
 * {bounds}.
 */
static int parse_filter(AkqReq *q, Slice metric)
{
    json_t *f = member_cstr(q->root, "filter");
    if (!f)
        return TS_OK;
    json_t *node = f;
    size_t start = 0;
    for (size_t i = 0; i <= metric.n && node; i++) {
        if (i == metric.n || metric.p[i] == '.') {
            node = member(node, slice_make(metric.p + start, i - start));
            start = i + 1;
        }
    }
    Buf msg;
    buf_init(&msg);
    bool found = node != NULL, bad = false;
    if (node && !filter_bounds(q, node, &q->filter)) {
        found = false;
        bad = true;
        buf_puts(&msg, "Query object filter field: ");
        buf_append(&msg, metric.p, metric.n);
        buf_puts(&msg, " has bad value, can't parse floating point");
    }
    if (!found && !filter_bounds(q, f, &q->filter)) {
        bad = true;
        buf_puts(&msg, "Query object filter field: ");
        buf_append(&msg, metric.p, metric.n);
        buf_puts(&msg, " has bad value, can't parse floating point");
    }
    int rc = TS_OK;
    if (bad)
        rc = fail3(q, TS_ERR_PROTO, "", slice_make(msg.p, msg.n), "");
    buf_deinit(&msg);
    return rc;
}

/* ---------------------------------------------------------------- series resolution */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void sort_unique(uint64_t *ids, size_t *n)
{
    if (*n < 2)
        return;
    qsort(ids, *n, sizeof *ids, cmp_u64);
    size_t w = 1;
    for (size_t r = 1; r < *n; r++)
        if (ids[r] != ids[w - 1])
            ids[w++] = ids[r];
    *n = w;
}

static Slice tag_key(Slice tag)
{
    const uint8_t *eq = memchr(tag.p, '=', tag.n);
    return slice_make(tag.p, eq ? (size_t)(eq - tag.p) : tag.n);
}

/*
 * Canonical form of a series name (SeriesParser::to_canonical_form, reference §3.5): leading
 * blanks skipped, space-separated tokens ('\' escapes the next byte), the first token is the
 * metric, at least one tag, every tag "key=value" with a non-empty key, at most 32 tags kept,
 * tags sorted stably by key. The result lives in the arena.
 */
static int canon_name(AkqReq *q, Slice raw, Slice *out)
{
    Slice tok[1 + AKQ_MAX_TAGS];
    size_t nt = 0, i = 0;
    while (i < raw.n && (raw.p[i] == ' ' || raw.p[i] == '\t'))
        i++;
    while (i < raw.n) {
        if (raw.p[i] == ' ') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < raw.n && raw.p[i] != ' ')
            i += (raw.p[i] == '\\' && i + 1 < raw.n) ? 2 : 1;
        if (nt < 1 + AKQ_MAX_TAGS)
            tok[nt++] = slice_make(raw.p + start, i - start);
    }
    if (nt < 2)
        return TS_ERR_PROTO;
    for (size_t t = 1; t < nt; t++) {
        const uint8_t *eq = memchr(tok[t].p, '=', tok[t].n);
        if (!eq || eq == tok[t].p)
            return TS_ERR_PROTO;
    }
    for (size_t a = 2; a < nt; a++) { /* insertion sort: stable, at most 32 tags */
        Slice cur = tok[a];
        size_t b = a;
        while (b > 1 && slice_cmp(tag_key(tok[b - 1]), tag_key(cur)) > 0) {
            tok[b] = tok[b - 1];
            b--;
        }
        tok[b] = cur;
    }
    size_t len = nt - 1;
    for (size_t t = 0; t < nt; t++)
        len += tok[t].n;
    uint8_t *p = arena_alloc(&q->arena, len);
    size_t w = 0;
    for (size_t t = 0; t < nt; t++) {
        if (t)
            p[w++] = ' ';
        memcpy(p + w, tok[t].p, tok[t].n);
        w += tok[t].n;
    }
    *out = slice_make(p, w);
    return TS_OK;
}

/* One array-form `where` entry: the canonical name of "<metric> k=v k=v " (Akumuli's string). */
static int where_entry_name(AkqReq *q, Slice metric, json_t *entry, Slice *out)
{
    Buf raw;
    JsonKids k;
    Slice key;
    json_t *v;
    buf_init(&raw);
    if (metric.n)
        buf_append(&raw, metric.p, metric.n);
    buf_put_u8(&raw, ' ');
    kids_init(&k, entry);
    while (kids_next(&k, &key, &v)) {
        Slice t = json_text(q, v);
        if (key.n)
            buf_append(&raw, key.p, key.n);
        buf_put_u8(&raw, '=');
        if (t.n)
            buf_append(&raw, t.p, t.n);
        buf_put_u8(&raw, ' ');
    }
    int rc = canon_name(q, slice_make(raw.p, raw.n), out);
    buf_deinit(&raw);
    return rc;
}

/* Append the ids of the series whose key is exactly 'name' to ids[*n..] (grows *ids). */
static int find_exact(AkqReq *q, Slice name, uint64_t **ids, size_t *n, size_t *cap)
{
    QueryTagFilter f[AKQ_MAX_TAGS];
    Slice vals[AKQ_MAX_TAGS];
    size_t nf = 0, i = 0;
    while (i < name.n && name.p[i] != ' ')
        i += (name.p[i] == '\\' && i + 1 < name.n) ? 2 : 1;
    Slice metric = slice_make(name.p, i);
    /* Escaped bytes may be stored unescaped by the index: then narrow by metric only. */
    bool plain = memchr(name.p, '\\', name.n) == NULL;
    while (plain && i < name.n && nf < AKQ_MAX_TAGS) {
        size_t start = ++i;
        while (i < name.n && name.p[i] != ' ')
            i++;
        Slice tag = slice_make(name.p + start, i - start);
        Slice key = tag_key(tag);
        vals[nf] = slice_make(tag.p + key.n + 1, tag.n - key.n - 1);
        f[nf].key = key;
        f[nf].values = &vals[nf];
        f[nf].n_values = 1;
        nf++;
    }
    uint64_t *cand = NULL;
    size_t ncand = 0;
    int rc = q->src->find(q->src->ctx, metric, f, nf, &cand, &ncand);
    for (size_t c = 0; rc == TS_OK && c < ncand; c++) {
        Slice key;
        if (q->src->key(q->src->ctx, cand[c], &key) != TS_OK || !slice_eq(key, name))
            continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *ids = ts_realloc(*ids, *cap * sizeof **ids);
        }
        (*ids)[(*n)++] = cand[c];
    }
    ts_free(cand);
    return rc;
}

/*
 * Series ids, ascending and unique, selected by a metric and the `where` node (Akumuli's
 * parse_where_clause + SeriesRetreiver). Without a metric (metric_set false) every series.
 * Object form: tags AND-ed, list values OR-ed; array form (or a member with an empty key):
 * exact series names. As in Akumuli, tag conditions and exact names do not mix (the later kind
 * is ignored), a repeated tag keeps its first condition, and entries that do not form a valid
 * series name are ignored. Returns TS_OK (*n may be 0), TS_ERR_NOTFOUND when exact names match
 * nothing, or the source's status. *ids is caller-owned (ts_free).
 */
static int resolve_series(AkqReq *q, bool metric_set, Slice metric, json_t *where, uint64_t **ids,
                          size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!metric_set)
        return q->src->find(q->src->ctx, SLICE_EMPTY, NULL, 0, ids, n);
    if (!where && metric.n == 0)
        return TS_OK;
    if (!where) {
        int rc = q->src->find(q->src->ctx, metric, NULL, 0, ids, n);
        if (rc == TS_OK)
            sort_unique(*ids, n);
        return rc;
    }
    size_t cap = kids_count(where) + 1;
    QueryTagFilter *tags = arena_alloc(&q->arena, cap * sizeof *tags);
    Slice *names = arena_alloc(&q->arena, cap * sizeof *names);
    size_t ntags = 0, nnames = 0;
    JsonKids k;
    Slice key;
    json_t *v;
    kids_init(&k, where);
    while (kids_next(&k, &key, &v)) {
        if (key.n == 0) {
            Slice name;
            if (ntags == 0 && where_entry_name(q, metric, v, &name) == TS_OK)
                names[nnames++] = name;
            continue;
        }
        bool dup = nnames > 0;
        for (size_t j = 0; j < ntags && !dup; j++)
            dup = slice_eq(tags[j].key, key);
        if (dup)
            continue;
        size_t nv = kids_count(v);
        Slice *vals = arena_alloc(&q->arena, (nv ? nv : 1) * sizeof *vals);
        if (nv) {
            JsonKids kv;
            Slice vkey;
            json_t *item;
            size_t w = 0;
            kids_init(&kv, v);
            while (kids_next(&kv, &vkey, &item))
                vals[w++] = json_text(q, item);
        } else {
            vals[0] = json_text(q, v);
            nv = 1;
        }
        tags[ntags].key = key;
        tags[ntags].values = vals;
        tags[ntags].n_values = nv;
        ntags++;
    }
    if (nnames) {
        size_t idcap = 0;
        for (size_t i = 0; i < nnames; i++) {
            int rc = find_exact(q, names[i], ids, n, &idcap);
            if (rc != TS_OK)
                return rc;
        }
        sort_unique(*ids, n);
        return *n ? TS_OK : TS_ERR_NOTFOUND;
    }
    if (metric.n == 0) /* "meta:names:" names no metric, so nothing matches */
        return TS_OK;
    int rc = q->src->find(q->src->ctx, metric, tags, ntags, ids, n);
    if (rc == TS_OK)
        sort_unique(*ids, n);
    return rc;
}

/* The series name for output: its key, or "id=<n>" as Akumuli prints for an unknown id. */
static Slice series_name(AkqReq *q, uint64_t id)
{
    Slice key;
    if (q->src->key(q->src->ctx, id, &key) == TS_OK)
        return key;
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "id=%" PRIu64, id);
    char *p = arena_alloc(&q->arena, (size_t)len);
    memcpy(p, tmp, (size_t)len);
    return slice_make(p, (size_t)len);
}

/* ---------------------------------------------------------------- output */

static bool filter_pass(const AkqFilter *f, double v)
{
    if ((f->flags & AKQ_F_GT) && !(v > f->gt))
        return false;
    if ((f->flags & AKQ_F_LT) && !(v < f->lt))
        return false;
    if ((f->flags & AKQ_F_GE) && !(v >= f->ge))
        return false;
    if ((f->flags & AKQ_F_LE) && !(v <= f->le))
        return false;
    return true;
}

/* Offset/limit bookkeeping: true if this row is to be written. */
static bool row_admit(AkqReq *q)
{
    if (q->skipped < q->offset) {
        q->skipped++;
        return false;
    }
    return true;
}

static bool row_more(const AkqReq *q)
{
    return q->limit == 0 || q->emitted < q->limit;
}

/* Write one row (name, timestamp, value text) after offset/limit; false once the limit is
 * reached. */
static bool emit_row(AkqReq *q, Slice name, int64_t ts_ns, const char *val, size_t val_len)
{
    if (!row_admit(q))
        return true;
    char ts[48];
    size_t ts_len;
    if (q->raw_ts) {
        int len = snprintf(ts, sizeof ts, "ts=%" PRId64, ts_ns);
        ts_len = len > 0 ? (size_t)len : 0;
    } else {
        ts_len = ts_format_iso(ts_ns, ts);
    }
    Buf *o = q->out;
    buf_reserve(o, name.n + ts_len + val_len + 9);
    if (q->csv) {
        buf_append(o, name.p, name.n);
        buf_put_u8(o, ',');
        buf_append(o, ts, ts_len);
        buf_put_u8(o, ',');
        buf_append(o, val, val_len);
        buf_put_u8(o, '\n');
    } else {
        buf_put_u8(o, '+');
        buf_append(o, name.p, name.n);
        buf_append(o, "\r\n+", 3);
        buf_append(o, ts, ts_len);
        buf_append(o, "\r\n+", 3);
        buf_append(o, val, val_len);
        buf_append(o, "\r\n", 2);
    }
    q->emitted++;
    return row_more(q);
}

/* One data row of a select; returns false once the limit is reached. */
static bool emit_point(AkqReq *q, Slice name, int64_t ts_ns, double value)
{
    if (q->filter.flags && !filter_pass(&q->filter, value))
        return true;
    char val[48];
    int vlen = snprintf(val, sizeof val, "%.17g", value);
    return emit_row(q, name, ts_ns, val, vlen > 0 ? (size_t)vlen : 0);
}

/* One event row (the text is the value); regex `filter` first. False once the limit is
 * reached. */
static bool emit_event(AkqReq *q, Slice name, int64_t ts_ns, Slice text)
{
    if (q->has_re) {
        /* A NUL-terminated copy (a text with a NUL byte is matched up to it). */
        buf_clear(&q->re_text);
        buf_append(&q->re_text, text.p, text.n);
        buf_put_u8(&q->re_text, 0);
        if (regexec(&q->re, (const char *)q->re_text.p, 0, NULL, 0) != 0)
            return true;
    }
    return emit_row(q, name, ts_ns, (const char *)text.p, text.n);
}

/* One meta:names row; returns false once the limit is reached. */
static bool emit_name(AkqReq *q, Slice name)
{
    if (!row_admit(q))
        return true;
    if (!q->csv)
        buf_put_u8(q->out, '+');
    buf_append(q->out, name.p, name.n);
    buf_puts(q->out, q->csv ? "\n" : "\r\n");
    q->emitted++;
    return row_more(q);
}

/* ---------------------------------------------------------------- execution */

/* The rows of one series as read: points, or events for a select-events query. */
typedef struct AkqRows {
    PointVec pv;
    EventVec ev;
} AkqRows;

static void rows_init(AkqRows *r)
{
    point_vec_init(&r->pv);
    event_vec_init(&r->ev);
}

static void rows_deinit(AkqRows *r)
{
    point_vec_deinit(&r->pv);
    event_vec_deinit(&r->ev);
}

static size_t rows_n(const AkqReq *q, const AkqRows *r)
{
    return q->events ? r->ev.n : r->pv.n;
}

static int64_t rows_ts(const AkqReq *q, const AkqRows *r, size_t i)
{
    return q->events ? r->ev.ts_ns[i] : r->pv.ts_ns[i];
}

/* Replace r with series id's rows in [lo, hi). */
static int rows_read(AkqReq *q, uint64_t id, int64_t lo, int64_t hi, AkqRows *r)
{
    if (q->events) {
        event_vec_clear(&r->ev);
        return q->src->read_events(q->src->ctx, id, lo, hi, &r->ev);
    }
    point_vec_clear(&r->pv);
    return q->src->read(q->src->ctx, id, lo, hi, &r->pv);
}

/* Row i of r; false once the limit is reached. */
static bool emit_at(AkqReq *q, Slice name, const AkqRows *r, size_t i)
{
    if (q->events)
        return emit_event(q, name, r->ev.ts_ns[i], event_vec_text(&r->ev, i));
    return emit_point(q, name, r->pv.ts_ns[i], r->pv.values[i]);
}

static int exec_by_series(AkqReq *q, const uint64_t *ids, size_t n, int64_t lo, int64_t hi,
                          bool forward)
{
    AkqRows r;
    int rc = TS_OK;
    rows_init(&r);
    for (size_t i = 0; i < n; i++) {
        Slice name = series_name(q, ids[i]);
        rc = rows_read(q, ids[i], lo, hi, &r);
        if (rc != TS_OK) {
            fail_source(q, rc);
            break;
        }
        size_t k = rows_n(q, &r), j;
        for (j = 0; j < k; j++)
            if (!emit_at(q, name, &r, forward ? j : k - 1 - j))
                break;
        if (j < k)
            break;
    }
    rows_deinit(&r);
    return rc;
}

/* Merge state for order-by time: series i's next row is rows[i] at index next[i] (forward) or
   next[i] - 1 (backward). */
typedef struct AkqMerge {
    const AkqReq *q;
    AkqRows *rows;
    size_t *next;
    size_t *heap; /* series indices; heap[0] is the next row */
    size_t nheap;
    bool forward;
} AkqMerge;

static int64_t merge_ts(const AkqMerge *m, size_t s)
{
    return rows_ts(m->q, &m->rows[s], m->forward ? m->next[s] : m->next[s] - 1);
}

/* Row order: (ts, id) ascending forward, descending on both backward; ids ascend with index. */
static bool merge_before(const AkqMerge *m, size_t a, size_t b)
{
    int64_t ta = merge_ts(m, a), tb = merge_ts(m, b);
    if (m->forward)
        return ta < tb || (ta == tb && a < b);
    return ta > tb || (ta == tb && a > b);
}

static void merge_sift(AkqMerge *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < m->nheap && merge_before(m, m->heap[l], m->heap[best]))
            best = l;
        if (l + 1 < m->nheap && merge_before(m, m->heap[l + 1], m->heap[best]))
            best = l + 1;
        if (best == i)
            return;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[best];
        m->heap[best] = t;
        i = best;
    }
}

static int exec_by_time(AkqReq *q, const uint64_t *ids, size_t n, int64_t lo, int64_t hi,
                        bool forward)
{
    AkqMerge m;
    Slice *names = ts_calloc(n, sizeof *names);
    int rc = TS_OK;
    m.q = q;
    m.rows = ts_calloc(n, sizeof *m.rows);
    m.next = ts_calloc(n, sizeof *m.next);
    m.heap = ts_calloc(n, sizeof *m.heap);
    m.nheap = 0;
    m.forward = forward;
    for (size_t i = 0; i < n; i++)
        rows_init(&m.rows[i]);
    for (size_t i = 0; i < n; i++) {
        rc = rows_read(q, ids[i], lo, hi, &m.rows[i]);
        if (rc != TS_OK) {
            fail_source(q, rc);
            goto out;
        }
        if (rows_n(q, &m.rows[i]) == 0)
            continue;
        names[i] = series_name(q, ids[i]);
        m.next[i] = forward ? 0 : rows_n(q, &m.rows[i]);
        m.heap[m.nheap++] = i;
    }
    for (size_t i = m.nheap / 2; i-- > 0;)
        merge_sift(&m, i);
    while (m.nheap) {
        size_t s = m.heap[0];
        size_t j = forward ? m.next[s] : m.next[s] - 1;
        if (!emit_at(q, names[s], &m.rows[s], j))
            break;
        bool done;
        if (forward)
            done = ++m.next[s] == rows_n(q, &m.rows[s]);
        else
            done = --m.next[s] == 0;
        if (done)
            m.heap[0] = m.heap[--m.nheap];
        merge_sift(&m, 0);
    }
out:
    for (size_t i = 0; i < n; i++)
        rows_deinit(&m.rows[i]);
    ts_free(m.rows);
    ts_free(m.next);
    ts_free(m.heap);
    ts_free(names);
    return rc;
}

/*
 * An upper bound of the nodes glibc's regcomp builds for the extended regular expression p[0..n)
 * (every atom 1; a group the sum of its branches; x+ two copies of x, x{m,n} max(m, n, 1)
 * copies), saturating at AKQ_MAX_REGEX_COST + 1. Back-references (\1..\9, a glibc extension
 * whose matching can take exponential time) and groups nested deeper than AKQ_MAX_REGEX_DEPTH
 * cost the maximum too. Syntax errors are left to regcomp.
 */
static uint64_t ere_cost(const char *p, size_t n)
{
    const uint64_t cap = AKQ_MAX_REGEX_COST + 1;
    uint64_t total[AKQ_MAX_REGEX_DEPTH + 1] = {0}; /* per open group: nodes so far */
    uint64_t last = 0;                             /* nodes of the atom a quantifier applies to */
    size_t depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        uint64_t copies = 0; /* > 0: a quantifier making that many copies of 'last' */
        if (c == '\\') {
            if (i + 1 < n && p[i + 1] >= '1' && p[i + 1] <= '9')
                return cap;
            i++;
            last = 1;
        } else if (c == '[') { /* a bracket expression is one node: skip to its ']' */
            size_t j = i + 1;
            if (j < n && p[j] == '^')
                j++;
            if (j < n && p[j] == ']')
                j++;
            while (j < n && p[j] != ']') {
                if (p[j] == '[' && j + 1 < n && strchr(":.=", p[j + 1])) {
                    char delim = p[j + 1];
                    size_t k = j + 2;
                    while (k + 1 < n && !(p[k] == delim && p[k + 1] == ']'))
                        k++;
                    j = k + 1 < n ? k + 1 : j;
                }
                j++;
            }
            i = j;
            last = 1;
        } else if (c == '(') {
            if (depth == AKQ_MAX_REGEX_DEPTH)
                return cap;
            total[++depth] = 0;
            last = 0;
            continue;
        } else if (c == ')' && depth > 0) {
            last = total[depth--];
        } else if (c == '|') {
            last = 0;
            continue;
        } else if (c == '*' || c == '?') {
            continue;
        } else if (c == '+') {
            copies = 2;
        } else if (c == '{') {
            uint64_t m = 0, k = 0;
            size_t j = i + 1;
            while (j < n && p[j] >= '0' && p[j] <= '9' && m < cap)
                m = m * 10 + (uint64_t)(p[j++] - '0');
            if (j < n && p[j] == ',')
                for (j++; j < n && p[j] >= '0' && p[j] <= '9' && k < cap; j++)
                    k = k * 10 + (uint64_t)(p[j] - '0');
            if (j < n && p[j] == '}') {
                copies = m > k ? m : k;
                copies = copies ? copies : 1;
                i = j;
            } else {
                last = 1; /* not a bound: a literal '{' */
            }
        } else {
            last = 1;
        }
        /* An atom adds 'last' nodes; a quantifier adds copies - 1 more of the atom before it. */
        uint64_t add = copies ? last * (copies - 1) : last;
        if (copies)
            last = last * copies > cap ? cap : last * copies;
        total[depth] = total[depth] + add > cap ? cap : total[depth] + add;
        if (total[depth] >= cap || last >= cap)
            return cap;
    }
    return total[0];
}

/* select-events `filter`: a regular expression the event text must match somewhere (Akumuli
 * uses std::regex, ECMAScript; cairn POSIX extended regular expressions, which agree on the
 * common syntax: literals, ., [], *, +, ?, {m,n}, |, (), ^, $). */
static int parse_event_filter(AkqReq *q)
{
    json_t *f = member_cstr(q->root, "filter");
    if (!f)
        return TS_OK;
    Slice t = json_text(q, f);
    if (kids_count(f))
        return fail(q, TS_ERR_PROTO, "Query object has ill-formed `filter` field");
    if (t.n > AKQ_MAX_REGEX)
        return fail(q, TS_ERR_PROTO, "Regular expression in `filter` field is too long");
    if (ere_cost((const char *)t.p, t.n) > AKQ_MAX_REGEX_COST)
        return fail(q, TS_ERR_PROTO, "Regular expression in `filter` field is too complex");
    char *pat = arena_alloc(&q->arena, t.n + 1);
    memcpy(pat, t.p, t.n);
    pat[t.n] = '\0';
    int e = regcomp(&q->re, pat, REG_EXTENDED);
    if (e != 0) {
        char msg[128];
        regerror(e, &q->re, msg, sizeof msg);
        return fail3(q, TS_ERR_PROTO, "Invalid regular expression in `filter` field: ",
                     slice_cstr(msg), "");
    }
    q->has_re = true;
    return TS_OK;
}

/* `select` on a metric, or `select-events` on an event name (q->events): parse_select_query
 * order of checks, then the scan. */
static int run_select(AkqReq *q, Slice metric)
{
    int rc = check_grouping(q);
    if (rc != TS_OK)
        return rc;
    bool by_series = false;
    json_t *ob = member_cstr(q->root, "order-by");
    if (ob) {
        Slice t = json_text(q, ob);
        if (slice_eq_cstr(t, "series"))
            by_series = true;
        else if (!slice_eq_cstr(t, "time"))
            return fail3(q, TS_ERR_PROTO, "Unexpected `order-by` field value `", t, "`");
    }
    uint64_t *ids = NULL;
    size_t n = 0;
    int64_t from = 0, to = 0, lo, hi;
    bool forward;
    rc = resolve_series(q, true, metric, member_cstr(q->root, "where"), &ids, &n);
    if (rc == TS_ERR_NOTFOUND) {
        fail(q, rc, "not found");
        goto out;
    }
    if (rc != TS_OK) {
        fail_source(q, rc);
        goto out;
    }
    if ((rc = parse_range(q, &from, &to)) != TS_OK ||
        (rc = q->events ? parse_event_filter(q) : parse_filter(q, metric)) != TS_OK ||
        (rc = parse_topology(q)) != TS_OK)
        goto out;
    if (n == 0) {
        rc = fail(q, TS_ERR_NOTFOUND, "not found");
        goto out;
    }
    if (from == to)
        goto out;
    forward = from < to;
    /* Backward returns to < ts <= from, i.e. the half-open read window (to, from]. */
    lo = forward ? from : to + 1;
    hi = forward ? to : (from == INT64_MAX ? INT64_MAX : from + 1);
    if (by_series || n == 1)
        rc = exec_by_series(q, ids, n, lo, hi, forward);
    else
        rc = exec_by_time(q, ids, n, lo, hi, forward);
out:
    ts_free(ids);
    return rc;
}

/* Legacy `meta:names[:<metric>]` listing (parse_select_meta_query). */
static int run_meta(AkqReq *q, Slice name)
{
    static const char prefix[] = "meta:names:";
    const size_t plen = sizeof prefix - 1;
    bool metric_set = name.n > 10;
    Slice metric = name;
    if (metric_set) { /* boost::erase_first(name, "meta:names:") */
        for (size_t i = 0; i + plen <= name.n; i++) {
            if (memcmp(name.p + i, prefix, plen) != 0)
                continue;
            uint8_t *p = arena_alloc(&q->arena, name.n - plen + 1);
            memcpy(p, name.p, i);
            memcpy(p + i, name.p + i + plen, name.n - i - plen);
            metric = slice_make(p, name.n - plen);
            break;
        }
    }
    json_t *where = member_cstr(q->root, "where");
    if (where && !metric_set)
        return fail(q, TS_ERR_PROTO, "Invalid where clause, metric is not set");
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc = resolve_series(q, metric_set, metric, where, &ids, &n);
    if (rc == TS_ERR_NOTFOUND)
        fail(q, rc, "not found");
    else if (rc != TS_OK)
        fail_source(q, rc);
    else
        rc = parse_topology(q);
    for (size_t i = 0; rc == TS_OK && i < n; i++)
        if (!emit_name(q, series_name(q, ids[i])))
            break;
    ts_free(ids);
    return rc;
}

/* Kind detection (get_query_kind), then the kind's own checks. */
static int run_query(AkqReq *q)
{
    static const char *const kinds[] = {
        "select", "aggregate", "join", "group-aggregate", "group-aggregate-join", "select-events"};
    JsonKids k;
    Slice key;
    json_t *v, *sel = NULL;
    bool found = false;
    kids_init(&k, q->root);
    while (!found && kids_next(&k, &key, &v)) {
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && !found; i++) {
            found = slice_eq_cstr(key, kinds[i]);
            if (found)
                sel = v;
        }
    }
    if (!found)
        return fail(q, TS_ERR_PROTO,
                    "Query object type is undefined. One of the following "
                    "fields should be added: select, aggregate, join, "
                    "group-aggregate");
    bool events = slice_eq_cstr(key, "select-events");
    if (!slice_eq_cstr(key, "select") && !events)
        return fail3(q, TS_ERR_PROTO, "Query kind `", key, "` is not implemented by cairn yet");
    if (kids_count(sel))
        return fail(q, TS_ERR_PROTO,
                    events ? "Query object doesn't have a 'select-events' field"
                           : "Query object doesn't have a 'select' field");
    Slice name = json_text(q, sel);
    if (events) {
        if (name.n == 0 || name.p[0] != '!')
            return fail(q, TS_ERR_PROTO, "Event name should start with '!' symbol");
        int rc = validate_fields(q);
        if (rc != TS_OK)
            return rc;
        q->events = true;
        return run_select(q, name);
    }
    if (name.n == 0 || name.p[0] == '!')
        return fail(q, TS_ERR_PROTO, "Metric name can't be empty or start with '!' symbol");
    int rc = validate_fields(q);
    if (rc != TS_OK)
        return rc;
    if (name.n >= 10 && memcmp(name.p, "meta:names", 10) == 0)
        return run_meta(q, name);
    return run_select(q, name);
}

int akumuli_query_run(const QuerySource *src, Slice body, Buf *out, int *http_status)
{
    AkqReq q;
    memset(&q, 0, sizeof q);
    q.src = src;
    q.out = out;
    arena_init(&q.arena, 0);
    *http_status = 200;
    int rc = parse_body(&q, body);
    if (rc == TS_OK)
        rc = parse_output(&q, http_status);
    if (rc == TS_OK)
        rc = run_query(&q);
    json_decref(q.root);
    if (q.has_re)
        regfree(&q.re);
    buf_deinit(&q.re_text);
    arena_deinit(&q.arena);
    return rc;
}
