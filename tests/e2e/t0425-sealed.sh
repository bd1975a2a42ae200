#!/bin/bash
# mirror:// sessions are sealed: an attacker on the path who flips, drops,
# injects, reorders or replays records ends the session (exit 3) with the store
# unchanged, and file contents never cross the wire in clear.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

RELAY=$T_ROOT/tests/relay.py


# relay ARG...: tests/relay.py between us and mirrord ($PORT); sets RPORT.
relay() {
	rm -f rport
	# shellcheck disable=SC2153 # PORT is serve's (tests/lib-net.sh)
	python3 "$RELAY" --target "$PORT" --port-file rport --log relay.log "$@" &
	t_track $!
	wait_for test -s rport || t_fail "the relay did not start"
	RPORT=$(cat rport)
}

# A store synced once, then a source that changes every file and adds an
# executable: what an attacker would like to slip in.
setup_target() {
	mkdir src
	local i
	for i in 1 2 3 4 5 6; do head -c 262144 /dev/urandom >"src/f$i"; done
	serve app "$TC/store"
	t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	for i in 1 2 3 4 5 6; do head -c 262144 /dev/urandom >"src/f$i"; done
	printf '#!/bin/sh\necho hello\n' >src/tool
	chmod 755 src/tool
	tree_sums store >before
}

# The store is as it was and holds no litter of the failed session.
assert_untouched() {
	tree_sums store >after
	if ! cmp -s before after; then
		diff before after >&2 || true
		t_fail "the store changed"
	fi
	assert_no_litter store
}

# tamper MODE WHAT: the session through a relay in MODE fails, nothing lands.
tamper() {
	setup_target
	relay --mode "$1"
	t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$RPORT/app"
	assert_rc 3
	assert_grep "^$2" relay.log
	assert_grep 'nothing was committed' "$TC/err"
	wait_for grep -q 'failed authentication: the session.s stream was tampered with' mirrord.log ||
		t_fail "mirrord did not report the tampering: $(cat mirrord.log)"
	assert_grep "^$STAMP mirrord: 127\.0\.0\.1:[0-9]+: record [0-9]+ failed authentication" mirrord.log
	wait_for sh -c "flock -n '$TC/store/.mirrorfs/lock' true" || t_fail "mirrord still holds the store"
	assert_untouched
	assert_missing store/tool
	# The relay is what failed it: without it, the same session lands.
	t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
	assert_eq 755 "$(stat -c %a store/tool)" "mode of the new executable"
}

case_flip() { tamper flip "flipped a bit"; }
case_drop() { tamper drop "dropped record"; }
case_inject() { tamper inject "injected a record"; }
case_swap() { tamper swap "held back record"; }

case_replay() {
	setup_target
	# A session an attacker records on the way (it lands: it is genuine).
	mkdir other
	echo "recorded content" >other/f1
	printf '#!/bin/sh\necho recorded\n' >other/tool
	chmod 755 other/tool
	relay --mode pass --record session.bin
	t_ctl sync --key key --compress 0 other "mirror://127.0.0.1:$RPORT/app"
	assert_rc 0
	wait_for grep -q '^done' relay.log || t_fail "the relay did not end"
	[ "$(stat -c %s session.bin)" -gt 200 ] || t_fail "nothing recorded"
	t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	tree_sums store >before
	# 1. Played back whole to mirrord: the handshake no longer proves anything.
	python3 - "$PORT" session.bin <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(open(sys.argv[2], "rb").read())
s.settimeout(10)
try:
    while s.recv(65536):
        pass
except OSError:
    pass
PY
	wait_for grep -q 'refused: authentication failed (wrong key, or a replayed or altered handshake)' mirrord.log ||
		t_fail "mirrord did not refuse the replay: $(cat mirrord.log)"
	assert_untouched
	# 2. Spliced after a live handshake: the records do not open.
	rm -f relay.log
	relay --mode replay --replay session.bin
	echo "new" >src/f1
	t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$RPORT/app"
	assert_rc 3
	assert_grep '^sent [0-9]+ bytes of a recorded session' relay.log
	wait_for grep -q 'record 0 failed authentication' mirrord.log ||
		t_fail "mirrord took the recorded records: $(cat mirrord.log)"
	wait_for sh -c "flock -n '$TC/store/.mirrorfs/lock' true" || t_fail "mirrord still holds the store"
	assert_untouched
}

case_confidential() {
	mkdir src
	local marker
	marker="MARKER-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	# The marker among bytes zstd would keep as they are, in a small and a big file.
	{ head -c 5000 /dev/urandom; printf '%s' "$marker"; head -c 5000 /dev/urandom; } >src/small
	{ head -c 300000 /dev/urandom; printf 'line with %s inside\n' "$marker"; head -c 300000 /dev/urandom; } >src/big
	grep -q "$marker" src/small || t_fail "the marker is not in the file"
	serve app "$TC/store"
	for level in 0 3; do
		rm -f capture.bin
		relay --mode pass --capture capture.bin
		t_ctl sync --key key --compress "$level" src "mirror://127.0.0.1:$RPORT/app"
		assert_rc 0
		wait_for grep -q '^done' relay.log || t_fail "the relay did not end"
		assert_file_eq src/big store/big
		local size
		size=$(stat -c %s capture.bin)
		[ "$size" -gt 600000 ] || t_fail "capture of $size bytes: not the whole session"
		if grep -qa "$marker" capture.bin; then
			t_fail "the marker crossed the wire in clear (--compress $level)"
		fi
		rm -rf store relay.log
	done
}

t_case "a flipped bit in a DATA record ends the session; the store is unchanged" case_flip
t_case "a dropped record ends the session; the store is unchanged" case_drop
t_case "an injected record ends the session; the store is unchanged" case_inject
t_case "two records swapped end the session; the store is unchanged" case_swap
t_case "a recorded session replayed, whole or after a live handshake, is refused" case_replay
t_case "file contents never cross the wire in clear" case_confidential
t_done
