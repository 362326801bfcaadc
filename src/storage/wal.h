/*
 * Write-ahead log: a directory of append-only files holding opaque typed records.
 *
 * The WAL does not know what its records contain; the caller picks the type byte (1..255) and
 * the payload. Files are '<dir>/<seq as 16 lowercase hex digits>.wal'; the byte layout is at the
 * top of wal.c and in docs/formats.md ("WAL").
 *
 * Durability contract: wal_append only hands the bytes to the kernel; wal_sync makes everything
 * appended so far durable. Any write or fsync failure latches the Wal failed (fsyncgate: a
 * failed fsync is never retried) and every later append/sync/rotate/remove returns
 * TS_ERR_READONLY.
 *
 * Threading: a Wal belongs to one thread at a time; it has no internal locking.
 */
#ifndef CAIRN_STORAGE_WAL_H
#define CAIRN_STORAGE_WAL_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Wal Wal;

typedef struct WalReplayStats {
    uint64_t files;         /* .wal files looked at */
    uint64_t records;       /* good records handed to the callback */
    uint64_t bytes;         /* bytes of good records (record headers included) */
    uint64_t dropped_bytes; /* bytes cut off torn or corrupt file tails */
    uint64_t corrupt_files; /* files that had a tail (or header) cut off */
} WalReplayStats;

/*
 * Replay callback: one good record of file 'seq'. 'payload' is borrowed and valid only during
 * the call. A non-TS_OK return stops the replay and is returned by wal_replay.
 */
typedef int (*WalRecordFn)(void *ctx, uint64_t seq, uint8_t type, const uint8_t *payload, size_t n);

/*
 * Replay every record of every '<seq>.wal' file in 'dir', in ascending seq order. Other names
 * are ignored; a missing 'dir' is an empty log.
 *
 * A torn or corrupt tail (short record, bad crc, length over 'max_record_bytes', type 0, bad or
 * short file header) cuts that file at its last good record: the file is truncated there
 * (ftruncate + fsync) and the dropped bytes are counted; replay continues with the next file.
 * 'max_record_bytes' 0 means no limit beyond the format's u32. Bad data never makes this fail;
 * only I/O errors (TS_ERR_IO) do, plus TS_ERR_CORRUPT for a well-formed header of an unknown
 * format version (such a file is left untouched). 'st' (may be NULL) is zeroed and filled;
 * 'err' may be NULL.
 */
int wal_replay(const char *dir, size_t max_record_bytes, WalRecordFn fn, void *ctx,
               WalReplayStats *st, TsError *err);

/*
 * Open 'dir' for appending: creates it (and missing parents) if needed and starts a NEW file
 * with seq = highest existing seq + 1 (1 for an empty directory), then fsyncs the directory.
 * Existing files are never appended to, so replay them first. 'segment_max_bytes' is the size
 * at which wal_should_rotate says yes (0 = never). On TS_OK the caller owns *out; free with
 * wal_close.
 */
int wal_open(const char *dir, uint64_t segment_max_bytes, Wal **out, TsError *err);

/* fdatasync (unless already failed; errors are ignored) and free. wal_close(NULL) is a no-op. */
void wal_close(Wal *w);

/*
 * Append one record with a single write(2) (looping only on short writes); no fsync.
 * Returns TS_OK; TS_ERR_PROTO for type 0; TS_ERR_LIMIT for n > UINT32_MAX; TS_ERR_READONLY on
 * a write failure (which latches the Wal) or if the Wal had already failed. 'payload' is
 * borrowed.
 */
int wal_append(Wal *w, uint8_t type, const void *payload, size_t n);

/* Bytes of the record header (length, crc, type) that precede every payload in a file. */
#define WAL_REC_HDR_BYTES 9u

/*
 * wal_append without the copy: 'rec' holds WAL_REC_HDR_BYTES of room followed by the payload,
 * 'rec_bytes' (>= WAL_REC_HDR_BYTES) in all. The call fills the header in place and writes the
 * record; the file bytes are exactly those of wal_append(w, type, rec + 9, rec_bytes - 9), with
 * the same return values. 'rec' is borrowed (its first WAL_REC_HDR_BYTES are overwritten).
 */
int wal_append_framed(Wal *w, uint8_t type, uint8_t *rec, size_t rec_bytes);

/*
 * fdatasync the current file (a no-op if nothing was appended since the last sync). A failure
 * latches the Wal failed; this and every later append/sync/rotate/remove returns
 * TS_ERR_READONLY.
 */
int wal_sync(Wal *w);

/* True once a write or fsync has failed. */
bool wal_failed(const Wal *w);

/* errno of the failure that latched the Wal, 0 if it has not failed. */
int wal_failed_errno(const Wal *w);

/* True when the current file has reached segment_max_bytes. */
bool wal_should_rotate(const Wal *w);

/*
 * Sync and close the current file and start the next seq (header written, directory fsynced).
 * *closed_seq (may be NULL) receives the seq of the closed file. TS_ERR_READONLY on failure,
 * which latches the Wal.
 */
int wal_rotate(Wal *w, uint64_t *closed_seq);

/*
 * Delete every .wal file with seq <= 'upto', except the current one, then fsync the directory.
 * Returns TS_ERR_IO if an unlink fails (nothing latched), TS_ERR_READONLY if the Wal had failed
 * or the directory fsync fails (which latches it).
 */
int wal_remove_upto(Wal *w, uint64_t upto);

uint64_t wal_current_seq(const Wal *w);
/* Bytes of records (headers included) appended since wal_open. */
uint64_t wal_bytes_total(const Wal *w);
/* fdatasync calls that succeeded since wal_open. */
uint64_t wal_syncs_total(const Wal *w);

/*
 * I/O hooks for fault-injection tests. Each hook behaves like the system call it replaces
 * (returns -1 and sets errno on failure); a NULL member means the real call. 'fsync' is used for
 * directory syncs. The table is copied; wal_set_io(w, NULL) restores the real calls.
 */
typedef struct WalIo {
    void *ctx; /* passed to every hook */
    ssize_t (*write)(void *ctx, int fd, const void *p, size_t n);
    int (*fdatasync)(void *ctx, int fd);
    int (*fsync)(void *ctx, int fd);
} WalIo;

void wal_set_io(Wal *w, const WalIo *io);

#endif
