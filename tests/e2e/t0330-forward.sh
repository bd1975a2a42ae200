#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# A store that forwards (`[store NAME] forward = URL...`): after a session
# commits into it, its mirrord pushes that committed generation to each
# hop, with or without a mount serving the store; a session that fails
# upstream is never forwarded; a hop that is down is retried with
# backoff and then gets only the latest generation, in one session; the
# relay's `mirrorctl status` (text and --json) shows each hop, the
# generation it holds and its error. Daemons on loopback.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
. "$(dirname "$0")/../lib-mount.sh"
. "$(dirname "$0")/../lib-relay.sh"
t_setup

r_is() { [ "$(rq "$1")" = True ]; }

# leaf_sessions: sessions the leaf's mirrord committed.
leaf_sessions() { grep -c "session into store leaf done" leaf.log || true; }
# leaf_changes: those of them that changed something (the relay streams
# each session on as it comes; its forward's session after the commit
# then finds nothing to send).
leaf_changes() {
	grep "session into store leaf done" leaf.log |
		grep -vc "created 0, replaced 0, purged 0," || true
}

# leaf_holds REL: the leaf is REL now, and the relay's hop settled.
leaf_holds() {
	compare_trees "$1" leaf >/dev/null 2>&1 && fileset_settled relay.conf
}

case_forwards_each_commit() {
	releases 2
	hosts
	# The forward is a file set of its own, its hop a destination.
	assert_eq "forward:relay relay" "$(rq 'f["name"] + " " + f["forward_of"]')"
	push rel1
	wait_for leaf_holds rel1 || t_fail "the leaf does not hold rel1: $(rq d)"
	assert_trees_eq rel1 leaf
	push rel2
	wait_for leaf_holds rel2 || t_fail "the leaf does not hold rel2: $(rq d)"
	assert_trees_eq rel2 leaf
	assert_eq 2 "$(leaf_changes)" "sessions into the leaf that changed it"
	# Under the relay's lock (no mount) the generation is not known.
	assert_eq "ok None" "$(rq 'd[0]["state"] + " " + str(d[0]["generation"])')"
	"$MIRRORCTL" status -c relay.conf >status.txt
	assert_grep "^forward:relay: idle" status.txt
	assert_grep "to mirror://127\.0\.0\.1:$LPORT/leaf: ok" status.txt
	assert_grep "forward:relay: the source store committed|forward:relay: a session committed into the source store" relay.log
}

case_mounted_relay() {
	releases 2
	mkdir relay
	mount_store relay rmnt -o create
	hosts
	push rel1
	wait_for leaf_holds rel1 || t_fail "the leaf does not hold rel1: $(rq d)"
	local g1
	g1=$(rq 'd[0]["generation"]')
	[ "$g1" != None ] || t_fail "no generation delivered: $(rq d)"
	push rel2
	wait_for leaf_holds rel2 || t_fail "the leaf does not hold rel2: $(rq d)"
	assert_eq True "$(rq "d[0][\"generation\"] == $g1 + 1")" "the generation after one more commit"
	"$MIRRORCTL" status -c relay.conf >status.txt
	assert_grep "generation delivered: $((g1 + 1))" status.txt
	assert_grep "watch store commits" status.txt
	assert_trees_eq rel2 leaf
}

# A session into the relay killed half way commits nothing there, and
# nothing is forwarded for it (its pipelined session below is told ERROR
# and commits nothing): after one more good session the leaf has had
# exactly one more session that changed something, of that release.
fail_upstream() {
	local n0
	n0=$(leaf_changes)
	# Killed once the relay staged some of it (100 ms a file, 40 files).
	push_cut rel2 relay
	assert_trees_eq rel1 relay
	push rel3
	wait_for leaf_holds rel3 || t_fail "the leaf does not hold rel3: $(rq d)"
	assert_eq $((n0 + 1)) "$(leaf_changes)" "sessions into the leaf"
}

case_failed_upstream_not_forwarded() {
	releases 3
	hosts
	push rel1
	wait_for leaf_holds rel1 || t_fail "the leaf does not hold rel1: $(rq d)"
	fail_upstream
}

case_failed_upstream_not_forwarded_mounted() {
	releases 3
	mkdir relay
	mount_store relay rmnt -o create
	hosts
	push rel1
	wait_for leaf_holds rel1 || t_fail "the leaf does not hold rel1: $(rq d)"
	fail_upstream
}

case_hop_down_gets_latest() {
	releases 4
	hosts
	push rel1
	wait_for leaf_holds rel1 || t_fail "the leaf does not hold rel1: $(rq d)"
	local n0
	n0=$(leaf_sessions)
	stop_mirrord "$LEAF_PID"
	push rel2
	wait_for r_is 'd[0]["state"] == "retrying"' || t_fail "the hop is not retrying: $(rq d)"
	assert_eq True "$(rq '"Connection refused" in d[0]["error"] and d[0]["attempts"] >= 1')" "the hop's error"
	"$MIRRORCTL" status -c relay.conf >status.txt
	assert_grep "to mirror://127\.0\.0\.1:$LPORT/leaf: retrying since .*Connection refused" status.txt
	push rel3
	push rel4
	start_mirrord leaf.conf leaf.log
	wait_for leaf_holds rel4 || t_fail "the leaf does not hold rel4: $(rq d)"
	# One session, of the latest: never a queue of the stale ones.
	assert_eq $((n0 + 1)) "$(leaf_sessions)" "sessions into the leaf once back"
	assert_eq "ok None" "$(rq 'd[0]["state"] + " " + str(d[0]["error"])')"
}

