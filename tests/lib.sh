# shellcheck shell=bash
#
# tests/lib.sh: helper library for the end-to-end scripts in tests/e2e/.
#
# Each script does:
#
#	#!/bin/bash
#	set -u
#	. "$(dirname "$0")/../lib.sh"
#	t_setup
#	case_foo() { ...assertions... }
#	t_case "what foo checks" case_foo
#	t_done
#
# t_setup makes the script's temp dir $T (removed on exit).  Every case runs
# in a subshell, in its own process group, with errexit on, inside its own
# directory $TC (below $T), bounded by T_TIMEOUT seconds (default 60).  A
# failed assertion or an unexpected failing command ends the case; t_case then
# prints "ok - SCRIPT: NAME" or "not ok - SCRIPT: NAME" followed by "# "
# lines that explain why.  t_done prints "# results: P passed, F failed" and
# exits non-zero if F > 0.  T_KEEP=1 keeps the cases' directories;
# T_TIMES=1 prints each case's time after its line.
#
# Only processes this script started are ever killed: each case's own process
# group, and what a case registered with t_defer.

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T_SCRIPT=$(basename "$0")
BUILD=${BUILD:-$T_ROOT/build}
case $BUILD in
/*) ;;
*) BUILD=$PWD/$BUILD ;;
esac
MIRRORCTL=$BUILD/mirrorctl
T_TIMEOUT=${T_TIMEOUT:-60}
# the time stamp that starts each line mirrord writes when not under
# journald (an ERE: RFC 3339 local time with milliseconds and offset)
# shellcheck disable=SC2034 # used by the scripts that source this
STAMP='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}:[0-9]{2}'
# time bound of one mirrorctl command run through t_run/t_ctl
T_CMD_TIMEOUT=${T_CMD_TIMEOUT:-300}
T_PASS=0
T_FAIL=0
T_NCASE=0
T=
TC=
T_CASE_PID=
RC=0
export MIRRORCTL BUILD

t_is_root() { [ "$(id -u)" -eq 0 ]; }

# t_setup: make $T and arrange for cleanup on exit.
t_setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/mirrorfs-e2e.XXXXXX") || {
		echo "not ok - $T_SCRIPT: cannot make temp dir"
		echo "# results: 0 passed, 1 failed"
		exit 1
	}
	trap t_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ ! -x "$MIRRORCTL" ]; then
		echo "# warning: $MIRRORCTL is missing or not executable"
	fi
}

# t_run_defers FILE: run the commands registered with t_defer, last first.
t_run_defers() {
	local f=$1 line
	[ -f "$f" ] || return 0
	while IFS= read -r line; do
		eval "$line" >/dev/null 2>&1 || true
	done < <(tac "$f")
	rm -f "$f"
}

t_cleanup() {
	local rc=$?
	if [ -n "$T_CASE_PID" ]; then
		kill -KILL -- "-$T_CASE_PID" 2>/dev/null
		T_CASE_PID=
	fi
	if [ -n "$T" ] && [ -d "$T" ]; then
		local f
		for f in "$T"/.pids.*; do
			[ -e "$f" ] && t_kill_tracked "${f##*.}"
		done
		for f in "$T"/.defer.*; do
			[ -e "$f" ] && t_run_defers "$f"
		done
		if [ -n "${T_KEEP:-}" ]; then
			echo "# kept $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

# t_defer CMD [ARG...]: (inside a case) run CMD when the case ends, whether
# it passed, failed or timed out.  Arguments are quoted safely.
t_defer() {
	printf '%q ' "$@" >>"$T/.defer.$T_NCASE"
	printf '\n' >>"$T/.defer.$T_NCASE"
}

# t_track PID: (inside a case) kill PID's process group and PID when the case
# ends, unless t_untrack PID was called first (call it once PID has been
# waited for, so that a recycled pid is never killed).
t_track() {
	printf '%s\n' "$1" >>"$T/.pids.$T_NCASE"
}

t_untrack() {
	local f=$T/.pids.$T_NCASE
	[ -f "$f" ] || return 0
	grep -vx -- "$1" "$f" >"$f.new" || true
	mv -f "$f.new" "$f"
}

# t_kill_tracked N: kill what case N still tracks.
t_kill_tracked() {
	local f=$T/.pids.$1 p
	[ -f "$f" ] || return 0
	while read -r p; do
		[ -n "$p" ] || continue
		# its group only if it leads one (setsid), else just the pid
		if [ "$(awk '{print $5}' "/proc/$p/stat" 2>/dev/null)" = "$p" ]; then
			kill -KILL -- "-$p" 2>/dev/null
		fi
		kill -KILL "$p" 2>/dev/null
	done <"$f"
	rm -f "$f"
}

# t_msg MESSAGE: record a failure message for the running case.
t_msg() {
	printf '%s\n' "$*" >>"$T/.msg.$T_NCASE"
	printf 'FAIL: %s\n' "$*" >&2
}

# t_fail MESSAGE: fail the running case.
t_fail() {
	t_msg "$*"
	exit 1
}

# t_skip REASON: end the running case as passed, saying why it did nothing.
t_skip() {
	printf '%s\n' "$*" >"$T/.skip.$T_NCASE"
	exit 0
}

t_case_body() {
	local fn=$1
	set +m
	set -eE -o pipefail
	trap 't_msg "command failed (status $?) at line $LINENO: $BASH_COMMAND"' ERR
	TC=$T/case$T_NCASE
	mkdir -p "$TC"
	cd "$TC"
	"$fn"
}

# t_case NAME FUNC: run FUNC as one test case (see the top of this file).
t_case() {
	local name=$1 fn=$2 rc timed_out=0 ticks=0 limit log pat
	local to=${T_TIMEOUT} started=$SECONDS
	[ -n "$T" ] || t_setup
	T_NCASE=$((T_NCASE + 1))
	log=$T/.log.$T_NCASE
	limit=$((to * 10))
	set -m
	t_case_body "$fn" </dev/null >"$log" 2>&1 &
	T_CASE_PID=$!
	set +m
	while :; do
		# bash reaps the child when it ends; a zombie shows as state Z.
		if [ ! -e "/proc/$T_CASE_PID" ] ||
			[ "$(awk '{print $3}' "/proc/$T_CASE_PID/stat" 2>/dev/null)" = Z ]; then
			break
		fi
		if [ "$ticks" -ge "$limit" ]; then
			timed_out=1
			kill -TERM -- "-$T_CASE_PID" 2>/dev/null
			sleep 1
			kill -KILL -- "-$T_CASE_PID" 2>/dev/null
			break
		fi
		sleep 0.1
		ticks=$((ticks + 1))
	done
	wait "$T_CASE_PID"
	rc=$?
	# Anything the case left running in its process group goes too.
	kill -KILL -- "-$T_CASE_PID" 2>/dev/null
	T_CASE_PID=
	t_kill_tracked "$T_NCASE"
	t_run_defers "$T/.defer.$T_NCASE"
	if [ "$timed_out" = 1 ]; then
		printf 'timed out after %s s\n' "$to" >>"$T/.msg.$T_NCASE"
		rc=124
	fi
	if [ "$rc" -eq 0 ]; then
		T_PASS=$((T_PASS + 1))
		if [ -f "$T/.skip.$T_NCASE" ]; then
			echo "ok - $T_SCRIPT: $name # SKIP $(cat "$T/.skip.$T_NCASE")"
		else
			echo "ok - $T_SCRIPT: $name"
		fi
		[ -n "${T_VERBOSE:-}" ] && sed 's/^/#   /' "$log"
	else
		T_FAIL=$((T_FAIL + 1))
		echo "not ok - $T_SCRIPT: $name"
		if [ -f "$T/.msg.$T_NCASE" ]; then
			sed 's/^/#   /' "$T/.msg.$T_NCASE"
		else
			echo "#   case exited with status $rc"
		fi
		echo "#   --- last lines of the case's output:"
		pat='^FAIL: '
		grep -v -- "$pat" "$log" 2>&1 | tail -n "${T_LOG_LINES:-25}" | sed 's/^/#   | /'
	fi
	# T_TIMES=1: each case's time, to find where the suite's minutes go.
	[ -n "${T_TIMES:-}" ] && echo "#   took $((SECONDS - started)) s"
	rm -f "$T/.msg.$T_NCASE" "$T/.skip.$T_NCASE"
	[ -n "${T_KEEP:-}" ] || rm -rf "$T/case$T_NCASE"
	return 0
}

# t_done: print the results line; exit non-zero if anything failed.
t_done() {
	echo "# results: $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
	exit
}

# ---------------------------------------------------------------------------
# Running commands

# t_run CMD [ARG...]: run CMD bounded by T_CMD_TIMEOUT; stdout goes to
# $TC/out, stderr to $TC/err, the exit status to $RC.  Never fails itself.
t_run() {
	RC=0
	# --foreground keeps CMD in the case's process group, which t_case
	# kills when the case ends or times out.
	timeout --foreground -k 5 "$T_CMD_TIMEOUT" "$@" >"$TC/out" 2>"$TC/err" || RC=$?
	return 0
}

# t_ctl ARG...: t_run "$MIRRORCTL" ARG...
t_ctl() { t_run "$MIRRORCTL" "$@"; }

# wait_for CMD...: retry CMD every 0.1 s for up to 10 s (WAIT_TRIES=N: N
# tries); fails if it never succeeds.
wait_for() {
	for _ in $(seq "${WAIT_TRIES:-100}"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# wait_stopped PID: wait (up to 10 s) until PID is stopped (state T), as a
# program stops itself at MIRRORFS_STOP_AT=POINT (lib/fault.h).
wait_stopped() {
	wait_for sh -c "awk '{ exit \$3 != \"T\" }' /proc/$1/stat 2>/dev/null"
}

# t_show: print the last command's output (for the log of a failed case).
t_show() {
	echo "--- exit status: $RC"
	echo "--- stdout:"
	head -n 60 "$TC/out" 2>/dev/null || true
	echo "--- stderr:"
	head -n 30 "$TC/err" 2>/dev/null || true
	echo "---"
}

# ---------------------------------------------------------------------------
# Assertions.  Each one fails the case with a message saying what differed.

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	[ "$1" = "$2" ] || t_fail "${3:-value}: expected '$1', got '$2'"
}

# assert_ne UNEXPECTED ACTUAL [WHAT]
assert_ne() {
	[ "$1" != "$2" ] || t_fail "${3:-value}: expected anything but '$1'"
}

# assert_rc CODE [WHAT]: the last t_run/t_ctl exited with CODE.
assert_rc() {
	if [ "$RC" != "$1" ]; then
		t_show >&2
		t_fail "${2:-exit status}: expected $1, got $RC"
	fi
}

# assert_exit CODE CMD [ARG...]: run CMD (as t_run) and check its status.
assert_exit() {
	local code=$1
	shift
	t_run "$@"
	if [ "$RC" != "$code" ]; then
		t_show >&2
		t_fail "exit status of '$*': expected $code, got $RC"
	fi
}

# assert_exists PATH: PATH exists (a dangling symlink counts).
assert_exists() {
	[ -e "$1" ] || [ -L "$1" ] || t_fail "expected '$1' to exist"
}

# assert_missing PATH
assert_missing() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		t_fail "expected '$1' not to exist"
	fi
}

# assert_file_eq A B: both are regular files with identical content.
assert_file_eq() {
	[ -f "$1" ] || t_fail "'$1' is not a regular file"
	[ -f "$2" ] || t_fail "'$2' is not a regular file"
	cmp -s -- "$1" "$2" || t_fail "content of '$1' and '$2' differ"
}

# assert_grep PATTERN FILE: an extended regexp matches a line of FILE.
assert_grep() {
	if ! grep -qE -- "$1" "$2"; then
		echo "--- $2:" >&2
		head -n 60 "$2" >&2
		t_fail "no line of '$2' matches /$1/"
	fi
}

# assert_not_grep PATTERN FILE
assert_not_grep() {
	if grep -qE -- "$1" "$2"; then
		grep -E -- "$1" "$2" | head -n 10 >&2
		t_fail "a line of '$2' matches /$1/"
	fi
}

# assert_trees_eq A B: compare_trees A B or fail with its first difference.
assert_trees_eq() {
	local d
	if ! d=$(compare_trees "$1" "$2" 2>&1); then
		t_fail "trees '$1' and '$2' differ: $d"
	fi
}

# assert_no_litter STORE: no journal, staging empty (or absent).
assert_no_litter() {
	assert_missing "$1/.mirrorfs/journal"
	if [ -d "$1/.mirrorfs/staging" ]; then
		local n
		n=$(find "$1/.mirrorfs/staging" -mindepth 1 | wc -l)
		if [ "$n" -ne 0 ]; then
			find "$1/.mirrorfs/staging" -mindepth 1 | head >&2
			t_fail "$1/.mirrorfs/staging holds $n entries"
		fi
	fi
}

# ---------------------------------------------------------------------------
# mirrord's status (mirrorctl status -c CONF --json)

# fileset_q CONF EXPR: a python expression on the status of the mirrord of
# CONF, with f its first file set and d that file set's destinations.
# shellcheck disable=SC2317 # called by the scripts that source this
fileset_q() {
	"$MIRRORCTL" status -c "$1" --json |
		python3 -c 'import json, sys
f = json.load(sys.stdin)["filesets"][0]
d = f["destinations"]
print(eval(sys.argv[1]))' "$2"
}

# fileset_settled CONF: no session running, every destination ok and owed
# nothing (not even its first, whole session).
# shellcheck disable=SC2317
fileset_settled() {
	[ "$(fileset_q "$1" 'f["state"] == "idle" and all(x["state"] == "ok" and x["pending"] == 0 and not x["whole_session"] for x in d)')" = True ]
}

# ---------------------------------------------------------------------------
# JSON (mirrorctl sync --json: {"version":1, ..., "destinations":[{...}]})

# json_field FILE_OR_STRING PATH: print the value at PATH in the JSON object
# on the last non-empty line; PATH is dotted, with numbers for list indexes
# ("version", "destinations.0.created", "destinations.1.stats.files").
# Booleans print as true/false, null as null, lists and objects as JSON.
json_field() {
	python3 - "$1" "$2" <<'EOF'
import json, os, sys
src, path = sys.argv[1], sys.argv[2]
text = open(src, errors="replace").read() if os.path.isfile(src) else src
lines = [l for l in text.splitlines() if l.strip()]
if not lines:
    sys.exit("json_field: no output")
try:
    v = json.loads(lines[-1])
except ValueError as e:
    sys.exit("json_field: last line is not JSON: %s: %r" % (e, lines[-1][:200]))
for key in path.split("."):
    if isinstance(v, list) and key.isdigit() and int(key) < len(v):
        v = v[int(key)]
    elif isinstance(v, dict) and key in v:
        v = v[key]
    else:
        sys.exit("json_field: no %r in %r" % (path, lines[-1][:200]))
if isinstance(v, bool):
    print("true" if v else "false")
elif v is None:
    print("null")
elif isinstance(v, (dict, list)):
    print(json.dumps(v))
else:
    print(v)
EOF
}

# jtop PATH: json_field PATH of the last command's stdout; fails the case
# when it is missing or the output is not JSON.
jtop() {
	local v
	if ! v=$(json_field "$TC/out" "$1" 2>"$TC/jf.err"); then
		t_show >&2
		t_fail "$(cat "$TC/jf.err")"
	fi
	printf '%s\n' "$v"
}

# jf NAME: field NAME (dotted) of the first destination of the last
# command's JSON, the one destination of a sync into one store.
jf() { jtop "destinations.0.$1"; }

# assert_json NAME VALUE [NAME VALUE...]: fields of the first destination
# of the last JSON output.
assert_json() {
	local v
	while [ $# -ge 2 ]; do
		v=$(jf "$1")
		if [ "$v" != "$2" ]; then
			t_show >&2
			t_fail "JSON field $1: expected $2, got $v"
		fi
		shift 2
	done
}

# sent_under LIMIT: the last --json session sent fewer than LIMIT bytes.
sent_under() {
	local sent
	sent=$(jf bytes_sent)
	[ "$sent" -lt "$1" ] || t_fail "sent $sent bytes, expected under $1"
}

# json_entries FILE ACTION [DEST]: print "path<TAB>reason" of each entry
# with ACTION (skip, fail, vanished, create, replace, purge) of destination
# DEST (default 0) of the last JSON line.
json_entries() {
	python3 - "$1" "$2" "${3:-0}" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1], errors="replace").read().splitlines() if l.strip()]
dest = json.loads(lines[-1])["destinations"][int(sys.argv[3])]
for e in dest["entries"]:
    if e["action"] == sys.argv[2]:
        print("%s\t%s" % (e["path"], e["reason"] or ""))
EOF
}

# ---------------------------------------------------------------------------
# Trees

# count_entries DIR: entries below DIR (not DIR itself), .mirrorfs excluded.
count_entries() {
	find "$1" -mindepth 1 -path "$1/.mirrorfs" -prune -o -print | wc -l
}

# tree_sums DIR: every entry's path, type, mode and size, and every file's
# SHA-256, less .mirrorfs (which a failed session may touch): what a user of
# the store sees.
# shellcheck disable=SC2317 # called by the scripts that source this
tree_sums() {
	(
		cd "$1" &&
			find . -path ./.mirrorfs -prune -o -printf '%p %y %m %s\n' | LC_ALL=C sort &&
			find . -path ./.mirrorfs -prune -o -type f -print0 | LC_ALL=C sort -z |
			xargs -0 -r sha256sum
	)
}

# snapshot DIR: one line naming every entry's path, type, size, mtime, mode,
# owner, link target and content checksum (including .mirrorfs), then an
# md5 of it all.  Two equal snapshots mean nothing changed.
snapshot() {
	(
		cd "$1" &&
			find . -printf '%p %y %s %T@ %m %U:%G %l\n' | LC_ALL=C sort &&
			find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum
	) | md5sum | cut -d' ' -f1
}

# generate_tree DIR [NFILES] [NBIG]: fill DIR (created if needed) with a
# tree of about NFILES (default 40) regular files of varied sizes (empty,
# small, up to 64 KiB, and NBIG (default 1) files of 1-4 MiB), nested
# directories, an empty directory, names with spaces and other odd
# characters, symlinks (relative, absolute, dangling, to a directory), a
# hard-link pair and triple, varied modes, mtimes with nanoseconds set on
# files and directories.  GEN_SEED (default 1) makes it reproducible; a
# different seed gives different content for the same names.
generate_tree() {
	python3 - "$1" "${2:-40}" "${3:-1}" "${GEN_SEED:-1}" <<'EOF'
import os, random, sys
root, nfiles, nbig, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(seed)
os.makedirs(root, exist_ok=True)
dirs = ["", "a", "a/b", "a/b/c", "dir with spaces", "d2", "d2/sub",
        "d2/sub/deeper", "x%y", "\u00e9t\u00e9"]
for d in dirs:
    os.makedirs(os.path.join(root, d), exist_ok=True)
os.makedirs(os.path.join(root, "empty dir"), exist_ok=True)
os.makedirs(os.path.join(root, "a/b/empty"), exist_ok=True)
def data(n):
    return rnd.randbytes(n)
sizes = [0, 1, 17, 100, 4095, 4096, 4097, 10000, 65536, 300]
files = []
names = ["file", "file with spaces", "-dash", "x.txt", "R\u00e9sum\u00e9"]
for i in range(nfiles):
    d = dirs[i % len(dirs)]
    name = "%s %d" % (names[i % len(names)], i) if i % 7 == 3 else "%s%d" % (names[i % len(names)], i)
    p = os.path.join(root, d, name)
    size = sizes[i % len(sizes)]
    if size:
        size = max(1, size + rnd.randint(-size // 4, size // 4))
    with open(p, "wb") as f:
        f.write(data(size))
    os.chmod(p, [0o644, 0o600, 0o755, 0o640, 0o444][i % 5])
    files.append(p)
for i in range(nbig):
    p = os.path.join(root, dirs[(i * 3) % len(dirs)], "big%d.bin" % i)
    with open(p, "wb") as f:
        f.write(data(rnd.randint(1 << 20, 4 << 20)))
    files.append(p)
# hard links: a pair across directories and a triple in one directory
with open(os.path.join(root, "a/hl1"), "wb") as f:
    f.write(data(5000))
os.link(os.path.join(root, "a/hl1"), os.path.join(root, "d2/hl2"))
with open(os.path.join(root, "d2/sub/tri1"), "wb") as f:
    f.write(data(123))
os.link(os.path.join(root, "d2/sub/tri1"), os.path.join(root, "d2/sub/tri2"))
os.link(os.path.join(root, "d2/sub/tri1"), os.path.join(root, "d2/sub/tri3"))
# symlinks, never to be followed
os.symlink("hl1", os.path.join(root, "a/rel link"))
os.symlink("../d2/sub", os.path.join(root, "a/dirlink"))
os.symlink("/etc/hostname", os.path.join(root, "abslink"))
os.symlink("no/such/target", os.path.join(root, "d2/dangling"))
# mtimes with nanoseconds: files and links first, directories bottom-up
base = 1600000000
for dp, dn, fn in os.walk(root, topdown=False):
    for n in fn + [x for x in dn if os.path.islink(os.path.join(dp, x))]:
        p = os.path.join(dp, n)
        t = (base + rnd.randint(0, 10**7)) * 10**9 + rnd.randint(0, 10**9 - 1)
        os.utime(p, ns=(t, t), follow_symlinks=False)
    t = (base + rnd.randint(0, 10**7)) * 10**9 + rnd.randint(0, 10**9 - 1)
    os.utime(dp, ns=(t, t))
os.chmod(os.path.join(root, "d2/sub/deeper"), 0o750)
os.chmod(os.path.join(root, "x%y"), 0o700)
EOF
}

# compare_trees A B: compare type, content, mode, mtime (ns), symlink
# targets, owner and group (when root) and hard-link grouping of every entry
# of A and B, including A and B themselves (mode, mtime, owner); ignore
# .mirrorfs at B's top level.  Prints the first difference and fails.
# CMP_IGNORE (space-separated relative paths) leaves entries out of both.
compare_trees() {
	python3 - "$1" "$2" "$(id -u)" "${CMP_IGNORE:-}" <<'EOF'
import hashlib, os, stat, sys
a, b, uid, ignore = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
def walk(top, skip_meta):
    out = {}
    def rec(rel):
        full = os.path.join(top, rel) if rel else top
        st = os.lstat(full)
        out[rel] = st
        if stat.S_ISDIR(st.st_mode):
            for n in os.listdir(full):
                r = os.path.join(rel, n) if rel else n
                if skip_meta and r == ".mirrorfs":
                    continue
                if r in ignore:
                    continue
                rec(r)
    rec("")
    return out
def digest(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for c in iter(lambda: f.read(1 << 20), b""):
            h.update(c)
    return h.hexdigest()
def kind(m):
    for t, n in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"),
                 (stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"),
                 (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "chardev"),
                 (stat.S_ISBLK, "blockdev")):
        if t(m):
            return n
    return "?"
try:
    ea, eb = walk(a, False), walk(b, True)
except OSError as e:
    sys.exit("cannot walk: %s" % e)
for rel in sorted(set(ea) | set(eb)):
    name = rel or "."
    if rel not in eb:
        sys.exit("%s: only in %s" % (name, a))
    if rel not in ea:
        sys.exit("%s: only in %s" % (name, b))
    sa, sb = ea[rel], eb[rel]
    ka, kb = kind(sa.st_mode), kind(sb.st_mode)
    if ka != kb:
        sys.exit("%s: type %s vs %s" % (name, ka, kb))
    pa, pb = os.path.join(a, rel), os.path.join(b, rel)
    if ka != "symlink" and stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
        sys.exit("%s: mode %o vs %o" % (name, stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode)))
    if uid == 0 and (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
        sys.exit("%s: owner %d:%d vs %d:%d" % (name, sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid))
    if ka == "symlink":
        ta, tb = os.readlink(pa), os.readlink(pb)
        if ta != tb:
            sys.exit("%s: symlink target %r vs %r" % (name, ta, tb))
    if ka == "file":
        if sa.st_size != sb.st_size:
            sys.exit("%s: size %d vs %d" % (name, sa.st_size, sb.st_size))
        if digest(pa) != digest(pb):
            sys.exit("%s: content differs" % name)
    if sa.st_mtime_ns != sb.st_mtime_ns:
        sys.exit("%s: mtime %d.%09d vs %d.%09d" % (name, sa.st_mtime_ns // 10**9, sa.st_mtime_ns % 10**9,
                 sb.st_mtime_ns // 10**9, sb.st_mtime_ns % 10**9))
# hard-link grouping: the partition of non-directory paths by inode
def groups(e):
    g = {}
    for rel, st in e.items():
        if rel and not stat.S_ISDIR(st.st_mode):
            g.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return {rel: tuple(sorted(v)) for v in g.values() for rel in v}
ga, gb = groups(ea), groups(eb)
for rel in sorted(ga):
    if ga[rel] != gb.get(rel):
        sys.exit("%s: hard links %s vs %s" % (rel, list(ga[rel]), list(gb.get(rel, ()))))
EOF
}

# tree_sums DIR: "sha256  path" of every regular file below DIR (sorted,
# .mirrorfs at the top excluded).
tree_sums() {
	(cd "$1" && find . -path ./.mirrorfs -prune -o -type f -print0 |
		LC_ALL=C sort -z | xargs -0 -r sha256sum)
}
