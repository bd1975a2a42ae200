#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# Hostile and broken peers: requests checked as they arrive, dry runs take no
# data, kept parts verified before use, the client says exactly what happened,
# a sync waits for a mount that is starting, unmount never waits on a client.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

PEER="$(cd "$(dirname "$0")/.." && pwd)/peer.py"

# hostile_receiver MODE: a fake master on store/.mirrorfs/control.sock
# answers one session with MODE (tests/peer.py); mirrorctl must refuse it
# at once and say why.
hostile_receiver() {
	local mode=$1 pid t0
	mkdir -p src store/.mirrorfs
	printf 'a\n' >src/a
	printf 'b\n' >src/b
	printf 'c\n' >src/c
	python3 "$PEER" receiver "$TC/store/.mirrorfs/control.sock" "$mode" \
	    >peer.out 2>peer.err &
	pid=$!
	t_track "$pid"
	wait_for grep -q listening peer.out || t_fail "the peer did not start: $(cat peer.err)"
	t0=$(date +%s)
	t_ctl sync src store
	assert_rc 3 "a destination asking for what it may not"
	[ $(($(date +%s) - t0)) -le 5 ] || t_fail "took $(($(date +%s) - t0)) s to refuse"
	RC=0
	wait "$pid" || RC=$?
	t_untrack "$pid"
	[ "$RC" = 0 ] || t_fail "the peer: $(cat peer.out peer.err)"
	assert_grep 'nothing was committed' "$TC/err"
}

case_requests_out_of_order() {
	hostile_receiver need-descending
	assert_grep 'requested entry 1 out of order' "$TC/err"
}

case_requests_twice() {
	hostile_receiver need-duplicate
	assert_grep 'requested entry 1 out of order' "$TC/err"
}

case_requests_beyond_the_manifest() {
	hostile_receiver need-beyond
	assert_grep 'requested entry 1000000, which is not a file' "$TC/err"
}

# 15 s of NEED frames used to grow the request list without bound (1.37 GB):
# the first repeated index ends it.
case_request_flood() {
	hostile_receiver need-flood
	assert_grep 'out of order' "$TC/err"
}

# MARK (flow control on the walk) is checked as any request: never above
# the entries sent, never down, nothing but MARK_NO_HOLD after it.
case_mark_above_the_entries_sent() {
	hostile_receiver mark-above
	assert_grep 'sent MARK [0-9]*, above the [0-9]* entries sent to it' "$TC/err"
}

case_mark_going_down() {
	hostile_receiver mark-down
	assert_grep 'sent MARK 1 after MARK 2: expected one that never goes down' "$TC/err"
}

# A MARK that stands still moves nothing, yet it is a frame: repeated
# inside the conn timeout it kept a held walk (and every other
# destination of it) waiting for ever.
case_mark_repeated() {
	hostile_receiver mark-repeat
	assert_grep 'sent MARK 1 again: expected one that moves on' "$TC/err"
}

# Below its MARK a receiver is done: the sender serves other receivers
# past it, and a request there is refused.
case_need_below_the_mark() {
	hostile_receiver need-below-mark
	assert_grep 'requested entry 1, below its MARK 2' "$TC/err"
}

case_mark_after_no_hold() {
	hostile_receiver mark-after-free
	assert_grep 'sent MARK 1 after it said not to wait for it' "$TC/err"
}

# A dry run into a mounted store accepted FILE data into staging/.
case_dry_run_takes_no_data() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	python3 "$PEER" report-data "$TC/store/.mirrorfs/control.sock" big 50 \
	    >peer.out 2>&1 || t_fail "the dry run's data was taken: $(cat peer.out)"
	assert_grep 'refused: .*not requested' peer.out
	assert_eq 0 "$(find store/.mirrorfs/staging -type f | wc -l)" "files staged"
	assert_missing store/big
	assert_eq one "$(cat mnt/f)"
}

# A manifest must come in the order of a depth-first walk with sorted
# siblings ('/' below every byte): the receiver keeps no index of its
# paths, so an entry out of that order, or named twice, is refused.
case_manifest_order() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	sock=$TC/store/.mirrorfs/control.sock
	python3 "$PEER" manifest "$sock" a/ a/b a-c >ok.out 2>&1
	assert_eq accepted "$(cat ok.out)" "a walk's order"
	python3 "$PEER" manifest "$sock" a-c a/ a/b >late.out 2>&1
	assert_grep 'refused: the manifest names a after a-c: out of order' late.out
	python3 "$PEER" manifest "$sock" b b >twice.out 2>&1
	assert_grep 'refused: the manifest names b twice' twice.out
	python3 "$PEER" manifest "$sock" a/b >orphan.out 2>&1
	assert_grep 'refused: entry a/b comes before its directory' orphan.out
	assert_eq one "$(cat mnt/f)"
}

