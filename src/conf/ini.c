/*
 * INI tokenizer for cairn's configuration file.
 *
 * This module only splits text into (section, key, value) triples and reports syntax errors by
 * line number; it knows nothing about which keys exist or what their values mean. conf.c sits on
 * top of it with the schema. Keeping it pure (no allocation, no I/O) lets fuzz_config drive it
 * with arbitrary bytes. The grammar is described in ini.h.
 */
#include "conf/ini.h"

static bool is_blank(uint8_t ch)
{
    return ch == ' ' || ch == '\t';
}

/* Drop blanks (and a stray '\r') from both ends of s. */
static Slice trim(Slice s)
{
    while (s.n && (is_blank(s.p[0]) || s.p[0] == '\r')) {
        s.p++;
        s.n--;
    }
    while (s.n && (is_blank(s.p[s.n - 1]) || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

/* Parse one line (without its ending). Updates *section on a header. */
static int parse_line(Slice line, unsigned lineno, Slice *section, IniHandler cb, void *ctx,
                      TsError *err)
{
    Slice s = trim(line);
    if (s.n == 0 || s.p[0] == '#' || s.p[0] == ';')
        return TS_OK;
    if (memchr(s.p, '\0', s.n))
        return ts_error(err, TS_ERR_PROTO, lineno, "NUL byte in line");

    if (s.p[0] == '[') {
        const uint8_t *close = memchr(s.p, ']', s.n);
        if (!close)
            return ts_error(err, TS_ERR_PROTO, lineno, "expected ']' after section name");
        size_t name_end = (size_t)(close - s.p);
        if (name_end + 1 != s.n)
            return ts_error(err, TS_ERR_PROTO, lineno, "unexpected text after ']'");
        Slice name = trim(slice_make(s.p + 1, name_end - 1));
        if (name.n == 0)
            return ts_error(err, TS_ERR_PROTO, lineno, "empty section name");
        *section = name;
        return cb(ctx, name, slice_make(NULL, 0), slice_make(NULL, 0), lineno);
    }

    const uint8_t *eq = memchr(s.p, '=', s.n);
    if (!eq)
        return ts_error(err, TS_ERR_PROTO, lineno, "expected 'key = value' or '[section]'");
    size_t key_n = (size_t)(eq - s.p);
    Slice key = trim(slice_make(s.p, key_n));
    if (key.n == 0)
        return ts_error(err, TS_ERR_PROTO, lineno, "empty key before '='");
    Slice value = trim(slice_make(eq + 1, s.n - key_n - 1));
    if (value.n && value.p[0] == '"') {
        if (value.n < 2 || value.p[value.n - 1] != '"')
            return ts_error(err, TS_ERR_PROTO, lineno, "unterminated quoted value");
        value = slice_make(value.p + 1, value.n - 2);
    }
    return cb(ctx, *section, key, value, lineno);
}

int ini_parse(Slice text, IniHandler cb, void *ctx, TsError *err)
{
    if (text.n > INI_MAX_FILE_BYTES)
        return ts_error(err, TS_ERR_LIMIT, 0, "file too large (more than %d bytes)",
                        INI_MAX_FILE_BYTES);
    size_t off = 0;
    if (text.n >= 3 && text.p[0] == 0xEF && text.p[1] == 0xBB && text.p[2] == 0xBF)
        off = 3;

    Slice section = slice_make(NULL, 0);
    unsigned lineno = 0;
    while (off < text.n) {
        lineno++;
        const uint8_t *nl = memchr(text.p + off, '\n', text.n - off);
        size_t end = nl ? (size_t)(nl - text.p) : text.n;
        size_t line_n = end - off;
        if (line_n && text.p[end - 1] == '\r')
            line_n--;
        if (line_n > INI_MAX_LINE_BYTES)
            return ts_error(err, TS_ERR_LIMIT, lineno, "line too long (more than %d bytes)",
                            INI_MAX_LINE_BYTES);
        int rc = parse_line(slice_make(text.p + off, line_n), lineno, &section, cb, ctx, err);
        if (rc != TS_OK)
            return rc;
        off = nl ? end + 1 : text.n;
    }
    return TS_OK;
}
