#!/usr/bin/env bash
# The main demo: a local three-node cluster whose services call each other across nodes.
#
#   demo/cluster/run.sh [WARDEN_BINARY]      (./dev demo builds the binary and runs this)
#
# n1 runs a counter, n2 an echo service; both register cluster-wide names. Callers on n2
# and n3 call them by name every 100 ms through the cluster. Load regulation: n1's producer
# feeds n2's slow sink (behind a regulator) at 10x its capacity through a credit-based
# flow, so the overload stops at the producer instead of filling the sink's mailbox. The script starts the
# cluster (warden cluster up), shows `warden cluster status` once it is ready, lets it run
# for WARDEN_DEMO_MS (8000), stops it in order and prints what every caller got.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
warden="${1:-$here/../../build/bin/warden}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/warden-demo-XXXXXX")"
trap 'rm -rf "$dir"' EXIT

"$warden" cluster up -n 3 --dir "$dir" --base-port "${WARDEN_DEMO_PORT:-7101}" \
  --http-base-port "${WARDEN_DEMO_HTTP_PORT:-8101}" \
  --tree "$here/n1.toml" --tree "$here/n2.toml" --tree "$here/n3.toml" \
  --duration-ms "${WARDEN_DEMO_MS:-8000}" &
launcher=$!

# Wait (bounded) until every node answers, then show the cluster as the nodes see it.
for _ in $(seq 1 150); do
  if "$warden" cluster status --dir "$dir" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$launcher" 2>/dev/null; then break; fi
  sleep 0.1
done
sleep 1  # let the callers make some calls before the snapshot
"$warden" cluster status --dir "$dir" || true

rc=0
wait "$launcher" || rc=$?
echo
echo "== what the callers got (from the node logs)"
for log in "$dir"/n*.log; do
  node="$(basename "$log" .log)"
  # The last report of each caller on this node.
  { grep '^caller ' "$log" || true; } | awk -v node="$node" '{ last[$2] = $0 } END { for (k in last) print node ": " last[k] }'
done | sort
echo
echo "== load regulation (the producer's last report: it felt the back pressure, the sink never more than its grant)"
for log in "$dir"/n*.log; do
  node="$(basename "$log" .log)"
  { grep '^producer ' "$log" || true; } | tail -n 1 | sed "s/^/$node: /"
done
exit "$rc"