# Files are asked for while the manifest still comes, so data flows while
# the source is walked; data for an entry not asked for is refused then as
# after, and a session cut inside its manifest commits nothing.
case_requests_during_the_manifest() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	sock=$TC/store/.mirrorfs/control.sock
	python3 "$PEER" early "$sock" ok >ok.out 2>&1 ||
		t_fail "no request during the manifest: $(cat ok.out)"
	assert_eq "asked for entry 1 during the manifest" "$(cat ok.out)"
	python3 "$PEER" early "$sock" bad >bad.out 2>&1 ||
		t_fail "data for an entry not asked for: $(cat bad.out)"
	assert_grep 'refused: .*not requested' bad.out
	assert_missing store/d
	assert_eq 0 "$(find store/.mirrorfs/staging -type f | wc -l)" "files staged"
	assert_eq one "$(cat mnt/f)"
}

# cut_after_first KEY DEST: a session of src into DEST whose sender dies
# right after its first file (a.bin) is staged; the part stays kept.
# first_staged: a file of 3,000,000 bytes or more is in the store's staging.
first_staged() {
	[ -n "$(find store/.mirrorfs/staging -type f -size +2999999c)" ]
}

cut_after_first() {
	# Stopped there, then killed once the receiver has taken the file's
	# bytes: a sender killed with requests unread resets the connection,
	# which can drop bytes the receiver had not read yet (a load-made
	# flake when the crash point killed at once).
	MIRRORFS_STOP_AT=send:1 "$MIRRORCTL" sync --key key --compress 0 src \
	    "$1" >cut.out 2>&1 &
	local pid=$!
	t_track "$pid"
	wait_stopped "$pid" || t_fail "the sender did not stop after a file"
	wait_for first_staged || t_fail "the first file was not staged"
	kill_sender "$pid"
	assert_eq 1 "$(find store/.mirrorfs/partial -type f | wc -l)" "parts kept"
}

# rewrite_same_identity FILE: new bytes, the same size and mtime.
rewrite_same_identity() {
	local m
	m=$(stat -c %Y "$1")
	head -c "$(stat -c %s "$1")" /dev/urandom >"$1.new"
	mv "$1.new" "$1"
	touch -d "@$m" "$1"
}

# A kept copy of a file that changed at the source keeping its size and
# mtime was committed as it was (exit 0, wrong content).
case_kept_copy_verified() {
	mkdir src
	head -c 3000000 /dev/urandom >src/a.bin
	head -c 3000000 /dev/urandom >src/b.bin
	touch -d '-1 hour' src/a.bin src/b.bin
	serve app "$TC/store"
	local url="mirror://127.0.0.1:$PORT/app"
	# With --checksum the receiver checks the kept copy against the hash.
	cut_after_first "$url"
	rewrite_same_identity src/a.bin
	t_ctl sync -c --key key --compress 0 src "$url"
	assert_rc 0
	assert_file_eq src/a.bin store/a.bin
	rm -rf store
	# Without it the sender checks the kept copy's hash (NEED_FROM).
	cut_after_first "$url"
	rewrite_same_identity src/a.bin
	t_ctl sync --key key --compress 0 --json src "$url"
	assert_rc 0
	assert_file_eq src/a.bin store/a.bin
	assert_file_eq src/b.bin store/b.bin
	# An unchanged kept copy is used: a.bin is not sent again.
	rm -rf store
	cut_after_first "$url"
	t_ctl sync --key key --compress 0 --json src "$url"
	assert_rc 0
	assert_trees_eq src store
	[ "$(jf bytes_sent)" -lt 4000000 ] || t_fail "sent $(jf bytes_sent) bytes: the kept copy was not used"
}

