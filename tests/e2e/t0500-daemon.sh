#!/bin/bash
# mirrord on the source: file sets, watch and quiet window, open files,
# schedules, status, suspend/resume, signals, configuration errors.
# e2e: alone (lowers fs.inotify.max_queued_events for the machine)
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

MIRRORD=$BUILD/mirrord

# daemon CONF: start mirrord -c CONF in the background; sets DPID.
# DAEMON_ENV, when set, is passed to it (as NAME=VALUE).
daemon() {
	# shellcheck disable=SC2086 # DAEMON_ENV is NAME=VALUE words
	env ${DAEMON_ENV:-} "$MIRRORD" -c "$1" 2>>"$TC/mirrord.log" &
	DPID=$!
	t_defer kill -9 "$DPID"
	wait_for grep -q 'running [0-9]* file sets' "$TC/mirrord.log" ||
		t_fail "mirrord did not start: $(cat "$TC/mirrord.log")"
}

# conf NAME KEY=VALUE...: a config with [daemon] and one file set NAME.
conf() {
	local name=$1
	shift
	{
		printf '[daemon]\ncontrol = %s/ctl.sock\n\n[fileset %s]\n' "$TC" "$name"
		printf 'source = %s/src\ndest = %s/store\n' "$TC" "$TC"
		for kv in "$@"; do printf '%s\n' "$kv" | sed 's/=/ = /'; done
	} >conf
}

status_json() {
	"$MIRRORCTL" status -c conf --json
}

# field EXPR: a python expression on the status JSON (variable s).
field() {
	status_json | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}

# status_is EXPR: EXPR, a python expression on the status JSON, is true now.
status_is() {
	[ "$(field "bool($1)" 2>/dev/null)" = True ]
}

# held PATH: the first file set's last session held PATH back.
held() {
	status_is "any(h['path'] == '$1' for h in s['filesets'][0]['held_back'])"
}

case_change_pushed_after_quiet() {
	mkdir src && echo one >src/a
	conf app watch=yes quiet=1 purge=yes
	daemon conf
	wait_for test -f store/a || t_fail "the first sync did not happen"
	local t0 t1
	t0=$(date +%s%N)
	echo two >src/b
	wait_for test -f store/b || t_fail "b was not pushed"
	t1=$(date +%s%N)
	echo "change-to-store latency: $(((t1 - t0) / 1000000)) ms (quiet = 1 s)"
	[ $(((t1 - t0) / 1000000)) -ge 900 ] || t_fail "pushed before the quiet window ended"
	assert_eq two "$(cat store/b)"
	rm src/a
	wait_for test ! -e store/a || t_fail "the delete was not purged"
	assert_trees_eq src store
}

