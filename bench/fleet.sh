#!/usr/bin/env bash
# bench/fleet.sh: how long a release takes to reach a tree of 7 hosts fed by
# relays (the network namespaces of tests/e2e/t0340-fleet.sh: a source, h1,
# h2-h3, h4-h7, each link shaped to 20 Mbit/s), for the first host and the
# last, over several runs; prints each run and the medians.
#
#   bench/fleet.sh [--reps N] [BUILD]
#
# Needs root, iproute2 and tc (as t0340). BUILD defaults to build/. Each run
# builds the fleet afresh (about 25 s).
set -euo pipefail

REPS=3
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) break ;;
	esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)

firsts=() lasts=() ratios=()
for r in $(seq "$REPS"); do
	line=$(T_VERBOSE=1 "$HERE/../tests/run.sh" "$BUILD" t0340 2>&1 |
		grep -o 'hosts had it after (ms): .*' | head -1) || true
	[ -n "$line" ] || { echo "run $r: t0340 printed no timing" >&2; exit 1; }
	ms=$(echo "$line" | grep -o 'h[1-7] [0-9]*' | awk '{print $2}')
	first=$(echo "$ms" | sort -n | head -1)
	last=$(echo "$ms" | sort -n | tail -1)
	echo "run $r: first $first ms, last $last ms, last/first $((last * 100 / first)) % ($line)"
	firsts+=("$first") lasts+=("$last") ratios+=("$((last * 100 / first))")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "median of $REPS: first host $(median "${firsts[@]}") ms, last host $(median "${lasts[@]}") ms, last/first $(median "${ratios[@]}") %"
