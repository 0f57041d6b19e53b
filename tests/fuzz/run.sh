#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each one for
# a bounded time. Fails if a target crashes, leaks, hangs, or breaks one of its
# invariants, on a known regression input or on a new one.
#
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET]      (default 30)
# Exit:  0 pass, 1 a crash/regression/build failure, 77 no clang/libFuzzer.
# Env:   FUZZ_BUILD_DIR  build directory (default <repo>/build-fuzz)
#        FUZZ_TARGETS    targets to run (default: all)
#        FUZZ_JOBS       build parallelism (default 2)
#        FUZZ_CXX        the clang++ to use (default clang++)
#        FUZZ_KEEP_GOING=1  fuzz past crashes (libFuzzer -fork=1
#                        -ignore_crashes=1), to measure a target that still
#                        has a known bug; the run still fails if anything crashed
# Needs: clang, libclang-rt-14-dev (the libFuzzer/ASan/UBSan runtimes), and the
# project's own -dev packages (yaml-cpp, prometheus-cpp).
#
# For each target: the files in regressions/<target>/ are replayed one by one
# (each once failed; they must not crash any more), then the fuzzer runs from
# corpus/<target>/ (the committed seeds, never written to) plus a working
# corpus in the build directory that grows across runs. A crash input is kept
# in $FUZZ_BUILD_DIR/artifacts/: copy it to regressions/<target>/ once fixed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${1:-30}
build=${FUZZ_BUILD_DIR:-$repo/build-fuzz}
targets=${FUZZ_TARGETS:-"fuzz_inet_diag_decoder fuzz_config_loader fuzz_replay_transport"}
jobs=${FUZZ_JOBS:-2}

case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2;; esac

# Exit 77 (ctest: skipped) when the toolchain is missing, saying what to install.
cxx=${FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null; then
  echo "SKIP: $cxx not found (install clang and libclang-rt-14-dev)"; exit 77
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
     "$cxx" -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null 2>/dev/null; then
  echo "SKIP: $cxx cannot link -fsanitize=fuzzer,address,undefined (install libclang-rt-14-dev)"
  exit 77
fi

mkdir -p "$build"
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2; echo "fuzz: configure failed" >&2; exit 1; }
cmake --build "$build" -j"$jobs" >"$build/build.log" 2>&1 || {
  tail -50 "$build/build.log" >&2; echo "fuzz: build failed" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
summary=()
for target in $targets; do
  bin="$build/$target"
  logdir="$build/logs"
  mkdir -p "$logdir" "$build/artifacts" "$build/work/$target"
  regressions=("$here/regressions/$target"/*)
  if [ -e "${regressions[0]}" ]; then
    for input in "${regressions[@]}"; do
      log="$logdir/$target-regression-$(basename "$input").log"
      if ! timeout 120 "$bin" -runs=1 -timeout=30 -rss_limit_mb=2048 "$input" >"$log" 2>&1; then
        echo "FAIL $target regression $(basename "$input"):"
        grep -m3 -E "ERROR|runtime error|invariant|SUMMARY|Timeout|timeout" "$log" | sed 's/^/    /'
        failed+=("$target:regression/$(basename "$input")")
      fi
    done
  fi
  # Datagrams and recordings may be large; configurations are small, and
  # yaml-cpp + std::regex are slow on 64 KiB inputs (deep-nesting seeds fit).
  max_len=65536
  [ "$target" = fuzz_config_loader ] && max_len=16384
  dict=()
  keep_going=()
  [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  [ -f "$here/$target.dict" ] && dict=(-dict="$here/$target.dict")
  log="$logdir/$target.log"
  artifacts_before=$(ls "$build/artifacts" | grep -c "^$target-")
  # A fixed seed (FUZZ_SEED, default 1; 0 = random) makes a CI failure reproducible.
  timeout $((seconds + 120)) "$bin" "${dict[@]}" "${keep_going[@]}" -seed="${FUZZ_SEED:-1}" \
    -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len="$max_len" -len_control=100 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target-" \
    "$build/work/$target" "$here/corpus/$target" >"$log" 2>&1
  rc=$?
  new_artifacts=$(( $(ls "$build/artifacts" | grep -c "^$target-") - artifacts_before ))
  if [ $rc -eq 0 ] && [ $new_artifacts -gt 0 ]; then rc=1; fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)
  if [ -z "$execs" ]; then  # fork mode prints no final stats
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  fi
  line="$target: ${execs:-?} execs in ${seconds}s (${rate:-?}/s), ${cov:-cov: ?}, ${corpus:-corp: ?}"
  if [ $rc -ne 0 ]; then
    echo "FAIL $line (exit $rc, $new_artifacts crash input(s)):"
    grep -m5 -E "ERROR|runtime error|invariant|SUMMARY|Test unit written" "$log" | sed 's/^/    /'
    failed+=("$target")
  else
    echo "ok   $line"
  fi
  summary+=("$line")
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: ${#failed[@]} failure(s): ${failed[*]}"
  echo "fuzz: logs in $build/logs, crash inputs in $build/artifacts"
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a crash"
