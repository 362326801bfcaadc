#!/usr/bin/env bash
# Runs every test and prints one closing line "N passed, N failed".
#
#   lint:         cppcheck and gcc -fanalyzer over src/ and tools/
#   unit:         build/asan/tests/test_*            (cmocka executables, ASan+UBSan)
#   integration:  tests/integration/test_*.py        (start the real cairnd on 127.0.0.1)
#   tsan:         build/tsan (ThreadSanitizer): engine and index unit tests, test_plaintext, test_amqp
#   fuzz:         build/fuzz/fuzz_* for FUZZ_SECONDS (default 20) each, seeded from
#                 tests/fuzz/corpus/<name>/
# Environment: CAIRND / CAIRN override the binaries the integration tests use (default: the
# ASan build). ONLY=<substring> runs only the tests whose name contains it.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CAIRND=${CAIRND:-$ROOT/build/asan/cairnd}
export CAIRN=${CAIRN:-$ROOT/build/asan/cairn}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
ONLY=${ONLY:-}
LOGDIR=$(mktemp -d /tmp/cairn-tests.XXXXXX)
passed=0
failed=0
failures=()

run_one() { # name, command...
    local name=$1
    shift
    if [ -n "$ONLY" ] && [[ "$name" != *"$ONLY"* ]]; then
        return
    fi
    local log="$LOGDIR/${name//\//_}.log"
    local start=$(date +%s)
    if timeout 600 "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name ($(( $(date +%s) - start ))s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "FAIL $name ($(( $(date +%s) - start ))s) log: $log"
        tail -n 40 "$log" | sed 's/^/    /'
    fi
}

# Static analysis: cppcheck and gcc -fanalyzer must find nothing.
run_one "lint/cppcheck" cppcheck --quiet --enable=warning,portability --inline-suppr --std=c11 \
    -D_GNU_SOURCE -Isrc --error-exitcode=1 src tools
run_one "lint/gcc-fanalyzer" bash -c 'for f in src/*/*.c src/main.c tools/cairn.c; do
    gcc -std=c11 -D_GNU_SOURCE -Isrc -fanalyzer -Werror -c "$f" -o /dev/null || exit 1; done'

for t in build/asan/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "unit/$(basename "$t")" "$t"
done

for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    run_one "integration/$(basename "$t" .py)" python3 "$t"
done

# ThreadSanitizer: the multi-threaded modules and one black-box run of the whole server.
if [ -x build/tsan/cairnd ]; then
    for t in test_engine test_series_index; do
        [ -x "build/tsan/tests/$t" ] && run_one "tsan/$t" env TSAN_OPTIONS=halt_on_error=1 "build/tsan/tests/$t"
    done
    for t in test_plaintext test_amqp; do
        run_one "tsan/$t" env CAIRND="$ROOT/build/tsan/cairnd" CAIRN="$ROOT/build/tsan/cairn" \
            AMQP_PUB="$ROOT/build/tsan/amqp_pub" TSAN_OPTIONS=halt_on_error=1 \
            python3 "tests/integration/$t.py"
    done
fi

for f in build/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus="tests/fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d "$LOGDIR/corpus.XXXXXX")
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
    run_one "fuzz/$name" "$f" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 \
        -artifact_prefix="$LOGDIR/$name-" "$work"
done

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