# The sender learns the hops below with its RESULT (HOPS): each as the
# relay knew it when the session began (so the second level is as the
# middle hop knew it when the relay's last forward began), two levels.
case_hops_reported_upstream() {
	releases 3
	hosts
	# top -> relay -> leaf: the relay of hosts() is the middle hop.
	local tport
	tport=$(free_port)
	write_conf top.conf "127.0.0.1:$tport" "$TC/key" top "$TC/top"
	printf 'forward = mirror://127.0.0.1:%s/relay\nforward_retry_min = 1\nforward_retry_max = 2\n\n[daemon]\ncontrol = %s/top.sock\n' \
		"$RPORT" "$TC" >>top.conf
	start_mirrord top.conf top.log
	t_ctl sync --key key --purge --json rel1 "mirror://127.0.0.1:$tport/top"
	assert_rc 0
	# Before any forward: the middle hop is owed its first session.
	assert_eq "1 mirror://127.0.0.1:$RPORT/relay owed" \
		"$(jtop destinations.0.hops.0.depth) $(jtop destinations.0.hops.0.destination) $(jtop destinations.0.hops.0.state)"
	wait_for leaf_holds rel1 || t_fail "the leaf does not hold rel1: $(rq d)"
	wait_for fileset_settled top.conf || t_fail "the top's hop did not settle"
	t_ctl sync --key key --purge --json rel2 "mirror://127.0.0.1:$tport/top"
	assert_rc 0
	python3 - "$TC/out" "$RPORT" "$LPORT" <<'PY' || t_fail "hops: $(cat "$TC/out")"
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["destinations"][0]
h = d["hops"]
assert [x["depth"] for x in h] == [1, 2], h
assert h[0]["destination"] == "mirror://127.0.0.1:%s/relay" % sys.argv[2], h
assert h[1]["destination"] == "mirror://127.0.0.1:%s/leaf" % sys.argv[3], h
assert h[0]["state"] == "ok" and h[0]["delivered"] and h[0]["error"] is None, h
# The leaf as the relay knew it when the top's last forward began: its
# forward's own first session to the leaf owed, running or done by then
# (the leaf had rel1 already, streamed on by the relay as it came).
assert h[1]["state"] in ("owed", "syncing", "ok"), h
assert (h[1]["delivered"] is None) == (h[1]["state"] != "ok"), h
PY
	wait_for leaf_holds rel2 || t_fail "the leaf does not hold rel2: $(rq d)"
	wait_for fileset_settled top.conf || t_fail "the top's hop did not settle"
	# People read them under the summary; mirrord's status shows them too.
	t_ctl sync --key key --purge rel3 "mirror://127.0.0.1:$tport/top"
	assert_rc 0
	assert_grep "^hop mirror://127\.0\.0\.1:$RPORT/relay: ok" "$TC/out"
	# The leaf as the relay knew it when this forward began (see above).
	assert_grep "^  hop mirror://127\.0\.0\.1:$LPORT/leaf: (ok|syncing|owed)" "$TC/out"
	wait_for leaf_holds rel3 || t_fail "the leaf does not hold rel3: $(rq d)"
	wait_for fileset_settled top.conf || t_fail "the top's hop did not settle"
	"$MIRRORCTL" status -c top.conf >status.txt
	assert_grep "^    hop mirror://127\.0\.0\.1:$LPORT/leaf: ok" status.txt
	assert_eq 1 "$(fileset_q top.conf 'len(d[0]["last_result"]["hops"])')" "hops in the top's status"
}

case_config_errors() {
	"$MIRRORCTL" genkey key >/dev/null
	printf '[store a]\npath = %s/a\nforward_key = %s/key\n' "$TC" "$TC" >c1.conf
	t_run "$MIRRORD" -c c1.conf
	assert_rc 2
	assert_grep 'c1.conf:1: \[store a\] has forward_key but no forward' "$TC/err"
	printf '[store a]\npath = %s/a\nforward = mirror://h/b\n\n[fileset forward:a]\nsource = /x\ndest = /y\n' "$TC" >c2.conf
	t_run "$MIRRORD" -c c2.conf
	assert_rc 2
	assert_grep 'c2.conf:5: \[fileset forward:a\] has the name of the file set that \[store a\] forwards with' "$TC/err"
	printf '[store a]\npath = %s/a\nforward = mirror://h/b\nforward_retry_min = 0\n' "$TC" >c3.conf
	t_run "$MIRRORD" -c c3.conf
	assert_rc 2
	assert_grep "c3.conf:4: forward_retry_min = '0': not a number of seconds" "$TC/err"
}

t_case "a commit into the relay is forwarded to its hop" case_forwards_each_commit
t_case "a mounted relay forwards each generation, shown per hop" case_mounted_relay
t_case "a session that fails upstream is never forwarded" case_failed_upstream_not_forwarded
t_case "... nor through a mounted relay" case_failed_upstream_not_forwarded_mounted
t_case "a hop that was down gets the latest generation in one session" case_hop_down_gets_latest
t_case "the sender learns the state of every hop below" case_hops_reported_upstream
t_case "bad forward configurations are refused by line" case_config_errors
t_done
