#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# A store (or a mount of one) read as a source: every session reads one
# committed generation while releases are committed into it, never
# reports the store's .mirrorfs, and a reader that holds commits and
# dies or hangs blocks them no longer than its hold. A mirrord file set
# whose source is a store runs a session after each commit into it, told
# by the store's master (no inotify), none without one, one of the latest
# for several, and follows the mount again after it restarts.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
MIRRORD=$BUILD/mirrord
t_setup

# releases: rel1 and rel2, the same names with other contents (a mix of
# the two is a tree whose sums are neither's); their sums in rel1.sum and
# rel2.sum.
releases() {
	GEN_SEED=1 generate_tree rel1 60 0
	GEN_SEED=2 generate_tree rel2 60 0
	tree_sums rel1 >rel1.sum
	tree_sums rel2 >rel2.sum
	cmp -s rel1.sum rel2.sum && t_fail "the two releases are alike"
	return 0
}

# which_release DIR: 1 or 2 when DIR holds exactly that release, else "mix".
which_release() {
	tree_sums "$1" >"$TC/now.sum"
	if cmp -s "$TC/now.sum" rel1.sum; then echo 1
	elif cmp -s "$TC/now.sum" rel2.sum; then echo 2
	else echo mix; fi
}

# writer STORE: commits rel2, rel1, rel2... into STORE, in the background
# (sets WPID), until the file writer.stop exists; each sync's exit status
# is appended to writer.rc.
writer() {
	rm -f writer.stop writer.rc
	(
		i=1
		while [ ! -e writer.stop ]; do
			"$MIRRORCTL" sync --purge "rel$((i % 2 + 1))" "$1" >>writer.out 2>&1
			echo $? >>writer.rc
			i=$((i + 1))
		done
	) &
	WPID=$!
	t_track "$WPID"
}

# read_while_writing FROM N: N syncs of FROM into B (each reading slowly,
# 10 ms a file) while the writer commits into the store: every one exits 0,
# reports nothing skipped, and leaves B holding one release; both releases
# are seen (the writer's commits came between the reads).
read_while_writing() {
	local from=$1 n=$2 i r mixes=0 kinds=
	for i in $(seq "$n"); do
		MIRRORFS_DELAY_AT=send:10 "$MIRRORCTL" sync --purge "$from" B >read.out 2>&1 ||
			t_fail "sync $from B #$i exited $?: $(cat read.out)"
		assert_not_grep '\.mirrorfs' read.out
		assert_grep 'skipped 0,' read.out
		r=$(which_release B)
		[ "$r" = mix ] && mixes=$((mixes + 1))
		kinds="$kinds$r"
	done
	[ "$mixes" -eq 0 ] || t_fail "$mixes of $n syncs left B a mix of two releases ($kinds)"
	case $kinds in
	*1*2* | *2*1*) ;;
	*) t_fail "the reads saw one release only ($kinds): the writer did not commit between them" ;;
	esac
	echo "releases read: $kinds"
}

# writer_ok: stops the writer; every one of its syncs exited 0.
writer_ok() {
	touch writer.stop
	wait "$WPID"
	t_untrack "$WPID"
	echo "the writer's syncs: $(grep -c . writer.rc)"
	[ "$(grep -vc '^0$' writer.rc)" -eq 0 ] ||
		t_fail "a writer's sync failed: $(cat writer.out)"
}

case_store_no_mix() {
	releases
	"$MIRRORCTL" sync rel1 A >/dev/null
	writer A
	read_while_writing A 10
	writer_ok
	assert_ne "$(which_release A)" mix "A itself"
}

case_mount_no_mix() {
	releases
	"$MIRRORCTL" sync rel1 A >/dev/null
	mount_store A mnt
	writer A
	read_while_writing mnt 8
	read_while_writing A 8
	writer_ok
}

# The reader stops itself once its hold is granted (MIRRORFS_STOP_AT=held).
held_reader() {
	MIRRORFS_STOP_AT=held "$MIRRORCTL" sync --purge "$1" B >reader.out 2>&1 &
	RPID=$!
	t_track "$RPID"
	wait_stopped "$RPID" || t_fail "the reader did not stop holding: $(cat reader.out)"
}

case_dead_reader() {
	releases
	"$MIRRORCTL" sync rel1 A >/dev/null
	mount_store A mnt -o hold_max=60
	held_reader mnt
	kill -9 "$RPID"
	wait "$RPID" 2>/dev/null || true
	t_untrack "$RPID"
	local t0=$SECONDS
	# Its hold ends with its connection, not 60 s later.
	timeout 20 "$MIRRORCTL" sync --purge rel2 A >w.out 2>&1 ||
		t_fail "the commit after a dead reader failed ($?): $(cat w.out)"
	[ $((SECONDS - t0)) -lt 20 ] || t_fail "the commit took $((SECONDS - t0)) s"
	assert_eq "$(which_release mnt)" 2 "the mount after the commit"
}

