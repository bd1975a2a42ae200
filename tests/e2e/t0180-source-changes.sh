#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync while SOURCE changes: vanished files are not errors; a file
# that changes while read is never stored torn.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup
# shellcheck disable=SC2034 # read by t_case (tests/lib.sh)
T_TIMEOUT=${T_TIMEOUT_CHANGES:-240}

# Files deleted between the scan and their read: mirrorctl stops itself
# right after it sent the first file (MIRRORFS_STOP_AT), the victims are
# deleted, and it goes on: every one is reported vanished, none is an error.
case_vanished() {
	local i pid
	mkdir -p src/big src/v
	for i in 1 2 3; do
		head -c $((1024 * 1024)) /dev/urandom >"src/big/b$i"
	done
	for i in $(seq 1 400); do
		printf 'victim %d\n' "$i" >"src/v/f$i"
	done
	cp -a src orig
	# The default window (not the suite's MIRRORFS_WINDOW, if set): the
	# walk must have listed src/v before the first file is sent.
	MIRRORFS_WINDOW='' MIRRORFS_STOP_AT=send:1 "$MIRRORCTL" sync --json src store \
	    >"$TC/out" 2>"$TC/err" &
	pid=$!
	t_track "$pid"
	wait_stopped "$pid" || t_fail "mirrorctl did not stop after its first file"
	find src/v -type f -delete
	kill -CONT "$pid"
	RC=0
	wait "$pid" || RC=$?
	t_untrack "$pid"
	assert_rc 0 "a vanished file is not an error"
	assert_json failed 0 skipped 0 vanished 400
	[ -z "$(ls -A store/v)" ] || t_fail "a deleted file reached the store: $(find store/v -mindepth 1 | head -3)"
	for i in 1 2 3; do
		assert_file_eq "orig/big/b$i" "store/big/b$i"
	done
	assert_no_litter store
	# the next sync converges
	t_ctl sync --purge src store
	assert_rc 0
	assert_trees_eq src store
}

# writer FILE: rewrite FILE's header and trailer with an increasing counter,
# trailer first, in a tight loop.  At any instant, trailer - header is 0 or
# 1; a copy read while this runs that is not a snapshot shows more.
start_writer() {
	python3 - "$1" <<'EOF' &
import os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
size = os.fstat(fd).st_size
v = 0
while True:
    v += 1
    b = struct.pack(">Q", v)
    os.pwrite(fd, b, size - 8)
    os.pwrite(fd, b, 0)
EOF
	WRITER=$!
	t_track "$WRITER"
}

# check_consistent FILE SIZE: FILE is SIZE bytes, filler intact, and
# trailer - header is 0 or 1.
check_consistent() {
	python3 - "$1" "$2" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
size = int(sys.argv[2])
if len(data) != size:
    sys.exit("size %d, expected %d" % (len(data), size))
h, t = struct.unpack(">Q", data[:8])[0], struct.unpack(">Q", data[-8:])[0]
if data[8:-8].count(b"\x5a") != size - 16:
    sys.exit("filler damaged")
if t - h not in (0, 1):
    sys.exit("torn: header %d, trailer %d" % (h, t))
print("header %d trailer %d" % (h, t))
EOF
}

case_changing_file() {
	local size=$((50 * 1024 * 1024)) d
	mkdir src
	python3 -c '
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack(">Q", 0) + b"\x5a" * (int(sys.argv[2]) - 16) + struct.pack(">Q", 0))
' src/hot "$size"
	printf 'calm\n' >src/calm
	start_writer "$TC/src/hot"
	sleep 0.2
	kill -0 "$WRITER" || t_fail "the writer did not start"
	T_CMD_TIMEOUT=120 t_ctl sync --json src store
	kill -0 "$WRITER" || t_fail "the writer stopped during the sync"
	kill -KILL "$WRITER"
	wait "$WRITER" 2>/dev/null || true
	t_untrack "$WRITER"
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 1 ]; then
		t_show
		t_fail "exit status $RC: a changing file must not fail the session"
	fi
	assert_file_eq src/calm store/calm
	assert_no_litter store
	if [ -e store/hot ]; then
		if ! d=$(check_consistent store/hot "$size" 2>&1); then
			t_fail "store/hot was stored torn: $d"
		fi
		echo "stored a consistent version: $d"
	else
		assert_rc 1 "exit status when a changing file was not stored"
		json_entries "$TC/out" skip >entries
		json_entries "$TC/out" fail >>entries
		assert_grep '^hot	.*(chang|open for update)' entries
		echo "not stored, reported: $(cat entries)"
	fi
	# once it settles, it is sent
	t_ctl sync src store
	assert_rc 0
	assert_trees_eq src store
}

case_changed_between_syncs() {
	mkdir src
	printf 'v1\n' >src/f
	t_ctl sync src store
	assert_rc 0
	printf 'version 2\n' >src/f
	mv src/f src/g
	printf 'v3\n' >src/f
	t_ctl sync --purge src store
	assert_rc 0
	assert_trees_eq src store
}

t_case "files vanishing during a sync are not errors" case_vanished
t_case "a file rewritten during the sync is never stored torn" case_changing_file
t_case "changes between syncs are picked up" case_changed_between_syncs
t_done
