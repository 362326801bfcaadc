/*
 * Graphite glob matching for one path segment, and brace-aware splitting of a whole pattern.
 *
 * The series index walks its tree of dotted Graphite names one level at a time; at each level it
 * asks glob_match whether a child's name matches that level's pattern segment. Patterns come
 * straight from HTTP queries, so the matcher must stay fast on hostile input: instead of
 * expanding braces (exponential in the number of groups) or backtracking on '*' (exponential in
 * the number of stars), it first scans the pattern once into a per-byte "kind" table, linking
 * each brace group's '{', ',' and '}' together, and then runs a Thompson simulation: the set of
 * pattern positions that could be current, advanced one text byte at a time, with epsilon moves
 * for '*' (skip it), '{' (enter any alternative), ',' (an alternative ended: leave the group)
 * and '}' (leave the group). Each step touches every position at most once, so a match costs
 * O(pattern * text) time and O(pattern) memory, all of which is allocated once per call.
 *
 * Brace pairing is the usual innermost-first pairing: a '}' closes the nearest open '{'; a '{'
 * that is never closed, and the commas seen while it was innermost, are literal. A '[' opens a
 * class only when a closing ']' follows (a ']' right after '[', '[!' or '[^' is a member), and
 * a class is one atom: braces, commas and dots inside it are members.
 */
#include "index/glob.h"
#include "core/alloc.h"
#include "core/status.h"

#include <stdint.h>
#include <string.h>

enum {
    K_LIT = 0, /* matches its own byte */
    K_STAR,    /* '*' */
    K_ANY,     /* '?' */
    K_CLASS,   /* '[' of a class; alt[] holds its closing ']' */
    K_INCLASS, /* a byte inside a class; never a state */
    K_OPEN,    /* '{' of a closed group; alt[] holds the first ',' or the '}' */
    K_COMMA,   /* ',' of a closed group; alt[] holds the next ',' or the '}' */
    K_CLOSE    /* '}' closing a group */
};

#define GLOB_STACK_MAX 256 /* patterns up to this many bytes need no heap */
#define GLOB_STACK_WORDS 448

/* The scanned pattern plus the simulation's scratch, carved out of one block. */
typedef struct GlobProg {
    const uint8_t *p; /* the pattern (borrowed) */
    uint32_t m;       /* its length */
    uint8_t *kind;    /* [m] K_* per byte */
    uint32_t *alt;    /* [m] see K_CLASS, K_OPEN, K_COMMA */
    uint32_t *close;  /* [m] K_OPEN/K_COMMA: the group's '}'; during the scan, a group's tail */
    uint32_t *work;   /* [m + 1] scan stack of open braces, then the closure worklist */
    uint64_t *cur;    /* [words] states before the current text byte */
    uint64_t *next;   /* [words] states after it */
    size_t words;     /* 64-bit words per state set (m + 1 bits) */
    void *heap;       /* the block when it did not fit in 'stack', else NULL */
    uint64_t stack[GLOB_STACK_WORDS];
} GlobProg;

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Position of the ']' closing the class that starts at p[i] == '[', or SIZE_MAX if none. */
static size_t class_end(const uint8_t *p, size_t m, size_t i)
{
    size_t j = i + 1;
    if (j < m && (p[j] == '!' || p[j] == '^'))
        j++;
    if (j < m && p[j] == ']')
        j++;
    while (j < m && p[j] != ']')
        j++;
    return j < m ? j : SIZE_MAX;
}

/* Does byte 'c' belong to the class p[i..end] (p[i] == '[', p[end] == ']')? */
static bool class_match(const uint8_t *p, size_t i, size_t end, uint8_t c)
{
    size_t j = i + 1;
    bool neg = false;
    if (p[j] == '!' || p[j] == '^') {
        neg = true;
        j++;
    }
    bool hit = false;
    while (j < end) {
        if (j + 2 < end && p[j + 1] == '-') {
            if (p[j] <= c && c <= p[j + 2])
                hit = true;
            j += 3;
        } else {
            if (p[j] == c)
                hit = true;
            j++;
        }
    }
    return hit != neg;
}

/* Carve the scratch for a pattern of 'm' bytes (m <= GLOB_PATTERN_MAX) and scan it. */
static void prog_init(GlobProg *g, const uint8_t *p, size_t m)
{
    g->p = p;
    g->m = (uint32_t)m;
    g->words = (m + 1 + 63) / 64;
    size_t need = round8(m) + 2 * round8(4 * m) + round8(4 * (m + 1)) + 2 * 8 * g->words;
    uint8_t *base;
    if (need <= sizeof(g->stack)) {
        g->heap = NULL;
        base = (uint8_t *)g->stack;
    } else {
        g->heap = ts_malloc(need);
        base = g->heap;
    }
    g->cur = (uint64_t *)base;
    base += 8 * g->words;
    g->next = (uint64_t *)base;
    base += 8 * g->words;
    g->alt = (uint32_t *)base;
    base += round8(4 * m);
    g->close = (uint32_t *)base;
    base += round8(4 * m);
    g->work = (uint32_t *)base;
    base += round8(4 * (m + 1));
    g->kind = base;

    if (m)
        memset(g->kind, K_LIT, m);
    size_t top = 0;
    for (size_t i = 0; i < m; i++) {
        switch (p[i]) {
        case '*':
            g->kind[i] = K_STAR;
            break;
        case '?':
            g->kind[i] = K_ANY;
            break;
        case '[': {
            size_t e = class_end(p, m, i);
            if (e != SIZE_MAX) {
                g->kind[i] = K_CLASS;
                g->alt[i] = (uint32_t)e;
                memset(g->kind + i + 1, K_INCLASS, e - i);
                i = e;
            }
            break;
        }
        case '{':
            g->work[top++] = (uint32_t)i;
            g->close[i] = (uint32_t)i; /* the group's tail, so far its '{' */
            break;
        case ',':
            if (top) {
                uint32_t o = g->work[top - 1];
                g->alt[g->close[o]] = (uint32_t)i;
                g->close[o] = (uint32_t)i;
            }
            break;
        case '}':
            if (top) {
                uint32_t o = g->work[--top];
                g->alt[g->close[o]] = (uint32_t)i;
                g->kind[o] = K_OPEN;
                g->kind[i] = K_CLOSE;
                for (uint32_t j = o; j != i; j = g->alt[j]) {
                    g->close[j] = (uint32_t)i;
                    if (j != o)
                        g->kind[j] = K_COMMA;
                }
            }
            break;
        default:
            break;
        }
    }
}

