#!/bin/bash
# latency: change-to-destination latency of mirrord (watch, quiet = DELAY)
# against lsyncd (default.rsync, delay = DELAY), alternating, in one run.
# usage: bench/latency.sh [TRIALS] [DELAY]   (MIRRORFS_BUILD=DIR for the binaries)
# LATENCY_TSV=FILE also appends each trial as "latency<TAB>WHO<TAB>MS<TAB>ms"
# (bench/run.sh's results format; a trial that takes over 30 s counts 30000).
set -eu
TRIALS=${1:-10}
DELAY=${2:-1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MIRRORFS_BUILD:-$REPO/build}
command -v lsyncd >/dev/null || apt-get install -y lsyncd >/dev/null
W=$(mktemp -d /var/tmp/mirrorfs-latency.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/src-m" "$W/src-l" "$W/dst-l"
for s in src-m src-l; do
	for i in $(seq 200); do echo "$i" >"$W/$s/base$i"; done
done
cat >"$W/mirrord.conf" <<CONF
[daemon]
control = $W/ctl.sock

[fileset bench]
source = $W/src-m
dest = $W/dst-m
watch = yes
quiet = $DELAY
CONF
cat >"$W/lsyncd.conf" <<CONF
settings { nodaemon = true, logfile = "$W/lsyncd.log" }
sync { default.rsync, source = "$W/src-l", target = "$W/dst-l", delay = $DELAY }
CONF
"$BUILD/mirrord" -c "$W/mirrord.conf" 2>"$W/mirrord.log" &
PIDS+=($!)
lsyncd "$W/lsyncd.conf" >/dev/null 2>&1 &
PIDS+=($!)
sleep $((DELAY + 4))	# both did their first full sync

# trial SRC DST N: ms from writing a new file to its arrival.
trial() {
	local t0 t1
	t0=$(date +%s%N)
	echo "trial $3" >"$W/$1/new$3"
	until [ "$(cat "$W/$2/new$3" 2>/dev/null)" = "trial $3" ]; do
		sleep 0.01
		[ $(($(date +%s%N) - t0)) -lt 30000000000 ] || break
	done
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

m=() l=()
for n in $(seq "$TRIALS"); do
	m+=("$(trial src-m dst-m "$n")")
	l+=("$(trial src-l dst-l "$n")")
	sleep 0.3
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%d ms (min %d, max %d)", a[int((NR+1)/2)], a[1], a[NR]}'; }
echo "change-to-destination latency, delay/quiet = ${DELAY} s, $TRIALS trials, alternating:"
echo "  mirrord (watch, quiet=$DELAY): $(stats "${m[@]}")"
echo "  lsyncd (default.rsync, delay=$DELAY): $(stats "${l[@]}")"
if [ -n "${LATENCY_TSV:-}" ]; then
	for v in "${m[@]}"; do printf 'latency\tmirrord\t%s\tms\n' "$v"; done >>"$LATENCY_TSV"
	for v in "${l[@]}"; do printf 'latency\tlsyncd\t%s\tms\n' "$v"; done >>"$LATENCY_TSV"
fi
