#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrord's listener admits at most [listen] max_sessions sessions, gives each
# client INBOUND_HANDSHAKE_S (10 s) for its whole handshake, and starts each
# session as a process of its own with posix_spawn (never fork in the
# threaded daemon), given the configuration the daemon runs.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

# listen_conf [LISTEN_LINE...]: key, conf with [listen] (and the lines given)
# and [store app] = $TC/store; sets PORT.
listen_conf() {
	"$MIRRORCTL" genkey key >/dev/null || t_fail "genkey failed"
	PORT=$(free_port)
	{
		printf '[listen]\naddress = 127.0.0.1:%s\nkey = %s/key\n' "$PORT" "$TC"
		printf '%s\n' "$@"
		printf '\n[store app]\npath = %s/store\n' "$TC"
	} >conf
}

# idle_clients N: N TCP connections that send nothing, held open by a
# python process (pid in IDLE_PID) until the server closes them; it writes
# "closed K after S s" to idle.out as each closes.
idle_clients() {
	python3 - "$PORT" "$1" >idle.out 2>&1 <<'PY' &
import socket, sys, time, selectors
port, n = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
t0 = time.time()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    sel.register(s, selectors.EVENT_READ, i)
print("connected", n, flush=True)
left = n
while left and time.time() - t0 < 60:
    for key, _ in sel.select(1):
        if key.fileobj.recv(4096) == b"":
            print("closed", key.data, "after", round(time.time() - t0, 1), "s", flush=True)
            sel.unregister(key.fileobj)
            left -= 1
PY
	IDLE_PID=$!
	t_track "$IDLE_PID"
	wait_for grep -q connected idle.out || t_fail "no idle clients: $(cat idle.out)"
}

case_max_sessions() {
	mkdir src && echo one >src/a
	listen_conf 'max_sessions = 2' 'timeout = 60'
	start_mirrord conf mirrord.log
	idle_clients 2
	# Both are admitted (each has its session process) before the third.
	# shellcheck disable=SC2016 # the inner sh expands its own arguments
	wait_for sh -c '[ "$(pgrep -c -P "$1")" -ge 2 ]' sh "$MIRRORD_PID" ||
		t_fail "the idle clients have no session processes: $(cat mirrord.log)"
	# Spawned as /proc/self/exe, each still goes by its name (top, pidof).
	local child
	for child in $(pgrep -P "$MIRRORD_PID"); do
		assert_eq mirrord "$(cat "/proc/$child/comm")" "session process name"
	done
	t_run timeout 5 "$MIRRORCTL" sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 3 "a third client beyond max_sessions = 2"
	assert_grep 'busy: 2 sessions already \(its \[listen\] max_sessions = 2\); try again later' "$TC/err"
	assert_grep 'refused: 2 sessions already, max_sessions = 2 in conf' mirrord.log
	assert_missing store/a
	# The handshake deadline frees both places; then a session is admitted.
	# shellcheck disable=SC2016 # the inner sh expands its own arguments
	WAIT_TRIES=250 wait_for sh -c '[ "$(grep -c "^closed" idle.out)" = 2 ]' ||
		t_fail "the idle clients were kept: $(cat idle.out mirrord.log)"
	# A place is free once its session process has exited, a moment after
	# it closed its socket (longer under the sanitizers' exit checks).
	# shellcheck disable=SC2016 # the inner sh expands its own arguments
	wait_for sh -c '[ "$(pgrep -c -P "$1")" = 0 ]' sh "$MIRRORD_PID" ||
		t_fail "the idle clients' session processes did not exit"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0 "once the idle clients are gone"
	assert_file_eq src/a store/a
}

