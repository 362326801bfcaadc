/*
 * OpenTSDB telnet-style protocol: the line parser behind the TCP 4242 listener and the text of
 * its replies.
 *
 * net/ frames the stream at '\n' and hands each line to otsdb_parse_line, which tells the
 * command apart and, for `put`, returns the canonical series key (core/series_key.h), the
 * timestamp in nanoseconds and the value. A rejected line comes back with the exact line that
 * OpenTSDB 2.x would send for it ("put: illegal argument: ...", "put: invalid value: ...",
 * "unknown command: ...") so tcollector, collectd's write_tsdb and netdata see familiar errors,
 * and the connection stays open as it does with OpenTSDB. The checks run in OpenTSDB's order
 * (PutDataPointRpc.importDataPoint, then TSDB.addPoint): argument count, metric, timestamp,
 * value present, tags, value syntax, tag count, name characters. The wire format is described
 * in opentsdb.h.
 *
 * Pure: no globals, no logging, nothing allocated except by appending to the caller's Bufs;
 * the tag array lives on the stack.
 */
#include "proto/opentsdb.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pyfloat.h"
#include "core/series_key.h"
#include "core/time.h"

/* The help text lists what cairn serves; OpenTSDB puts a space after every command. */
#define OTSDB_HELP_TEXT "available commands: put stats dropcaches version exit help \n"

/* Splits a line at every single space, like OpenTSDB's Tags.splitString(line, ' '). */
typedef struct Words {
    Slice line;
    size_t pos; /* start of the next word */
    bool done;  /* the last word has been returned */
} Words;

static bool words_next(Words *w, Slice *word)
{
    if (w->done)
        return false;
    size_t start = w->pos;
    const uint8_t *sp = NULL;
    if (w->line.n > start)
        sp = memchr(w->line.p + start, ' ', w->line.n - start);
    size_t end = sp ? (size_t)(sp - w->line.p) : w->line.n;
    *word = slice_make(w->line.p + start, end - start);
    if (sp)
        w->pos = end + 1;
    else
        w->done = true;
    return true;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static void put_slice(Buf *b, Slice s)
{
    buf_append(b, s.p, s.n);
}

/* Case-insensitive comparison of 's' with the lower-case ASCII word 'w'. */
static bool eq_nocase(Slice s, const char *w)
{
    size_t n = strlen(w);
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + ('a' - 'A'));
        if (c != (uint8_t)w[i])
            return false;
    }
    return true;
}

/* Start of an error line; the caller appends the message and ends it with end_reply. */
static void begin_reply(Buf *reply, OtsdbErr kind)
{
    buf_puts(reply,
             kind == OTSDB_ERR_INVALID_VALUE ? "put: invalid value: " : "put: illegal argument: ");
}

static void end_reply(Buf *reply)
{
    buf_put_u8(reply, '\n');
}

/* The error lines of Tags.parseLong for a word that is not an integer. */
static void reply_not_integer(Buf *reply, Slice w)
{
    size_t i = (w.p[0] == '+' || w.p[0] == '-') ? 1 : 0;
    if (i == 1 && w.n == 1) {
        buf_puts(reply, "Just a sign, no value: ");
        put_slice(reply, w);
        return;
    }
    while (i < w.n && is_digit(w.p[i]))
        i++;
    buf_puts(reply, "Invalid character '");
    if (i < w.n)
        buf_put_u8(reply, w.p[i]);
    buf_puts(reply, "' in ");
    put_slice(reply, w);
}

static void reply_invalid_ts(Buf *reply, Slice w)
{
    begin_reply(reply, OTSDB_ERR_ILLEGAL_ARGUMENT);
    buf_puts(reply, "invalid timestamp: ");
    put_slice(reply, w);
    end_reply(reply);
}

/* Nanoseconds per unit for an integer timestamp part, chosen by its magnitude. */
static int64_t ts_unit_ns(uint64_t v, int *frac_digits)
{
    if (v < UINT64_C(100000000000)) { /* < 10^11: seconds */
        *frac_digits = 9;
        return TS_NS_PER_SEC;
    }
    if (v < UINT64_C(100000000000000)) { /* < 10^14: milliseconds */
        *frac_digits = 6;
        return TS_NS_PER_MS;
    }
    if (v < UINT64_C(100000000000000000)) { /* < 10^17: microseconds */
        *frac_digits = 3;
        return 1000;
    }
    *frac_digits = 0;
    return 1;
}

/*
 * Parse a timestamp word into ns > 0. On failure appends the reply line, sets *kind and
 * returns TS_ERR_PROTO.
 */
