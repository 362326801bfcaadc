/*
 * Graphite plaintext lines and Graphite metric paths.
 *
 * graphite_line_parse turns one line of the plaintext protocol into (name, value, timestamp)
 * the way carbon's MetricLineReceiver does: split on whitespace, Python float() for the numbers,
 * NaN values dropped, int(ts) == -1 meaning now. graphite_name_to_key turns the name (from a
 * plaintext line or a pickle tuple) into cairn's canonical series key, validating tagged names
 * with carbon's TaggedSeries rules so that the same names are accepted and rejected, with the
 * same messages. The wire format is described in graphite_line.h; docs/protocols.md has the
 * user-facing summary. Pure: no sockets, no logging, no globals; the net layer counts and logs.
 *
 * Numbers: the field is checked against Python's float() grammar first (so strtod's hex floats,
 * "nan(...)" and "infi" are refused), then converted by strtod from a NUL-terminated stack copy.
 * The process never calls setlocale, so strtod reads '.' as the decimal point.
 */
#include "proto/graphite_line.h"
#include "core/pyfloat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* |seconds| above this would overflow int64 nanoseconds (INT64_MAX / 1e9 = 9223372036.85). */
#define GRAPHITE_TS_SEC_MAX 9223372036.0

#define NS_PER_SEC 1000000000LL

/* Longest part of a path quoted in an error message. */
#define MSG_QUOTE_MAX 100

bool graphite_is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

size_t graphite_split_fields(Slice line, Slice *tok, size_t *pos, size_t max, size_t *extra_pos)
{
    size_t ntok = 0, i = 0;
    *extra_pos = 0;
    while (i < line.n) {
        while (i < line.n && graphite_is_ws(line.p[i]))
            i++;
        if (i == line.n)
            break;
        size_t start = i;
        while (i < line.n && !graphite_is_ws(line.p[i]))
            i++;
        if (ntok < max) {
            tok[ntok] = slice_make(line.p + start, i - start);
            pos[ntok] = start;
        } else if (ntok == max) {
            *extra_pos = start;
        }
        ntok++;
    }
    return ntok;
}

int graphite_line_parse(Slice line, int64_t now_ns, GraphiteLine *out, TsError *err)
{
    Slice tok[3];
    size_t tok_pos[3];
    size_t extra_pos;
    size_t ntok = graphite_split_fields(line, tok, tok_pos, 3, &extra_pos);
    if (ntok == 0)
        return ts_error(err, TS_ERR_PROTO, 0, "empty line");
    if (ntok > 3)
        return ts_error(err, TS_ERR_PROTO, extra_pos,
                        "expected 3 fields 'metric value timestamp', got %zu", ntok);
    if (ntok < 3)
        return ts_error(err, TS_ERR_PROTO, line.n,
                        "expected 3 fields 'metric value timestamp', got %zu", ntok);

    double value = 0.0;
    double ts = 0.0;
    if (!pyfloat_parse(tok[1], &value))
        return ts_error(err, TS_ERR_PROTO, tok_pos[1], "invalid value");
    if (!pyfloat_parse(tok[2], &ts)) {
        if (tok[2].n == 1 && tok[2].p[0] == 'N')
            return ts_error(err, TS_ERR_PROTO, tok_pos[2],
                            "invalid timestamp: 'N' (now) is not supported, use -1");
        return ts_error(err, TS_ERR_PROTO, tok_pos[2], "invalid timestamp");
    }

    out->name = tok[0];
    out->value = value;
    out->ts_ns = 0;
    out->is_nan = isnan(value);

    bool ts_ok =
        isfinite(ts) && trunc(ts) <= GRAPHITE_TS_SEC_MAX && trunc(ts) >= -GRAPHITE_TS_SEC_MAX;
    if (!ts_ok) {
        if (out->is_nan)
            return TS_OK; /* carbon drops NaN values before it converts the timestamp */
        if (!isfinite(ts))
            return ts_error(err, TS_ERR_PROTO, tok_pos[2], "timestamp is not finite");
        return ts_error(err, TS_ERR_PROTO, tok_pos[2], "timestamp out of range");
    }
    int64_t sec = (int64_t)trunc(ts);
    if (sec == -1)
        out->ts_ns = now_ns - now_ns % NS_PER_SEC;
    else
        out->ts_ns = sec * NS_PER_SEC;
    return TS_OK;
}

/* Bytes quoted from an input in a message: at most MSG_QUOTE_MAX, as an int for "%.*s". */
static int qlen(Slice s)
{
    return (int)(s.n < MSG_QUOTE_MAX ? s.n : MSG_QUOTE_MAX);
}

/* The distinct tags of one name, later duplicates replacing earlier ones, 'name' left out. */
typedef struct TagSet {
    SeriesTag t[SERIES_KEY_TAGS_MAX];
    size_t n;   /* tags in use */
    size_t lim; /* min(max_tags, SERIES_KEY_TAGS_MAX) */
} TagSet;

