#!/usr/bin/env bash
# The Warden benchmarks, side by side with raw CAF and Erlang/OTP, in one command:
#
#   tests/perf/run.sh [--quick] [--runs N] [--only restart,dynamic,throughput,memory]
#
# Builds the Release tree build-perf/ if needed (never touches build/), runs the C++
# workloads (warden_bench) and the Erlang ones (erlang/warden_bench.erl, compiled with erlc
# into a temporary directory), and writes tests/perf/results/latest.jsonl (every record)
# and tests/perf/results/latest.md (the side-by-side markdown, also printed).
# --quick: reduced counts (about 3 minutes); default: full counts (about 15-20 minutes).
# Installs nothing: needs cmake, a C++20 compiler, CAF 0.17 and erlang-base (erl, erlc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build-perf"
results="$here/results"

mode=full
runs=""
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --runs) runs="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

for tool in erl erlc cmake; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: '$tool' not found (Erlang: apt-get install erlang-base)" >&2
    exit 1
  fi
done

# --- build (Release, own tree) -------------------------------------------------------------
if [[ ! -f "$build/CMakeCache.txt" ]] \
   || ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt"; then
  echo "== configuring $build (Release)" >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_DEMOS=OFF >&2
fi
echo "== building warden_bench" >&2
cmake --build "$build" --target warden_bench -j "$(nproc)" >&2
bench="$build/tests/perf/warden_bench"

# --- Erlang module ---------------------------------------------------------------------------
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
erlc -o "$tmp" "$here/erlang/warden_bench.erl"

mkdir -p "$results"
cpp_args=()
[[ "$mode" == quick ]] && cpp_args+=(--quick)
[[ -n "$runs" ]] && cpp_args+=(--runs "$runs")
[[ -n "$only" ]] && cpp_args+=(--only "$only")
erl_runs="${runs:-$([[ "$mode" == quick ]] && echo 3 || echo 5)}"

start=$(date +%s)
echo "== $(date +%T) C++: warden_bench ${cpp_args[*]:-}" >&2
"$bench" all "${cpp_args[@]}" > "$tmp/cpp.jsonl"

echo "== $(date +%T) Erlang: warden_bench.erl $mode $erl_runs (default schedulers)" >&2
WARDEN_BENCH_ONLY="$only" erl -noshell -kernel logger_level none -pa "$tmp" \
  -run warden_bench main "$mode" "$erl_runs" > "$tmp/erl.jsonl"

cat "$tmp/cpp.jsonl" "$tmp/erl.jsonl" > "$results/latest.jsonl"
"$bench" report "$results/latest.jsonl" > "$results/latest.md"
{
  echo
  echo "Wall time of the benchmark run: $(( $(date +%s) - start )) s."
} >> "$results/latest.md"
cat "$results/latest.md"
echo >&2
echo "== $(date +%T) wrote $results/latest.md and $results/latest.jsonl" >&2