case_work_follows_changes() {
	mkdir -p src
	python3 -c '
import os
for d in range(30):
    os.makedirs("src/d%02d" % d)
    for i in range(100):
        open("src/d%02d/f%03d" % (d, i), "w").write(str(i))'
	touch -d '-1 min' src/d*/* src/d* src
	conf app watch=yes quiet=1 purge=yes
	daemon conf
	local i
	for i in $(seq 100); do [ "$(field 's["filesets"][0]["last_result"] and s["filesets"][0]["last_result"]["created"]')" = 3030 ] && break; sleep 0.1; done
	echo changed >src/d07/f042
	rm src/d11/f001
	wait_for sh -c "grep -q changed store/d07/f042 && test ! -e store/d11/f001" ||
		t_fail "the change and the delete were not pushed"
	assert_grep 'session of [0-9]+ changes' "$TC/mirrord.log"
	# The session compared what changed and its directories, not 3030 entries.
	for i in $(seq 50); do
		field 's["filesets"][0]["last_result"]' >last
		grep -q "'replaced': 1" last && break
		sleep 0.1
	done
	python3 - last <<'PY' || t_fail "last result: $(cat last)"
import ast, sys
r = ast.literal_eval(open(sys.argv[1]).read())
assert r["replaced"] == 1 and r["purged"] == 1, r
assert r["unchanged"] <= 4, r
PY
	assert_trees_eq src store
}

case_open_file_held_back() {
	mkdir src && echo one >src/a
	conf app watch=yes quiet=1
	daemon conf
	wait_for test -f store/a
	exec 9>>src/log
	echo "line 1" >&9
	# A session looked at it and held it back (not merely: none ran yet).
	wait_for held log || t_fail "log was never held back: $(status_json)"
	assert_missing store/log
	status_json >st.json
	python3 - st.json <<'PY' || t_fail "status: $(cat st.json)"
import json, sys
s = json.load(open(sys.argv[1]))["filesets"][0]
held = {h["path"]: h["reason"] for h in s["held_back"]}
assert held.get("log") == "open for update", held
assert s["state"] in ("waiting", "syncing"), s["state"]
PY
	"$MIRRORCTL" status -c conf | grep -q 'held back: log: open for update' ||
		t_fail "the text status does not show the held file"
	echo "line 2" >&9
	exec 9>&-
	wait_for test -f store/log || t_fail "log not pushed after close"
	assert_file_eq src/log store/log
}

case_openupdate() {
	mkdir src && echo one >src/a
	echo "data" >src/db
	conf app watch=yes quiet=1 openupdate=2
	exec 9>>src/db
	daemon conf
	# Open for write but unchanged for 2 s: pushed although still open.
	wait_for test -f store/db || t_fail "db was not pushed with openupdate"
	assert_file_eq src/db store/db
	exec 9>&-
}

case_max_defer() {
	mkdir src && echo one >src/a
	touch -d '-1 min' src/a src
	conf app watch=yes quiet=2 max_defer=3
	daemon conf
	wait_for test -f store/a
	# A log that never stays quiet for 2 s: pushed after max_defer anyway,
	# as a consistent copy of some moment (every line whole), and not before.
	local t0 t1
	t0=$(date +%s%N)
	(
		exec 9>>src/busy
		for i in $(seq 100); do echo "line $i" >&9; sleep 0.3; done
	) &
	local writer=$!
	t_defer kill "$writer"
	local i
	for i in $(seq 100); do [ -s store/busy ] && break; sleep 0.1; done
	[ -s store/busy ] || t_fail "a file that never settles was not pushed after max_defer"
	t1=$(date +%s%N)
	echo "first change to push: $(((t1 - t0) / 1000000)) ms (max_defer = 3 s)"
	[ $(((t1 - t0) / 1000000)) -ge 2500 ] || t_fail "pushed before max_defer"
	kill "$writer"
	# One reading of it: a later push may replace it between two.
	cp store/busy pushed
	grep -vxE 'line [0-9]+' pushed && t_fail "the pushed copy is torn"
	head -n "$(wc -l <pushed)" src/busy | cmp -s - pushed ||
		t_fail "the pushed copy is not a prefix of the source"
}

case_interval() {
	mkdir src && echo one >src/a
	# quiet = 1: the default window (5 s) would only slow the test.
	conf app interval=2 quiet=1
	daemon conf
	wait_for test -f store/a
	echo two >src/b
	assert_missing store/b
	wait_for test -f store/b || t_fail "the interval run did not come"
	field 's["filesets"][0]["next_run"] is not None' >next
	assert_eq True "$(cat next)"
}

case_windows() {
	mkdir src && echo one >src/a
	local now later
	now=$(date -d '-1 min' +%H:%M)
	later=$(date -d '+3 min' +%H:%M)
	conf app "start=$now" "stop=$later" interval=1
	daemon conf
	wait_for test -f store/a || t_fail "no run inside the window $now-$later"
	kill "$DPID"
	wait "$DPID" 2>/dev/null || true
	rm -rf store
	now=$(date -d '+10 min' +%H:%M)
	later=$(date -d '+12 min' +%H:%M)
	conf app "start=$now" "stop=$later" interval=1
	daemon conf
	# Scheduled for the window's start, so nothing ran before it.
	wait_for status_is "'T$now:00' in (s['filesets'][0]['next_run'] or '')" ||
		t_fail "next run $(field 's["filesets"][0]["next_run"]') is not the window's start $now"
	status_is "s['filesets'][0]['last_result'] is None" ||
		t_fail "a session ran outside the window: $(status_json)"
	assert_missing store
}

case_overflow_converges() {
	[ -w /proc/sys/fs/inotify/max_queued_events ] || t_skip "cannot set max_queued_events"
	local old
	old=$(cat /proc/sys/fs/inotify/max_queued_events)
	mkdir src && echo one >src/a
	conf app watch=yes quiet=1 purge=yes
	echo 16 >/proc/sys/fs/inotify/max_queued_events
	t_defer sh -c "echo $old >/proc/sys/fs/inotify/max_queued_events"
	daemon conf
	wait_for test -f store/a
	kill -STOP "$DPID"	# let the queue of a watched directory overflow
	for i in $(seq 300); do echo "$i" >"src/f$i"; done
	kill -CONT "$DPID"
	wait_for grep -q 'overflow' "$TC/mirrord.log" || t_fail "no overflow logged"
	local i
	for i in $(seq 50); do compare_trees src store >/dev/null 2>&1 && break; sleep 0.2; done
	assert_trees_eq src store
}

case_status_suspend_resume() {
	mkdir src src2 && echo one >src/a && echo x >src2/x
	conf app watch=yes quiet=1
	printf '\n[fileset other]\nsource = %s/src2\ndest = %s/store2\nquiet = 1\n' \
		"$TC" "$TC" >>conf
	daemon conf
	wait_for test -f store/a
	wait_for test -f store2/x
	field '",".join(f["name"] for f in s["filesets"])' >names
	assert_eq app,other "$(cat names)"
	"$MIRRORCTL" suspend -c conf app >/dev/null || t_fail "suspend failed"
	field 's["filesets"][0]["state"]' >state
	assert_eq suspended "$(cat state)"
	echo two >src/b
	# The watcher saw the change, and quiet = 1 s has passed: it waits
	# only because the file set is suspended.
	wait_for status_is "s['filesets'][0]['pending_changes'] >= 1" ||
		t_fail "the change was not seen: $(status_json)"
	# Past its quiet window (1 s) it would run, were it not suspended.
	sleep 1.5
	status_is "s['filesets'][0]['state'] == 'suspended'" ||
		t_fail "not suspended any more: $(status_json)"
	assert_missing store/b
	"$MIRRORCTL" resume -c conf app >/dev/null
	wait_for test -f store/b || t_fail "not pushed after resume"
	echo three >src2/y
	"$MIRRORCTL" sync-now -c conf other >/dev/null
	wait_for test -f store2/y || t_fail "sync-now did not run"
	t_ctl suspend -c conf nosuch
	assert_ne 0 "$RC"
	assert_grep "no file set 'nosuch'" "$TC/err"
}

case_signals() {
	mkdir src && echo one >src/a
	conf app watch=yes quiet=1
	# Each file takes 0.2 s to send, so a session of 40 lasts long enough
	# to be caught in progress.
	DAEMON_ENV=MIRRORFS_DELAY_AT=send:200 daemon conf
	wait_for test -f store/a
	# SIGHUP with a bad file keeps the running configuration.
	echo "bogus line" >>conf
	kill -HUP "$DPID"
	wait_for grep -q 'kept the running configuration' "$TC/mirrord.log" ||
		t_fail "a bad reload was not reported"
	kill -0 "$DPID" || t_fail "mirrord died on a bad reload"
	# SIGHUP with a good file adds a file set.
	conf app watch=yes quiet=1
	mkdir src2 && echo x >src2/x
	printf '\n[fileset more]\nsource = %s/src2\ndest = %s/store2\nquiet = 1\n' \
		"$TC" "$TC" >>conf
	kill -HUP "$DPID"
	wait_for test -f store2/x || t_fail "the file set added by SIGHUP did not run"
	# SIGTERM in the middle of a session: exit 0 within a couple of seconds.
	mkdir src/big
	for i in $(seq 40); do head -c 1048576 /dev/urandom >"src/big/f$i"; done
	wait_for status_is "s['filesets'][0]['state'] == 'syncing'" ||
		t_fail "no session started for src/big: $(status_json)"
	local t0=$SECONDS rc=0
	kill -TERM "$DPID"
	wait "$DPID" || rc=$?
	assert_eq 0 "$rc" "exit status on SIGTERM"
	[ $((SECONDS - t0)) -le 3 ] || t_fail "took $((SECONDS - t0)) s to stop"
	assert_no_litter store
}

case_batches() {
	mkdir src1 src2
	for i in $(seq 12); do
		head -c 1048576 /dev/urandom >"src1/f$i"
		head -c 1048576 /dev/urandom >"src2/f$i"
	done
	touch -d '-1 min' src1/* src2/*
	printf '[daemon]\ncontrol = %s/ctl.sock\n' "$TC" >conf
	for n in 1 2; do
		printf '\n[fileset s%s]\nsource = %s/src%s\ndest = %s/store%s\nbatch = one\n' \
		    "$n" "$TC" "$n" "$TC" "$n" >>conf
	done
	daemon conf
	wait_for sh -c 'test -f store1/f12 && test -f store2/f12' || t_fail "not both synced"
	# One batch: the second session starts only after the first ended.
	wait_for sh -c "[ \$(grep -cE 's[12]: (session|created)' mirrord.log) -ge 4 ]" ||
		t_fail "both sessions did not log their start and end: $(cat mirrord.log)"
	grep -E 's[12]: (session|created)' mirrord.log >order
	python3 - order <<'PY' || t_fail "sessions of one batch overlapped: $(cat order)"
import sys
# "TIME mirrord: s1: session ...": the file set after the program's name
lines = [l.split(" mirrord: ", 1)[1].split(":")[0] for l in open(sys.argv[1])]
assert len(lines) == 4, lines
assert lines[0] == lines[1] and lines[2] == lines[3] and lines[0] != lines[2], lines
PY
}

case_config_errors() {
	printf '[fileset a]\nsource = /tmp\ndest = /tmp/x\nquiet = soon\n' >bad1
	t_run "$MIRRORD" -c bad1
	assert_rc 2
	assert_grep "bad1:4: quiet = 'soon'" "$TC/err"
	printf '[fileset a]\nsource = /tmp\n' >bad2
	t_run "$MIRRORD" -c bad2
	assert_rc 2
	assert_grep "bad2:1: \\[fileset a\\] has no dest" "$TC/err"
	printf '[filesets a]\n' >bad3
	t_run "$MIRRORD" -c bad3
	assert_rc 2
	assert_grep "bad3:1: unknown section \\[filesets a\\]" "$TC/err"
}

case_user_cannot_read() {
	t_is_root || t_skip "needs root"
	chmod 711 "$T"	# nobody may pass through to the source
	mkdir src && echo public >src/a && echo secret >src/private
	chmod 600 src/private
	chmod 755 src
	conf app user=nobody
	daemon conf
	wait_for test -f store/a || t_fail "nothing was synced as nobody"
	local i
	for i in $(seq 50); do status_json | grep -q '"last_result":{' && break; sleep 0.1; done
	status_json >st.json
	python3 - st.json <<'PY' || t_fail "status: $(cat st.json)"
import json, sys
s = json.load(open(sys.argv[1]))["filesets"][0]["last_result"]
fails = {e["path"]: e["reason"] for e in s["entries"] if e["action"] == "fail"}
assert "Permission denied" in fails.get("private", ""), fails
PY
	assert_missing store/private
}

case_trigger() {
	mkdir src && echo one >src/a
	conf app watch=yes quiet=1 "trigger=env | grep ^MIRRORFS_ | sort >>$TC/trigger.out"
	daemon conf
	wait_for test -s trigger.out || t_fail "the trigger did not run"
	assert_grep '^MIRRORFS_CREATED=1$' trigger.out
	assert_grep '^MIRRORFS_FILESET=app$' trigger.out
	assert_grep "^MIRRORFS_DEST=$TC/store\$" trigger.out
}

T_TIMEOUT=60 t_case "a change is pushed once quiet; deletes are purged" case_change_pushed_after_quiet
t_case "after a change, the work is in proportion to the changes" case_work_follows_changes
t_case "a file open for write is held back, then pushed after close" case_open_file_held_back
t_case "openupdate pushes an open but unchanged file" case_openupdate
t_case "a file that never settles is pushed after max_defer, consistent" case_max_defer
t_case "interval runs" case_interval
t_case "start/stop windows" case_windows
t_case "an inotify overflow falls back to a rescan and converges" case_overflow_converges
t_case "status of every file set; suspend, resume, sync-now" case_status_suspend_resume
t_case "SIGHUP re-reads the config; SIGTERM stops within a couple of seconds" case_signals
t_case "file sets of one batch run one after another" case_batches
t_case "configuration errors name FILE:LINE" case_config_errors
t_case "a file set whose user cannot read a file reports it" case_user_cannot_read
t_case "trigger runs after a session that changed something" case_trigger
t_done
