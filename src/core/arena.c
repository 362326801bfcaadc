/*
 * Bump allocator in linked blocks of at least 64 KiB.
 */
#include "core/arena.h"
#include "core/alloc.h"

#include <stdint.h>

struct ArenaBlock {
    ArenaBlock *next; /* older block */
    size_t size;      /* usable bytes in data[] */
    size_t used;      /* bytes handed out from data[] */
    _Alignas(16) unsigned char data[];
};

#define ARENA_MIN_BLOCK (64 * 1024)

void arena_init(Arena *a, size_t cap_bytes)
{
    a->head = NULL;
    a->used_bytes = 0;
    a->cap_bytes = cap_bytes;
}

void arena_deinit(Arena *a)
{
    ArenaBlock *b = a->head;
    while (b) {
        ArenaBlock *next = b->next;
        ts_free(b);
        b = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

void arena_reset(Arena *a)
{
    if (!a->head)
        return;
    ArenaBlock *keep = a->head;
    while (keep->next)
        keep = keep->next;
    ArenaBlock *b = a->head;
    while (b != keep) {
        ArenaBlock *next = b->next;
        ts_free(b);
        b = next;
    }
    keep->used = 0;
    a->head = keep;
    a->used_bytes = sizeof(ArenaBlock) + keep->size;
}

void *arena_alloc(Arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    ArenaBlock *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = n > ARENA_MIN_BLOCK ? n : ARENA_MIN_BLOCK;
        if (a->cap_bytes && a->used_bytes + sizeof(ArenaBlock) + size > a->cap_bytes)
            return NULL;
        b = ts_malloc(sizeof(ArenaBlock) + size);
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        a->used_bytes += sizeof(ArenaBlock) + size;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}