static int parse_ts(Slice w, int64_t *out_ns, Buf *reply, OtsdbErr *kind)
{
    *kind = OTSDB_ERR_INVALID_VALUE;
    if (w.n == 0) {
        begin_reply(reply, *kind);
        buf_puts(reply, "Empty string");
        end_reply(reply);
        return TS_ERR_PROTO;
    }
    if (w.n > OTSDB_NUM_MAX) {
        begin_reply(reply, *kind);
        buf_puts(reply, "Value too long: ");
        put_slice(reply, w);
        end_reply(reply);
        return TS_ERR_PROTO;
    }

    bool iso = w.n > 8 && w.p[8] == 'T';
    for (size_t i = 0; iso && i < 8; i++)
        iso = is_digit(w.p[i]);
    if (iso) {
        int64_t ns = 0;
        *kind = OTSDB_ERR_ILLEGAL_ARGUMENT;
        if (ts_parse_iso(w, &ns, NULL) != TS_OK || ns <= 0) {
            reply_invalid_ts(reply, w);
            return TS_ERR_PROTO;
        }
        *out_ns = ns;
        return TS_OK;
    }

    size_t i = 0;
    bool neg = false;
    if (w.p[0] == '+' || w.p[0] == '-') {
        neg = w.p[0] == '-';
        i = 1;
    }
    size_t int_start = i;
    while (i < w.n && is_digit(w.p[i]))
        i++;
    size_t int_end = i;
    size_t frac_start = i;
    size_t frac_end = i;
    if (i < w.n && w.p[i] == '.') {
        frac_start = ++i;
        while (i < w.n && is_digit(w.p[i]))
            i++;
        frac_end = i;
    }
    if (i < w.n || (int_start == 1 && w.n == 1)) {
        begin_reply(reply, *kind);
        if (int_start == 1 && w.n == 1) {
            reply_not_integer(reply, w);
        } else {
            buf_puts(reply, "Invalid character '");
            buf_put_u8(reply, w.p[i]);
            buf_puts(reply, "' in ");
            put_slice(reply, w);
        }
        end_reply(reply);
        return TS_ERR_PROTO;
    }
    if (int_end - int_start > 19) {
        begin_reply(reply, *kind);
        buf_puts(reply, "Value too long: ");
        put_slice(reply, w);
        end_reply(reply);
        return TS_ERR_PROTO;
    }
    uint64_t v = 0;
    for (size_t k = int_start; k < int_end; k++)
        v = v * 10 + (uint64_t)(w.p[k] - '0'); /* 19 digits < 2^64 */
    if (v > (uint64_t)INT64_MAX) {
        begin_reply(reply, *kind);
        buf_puts(reply, "Overflow in ");
        put_slice(reply, w);
        end_reply(reply);
        return TS_ERR_PROTO;
    }

    *kind = OTSDB_ERR_ILLEGAL_ARGUMENT;
    if (neg || int_end == int_start) {
        reply_invalid_ts(reply, w);
        return TS_ERR_PROTO;
    }
    int frac_digits = 0;
    int64_t unit = ts_unit_ns(v, &frac_digits);
    int64_t frac = 0;
    int64_t scale = unit;
    for (size_t k = frac_start; k < frac_end && (int)(k - frac_start) < frac_digits; k++) {
        scale /= 10;
        frac += (int64_t)(w.p[k] - '0') * scale;
    }
    int64_t ns = 0;
    if (__builtin_mul_overflow((int64_t)v, unit, &ns) || __builtin_add_overflow(ns, frac, &ns) ||
        ns <= 0) {
        reply_invalid_ts(reply, w);
        return TS_ERR_PROTO;
    }
    *out_ns = ns;
    return TS_OK;
}

