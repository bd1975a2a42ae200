# shellcheck shell=bash
#
# tests/lib-relay.sh: a relay and its leaf on loopback, for the tests of
# forwarding stores (t0330, t0335). Source after lib.sh and lib-net.sh.

# hosts: a key, the leaf's mirrord (store leaf, port LPORT, control socket
# leaf.sock, log leaf.log, pid LEAF_PID) and the relay's (store relay
# forwarding to the leaf, port RPORT, control socket relay.sock, log
# relay.log; RELAY_EXTRA: more lines for its [store relay]).
hosts() {
	"$MIRRORCTL" genkey key >/dev/null || t_fail "genkey failed"
	LPORT=$(free_port)
	RPORT=$(free_port)
	write_conf leaf.conf "127.0.0.1:$LPORT" "$TC/key" leaf "$TC/leaf"
	printf '\n[daemon]\ncontrol = %s/leaf.sock\n' "$TC" >>leaf.conf
	write_conf relay.conf "127.0.0.1:$RPORT" "$TC/key" relay "$TC/relay"
	printf 'forward = mirror://127.0.0.1:%s/leaf\nforward_retry_min = 1\nforward_retry_max = 2\n%s\n[daemon]\ncontrol = %s/relay.sock\n' \
		"$LPORT" "${RELAY_EXTRA:-}" "$TC" >>relay.conf
	start_mirrord leaf.conf leaf.log
	# shellcheck disable=SC2034 # the tests that source this stop it
	LEAF_PID=$MIRRORD_PID
	start_mirrord relay.conf relay.log
}

# releases N: rel1 .. relN, the same names with other contents.
releases() {
	local i
	for i in $(seq "$1"); do
		GEN_SEED=$i generate_tree "rel$i" 40 1
	done
}

# push REL: a session of REL into the relay, which must commit.
push() {
	t_ctl sync --key key --purge "$1" "mirror://127.0.0.1:$RPORT/relay"
	assert_rc 0
}

# rq EXPR: a python expression on the relay's status (f: the forward's
# file set, d: its hops).
rq() { fileset_q relay.conf "$1"; }

# staged STORE: a session into STORE has staged data.
staged() { [ -n "$(find "$1/.mirrorfs/staging" -type f -print -quit 2>/dev/null)" ]; }

# push_cut REL STORE: a session of REL into the relay, slowed (100 ms a
# file), killed with kill -9 once STORE (the relay or a store below it)
# has staged some of it; returns once the relay logged the failure.
push_cut() {
	local cpid
	MIRRORFS_DELAY_AT=send:100 "$MIRRORCTL" sync --key key --purge "$1" \
		"mirror://127.0.0.1:$RPORT/relay" >cut.out 2>&1 &
	cpid=$!
	t_track "$cpid"
	wait_for staged "$2" || t_fail "the session into the relay staged nothing in $2"
	kill -9 "$cpid"
	wait "$cpid" 2>/dev/null || true
	t_untrack "$cpid"
	wait_for grep -q "session into store relay failed: nothing was committed" relay.log ||
		t_fail "the cut session did not fail at the relay: $(tail -5 relay.log)"
}
