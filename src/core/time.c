/*
 * Clocks plus Akumuli's basic-ISO timestamp parser and formatter (pure, no locale, no tz).
 */
#include "core/time.h"

#include <stdio.h>
#include <time.h>

int64_t ts_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * TS_NS_PER_SEC + t.tv_nsec;
}

int64_t ts_mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * TS_NS_PER_SEC + t.tv_nsec;
}

/* Howard Hinnant's days_from_civil algorithm (public-domain arithmetic). */
int64_t ts_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static int digits(const uint8_t *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int ts_parse_iso(Slice s, int64_t *out_ns, TsError *err)
{
    size_t i = 0;
    while (i < s.n && (s.p[i] < '0' || s.p[i] > '9'))
        i++;
    const uint8_t *p = s.p + i;
    size_t n = s.n - i;
    if (n == 0)
        return ts_error(err, TS_ERR_PROTO, i, "unknown timestamp format");
    if (n < 15 || p[8] != 'T') {
        uint64_t v = 0;
        for (size_t k = 0; k < n; k++) {
            if (p[k] < '0' || p[k] > '9')
                return ts_error(err, TS_ERR_PROTO, i + k, "unknown timestamp format");
            unsigned dgt = (unsigned)(p[k] - '0');
            if (v > ((uint64_t)INT64_MAX - dgt) / 10)
                return ts_error(err, TS_ERR_PROTO, i + k, "unknown timestamp format");
            v = v * 10 + dgt;
        }
        *out_ns = (int64_t)v;
        return TS_OK;
    }
    unsigned y, mo, d, h, mi, se;
    if (digits(p, 4, &y) || digits(p + 4, 2, &mo) || digits(p + 6, 2, &d) || digits(p + 9, 2, &h) ||
        digits(p + 11, 2, &mi) || digits(p + 13, 2, &se))
        return ts_error(err, TS_ERR_PROTO, i, "unknown timestamp format");
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
        return ts_error(err, TS_ERR_PROTO, i, "unknown timestamp format");
    int64_t frac = 0;
    size_t k = 15;
    if (k < n) {
        if (p[k] != '.' && p[k] != ',')
            return ts_error(err, TS_ERR_PROTO, i + k, "unknown timestamp format");
        k++;
        size_t nd = 0;
        int64_t scale = TS_NS_PER_SEC;
        for (; k < n; k++, nd++) {
            if (p[k] < '0' || p[k] > '9' || nd >= 10)
                return ts_error(err, TS_ERR_PROTO, i + k, "unknown timestamp format");
            /* Digits are right-padded to 9; a 10th digit spills into the seconds (Akumuli). */
            if (nd < 9) {
                scale /= 10;
                frac += (p[k] - '0') * scale;
            } else {
                frac = frac * 10 + (p[k] - '0');
            }
        }
    }
    int64_t days = ts_days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se;
    int64_t ns;
    /* Years past 2262 (or before 1677) do not fit in int64 nanoseconds. */
    if (__builtin_mul_overflow(secs, TS_NS_PER_SEC, &ns) || __builtin_add_overflow(ns, frac, &ns))
        return ts_error(err, TS_ERR_PROTO, i, "unknown timestamp format");
    *out_ns = ns;
    return TS_OK;
}

size_t ts_format_iso(int64_t ns, char *out)
{
    int64_t secs = ns / TS_NS_PER_SEC;
    int64_t frac = ns % TS_NS_PER_SEC;
    if (frac < 0) {
        frac += TS_NS_PER_SEC;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int k = snprintf(out, 32, "%04lld%02u%02uT%02d%02d%02d.%09lld", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (long long)frac);
    return k < 0 ? 0 : (size_t)k;
}