static int tagset_put(TagSet *set, Slice key, Slice value, size_t pos, TsError *err)
{
    if (slice_eq_cstr(key, "name"))
        return TS_OK; /* carbon overwrites a user 'name' tag with the metric */
    for (size_t j = 0; j < set->n; j++) {
        if (slice_eq(set->t[j].key, key)) {
            set->t[j].value = value;
            return TS_OK;
        }
    }
    if (set->n == set->lim)
        return ts_error(err, TS_ERR_LIMIT, pos, "too many tags (max %zu)", set->lim);
    set->t[set->n].key = key;
    set->t[set->n].value = value;
    set->n++;
    return TS_OK;
}

/*
 * carbon TaggedSeries.validateTagAndValue, same checks in the same order, same texts. Its
 * first check ('Tag may not be empty') cannot fire here: both syntaxes reject an empty tag
 * earlier as an invalid segment.
 */
static int validate_tag(Slice tag, Slice value, size_t pos, TsError *err)
{
    static const char prohibited[] = ";!^=";

    if (value.n == 0)
        return ts_error(err, TS_ERR_PROTO, pos, "Value for tag \"%.*s\" may not be empty",
                        qlen(tag), (const char *)tag.p);
    for (size_t k = 0; k < sizeof(prohibited) - 1; k++) {
        if (memchr(tag.p, prohibited[k], tag.n))
            return ts_error(err, TS_ERR_PROTO, pos,
                            "Character \"%c\" is not allowed in tag \"%.*s\"", prohibited[k],
                            qlen(tag), (const char *)tag.p);
    }
    if (memchr(value.p, ';', value.n))
        return ts_error(err, TS_ERR_PROTO, pos,
                        "Character \";\" is not allowed in value \"%.*s\" of tag %.*s", qlen(value),
                        (const char *)value.p, qlen(tag), (const char *)tag.p);
    if (value.p[0] == '~')
        return ts_error(err, TS_ERR_PROTO, pos,
                        "Tag values are not allowed to start with \"~\" in tag \"%.*s\"", qlen(tag),
                        (const char *)tag.p);
    return TS_OK;
}

/* carbon TaggedSeries.sanitize_name_as_tag_value: the metric without leading '~'. */
static int sanitize_metric(Slice metric, Slice *name, TsError *err)
{
    size_t k = 0;
    while (k < metric.n && metric.p[k] == '~')
        k++;
    if (k == metric.n)
        return ts_error(err, TS_ERR_PROTO, 0,
                        "Cannot use metric name %.*s as tag value, results in an empty string",
                        qlen(metric), (const char *)metric.p);
    *name = slice_make(metric.p + k, metric.n - k);
    return TS_OK;
}

/* carbon TaggedSeries.parse_carbon: metric;tag=value;... */
static int parse_carbon(Slice path, TagSet *set, Slice *metric, TsError *err)
{
    const uint8_t *end = path.p + path.n;
    const uint8_t *semi = memchr(path.p, ';', path.n);
    int rc;

    *metric = slice_make(path.p, (size_t)(semi - path.p));
    if (metric->n == 0)
        return ts_error(err, TS_ERR_PROTO, 0, "Cannot parse path %.*s, no metric found", qlen(path),
                        (const char *)path.p);
    while (semi) {
        const uint8_t *seg = semi + 1;
        semi = memchr(seg, ';', (size_t)(end - seg));
        Slice s = slice_make(seg, (size_t)((semi ? semi : end) - seg));
        size_t pos = (size_t)(seg - path.p);
        const uint8_t *eq = s.n ? memchr(s.p, '=', s.n) : NULL;
        if (!eq || eq == s.p)
            return ts_error(err, TS_ERR_PROTO, pos, "Cannot parse path %.*s, invalid segment %.*s",
                            qlen(path), (const char *)path.p, qlen(s), (const char *)s.p);
        Slice tag = slice_make(s.p, (size_t)(eq - s.p));
        Slice value = slice_make(eq + 1, s.n - tag.n - 1);
        rc = validate_tag(tag, value, pos, err);
        if (rc == TS_OK)
            rc = tagset_put(set, tag, value, pos, err);
        if (rc != TS_OK)
            return rc;
    }
    return TS_OK;
}

/* carbon TaggedSeries.parse chooses OpenMetrics form when the path ends with "} and has a {. */
static bool is_openmetrics(Slice path)
{
    return path.n >= 2 && path.p[path.n - 2] == '"' && path.p[path.n - 1] == '}' &&
           memchr(path.p, '{', path.n) != NULL;
}

/*
 * carbon TaggedSeries.parse_openmetrics: metric{tag="value",...}. Each tag must match
 * ([^=]+)="((?:\\["\\]|[^"\\])+)"(:?,|$) (carbon's regex, whose "(:?" lets ":," separate tags
 * too). Values with escapes are unescaped into 'scratch', which is reserved once with room
 * for the whole path so the slices into it stay valid.
 */