/* True when 'w' has the value grammar of opentsdb.h (decimal float, inf, infinity, nan). */
static bool value_syntax_ok(Slice w)
{
    size_t i = 0;
    if (w.p[0] == '+' || w.p[0] == '-')
        i = 1;
    Slice rest = slice_make(w.p + i, w.n - i);
    if (eq_nocase(rest, "inf") || eq_nocase(rest, "infinity") || eq_nocase(rest, "nan"))
        return true;
    size_t digits = 0;
    while (i < w.n && is_digit(w.p[i])) {
        i++;
        digits++;
    }
    if (i < w.n && w.p[i] == '.') {
        i++;
        while (i < w.n && is_digit(w.p[i])) {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (i < w.n && (w.p[i] == 'e' || w.p[i] == 'E')) {
        i++;
        if (i < w.n && (w.p[i] == '+' || w.p[i] == '-'))
            i++;
        size_t exp_digits = 0;
        while (i < w.n && is_digit(w.p[i])) {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return false;
    }
    return i == w.n;
}

/*
 * Parse a non-empty value word. On failure appends OpenTSDB's "invalid value" line (the
 * message of Tags.parseLong for words without '.', 'e' or 'E', else that of Float.parseFloat).
 */
static int parse_value(Slice w, double *out, Buf *reply)
{
    char tmp[OTSDB_NUM_MAX + 1];

    if (w.n <= OTSDB_NUM_MAX && value_syntax_ok(w)) {
        /* Decimal forms read the same (exactly, and faster) through pyfloat_parse; inf and nan
         * keep strtod's sign handling. */
        size_t lead = (w.p[0] == '+' || w.p[0] == '-') ? 1 : 0;
        if (w.n > lead && (is_digit(w.p[lead]) || w.p[lead] == '.') && pyfloat_parse(w, out))
            return TS_OK;
        memcpy(tmp, w.p, w.n);
        tmp[w.n] = '\0';
        char *end = NULL;
        double d = strtod(tmp, &end);
        if (end == tmp + w.n) {
            *out = d;
            return TS_OK;
        }
    }
    begin_reply(reply, OTSDB_ERR_INVALID_VALUE);
    bool integer_like = !memchr(w.p, '.', w.n) && !memchr(w.p, 'e', w.n) && !memchr(w.p, 'E', w.n);
    size_t points = 0;
    for (size_t i = 0; i < w.n; i++)
        points += w.p[i] == '.';
    if (w.n > OTSDB_NUM_MAX) {
        buf_puts(reply, "Value too long: ");
        put_slice(reply, w);
    } else if (integer_like) {
        reply_not_integer(reply, w);
    } else if (points > 1) {
        buf_puts(reply, "multiple points");
    } else {
        buf_puts(reply, "For input string: \"");
        put_slice(reply, w);
        buf_puts(reply, "\"");
    }
    end_reply(reply);
    return TS_ERR_PROTO;
}

/* Java's Map.toString for the tags seen so far, in input order: {k1=v1, k2=v2}. */
static void put_tag_map(Buf *b, const SeriesTag *tags, size_t n)
{
    buf_put_u8(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ", ");
        put_slice(b, tags[i].key);
        buf_put_u8(b, '=');
        put_slice(b, tags[i].value);
    }
    buf_put_u8(b, '}');
}

/*
 * Tags.validateString's message for bytes that cairn refuses in names: control bytes anywhere,
 * and a trailing '\' where a separator follows in the key (metric, values). Returns true when
 * 's' is acceptable, else appends the message (without the line prefix).
 */
static bool name_ok(Slice s, const char *what, bool no_trailing_backslash, Buf *reply)
{
    size_t bad = s.n;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < 0x20 || s.p[i] == 0x7f) {
            bad = i;
            break;
        }
    }
    if (bad == s.n && no_trailing_backslash && s.n > 0 && s.p[s.n - 1] == '\\')
        bad = s.n - 1;
    if (bad == s.n)
        return true;
    begin_reply(reply, OTSDB_ERR_ILLEGAL_ARGUMENT);
    buf_printf(reply, "Invalid %s (\"", what);
    put_slice(reply, s);
    buf_puts(reply, "\"): illegal character: ");
    buf_put_u8(reply, s.p[bad]);
    end_reply(reply);
    return false;
}

