#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# The history of past sessions on both sides (mirrorctl log: a store's
# .mirrorfs/sessions.log, mirrord's [daemon] sessions), bounded and
# rotated, a torn last line ignored; and mirrord's Prometheus textfile
# ([daemon] metrics), checked line by line.
set -u
T_TIMEOUT=${T_TIMEOUT:-120}
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

# jlog ARGS... -- EXPR: a python expression on `mirrorctl log --json
# ARGS`, with s the list of sessions.
jlog() {
	local args=()
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	"$MIRRORCTL" log --json "${args[@]}" |
		python3 -c 'import json, sys
s = json.load(sys.stdin)["sessions"]
print(eval(sys.argv[1]))' "$2"
}

# jlog_is ARGS... -- EXPR: succeeds when EXPR holds.
jlog_is() { [ "$(jlog "$@")" = True ]; }

case_store_history() {
	mkdir -p src && echo one >src/a
	t_ctl sync src store
	echo two >src/b
	t_ctl sync src store
	echo three-longer >src/a
	t_ctl sync src store
	t_ctl sync -n src store			# a dry run changes nothing: not kept
	t_ctl log store
	assert_rc 0
	[ "$(grep -c ' ok  ' "$TC/out")" = 3 ] || t_fail "not 3 sessions: $(cat "$TC/out")"
	assert_grep '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9:]{5} +[0-9.]+ s  ok +from .*created 1, replaced 0, purged 0, unchanged 0, skipped 0, failed 0, bytes [1-9]' "$TC/out"
	jlog_is store -- '[x["created"] for x in s] == [1, 1, 0] and [x["replaced"] for x in s] == [0, 0, 1] and all(x["status"] == "ok" and x["bytes"] > 0 and x["error"] is None for x in s)' ||
		t_fail "the sessions of store: $(jlog store -- s)"
	t_ctl log -n 2 store
	[ "$(wc -l <"$TC/out")" = 2 ] || t_fail "-n 2 printed: $(cat "$TC/out")"
	t_ctl log -n 0 store
	assert_rc 2
	mkdir nothing-here
	t_ctl log "$TC/nothing-here"
	assert_rc 3
	assert_grep "nothing-here: not a mirrorfs store" "$TC/err"
}

