#!/bin/bash
# Fan-out: one session to three destinations in three network namespaces;
# one link is cut mid-session, the others complete, it converges later.
# e2e: alone (veth links in the root namespace, cut and restored)
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

# make_host I: namespace mfs$$h$I behind a veth pair 10.231.I.1 <-> 10.231.I.2,
# its rate limited so a session lasts a few seconds; its own mirrord.
make_host() {
	local i=$1 ns=mfs$$h$1 host=mfsh$$a$1 peer=mfsh$$b$1
	ip netns add "$ns" || t_fail "ip netns add failed"
	t_defer ip netns del "$ns"
	ip link add "$host" type veth peer name "$peer" || t_fail "ip link add failed"
	t_defer ip link del "$host"
	ip link set "$peer" netns "$ns"
	ip addr add "10.231.$i.1/24" dev "$host"
	ip link set "$host" up
	ip netns exec "$ns" ip addr add "10.231.$i.2/24" dev "$peer"
	ip netns exec "$ns" ip link set "$peer" up
	ip netns exec "$ns" ip link set lo up
	tc qdisc add dev "$host" root tbf rate 40mbit burst 32kbit latency 400ms ||
		t_fail "cannot limit the rate of $host"
	write_conf "conf$i" "10.231.$i.2:7878" "$TC/key" app "$TC/store$i"
	start_mirrord "conf$i" "mirrord$i.log" "$ns"
	eval "LINK$i=$host"
}

case_fanout_with_a_cut_link() {
	command -v ip >/dev/null || t_skip "iproute2 is not installed"
	"$MIRRORCTL" genkey key >/dev/null
	local i
	for i in 1 2 3; do make_host "$i"; done
	mkdir src
	for i in $(seq -w 1 48); do head -c 262144 /dev/urandom >"src/f$i"; done
	local dests=(mirror://10.231.1.2/app mirror://10.231.2.2/app mirror://10.231.3.2/app)
	"$MIRRORCTL" sync --key key --compress 0 --timeout 4 --json src "${dests[@]}" \
		>fanout.json 2>fanout.err &
	local pid=$!
	t_defer kill "$pid"
	sleep 1.2
	# The third host drops off the network in the middle of the session.
	ip link set "$LINK3" down
	local rc=0
	wait "$pid" || rc=$?
	cat fanout.err
	assert_eq 3 "$rc" "exit status when one destination failed"
	python3 - fanout.json <<'PY' || t_fail "fan-out report: $(tail -1 fanout.json)"
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["destinations"]
assert [x["status"] for x in d] == ["ok", "ok", "failed"], d
assert d[2]["error"] and not d[0]["error"], d
assert d[0]["created"] == 48 and d[1]["created"] == 48, d
PY
	assert_trees_eq src store1
	assert_trees_eq src store2
	assert_grep 'mirror://10.231.3.2/app' fanout.err
	# The link returns; the next session converges everywhere.
	ip link set "$LINK3" up
	sleep "${NET_TIMEOUT:-10}"	# the cut session's receiver gives up and rolls back
	t_ctl sync --key key --json src "${dests[@]}"
	assert_rc 0
	assert_trees_eq src store1
	assert_trees_eq src store2
	assert_trees_eq src store3
	assert_no_litter store3
}

NET_TIMEOUT=5 T_TIMEOUT=120 t_case "fan-out to three hosts, one cut off mid-session, then convergence" case_fanout_with_a_cut_link
t_done