static int parse_openmetrics(Slice path, TagSet *set, Slice *metric, Buf *scratch, TsError *err)
{
    Slice body = slice_make(path.p, path.n - 1); /* without the final '}' */
    const uint8_t *brace = memchr(body.p, '{', body.n);
    const uint8_t *end = body.p + body.n;
    int rc;

    if (memchr(brace + 1, '{', (size_t)(end - brace - 1)))
        return ts_error(err, TS_ERR_PROTO, (size_t)(brace - path.p),
                        "Cannot parse path %.*s, more than one \"{\"", qlen(path),
                        (const char *)path.p);
    *metric = slice_make(body.p, (size_t)(brace - body.p));
    if (metric->n == 0)
        return ts_error(err, TS_ERR_PROTO, 0, "Cannot parse path %.*s, no metric found", qlen(path),
                        (const char *)path.p);

    const uint8_t *r = brace + 1;
    while (r < end) {
        size_t pos = (size_t)(r - path.p);
        Slice rest = slice_make(r, (size_t)(end - r));
        const uint8_t *eq = memchr(r, '=', (size_t)(end - r));
        const uint8_t *q = eq ? eq + 1 : NULL;
        bool has_esc = false;
        bool ok = eq && eq > r && q < end && *q == '"';
        const uint8_t *v = ok ? q + 1 : NULL;
        const uint8_t *vend = v;
        while (ok && vend < end && *vend != '"') {
            if (*vend == '\\') {
                if (vend + 1 >= end || (vend[1] != '"' && vend[1] != '\\')) {
                    ok = false;
                    break;
                }
                has_esc = true;
                vend += 2;
            } else {
                vend++;
            }
        }
        ok = ok && vend < end && vend > v; /* closing quote present, value non-empty */
        const uint8_t *next = ok ? vend + 1 : NULL;
        if (ok && next < end) {
            if (*next == ',')
                next++;
            else if (*next == ':' && next + 1 < end && next[1] == ',')
                next += 2;
            else
                ok = false;
        }
        if (!ok)
            return ts_error(err, TS_ERR_PROTO, pos, "Cannot parse path %.*s, invalid segment %.*s",
                            qlen(path), (const char *)path.p, qlen(rest), (const char *)rest.p);

        Slice tag = slice_make(r, (size_t)(eq - r));
        Slice value = slice_make(v, (size_t)(vend - v));
        if (has_esc) {
            if (scratch->cap == 0)
                buf_reserve(scratch, path.n);
            const uint8_t *start = scratch->p + scratch->n;
            for (const uint8_t *c = v; c < vend; c++) {
                if (*c == '\\')
                    c++;
                scratch->p[scratch->n++] = *c;
            }
            value = slice_make(start, (size_t)(scratch->p + scratch->n - start));
        }
        rc = validate_tag(tag, value, pos, err);
        if (rc == TS_OK)
            rc = tagset_put(set, tag, value, pos, err);
        if (rc != TS_OK)
            return rc;
        r = next;
    }
    /* carbon accepts this, but its canonical path metric;... would read back as other tags */
    if (memchr(metric->p, ';', metric->n))
        return ts_error(err, TS_ERR_PROTO, 0,
                        "Character \";\" is not allowed in metric \"%.*s\" of path %.*s",
                        qlen(*metric), (const char *)metric->p, qlen(path), (const char *)path.p);
    return TS_OK;
}

int graphite_name_to_key(Slice name, size_t max_tags, size_t max_bytes, Buf *out, TsError *err)
{
    TagSet set;
    Buf scratch;
    Slice metric = {NULL, 0};
    Slice sanitized = {NULL, 0};
    int rc;

    for (size_t i = 0; i < name.n; i++) {
        if (graphite_is_ws(name.p[i]) || name.p[i] == '\0')
            return ts_error(err, TS_ERR_PROTO, i, "Character 0x%02x is not allowed in path %.*s",
                            name.p[i], qlen(name), (const char *)name.p);
    }
    if (name.n == 0)
        return ts_error(err, TS_ERR_PROTO, 0, "Cannot parse path , no metric found");

    bool om = is_openmetrics(name);
    if (!om && !memchr(name.p, ';', name.n)) {
        if (name.n > max_bytes)
            return ts_error(err, TS_ERR_LIMIT, 0, "series key too long: %zu bytes (max %zu)",
                            name.n, max_bytes);
        buf_append(out, name.p, name.n);
        return TS_OK;
    }

    set.n = 0;
    set.lim = max_tags < SERIES_KEY_TAGS_MAX ? max_tags : SERIES_KEY_TAGS_MAX;
    buf_init(&scratch);
    if (om)
        rc = parse_openmetrics(name, &set, &metric, &scratch, err);
    else
        rc = parse_carbon(name, &set, &metric, err);
    if (rc == TS_OK)
        rc = sanitize_metric(metric, &sanitized, err);
    if (rc == TS_OK)
        rc = series_key_build(sanitized, set.t, set.n, max_tags, max_bytes, out, err);
    buf_deinit(&scratch);
    return rc;
}
