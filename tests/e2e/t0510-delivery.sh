#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrord never loses a change: what each destination is owed is kept
# until that destination committed it, a failed destination is retried
# with backoff, no session runs with nothing to send, and the status
# shows every destination. Destinations are mirror:// stores of a
# `mirrord --listen` on loopback.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

# src_conf DESTS KEY=VALUE...: the source's src.conf, one file set "app"
# of $TC/src (watched, quiet = 1, purge) to DESTS, with the key of serve().
src_conf() {
	local dests=$1
	shift
	{
		printf '[daemon]\ncontrol = %s/src.sock\n\n[fileset app]\n' "$TC"
		printf 'source = %s/src\ndest = %s\nkey = %s/key\n' "$TC" "$dests" "$TC"
		printf 'watch = yes\nquiet = 1\npurge = yes\n'
		for kv in "$@"; do printf '%s\n' "$kv" | sed 's/=/ = /'; done
	} >src.conf
}

# source_daemon: the source mirrord (src.conf, log src.log); sets SPID.
source_daemon() {
	local want
	want=$(($(grep -c 'running [0-9]* file sets' src.log 2>/dev/null || true) + 1))
	# (fd 9, a test's writer, is not the daemon's to hold open)
	"$MIRRORD" -c src.conf 2>>src.log 9>&- &
	SPID=$!
	t_track "$SPID"
	# shellcheck disable=SC2016 # the inner sh expands its own arguments
	wait_for sh -c '[ "$(grep -c "running [0-9]* file sets" src.log)" -ge "$1" ]' sh "$want" ||
		t_fail "the source mirrord did not start: $(cat src.log)"
}

# stq EXPR: a python expression on the source's `status --json`, with f its
# file set and d that file set's destinations.
stq() { fileset_q src.conf "$1"; }

# st_is EXPR: succeeds when EXPR holds.
st_is() { [ "$(stq "$1")" = True ]; }

# settled: no session running, every destination ok and owed nothing (not
# even its first, whole session)
# (wait for it before stopping a listener: a session still ending would
# fail, and owe again what it carried).
settled() { fileset_settled src.conf; }

# sessions_into STORE: sessions the listener reports done into STORE.
sessions_into() { grep -c "session into store $1 done" mirrord.log || true; }

