#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# rsync's habits: --dry-run, --delete, -e, -z, --bwlimit (on every
# transport, and bwlimit = in mirrord.conf), -h/--help on every command.
set -u
T_TIMEOUT=${T_TIMEOUT:-120}
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

# fake_ssh: $TC/bin/fake-ssh, lib-net.sh's stand-in for ssh, which runs
# the remote command here and notes its argv in $TC/rsh.argv.
fake_ssh() {
	mkdir -p "$TC/bin"
	make_rsh "$TC/bin/fake-ssh"
}

# elapsed CMD...: run CMD through t_ctl; sets SECONDS_TAKEN (float).
elapsed() {
	local t0=$EPOCHREALTIME
	t_ctl "$@"
	SECONDS_TAKEN=$(python3 -c "print(round($EPOCHREALTIME - $t0, 3))")
}

# at_least SECONDS WHAT: SECONDS_TAKEN is at least SECONDS.
at_least() {
	python3 -c "import sys; sys.exit(0 if $SECONDS_TAKEN >= $1 else 1)" ||
		t_fail "$2 took $SECONDS_TAKEN s, less than the $1 s the limit allows"
}

case_dry_run_is_report() {
	mkdir -p src/d && echo a >src/a && echo b >src/d/b
	t_ctl sync --dry-run src store
	assert_rc 0
	assert_grep '^create  a$' "$TC/out"
	assert_grep '^create  d/$' "$TC/out"
	assert_grep '^report: created 3, ' "$TC/out"
	assert_missing store/a
	t_ctl sync -n src store
	assert_rc 0
	assert_grep '^create  d/b$' "$TC/out"
}

case_delete_is_purge_dirs() {
	mkdir -p src && echo a >src/a
	mkdir -p store/extra/deep && echo x >store/extra/deep/f && echo y >store/gone
	t_ctl sync --delete src store
	assert_rc 0
	assert_missing store/extra
	assert_missing store/gone
	assert_trees_eq src store
}

case_e_is_rsh() {
	generate_tree src 20 1
	fake_ssh
	t_ctl sync -e "$TC/bin/fake-ssh" src "ssh://someone@example//$TC/store"
	assert_rc 0
	assert_trees_eq src store
	# the shell -e named was run, for that user at that host
	assert_grep '^-l$' rsh.argv
	assert_grep '^someone$' rsh.argv
	assert_grep '^example$' rsh.argv
}

case_z_compresses() {
	mkdir src
	head -c 2097152 /dev/zero >src/zeros
	serve plain "$TC/plain" packed "$TC/packed"
	t_ctl sync --key key --compress 0 --json src "mirror://127.0.0.1:$PORT/plain"
	assert_rc 0
	local plain packed
	plain=$(jf bytes_sent)
	# -z after --compress 0: zstd level 3 again
	t_ctl sync --key key --compress 0 -z --json src "mirror://127.0.0.1:$PORT/packed"
	assert_rc 0
	packed=$(jf bytes_sent)
	[ "$plain" -gt 2097152 ] || t_fail "--compress 0: $plain bytes sent for 2 MiB"
	[ "$packed" -lt 65536 ] || t_fail "-z: $packed bytes sent for 2 MiB of zeros"
	assert_file_eq src/zeros packed/zeros
}

# A file of random data (incompressible) whose transfer the limit must slow.
random_src() {
	mkdir -p src
	head -c "$1" /dev/urandom >src/big
}

case_bwlimit_local() {
	random_src 262144
	# 256 KiB at 256 KiB/s: a second at least (unlimited: milliseconds)
	elapsed sync --bwlimit=256 src store
	assert_rc 0
	at_least 0.9 "256 KiB to a local store at 256 KiB/s"
	assert_file_eq src/big store/big
	# rsync's suffixes: 1m is 1 MiB/s
	echo more >>src/big
	elapsed sync --bwlimit 1m -W src store
	assert_rc 0
	at_least 0.2 "256 KiB to a local store at 1 MiB/s"
	assert_file_eq src/big store/big
	t_ctl sync --bwlimit=fast src store
	assert_rc 2
	assert_grep "^mirrorctl: --bwlimit: 'fast' is not a rate" "$TC/err"
	t_ctl sync --bwlimit=100b src store
	assert_rc 2
	assert_grep "less than 512 bytes per second" "$TC/err"
}

