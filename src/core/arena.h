/*
 * Arena: a bump allocator for per-request and per-frame memory, freed in one call.
 *
 * Embedded (arena_init/arena_deinit). Pointers returned by arena_alloc are 16-byte aligned and
 * valid until arena_reset or arena_deinit. An arena may have a byte cap; past it arena_alloc
 * returns NULL (the only allocator in cairn that can return NULL), so parsers of untrusted input
 * can turn "too big" into TS_ERR_LIMIT.
 */
#ifndef CAIRN_CORE_ARENA_H
#define CAIRN_CORE_ARENA_H

#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;

typedef struct Arena {
    ArenaBlock *head;  /* newest block; older ones linked behind it */
    size_t used_bytes; /* total bytes handed out plus block headers */
    size_t cap_bytes;  /* 0 = unlimited */
} Arena;

void arena_init(Arena *a, size_t cap_bytes);
void arena_deinit(Arena *a);
/* Free everything but keep the first block for reuse. */
void arena_reset(Arena *a);
/* 'n' bytes of uninitialised memory, or NULL past the cap. */
void *arena_alloc(Arena *a, size_t n);

#endif