case_store_history_bound() {
	local log=store/.mirrorfs/sessions.log n
	mkdir -p src && echo one >src/a
	t_ctl sync src store
	# A history at its bound (64 KiB of older records, as the format
	# writes them), then a torn line, as a crash leaves it.
	python3 -c 'import sys
line = "v1\t1000.000\t1001.000\tok\t\tolder\t777\t0\t0\t0\t0\t0\t1\t\n"
with open(sys.argv[1], "a") as f:
    f.write(line * (65536 // len(line) + 1))
    f.write("v1\t17645")' "$log"
	echo two >src/b
	t_ctl sync src store
	assert_rc 0
	assert_exists "$log.1"
	# The torn line went with the old part; the new part is the new record.
	[ "$(wc -l <"$log")" = 1 ] || t_fail "the new part: $(cat -A "$log")"
	n=$(jlog -n 100000 store -- 'len(s)')
	jlog_is -n 100000 store -- 's[-1]["created"] == 1 and s[-1]["peer"] != "older" and s[-2]["created"] == 777' ||
		t_fail "the newest session is not last: $(jlog -n 3 store -- s)"
	# Rotated again and again: never more than two parts of 64 KiB.
	for i in $(seq 3); do
		cat "$log.1" >>"$log"
		echo "$i" >src/c
		t_ctl sync src store
		assert_rc 0
	done
	[ "$(stat -c %s "$log.1")" -lt $((65536 * 2 + 4096)) ] || t_fail "the old part grew to $(stat -c %s "$log.1")"
	[ "$(stat -c %s "$log")" -lt 4096 ] || t_fail "the new part is $(stat -c %s "$log") bytes"
	[ "$(jlog -n 100000 store -- 'len(s)')" -le "$((n + 1000))" ] || t_fail "unbounded"
	jlog_is -n 1 store -- 's[0]["replaced"] == 1 and s[0]["unchanged"] > 0' ||
		t_fail "the last session: $(jlog -n 1 store -- s)"
}

# metrics_ok FILE: every line is a HELP, a TYPE or a sample of a family
# whose HELP and TYPE came before it, label values escaped; prints the
# samples as "name{labels} value" for later checks.
metrics_ok() {
	python3 - "$1" <<'PY'
import re, sys
helped, typed = set(), {}
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")*)\})? (-?[0-9.e+]+)$')
for n, line in enumerate(open(sys.argv[1]).read().split("\n")[:-1], 1):
    m = re.match(r'^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S', line)
    if m:
        helped.add(m.group(1)); continue
    m = re.match(r'^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$', line)
    if m:
        if m.group(1) not in helped: sys.exit("line %d: TYPE before HELP: %s" % (n, line))
        typed[m.group(1)] = m.group(2); continue
    m = sample.match(line)
    if not m: sys.exit("line %d is not the text format: %r" % (n, line))
    if m.group(1) not in typed: sys.exit("line %d: a sample without HELP/TYPE: %s" % (n, line))
    if typed[m.group(1)] == "counter" and not m.group(1).endswith("_total"):
        sys.exit("line %d: a counter not named _total" % n)
    print(line)
PY
}

# metric NAME LABELS: the value of one sample of $TC/samples, or "none".
metric() {
	K="$1{$2}" awk 'index($0, ENVIRON["K"] " ") == 1 { print $NF; f = 1 } END { if (!f) print "none" }' "$TC/samples"
}

# metric_ge NAME LABELS N: the metrics file has that sample, at least N.
metric_ge() {
	samples
	local v
	v=$(metric "$1" "$2")
	[ "$v" != none ] && [ "$v" -ge "$3" ]
}

# samples: the metrics file, checked, into $TC/samples.
samples() {
	metrics_ok "$TC/m/mirrord.prom" >"$TC/samples" || t_fail "metrics file: $(cat "$TC/m/mirrord.prom")"
}

case_mirrord_history_and_metrics() {
	local good="$TC/st\"o\\re" bad="$TC/notadir/store" gl bl s1 b1
	mkdir -p src m h && echo one >src/a && echo file >notadir
	cat >conf <<CONF
[daemon]
control = $TC/ctl.sock
sessions = $TC/h/sessions.log
metrics = $TC/m/mirrord.prom

[fileset app]
source = $TC/src
dest = $good $bad
watch = yes
quiet = 1
retry_min = 1
retry_max = 2
CONF
	"$MIRRORD" -c conf 2>>mirrord.log &
	t_track "$!"
	t_defer kill "$!"
	wait_for test -f "$good/a" || t_fail "no first session: $(cat mirrord.log)"
	# The labels as the format escapes them: \" and \\.
	gl="fileset=\"app\",destination=\"$TC/st\\\"o\\\\re\""
	bl="fileset=\"app\",destination=\"$bad\""
	wait_for metric_ge mirrord_retries_total "$bl" 1 ||
		t_fail "no retry of the failing destination: $(cat "$TC/m/mirrord.prom")"
	wait_for metric_ge mirrord_sessions_total "$gl,result=\"ok\"" 1 ||
		t_fail "no session counted ok: $(cat "$TC/m/mirrord.prom")"
	s1=$(metric mirrord_sessions_total "$gl,result=\"ok\"")
	b1=$(metric mirrord_bytes_sent_total "$gl")
	[ "$s1" != none ] || t_fail "no sessions_total of the store"
	[ "$s1" -ge 1 ] || t_fail "sessions_total of the store: $s1"
	[ "$b1" -gt 0 ] || t_fail "bytes_sent_total: $b1"
	[ "$(metric mirrord_sessions_total "$bl,result=\"failed\"")" -ge 2 ] || t_fail "failed sessions not counted"
	[ "$(metric mirrord_failed_attempts "$bl")" -ge 1 ] || t_fail "failed_attempts"
	[ "$(metric mirrord_last_success_timestamp_seconds "$bl")" = 0 ] || t_fail "a last success of the failing destination"
	[ "$(metric mirrord_last_success_timestamp_seconds "$gl")" -gt 1700000000 ] || t_fail "no last success"
	[ "$(metric mirrord_pending_paths "$gl")" = 0 ] || t_fail "the store is owed paths"
	[ "$(metric mirrord_pending_whole_session "$bl")" = 1 ] || t_fail "the failing destination is not owed its first, whole session"
	# Another change: the store's counters grow.
	echo two >src/b
	wait_for test -f "$good/b" || t_fail "no second session"
	wait_for metric_ge mirrord_sessions_total "$gl,result=\"ok\"" $((s1 + 1)) ||
		t_fail "sessions_total did not grow: $(cat "$TC/m/mirrord.prom")"
	[ "$(metric mirrord_sessions_total "$gl,result=\"ok\"")" -gt "$s1" ] || t_fail "sessions_total"
	[ "$(metric mirrord_bytes_sent_total "$gl")" -gt "$b1" ] || t_fail "bytes_sent_total did not grow"
	# mirrord's history: both destinations, the failures with their reason.
	t_ctl log -c conf app
	assert_rc 0
	assert_grep "  ok +app -> $TC/st\"o\\\\134re  created 1, " "$TC/out"
	assert_grep "  failed +app -> $bad  .*: .+" "$TC/out"
	jlog_is -c conf -- 'any(x["fileset"] == "app" and x["destination"].endswith("notadir/store") and x["status"] == "failed" and x["error"] for x in s)' ||
		t_fail "no failed session in mirrord's history: $(jlog -c conf -- s)"
	t_ctl log -c conf nosuchset
	assert_rc 3
	# The store itself keeps its own history, written where it committed.
	jlog_is "$good" -- 'len(s) >= 2 and s[-1]["status"] == "ok" and s[-1]["created"] == 1' ||
		t_fail "the store's history: $(jlog "$good" -- s)"
}

t_case "mirrorctl log STORE: the sessions committed, -n, --json" case_store_history
t_case "a store's history at its bound: rotated, a torn line ignored" case_store_history_bound
t_case "mirrord: its history and its metrics textfile" case_mirrord_history_and_metrics
t_done