case_bwlimit_mounted_ssh_and_tcp() {
	random_src 262144
	t_ctl sync src mstore
	assert_rc 0
	mount_store mstore mnt
	head -c 262144 /dev/urandom >src/big
	# through the mount's control socket
	elapsed sync --bwlimit=256K src mstore
	assert_rc 0
	at_least 0.9 "256 KiB through a mount at 256 KiB/s"
	assert_file_eq src/big mnt/big
	# over ssh:// (compression off: what is paced is what the link carries)
	fake_ssh
	elapsed sync --bwlimit=256K --compress 0 -e "$TC/bin/fake-ssh" src "ssh://h//$TC/sstore"
	assert_rc 0
	at_least 0.9 "256 KiB over ssh:// at 256 KiB/s"
	assert_file_eq src/big sstore/big
	# over mirror://, to two stores at once: each gets at most the rate
	serve a "$TC/ta" b "$TC/tb"
	elapsed sync --key key --bwlimit=256K --compress 0 src \
		"mirror://127.0.0.1:$PORT/a" "mirror://127.0.0.1:$PORT/b"
	assert_rc 0
	at_least 0.9 "256 KiB over mirror:// at 256 KiB/s"
	assert_file_eq src/big ta/big
	assert_file_eq src/big tb/big
}

case_bwlimit_in_mirrord_conf() {
	random_src 262144
	printf '[daemon]\ncontrol = %s/ctl.sock\n\n[fileset app]\nsource = %s/src\ndest = %s/store\nbwlimit = 256K\n' \
		"$TC" "$TC" "$TC" >conf
	local t0 t
	t0=$EPOCHREALTIME
	"$MIRRORD" -c conf 2>>mirrord.log &
	t_defer kill -9 "$!"
	wait_for grep -Eq 'app: [^ ]+: created 1,' mirrord.log ||
		t_fail "no session: $(cat mirrord.log)"
	t=$(python3 -c "print(round($EPOCHREALTIME - $t0, 3))")
	SECONDS_TAKEN=$t at_least 0.9 "mirrord's session of 256 KiB with bwlimit = 256K"
	assert_file_eq src/big store/big
	printf '[fileset app]\nsource = /s\ndest = /d\nbwlimit = quick\n' >bad.conf
	t_run "$MIRRORD" -c bad.conf
	assert_rc 2
	assert_grep "bad.conf:4: bwlimit = 'quick': 'quick' is not a rate" "$TC/err"
}

case_progress_shows_the_file_in_flight() {
	command -v script >/dev/null || t_skip "script (bsdutils) is not installed"
	random_src 524288
	echo small >src/small
	# stderr on a terminal (script's), and a limit that keeps big in
	# flight for a second, four frames of it
	timeout -k 5 60 script -qfec "$MIRRORCTL sync --progress --bwlimit=512 src store" \
		progress.out >/dev/null || t_fail "sync --progress failed: $(cat progress.out)"
	tr '\r' '\n' <progress.out >frames
	# the file in flight, part-way, while the file count is still 0 done
	assert_grep '^ *[0-9]+% [0-9.]+[KM]iB/512\.0KiB  [0-9.]+[KM]?i?B/s  ETA [0-9]+:[0-9]{2}  file 1/2 big [1-9][0-9]?%' frames
	assert_grep '^100% 512\.0KiB/512\.0KiB  [0-9.]+KiB/s  in 0:0[0-9]  2/2 files' frames
	assert_file_eq src/big store/big
	# the summary after it: the time taken and the rate
	assert_grep 'bytes sent [0-9]+ in [0-9]+\.[0-9]{2} s \([0-9.]+KiB/s\)' progress.out
}

case_help_everywhere() {
	local c
	for c in sync recover renamed genkey clear-sync log status suspend resume sync-now; do
		t_ctl "$c" -h
		assert_rc 0 "mirrorctl $c -h"
		assert_grep "^usage: mirrorctl " "$TC/out"
		t_ctl "$c" --help
		assert_rc 0 "mirrorctl $c --help"
		assert_grep "^usage: mirrorctl " "$TC/out"
	done
	t_ctl sync -h
	assert_grep ' --bwlimit RATE' "$TC/out"
	for c in -h --help; do
		t_ctl "$c"
		assert_rc 0 "mirrorctl $c"
		t_run "$MIRRORD" "$c"
		assert_rc 0 "mirrord $c"
		assert_grep '^usage: mirrord ' "$TC/out"
		t_run "$MIRRORFS" "$c"
		assert_rc 0 "mirrorfs $c"
		assert_grep '^usage: mirrorfs ' "$TC/out"
	done
}

t_case "--dry-run is -n (--report)" case_dry_run_is_report
t_case "--delete is --purge-dirs" case_delete_is_purge_dirs
t_case "-e is --rsh" case_e_is_rsh
t_case "-z is zstd level 3" case_z_compresses
t_case "--bwlimit paces a local store; rsync's suffixes; bad rates" case_bwlimit_local
t_case "--bwlimit through a mount, ssh:// and mirror:// (two stores)" case_bwlimit_mounted_ssh_and_tcp
t_case "bwlimit = in mirrord.conf" case_bwlimit_in_mirrord_conf
t_case "--progress: the file in flight and its percentage" case_progress_shows_the_file_in_flight
t_case "-h and --help on every command of mirrorctl, mirrord and mirrorfs" case_help_everywhere
t_done