static void prog_deinit(GlobProg *g)
{
    ts_free(g->heap);
}

static inline bool bit_get(const uint64_t *set, uint32_t s)
{
    return (set[s >> 6] >> (s & 63)) & 1;
}

/* Add state 's' and everything reachable from it without consuming a byte. */
static void prog_add(GlobProg *g, uint64_t *set, uint32_t s)
{
    size_t top = 0;
#define PUSH(x)                                                                                    \
    do {                                                                                           \
        uint32_t x_ = (x);                                                                         \
        if (!bit_get(set, x_)) {                                                                   \
            set[x_ >> 6] |= (uint64_t)1 << (x_ & 63);                                              \
            g->work[top++] = x_;                                                                   \
        }                                                                                          \
    } while (0)
    PUSH(s);
    while (top) {
        s = g->work[--top];
        if (s == g->m)
            continue;
        switch (g->kind[s]) {
        case K_STAR:
        case K_CLOSE:
            PUSH(s + 1);
            break;
        case K_OPEN:
            PUSH(s + 1);
            for (uint32_t j = g->alt[s]; g->kind[j] == K_COMMA; j = g->alt[j])
                PUSH(j + 1);
            break;
        case K_COMMA:
            PUSH(g->close[s] + 1);
            break;
        default:
            break;
        }
    }
#undef PUSH
}

bool glob_has_magic(Slice pattern)
{
    for (size_t i = 0; i < pattern.n; i++) {
        uint8_t c = pattern.p[i];
        if (c == '*' || c == '?' || c == '[' || c == '{')
            return true;
    }
    return false;
}

bool glob_match(Slice pattern, Slice text)
{
    if (pattern.n > GLOB_PATTERN_MAX)
        return false;
    if (!glob_has_magic(pattern))
        return slice_eq(pattern, text);
    if (pattern.n == 1 && pattern.p[0] == '*')
        return true;

    GlobProg g;
    prog_init(&g, pattern.p, pattern.n);
    memset(g.cur, 0, 8 * g.words);
    prog_add(&g, g.cur, 0);
    bool alive = true;
    for (size_t t = 0; t < text.n && alive; t++) {
        uint8_t c = text.p[t];
        memset(g.next, 0, 8 * g.words);
        alive = false;
        for (size_t w = 0; w < g.words; w++) {
            uint64_t bits = g.cur[w];
            while (bits) {
                uint32_t s = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
                bits &= bits - 1;
                if (s == g.m)
                    continue;
                switch (g.kind[s]) {
                case K_STAR:
                    prog_add(&g, g.next, s);
                    alive = true;
                    break;
                case K_ANY:
                    prog_add(&g, g.next, s + 1);
                    alive = true;
                    break;
                case K_CLASS:
                    if (class_match(g.p, s, g.alt[s], c)) {
                        prog_add(&g, g.next, g.alt[s] + 1);
                        alive = true;
                    }
                    break;
                case K_LIT:
                    if (g.p[s] == c) {
                        prog_add(&g, g.next, s + 1);
                        alive = true;
                    }
                    break;
                default:
                    break;
                }
            }
        }
        uint64_t *tmp = g.cur;
        g.cur = g.next;
        g.next = tmp;
    }
    bool ok = alive && bit_get(g.cur, g.m);
    prog_deinit(&g);
    return ok;
}

int glob_split(Slice pattern, Slice *segs, size_t cap, size_t *nsegs)
{
    *nsegs = 0;
    if (pattern.n > GLOB_PATTERN_MAX)
        return TS_ERR_LIMIT;
    const uint8_t *p = pattern.n ? pattern.p : (const uint8_t *)"";
    GlobProg g;
    prog_init(&g, p, pattern.n);
    size_t depth = 0, start = 0, n = 0;
    int rc = TS_OK;
    for (size_t i = 0; i <= pattern.n; i++) {
        if (i < pattern.n) {
            if (g.kind[i] == K_OPEN)
                depth++;
            else if (g.kind[i] == K_CLOSE)
                depth--;
            if (!(g.kind[i] == K_LIT && p[i] == '.' && depth == 0))
                continue;
        }
        if (n == cap) {
            rc = TS_ERR_LIMIT;
            break;
        }
        segs[n++] = slice_make(p + start, i - start);
        start = i + 1;
    }
    prog_deinit(&g);
    *nsegs = rc == TS_OK ? n : 0;
    return rc;
}