case_hung_reader() {
	releases
	"$MIRRORCTL" sync rel1 A >/dev/null
	"$MIRRORCTL" sync rel1 B >/dev/null
	mount_store A mnt -o hold_max=3
	held_reader mnt
	local t0=$SECONDS dt
	timeout 30 "$MIRRORCTL" sync --purge rel2 A >w.out 2>&1 ||
		t_fail "the commit past a hung reader failed ($?): $(cat w.out)"
	dt=$((SECONDS - t0))
	# It waited for the hold, and no longer than its 3 s.
	if [ "$dt" -lt 2 ] || [ "$dt" -gt 12 ]; then
		t_fail "the commit took $dt s (the hold lasts 3 s)"
	fi
	assert_grep 'waited' "$TC/mirrorfs.log"
	assert_eq "$(which_release mnt)" 2 "the mount after the commit"
	# The reader goes on: it read across the commit, so nothing of it lands.
	kill -CONT "$RPID"
	local rc=0
	wait "$RPID" || rc=$?
	t_untrack "$RPID"
	[ "$rc" -ne 0 ] || t_fail "the reader whose hold expired exited 0: $(cat reader.out)"
	assert_grep 'went ahead while this session read it' reader.out
	assert_eq "$(which_release B)" 1 "B after the broken read"
}

# A mirrord whose file set "app" reads mnt (the mount of A) into B.
SPID=
follow_conf() {
	printf '[daemon]\ncontrol = %s/d.sock\n\n[fileset app]\n' "$TC" >d.conf
	printf 'source = %s/mnt\ndest = %s/B\nwatch = yes\npurge = yes\n' "$TC" "$TC" >>d.conf
	printf 'retry_min = 1\nretry_max = 2\n' >>d.conf
}

# stq EXPR, st_is EXPR, settled: the file set's status (tests/lib.sh).
stq() { fileset_q d.conf "$1"; }
st_is() { [ "$(stq "$1")" = True ]; }
settled() { fileset_settled d.conf; }
following() { st_is 'f["watch"] == "store commits"'; }
b_is() { [ "$(which_release B)" = "$1" ]; }

# commit_and_follow REL: commit REL into A (through the mount's master);
# B follows and the file set settles.
commit_and_follow() {
	"$MIRRORCTL" sync --purge "$1" A >/dev/null
	wait_for b_is "${1#rel}" || t_fail "B did not follow the commit of $1: $(cat d.log)"
	wait_for settled || t_fail "no settling after $1: $(stq f)"
}

case_mirrord_follows() {
	releases
	"$MIRRORCTL" sync rel1 A >/dev/null
	mount_store A mnt
	follow_conf
	"$MIRRORD" -c d.conf 2>>d.log &
	SPID=$!
	t_track "$SPID"
	wait_for b_is 1 || t_fail "the first session did not run: $(cat d.log)"
	wait_for following || t_fail "mirrord does not follow A's commits: $(stq f)"
	wait_for settled || t_fail "not settled: $(stq f)"
	local s0
	s0=$(stq 'f["sessions"]')
	commit_and_follow rel2
	assert_eq "$(stq 'f["sessions"]')" $((s0 + 1)) "sessions after one commit"
	# A sync that changes nothing commits nothing: no session; the next does.
	"$MIRRORCTL" sync --purge rel2 A >/dev/null
	commit_and_follow rel1
	assert_eq "$(stq 'f["sessions"]')" $((s0 + 2)) "sessions after a no-op and a commit"
	# Three commits while the file set is suspended: one session, of the last.
	"$MIRRORCTL" suspend -c d.conf app >/dev/null
	for r in rel2 rel1 rel2; do "$MIRRORCTL" sync --purge "$r" A >/dev/null; done
	wait_for st_is 'd[0]["whole_session"]' || t_fail "the commits were not heard: $(stq f)"
	"$MIRRORCTL" resume -c d.conf app >/dev/null
	wait_for b_is 2 || t_fail "B did not follow after resume: $(cat d.log)"
	wait_for settled || t_fail "no settling after resume: $(stq f)"
	assert_eq "$(stq 'f["sessions"]')" $((s0 + 3)) "sessions after three commits while suspended"
	# The mount stops and starts again: mirrord follows its new master.
	unmount_store "$TC/mnt"
	wait_for grep -q 'its master went away' d.log ||
		t_fail "mirrord did not see the mount go: $(cat d.log)"
	mount_store A mnt
	commit_and_follow_slow rel2
	kill "$SPID"
	wait "$SPID" || true
	t_untrack "$SPID"
}

# commit_and_follow_slow REL: as commit_and_follow, waiting long enough for
# the watch's backoff (at most 30 s).
commit_and_follow_slow() {
	"$MIRRORCTL" sync --purge "$1" A >/dev/null
	for _ in $(seq 400); do
		b_is "${1#rel}" && settled && return 0
		sleep 0.1
	done
	t_fail "B did not follow the commit of $1 after the mount came back: $(cat d.log)"
}

t_case "a store read while releases are committed into it: one release each time" case_store_no_mix
t_case "a mount and its store read while releases are committed: one release each time" case_mount_no_mix
t_case "a reader killed while it holds the store's commits blocks them no longer" case_dead_reader
t_case "a hung reader's hold expires: the commit goes ahead, the reader commits nothing" case_hung_reader
T_TIMEOUT=120 t_case "mirrord follows the commits of a store source, one session each" case_mirrord_follows
t_done
