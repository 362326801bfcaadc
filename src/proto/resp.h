/*
 * Akumuli RESP ingestion (TCP/UDP 8282/8383): an incremental, pure parser.
 *
 * Wire format (reference/akumuli.md §3; byte layout of one element):
 *
 *     '+' <bytes> '\n'            simple string; <bytes> may end with one '\r' that is dropped
 *     ':' ['-'] <digits> '\n'     integer; the line may end "\r\n"; '-' only for values
 *     '*' <digits> '\n'           array header, followed by that many elements
 *     '$' ... / '-' ... / other   never valid in ingestion: rejected at the type byte
 *
 *   Each line is looked for within a fixed window after the type byte, as Akumuli's read_line
 *   does; if the window holds no '\n' the element is too long (otherwise more bytes are awaited):
 *   names, dictionary names and event texts 1024 bytes, timestamps 28, float texts 64, integers
 *   22. So a name has at most 1022 bytes before "\r\n" (1023 before a bare "\n").
 *
 * Messages:
 *
 *     dictionary (only before the first data message; any number of them):
 *         '*' 2k, then k pairs  '+' <name>  ':' <id>
 *     data:
 *         name       '+' <name>  |  ':' <dictionary id>
 *         timestamp  ':' <ns>    |  '+' <ISO basic or integer ns, core/time.h ts_parse_iso>
 *         value      ':' <int> | '+' <float or event text>       (one name)
 *                    '*' N then N of ':' <int> | '+' <float/text>  (N names, N <= 256)
 *
 *   <name> is "metric[|metric2...] k=v ..." (Akumuli's SeriesParser: leading spaces and tabs
 *   skipped, runs of spaces and tabs between tags collapsed, "\ " is an escaped space, at least
 *   one tag, a tag is a non-empty key, '=', a possibly empty value; tags past the 32nd are
 *   dropped silently, duplicate keys kept). Each metric gives the canonical key
 *   core/series_key.h builds: metric, then the tags sorted by key. A metric starting with '!'
 *   names an event series, whose values are '+' texts.
 *
 * Replies: nothing on success. On the first error the parser writes Akumuli's line and is dead:
 *   "-PARSER <message> - <context>\r\n", where <context> is the bytes from the start of the
 *   failing message (or dictionary array) up to, not including, its third '\n' among the bytes
 *   given to this call, with CR and LF written as the two characters "\r" and "\n";
 *   "-DB bad argument\r\n" for an integer value sent to an event series.
 *
 * Differences from Akumuli 0.8.80, on purpose: ":-5" is accepted as the value -5 (Akumuli
 * rejects it, issue #367; its users send "+-5"); a series is not registered when only its name
 * line parsed (nothing reaches the callback before the whole message did); a compound name with
 * an empty metric ("a||b x=1") or a metric ending in '\', and a name whose last tag value ends
 * in '\', are invalid names (core/series_key.h cannot represent them); the dictionary of a
 * session is bounded (error "-ERR dictionary is too large").
 *
 * Pure: no I/O, no logging, no globals. One parser per TCP connection (or UDP datagram batch).
 */
#ifndef CAIRN_PROTO_RESP_H
#define CAIRN_PROTO_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"

#define RESP_ROW_MAX 256            /* AKU_LIMITS_MAX_ROW_WIDTH: names in one compound name */
#define RESP_AKUMULI_TAGS 32        /* AKU_LIMITS_MAX_TAGS: tags kept from one name */
#define RESP_DICT_ENTRIES 100000    /* default cap on dictionary ids of one session */
#define RESP_DICT_BYTES (64u << 20) /* default cap on dictionary key bytes of one session */

typedef struct RespLimits {
    size_t max_name_bytes;   /* longest canonical key; 0 = 4096 (AKU_LIMITS_MAX_SNAME) */
    size_t max_tags;         /* after dropping tags past the 32nd, more tags than this is an
                                invalid name; 0 = no further cap */
    size_t max_dict_entries; /* 0 = RESP_DICT_ENTRIES */
    size_t max_dict_bytes;   /* 0 = RESP_DICT_BYTES */
} RespLimits;

