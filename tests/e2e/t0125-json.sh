#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# --json: "version": 1, one shape for one destination or many, the entries
# themselves with -v and -n, an error per failed destination, RFC 3339
# times; mirrorctl status --json too.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

MIRRORD=$BUILD/mirrord

# check FILE PYTHON: run PYTHON on the JSON of FILE's last line (variable j,
# and rfc3339(text): the datetime it names, or an assertion error).
check() {
	python3 - "$1" "$2" <<'EOF' || t_fail "JSON check failed on $(tail -n 1 "$1")"
import datetime, json, re, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
def rfc3339(t):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d", t), t
    return datetime.datetime.fromisoformat(t)
exec(sys.argv[2])
EOF
}

case_one_destination() {
	mkdir -p src/d && echo a >src/a && echo b >src/d/b
	t_ctl sync --json src store
	assert_rc 0
	check "$TC/out" '
assert j["version"] == 1, j
assert j["source"] == "src"
t0, t1 = rfc3339(j["started"]), rfc3339(j["finished"])
assert t0 <= t1 and t0.utcoffset() is not None
assert 0 <= j["elapsed"] < 60
assert len(j["destinations"]) == 1
d = j["destinations"][0]
assert d["destination"] == "store" and d["status"] == "ok" and d["error"] is None, d
assert d["created"] == 3 and d["report"] is False
assert d["stats"]["files"] == 3 and d["stats"]["regular"] == 2 and d["stats"]["dirs"] == 1
assert d["stats"]["transferred_files"] == 2 and d["stats"]["transferred_size"] == 4
assert d["stats"]["copied_size"] == 0	# small files cross the socket
assert d["bytes_sent"] > 0 and d["bytes_received"] > 0
assert d["entries"] == [], d["entries"]	# without -v: the problems only
'
}

case_entries_with_v_and_n() {
	mkdir -p src/d && echo a >src/a && echo b >src/d/b
	t_ctl sync -v --json src store
	assert_rc 0
	check "$TC/out" '
e = j["destinations"][0]["entries"]
assert {(x["action"], x["path"], x["dir"]) for x in e} == \
    {("create", "a", False), ("create", "d", True), ("create", "d/b", False)}, e
assert all(x["reason"] is None for x in e)
'
	echo changed >src/a
	mkdir store/extra
	t_ctl sync -n --purge-dirs --json src store
	assert_rc 0
	check "$TC/out" '
d = j["destinations"][0]
assert d["report"] is True and d["status"] == "ok"
assert {(x["action"], x["path"]) for x in d["entries"]} == \
    {("replace", "a"), ("purge", "extra")}, d["entries"]
'
	assert_eq a "$(cat store/a)" "a dry run changed nothing"
}

case_many_destinations_one_failed() {
	mkdir -p src && echo a >src/a
	: >not-a-dir
	t_ctl sync --json src s1 "$TC/not-a-dir/store" s2
	assert_rc 3
	check "$TC/out" '
d = j["destinations"]
assert [x["destination"] for x in d] == ["s1", "'"$TC"'/not-a-dir/store", "s2"], d
assert [x["status"] for x in d] == ["ok", "failed", "ok"], d
assert d[0]["error"] is None and d[2]["error"] is None
assert "not-a-dir/store" in d[1]["error"] and "Not a directory" in d[1]["error"], d[1]
assert d[0]["created"] == 1 and d[2]["created"] == 1
'
	assert_exists s1/a
	assert_exists s2/a
}

case_partial_status() {
	mkdir -p src store/x
	echo a >src/x	# a file where the store has a directory
	t_ctl sync --json src store
	assert_rc 1
	check "$TC/out" '
d = j["destinations"][0]
assert d["status"] == "partial" and d["error"] is None and d["skipped"] == 1, d
assert d["entries"][0]["action"] == "skip" and d["entries"][0]["path"] == "x"
assert "type conflict" in d["entries"][0]["reason"], d["entries"]
'
}

case_status_json() {
	mkdir src && echo one >src/a
	printf '[daemon]\ncontrol = %s/ctl.sock\n\n[fileset app]\nsource = %s/src\ndest = %s/store\ninterval = 3600\n' \
		"$TC" "$TC" "$TC" >conf
	"$MIRRORD" -c conf 2>>mirrord.log &
	t_defer kill -9 "$!"
	wait_for grep -Eq 'app: [^ ]+: created 1,' mirrord.log || t_fail "no session: $(cat mirrord.log)"
	t_ctl status -c conf --json
	assert_rc 0
	check "$TC/out" '
assert j["version"] == 1, j
f = j["filesets"][0]
last, nxt = rfc3339(f["last_run"]), rfc3339(f["next_run"])
assert 3500 < (nxt - last).total_seconds() <= 3600, (last, nxt)
r = f["last_result"]
assert r["created"] == 1 and r["status"] == "ok" and r["error"] is None, r
assert "destination" not in r and r["entries"] == []
'
}

# Into a local store, files from 4 KiB are copied from the source's
# descriptor: transferred all the same, but not on the wire.
case_copied_locally() {
	mkdir src && head -c 100000 /dev/urandom >src/big && echo a >src/a
	t_ctl sync --json src store
	assert_rc 0
	check "$TC/out" '
s = j["destinations"][0]["stats"]
assert s["transferred_files"] == 2 and s["transferred_size"] == 100002, s
assert s["copied_size"] == 100000, s
assert j["destinations"][0]["bytes_sent"] < 100000, j
'
	t_ctl sync --stats src store2
	assert_grep "^Number of regular files transferred: 2$" "$TC/out"
	assert_grep "^Of it copied from the source's files, not sent: 100,000 bytes$" "$TC/out"
}

t_case "one destination: version 1, RFC 3339 times, counts, stats" case_one_destination
t_case "-v and -n list the entries themselves" case_entries_with_v_and_n
t_case "many destinations, one failed: one shape, an error for it" case_many_destinations_one_failed
t_case "a skipped entry: status partial, with its reason" case_partial_status
t_case "mirrorctl status --json: version 1, RFC 3339 times" case_status_json
t_case "files copied from the source's descriptor count as transferred, not as sent" case_copied_locally
t_done
