/*
 * Canonical series keys: building them from a metric and tags, splitting them back, and showing
 * them to Graphite.
 *
 * Every protocol parser (Graphite plaintext and pickle, RESP, OpenTSDB) ends by calling
 * series_key_build, so a series written through any protocol has one key, and the series index
 * maps that key to an id. The layout is described in series_key.h. The functions are pure and
 * never allocate on their own: sorting uses an index array on the stack (at most
 * SERIES_KEY_TAGS_MAX entries) and comparisons walk the escaped or unescaped form of a component
 * byte by byte instead of materialising it, so building a key costs one Buf append.
 */
#include "core/series_key.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* True when byte i of 's' is a space that separates components (not preceded by '\'). */
static bool is_bare_space(const uint8_t *p, size_t i)
{
    return p[i] == ' ' && (i == 0 || p[i - 1] != '\\');
}

static bool ends_with_backslash(Slice s)
{
    return s.n > 0 && s.p[s.n - 1] == '\\';
}

/* Length of 's' once every bare space is written as "\ ". */
static size_t escaped_len(Slice s)
{
    size_t n = s.n;
    for (size_t i = 0; i < s.n; i++)
        if (is_bare_space(s.p, i))
            n++;
    return n;
}

static void append_escaped(Buf *out, Slice s)
{
    size_t start = 0;
    if (s.n == 0)
        return;
    for (size_t i = 0; i < s.n; i++) {
        if (!is_bare_space(s.p, i))
            continue;
        buf_append(out, s.p + start, i - start);
        buf_put_u8(out, '\\');
        start = i; /* the space itself goes out with the next run */
    }
    buf_append(out, s.p + start, s.n - start);
}

static void append_unescaped(Buf *out, Slice s)
{
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] == '\\' && i + 1 < s.n && s.p[i + 1] == ' ')
            continue;
        buf_put_u8(out, s.p[i]);
    }
}

/* Walks the escaped form of a component; next() yields a byte or -1 at the end. */
typedef struct EscIter {
    Slice s;
    size_t i;     /* next input byte */
    bool pending; /* a '\' was yielded for the bare space at i; the space comes next */
} EscIter;

static int esc_next(EscIter *it)
{
    if (it->pending) {
        it->pending = false;
        it->i++;
        return ' ';
    }
    if (it->i >= it->s.n)
        return -1;
    if (is_bare_space(it->s.p, it->i)) {
        it->pending = true;
        return '\\';
    }
    return it->s.p[it->i++];
}

/* Bytewise comparison of the escaped forms of two components; a prefix sorts first. */
static int cmp_escaped(Slice a, Slice b)
{
    EscIter ia = {a, 0, false};
    EscIter ib = {b, 0, false};
    for (;;) {
        int ca = esc_next(&ia);
        int cb = esc_next(&ib);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca < 0)
            return 0;
    }
}

/* Walks the unescaped "key=value" string of a tag; next() yields a byte or -1 at the end. */
typedef struct TagIter {
    const SeriesTag *t;
    int part; /* 0: in key, 1: '=' is next, 2: in value */
    size_t i; /* next byte of the current part */
} TagIter;

static int tag_next(TagIter *it)
{
    for (;;) {
        if (it->part == 1) {
            it->part = 2;
            it->i = 0;
            return '=';
        }
        Slice s = it->part == 0 ? it->t->key : it->t->value;
        if (it->i >= s.n) {
            if (it->part == 0) {
                it->part = 1;
                continue;
            }
            return -1;
        }
        uint8_t c = s.p[it->i++];
        if (c == '\\' && it->i < s.n && s.p[it->i] == ' ') {
            c = ' ';
            it->i++;
        }
        return c;
    }
}

static int cmp_graphite_tag(const SeriesTag *a, const SeriesTag *b)
{
    TagIter ia = {a, 0, 0};
    TagIter ib = {b, 0, 0};
    for (;;) {
        int ca = tag_next(&ia);
        int cb = tag_next(&ib);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca < 0)
            return 0;
    }
}

/* Stable insertion sort of idx[0..n) by escaped tag key. n is small (tags of one series). */
static void sort_by_key(const SeriesTag *tags, uint16_t *idx, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint16_t cur = idx[i];
        size_t j = i;
        while (j > 0 && cmp_escaped(tags[idx[j - 1]].key, tags[cur].key) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = cur;
    }
}

