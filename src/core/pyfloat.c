/*
 * Python float() literals, as carbon applies float() to plaintext fields and pickle strings:
 * decimal and exponent forms, inf/infinity/nan in any case, an optional sign; no '_'
 * separators, no hex, no surrounding whitespace. Pure; locale-independent because the process
 * never calls setlocale.
 */
#include "core/pyfloat.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* ASCII case-insensitive equality with a lower-case literal (no locale involved). */
static bool eq_nocase(const uint8_t *p, size_t n, const char *lower)
{
    size_t m = strlen(lower);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + ('a' - 'A'));
        if (c != (uint8_t)lower[i])
            return false;
    }
    return true;
}

/* Length of the digit run starting at p[i]. */
size_t pyfloat_digit_run(const uint8_t *p, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && is_digit(p[k]))
        k++;
    return k - i;
}

/*
 * Parse a Python float() literal (ASCII, without '_' separators). Returns true and sets *v, or
 * false if 's' is not such a literal or is longer than PYFLOAT_MAX.
 */
bool pyfloat_parse(Slice s, double *v)
{
    char tmp[PYFLOAT_MAX + 1];
    const uint8_t *p = s.p;
    size_t n = s.n;
    size_t i = 0;
    bool neg = false;

    if (n == 0 || n > PYFLOAT_MAX)
        return false;
    if (p[0] == '+' || p[0] == '-') {
        neg = p[0] == '-';
        i = 1;
    }
    if (eq_nocase(p + i, n - i, "inf") || eq_nocase(p + i, n - i, "infinity")) {
        *v = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (eq_nocase(p + i, n - i, "nan")) {
        *v = NAN;
        return true;
    }
    size_t int_digits = pyfloat_digit_run(p, n, i);
    i += int_digits;
    size_t frac_digits = 0;
    if (i < n && p[i] == '.') {
        i++;
        frac_digits = pyfloat_digit_run(p, n, i);
        i += frac_digits;
    }
    if (int_digits + frac_digits == 0)
        return false;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t exp_digits = pyfloat_digit_run(p, n, i);
        if (exp_digits == 0)
            return false;
        i += exp_digits;
    }
    if (i != n)
        return false;
    if (int_digits + frac_digits <= 15 && frac_digits <= 15 &&
        i == int_digits + frac_digits + (frac_digits > 0) + (neg || p[0] == '+')) {
        /* Fast exact path: a mantissa below 10^15 < 2^53 and 10^d (d <= 15) are exact doubles,
         * and IEEE division rounds correctly, so m / 10^d is what strtod returns. */
        static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        uint64_t m = 0;
        for (size_t k = (neg || p[0] == '+'); k < n; k++)
            if (p[k] != '.')
                m = m * 10 + (uint64_t)(p[k] - '0');
        double d = (double)m / pow10[frac_digits];
        *v = neg ? -d : d;
        return true;
    }

    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end = NULL;
    double d = strtod(tmp, &end);
    /* ERANGE is fine: Python gives inf for 1e999 and 0.0 (or a subnormal) for 1e-999 too. */
    if (end != tmp + n)
        return false;
    *v = d;
    return true;
}

