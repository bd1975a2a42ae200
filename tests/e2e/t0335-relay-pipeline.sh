#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# Pipelining relays: a store that forwards streams each session on to its
# hops while it still receives it (lib/relay.c). A session cut upstream
# while its data flows commits nothing on the relay nor on its hop; a hop
# that lacks files the relay has unchanged gets them in the pipelined
# session (read from the relay's store); a hop that is down does not hold
# the upstream session up, and converges later through the forward's
# store-and-forward. Daemons on loopback.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
. "$(dirname "$0")/../lib-mount.sh"
. "$(dirname "$0")/../lib-relay.sh"
t_setup

# holds REL: both stores are REL, and the relay's forward settled.
holds() {
	compare_trees "$1" relay >/dev/null 2>&1 &&
		compare_trees "$1" leaf >/dev/null 2>&1 && fileset_settled relay.conf
}

# cut_upstream: rel2, sent slowly, is killed (kill -9 of the client) once
# the leaf, below the relay, has staged some of it: neither store commits
# anything of it; the next session converges both.
cut_upstream() {
	push rel1
	wait_for holds rel1 || t_fail "the fleet does not hold rel1: $(rq d)"
	# The relay passes the data on while it still comes: the leaf stages.
	push_cut rel2 leaf
	wait_for grep -q "session into store leaf failed: nothing was committed" leaf.log ||
		t_fail "the leaf's pipelined session did not fail: $(tail -5 leaf.log)"
	assert_grep "relaying to mirror://127\.0\.0\.1:$LPORT/leaf stopped: the session failed upstream" relay.log
	assert_trees_eq rel1 relay
	assert_trees_eq rel1 leaf
	push rel3
	wait_for holds rel3 || t_fail "the fleet does not hold rel3: $(rq d)"
	assert_trees_eq rel3 leaf
}

case_cut_upstream() {
	releases 3
	hosts
	cut_upstream
}

case_cut_upstream_mounted() {
	releases 3
	mkdir relay
	mount_store relay rmnt -o create
	hosts
	cut_upstream
	assert_trees_eq rel3 rmnt
}

# forwarded N: the relay's forward has had N sessions to the leaf.
forwarded() { [ "$(grep -c "$fwd_re: created" relay.log || true)" -ge "$1" ]; }

# The leaf lost files the relay still has: the next session changes one
# file only (the relay asks for that one), and the pipelined session
# brings the leaf the lost ones too, from the relay's store.
case_hop_lacks_files() {
	local lost first n0
	releases 1
	hosts
	push rel1
	wait_for holds rel1 || t_fail "the fleet does not hold rel1: $(rq d)"
	fwd_re="forward:relay: mirror://127\.0\.0\.1:$LPORT/leaf"
	n0=$(grep -c "$fwd_re: created" relay.log || true)
	cp -a rel1 rel1b
	lost=$(cd leaf && find . -path ./.mirrorfs -prune -o -type f -size +0 -print | sort | head -3)
	# shellcheck disable=SC2086 # three paths without blanks
	(cd leaf && rm -f $lost)
	first=$(cd rel1b && find . -type f -size +0 | sort | tail -1)
	echo "changed" >>"rel1b/$first"
	push rel1b
	wait_for holds rel1b || t_fail "the fleet does not hold rel1b: $(rq d)"
	assert_trees_eq rel1b leaf
	# One session did it all, the relay's own as it came: the forward's
	# session after it found nothing to send.
	assert_grep "session into store relay done: created 0, replaced 1," relay.log
	assert_grep "session into store leaf done: created 3, replaced 1," leaf.log
	wait_for forwarded "$((n0 + 1))" || t_fail "no forward after the session: $(tail -3 relay.log)"
	assert_grep "$fwd_re: created 0, replaced 0, purged 0," relay.log
	assert_not_grep "$fwd_re: created 3" relay.log
}

# The hop is down: the upstream session commits at once all the same; the
# hop converges once it is back, through the forward.
case_hop_down() {
	local t0 took
	releases 2
	hosts
	push rel1
	wait_for holds rel1 || t_fail "the fleet does not hold rel1: $(rq d)"
	stop_mirrord "$LEAF_PID"
	t0=$(date +%s%N)
	push rel2
	took=$((($(date +%s%N) - t0) / 1000000))
	echo "the session into the relay took $took ms with its hop down"
	assert_trees_eq rel2 relay
	assert_grep "relaying to mirror://127\.0\.0\.1:$LPORT/leaf stopped: .*Connection refused" relay.log
	wait_for fileset_q_is '"Connection refused" in d[0]["error"]' ||
		t_fail "the forward does not retry the hop: $(rq d)"
	assert_trees_eq rel1 leaf
	start_mirrord leaf.conf leaf.log
	wait_for holds rel2 || t_fail "the leaf did not converge: $(rq d)"
	assert_trees_eq rel2 leaf
}

# big_change REL: REL2, REL with one byte of its 4 MiB file changed.
big_change() {
	mkdir "$1"
	head -c 4194304 /dev/urandom >"$1/big"
	echo one >"$1/small"
	cp -a "$1" "${1}2"
	printf X | dd of="${1}2/big" bs=1 seek=100000 conv=notrunc 2>/dev/null
}

# push_json REL: push REL into the relay; sets SENT (bytes it sent).
push_json() {
	t_ctl sync --key key --purge --json "$1" "mirror://127.0.0.1:$RPORT/relay"
	assert_rc 0
	SENT=$(jf bytes_sent)
}

# Streaming has a price the docs name: the relay asks its upstream for
# whole files while it streams, so a changed big file crosses whole.
case_stream_asks_whole_files() {
	big_change rel
	hosts
	push rel
	wait_for holds rel || t_fail "the fleet does not hold rel: $(rq d)"
	push_json rel2
	[ "$SENT" -gt 4194304 ] ||
		t_fail "a streaming relay took $SENT bytes for a changed 4 MiB file: not whole"
	wait_for holds rel2 || t_fail "the fleet does not hold rel2: $(rq d)"
	assert_grep "relayed the session to mirror://127\.0\.0\.1:$LPORT/leaf while it came" relay.log
}

# forward_stream = no: store-and-forward, and the relay's own sessions
# keep their deltas; the hop still converges, after the commit.
case_no_stream_keeps_deltas() {
	big_change rel
	RELAY_EXTRA='forward_stream = no' hosts
	push rel
	wait_for holds rel || t_fail "the fleet does not hold rel: $(rq d)"
	push_json rel2
	[ "$SENT" -lt 1048576 ] ||
		t_fail "forward_stream = no: $SENT bytes sent for one byte changed in 4 MiB"
	wait_for holds rel2 || t_fail "the fleet does not hold rel2: $(rq d)"
	assert_trees_eq rel2 leaf
	assert_not_grep "relayed" relay.log
}

fileset_q_is() { [ "$(rq "d[0][\"error\"] is not None and $1")" = True ]; }

t_case "a session cut upstream while it flows commits nothing on the relay or its hop" case_cut_upstream
t_case "... nor through a mounted relay" case_cut_upstream_mounted
t_case "a hop gets the files it lacks and the relay has unchanged, in the same session" case_hop_lacks_files
t_case "a hop that is down holds nothing up; it converges through the forward" case_hop_down
t_case "a streaming relay asks its upstream for whole files" case_stream_asks_whole_files
t_case "forward_stream = no: store-and-forward, the relay's deltas kept" case_no_stream_keeps_deltas
t_done
