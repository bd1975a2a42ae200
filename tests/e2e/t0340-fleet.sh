#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# A fleet in network namespaces: a source and 7 hosts in a tree of
# degree 2 (source -> h1; h1 -> h2, h3; h2 -> h4, h5; h3 -> h6, h7), each
# link shaped with tc tbf (FLEET_RATE, 20 Mbit/s), each host a mirrord
# whose store forwards to its children and a mirrorfs mount of it. Every
# host converges on each release; the source's uplink carries about one
# copy of a release, not seven; a reader on every host (a sync from its
# mount: one generation) never sees a mix while releases alternate; a
# middle hop killed (kill -9) during a session: its subtree converges once
# it is back. The time each host took is printed, not asserted.
# Namespaces, links and subnets carry this run's pid, so runs coexist.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

RATE=${FLEET_RATE:-20mbit}
FILES=${FLEET_FILES:-20}	# of 256 KiB each: 5 MiB a release
NET=10.$(($$ % 190 + 32))	# not t0410's fixed 10.231
PARENT=(- s 1 1 2 2 3 3)	# PARENT[i]: the host (s: the source) above host i

ns_of() { if [ "$1" = s ]; then echo "mf$$s"; else echo "mf$$h$1"; fi; }

# link I: host I's uplink, veth f$$aI (its parent's side, 10.X.I.1, shaped
# to RATE towards the host) and f$$bI (the host's, 10.X.I.2).
link() {
	local i=$1 pns hns a=f$$a$1 b=f$$b$1
	pns=$(ns_of "${PARENT[$i]}")
	hns=$(ns_of "$i")
	ip link add "$a" type veth peer name "$b" || t_fail "ip link add $a failed"
	ip link set "$a" netns "$pns"
	ip link set "$b" netns "$hns"
	ip -n "$pns" addr add "$NET.$i.1/24" dev "$a"
	ip -n "$pns" link set "$a" up
	ip -n "$hns" addr add "$NET.$i.2/24" dev "$b"
	ip -n "$hns" link set "$b" up
	ip netns exec "$pns" tc qdisc add dev "$a" root tbf rate "$RATE" \
		burst 32kbit latency 400ms || t_fail "cannot shape $a"
}

# host_conf I: host I's mirrord.conf: it listens on its uplink, its store
# forwards to its children (h2I, h2I+1) when it has any.
host_conf() {
	local i=$1 c
	write_conf "conf$i" "$NET.$i.2:7878" "$TC/key" app "$TC/store$i"
	if [ "$i" -le 3 ]; then
		printf 'forward =' >>"conf$i"
		for c in $((2 * i)) $((2 * i + 1)); do
			printf ' mirror://%s.%s.2/app' "$NET" "$c" >>"conf$i"
		done
		printf '\nforward_retry_min = 1\nforward_retry_max = 2\n' >>"conf$i"
	fi
	printf '\n[daemon]\ncontrol = %s/ctl%s.sock\n' "$TC" "$i" >>"conf$i"
}

# start_host I: host I's mirrord in its namespace; its pid in HPID[I].
start_host() {
	start_mirrord "conf$1" "mirrord$1.log" "$(ns_of "$1")"
	HPID[$1]=$MIRRORD_PID
}

# fleet: namespaces, links, and on each host a mount of its store and
# its mirrord.
fleet() {
	command -v ip >/dev/null || t_skip "iproute2 is not installed"
	command -v tc >/dev/null || t_skip "tc is not installed"
	"$MIRRORCTL" genkey key >/dev/null
	local i ns
	for i in s 1 2 3 4 5 6 7; do
		ns=$(ns_of "$i")
		ip netns add "$ns" || t_fail "ip netns add $ns failed"
		t_defer ip netns del "$ns"
		ip -n "$ns" link set lo up
	done
	for i in 1 2 3 4 5 6 7; do link "$i"; done
	for i in 1 2 3 4 5 6 7; do
		mkdir "store$i"
		mount_store "store$i" "mnt$i" -o create
		host_conf "$i"
		start_host "$i"
	done
}

# releases: rel1 and rel2, FILES files of 256 KiB with the same names and
# other contents; their sums in rel1.sum and rel2.sum.
releases() {
	local r f
	for r in 1 2; do
		mkdir "rel$r"
		for f in $(seq -w 1 "$FILES"); do
			head -c 262144 /dev/urandom >"rel$r/f$f"
		done
		echo "release $r" >"rel$r/VERSION"
		tree_sums "rel$r" >"rel$r.sum"
	done
}

# which DIR: 1 or 2 when DIR holds exactly that release, else "mix".
which() {
	tree_sums "$1" >"$TC/now.$$.$BASHPID"
	if cmp -s "$TC/now.$$.$BASHPID" rel1.sum; then echo 1
	elif cmp -s "$TC/now.$$.$BASHPID" rel2.sum; then echo 2
	else echo mix; fi
	rm -f "$TC/now.$$.$BASHPID"
}

# push R: the source's session of release R into h1.
push() {
	ip netns exec "$(ns_of s)" "$MIRRORCTL" sync --key key --purge \
		--compress 0 "rel$1" "mirror://$NET.1.2/app" >push.out 2>&1 ||
		t_fail "the push of rel$1 failed: $(cat push.out)"
}

# hold R I...: the mounts of hosts I... hold release R.
hold() {
	local r=$1 i
	shift
	for i in "$@"; do
		[ "$(which "mnt$i")" = "$r" ] || return 1
	done
}