# Each frame of this client comes within the 60 s timeout, one byte a
# second; the handshake as a whole may take 10 s only.
case_handshake_deadline() {
	listen_conf 'timeout = 60'
	start_mirrord conf mirrord.log
	python3 - "$PORT" >dribble.out 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.time()
try:
    for b in b"\x00\x00\x01\x00" + b"x" * 256:
        s.send(bytes([b]))
        time.sleep(1)
    print("kept for", round(time.time() - t0), "s")
except OSError as e:
    print("dropped after", round(time.time() - t0), "s:", e)
PY
	local pid=$!
	t_track "$pid"
	WAIT_TRIES=250 wait_for grep -q . dribble.out || t_fail "the client is still connected"
	wait "$pid" || true
	t_untrack "$pid"
	assert_grep '^dropped after (10|11|12|13|14|15) s' dribble.out
	assert_grep '127\.0\.0\.1:[0-9]+ did not finish its handshake within 10 s' mirrord.log
}

# A fork() is a clone without CLONE_VM; posix_spawn and threads share it.
case_sessions_spawned_not_forked() {
	command -v strace >/dev/null || t_skip "strace is not installed"
	mkdir src fsrc fdest && echo one >src/a && echo two >fsrc/b
	touch -d '-1 hour' fsrc/b
	listen_conf
	# a file set, so the daemon has threads when a client comes
	printf '\n[daemon]\ncontrol = %s/ctl.sock\n\n[fileset f]\nsource = %s/fsrc\ndest = %s/fdest\ninterval = 3600\nquiet = 0\n' \
		"$TC" "$TC" "$TC" >>conf
	strace -f -qq -e trace=clone,clone3,fork,vfork -o trace.txt \
		"$MIRRORD" -c conf 2>>mirrord.log &
	local tracer=$! pid
	t_track "$tracer"
	wait_for grep -q 'listening on' mirrord.log || t_fail "mirrord did not start: $(cat mirrord.log)"
	pid=$(pgrep -o -P "$tracer") || t_fail "no mirrord under strace"
	t_track "$pid"
	wait_for test -e fdest/b || t_fail "the file set did not run: $(cat mirrord.log)"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0 "a session into the listener"
	assert_file_eq src/a store/a
	kill "$pid"
	wait "$tracer" || true
	t_untrack "$pid"
	t_untrack "$tracer"
	assert_grep 'CLONE_VFORK' trace.txt
	if grep -E '(clone|clone3|fork|vfork)\(' trace.txt | grep -v CLONE_VM | grep -q .; then
		t_fail "a process was forked: $(grep -E '(clone|clone3|fork|vfork)\(' trace.txt | grep -v CLONE_VM)"
	fi
}

# The file edited (not yet re-read: no SIGHUP) does not reach a session;
# after SIGHUP it does.
case_session_gets_running_configuration() {
	mkdir src other && echo one >src/a
	listen_conf
	start_mirrord conf mirrord.log
	sed -i "s|^path = .*|path = $TC/other|" conf
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_file_eq src/a store/a
	assert_missing other/a
	kill -HUP "$MIRRORD_PID"
	wait_for grep -q 're-read' mirrord.log || t_fail "no reload: $(cat mirrord.log)"
	# shellcheck disable=SC2016 # the inner sh expands its own arguments
	wait_for sh -c '[ "$(grep -c "listening on" "$1")" -ge 2 ]' sh mirrord.log
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0 "after SIGHUP"
	assert_file_eq src/a other/a
}

case_session_by_hand() {
	t_run "$MIRRORD" --session 127.0.0.1:1
	assert_rc 1
	assert_grep 'descriptor 4 is not a configuration from mirrord \(it is started by mirrord.s listener only\)' "$TC/err"
}

t_case "beyond [listen] max_sessions a client is refused at once, told why, and logged" case_max_sessions
t_case "a client that takes more than 10 s for its whole handshake is dropped" case_handshake_deadline
t_case "session processes are spawned (posix_spawn), never forked from the threaded daemon" case_sessions_spawned_not_forked
t_case "a session runs with the configuration mirrord runs, not the file as edited since" case_session_gets_running_configuration
t_case "mirrord --session run by hand says what it is for" case_session_by_hand
t_done