static int parse_put(Slice line, size_t max_tags, size_t max_name_bytes, OtsdbLine *out, Buf *key,
                     Buf *reply)
{
    SeriesTag tags[SERIES_KEY_TAGS_MAX];
    size_t cap = max_tags < SERIES_KEY_TAGS_MAX ? max_tags : SERIES_KEY_TAGS_MAX;
    size_t ntags = 0;
    size_t extra = 0; /* valid tag words beyond 'cap', not stored */
    Words w = {line, 0, false};
    Slice word;
    Slice metric;
    Slice ts_word;
    Slice value_word;
    int64_t ts_ns = 0;
    double value = 0;

    out->err = OTSDB_ERR_ILLEGAL_ARGUMENT;
    size_t nargs = 0; /* words after "put", empty ones included */
    for (size_t i = 0; i < line.n; i++)
        nargs += line.p[i] == ' ';
    if (nargs < 4) {
        begin_reply(reply, out->err);
        buf_printf(reply, "not enough arguments (need least 4, got %zu)", nargs);
        end_reply(reply);
        return TS_ERR_PROTO;
    }
    words_next(&w, &word); /* "put" */
    words_next(&w, &metric);
    words_next(&w, &ts_word);
    words_next(&w, &value_word);
    size_t tags_at = w.pos; /* nargs >= 4: the value word ended at a space */
    if (metric.n == 0) {
        begin_reply(reply, out->err);
        buf_puts(reply, "empty metric name");
        end_reply(reply);
        return TS_ERR_PROTO;
    }
    if (parse_ts(ts_word, &ts_ns, reply, &out->err) != TS_OK)
        return TS_ERR_PROTO;
    out->err = OTSDB_ERR_ILLEGAL_ARGUMENT;
    if (value_word.n == 0) {
        begin_reply(reply, out->err);
        buf_puts(reply, "empty value");
        end_reply(reply);
        return TS_ERR_PROTO;
    }

    while (words_next(&w, &word)) {
        if (word.n == 0)
            continue;
        const uint8_t *eq = memchr(word.p, '=', word.n);
        size_t klen = eq ? (size_t)(eq - word.p) : 0;
        if (!eq || klen == 0 || klen + 1 == word.n ||
            memchr(eq + 1, '=', word.n - klen - 1) != NULL) {
            begin_reply(reply, out->err);
            buf_puts(reply, "invalid tag: ");
            put_slice(reply, word);
            end_reply(reply);
            return TS_ERR_PROTO;
        }
        SeriesTag t = {slice_make(word.p, klen), slice_make(eq + 1, word.n - klen - 1)};
        bool merged = false;
        for (size_t i = 0; i < ntags; i++) {
            if (!slice_eq(tags[i].key, t.key))
                continue;
            if (!slice_eq(tags[i].value, t.value)) {
                begin_reply(reply, out->err);
                buf_puts(reply, "duplicate tag: ");
                put_slice(reply, word);
                buf_puts(reply, ", tags=");
                put_tag_map(reply, tags, ntags);
                end_reply(reply);
                return TS_ERR_PROTO;
            }
            merged = true;
            break;
        }
        if (merged)
            continue;
        if (ntags < cap)
            tags[ntags++] = t;
        else
            extra++;
    }

    if (parse_value(value_word, &value, reply) != TS_OK) {
        out->err = OTSDB_ERR_INVALID_VALUE;
        return TS_ERR_PROTO;
    }

    if (ntags == 0 && extra == 0) {
        begin_reply(reply, out->err);
        buf_puts(reply, "Need at least one tag (metric=");
        put_slice(reply, metric);
        buf_puts(reply, ", tags={})");
        end_reply(reply);
        return TS_ERR_PROTO;
    }
    if (extra > 0) {
        begin_reply(reply, out->err);
        buf_printf(reply, "Too many tags: %zu maximum allowed: %zu, tags: ", ntags + extra, cap);
        /* The tags beyond 'cap' were not kept: print every tag word of the line instead. */
        Words again = {line, 0, false};
        for (int skip = 0; skip < 4; skip++)
            words_next(&again, &word);
        buf_put_u8(reply, '{');
        bool first = true;
        while (words_next(&again, &word)) {
            if (word.n == 0)
                continue;
            if (!first)
                buf_puts(reply, ", ");
            put_slice(reply, word);
            first = false;
        }
        buf_put_u8(reply, '}');
        end_reply(reply);
        return TS_ERR_LIMIT;
    }

    if (!name_ok(metric, "metric name", true, reply))
        return TS_ERR_PROTO;
    size_t total = metric.n;
    for (size_t i = 0; i < ntags; i++) {
        if (!name_ok(tags[i].key, "tag name", false, reply) ||
            !name_ok(tags[i].value, "tag value", true, reply))
            return TS_ERR_PROTO;
        total += 2 + tags[i].key.n + tags[i].value.n;
    }
    if (total > max_name_bytes) {
        begin_reply(reply, out->err);
        buf_printf(reply, "Series name too long: %zu bytes maximum allowed: %zu", total,
                   max_name_bytes);
        end_reply(reply);
        return TS_ERR_LIMIT;
    }

    TsError err;
    int rc = series_key_build(metric, tags, ntags, cap, max_name_bytes, key, &err);
    if (rc != TS_OK) { /* unreachable: every rule of series_key_build was checked above */
        begin_reply(reply, out->err);
        buf_puts(reply, err.msg);
        end_reply(reply);
        return rc;
    }
    out->err = OTSDB_ERR_NONE;
    out->ts_ns = ts_ns;
    out->value = value;
    out->metric = metric;
    out->tags = slice_make(line.p + tags_at, line.n - tags_at);
    return TS_OK;
}

