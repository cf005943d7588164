#!/usr/bin/env bash
# Where a cross-node round trip goes: per round trip, the context switches (thread
# wake-ups), CPU time and syscalls of both processes, for some variants of
# warden_cluster_bench. Each figure is a difference of two runs (N2 and N1 round trips),
# so connection setup and process start cancel out.
#
#   tests/perf/cluster/profile.sh [--strace] [VARIANT...]   (default: defaults best ...)
#   VARIANT: a warden_cluster_bench variant, "tcp" (raw TCP) or "erlang" (two erl nodes;
#   a node's start-up also cancels out).
#
# Needs `perf` (perf stat, software events only) and, with --strace, `strace`.
# Writes a markdown table to stdout; raw outputs stay in a temporary directory (printed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
bench="$root/build-perf/tests/perf/warden_cluster_bench"
[[ -x "$bench" ]] || { echo "build warden_cluster_bench first (tests/perf/run.sh --only cluster)" >&2; exit 1; }

use_strace=0
variants=()
for a in "$@"; do
  case "$a" in
    --strace) use_strace=1 ;;
    *) variants+=("$a") ;;
  esac
done
[[ ${#variants[@]} -eq 0 ]] && variants=(defaults workers0 nomoderate best best+echobroker best+bothbroker tcp erlang)

n1=2000
n2=22000
out="$(mktemp -d)"
echo "raw outputs: $out" >&2

# perf stat over the whole process tree (the server is our child): context switches
# (each one a thread that blocked and was woken again), CPU time.
measure() {  # target variant n file
  perf stat -x, -e context-switches,task-clock -o "$4" \
    "$bench" one --target "$1" --variant "$2" --warmup 200 --rtt "$3" --oneway 0 \
    > /dev/null 2>> "$out/bench.err"
}
value() {  # file event
  awk -F, -v ev="$2" '$3 == ev { print $1 }' "$1"
}
# Erlang: both nodes under perf stat (the client stops the server node when done).
measure_erlang() {  # n file_client file_server
  local cookie="wbprof$$$RANDOM" srv="wbprof_srv_$$@127.0.0.1"
  perf stat -x, -e context-switches,task-clock -o "$3" erl -noshell -name "$srv" \
    -setcookie "$cookie" -pa "$out" -run cluster_bench serve > /dev/null 2>&1 < /dev/null &
  local pid=$!
  perf stat -x, -e context-switches,task-clock -o "$2" erl -noshell \
    -name "wbprof_cli_$$@127.0.0.1" -setcookie "$cookie" -pa "$out" \
    -run cluster_bench main "$srv" profile 1 200 "$1" 0 > /dev/null 2>> "$out/bench.err"
  wait "$pid" || true
}
sum_files() {  # event files...
  local ev="$1" total=0; shift
  for f in "$@"; do total=$(awk -v t="$total" -v x="$(value "$f" "$ev")" 'BEGIN { print t + x }'); done
  echo "$total"
}
syscalls() {  # target variant n file
  strace -f -c -o "$4" \
    "$bench" one --target "$1" --variant "$2" --warmup 200 --rtt "$3" --oneway 0 \
    > /dev/null 2>> "$out/bench.err"
}

echo "| variant | context switches / RTT | CPU µs / RTT | syscalls / RTT (strace) |"
echo "|---|---:|---:|---|"
for v in "${variants[@]}"; do
  if [[ "$v" == erlang ]]; then
    erlc -o "$out" "$here/../erlang/cluster_bench.erl"
    epmd_was_up=0
    epmd -names > /dev/null 2>&1 && epmd_was_up=1
    measure_erlang "$n1" "$out/erl.1.c" "$out/erl.1.s"
    measure_erlang "$n2" "$out/erl.2.c" "$out/erl.2.s"
    [[ $epmd_was_up == 0 ]] && { epmd -kill > /dev/null 2>&1 || true; }
    cs=$(awk -v a="$(sum_files context-switches "$out/erl.1.c" "$out/erl.1.s")" \
             -v b="$(sum_files context-switches "$out/erl.2.c" "$out/erl.2.s")" \
             -v n=$((n2 - n1)) 'BEGIN { printf "%.1f", (b - a) / n }')
    cpu=$(awk -v a="$(sum_files task-clock "$out/erl.1.c" "$out/erl.1.s")" \
              -v b="$(sum_files task-clock "$out/erl.2.c" "$out/erl.2.s")" \
              -v n=$((n2 - n1)) 'BEGIN { printf "%.1f", (b - a) * 1000 / n }')
    echo "| erlang (dist) | $cs | $cpu | – |"
    continue
  fi
  target=caf
  spec="$v"
  if [[ "$v" == tcp ]]; then target=tcp; spec=raw; fi
  measure "$target" "$spec" "$n1" "$out/$v.1.perf"
  measure "$target" "$spec" "$n2" "$out/$v.2.perf"
  cs=$(awk -v a="$(value "$out/$v.1.perf" context-switches)" \
           -v b="$(value "$out/$v.2.perf" context-switches)" -v n=$((n2 - n1)) \
           'BEGIN { printf "%.1f", (b - a) / n }')
  cpu=$(awk -v a="$(value "$out/$v.1.perf" task-clock)" \
            -v b="$(value "$out/$v.2.perf" task-clock)" -v n=$((n2 - n1)) \
            'BEGIN { printf "%.1f", (b - a) * 1000 / n }')
  sc="–"
  if [[ $use_strace == 1 ]]; then
    syscalls "$target" "$spec" "$n1" "$out/$v.1.strace"
    syscalls "$target" "$spec" "$n2" "$out/$v.2.strace"
    # "calls" column per syscall name, difference per round trip, the frequent ones.
    sc=$(awk -v n=$((n2 - n1)) '
      FNR == 1 { f++ }
      $NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ { c[f, $NF] = $4; names[$NF] = 1 }
      END {
        for (s in names) { d = (c[2, s] - c[1, s]) / n; if (d >= 0.5) printf "%s %.1f, ", s, d }
      }' "$out/$v.1.strace" "$out/$v.2.strace" | sed 's/, $//')
  fi
  echo "| $v | $cs | $cpu | $sc |"
done
