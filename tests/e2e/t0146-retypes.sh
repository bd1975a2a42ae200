#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# Releases that change an entry's type: with --purge / --purge-dirs the
# store is the source's mirror (a file, a symlink, a directory tree, a FIFO
# replace each other in the commit, atomically, recoverably); without purge
# the entry is skipped, naming the option. Python's sysconfigdata module, a
# file in one release and a symlink in the next, imports through the mount.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup
# shellcheck disable=SC2034 # read by t_case (tests/lib.sh)
T_TIMEOUT=${T_TIMEOUT_RETYPES:-240}
COMPARE="python3 $T_ROOT/tests/fidelity.py"

# release DIR K: release K of a tree whose entries e0..e4 change type with K.
release() {
	local d=$1 k=$2 j kind
	rm -rf "$d"
	mkdir -p "$d/keep"
	echo "release $k" >"$d/keep/VERSION"
	for j in 0 1 2 3 4; do
		kind=$(((k + j) % 4))
		case $kind in
		0) echo "file $k.$j" >"$d/e$j" ;;
		1) ln -s "keep/VERSION" "$d/e$j" ;;
		2)
			mkdir -p "$d/e$j/sub/deeper"
			echo "in a tree $k" >"$d/e$j/sub/deeper/f"
			ln -s ../.. "$d/e$j/sub/up"
			echo "top $k" >"$d/e$j/top"
			;;
		3) mkfifo "$d/e$j" ;;
		esac
	done
	# Every release's entries get distinct mtimes, so each sync has work.
	find "$d" -exec touch -h -d "@$((1600000000 + k * 100))" {} +
}

# assert_mirror SRC STORE
assert_mirror() {
	$COMPARE "$1" "$2" >compare.out 2>&1 || {
		cat compare.out >&2
		t_fail "$2 is not $1: $(head -n 4 compare.out | tr '\n' ';')"
	}
}

case_ten_releases() {
	local k
	for k in $(seq 0 9); do
		release src "$k"
		t_ctl sync --json --purge-dirs src store
		assert_rc 0 "release $k"
		assert_json failed 0 skipped 0
		assert_mirror src store
		assert_no_litter store
	done
	# With --purge alone too.
	release src 10
	t_ctl sync --json --purge src store
	assert_rc 0
	assert_mirror src store
}

case_without_purge() {
	release src 0
	t_ctl sync src store
	assert_rc 0
	release src 1
	t_ctl sync --json src store
	assert_rc 1
	assert_json failed 0
	assert_grep 'e0.*type conflict: the source has a symlink, the store has a file [(]--purge replaces it[)]' out
	assert_grep 'e2.*the source has a fifo, the store has a directory [(]--purge replaces it[)]' out
	# Reported, not done: the old entries stand.
	[ -f store/e0 ] || t_fail "e0 was replaced without purge"
	[ -d store/e2/sub/deeper ] || t_fail "e2's tree was touched without purge"
	t_ctl sync --json --report --purge src store
	assert_rc 0
	[ -f store/e0 ] || t_fail "a report changed e0"
	t_ctl sync --purge src store
	assert_rc 0
	assert_mirror src store
}

# Python 3.11.2's sysconfigdata is a symlink, 3.11.7's a file (and back).
case_python_sysconfigdata() {
	local mod=_sysconfigdata__linux_x86_64-linux-gnu
	mkdir -p a/lib b/lib
	printf 'build_time_vars = {"VERSION": "3.11.2"}\n' >a/lib/_sysconfigdata_real.py
	ln -s _sysconfigdata_real.py "a/lib/$mod.py"
	printf 'build_time_vars = {"VERSION": "3.11.7"}\n' >"b/lib/$mod.py"
	t_ctl sync --purge a store
	assert_rc 0
	mount_store store mnt
	check() {
		python3 -B -c 'import importlib, sys; sys.path.insert(0, sys.argv[1]);
print(importlib.import_module(sys.argv[2]).build_time_vars["VERSION"])' "mnt/lib" "$mod"
	}
	assert_eq 3.11.2 "$(check)"
	t_ctl sync --json --purge b store
	assert_rc 0
	assert_json replaced 1 purged 1
	assert_eq 3.11.7 "$(check)"
	t_ctl sync --json --purge a store
	assert_rc 0
	assert_eq 3.11.2 "$(check)"
	assert_mirror a store
}

# crash_at SPEC: a commit from release 0 to 1 killed at SPEC, then recovered,
# is release 1 (the journal was written) or 0 (it was not), never a mix.
crash_at() {
	local spec=$1 expect
	rm -rf store
	cp -a store0 store
	MIRRORFS_CRASH_AT=$spec t_ctl sync --purge-dirs r1 store
	if [ "$RC" = 0 ]; then
		return 1	# past the last record: no crash happened
	fi
	assert_rc 137 "exit status at $spec"
	t_ctl recover store
	assert_rc 0 "recover after a crash at $spec"
	assert_no_litter store
	expect=r1
	$COMPARE r1 store >/dev/null 2>&1 || expect=r0
	assert_mirror "$expect" store
	echo "$spec: $expect" >>outcomes
	return 0
}

case_crash_in_a_retyping_commit() {
	local n
	release r0 0
	release r1 1
	t_ctl sync --purge-dirs r0 store0
	assert_rc 0
	crash_at staging
	crash_at swap
	crash_at swap:2
	crash_at journal
	for n in $(seq 1 40); do
		crash_at "commit:$n" || break
	done
	[ "$n" -gt 5 ] || t_fail "the commit had only $((n - 1)) records"
	assert_grep '^staging: r0$' outcomes
	assert_grep '^swap: r1$' outcomes
	assert_grep '^commit:1: r1$' outcomes
}

t_case "ten releases alternate the types of five entries (--purge-dirs)" case_ten_releases
t_case "without purge a type change is reported, naming --purge" case_without_purge
t_case "a module that turns from a symlink into a file imports through the mount" case_python_sysconfigdata
t_case "a crash anywhere in a type-changing commit recovers to old or new" case_crash_in_a_retyping_commit
t_done
