/*
 * Event block: the self-checking unit that stores a run of one event series (Akumuli `!name`
 * series: a timestamp and a text per event) in a segment file, beside the numeric blocks of
 * block.c. Its first byte (EVENT_BLOCK_MAGIC) tells the two kinds apart; the byte layout is at
 * the top of event_block.c.
 *
 * Pure: no I/O, no logging, no globals. Parsing and decoding treat the input as hostile.
 */
#ifndef CAIRN_STORAGE_EVENT_BLOCK_H
#define CAIRN_STORAGE_EVENT_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"
#include "query/source.h"

#define EVENT_BLOCK_MAGIC 0xC2          /* first byte of every event block, version 1 */
#define EVENT_BLOCK_MAX_EVENTS 4096     /* events in one block */
#define EVENT_BLOCK_MAX_TEXT (1u << 20) /* text bytes in one block (a writer's target) */
#define EVENT_TEXT_MAX 65536            /* bytes of one event's text */

typedef struct EventBlockHeader {
    uint32_t n_events;     /* 1..EVENT_BLOCK_MAX_EVENTS */
    int64_t min_ts_ns;     /* first timestamp */
    int64_t max_ts_ns;     /* last timestamp */
    uint32_t raw_bytes;    /* length of the uncompressed payload */
    uint32_t stored_bytes; /* length of the payload as stored */
    uint8_t flags;         /* EVENT_BLOCK_F_ZSTD */
    size_t header_bytes;   /* bytes before the payload */
} EventBlockHeader;

/* True if 'in' starts like an event block (its magic byte); says nothing of its validity. */
bool event_block_is(Slice in);

/*
 * How many events of ev, starting at 'from', the next block takes: at least 1, at most
 * EVENT_BLOCK_MAX_EVENTS, and no more once EVENT_BLOCK_MAX_TEXT bytes of text are reached.
 */
size_t event_block_span(const EventVec *ev, size_t from);

/*
 * Append one block holding events [from, from + n) of 'ev' to 'out'. Preconditions: 1 <= n <=
 * EVENT_BLOCK_MAX_EVENTS, timestamps strictly ascending, every text at most EVENT_TEXT_MAX
 * bytes. The payload is zstd-compressed when that saves at least 5%.
 */
void event_block_build(const EventVec *ev, size_t from, size_t n, Buf *out);

/*
 * Validate the header of the block at the start of 'in' and the crc over the whole block;
 * *total receives the block's length. TS_ERR_CORRUPT on any mismatch.
 */
int event_block_parse(Slice in, EventBlockHeader *h, size_t *total, TsError *err);

/*
 * Decode the block at the start of 'in', appending its events to 'out' (ascending). Validates
 * everything event_block_parse does plus the payload against the header (count, lengths, first
 * and last timestamp, strictly ascending times). On error 'out' is left as it was.
 */
int event_block_decode(Slice in, EventVec *out, TsError *err);

#endif
