#!/bin/bash
# Time of an initial mirror:// sync over a link with a round trip of 2 * DELAY ms (loopback and bench/delayproxy.py).
#
# usage: bench/wan.sh N DELAY_MS RUNS BINDIR...
# Makes N small files (gen.py) on a tmpfs of its own ($WAN_TMPFS, default
# /var/tmp/mirrorfs-wan.PID, unmounted after); RUNS rounds, each BINDIR in
# turn (builds alternate, so they share the machine's noise): a fresh
# mirrord of that build on loopback with an empty store on the tmpfs, the
# proxy in front of it, then `mirrorctl sync -q` through the proxy. One
# tab-separated line per run: BINDIR  DELAY_MS  elapsed-seconds.
# The flow control on the walk (issue 17) made this slower per round trip:
# see docs/BENCHMARKS.md ("Flow control over a link with latency").
set -eu
N=$1 DELAY=$2 RUNS=$3
shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
TM=${WAN_TMPFS:-/var/tmp/mirrorfs-wan.$$}
MDPID='' PXPID=''

stop() {
	for p in "$PXPID" "$MDPID"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	MDPID='' PXPID=''
}
cleanup() {
	stop
	umount "$TM" 2>/dev/null || true
	rmdir "$TM" 2>/dev/null || true
}
trap cleanup EXIT
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_line() {	# FILE TEXT PID
	for _ in $(seq 1 100); do
		grep -q "$2" "$1" && return 0
		kill -0 "$3" || break
		sleep 0.1
	done
	cat "$1" >&2
	exit 1
}
mkdir -p "$TM"
mount -t tmpfs -o size=4g,mode=0755 mirrorfs-wan "$TM"
python3 "$HERE/gen.py" small "$TM/src" "$N"
"$1/mirrorctl" genkey "$TM/key" >/dev/null
for _ in $(seq 1 "$RUNS"); do
	for BIN in "$@"; do
		rm -rf -- "$TM/dst"
		PORT=$(free_port)
		printf '[listen]\naddress = 127.0.0.1:%s\nkey = %s\n\n[store app]\npath = %s\n' \
		    "$PORT" "$TM/key" "$TM/dst" >"$TM/mirrord.conf"
		"$BIN/mirrord" -c "$TM/mirrord.conf" >"$TM/mirrord.log" 2>&1 &
		MDPID=$!
		wait_line "$TM/mirrord.log" "listening on" "$MDPID"
		PXPORT=$(free_port)
		python3 "$HERE/delayproxy.py" "$PXPORT" "$PORT" "$DELAY" >"$TM/proxy.log" 2>&1 &
		PXPID=$!
		wait_line "$TM/proxy.log" ready "$PXPID"
		t0=$(date +%s.%N)
		TMPDIR=$TM "$BIN/mirrorctl" sync -q --key "$TM/key" "$TM/src" \
		    "mirror://127.0.0.1:$PXPORT/app"
		printf '%s\t%s\t%.2f\n' "$BIN" "$DELAY" "$(echo "$(date +%s.%N) - $t0" | bc)"
		stop
	done
done
