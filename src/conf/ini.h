/*
 * INI tokenizer (pure: bytes in, callbacks out; no allocation, no I/O, no globals).
 *
 * Grammar, one construct per line (lines end in "\n" or "\r\n"):
 *   blank line                  ignored
 *   # comment / ; comment       ignored ('#' or ';' as the first non-blank character only;
 *                               there are no trailing comments: "a = b # c" has value "b # c")
 *   [section]                   starts a section; blanks inside the brackets are trimmed
 *   key = value                 blanks around key and value are trimmed; the value may be empty;
 *                               a value wrapped in double quotes loses them ("" = empty), with
 *                               no escapes inside; a value that starts with '"' but does not end
 *                               with one is an error
 * A UTF-8 byte-order mark at the very start is skipped. NUL bytes are errors.
 * Caps: a line holds at most INI_MAX_LINE_BYTES bytes (not counting its line ending) and the
 * text at most INI_MAX_FILE_BYTES bytes; past either, TS_ERR_LIMIT.
 */
#ifndef CAIRN_CONF_INI_H
#define CAIRN_CONF_INI_H

#include "core/slice.h"
#include "core/status.h"

#define INI_MAX_LINE_BYTES 4096
#define INI_MAX_FILE_BYTES (1024 * 1024)

/*
 * Called once per section header and once per key. For a section header, 'key' is the empty
 * slice {NULL, 0} and 'value' is empty; for a key, 'key' is never empty and 'section' is the
 * innermost preceding header (empty before the first one). All slices are borrowed from the
 * text passed to ini_parse and valid for as long as that text is. 'line' counts from 1.
 * Return TS_OK to continue; any other value stops parsing and ini_parse returns it unchanged
 * (the handler fills the TsError itself if it wants one).
 */
typedef int (*IniHandler)(void *ctx, Slice section, Slice key, Slice value, unsigned line);

/*
 * Tokenize 'text' and call 'cb' for every section header and key, in order.
 *
 * Returns TS_OK; the first non-OK handler return; TS_ERR_PROTO on a syntax error; or
 * TS_ERR_LIMIT when a line or the text is too long. On TS_ERR_PROTO/TS_ERR_LIMIT from the
 * tokenizer itself, err (may be NULL) gets err->pos = the 1-based line number (0 for "text too
 * large") and a short message without the line number, e.g. "expected 'key = value'".
 * 'text' is borrowed and never written; it need not be NUL-terminated.
 */
int ini_parse(Slice text, IniHandler cb, void *ctx, TsError *err);

#endif
