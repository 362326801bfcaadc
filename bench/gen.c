/*
 * gen: deterministic devops-like load generator for the cairn benchmark (bench/ingest.sh).
 *
 * The data set is H hosts x M metrics = H*M series, P points per series at fixed 10 s steps
 * from a fixed start epoch (default 2026-01-01T00:00:00Z). Every series owns a splitmix64
 * stream seeded from (seed, series index), so the data set depends only on (seed, H, M, P,
 * start) and never on how the series are split across connections or threads.
 *
 * Metric m uses spec gen_specs[m % 10] (names get a suffix "_<m/10>" when M > 10). A spec is
 * either
 *   - a GAUGE: an integer number of 10^-d units (d = 1 or 2 decimals). The first value is
 *     uniform over [lo, hi); every later value is the previous one plus a step uniform over the
 *     K integers step_min .. step_min+K-1, wrapped modulo (hi - lo) into [lo, hi). Wrapping
 *     (instead of clamping or reflecting) keeps the map step -> next value a bijection, so the
 *     entropy of a point given its predecessor is exactly log2(K); or
 *   - a COUNTER: an integer. The first value is uniform over [lo, hi); every later value adds
 *     an increment uniform over step_min .. step_min+K-1 (step_min >= 0, so it never
 *     decreases), giving exactly log2(K) bits per point.
 * Uniform draws use Lemire's multiply-shift with rejection, so they are exactly uniform.
 *
 * Entropy floor (--floor): timestamps are fixed 10 s steps and carry 0 bits; a series
 * contributes log2(hi - lo) bits for its first point and log2(K) bits for each of the other
 * P - 1 points. The floor is the sum over all series divided by H*M*P. It is the Shannon
 * entropy of the stated distributions (what no lossless store can beat on average for data
 * drawn from them); series names and index structures are not counted.
 *
 * Wire formats (--format), the same points in each; dc = host % 8, ts in seconds, ts_ns = ts *
 * 10^9; values are printed with the spec's decimals ("42.17") in every text format:
 *   plaintext (Graphite, default), one line per point:
 *     untagged: "devops.host_0042.cpu.user 42.17 1767225600\n"
 *     tagged:   "cpu.user;host=host_0042;dc=dc2 42.17 1767225600\n"
 *   pickle (Graphite carbon, TCP 2004): frames of GEN_PICKLE_BATCH entries (the last frame of a
 *     connection may hold fewer), each a u32 big-endian payload length, then a protocol 2
 *     pickle of [(name, (ts, value)), ...] built from these opcodes only:
 *       80 02                  PROTO 2
 *       5d                     EMPTY_LIST
 *       28                     MARK
 *       per entry:
 *         58 <u32le n> <n bytes> BINUNICODE name (the plaintext name, untagged or tagged)
 *         4a <i32le>             BININT ts, or 8a <u8 n> <n bytes le two's complement> LONG1
 *                                when ts does not fit in an int32
 *         47 <f64 big-endian>    BINFLOAT value: units / 10^decimals, the double that strtod
 *                                gives for the plaintext text (one correctly rounded division)
 *         86 86                  TUPLE2 (ts, value), TUPLE2 (name, (ts, value))
 *       65                     APPENDS
 *       2e                     STOP
 *   resp (Akumuli RESP, one point per message):
 *     "+cpu.user host=host_0042 dc=dc2\r\n:1767225600000000000\r\n+42.17\r\n"
 *   resp-bulk (Akumuli RESP, one row per host per timestamp with all its metrics, at most
 *     GEN_BULK_MAX metrics per row):
 *     "+cpu.user|cpu.system|...|sensors.temp_celsius host=host_0042 dc=dc2\r\n"
 *     ":1767225600000000000\r\n*10\r\n+42.17\r\n+3.05\r\n...+41.3\r\n"
 *   opentsdb (telnet put lines):
 *     "put cpu.user 1767225600 42.17 host=host_0042 dc=dc2\n"
 * resp, resp-bulk and opentsdb always carry the tags (those protocols need at least one).
 * Points are ordered time-major (every series at t0, then every series at t1, ...), as
 * collectors send. With --connect the series are partitioned by host over N TCP connections
 * (host h goes to connection h % N), each connection time-major over its own hosts.
 *
 * Plain C with libc and pthreads only; built by bench/Makefile.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GEN_STEP_S 10
#define GEN_DEFAULT_START_S 1767225600LL /* 2026-01-01T00:00:00Z */
#define GEN_OUT_CHUNK (1u << 20)         /* bytes handed to write() at once */
#define GEN_MAX_LINE 512                 /* bound on one point; names are checked against it */
#define GEN_UNIT_MAX (1u << 19)          /* bound on one pickle frame or one resp-bulk row */
#define GEN_PICKLE_BATCH 500             /* entries per pickle frame */
#define GEN_BULK_MAX 256                 /* metrics per resp-bulk row (Akumuli's row limit) */
#define GEN_MAX_CONNS 256
#define GEN_CONNECT_TIMEOUT_MS 20000