/* Stable insertion sort of idx[0..n) by the unescaped "k=v" strings (Graphite's order). */
static void sort_by_graphite(const SeriesTag *tags, uint16_t *idx, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint16_t cur = idx[i];
        size_t j = i;
        while (j > 0 && cmp_graphite_tag(&tags[idx[j - 1]], &tags[cur]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = cur;
    }
}

int series_key_build(Slice metric, const SeriesTag *tags, size_t ntags, size_t max_tags,
                     size_t max_bytes, Buf *out, TsError *err)
{
    uint16_t idx[SERIES_KEY_TAGS_MAX];
    size_t lim = max_tags < SERIES_KEY_TAGS_MAX ? max_tags : SERIES_KEY_TAGS_MAX;

    if (metric.n == 0)
        return ts_error(err, TS_ERR_PROTO, 0, "empty metric name");
    if (ntags > lim)
        return ts_error(err, TS_ERR_LIMIT, 0, "too many tags: %zu (max %zu)", ntags, lim);
    if (ntags > 0 && ends_with_backslash(metric))
        return ts_error(err, TS_ERR_PROTO, 0, "metric name of a tagged series ends with '\\'");

    size_t total = escaped_len(metric);
    for (size_t i = 0; i < ntags; i++) {
        const SeriesTag *t = &tags[i];
        if (t->key.n == 0)
            return ts_error(err, TS_ERR_PROTO, 0, "empty tag key");
        if (memchr(t->key.p, '=', t->key.n))
            return ts_error(err, TS_ERR_PROTO, 0, "tag key contains '='");
        if (ends_with_backslash(t->value))
            return ts_error(err, TS_ERR_PROTO, 0, "tag value ends with '\\'");
        total += 2 + escaped_len(t->key) + escaped_len(t->value);
        idx[i] = (uint16_t)i;
    }
    if (total > max_bytes)
        return ts_error(err, TS_ERR_LIMIT, 0, "series key too long: %zu bytes (max %zu)", total,
                        max_bytes);

    sort_by_key(tags, idx, ntags);
    buf_reserve(out, total);
    append_escaped(out, metric);
    for (size_t i = 0; i < ntags; i++) {
        const SeriesTag *t = &tags[idx[i]];
        buf_put_u8(out, ' ');
        append_escaped(out, t->key);
        buf_put_u8(out, '=');
        append_escaped(out, t->value);
    }
    return TS_OK;
}

int series_key_split(Slice key, Slice *metric, SeriesTag *tags, size_t cap, size_t *ntags,
                     TsError *err)
{
    size_t count = 0;
    size_t start = 0;
    bool first = true;

    *ntags = 0;
    if (key.n == 0)
        return ts_error(err, TS_ERR_PROTO, 0, "empty series key");
    for (size_t i = 0; i <= key.n; i++) {
        if (i < key.n && !is_bare_space(key.p, i))
            continue;
        Slice tok = slice_make(key.p + start, i - start);
        if (tok.n == 0)
            return ts_error(err, TS_ERR_PROTO, start, "empty %s in series key",
                            first ? "metric" : "tag");
        if (first) {
            *metric = tok;
            first = false;
        } else {
            const uint8_t *eq = memchr(tok.p, '=', tok.n);
            if (!eq)
                return ts_error(err, TS_ERR_PROTO, start, "tag without '=' in series key");
            if (eq == tok.p)
                return ts_error(err, TS_ERR_PROTO, start, "empty tag key in series key");
            if (count == cap)
                return ts_error(err, TS_ERR_LIMIT, start, "more than %zu tags in series key", cap);
            tags[count].key = slice_make(tok.p, (size_t)(eq - tok.p));
            tags[count].value = slice_make(eq + 1, tok.n - tags[count].key.n - 1);
            count++;
        }
        start = i + 1;
    }
    *ntags = count;
    return TS_OK;
}

void series_key_to_graphite(Slice key, Buf *out)
{
    SeriesTag tags[SERIES_KEY_TAGS_MAX];
    uint16_t idx[SERIES_KEY_TAGS_MAX];
    Slice metric;
    size_t ntags = 0;

    if (series_key_split(key, &metric, tags, SERIES_KEY_TAGS_MAX, &ntags, NULL) != TS_OK ||
        ntags == 0) {
        buf_append(out, key.p, key.n);
        return;
    }
    for (size_t i = 0; i < ntags; i++)
        idx[i] = (uint16_t)i;
    sort_by_graphite(tags, idx, ntags);
    append_unescaped(out, metric);
    for (size_t i = 0; i < ntags; i++) {
        buf_put_u8(out, ';');
        append_unescaped(out, tags[idx[i]].key);
        buf_put_u8(out, '=');
        append_unescaped(out, tags[idx[i]].value);
    }
}