# synced_then_down FILE...: the listener and the source mirrord (retries
# after 1 s, then 2 s), src holding FILEs; once the first session has
# settled, the listener is stopped.
synced_then_down() {
	local f
	mkdir src
	for f in "$@"; do echo "$f" >"src/$f"; done
	touch -d '-1 min' src/*	# older than the quiet window
	serve app "$TC/app"
	src_conf "mirror://127.0.0.1:$PORT/app" retry_min=1 retry_max=2
	source_daemon
	wait_for settled || t_fail "the first session did not settle: $(stq d)"
	assert_trees_eq src app
	stop_mirrord "$MIRRORD_PID"
}

case_down_then_back() {
	synced_then_down a
	echo retry >src/retry.txt
	# The session that carries it fails: the destination keeps it, retried.
	wait_for st_is 'd[0]["state"] == "retrying"' ||
		t_fail "the destination is not retrying: $(stq d)"
	stq d >dest.txt
	python3 - dest.txt <<'PY' || t_fail "status: $(cat dest.txt)"
import ast, sys
d = ast.literal_eval(open(sys.argv[1]).read())[0]
assert "Connection refused" in d["error"], d
assert d["pending"] == 1 and d["pending_paths"] == ["retry.txt"], d
assert d["next_attempt"] is not None and d["since"] is not None, d
assert d["attempts"] >= 1 and d["last_session"]["committed"] is False, d
PY
	assert_eq retrying "$(stq 'f["state"]')"
	"$MIRRORCTL" status -c src.conf >status.txt
	assert_grep "to mirror://127\.0\.0\.1:$PORT/app: retrying since .*Connection refused" status.txt
	assert_grep '1 pending: retry\.txt' status.txt
	assert_grep "app: mirror://127\.0\.0\.1:$PORT/app: session failed: .*next attempt in [0-9]+ s" src.log
	# Back: the next retry (at most retry_max = 2 s away) brings it, with no
	# further change at the source.
	local t0 ms
	t0=$(date +%s%N)
	start_mirrord conf mirrord.log
	wait_for test -f app/retry.txt || t_fail "retry.txt never arrived: $(stq d)"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "arrived $ms ms after the destination came back (retry_max = 2 s)"
	[ "$ms" -le 4500 ] || t_fail "arrived after $ms ms: not within the backoff"
	assert_eq retry "$(cat app/retry.txt)"
	wait_for st_is 'd[0]["state"] == "ok" and d[0]["pending"] == 0 and f["state"] == "idle"' ||
		t_fail "not ok after the retry: $(stq d)"
	assert_trees_eq src app
}

case_two_destinations_one_down() {
	mkdir src && echo one >src/a
	touch -d '-1 min' src/a
	serve app "$TC/app"
	local port2
	port2=$(free_port)
	write_conf conf2 "127.0.0.1:$port2" "$TC/key" app2 "$TC/app2"
	src_conf "mirror://127.0.0.1:$PORT/app mirror://127.0.0.1:$port2/app2" \
	    retry_min=1 retry_max=2
	source_daemon
	wait_for test -f app/a || t_fail "the first session did not reach app"
	wait_for st_is 'd[0]["state"] == "ok" and d[1]["state"] == "retrying"' ||
		t_fail "status: $(stq d)"
	# The destination that is up keeps converging, change after change.
	local i
	for i in 1 2 3; do
		echo "$i" >"src/c$i"
		wait_for test -f "app/c$i" || t_fail "c$i did not reach app: $(stq d)"
	done
	rm src/a
	wait_for test ! -e app/a || t_fail "the delete did not reach app"
	wait_for st_is 'd[0]["pending"] == 0' || t_fail "status: $(stq d)"
	stq d >dests.txt
	python3 - dests.txt "$port2" <<'PY' || t_fail "status: $(cat dests.txt)"
import ast, sys
up, down = ast.literal_eval(open(sys.argv[1]).read())
assert up["state"] == "ok" and up["error"] is None, up
assert up["last_result"]["failed"] == 0, up
assert down["destination"] == "mirror://127.0.0.1:%s/app2" % sys.argv[2], down
assert down["state"] == "retrying" and "Connection refused" in down["error"], down
assert down["attempts"] >= 2 and down["next_attempt"] is not None, down
# It never had a session: it is owed a whole one (and the changes since).
assert down["whole_session"] is True and down["last_result"] is None, down
assert set(down["pending_paths"]) >= {"c1", "c2", "c3", "a"}, down
PY
	assert_eq 1 "$(stq 'f["failed_destinations"]')"
	"$MIRRORCTL" status -c src.conf >status.txt
	assert_grep "to mirror://127\.0\.0\.1:$PORT/app: ok, nothing pending" status.txt
	assert_grep "to mirror://127\.0\.0\.1:$port2/app2: retrying since" status.txt
	# A log line per destination with its own counts; the listener's too.
	assert_grep "app: mirror://127\.0\.0\.1:$PORT/app: created 1, replaced 0, purged 0, unchanged [0-9]+, skipped 0, failed 0" src.log
	assert_grep "app: session done: 1 of 2 destinations committed" src.log
	assert_grep "127\.0\.0\.1:[0-9]+: session into store app done: created 1, replaced 0, purged 0, unchanged [0-9]+, skipped 0, failed 0" mirrord.log
	# The other one comes up: it converges too.
	start_mirrord conf2 mirrord.log
	wait_for sh -c 'test -f app2/c3 && test ! -e app2/a' || t_fail "app2 did not converge: $(stq d)"
	wait_for st_is 'd[1]["state"] == "ok" and d[1]["pending"] == 0 and not d[1]["whole_session"]' ||
		t_fail "status: $(stq d)"
	assert_trees_eq src app
	assert_trees_eq src app2
}

case_held_open_no_session() {
	mkdir src && echo one >src/a
	touch -d '-1 min' src/a
	serve app "$TC/app"
	src_conf "mirror://127.0.0.1:$PORT/app"
	source_daemon
	wait_for test -f app/a
	exec 9>>src/log
	echo "line 1" >&9
	# The session after the write holds the log back: it is open for write.
	wait_for st_is '[h["path"] for h in f["held_back"]] == ["log"]' ||
		t_fail "the log is not held back: $(stq f)"
	wait_for st_is 'f["state"] == "waiting"'
	stq 'f["held_back"][0]' >held.txt
	python3 - held.txt <<'PY' || t_fail "held back: $(cat held.txt)"
import ast, sys
h = ast.literal_eval(open(sys.argv[1]).read())
assert h["reason"] == "open for update" and h["open"] is True, h
assert h["since"] is not None, h
PY
	"$MIRRORCTL" status -c src.conf | grep -q 'held back: log: open for update (since ' ||
		t_fail "the text status does not show the held file"
	local n0 l0 i
	n0=$(stq 'f["sessions"]')
	l0=$(sessions_into app)
	# While it stays open, other changes go out one session each, and
	# no session is started for the log: the counts say so after each.
	for i in 1 2 3 4 5; do
		echo "$i" >"src/b$i"
		wait_for test -f "app/b$i" || t_fail "b$i was not pushed"
		wait_for st_is "f['sessions'] == $n0 + $i and f['state'] == 'waiting'" ||
			t_fail "sessions: $(stq 'f["sessions"]'), expected $((n0 + i))"
		assert_eq $((l0 + i)) "$(sessions_into app)" "sessions at the destination"
	done
	assert_missing app/log
	echo "line 2" >&9
	exec 9>&-
	# Closed: pushed once quiet, in one more session.
	wait_for test -f app/log || t_fail "the log was not pushed after close"
	assert_file_eq src/log app/log
	wait_for st_is "f['sessions'] == $n0 + 6 and f['state'] == 'idle' and f['held_back'] == []" ||
		t_fail "status: $(stq f)"
	assert_eq $((l0 + 6)) "$(sessions_into app)" "sessions at the destination"
}

case_restart_while_down() {
	synced_then_down a b
	echo seen >src/seen
	wait_for st_is 'd[0]["state"] == "retrying" and d[0]["pending"] == 1'
	kill -TERM "$SPID"
	wait "$SPID" || t_fail "the source mirrord did not stop cleanly"
	t_untrack "$SPID"
	# Changes no watcher sees: only a whole session can find them.
	echo unseen >src/unseen
	rm src/a
	source_daemon
	wait_for st_is 'd[0]["state"] == "retrying" and d[0]["whole_session"]' ||
		t_fail "after the restart: $(stq d)"
	start_mirrord conf mirrord.log
	wait_for sh -c 'test -f app/unseen && test -f app/seen && test ! -e app/a' ||
		t_fail "did not converge after the restart: $(stq d)"
	wait_for st_is 'd[0]["state"] == "ok" and not d[0]["whole_session"]'
	assert_trees_eq src app
	assert_grep 'app: session to 1 destination' src.log
}

case_sync_now() {
	mkdir src && echo one >src/a
	touch -d '-1 min' src/a
	serve app "$TC/app"
	src_conf "mirror://127.0.0.1:$PORT/app" quiet=3
	source_daemon
	wait_for st_is 'f["state"] == "idle" and f["sessions"] == 1'
	local l0
	l0=$(sessions_into app)
	# The watch is complete and nothing is pending: nothing to send.
	t_ctl sync-now -c src.conf app
	assert_rc 0
	assert_grep '^nothing to send' "$TC/out"
	assert_eq 1 "$(stq 'f["sessions"]')"
	assert_eq complete "$(stq 'f["watch"]')"
	# --full walks the whole tree: a whole session.
	t_ctl sync-now -c src.conf --full app
	assert_rc 0
	assert_grep '^sync started \(the whole tree\)' "$TC/out"
	wait_for st_is 'f["sessions"] == 2 and f["state"] == "idle"'
	assert_eq $((l0 + 1)) "$(sessions_into app)"
	# What is pending goes at once, as a partial session.
	echo two >src/b
	wait_for st_is 'd[0]["pending"] == 1'
	t_ctl sync-now -c src.conf app
	assert_grep '^sync started$' "$TC/out"
	wait_for test -f app/b || t_fail "b was not sent"
	assert_grep 'app: session of 1 changes to 1 destination' src.log
}

case_unwatched_held_open() {
	mkdir src && echo one >src/a && echo data >src/log
	touch -d '-1 min' src/a src/log
	printf '[daemon]\ncontrol = %s/src.sock\n\n[fileset app]\nsource = %s/src\ndest = %s/store\nquiet = 1\n' \
	    "$TC" "$TC" "$TC" >src.conf
	exec 9>>src/log
	source_daemon
	# The first (whole) session holds it back; without a watch of its own,
	# the file set learns of the close from a watch on that file alone.
	wait_for st_is '[h["path"] for h in f["held_back"]] == ["log"] and f["sessions"] == 1' ||
		t_fail "status: $(stq f)"
	assert_eq off "$(stq 'f["watch"]')"
	assert_missing store/log
	echo more >&9
	exec 9>&-
	wait_for test -f store/log || t_fail "the log was not pushed after close"
	assert_file_eq src/log store/log
	wait_for st_is 'f["sessions"] == 2 and f["held_back"] == []' || t_fail "status: $(stq f)"
}

T_TIMEOUT=90 t_case "a destination down, a change, the destination back: converges within the backoff" case_down_then_back
T_TIMEOUT=90 t_case "two destinations, one down: the other keeps converging; status shows both" case_two_destinations_one_down
T_TIMEOUT=90 t_case "a file held open for write: no session while it is held, pushed when closed" case_held_open_no_session
T_TIMEOUT=90 t_case "mirrord restarted while a destination is down: a whole session when it is back" case_restart_while_down
t_case "sync-now sends what is pending (nothing: no session); --full walks the tree" case_sync_now
t_case "without watch, a file held open is pushed when closed" case_unwatched_held_open
t_done
