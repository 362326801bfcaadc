/*
 * libFuzzer target for index/glob: the input is "<pattern>\n<text>" (no newline: the whole
 * input is the pattern and the text is empty). Every function must return without crashing,
 * in time bounded by the input size, and keep its documented invariants:
 *   - a pattern without magic matches exactly its own bytes;
 *   - glob_split's segments tile the pattern, separated by single dots;
 *   - "*" matches anything.
 */
#include "index/glob.h"
#include "core/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
    Slice pat = slice_make(data, nl ? (size_t)(nl - data) : size);
    Slice text = nl ? slice_make(nl + 1, size - pat.n - 1) : slice_make(NULL, 0);

    bool m = glob_match(pat, text);
    if (!glob_has_magic(pat) && m != slice_eq(pat, text))
        abort();
    if (!glob_match(slice_cstr("*"), text))
        abort();

    Slice segs[64];
    size_t n = 0;
    if (glob_split(pat, segs, 64, &n) == TS_OK) {
        size_t covered = 0;
        for (size_t i = 0; i < n; i++) {
            if (segs[i].n && segs[i].p != pat.p + covered)
                abort();
            covered += segs[i].n + (i + 1 < n);
            if (i + 1 < n && pat.p[covered - 1] != '.')
                abort();
            (void)glob_match(segs[i], text);
        }
        if (n == 0 || covered != pat.n)
            abort();
    } else if (n != 0) {
        abort();
    }
    return 0;
}
