/*
 * Safe decoder for carbon's pickle protocol (TCP 2004): a stack machine over pickle's data
 * opcodes only, then a walk of the result as carbon's MetricPickleReceiver does.
 *
 * Wire format (carbon lib/carbon/protocols.py MetricPickleReceiver; graphite.md §4):
 *
 *     offset 0   u32 big-endian payload length (read and capped by the caller, not here)
 *     offset 4   payload: one pickle, protocol 0 to 5, ending with STOP '.' as its last byte
 *
 *   The payload must unpickle to a list or tuple whose elements are (name, (ts, value)), with a
 *   list or a tuple at each level; go-carbon's (name, (ts, v), (ts, v), ...) is accepted too.
 *   name is a str, unicode or bytes object (its bytes are passed on as decoded: UTF-8 for
 *   unicode, raw bytes otherwise); ts and value are converted as Python float() does: int,
 *   long, float, bool, or a str/bytes holding a Python float literal (Java senders send the
 *   value as a string).
 *
 *   Opcodes accepted (pickletools names): MARK STOP POP POP_MARK DUP FLOAT INT BININT BININT1
 *   LONG BININT2 NONE STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE APPEND DICT
 *   EMPTY_DICT APPENDS GET BINGET LONG_BINGET LIST EMPTY_LIST PUT BINPUT LONG_BINPUT SETITEM
 *   TUPLE EMPTY_TUPLE SETITEMS BINFLOAT PROTO TUPLE1 TUPLE2 TUPLE3 NEWTRUE NEWFALSE LONG1 LONG4
 *   BINBYTES SHORT_BINBYTES SHORT_BINUNICODE BINUNICODE8 BINBYTES8 EMPTY_SET ADDITEMS FROZENSET
 *   MEMOIZE FRAME. Every other byte (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ,
 *   NEWOBJ_EX, EXT1/2/4, PERSID, BINPERSID, BYTEARRAY8, NEXT_BUFFER, READONLY_BUFFER, unknown)
 *   rejects the whole frame. Multi-byte binary arguments are little-endian except BINFLOAT
 *   (big-endian IEEE double).
 *
 * Pure: no I/O, no logging, no globals. All memory comes from the caller's arena.
 */
#ifndef CAIRN_PROTO_PICKLE_H
#define CAIRN_PROTO_PICKLE_H

#include <stddef.h>

#include "core/arena.h"
#include "core/slice.h"
#include "core/status.h"

/* Defaults used for a NULL PickleLimits or for a field left at 0. */
#define PICKLE_DEPTH_DEFAULT 64
#define PICKLE_ITEMS_DEFAULT 1000000
#define PICKLE_MEMO_DEFAULT 1000000

typedef struct PickleLimits {
    size_t max_depth; /* open MARKs, and nesting of lists/tuples/dicts/sets; 0 = default */
    size_t max_items; /* objects created per frame, also caps (ts, value) pairs walked; 0 = dflt */
    size_t max_memo;  /* distinct memo keys; 0 = default */
} PickleLimits;

/*
 * Called once per decoded point. 'name' is borrowed: it points into the frame or into the
 * arena and is valid until the caller resets the arena or frees the frame. ts_s and value are
 * float() of what was sent: the caller applies the plaintext rules (NaN dropped, timestamp
 * truncated, -1 meaning now). Return TS_OK to go on; any other status stops the walk and is
 * returned by pickle_decode_points.
 */
typedef int (*PicklePointFn)(void *ctx, Slice name, double ts_s, double value);

/*
 * Decode one pickle frame payload (the bytes after the 4-byte length) and report its points.
 *
 * The whole pickle is decoded first. Any disallowed or unknown opcode, a truncated pickle,
 * bytes after STOP, a malformed argument, a stack underflow or a missing memo key gives
 * TS_ERR_PROTO; a limit from 'lim' (NULL = defaults) or arena exhaustion gives TS_ERR_LIMIT.
 * In both cases err->pos is the offset of the offending opcode, err->msg names it, and 'fn' is
 * never called. A top level that is not a list or tuple is TS_ERR_PROTO (pos = the STOP).
 * Then each element of the top level is walked: elements that are not a list/tuple of a name
 * followed by one or more (ts, value) lists/tuples count 1 in *skipped; each (ts, value) that is
 * not a 2-list/tuple or whose numbers do not convert counts 1 too. A long too large for a
 * double (Python's OverflowError) does not convert. Returns TS_OK, or the first non-OK status
 * of 'fn' (points already reported stay reported).
 *
 * 'frame' is borrowed and never written. 'arena' is borrowed; the caller caps it and resets it
 * after each frame (the names passed to 'fn' live in it or in 'frame'). 'skipped' may be NULL;
 * otherwise it is set to 0 first. 'err' may be NULL.
 *
 * Frames in the shape picklers give [(name, (ts, value)), ...] at protocols 2-5 are decoded by
 * a fast path that builds no value tree (pickle.c describes it); every other frame, and every
 * frame that would be refused or hit a limit, goes through pickle_decode_points_general, with
 * the same results.
 */
int pickle_decode_points(Slice frame, const PickleLimits *lim, Arena *arena, PicklePointFn fn,
                         void *ctx, size_t *skipped, TsError *err);

/*
 * pickle_decode_points without the fast path: always the general machine (a value tree in the
 * arena, then the walk). Same contract and results; for tests that compare the two.
 */
int pickle_decode_points_general(Slice frame, const PickleLimits *lim, Arena *arena,
                                 PicklePointFn fn, void *ctx, size_t *skipped, TsError *err);

#endif