int otsdb_split_put(Slice line, OtsdbLine *out, Buf *scratch)
{
    size_t mark = scratch->n;
    OtsdbErr kind = OTSDB_ERR_NONE;
    Slice word, metric, ts_word, value_word;
    int64_t ts_ns = 0;
    double value = 0;
    int rc = TS_ERR_PROTO;

    if (line.n > 0 && line.p[line.n - 1] == '\r')
        line.n--;
    Words w = {line, 0, false};
    words_next(&w, &word);
    /* "put" and the three words before the tags each end at a space (then w.done is false). */
    if (!slice_eq_cstr(word, "put") || w.done || !words_next(&w, &metric) || w.done ||
        metric.n == 0 || !words_next(&w, &ts_word) || w.done || !words_next(&w, &value_word) ||
        w.done || value_word.n == 0 || w.pos >= line.n)
        goto out;
    if (parse_ts(ts_word, &ts_ns, scratch, &kind) != TS_OK ||
        parse_value(value_word, &value, scratch) != TS_OK)
        goto out;
    out->cmd = OTSDB_PUT;
    out->err = OTSDB_ERR_NONE;
    out->ts_ns = ts_ns;
    out->value = value;
    out->metric = metric;
    out->tags = slice_make(line.p + w.pos, line.n - w.pos);
    rc = TS_OK;
out:
    scratch->n = mark;
    return rc;
}

int otsdb_parse_line(Slice line, size_t max_tags, size_t max_name_bytes, OtsdbLine *out, Buf *key,
                     Buf *reply)
{
    static const struct {
        const char *word;
        OtsdbCmd cmd;
    } simple[] = {
        {"version", OTSDB_VERSION}, {"stats", OTSDB_STATS},           {"help", OTSDB_HELP},
        {"exit", OTSDB_EXIT},       {"dropcaches", OTSDB_DROPCACHES},
    };

    out->cmd = OTSDB_EMPTY;
    out->err = OTSDB_ERR_NONE;
    out->ts_ns = 0;
    out->value = 0;
    out->metric = out->tags = slice_make(NULL, 0);
    if (line.n > 0 && line.p[line.n - 1] == '\r')
        line.n--;
    size_t blank = 0;
    while (blank < line.n && line.p[blank] == ' ')
        blank++;
    if (blank == line.n)
        return TS_OK;

    Words w = {line, 0, false};
    Slice cmd;
    words_next(&w, &cmd);
    if (slice_eq_cstr(cmd, "put")) {
        out->cmd = OTSDB_PUT;
        return parse_put(line, max_tags, max_name_bytes, out, key, reply);
    }
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (slice_eq_cstr(cmd, simple[i].word)) {
            out->cmd = simple[i].cmd;
            return TS_OK;
        }
    }
    if (slice_eq_cstr(cmd, "rollup") || slice_eq_cstr(cmd, "histogram")) {
        out->cmd = OTSDB_IGNORED;
        out->err = OTSDB_ERR_ILLEGAL_ARGUMENT;
        put_slice(reply, cmd);
        if (cmd.p[0] == 'r')
            buf_puts(reply, ": illegal argument: No rollup or aggregations were configured\n");
        else
            buf_puts(reply, ": illegal argument: histograms are not supported\n");
        return TS_ERR_PROTO;
    }
    out->cmd = OTSDB_UNKNOWN;
    out->err = OTSDB_ERR_UNKNOWN_COMMAND;
    buf_puts(reply, "unknown command: ");
    put_slice(reply, cmd);
    buf_puts(reply, ".  Try `help'.\n");
    return TS_ERR_PROTO;
}

void otsdb_write_version(Buf *out, const char *cairn_version)
{
    buf_printf(out,
               "net.opentsdb.tools BuildData built at revision %s (MINT)\n"
               "Built by cairn %s, an OpenTSDB telnet compatible server\n",
               cairn_version, cairn_version);
}

void otsdb_write_help(Buf *out)
{
    buf_puts(out, OTSDB_HELP_TEXT);
}

/* Shortest %.*g text (15 to 17 digits) that strtod reads back to 'v'. */
static void put_double(Buf *out, double v)
{
    char tmp[64];

    if (isnan(v)) {
        buf_puts(out, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_puts(out, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        buf_printf(out, "%lld", (long long)v);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        char *end = NULL;
        if (strtod(tmp, &end) == v || prec == 17)
            break;
    }
    buf_puts(out, tmp);
}

void otsdb_write_stat(Buf *out, const char *metric, int64_t unix_s, double value, const char *tags)
{
    buf_puts(out, metric);
    buf_printf(out, " %lld ", (long long)unix_s);
    put_double(out, value);
    if (tags && tags[0]) {
        buf_put_u8(out, ' ');
        buf_puts(out, tags);
    }
    buf_put_u8(out, '\n');
}
