#!/usr/bin/env bash
# The Warden benchmarks, side by side with raw CAF and Erlang/OTP, in one command:
#
#   tests/perf/run.sh [--quick] [--runs N] [--only restart,dynamic,throughput,memory,cluster,detect,failover,overload]
#
# Builds the Release tree build-perf/ if needed (never touches build/), runs the C++
# workloads (warden_bench) and the Erlang ones (erlang/warden_bench.erl, compiled with erlc
# into a temporary directory), and writes tests/perf/results/latest.jsonl (every record)
# and tests/perf/results/latest.md (the side-by-side markdown, also printed).
# cluster: cross-node round trip and throughput (warden_cluster_bench: CAF best config,
# CAF defaults, raw TCP; erlang/cluster_bench.erl on two `erl -name` nodes), then
# warden_fastpath_bench (the path a Warden-owned transport would take).
# detect: crash/hang detection time of `warden node` pairs (warden_detect_bench, ~10 min,
# quick ~3 min); runs only when named in --only.
# failover: cluster-service failover after kill -9, SIGSTOP and a partition
# (warden_failover_bench, ~4 min, quick ~1 min); runs only when named in --only.
# overload: a 1 ms-per-request service at 1x, 2x, 10x, 100x its capacity: raw CAF, Warden
# regulator (warden_overload_bench), Erlang gen_server:call (erlang/overload_bench.erl);
# 60 s per level and system, ~17 min per run; --runs N runs (default 3: ~50 min; quick:
# 5 s, 1 run, ~1.5 min per run), the table shows medians; runs only when named in --only.
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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