typedef enum { GEN_GAUGE, GEN_COUNTER } GenKind;

typedef enum { FMT_PLAINTEXT, FMT_PICKLE, FMT_RESP, FMT_RESP_BULK, FMT_OPENTSDB } GenFormat;

static const char *const gen_format_names[] = {"plaintext", "pickle", "resp", "resp-bulk",
                                               "opentsdb"};

typedef struct GenSpec {
    const char *name;  /* metric name (suffix _k added for m >= 10) */
    GenKind kind;
    int decimals;      /* gauges: value = units / 10^decimals; counters: 0 */
    int64_t lo;        /* first value uniform over [lo, hi) (units) */
    int64_t hi;        /* gauges also wrap into [lo, hi) */
    int64_t step_min;  /* step (gauge) or increment (counter) = step_min + U{0..k-1} */
    uint64_t step_k;   /* number of equally likely steps; the entropy is log2(step_k) */
    const char *about; /* one line for --describe */
} GenSpec;

/* The ten metric kinds; every step distribution is uniform so its entropy is exact. */
static const GenSpec gen_specs[10] = {
    {"cpu.user", GEN_GAUGE, 2, 0, 10000, -200, 401, "percent 0-100, step +-2.00"},
    {"cpu.system", GEN_GAUGE, 2, 0, 10000, -50, 101, "percent 0-100, step +-0.50"},
    {"cpu.iowait", GEN_GAUGE, 2, 0, 10000, -10, 21, "percent 0-100, step +-0.10"},
    {"mem.used_percent", GEN_GAUGE, 1, 0, 1000, -5, 11, "percent 0-100, step +-0.5"},
    {"load.load1", GEN_GAUGE, 2, 0, 6400, -30, 61, "load 0-64, step +-0.30"},
    {"disk.used_gb", GEN_GAUGE, 1, 0, 1000000, -15, 31, "GB 0-100000, step +-1.5"},
    {"net.bytes_recv", GEN_COUNTER, 0, 0, 1LL << 40, 0, 1u << 20,
     "counter, +U{0..2^20-1} per step"},
    {"net.bytes_sent", GEN_COUNTER, 0, 0, 1LL << 40, 0, 1u << 17,
     "counter, +U{0..2^17-1} per step"},
    {"disk.reads", GEN_COUNTER, 0, 0, 1LL << 30, 0, 1000, "counter, +U{0..999} per step"},
    {"sensors.temp_celsius", GEN_GAUGE, 1, 0, 1200, -2, 5, "degrees 0-120, step +-0.2"},
};

typedef struct GenOpts {
    uint32_t hosts;
    uint32_t metrics;
    uint64_t points;
    uint64_t seed;
    int64_t start_s;
    bool tagged;  /* forced on for resp, resp-bulk and opentsdb */
    bool pregen;
    GenFormat format;
    int conns;
    int port;     /* 0: write to stdout */
    const char *addr;
} GenOpts;

typedef struct GenSeries {
    uint64_t rng;   /* splitmix64 state */
    int64_t value;  /* current value in units */
    uint32_t name_off;
    uint16_t name_len; /* the head of a point, see set_build */
    uint8_t spec;
} GenSeries;

typedef struct GenSet {
    const GenOpts *opts;
    GenSeries *series;   /* hosts*metrics, index h*metrics + m */
    char *names;         /* point heads, referenced by name_off/name_len */
    size_t names_n;
    char *tags;          /* per host " host=host_0042 dc=dc2", tag_off[h]..tag_off[h+1] */
    uint32_t *tag_off;   /* hosts + 1 offsets */
    char **mnames;       /* the M metric names, NUL-terminated */
    char **rows;         /* resp-bulk: "+m1|m2|...|mk" per row of <= GEN_BULK_MAX metrics */
    uint32_t nrows;
} GenSet;

typedef struct GenWorker {
    GenSet *set;
    uint32_t conn;     /* this worker owns hosts h with h % conns == conn */
    int fd;            /* output descriptor */
    char *pre;         /* pregen: whole output of this worker; caller frees */
    size_t pre_n;
    uint64_t lines;    /* points written */
    uint64_t bytes;
    int64_t first_ns;  /* realtime before the first write */
    int64_t last_ns;   /* realtime after the last write */
    int err;           /* errno of a failed write, 0 if none */
} GenWorker;