# A session cut inside a new directory tree (staged whole, in place)
# keeps the file it staged there, and the next session uses it.
case_kept_in_new_tree() {
	mkdir -p src/tree/sub
	head -c 3000000 /dev/urandom >src/tree/sub/a.bin
	head -c 3000000 /dev/urandom >src/tree/sub/b.bin
	touch -d '-1 hour' src/tree/sub/a.bin src/tree/sub/b.bin
	serve app "$TC/store"
	local url="mirror://127.0.0.1:$PORT/app"
	cut_after_first "$url"
	assert_missing store/tree
	t_ctl sync --key key --compress 0 --json src "$url"
	assert_rc 0
	assert_trees_eq src store
	[ "$(jf bytes_sent)" -lt 4000000 ] || t_fail "sent $(jf bytes_sent) bytes: the kept copy was not used"
	assert_no_litter store
}

# staged_count: files of 8,192 bytes in the store's staging.
staged_count() {
	find store/.mirrorfs/staging -type f -size 8192c 2>/dev/null | wc -l
}

enough_staged() { [ "$(staged_count)" -ge 950 ]; }

# A cut after most files (the sender stopped after 1,000 entries): those
# the receiver had already released from its window (staged, done with)
# are kept too, not only the few still in it.
case_kept_after_many() {
	local i
	cut_src
	serve app "$TC/store"
	local url="mirror://127.0.0.1:$PORT/app"
	MIRRORFS_STOP_AT=send:1000 "$MIRRORCTL" sync --key key --compress 0 src \
	    "$url" >cut.out 2>&1 &
	local pid=$!
	t_track "$pid"
	wait_stopped "$pid" || t_fail "the sender did not stop after 1,000 files"
	# (The files sent make up 1,000 entries with their directories.)
	wait_for enough_staged ||
		t_fail "only $(staged_count) files were staged"
	kill_sender "$pid"
	i=$(find store/.mirrorfs/partial -type f | wc -l)
	[ "$i" -ge 950 ] || t_fail "$i of the 950 or more staged files were kept"
	t_ctl sync --key key --compress 0 --json src "$url"
	assert_rc 0
	assert_trees_eq src store
	# About 250 files of 8 KiB to send, and the manifest: not all 9.8 MB.
	[ "$(jf bytes_sent)" -lt 3000000 ] ||
		t_fail "sent $(jf bytes_sent) bytes: the kept files were sent again"
	assert_no_litter store
}

# Kept parts are durable before the session that kept them ends.
case_kept_parts_are_durable() {
	command -v strace >/dev/null || t_skip "needs strace"
	mkdir src
	head -c 3000000 /dev/urandom >src/a.bin
	head -c 3000000 /dev/urandom >src/b.bin
	"$MIRRORCTL" genkey key >/dev/null || t_fail "genkey"
	PORT=$(free_port)
	write_conf conf "127.0.0.1:$PORT" "$TC/key" app "$TC/store"
	strace -f -y -qq -e trace=fdatasync,fsync -o "$TC/trace" \
	    "$MIRRORD" -c conf 2>>mirrord.log &
	MIRRORD_PID=$!
	t_defer kill "$MIRRORD_PID"
	wait_for grep -q 'listening on' mirrord.log || t_fail "mirrord did not start"
	cut_after_first "mirror://127.0.0.1:$PORT/app"
	grep -q 'fdatasync([0-9]*</.*/\.mirrorfs/staging/s[0-9]*/n[0-9]*>)' trace ||
		t_fail "the kept file was not synced: $(grep -c . trace) calls traced"
	grep -q 'fsync([0-9]*</.*/\.mirrorfs/partial>)' trace ||
		t_fail "partial/ was not synced"
}

# The receiver dies: before the commit was agreed (nothing committed, exit
# 3), or once it was (exit 4: old or new, the client cannot know).
case_client_says_what_happened() {
	mkdir src && echo v1 >src/f
	"$MIRRORCTL" genkey key >/dev/null || t_fail "genkey"
	PORT=$(free_port)
	write_conf conf "127.0.0.1:$PORT" "$TC/key" app "$TC/store"
	local url="mirror://127.0.0.1:$PORT/app" point want
	t_ctl sync src store
	for point in staging agreed journal; do
		MIRRORFS_CRASH_AT=$point "$MIRRORD" -c conf 2>>mirrord.log &
		MIRRORD_PID=$!
		t_track "$MIRRORD_PID"
		wait_for sh -c "ss -ltn | grep -q ':$PORT '" ||
			t_fail "mirrord did not listen: $(cat mirrord.log)"
		echo "v2 $point" >src/f
		t_ctl sync --key key src "$url"
		kill "$MIRRORD_PID"
		wait "$MIRRORD_PID" 2>/dev/null
		t_untrack "$MIRRORD_PID"
		if [ "$point" = staging ]; then
			assert_rc 3 "the receiver died before the commit"
			assert_grep 'nothing was committed' "$TC/err"
		else
			assert_rc 4 "the receiver died after the commit began ($point)"
			assert_grep 'lost after the commit began' "$TC/err"
		fi
		t_ctl recover store
		assert_rc 0
		# Before the journal: the old version; after it: the new one.
		want=v1
		[ "$point" != journal ] || want="v2 journal"
		assert_eq "$want" "$(cat store/f)" "store/f after a crash at $point"
		assert_no_litter store
	done
}