typedef struct RespParser RespParser;

typedef struct RespNames RespNames;

/*
 * One point. 'key' is the canonical series key; for an event series (metric starting with '!')
 * is_event is true, 'text' holds the event string and 'value' is 0. For other series 'text' is
 * empty. Both slices are borrowed and valid only during the call.
 *
 * 'ref' (never NULL, valid only during the call) is a slot the caller may use to remember
 * something about the series of 'key', such as its id: 0 until the caller writes it, and kept
 * with the key wherever the parser keeps the key, i.e. in the RespNames entry of the name line
 * (while that entry lives) or in the session dictionary entry. A name line parsed without a
 * RespNames cache gives a fresh 0 slot for every message. Every later point of the same cached
 * line, or of the same dictionary id in this session, sees what was stored.
 *
 * Return TS_OK to continue; anything else stops resp_parse, which returns it.
 */
typedef int (*RespPointFn)(void *ctx, Slice key, uint64_t *ref, int64_t ts_ns, double value,
                           bool is_event, Slice text);

/*
 * A parser with an empty dictionary. 'lim' is copied (NULL means all defaults).
 * Caller owns; free with resp_parser_free.
 */
RespParser *resp_parser_new(const RespLimits *lim);

/* Free 'p' and its dictionary. NULL is a no-op. */
void resp_parser_free(RespParser *p);

#define RESP_NAMES_BYTES (64u << 20) /* default cap on the memory of a RespNames cache */

/*
 * A cache from name lines exactly as sent (the bytes between '+' and "\r\n") to their parsed
 * form: the canonical key, event flag and ref slot of every metric of the line. A name line
 * found there costs one hash and one compare instead of Akumuli's canonicalisation, so one
 * cache is meant to be shared by every parser of a thread (TCP sessions and UDP datagrams). Only
 * valid names are cached; the limits they were checked against (max_name_bytes, max_tags) are
 * the cache's, and a parser with other limits does not use it.
 *
 * resp_names_new: 'lim' as for resp_parser_new (NULL: defaults); 'max_bytes' caps the memory of
 * names, keys and table (0 = RESP_NAMES_BYTES): when an insertion finds it reached, the cache
 * starts over empty (so it holds at most max_bytes plus one entry). Caller owns; free with
 * resp_names_free (NULL is a no-op) after every parser that uses it.
 */
RespNames *resp_names_new(const RespLimits *lim, size_t max_bytes);
void resp_names_free(RespNames *c);

/* Name lines cached now; times the cache started over. */
size_t resp_names_count(const RespNames *c);
uint64_t resp_names_resets(const RespNames *c);

/*
 * Let 'p' look name lines up in 'c' (borrowed; it must outlive 'p' or be detached with NULL).
 * Nothing changes in what resp_parse delivers or replies, except that refs persist in the
 * cache. Ignored (as NULL) when the limits of 'c' and 'p' differ.
 */
void resp_parser_set_names(RespParser *p, RespNames *c);

/*
 * Parse the complete messages at the start of buf[0..n), calling 'fn' once per point, in
 * message order and, within a row, in name order. Points of a message are delivered only once
 * the whole message has arrived.
 *
 * The caller keeps the bytes not consumed and passes them again, followed by new bytes, on the
 * next call: *consumed is the number of bytes of complete messages (and dictionary arrays)
 * handled; an incomplete trailing message is left alone.
 *
 * Returns TS_OK; TS_ERR_PROTO after appending Akumuli's error line to 'reply' (CRLF included;
 * see the top of this file); TS_ERR_LIMIT after appending "-ERR dictionary is too large\r\n";
 * or the first non-TS_OK status returned by 'fn' (nothing appended; the message whose point
 * failed counts as consumed). After any error the parser is dead: later calls consume nothing,
 * append nothing and return the same status. 'buf' is borrowed and never written.
 */
int resp_parse(RespParser *p, const uint8_t *buf, size_t n, RespPointFn fn, void *ctx,
               size_t *consumed, Buf *reply);

#endif
