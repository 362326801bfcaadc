/*
 * The canonical series key: one byte string that names a series, whatever protocol wrote it.
 *
 * Layout (Akumuli's canonical form, see DESIGN.md §1 and akumuli.md §3.5):
 *
 *     <metric>[ <key>=<value>]*
 *
 *   - Components (metric, tag keys, tag values) are separated by one space (0x20). A space that
 *     belongs to a component is written as the two bytes "\ " (0x5C 0x20); a space is a separator
 *     exactly when the byte before it is not a backslash. Escapes are kept as given, never
 *     unescaped in the key.
 *   - Tags follow the metric, sorted by key bytewise (comparing the keys as they appear in the key
 *     string, escapes included); a key that is a prefix of another sorts first (`a=` before
 *     `ab=`); equal keys keep their input order (stable). Duplicate keys are kept.
 *   - The metric is non-empty; a tag key is non-empty and has no '='; a tag value may be empty
 *     and may contain '='. The key of a tag ends at its first '='.
 *   - A component followed by a separator never ends with a backslash (it would swallow the
 *     separator), so the metric of a tagged key and every tag value never end with '\'.
 *   - A key without tags is just the metric (Graphite untagged names: `a.b.c`).
 *
 * These functions are pure: no allocation beyond appending to a caller's Buf, no globals.
 */
#ifndef CAIRN_CORE_SERIES_KEY_H
#define CAIRN_CORE_SERIES_KEY_H

#include <stddef.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"

/* Hard upper bound on tags in one key; a larger max_tags argument is treated as this value. */
#define SERIES_KEY_TAGS_MAX 256

typedef struct SeriesTag {
    Slice key;   /* non-empty, no '='; borrowed */
    Slice value; /* may be empty; borrowed */
} SeriesTag;

/*
 * Build the canonical key from 'metric' and 'tags' and append it to 'out'.
 *
 * Tags are written in sorted order (the 'tags' array itself is not modified); a space inside
 * the metric, a key or a value is written as "\ " unless the byte before it is already a
 * backslash. Returns TS_OK; TS_ERR_PROTO if the metric or a tag key is empty, a key contains
 * '=', or a component that a separator follows ends with '\'; TS_ERR_LIMIT if ntags > max_tags
 * (or SERIES_KEY_TAGS_MAX) or the key would be longer than max_bytes. On error nothing is
 * appended and 'err' (may be NULL) says why. All inputs are borrowed.
 */
int series_key_build(Slice metric, const SeriesTag *tags, size_t ntags, size_t max_tags,
                     size_t max_bytes, Buf *out, TsError *err);

/*
 * Split a canonical key into its metric and up to 'cap' tags, in key order.
 *
 * The slices point into 'key' (escapes kept, nothing allocated) and are valid as long as the
 * bytes of 'key' are. Returns TS_OK with *ntags set; TS_ERR_LIMIT if the key has more than
 * 'cap' tags; TS_ERR_PROTO if the key is not canonical-shaped (empty metric, empty component
 * between separators, a tag without '=' or with an empty key). err->pos is the byte offset.
 */
int series_key_split(Slice key, Slice *metric, SeriesTag *tags, size_t cap, size_t *ntags,
                     TsError *err);

/*
 * Append the Graphite display form of 'key' to 'out'.
 *
 * Untagged keys are appended unchanged. Tagged keys become name;k1=v1;k2=v2 with the tags
 * sorted bytewise by their unescaped "k=v" strings, as graphite-web's TaggedSeries.format does,
 * and every "\ " unescaped to a space. A key that does not split (not canonical) is appended
 * unchanged.
 */
void series_key_to_graphite(Slice key, Buf *out);

#endif