# --only: "cluster" is its own program; the rest goes to warden_bench.
run_main=1
run_cluster=1
run_detect=0
run_failover=0
run_overload=0
main_only=""""
if [[ -n "$only" ]]; then
  run_main=0
  run_cluster=0
  IFS=',' read -r -a wanted <<< "$only"
  for w in "${wanted[@]}"; do
    if [[ "$w" == cluster ]]; then
      run_cluster=1
    elif [[ "$w" == detect ]]; then
      run_detect=1
    elif [[ "$w" == failover ]]; then
      run_failover=1
    elif [[ "$w" == overload ]]; then
      run_overload=1
    elif [[ -n "$w" ]]; then
      run_main=1
      main_only="${main_only:+$main_only,}$w"
    fi
  done
fi

# --- build (Release, own tree) -------------------------------------------------------------
if [[ ! -f "$build/CMakeCache.txt" ]] \
   || ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt"; then
  echo "== configuring $build (Release)" >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_DEMOS=OFF >&2
fi
targets=()
[[ $run_main == 1 ]] && targets+=(warden_bench)
[[ $run_cluster == 1 ]] && targets+=(warden_cluster_bench warden_fastpath_bench)
[[ $run_detect == 1 ]] && targets+=(warden warden_detect_bench)
[[ $run_failover == 1 ]] && targets+=(warden warden_failover_bench)
[[ $run_overload == 1 ]] && targets+=(warden_overload_bench)
echo "== building ${targets[*]}" >&2
cmake --build "$build" --target "${targets[@]}" -j "$(nproc)" >&2
bench="$build/tests/perf/warden_bench"
cluster_bench="$build/tests/perf/warden_cluster_bench"
detect_bench="$build/tests/perf/warden_detect_bench"

# --- Erlang modules, cleanup -----------------------------------------------------------------
tmp="$(mktemp -d)"
erl_server_pid=""
epmd_started=0
cleanup() {
  # The Erlang server node is ours: stop it by PID. epmd only if it was not running before.
  if [[ -n "$erl_server_pid" ]]; then
    kill "$erl_server_pid" 2>/dev/null || true
    wait "$erl_server_pid" 2>/dev/null || true
  fi
  if [[ $epmd_started == 1 ]]; then
    epmd -kill >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
[[ $run_main == 1 ]] && erlc -o "$tmp" "$here/erlang/warden_bench.erl"
[[ $run_cluster == 1 ]] && erlc -o "$tmp" "$here/erlang/cluster_bench.erl"
[[ $run_overload == 1 ]] && erlc -o "$tmp" "$here/erlang/overload_bench.erl"

mkdir -p "$results"
cpp_args=()
[[ "$mode" == quick ]] && cpp_args+=(--quick)
[[ -n "$runs" ]] && cpp_args+=(--runs "$runs")
[[ -n "$main_only" ]] && cpp_args+=(--only "$main_only")
erl_runs="${runs:-$([[ "$mode" == quick ]] && echo 3 || echo 5)}"

start=$(date +%s)
: > "$tmp/cpp.jsonl"
: > "$tmp/erl.jsonl"
if [[ $run_main == 1 ]]; then
  echo "== $(date +%T) C++: warden_bench ${cpp_args[*]:-}" >&2
  "$bench" all "${cpp_args[@]}" > "$tmp/cpp.jsonl"

  echo "== $(date +%T) Erlang: warden_bench.erl $mode $erl_runs (default schedulers)" >&2
  WARDEN_BENCH_ONLY="$main_only" erl -noshell -kernel logger_level none -pa "$tmp" \
    -run warden_bench main "$mode" "$erl_runs" > "$tmp/erl.jsonl"
fi

# --- cluster: two processes on 127.0.0.1, same counts on both sides --------------------------
: > "$tmp/cluster.jsonl"
if [[ $run_cluster == 1 ]]; then
  if [[ "$mode" == quick ]]; then
    c_warmup=1000 c_rtt=10000 c_oneway=100000
  else
    c_warmup=2000 c_rtt=20000 c_oneway=500000
  fi
  # One C++ run, then one Erlang run, RUNS times: both sides see the same machine load
  # (the report merges the runs of each implementation and takes the medians).
  cl_args=(all --runs 1 --warmup "$c_warmup" --rtt "$c_rtt" --oneway "$c_oneway")
  [[ "$mode" == quick ]] && cl_args+=(--quick)
  epmd -names >/dev/null 2>&1 || epmd_started=1
  cookie="wbench$$$RANDOM"
  for ((r = 1; r <= erl_runs; ++r)); do
    echo "== $(date +%T) cluster run $r/$erl_runs: warden_cluster_bench ${cl_args[*]}" >&2
    "$cluster_bench" "${cl_args[@]}" >> "$tmp/cluster_raw.jsonl"

    echo "== $(date +%T) cluster run $r/$erl_runs: cluster_bench.erl on two nodes" >&2
    server_node="wbench_srv_$$_$r@127.0.0.1"
    erl -noshell -name "$server_node" -setcookie "$cookie" -kernel logger_level none \
      -pa "$tmp" -run cluster_bench serve > "$tmp/erl_server.out" 2>&1 < /dev/null &
    erl_server_pid=$!
    erl -noshell -name "wbench_cli_$$_$r@127.0.0.1" -setcookie "$cookie" \
      -kernel logger_level none -pa "$tmp" -run cluster_bench main "$server_node" "$mode" 1 \
      "$c_warmup" "$c_rtt" "$c_oneway" >> "$tmp/cluster_raw.jsonl"
    # The client stopped the server node; make sure, by PID, and reap it.
    kill "$erl_server_pid" 2>/dev/null || true
    wait "$erl_server_pid" 2>/dev/null || true
    erl_server_pid=""
  done
  "$cluster_bench" merge "$tmp/cluster_raw.jsonl" > "$tmp/cluster.jsonl"
fi

# --- detect: fresh node pairs, idle and with both cores busy ----------------------------------
: > "$tmp/detect.jsonl"
if [[ $run_detect == 1 ]]; then
  d_args=(all)
  [[ "$mode" == quick ]] && d_args+=(--quick)
  [[ -n "$runs" ]] && d_args+=(--runs "$runs")
  echo "== $(date +%T) C++: warden_detect_bench ${d_args[*]}" >&2
  "$detect_bench" "${d_args[@]}" > "$tmp/detect.jsonl" \
    || echo "run.sh: warden_detect_bench reported failed runs (see above)" >&2
fi

# --- failover: fresh 3-node clusters per run, a singleton cluster service -----------------
: > "$tmp/failover.jsonl"
: > "$tmp/failover.md"
if [[ $run_failover == 1 ]]; then
  fo_args=()
  [[ "$mode" == quick ]] && fo_args+=(--quick)
  [[ -n "$runs" ]] && fo_args+=(--runs "$runs")
  echo "== $(date +%T) C++: warden_failover_bench ${fo_args[*]}" >&2
  "$build/tests/perf/warden_failover_bench" "${fo_args[@]}" > "$tmp/failover.jsonl" \
    2> "$tmp/failover.md" \
    || echo "run.sh: warden_failover_bench reported failed runs or double activations" >&2
  cat "$tmp/failover.md" >&2
fi

# --- overload: every (system, level) in a fresh process; Erlang in a fresh VM per level -------
# One C++ run (every level and system), then one Erlang run, N times: every side sees the
# same machine load; the report takes the median of each (system, level) over its runs.
: > "$tmp/overload.jsonl"
: > "$tmp/overload_erl.jsonl"
if [[ $run_overload == 1 ]]; then
  ov_bench="$build/tests/perf/warden_overload_bench"
  ov_secs=60
  ov_runs="${runs:-3}"
  if [[ "$mode" == quick ]]; then
    ov_secs=5
    ov_runs="${runs:-1}"
  fi
  for ((r = 1; r <= ov_runs; ++r)); do
    echo "== $(date +%T) overload run $r/$ov_runs: warden_overload_bench --duration $ov_secs" >&2
    "$ov_bench" --duration "$ov_secs" --first-run "$r" >> "$tmp/overload.jsonl" \
      || echo "run.sh: warden_overload_bench reported a failed level (run $r)" >&2
    for level in 1 2 10 100; do
      echo "== $(date +%T) overload run $r/$ov_runs: overload_bench.erl ${level}x," \
        "$ov_secs s" >&2
      WARDEN_BENCH_RUN="$r" erl -noshell -kernel logger_level none -pa "$tmp" \
        -run overload_bench main "$level" "$ov_secs" >> "$tmp/overload_erl.jsonl" \
        || echo "run.sh: overload_bench.erl failed at ${level}x (run $r)" >&2
    done
  done
fi

cat "$tmp/cpp.jsonl" "$tmp/erl.jsonl" "$tmp/cluster.jsonl" "$tmp/detect.jsonl" \
  "$tmp/failover.jsonl" "$tmp/overload.jsonl" "$tmp/overload_erl.jsonl" > "$results/latest.jsonl"
if [[ $run_main == 1 ]]; then
  "$bench" report "$tmp/cpp.jsonl" "$tmp/erl.jsonl" > "$results/latest.md"
else
  echo "# Warden benchmarks (--only $only)" > "$results/latest.md"
  echo >> "$results/latest.md"
fi
if [[ $run_cluster == 1 ]]; then
  "$cluster_bench" report "$tmp/cluster.jsonl" >> "$results/latest.md"
  # Feasibility of a Warden-owned transport (docs/performance.md), right after the above.
  f_runs=5
  [[ "$mode" == quick ]] && f_runs=3
  echo "== $(date +%T) C++: warden_fastpath_bench --runs $f_runs" >&2
  {
    echo
    echo "### Warden-owned transport path (feasibility: reader thread -> actor -> socket)"
    echo
    echo '```'
    "$build/tests/perf/warden_fastpath_bench" --runs "$f_runs"
    echo '```'
  } >> "$results/latest.md"
fi
[[ $run_detect == 1 ]] && "$detect_bench" report "$tmp/detect.jsonl" >> "$results/latest.md"
if [[ $run_failover == 1 ]]; then
  { echo; echo "## Cluster-service failover"; echo; grep '^|' "$tmp/failover.md"; } \
    >> "$results/latest.md"
fi
if [[ $run_overload == 1 ]]; then
  { echo; echo "## Overload (1 ms per request, capacity 1000/s; medians of $ov_runs runs)"; echo;
    "$build/tests/perf/warden_overload_bench" report "$tmp/overload.jsonl" \
      "$tmp/overload_erl.jsonl"; } >> "$results/latest.md"
fi
{
  echo
  echo "Wall time of the benchmark run: $(( $(date +%s) - start )) s."
} >> "$results/latest.md"
cat "$results/latest.md"
echo >&2
echo "== $(date +%T) wrote $results/latest.md and $results/latest.jsonl" >&2
