/*
 * libFuzzer target for the configuration path: arbitrary bytes through the INI tokenizer,
 * through conf_load_text (the schema, units and messages), and through conf_set.
 *
 * Oracles beyond "no crash, no leak, no UB": a successful load must write an effective config
 * that loads back and writes the same text again (conf_write_effective is what the server
 * logs and what a user may copy into a file), and every error message is NUL-terminated.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/ini.h"
#include "core/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_cb(void *ctx, Slice section, Slice key, Slice value, unsigned line)
{
    size_t *n = ctx;
    /* Touch every byte so ASan sees any out-of-bounds slice. */
    size_t sum = 0;
    for (size_t i = 0; i < section.n; i++)
        sum += section.p[i];
    for (size_t i = 0; i < key.n; i++)
        sum += key.p[i];
    for (size_t i = 0; i < value.n; i++)
        sum += value.p[i];
    *n += sum + line;
    if (key.n == 0 && key.p != NULL)
        abort(); /* a header has the null key; a key is never empty */
    return TS_OK;
}

static void check_msg(const TsError *err)
{
    if (memchr(err->msg, '\0', sizeof(err->msg)) == NULL)
        abort();
}

/* A successful load must survive write-effective -> load -> write-effective unchanged. */
static void check_round_trip(const Config *c)
{
    Buf a;
    Buf b;
    buf_init(&a);
    buf_init(&b);
    conf_write_effective(c, &a);
    Config d;
    conf_init_defaults(&d);
    TsError err;
    if (conf_load_text(&d, "effective", slice_make(a.p, a.n), &err) != TS_OK)
        abort();
    conf_write_effective(&d, &b);
    if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0)
        abort();
    conf_deinit(&d);
    buf_deinit(&a);
    buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Slice text = slice_make(data, size);
    TsError err;
    memset(&err, 0, sizeof(err));

    size_t n = 0;
    (void)ini_parse(text, count_cb, &n, &err);
    check_msg(&err);

    Config c;
    conf_init_defaults(&c);
    if (conf_load_text(&c, "fuzz.ini", text, &err) == TS_OK)
        check_round_trip(&c);
    check_msg(&err);

    /* Each line (up to 512 bytes) as a --set argument. */
    size_t off = 0;
    int lines = 0;
    while (off < size && lines < 64) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t len = end - off < 512 ? end - off : 512;
        char *arg = ts_strndup((const char *)data + off, len);
        if (conf_set(&c, arg, &err) == TS_OK)
            check_round_trip(&c);
        check_msg(&err);
        ts_free(arg);
        off = end + 1;
        lines++;
    }
    conf_deinit(&c);
    return 0;
}
