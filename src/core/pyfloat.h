/*
 * Parsing numbers the way Python's float() does (see pyfloat.c). Pure.
 */
#ifndef CAIRN_CORE_PYFLOAT_H
#define CAIRN_CORE_PYFLOAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"

#define PYFLOAT_MAX 255 /* longest literal accepted */

/*
 * True and *v set if 's' is a Python float() literal of at most PYFLOAT_MAX bytes (without
 * surrounding whitespace and '_' separators). Short decimals take an exact fast path; the
 * result is always the correctly rounded double, as strtod gives.
 */
bool pyfloat_parse(Slice s, double *v);

/* Length of the run of ASCII digits starting at p[i] (i <= n). */
size_t pyfloat_digit_run(const uint8_t *p, size_t n, size_t i);

#endif