# A sync started while a mount takes its store (before its socket is up)
# waits for the mount and commits through it.
case_sync_waits_for_a_starting_mount() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mkdir mnt
	MIRRORFS_STOP_AT=serve "$MIRRORFS" -f store "$TC/mnt" 2>>mirrorfs.log &
	MOUNT_PID=$!
	t_defer kill "$MOUNT_PID"
	t_defer fusermount3 -u -z "$TC/mnt"
	wait_stopped "$MOUNT_PID" || t_fail "the mount did not stop before serving"
	echo two >src/f
	t_ctl sync src store &
	local sync=$!
	t_track "$sync"
	# It waits (the mount holds the store, its socket is not there yet).
	wait_for grep -q 'waiting for its master' "$TC/err" ||
		t_fail "the sync did not wait: $(cat "$TC/err")"
	kill -CONT "$MOUNT_PID"
	wait "$sync"
	RC=$?
	t_untrack "$sync"
	assert_rc 0 "the sync through the mount"
	wait_for mounted mnt || t_fail "not mounted"
	assert_eq two "$(cat mnt/f)"
}

# A stale control.sock (left by a mount that died) beside a sync in
# progress: the second sync waits instead of failing "busy".
case_stale_socket_and_a_sync_in_progress() {
	mkdir src && echo one >src/f
	head -c 2000000 /dev/urandom >src/g
	t_ctl sync src store
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
	    store/.mirrorfs/control.sock
	echo two >src/f
	MIRRORFS_STOP_AT=send:1 "$MIRRORCTL" sync src store >first.out 2>&1 &
	local first=$!
	t_track "$first"
	wait_stopped "$first" || t_fail "the first sync did not stop"
	touch src/g
	"$MIRRORCTL" sync src store >second.out 2>&1 &
	local second=$!
	t_track "$second"
	wait_for grep -q 'waiting for its master' second.out ||
		t_fail "the second sync did not wait: $(cat second.out)"
	kill -CONT "$first"
	RC=0
	wait "$first" || RC=$?
	t_untrack "$first"
	assert_rc 0 "the first sync"
	RC=0
	wait "$second" || RC=$?
	t_untrack "$second"
	assert_rc 0 "the second sync: $(cat second.out)"
	assert_eq two "$(cat store/f)"
}

# An idle client of the control socket made an unmount hang.
case_unmount_with_an_idle_client() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	python3 "$PEER" idle "$TC/store/.mirrorfs/control.sock" 60 >peer.out &
	local peer=$!
	t_track "$peer"
	wait_for grep -q connected peer.out || t_fail "the idle client did not connect"
	local t0=$SECONDS
	unmount_store mnt
	[ $((SECONDS - t0)) -le 5 ] || t_fail "unmount took $((SECONDS - t0)) s"
	wait "$peer"
	t_untrack "$peer"
	assert_grep 'closed by the other side' peer.out
}

# One byte every 4 s kept a connection to a listener with timeout = 5
# open for ever: now the whole frame must come within the timeout.
case_trickling_client_dropped() {
	NET_TIMEOUT=5 serve app "$TC/store"
	python3 - "$PORT" >trickle.out <<'PY' || t_fail "$(cat trickle.out)"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.time()
s.settimeout(1)
while time.time() - t0 < 25:
    try:
        s.send(b"\0")
        if s.recv(1) == b"":
            break
    except socket.timeout:
        time.sleep(3)
        continue
    except OSError:
        break
took = time.time() - t0
print("closed after %.1f s" % took)
sys.exit(0 if took < 12 else 1)
PY
	kill -0 "$MIRRORD_PID" || t_fail "the listener died"
}