# converge R: waits (60 s at most) until every host holds R, printing
# when each got it, in ms after the push began (T0).
converge() {
	local i left=" 1 2 3 4 5 6 7 " now tries=600
	while [ "$left" != " " ] && [ "$tries" -gt 0 ]; do
		for i in $left; do
			if [ "$(which "mnt$i")" = "$1" ]; then
				now=$((($(date +%s%N) - T0) / 1000000))
				AT[i]=$now
				left=${left/ $i / }
			fi
		done
		sleep 0.1
		tries=$((tries - 1))
	done
	[ "$left" = " " ] || t_fail "hosts$left never held rel$1: $(tail -3 mirrord1.log)"
}

# uplink_tx: bytes the source sent on its uplink.
uplink_tx() {
	ip netns exec "$(ns_of s)" cat "/sys/class/net/f$$a1/statistics/tx_bytes"
}

# first_release: rel1 pushed into an empty fleet: every host converges,
# the source's uplink carries about one copy.
first_release() {
	local size tx0 tx first last i
	size=$(du -sb rel1 | cut -f1)
	tx0=$(uplink_tx)
	T0=$(date +%s%N)
	push 1
	converge 1
	tx=$(($(uplink_tx) - tx0))
	first=999999 last=0
	for i in 1 2 3 4 5 6 7; do
		[ "${AT[$i]}" -lt "$first" ] && first=${AT[$i]}
		[ "${AT[$i]}" -gt "$last" ] && last=${AT[$i]}
	done
	echo "release of $size bytes at $RATE a link: hosts had it after (ms):" \
		"h1 ${AT[1]}, h2 ${AT[2]}, h3 ${AT[3]}, h4 ${AT[4]}, h5 ${AT[5]}," \
		"h6 ${AT[6]}, h7 ${AT[7]}; last/first = $((last * 100 / first)) %"
	echo "the source's uplink carried $tx bytes ($((tx * 100 / size)) % of one copy)"
	# About one copy: the protocol's frames and acks on top, never two.
	[ "$tx" -ge $((size * 9 / 10)) ] || t_fail "the uplink carried $tx bytes, less than the release ($size)"
	[ "$tx" -lt $((size * 3 / 2)) ] || t_fail "the uplink carried $tx bytes: more than one copy of $size"
	for i in 1 2 3 4 5 6 7; do assert_trees_eq rel1 "mnt$i"; done
}

# reader I: syncs host I's mount (one generation, held) into read$i again
# and again until reads.stop exists; each outcome appended to reads$i.
reader() {
	(
		while [ ! -e reads.stop ]; do
			"$MIRRORCTL" sync --purge "mnt$1" "read$1" >"read$1.out" 2>&1 ||
				{ echo "failed: $(tail -1 "read$1.out")" >>"reads$1"; continue; }
			which "read$1" >>"reads$1"
			sleep 0.2
		done
	) &
	RPID[$1]=$!
	t_track "${RPID[$1]}"
}

# alternate: rel2, rel1 while a reader on every host reads its mount:
# none ever sees a mix.
alternate() {
	local i r
	for i in 1 2 3 4 5 6 7; do reader "$i"; done
	for r in 2 1; do
		T0=$(date +%s%N)
		push "$r"
		converge "$r"
	done
	touch reads.stop
	for i in 1 2 3 4 5 6 7; do
		wait "${RPID[$i]}" 2>/dev/null || true
		t_untrack "${RPID[$i]}"
	done
	for i in 1 2 3 4 5 6 7; do
		echo "h$i read: $(tr '\n' ' ' <"reads$i")"
		assert_not_grep mix "reads$i"
		assert_not_grep failed "reads$i"
		[ "$(wc -l <"reads$i")" -ge 2 ] || t_fail "h$i's reader read $(wc -l <"reads$i") times"
	done
}

# kill_host I: kill -9 host I's mirrord and the session processes it
# started (its children), each by its pid.
kill_host() {
	local p kids
	kids=$(cat /proc/"${HPID[$1]}"/task/*/children 2>/dev/null || true)
	kill -9 "${HPID[$1]}"
	for p in $kids; do kill -9 "$p" 2>/dev/null || true; done
	wait "${HPID[$1]}" 2>/dev/null || true
	t_untrack "${HPID[$1]}"
}

# receiving I: a session into host I's store is under way (data staged).
receiving() { [ -n "$(find "store$1/.mirrorfs/staging" -type f -print -quit 2>/dev/null)" ]; }

# middle_hop_killed: the fleet holds rel1; h2 (above h4 and h5) is
# killed during the session that brings rel2; the rest of the tree
# converges, then h2's subtree once h2 is back.
middle_hop_killed() {
	local i
	# h2 (above h4 and h5) dies while h1 forwards rel2 to it.
	T0=$(date +%s%N)
	push 2
	wait_for receiving 2 || t_fail "h1 forwarded nothing to h2"
	kill_host 2
	echo "h2 killed at $((($(date +%s%N) - T0) / 1000000)) ms"
	[ "$(which mnt2)" != mix ] || t_fail "h2 holds a mix after its kill"
	# The rest of the tree goes on; h2's subtree waits for it.
	WAIT_TRIES=600 wait_for hold 2 1 3 6 7 ||
		t_fail "h1, h3, h6, h7 did not get rel2 while h2 was down"
	T0=$(date +%s%N)
	start_host 2
	converge 2
	echo "h2's subtree converged $((($(date +%s%N) - T0) / 1000000)) ms after it was back"
	for i in 1 2 3 4 5 6 7; do assert_trees_eq rel2 "mnt$i"; done
}

# One fleet for the three: building it and its first release are most
# of the time.
case_fleet() {
	releases
	fleet
	first_release
	alternate
	middle_hop_killed
}

T_TIMEOUT=100 t_case "a tree of 7 hosts converges on one copy of the uplink; readers never see a mix; a middle hop killed, its subtree converges" case_fleet
t_done
