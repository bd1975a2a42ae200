#!/bin/bash
# Delta transfer: a small change in a big file crosses the network as a small delta, and the result is exact.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

BIG=8388608	# 8 MiB

# poke FILE OFFSET LEN: overwrite LEN bytes of FILE at OFFSET with random ones.
poke() {
	python3 -c 'import os, sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); f.write(os.urandom(int(sys.argv[3])))' "$@"
}

# two_files: src/big (8 MiB) and src/mid (300 KiB), random.
two_files() {
	mkdir -p src
	head -c $BIG /dev/urandom >src/big
	head -c 307200 /dev/urandom >src/mid
	echo small >src/small
}

# sent_over LIMIT: the last --json session sent more than LIMIT bytes.
sent_over() {
	local sent
	sent=$(jf bytes_sent)
	[ "$sent" -gt "$1" ] || t_fail "sent $sent bytes, expected over $1"
}

case_small_change_over_mirror() {
	two_files
	serve app "$TC/store"
	t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	poke src/big 4000000 4096
	poke src/mid 1000 10
	echo more >>src/mid
	t_ctl sync --key key --compress 0 --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_json replaced 2 failed 0
	assert_trees_eq src store
	sent_under 131072
	assert_no_litter store
	# --whole-file: the same kind of change goes whole.
	poke src/big 100 4096
	t_ctl sync --key key --compress 0 --whole-file --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
	sent_over $BIG
}

case_local_whole_unless_asked() {
	two_files
	t_ctl sync src store
	assert_rc 0
	poke src/big 5000000 4096
	t_ctl sync --json src store
	assert_rc 0
	assert_trees_eq src store
	# whole, as the source's descriptor: no byte of it through the socket
	sent_under 131072
	poke src/big 6000000 4096
	t_ctl sync --no-whole-file --json src store
	assert_rc 0
	assert_json replaced 1
	assert_trees_eq src store
	sent_under 131072
}

case_ssh_gets_deltas() {
	two_files
	mkdir bin
	# shellcheck disable=SC2016 # $PATH and $* belong to the script written
	printf '#!/bin/sh\nshift\nPATH="%s:$PATH" exec sh -c "$*"\n' "$BUILD" >bin/fake-ssh
	chmod 755 bin/fake-ssh
	t_ctl sync --rsh "$TC/bin/fake-ssh" --compress 0 src "ssh://host//$TC/store"
	assert_rc 0
	poke src/big 123 4096
	t_ctl sync --rsh "$TC/bin/fake-ssh" --compress 0 --json src "ssh://host//$TC/store"
	assert_rc 0
	assert_trees_eq src store
	sent_under 131072
}

case_unrelated_old_version() {
	two_files
	serve app "$TC/store"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	# Every byte new, the size changed, and a file grew from nothing.
	head -c 3000000 /dev/urandom >src/big
	head -c 200000 /dev/urandom >src/mid
	t_ctl sync --key key --compress 0 --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_json replaced 2 failed 0
	assert_trees_eq src store
	sent_over 3000000
	# Shrunk to below the delta threshold: sent whole, still exact.
	head -c 1000 /dev/urandom >src/big
	t_ctl sync --key key --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
}

case_fanout_local_and_network() {
	two_files
	serve app "$TC/remote"
	t_ctl sync --key key src local "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	poke src/big 7000000 4096
	poke src/mid 0 100
	t_ctl sync --key key src local "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src local
	assert_trees_eq src remote
	assert_no_litter remote
}

case_delta_through_the_mount() {
	two_files
	serve app "$TC/store"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	cp src/big old-big
	mount_store store mnt
	exec 7<mnt/big
	poke src/big 2000000 4096
	t_ctl sync --key key --compress 0 --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	sent_under 131072
	cmp -s src/big mnt/big || t_fail "the mount does not show the new version"
	cmp -s old-big /dev/fd/7 || t_fail "an fd open before the sync lost the old bytes"
	exec 7<&-
	assert_trees_eq src store
}

case_changed_while_read_goes_again() {
	two_files
	serve app "$TC/store"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	# A writer keeps changing the file; each attempt is void, never torn.
	# One process, a write every 10 ms for 2 s: the sync runs inside.
	python3 -c 'import os, sys, time
f = open(sys.argv[1], "r+b")
for i in range(1, 201):
    f.seek(i * 4096); f.write(os.urandom(4096)); f.flush(); time.sleep(0.01)' src/big &
	local writer=$!
	t_defer kill "$writer"
	t_ctl sync --key key --json src "mirror://127.0.0.1:$PORT/app"
	wait "$writer" || true
	t_ctl sync --key key --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
	assert_no_litter store
}

t_case "a small change in a big file crosses mirror:// as a delta; --whole-file sends it whole" case_small_change_over_mirror
t_case "local stores get whole files unless --no-whole-file" case_local_whole_unless_asked
t_case "ssh:// gets deltas by default" case_ssh_gets_deltas
t_case "a delta against an unrelated or shrunk old version is still exact" case_unrelated_old_version
t_case "fan-out: a local and a network destination from one session" case_fanout_local_and_network
t_case "a delta into a mounted store: new version shown, open fd keeps the old" case_delta_through_the_mount
t_case "a file changing during a delta is sent again, never torn" case_changed_while_read_goes_again
t_done
