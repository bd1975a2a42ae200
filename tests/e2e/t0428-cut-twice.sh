#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# Review reproducers (rev1) for d1dc251: what a session cut a second time
# keeps, and the syncfs a cut with a released window costs the receiver.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

# cut_at POINT URL: a sync to URL whose sender stops at POINT, then is
# killed; returns once mirrord let the store go.
cut_at() {
	local point=$1 url=$2 pid
	MIRRORFS_STOP_AT=$point "$MIRRORCTL" sync --key key --compress 0 src \
	    "$url" >cut.out 2>&1 &
	pid=$!
	t_track "$pid"
	wait_stopped "$pid" || t_fail "the sender did not stop at $point"
	sleep 1
	kill_sender "$pid"
}

kept() {
	find store/.mirrorfs/partial -type f | wc -l
}

# The first cut keeps ~1,000 files; a second session claims them all into
# staging (NEED_FROM) and is cut after its first file: what it claimed
# but had not heard back about should go back to partial/.
case_second_cut_keeps_the_first_cuts_files() {
	local first second
	cut_src
	serve app "$TC/store"
	local url="mirror://127.0.0.1:$PORT/app"
	cut_at send:1000 "$url"
	first=$(kept)
	[ "$first" -ge 950 ] || t_fail "the first cut kept $first files"
	cut_at send:1 "$url"
	second=$(kept)
	echo "kept after the first cut: $first, after the second: $second"
	[ "$second" -ge "$first" ] ||
		t_fail "a second cut lost $((first - second)) of the $first kept files"
}

# A re-sync of 1,200 unchanged files and 5 changed at the end, cut at the
# first changed file: nothing released was staged, yet the receiver
# calls syncfs(2) on the store's filesystem.
case_cut_with_nothing_staged_syncs_the_filesystem() {
	command -v strace >/dev/null || t_skip "needs strace"
	cut_src
	"$MIRRORCTL" genkey key >/dev/null || t_fail "genkey"
	PORT=$(free_port)
	write_conf conf "127.0.0.1:$PORT" "$TC/key" app "$TC/store"
	strace -f -qq -e trace=syncfs -T -o "$TC/trace" \
	    "$MIRRORD" -c conf 2>>mirrord.log &
	MIRRORD_PID=$!
	t_defer kill "$MIRRORD_PID"
	wait_for grep -q 'listening on' mirrord.log || t_fail "mirrord did not start"
	local url="mirror://127.0.0.1:$PORT/app"
	t_ctl sync --key key --compress 0 src "$url"
	assert_rc 0
	for i in 0 1 2 3 4; do head -c 8192 /dev/urandom >"src/d/f29$i"; done
	local before after
	# Someone else's dirty data on the same filesystem: the syncfs of
	# the cut waits for it too (its time is printed, -T).
	head -c 200000000 /dev/urandom >"$TC/other-tenant.bin"
	before=$(grep -c 'syncfs(' "$TC/trace" || true)
	cut_at send:1 "$url"
	after=$(grep -c 'syncfs(' "$TC/trace" || true)
	echo "syncfs calls in the cut session: $((after - before))"
	grep 'syncfs(' "$TC/trace" || true
	[ "$after" -eq "$before" ] ||
		t_fail "a cut with no released file staged ran syncfs on the store's filesystem"
	rm -f "$TC/other-tenant.bin"
}

# 9d02c31: a remote mirrord --serve stopped in the middle of its commit
# (after 3 records applied) lets --timeout run out; the client sends its
# shell SIGTERM and, a second later, SIGKILL. The next sync recovers the
# journal and lands every file, old or new, never a mix.
case_ssh_remote_killed_mid_commit() {
	local t0
	mkdir src
	for i in 1 2 3 4 5 6 7 8; do head -c 100000 /dev/urandom >"src/f$i"; done
	make_rsh bin-rsh
	t_ctl sync src store
	assert_rc 0
	for i in 1 2 3 4 5 6 7 8; do head -c 100000 /dev/urandom >"src/f$i"; done
	t0=$SECONDS
	MIRRORFS_STOP_AT=commit:3 T_CMD_TIMEOUT=60 t_ctl sync --timeout 3 \
	    --rsh "$TC/bin-rsh" src "ssh://host//$TC/store"
	echo "stopped in the commit: exit $RC after $((SECONDS - t0)) s"
	assert_rc 4 "the peer stopped after the commit was agreed"
	# The remote command line is "mirrord --serve //$TC/store" minus
	# one slash ($TC starts with one).
	local left
	left=$(pgrep -f "mirrord --serve /$TC/store" | tr "\n" " " || true)
	for pid in $left; do
		ps -o pid,ppid,stat,args -p "$pid" || true
		kill -KILL "$pid"	# ours: this case started it
	done
	[ -z "$left" ] || wait_for sh -c "flock -n '$TC/store/.mirrorfs/lock' true"
	t_ctl sync --rsh "$TC/bin-rsh" src "ssh://host//$TC/store"
	assert_rc 0
	assert_trees_eq src store
	assert_no_litter store
	[ -z "$left" ] || t_fail "the remote mirrord was left behind, stopped, holding the store: pid $left"
}

t_case "a second cut keeps what the first one kept" case_second_cut_keeps_the_first_cuts_files
t_case "a cut with nothing staged in the released window does not syncfs" case_cut_with_nothing_staged_syncs_the_filesystem
t_case "an ssh:// remote stopped in its commit is not left behind; the next sync recovers" case_ssh_remote_killed_mid_commit
t_done
