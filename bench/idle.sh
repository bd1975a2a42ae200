#!/bin/bash
# bench/idle.sh BIN N: memory of `mirrord --listen` holding N idle
# connections (bench row 14). Starts a mirrord from BIN on a loopback port
# with max_sessions above N, opens N TCP connections that send nothing, and
# prints, tab-separated (key, value, unit): the listener's VmRSS, the PSS
# of the listener and every session process together (smaps_rollup: shared
# pages counted once), that total per connection, and the number of
# session processes seen. Measured within the 10 s the handshake is given.
set -euo pipefail
BIN=$1 N=$2
W=$(mktemp -d /tmp/mirrorfs-idle.XXXXXX)
MD='' HOLD=''
cleanup() {
	[ -z "$HOLD" ] || kill "$HOLD" 2>/dev/null || true
	[ -z "$MD" ] || { kill "$MD" 2>/dev/null || true; wait "$MD" 2>/dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/mirrorctl" genkey "$W/key" >/dev/null
mkdir "$W/store"
printf '[listen]\naddress = 127.0.0.1:%s\nkey = %s/key\nmax_sessions = %s\n\n[store s]\npath = %s/store\n' \
	"$PORT" "$W" "$((N + 16))" "$W" >"$W/conf"
"$BIN/mirrord" -c "$W/conf" 2>"$W/log" &
MD=$!
for _ in $(seq 100); do grep -q 'listening on' "$W/log" && break; sleep 0.1; done
python3 - "$PORT" "$N" >"$W/hold" <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
s = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print("held", flush=True)
time.sleep(30)
PY
HOLD=$!
for _ in $(seq 100); do
	[ "$(pgrep -c -P "$MD" || true)" -ge "$N" ] && break
	sleep 0.05
done
sleep 1	# every session process through its start, waiting for a greeting
kids=$(pgrep -P "$MD" || true)
nkids=$(printf '%s\n' "$kids" | grep -c . || true)
pss=0
for p in $MD $kids; do
	k=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
	pss=$((pss + k))
done
printf 'listen_rss\t%s\tKiB\n' "$(awk '/^VmRSS/ { print $2 }' "/proc/$MD/status")"
printf 'listen_pss_total\t%s\tKiB\n' "$pss"
printf 'listen_pss_per_conn\t%s\tB\n' "$((pss * 1024 / N))"
printf 'listen_sessions\t%s\tprocesses\n' "$nkids"
