#!/usr/bin/env bash
# Demo 07: a declared tree. `warden run` reads demo/trees/basic.toml (a root with echo,
# counter and a one_for_all pair), injects the faults of demo/trees/faults.toml on
# schedule, and after 3 s stops the tree in order (children in reverse start order).
# Usage: demo/07_declared_tree.sh path/to/warden   (run from the repository root)
set -euo pipefail
warden="${1:?usage: $0 path/to/warden}"
cd "$(dirname "$0")/.."

echo "== the built-in service types"
"$warden" types

echo
echo "== a bad tree is refused before anything starts (exit code 2)"
bad="$(mktemp --suffix=.toml)"
trap 'rm -f "$bad"' EXIT
printf '[[children]]\nid = "x"\nservice = "echo"\nrestart = "sometimes"\n' > "$bad"
set +e
"$warden" run "$bad"
rc=$?
set -e
if [ "$rc" -ne 2 ]; then
  echo "DEMO FAILED: a bad tree gave exit code $rc, expected 2" >&2
  exit 1
fi

echo
echo "== run demo/trees/basic.toml with the faults of demo/trees/faults.toml for 3 s"
set +e
"$warden" run demo/trees/basic.toml --faults demo/trees/faults.toml --duration-ms 3000
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  echo "DEMO FAILED: warden run exited with $rc, expected 0" >&2
  exit 1
fi
echo
echo "== the tree recovered from every fault and stopped in order (exit code 0)"