static atomic_int gen_go; /* pregen: workers wait for this before sending */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Exactly uniform over 0..k-1 (k >= 1): Lemire's multiply-shift with rejection. */
static uint64_t rand_below(uint64_t *s, uint64_t k)
{
    unsigned __int128 m = (unsigned __int128)splitmix64(s) * k;
    uint64_t l = (uint64_t)m;
    if (l < k) {
        uint64_t t = (0 - k) % k;
        while (l < t) {
            m = (unsigned __int128)splitmix64(s) * k;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

static int64_t now_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "gen: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "gen: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return q;
}

/* Writes the decimal digits of v at the end of tmp[0..24); returns the first digit. */
static char *fmt_u64_rev(char *end, uint64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    char *p = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

/* Formats a value of 'decimals' decimals (0..2) given in units; returns bytes written. */
static size_t fmt_value(char *out, int64_t units, int decimals)
{
    char tmp[32];
    char *end = tmp + sizeof(tmp);
    bool neg = units < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;
    char *p;
    if (decimals == 0) {
        p = fmt_u64_rev(end, u);
    } else {
        uint64_t scale = decimals == 1 ? 10 : 100;
        uint64_t frac = u % scale;
        p = end - decimals;
        if (decimals == 1) {
            p[0] = (char)('0' + frac);
        } else {
            p[0] = (char)('0' + frac / 10);
            p[1] = (char)('0' + frac % 10);
        }
        *--p = '.';
        p = fmt_u64_rev(p, u / scale);
    }
    if (neg)
        *--p = '-';
    size_t n = (size_t)(end - p);
    memcpy(out, p, n);
    return n;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gen [options]\n"
            "  --hosts H        hosts (default 200)\n"
            "  --metrics M      metrics per host (default 10; spec m%%10, see --describe)\n"
            "  --points P       points per series at 10 s steps (default 8640 = 1 day)\n"
            "  --seed S         PRNG seed (default 1)\n"
            "  --start EPOCH_S  first timestamp (default 1767225600 = 2026-01-01T00:00:00Z)\n"
            "  --format F       plaintext (default), pickle (frames of 500), resp (one point per\n"
            "                   message), resp-bulk (one row per host and timestamp) or opentsdb\n"
            "  --tagged         'cpu.user;host=host_0042;dc=dc2' instead of\n"
            "                   'devops.host_0042.cpu.user' (plaintext, pickle; always on for\n"
            "                   resp, resp-bulk and opentsdb, which name 'cpu.user host=.. dc=..')\n"
            "  --connect PORT   stream over TCP to ADDR:PORT instead of writing stdout\n"
            "  --addr A         IPv4 address for --connect (default 127.0.0.1)\n"
            "  --conns N        parallel TCP connections, hosts split h %% N (default 4)\n"
            "  --pregen         generate everything in memory first, then send (--connect)\n"
            "  --floor          print the entropy floor of the data set and exit\n"
            "  --describe       print the metric specs and exit\n"
            "  --free-port      print a free TCP port on 127.0.0.1 and exit\n"
            "  --names          print the distinct metric names (query targets) and exit:\n"
            "                   untagged every series name, tagged the M metric names\n"
            "Statistics go to stderr as one 'gen: key=value ...' line.\n");
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t sl = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Appends n bytes to the growable string (*p, *used, *cap). */
static void str_add(char **p, size_t *used, size_t *cap, const void *src, size_t n)
{
    while (*used + n > *cap) {
        *cap *= 2;
        *p = xrealloc(*p, *cap);
    }
    memcpy(*p + *used, src, n);
    *used += n;
}

/* Frees what set_build allocated. */
static void set_free(GenSet *set)
{
    for (uint32_t m = 0; m < set->opts->metrics; m++)
        free(set->mnames[m]);
    for (uint32_t r = 0; r < set->nrows; r++)
        free(set->rows[r]);
    free(set->mnames);
    free(set->rows);
    free(set->tags);
    free(set->tag_off);
    free(set->series);
    free(set->names);
}

/*
 * Builds the series and, per format, the head of each point (what precedes the value):
 *   plaintext "name "   pickle 58 <u32le n> name   resp "+metric host=h dc=d\r\n"
 *   opentsdb "put metric "   resp-bulk: none (rows and host tags are used)
 */
static void set_build(GenSet *set, const GenOpts *o)
{
    size_t n = (size_t)o->hosts * o->metrics;
    int width = 4;
    for (uint32_t h = o->hosts > 0 ? o->hosts - 1 : 0; h >= 10000; h /= 10)
        width++;
    memset(set, 0, sizeof(*set));
    set->opts = o;
    set->series = xmalloc(n * sizeof(*set->series));
    set->mnames = xmalloc(o->metrics * sizeof(*set->mnames));
    for (uint32_t m = 0; m < o->metrics; m++) {
        const GenSpec *sp = &gen_specs[m % 10];
        char mname[64];
        if (m >= 10)
            snprintf(mname, sizeof(mname), "%s_%" PRIu32, sp->name, m / 10);
        else
            snprintf(mname, sizeof(mname), "%s", sp->name);
        set->mnames[m] = xmalloc(strlen(mname) + 1);
        memcpy(set->mnames[m], mname, strlen(mname) + 1);
    }
    size_t tcap = (size_t)o->hosts * 32 + 64, tused = 0;
    set->tags = xmalloc(tcap);
    set->tag_off = xmalloc(((size_t)o->hosts + 1) * sizeof(*set->tag_off));
    for (uint32_t h = 0; h < o->hosts; h++) {
        char t[64];
        int len = snprintf(t, sizeof(t), " host=host_%0*" PRIu32 " dc=dc%" PRIu32, width, h,
                           h % 8);
        set->tag_off[h] = (uint32_t)tused;
        str_add(&set->tags, &tused, &tcap, t, (size_t)len);
    }
    set->tag_off[o->hosts] = (uint32_t)tused;
    if (o->format == FMT_RESP_BULK) {
        set->nrows = (o->metrics + GEN_BULK_MAX - 1) / GEN_BULK_MAX;
        set->rows = xmalloc(set->nrows * sizeof(*set->rows));
        for (uint32_t r = 0; r < set->nrows; r++) {
            size_t rcap = 256, rused = 0;
            char *row = xmalloc(rcap);
            str_add(&row, &rused, &rcap, "+", 1);
            for (uint32_t m = r * GEN_BULK_MAX; m < o->metrics && m < (r + 1) * GEN_BULK_MAX;
                 m++) {
                if (m > r * GEN_BULK_MAX)
                    str_add(&row, &rused, &rcap, "|", 1);
                str_add(&row, &rused, &rcap, set->mnames[m], strlen(set->mnames[m]));
            }
            str_add(&row, &rused, &rcap, "", 1);
            set->rows[r] = row;
        }
    }
    size_t cap = n * 64 + 64, used = 0;
    set->names = xmalloc(cap);
    for (uint32_t h = 0; h < o->hosts; h++) {
        for (uint32_t m = 0; m < o->metrics; m++) {
            size_t i = (size_t)h * o->metrics + m;
            GenSeries *s = &set->series[i];
            const GenSpec *sp = &gen_specs[m % 10];
            const char *mname = set->mnames[m];
            char line[256];
            int len = 0;
            switch (o->format) {
            case FMT_PLAINTEXT:
            case FMT_PICKLE:
                if (o->tagged)
                    len = snprintf(line, sizeof(line), "%s;host=host_%0*" PRIu32 ";dc=dc%" PRIu32
                                   " ", mname, width, h, h % 8);
                else
                    len = snprintf(line, sizeof(line), "devops.host_%0*" PRIu32 ".%s ", width, h,
                                   mname);
                break;
            case FMT_RESP:
                len = snprintf(line, sizeof(line), "+%s%.*s\r\n", mname,
                               (int)(set->tag_off[h + 1] - set->tag_off[h]),
                               set->tags + set->tag_off[h]);
                break;
            case FMT_OPENTSDB:
                len = snprintf(line, sizeof(line), "put %s ", mname);
                break;
            case FMT_RESP_BULK:
                len = 0;
                break;
            }
            if (len < 0 || (size_t)len + 8 >= sizeof(line)) {
                fprintf(stderr, "gen: name too long\n");
                exit(2);
            }
            if (o->format == FMT_PICKLE) { /* BINUNICODE: 'X' u32le length, name w/o space */
                uint32_t nl = (uint32_t)len - 1;
                memmove(line + 5, line, nl);
                line[0] = 'X';
                line[1] = (char)(nl & 0xff);
                line[2] = (char)((nl >> 8) & 0xff);
                line[3] = (char)((nl >> 16) & 0xff);
                line[4] = (char)(nl >> 24);
                len = (int)nl + 5;
            }
            s->name_off = (uint32_t)used;
            s->name_len = (uint16_t)len;
            str_add(&set->names, &used, &cap, line, (size_t)len);
            s->spec = (uint8_t)(m % 10);
            s->rng = o->seed * 0xd1342543de82ef95ULL + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
            splitmix64(&s->rng);
            s->value = sp->lo + (int64_t)rand_below(&s->rng, (uint64_t)(sp->hi - sp->lo));
        }
    }
    set->names_n = used;
}

/* Advances a series by one 10 s step. */
static inline void series_step(GenSeries *s)
{
    const GenSpec *sp = &gen_specs[s->spec];
    int64_t d = sp->step_min + (int64_t)rand_below(&s->rng, sp->step_k);
    if (sp->kind == GEN_COUNTER) {
        s->value += d;
    } else {
        int64_t range = sp->hi - sp->lo;
        int64_t v = (s->value - sp->lo + d) % range;
        if (v < 0)
            v += range;
        s->value = sp->lo + v;
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Output of one worker: a chunk buffer flushed to sink_fd, or (sink_fd < 0) all in memory. */
typedef struct GenOut {
    GenWorker *w;
    int sink_fd;
    char *buf;
    size_t n;
    size_t cap;
} GenOut;

/*
 * Makes room for one unit (a point, a resp-bulk row or a whole pickle frame, at most
 * GEN_UNIT_MAX bytes): writes out a full chunk, or grows the in-memory buffer. Returns false
 * after a write error (w->err set).
 */
static inline bool out_room(GenOut *out)
{
    if (out->sink_fd >= 0) {
        if (out->n < GEN_OUT_CHUNK)
            return true;
        GenWorker *w = out->w;
        if (w->first_ns == 0)
            w->first_ns = now_real_ns();
        w->err = write_all(out->sink_fd, out->buf, out->n);
        w->bytes += out->n;
        out->n = 0;
        return w->err == 0;
    }
    if (out->n + GEN_UNIT_MAX > out->cap) {
        out->cap *= 2;
        out->buf = xrealloc(out->buf, out->cap);
    }
    return true;
}

static inline void put_u32be(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

/* Pickle: the frame length prefix and the opening opcodes; returns the frame's start offset. */
static inline size_t pickle_open(GenOut *out)
{
    size_t start = out->n;
    memcpy(out->buf + out->n, "\0\0\0\0\x80\x02](", 8);
    out->n += 8;
    return start;
}

/* Pickle: APPENDS, STOP, and the length prefix of the frame opened at 'start'. */
static inline void pickle_close(GenOut *out, size_t start)
{
    out->buf[out->n++] = 'e';
    out->buf[out->n++] = '.';
    put_u32be(out->buf + start, (uint32_t)(out->n - start - 4));
}

/* Pickle: BININT or LONG1 of a timestamp in seconds; returns bytes written. */
static size_t pickle_ts(char *p, int64_t ts)
{
    if (ts >= INT32_MIN && ts <= INT32_MAX) {
        uint32_t u = (uint32_t)(int32_t)ts;
        p[0] = 'J';
        for (int i = 0; i < 4; i++)
            p[1 + i] = (char)(u >> (8 * i));
        return 5;
    }
    /* LONG1: little-endian two's complement, the shortest that keeps the sign. */
    uint64_t u = (uint64_t)ts;
    int nb = 8;
    while (nb > 1) {
        uint8_t top = (uint8_t)(u >> (8 * (nb - 1)));
        uint8_t next = (uint8_t)(u >> (8 * (nb - 2)));
        if ((top == 0 && !(next & 0x80)) || (top == 0xff && (next & 0x80)))
            nb--;
        else
            break;
    }
    p[0] = (char)0x8a;
    p[1] = (char)nb;
    for (int i = 0; i < nb; i++)
        p[2 + i] = (char)(u >> (8 * i));
    return (size_t)nb + 2;
}

/* Pickle: BINFLOAT of the value (units / 10^decimals, one correctly rounded division). */
static inline void pickle_value(char *p, int64_t units, int decimals)
{
    double v = (double)units;
    if (decimals == 1)
        v /= 10.0;
    else if (decimals == 2)
        v /= 100.0;
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    p[0] = 'G';
    put_u32be(p + 1, (uint32_t)(b >> 32));
    put_u32be(p + 5, (uint32_t)b);
}

/*
 * Generates this worker's points in o->format. With sink_fd >= 0 every full chunk is written
 * to it; with sink_fd < 0 everything is appended to w->pre.
 */
static void worker_generate(GenWorker *w, int sink_fd)
{
    const GenSet *set = w->set;
    const GenOpts *o = set->opts;
    GenSeries *series = set->series;
    const char *names = set->names;
    GenOut out = {.w = w, .sink_fd = sink_fd};
    out.cap = sink_fd >= 0 ? GEN_OUT_CHUNK + GEN_UNIT_MAX : GEN_OUT_CHUNK * 4;
    out.buf = xmalloc(out.cap);
    uint32_t conns = (uint32_t)o->conns;
    uint32_t frame_entries = 0;
    size_t frame_start = 0;
    char ts[32];    /* plaintext " <ts>\n"; opentsdb "<ts> "; resp ":<ts_ns>\r\n+" */
    char ts_pk[16]; /* pickle BININT/LONG1 */
    size_t ts_n = 0, ts_pk_n = 0;
    for (uint64_t t = 0; t < o->points && w->err == 0; t++) {
        int64_t ts_s = o->start_s + (int64_t)t * GEN_STEP_S;
        char tmp[40];
        char *end = tmp + sizeof(tmp);
        char *p;
        switch (o->format) {
        case FMT_PLAINTEXT:
            p = fmt_u64_rev(end - 1, (uint64_t)ts_s);
            end[-1] = '\n';
            *--p = ' ';
            break;
        case FMT_OPENTSDB:
            p = fmt_u64_rev(end - 1, (uint64_t)ts_s);
            end[-1] = ' ';
            break;
        case FMT_RESP:
            p = fmt_u64_rev(end - 3, (uint64_t)ts_s * 1000000000ULL);
            memcpy(end - 3, "\r\n+", 3);
            *--p = ':';
            break;
        case FMT_RESP_BULK:
            p = fmt_u64_rev(end - 2, (uint64_t)ts_s * 1000000000ULL);
            memcpy(end - 2, "\r\n", 2);
            *--p = ':';
            break;
        default:
            p = end;
            ts_pk_n = pickle_ts(ts_pk, ts_s);
            break;
        }
        ts_n = (size_t)(end - p);
        memcpy(ts, p, ts_n);
        for (uint32_t h = w->conn; h < o->hosts && w->err == 0; h += conns) {
            GenSeries *s = &series[(size_t)h * o->metrics];
            const char *tags = set->tags + set->tag_off[h];
            size_t tags_n = set->tag_off[h + 1] - set->tag_off[h];
            if (o->format == FMT_RESP_BULK) {
                for (uint32_t r = 0; r < set->nrows; r++) {
                    if (!out_room(&out))
                        break;
                    uint32_t k = o->metrics - r * GEN_BULK_MAX;
                    if (k > GEN_BULK_MAX)
                        k = GEN_BULK_MAX;
                    size_t rl = strlen(set->rows[r]);
                    char *b = out.buf + out.n;
                    memcpy(b, set->rows[r], rl);
                    b += rl;
                    memcpy(b, tags, tags_n);
                    b += tags_n;
                    *b++ = '\r';
                    *b++ = '\n';
                    memcpy(b, ts, ts_n);
                    b += ts_n;
                    *b++ = '*';
                    char *q = fmt_u64_rev(tmp + sizeof(tmp), k);
                    memcpy(b, q, (size_t)(tmp + sizeof(tmp) - q));
                    b += tmp + sizeof(tmp) - q;
                    *b++ = '\r';
                    *b++ = '\n';
                    for (uint32_t j = 0; j < k; j++, s++) {
                        *b++ = '+';
                        b += fmt_value(b, s->value, gen_specs[s->spec].decimals);
                        *b++ = '\r';
                        *b++ = '\n';
                        series_step(s);
                    }
                    out.n = (size_t)(b - out.buf);
                    w->lines += k;
                }
                continue;
            }
            for (uint32_t m = 0; m < o->metrics; m++, s++) {
                char *b;
                int dec = gen_specs[s->spec].decimals;
                if (o->format == FMT_PICKLE) {
                    if (frame_entries == 0) {
                        if (!out_room(&out))
                            break;
                        frame_start = pickle_open(&out);
                    }
                    b = out.buf + out.n;
                    memcpy(b, names + s->name_off, s->name_len);
                    b += s->name_len;
                    memcpy(b, ts_pk, ts_pk_n);
                    b += ts_pk_n;
                    pickle_value(b, s->value, dec);
                    b += 9;
                    *b++ = (char)0x86;
                    *b++ = (char)0x86;
                    out.n = (size_t)(b - out.buf);
                    if (++frame_entries == GEN_PICKLE_BATCH) {
                        pickle_close(&out, frame_start);
                        frame_entries = 0;
                    }
                } else {
                    if (!out_room(&out))
                        break;
                    b = out.buf + out.n;
                    memcpy(b, names + s->name_off, s->name_len);
                    b += s->name_len;
                    switch (o->format) {
                    case FMT_OPENTSDB:
                        memcpy(b, ts, ts_n);
                        b += ts_n;
                        b += fmt_value(b, s->value, dec);
                        memcpy(b, tags, tags_n);
                        b += tags_n;
                        *b++ = '\n';
                        break;
                    case FMT_RESP:
                        memcpy(b, ts, ts_n);
                        b += ts_n;
                        b += fmt_value(b, s->value, dec);
                        *b++ = '\r';
                        *b++ = '\n';
                        break;
                    default: /* plaintext */
                        b += fmt_value(b, s->value, dec);
                        memcpy(b, ts, ts_n);
                        b += ts_n;
                        break;
                    }
                    out.n = (size_t)(b - out.buf);
                }
                w->lines++;
                series_step(s);
            }
        }
    }
    if (frame_entries > 0 && w->err == 0)
        pickle_close(&out, frame_start);
    if (sink_fd >= 0) {
        if (out.n > 0 && w->err == 0) {
            if (w->first_ns == 0)
                w->first_ns = now_real_ns();
            w->err = write_all(sink_fd, out.buf, out.n);
            w->bytes += out.n;
        }
        w->last_ns = now_real_ns();
        free(out.buf);
    } else {
        w->pre = out.buf;
        w->pre_n = out.n;
        w->bytes = out.n;
    }
}

static void *worker_main(void *arg)
{
    GenWorker *w = arg;
    if (!w->set->opts->pregen) {
        worker_generate(w, w->fd);
        return NULL;
    }
    while (!atomic_load(&gen_go))
        usleep(100);
    w->first_ns = now_real_ns();
    w->err = write_all(w->fd, w->pre, w->pre_n);
    w->last_ns = now_real_ns();
    return NULL;
}

static int connect_retry(const char *addr, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "gen: bad IPv4 address '%s'\n", addr);
        return -1;
    }
    int64_t deadline = now_mono_ns() + (int64_t)GEN_CONNECT_TIMEOUT_MS * 1000000LL;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (now_mono_ns() > deadline) {
            fprintf(stderr, "gen: connect %s:%d: %s\n", addr, port, strerror(e));
            return -1;
        }
        usleep(50000);
    }
}

static void print_describe(const GenOpts *o)
{
    printf("%-22s %-8s %3s  %-22s %10s %7s  %s\n", "metric", "kind", "dec",
           "first value (units)", "K steps", "bits", "distribution");
    for (int i = 0; i < 10; i++) {
        const GenSpec *sp = &gen_specs[i];
        char range[64];
        snprintf(range, sizeof(range), "U[%" PRId64 ", %" PRId64 ")", sp->lo, sp->hi);
        printf("%-22s %-8s %3d  %-22s %10" PRIu64 " %7.3f  %s\n", sp->name,
               sp->kind == GEN_GAUGE ? "gauge" : "counter", sp->decimals, range, sp->step_k,
               log2((double)sp->step_k), sp->about);
    }
    (void)o;
}

/* The floor: exact Shannon entropy per point of the data set, see the opening comment. */
static void print_floor(const GenOpts *o)
{
    double total_bits = 0.0;
    uint64_t series = (uint64_t)o->hosts * o->metrics;
    uint64_t points = series * o->points;
    for (uint32_t m = 0; m < o->metrics; m++) {
        const GenSpec *sp = &gen_specs[m % 10];
        double first = log2((double)(sp->hi - sp->lo));
        double step = log2((double)sp->step_k);
        double per_series = o->points > 0 ? first + (double)(o->points - 1) * step : 0.0;
        total_bits += per_series * o->hosts;
    }
    double bits = points ? total_bits / (double)points : 0.0;
    printf("series=%" PRIu64 " points=%" PRIu64 " floor_bits_per_point=%.4f "
           "floor_bytes_per_point=%.4f floor_total_bytes=%.0f\n",
           series, points, bits, bits / 8.0, total_bits / 8.0);
}

/* One query target per line: a series name (untagged) or a metric name (tagged). */
static void print_names(const GenOpts *o)
{
    GenOpts po = *o;
    po.format = FMT_PLAINTEXT;
    GenSet set;
    set_build(&set, &po);
    uint32_t hosts = o->tagged ? 1 : o->hosts;
    for (uint32_t h = 0; h < hosts; h++) {
        for (uint32_t m = 0; m < o->metrics; m++) {
            const GenSeries *s = &set.series[(size_t)h * o->metrics + m];
            if (o->tagged)
                printf("%s\n", set.mnames[m]);
            else /* drop the trailing space */
                printf("%.*s\n", (int)s->name_len - 1, set.names + s->name_off);
        }
    }
    set_free(&set);
}

int main(int argc, char **argv)
{
    GenOpts o = {.hosts = 200, .metrics = 10, .points = 8640, .seed = 1,
                 .start_s = GEN_DEFAULT_START_S, .conns = 4, .addr = "127.0.0.1"};
    bool floor_mode = false, describe = false, names = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x = 0;
        if (!strcmp(a, "--tagged")) {
            o.tagged = true;
        } else if (!strcmp(a, "--pregen")) {
            o.pregen = true;
        } else if (!strcmp(a, "--floor")) {
            floor_mode = true;
        } else if (!strcmp(a, "--names")) {
            names = true;
        } else if (!strcmp(a, "--describe")) {
            describe = true;
        } else if (!strcmp(a, "--free-port")) {
            int p = free_port();
            if (p < 0) {
                perror("gen: free port");
                return 1;
            }
            printf("%d\n", p);
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--format") && v) {
            size_t f = 0;
            while (f < sizeof(gen_format_names) / sizeof(gen_format_names[0]) &&
                   strcmp(v, gen_format_names[f]) != 0)
                f++;
            if (f == sizeof(gen_format_names) / sizeof(gen_format_names[0])) {
                fprintf(stderr, "gen: unknown format '%s'\n", v);
                return 2;
            }
            o.format = (GenFormat)f;
            i++;
        } else if (!strcmp(a, "--addr") && v) {
            o.addr = v;
            i++;
        } else if (v && parse_u64(v, 0, UINT64_MAX, &x)) {
            i++;
            if (!strcmp(a, "--hosts") && x >= 1 && x <= 10000000)
                o.hosts = (uint32_t)x;
            else if (!strcmp(a, "--metrics") && x >= 1 && x <= 1000)
                o.metrics = (uint32_t)x;
            else if (!strcmp(a, "--points") && x >= 1 && x <= 100000000)
                o.points = x;
            else if (!strcmp(a, "--seed"))
                o.seed = x;
            else if (!strcmp(a, "--start") && x <= 4102444800ULL)
                o.start_s = (int64_t)x;
            else if (!strcmp(a, "--connect") && x >= 1 && x <= 65535)
                o.port = (int)x;
            else if (!strcmp(a, "--conns") && x >= 1 && x <= GEN_MAX_CONNS)
                o.conns = (int)x;
            else {
                fprintf(stderr, "gen: bad option or value: %s %s\n", a, v);
                return 2;
            }
        } else {
            fprintf(stderr, "gen: bad option or value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.format == FMT_RESP || o.format == FMT_RESP_BULK || o.format == FMT_OPENTSDB)
        o.tagged = true;
    if (describe) {
        print_describe(&o);
        return 0;
    }
    if (floor_mode) {
        print_floor(&o);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (names) {
        print_names(&o);
        return 0;
    }
    if (o.port == 0)
        o.conns = 1;
    if ((uint32_t)o.conns > o.hosts)
        o.conns = (int)o.hosts;

    GenSet set;
    set_build(&set, &o);
    GenWorker *ws = xmalloc(sizeof(*ws) * (size_t)o.conns);
    memset(ws, 0, sizeof(*ws) * (size_t)o.conns);
    for (int c = 0; c < o.conns; c++) {
        ws[c].set = &set;
        ws[c].conn = (uint32_t)c;
        ws[c].fd = STDOUT_FILENO;
    }
    int64_t gen0 = now_mono_ns();
    if (o.pregen) {
        for (int c = 0; c < o.conns; c++)
            worker_generate(&ws[c], -1);
    }
    int64_t gen_ns = now_mono_ns() - gen0;
    if (o.port != 0) {
        for (int c = 0; c < o.conns; c++) {
            ws[c].fd = connect_retry(o.addr, o.port);
            if (ws[c].fd < 0)
                return 1;
        }
    }
    int64_t t0 = now_mono_ns();
    int rc = 0;
    if (o.port == 0 && !o.pregen) {
        worker_generate(&ws[0], STDOUT_FILENO);
    } else {
        pthread_t *th = xmalloc(sizeof(*th) * (size_t)o.conns);
        for (int c = 0; c < o.conns; c++) {
            if (pthread_create(&th[c], NULL, worker_main, &ws[c]) != 0) {
                fprintf(stderr, "gen: pthread_create failed\n");
                return 1;
            }
        }
        atomic_store(&gen_go, 1);
        for (int c = 0; c < o.conns; c++)
            pthread_join(th[c], NULL);
        free(th);
    }
    int64_t el_ns = now_mono_ns() - t0;
    uint64_t lines = 0, bytes = 0;
    int64_t first = 0, last = 0;
    for (int c = 0; c < o.conns; c++) {
        if (ws[c].err) {
            fprintf(stderr, "gen: write (connection %d): %s\n", c, strerror(ws[c].err));
            rc = 1;
        }
        lines += ws[c].lines;
        bytes += ws[c].bytes;
        if (ws[c].first_ns && (first == 0 || ws[c].first_ns < first))
            first = ws[c].first_ns;
        if (ws[c].last_ns > last)
            last = ws[c].last_ns;
        if (o.port != 0)
            close(ws[c].fd);
        free(ws[c].pre);
    }
    double el_s = (double)el_ns / 1e9;
    struct rusage ru;
    double cpu_s = 0.0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    fprintf(stderr,
            "gen: format=%s points=%" PRIu64 " bytes=%" PRIu64 " conns=%d pregen=%d "
            "pregen_s=%.3f send_s=%.3f cpu_s=%.2f points_per_s=%.0f points_per_cpu_s=%.0f "
            "mb_per_s=%.1f first_byte_ns=%" PRId64 " last_byte_ns=%" PRId64 "\n",
            gen_format_names[o.format], lines, bytes, o.conns, o.pregen ? 1 : 0,
            (double)gen_ns / 1e9, el_s, cpu_s, el_s > 0 ? (double)lines / el_s : 0.0,
            cpu_s > 0 ? (double)lines / cpu_s : 0.0, el_s > 0 ? (double)bytes / el_s / 1e6 : 0.0,
            first, last);
    free(ws);
    set_free(&set);
    return rc;
}
