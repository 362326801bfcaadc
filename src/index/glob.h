/*
 * Graphite glob patterns (graphite.md §10.3), one path segment at a time.
 *
 * A Graphite query pattern such as `servers.{web1,web2}.cpu*` is split on the dots that are not
 * inside a brace group (glob_split) and each segment is matched against one node name
 * (glob_match). Segment syntax, as Python's fnmatch plus brace alternatives:
 *   *        zero or more bytes          ?       exactly one byte
 *   [abc]    one of the listed bytes     [a-z]   a byte in the range (bytewise)
 *   [!a] [^a] any byte but those listed  []a] [!]a]  a ']' first in the class is a member
 *   {a,b,c}  one of the alternatives, which may themselves hold wildcards and nested braces;
 *            `{}` and empty alternatives (`{,x}`) match the empty string
 * Anything else is literal, including a '[' without a closing ']', an unmatched '{' or '}', a
 * ',' outside braces, and '\' (there are no escapes). Matching is anchored, case-sensitive and
 * bytewise. An alternative that contains a '.' can never match a segment (segments hold no
 * dots), which differs from graphite-web only in that graphite-web splits such a pattern apart.
 *
 * The matcher is a position-set (Thompson) simulation: no recursion and no backtracking, so the
 * work is O(len(pattern) * len(text)) whatever the pattern. Patterns longer than
 * GLOB_PATTERN_MAX bytes are refused. The module is pure: no I/O, no globals, no logging;
 * patterns above 256 bytes use one temporary heap block, smaller ones only the stack.
 */
#ifndef CAIRN_INDEX_GLOB_H
#define CAIRN_INDEX_GLOB_H

#include "core/slice.h"

#include <stdbool.h>
#include <stddef.h>

#define GLOB_PATTERN_MAX 16384 /* bytes in a whole pattern or one segment */

/*
 * Does the whole of 'text' match the segment pattern 'pattern'? A '.' in either is an ordinary
 * byte here. Returns false when pattern.n > GLOB_PATTERN_MAX. Both are borrowed.
 */
bool glob_match(Slice pattern, Slice text);

/*
 * True when 'pattern' contains any of `*?[{`, i.e. when it may match something other than its
 * own bytes. False means glob_match(pattern, t) is exactly slice_eq(pattern, t), so a caller
 * can look the segment up directly instead of scanning.
 */
bool glob_has_magic(Slice pattern);

/*
 * Split a whole pattern into its dot-separated segments, keeping dots inside a brace group or a
 * character class within their segment. An empty pattern is one empty segment; `a..b` has an
 * empty middle segment. segs[0..*nsegs) borrow from 'pattern'.
 * Returns TS_OK, or TS_ERR_LIMIT when pattern.n > GLOB_PATTERN_MAX or there are more than 'cap'
 * segments (then *nsegs is 0).
 */
int glob_split(Slice pattern, Slice *segs, size_t cap, size_t *nsegs);

#endif
