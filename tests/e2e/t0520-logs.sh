#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# Logs: <N> priorities for journald when JOURNAL_STREAM names stderr,
# time stamps on mirrord's lines otherwise, plain lines from mirrorctl, and
# a daemonized mirrorfs that writes to syslog (so "replaced while open" is
# kept), seen through a /dev/log of this test's own mount namespace.
set -u
T_TIMEOUT=${T_TIMEOUT:-120}
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

MIRRORD=$BUILD/mirrord

# stream FILE: the JOURNAL_STREAM value systemd would give for FILE.
stream() {
	: >>"$1"
	stat -L -c '%d:%i' "$1"
}

# conf: a mirrord.conf with one file set from src to store.
conf() {
	printf '[daemon]\ncontrol = %s/ctl.sock\n\n[fileset app]\nsource = %s/src\ndest = %s/store\n' \
		"$TC" "$TC" "$TC" >conf
}

# mirrord_run LOG [VAR=VALUE]: start mirrord -c conf with stderr appended
# to LOG (and the environment given); sets DPID; waits until it runs.
mirrord_run() {
	local log=$1
	shift
	env "$@" "$MIRRORD" -c conf 2>>"$log" &
	DPID=$!
	t_defer kill -9 "$DPID"
	wait_for grep -q 'running [0-9]* file sets' "$log" ||
		t_fail "mirrord did not start: $(cat "$log")"
}

case_mirrord_journal_priorities() {
	mkdir src && echo one >src/a
	conf
	mirrord_run "$TC/journal.log" JOURNAL_STREAM="$(stream "$TC/journal.log")"
	# an error: a configuration that no longer reads, on SIGHUP
	printf '[fileset app]\nbogus = 1\n' >conf
	kill -HUP "$DPID"
	wait_for grep -q 'unknown key' journal.log || t_fail "no error after SIGHUP: $(cat journal.log)"
	kill -TERM "$DPID"
	wait "$DPID" || t_fail "mirrord exited $? on SIGTERM"
	assert_grep '^<6>running 1 file sets$' journal.log
	assert_grep "^<3>conf:2: unknown key 'bogus'" journal.log
	assert_grep '^<6>stopping \(signal 15\)$' journal.log
	# every line has its priority, and no line the program's name
	assert_not_grep '^[^<]' journal.log
	assert_not_grep '^<[0-9]>mirrord: ' journal.log
}

case_mirrord_stamped_otherwise() {
	mkdir src && echo one >src/a
	conf
	# a JOURNAL_STREAM that is not stderr (redirected since) is ignored
	mirrord_run "$TC/plain.log" JOURNAL_STREAM="$(stream "$TC/other")"
	kill -TERM "$DPID"
	wait "$DPID" || t_fail "mirrord exited $? on SIGTERM"
	assert_grep "^$STAMP mirrord: running 1 file sets\$" plain.log
	assert_grep "^$STAMP mirrord: stopping \(signal 15\)\$" plain.log
	assert_not_grep '^<' plain.log
	# the stamps are the time of the lines, to the millisecond
	local t now
	t=$(sed -n '1s/ .*//p' plain.log)
	now=$(date +%s)
	t=$(date -d "$t" +%s) || t_fail "date cannot read the stamp '$t'"
	if [ $((now - t)) -lt 0 ] || [ $((now - t)) -ge 60 ]; then
		t_fail "stamp $(sed -n '1s/ .*//p' plain.log) is not the time of the line"
	fi
}

case_mirrorctl_plain_or_journal() {
	t_ctl sync "$TC/missing" store
	assert_rc 2
	assert_grep "^mirrorctl: $TC/missing: No such file or directory\$" "$TC/err"
	local js
	js=$(stream "$TC/ctl.err")
	JOURNAL_STREAM=$js "$MIRRORCTL" sync "$TC/missing" store 2>>"$TC/ctl.err" || true
	assert_grep "^<3>$TC/missing: No such file or directory\$" ctl.err
}

# sync_while_open SRC STORE MNT: replaces f while it is open through MNT.
sync_while_open() {
	exec 3<"$3/f"
	echo two >"$1/f"
	t_ctl sync "$1" "$2"
	assert_rc 0
	assert_eq two "$(cat "$3/f")"
	exec 3<&-
}

case_mirrorfs_foreground_journal() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	assert_rc 0
	JOURNAL_STREAM=$(stream "$TC/mirrorfs.log")
	export JOURNAL_STREAM
	mount_store store mnt
	unset JOURNAL_STREAM
	sync_while_open src store mnt
	wait_for grep -q 'replaced while open' mirrorfs.log || t_fail "nothing logged: $(cat mirrorfs.log)"
	assert_grep '^<6>f: replaced while open; old version kept as ' mirrorfs.log
	unmount_store "$TC/mnt"
}

# gone PID: no process PID.
gone() { ! kill -0 "$1" 2>/dev/null; }

case_mirrorfs_syslog() {
	t_is_root || t_skip "needs root (a private mount namespace)"
	command -v unshare >/dev/null || t_skip "unshare is not installed"
	mkdir src && echo one >src/f
	t_ctl sync src store
	assert_rc 0
	# whatever happens inside, nothing it started outlives the case
	t_defer sh -c "kill \$(cat '$TC/daemon.pid' '$TC/listener.pid' 2>/dev/null) 2>/dev/null || true"
	MIRRORFS=$MIRRORFS MIRRORCTL=$MIRRORCTL timeout -k 5 60 \
		unshare --mount --propagation private "$T_ROOT/tests/ns-syslog.sh" "$TC" \
		>inner.log 2>&1 ||
		t_fail "the namespace part failed: $(cat inner.log mirrorfs.err 2>/dev/null)"
	assert_exists daemon.pid
	wait_for gone "$(cat daemon.pid)" || t_fail "the mirrorfs daemon outlived its unmount"
	assert_eq "" "$(cat mirrorfs.err)" "mirrorfs's stderr"
	# facility daemon (3 << 3), priority info (6): <30>; tagged mirrorfs[PID]
	assert_grep "^<30>.* mirrorfs\[$(cat daemon.pid)\]: f: replaced while open; old version kept as " syslog.txt
}

t_case "mirrord under journald: <N> priorities, no program name" case_mirrord_journal_priorities
t_case "mirrord elsewhere: RFC 3339 time stamps" case_mirrord_stamped_otherwise
t_case "mirrorctl: plain lines, priorities under journald" case_mirrorctl_plain_or_journal
t_case "mirrorfs -f under journald: <N> priorities" case_mirrorfs_foreground_journal
t_case "a daemonized mirrorfs logs to syslog" case_mirrorfs_syslog
t_done