# A client that goes silent in the middle of a session into a mounted
# store held the mount's session lock for ever; every later sync blocked.
case_silent_client_releases_the_mount() {
	mkdir src && echo one >src/f
	head -c 3000000 /dev/urandom >src/big
	t_ctl sync src store
	mount_store store mnt
	NET_TIMEOUT=5 serve app "$TC/store"
	echo two >src/f
	MIRRORFS_STOP_AT=send:1 "$MIRRORCTL" sync --key key \
	    "$TC/src" "mirror://127.0.0.1:$PORT/app" >silent.out 2>&1 &
	local silent=$!
	t_track "$silent"
	wait_stopped "$silent" || t_fail "the first client did not stop"
	local t0=$SECONDS
	echo three >src/f
	T_CMD_TIMEOUT=40 t_ctl sync src store
	assert_rc 0 "a sync after a client went silent"
	[ $((SECONDS - t0)) -le 20 ] || t_fail "it waited $((SECONDS - t0)) s"
	assert_eq three "$(cat mnt/f)"
	kill -KILL "$silent"
	wait "$silent" 2>/dev/null || true
	t_untrack "$silent"
}

# ssh:// destinations that stop answering (mirrorctl waited in waitpid for
# ever) or stop reading (it waited in writev).
case_ssh_peer_stops() {
	mkdir src
	for i in 1 2 3 4 5 6 7 8; do head -c 3000000 /dev/urandom >"src/f$i"; done
	make_rsh bin-rsh
	local point t0
	for point in agreed staging:1; do
		rm -rf store
		t0=$SECONDS
		MIRRORFS_STOP_AT=$point T_CMD_TIMEOUT=60 t_ctl sync --timeout 3 \
		    --rsh "$TC/bin-rsh" src "ssh://host//$TC/store"
		echo "stopped at $point: exit $RC after $((SECONDS - t0)) s"
		# --timeout's 3 s, and no 5 s of grace for the remote shell of
		# a peer that let it run out: it is told to end at once.
		[ $((SECONDS - t0)) -le 7 ] || t_fail "took $((SECONDS - t0)) s ($point)"
		if [ "$point" = agreed ]; then
			assert_rc 4 "the peer stopped after the commit was agreed"
		else
			assert_rc 3 "the peer stopped reading"
			assert_grep 'took nothing we sent within 3 s|did not send a whole frame within 3 s' "$TC/err"
		fi
		# The remote shell was not left behind, stopped.
		if pgrep -f "mirrord --serve /$TC/store" >/dev/null; then
			t_fail "the remote mirrord still runs ($point)"
		fi
	done
}

t_case "a client that sends one byte at a time is dropped" case_trickling_client_dropped
t_case "a client silent in a session into a mount does not hold the mount" case_silent_client_releases_the_mount
t_case "ssh:// peers that stop answering or reading are given up, reaped" case_ssh_peer_stops
t_case "requests out of order are refused at once" case_requests_out_of_order
t_case "a request for the same file twice is refused at once" case_requests_twice
t_case "a request beyond the manifest is refused at once" case_requests_beyond_the_manifest
t_case "a flood of requests is cut at the first repeated index" case_request_flood
t_case "a MARK above the entries sent is refused at once" case_mark_above_the_entries_sent
t_case "a MARK going down is refused at once" case_mark_going_down
t_case "a MARK after MARK_NO_HOLD is refused at once" case_mark_after_no_hold
t_case "a request below the receiver's own MARK is refused at once" case_need_below_the_mark
t_case "a MARK repeated is refused at once" case_mark_repeated
t_case "a dry run into a mounted store takes no data" case_dry_run_takes_no_data
t_case "a manifest out of a walk's order, or naming a path twice, is refused" case_manifest_order
t_case "files are asked for during the manifest; data not asked for is refused" case_requests_during_the_manifest
t_case "a kept copy is verified before use, with or without --checksum" case_kept_copy_verified
t_case "a session cut inside a new tree keeps its file for the next" case_kept_in_new_tree
t_case "a session cut after most of 1,200 files keeps every file staged for the next" case_kept_after_many
t_case "kept parts are synced to disk before the session ends" case_kept_parts_are_durable
t_case "the client says committed, not committed, or unknown" case_client_says_what_happened
t_case "a sync waits for a mount that is starting" case_sync_waits_for_a_starting_mount
t_case "a stale socket beside a sync in progress: the next sync waits" case_stale_socket_and_a_sync_in_progress
t_case "unmount does not wait on an idle control-socket client" case_unmount_with_an_idle_client
t_done
