/*
 * Segment files: immutable files of blocks, written once by a SegmentWriter and read through
 * mmap by any number of threads.
 *
 * A segment does not look inside blocks: a block is opaque bytes plus the metadata the caller
 * passes in (series id, time range, point count), which goes into a sorted index at the end of
 * the file. Files are named '<dir>/<seq as 16 lowercase hex digits>.seg' by the caller; the byte
 * layout is at the top of segment.c and in docs/formats.md ("Segment").
 *
 * Lifetime: an open Segment is immutable and reference-counted (atomic), so readers never lock
 * writers out. Every pointer or Slice a Segment hands out is borrowed and valid while the caller
 * holds a reference.
 */
#ifndef CAIRN_STORAGE_SEGMENT_H
#define CAIRN_STORAGE_SEGMENT_H

#include "core/slice.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct SegmentEntry {
    uint64_t series_id;
    int64_t min_ts_ns; /* first timestamp in the block */
    int64_t max_ts_ns; /* last timestamp in the block, >= min_ts_ns */
    uint32_t n_points; /* points in the block */
    uint64_t offset;   /* byte offset of the block in the file */
    uint32_t length;   /* bytes of the block */
} SegmentEntry;

typedef struct SegmentWriter SegmentWriter;

/*
 * Start writing a segment: creates (or truncates) '<path>.tmp'. 'seq' is stored in the footer.
 * On TS_OK the caller owns *out and must end it with segment_writer_finish or
 * segment_writer_abort.
 */
int segment_writer_open(const char *path, uint64_t seq, SegmentWriter **out, TsError *err);

/*
 * Append one block. Blocks must come in non-decreasing (series_id, min_ts_ns) order, with
 * min_ts_ns <= max_ts_ns; a violation returns TS_ERR_PROTO and a block over UINT32_MAX bytes
 * TS_ERR_LIMIT, both leaving the writer as it was. TS_ERR_IO means a write failed: the writer is
 * then unusable and the caller must abort it. 'block' is borrowed (copied).
 */
int segment_writer_add(SegmentWriter *w, uint64_t series_id, int64_t min_ts_ns, int64_t max_ts_ns,
                       uint32_t n_points, Slice block, TsError *err);

/*
 * Write the index and footer, fsync the file, rename it to 'path' (atomically replacing any file
 * of that name) and fsync the directory. Frees 'w' whatever happens. Returns TS_OK or TS_ERR_IO.
 * On an error before the rename the tmp file is removed and 'path' is untouched; if only the
 * final directory fsync fails, the complete file stays at 'path' but its name may not be
 * durable yet.
 */
int segment_writer_finish(SegmentWriter *w, TsError *err);

/* Close and unlink the tmp file and free 'w'. segment_writer_abort(NULL) is a no-op. */
void segment_writer_abort(SegmentWriter *w);

typedef struct Segment Segment;

/*
 * mmap 'path' and validate its header, footer and index (crcs, entry order, every block inside
 * the data area, no overlaps). Returns TS_ERR_CORRUPT with a message for a bad file and TS_ERR_IO
 * if it cannot be read. On TS_OK the caller owns one reference; release with segment_unref.
 */
int segment_open(const char *path, Segment **out, TsError *err);

/* Take one more reference. Thread-safe. */
void segment_ref(Segment *s);

/*
 * Drop one reference. The last one unmaps and frees the segment and, if segment_mark_deleted
 * was called, unlinks its file. Thread-safe; segment_unref(NULL) is a no-op.
 */
void segment_unref(Segment *s);

/*
 * Have the last segment_unref delete the file (after compaction or retention). The file is
 * unlinked by path, so do not mark a segment whose path a newer file has replaced. Thread-safe.
 */
void segment_mark_deleted(Segment *s);

uint64_t segment_seq(const Segment *s);
/* Time range of the whole file; INT64_MAX / INT64_MIN for a file with no entries. */
int64_t segment_min_ts(const Segment *s);
int64_t segment_max_ts(const Segment *s);
uint64_t segment_file_bytes(const Segment *s);
/* Sum of n_points over all entries. */
uint64_t segment_point_count(const Segment *s);
size_t segment_entry_count(const Segment *s);

/* All entries in (series_id, min_ts_ns) order. Borrowed; valid while 's' is referenced. */
const SegmentEntry *segment_entries(const Segment *s);

/*
 * Entries of one series by binary search: returns how many (0 if none) and sets *first to the
 * first of them (NULL if none). Borrowed; valid while 's' is referenced.
 */
size_t segment_find(const Segment *s, uint64_t series_id, const SegmentEntry **first);

/*
 * Bytes of the block of entry 'e' (which must come from this segment), borrowed from the
 * mapping and valid while 's' is referenced. Checking the block's own checksum is the block
 * module's job.
 */
Slice segment_block(const Segment *s, const SegmentEntry *e);

/*
 * Re-check the file structure in the mapping: header, footer and index crcs, entry order, every
 * entry's offset/length inside the data area and non-overlapping. TS_OK or TS_ERR_CORRUPT.
 */
int segment_verify(const Segment *s, TsError *err);

#endif
