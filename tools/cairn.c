/*
 * cairn: the command-line client and offline tool.
 *
 *   cairn check DIR     verify every checksum and invariant of a data directory
 *   cairn dump DIR      print every series and point ("<key> <ts_ns> <value>"; for an event
 *                       series "<key> <ts_ns> <text>")
 *
 * check and dump never modify DIR: they copy series.dat and the WAL into a temporary directory,
 * link the segment files beside them, and run the storage engine's recovery there offline, so a
 * torn WAL tail is cut in the copy exactly as start-up would cut it.
 */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "index/series_index.h"
#include "storage/engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] = "usage: cairn check DIR | cairn dump DIR\n";

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno == ENOENT ? 0 : -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[1 << 16];
    ssize_t k;
    int rc = 0;
    while ((k = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)k) != k) {
            rc = -1;
            break;
        }
    }
    if (k < 0)
        rc = -1;
    close(in);
    close(out);
    return rc;
}

/* Mirror DIR into tmp: copies of series.dat and the WAL files, links to the segments. */
static int mirror(const char *dir, const char *tmp)
{
    char a[4096], b[4096];
    snprintf(a, sizeof(a), "%s/series.dat", dir);
    snprintf(b, sizeof(b), "%s/series.dat", tmp);
    if (copy_file(a, b) != 0)
        return -1;
    const char *subs[] = {"wal", "seg"};
    for (int s = 0; s < 2; s++) {
        snprintf(b, sizeof(b), "%s/%s", tmp, subs[s]);
        if (mkdir(b, 0755) != 0)
            return -1;
        snprintf(a, sizeof(a), "%s/%s", dir, subs[s]);
        DIR *d = opendir(a);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            char src[4096], dst[4096];
            snprintf(src, sizeof(src), "%s/%s/%s", dir, subs[s], de->d_name);
            snprintf(dst, sizeof(dst), "%s/%s/%s", tmp, subs[s], de->d_name);
            if (s == 0 && len > 4 && strcmp(de->d_name + len - 4, ".wal") == 0) {
                if (copy_file(src, dst) != 0) {
                    closedir(d);
                    return -1;
                }
            } else if (s == 1 && len > 4 && strcmp(de->d_name + len - 4, ".seg") == 0) {
                char abs[4096];
                if (!realpath(src, abs) || symlink(abs, dst) != 0) {
                    closedir(d);
                    return -1;
                }
            }
        }
        closedir(d);
    }
    return 0;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char p[4096];
            snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

/* Open DIR offline through a mirror; returns 0 and fills *e, *ix, tmp. */
static int open_offline(const char *dir, char *tmp, size_t tmp_n, Engine **e, SeriesIndex **ix)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "cairn: %s is not a directory\n", dir);
        return -1;
    }
    snprintf(tmp, tmp_n, "/tmp/cairn-offline.XXXXXX");
    if (!mkdtemp(tmp) || mirror(dir, tmp) != 0) {
        fprintf(stderr, "cairn: cannot mirror %s into a temporary directory: %s\n", dir,
                strerror(errno));
        remove_tree(tmp);
        return -1;
    }
    *ix = series_index_new(UINT64_MAX);
    EngineOptions eo = {.dir = tmp, .offline = true, .compact_segments = 8};
    TsError err = {0};
    if (engine_open(&eo, *ix, e, &err) != TS_OK) {
        fprintf(stderr, "cairn: cannot open %s: %s\n", dir, err.msg);
        series_index_free(*ix);
        remove_tree(tmp);
        return -1;
    }
    return 0;
}

static int cmd_check(const char *dir)
{
    char tmp[64];
    Engine *e;
    SeriesIndex *ix;
    if (open_offline(dir, tmp, sizeof(tmp), &e, &ix) != 0)
        return 2;
    Buf report;
    buf_init(&report);
    uint64_t problems = 0;
    engine_check(e, &report, &problems);
    fwrite(report.p, 1, report.n, stdout);
    printf("%s: %s\n", dir, problems ? "CORRUPT" : "OK");
    buf_deinit(&report);
    engine_close(e);
    series_index_free(ix);
    remove_tree(tmp);
    return problems ? 1 : 0;
}

static int cmd_dump(const char *dir)
{
    char tmp[64];
    Engine *e;
    SeriesIndex *ix;
    if (open_offline(dir, tmp, sizeof(tmp), &e, &ix) != 0)
        return 2;
    EngineQuery q;
    QuerySource src;
    engine_query_source(e, &q, &src);
    PointVec pts;
    point_vec_init(&pts);
    EventVec evs;
    event_vec_init(&evs);
    uint64_t next = series_index_next_id(ix);
    for (uint64_t id = SERIES_ID_FIRST; id < next; id++) {
        Slice key;
        if (series_index_key(ix, id, &key) != TS_OK)
            continue;
        q.points_read = 0;
        if (key.n && key.p[0] == '!') {
            event_vec_clear(&evs);
            src.read_events(src.ctx, id, INT64_MIN, INT64_MAX, &evs);
            for (size_t i = 0; i < evs.n; i++) {
                Slice t = event_vec_text(&evs, i);
                printf("%.*s %" PRId64 " %.*s\n", (int)key.n, (const char *)key.p, evs.ts_ns[i],
                       (int)t.n, (const char *)t.p);
            }
            continue;
        }
        point_vec_clear(&pts);
        src.read(src.ctx, id, INT64_MIN, INT64_MAX, &pts);
        for (size_t i = 0; i < pts.n; i++)
            printf("%.*s %" PRId64 " %.17g\n", (int)key.n, (const char *)key.p, pts.ts_ns[i],
                   pts.values[i]);
    }
    point_vec_deinit(&pts);
    event_vec_deinit(&evs);
    engine_close(e);
    series_index_free(ix);
    remove_tree(tmp);
    return 0;
}

int main(int argc, char **argv)
{
    log_set_level(LOG_WARN);
    if (argc >= 3 && strcmp(argv[1], "check") == 0)
        return cmd_check(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "dump") == 0)
        return cmd_dump(argv[2]);
    fputs(usage, stderr);
    return 2;
}
