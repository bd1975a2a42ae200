#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# rsync's -i/--itemize-changes (each string compared with what a real
# rsync -ai writes for the same change) and --mkpath.
set -u
T_TIMEOUT=${T_TIMEOUT:-120}
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
# The strings are checked against rsync's own (.ci/run installs it).
command -v rsync >/dev/null || { echo "ok - t0116: # SKIP rsync is not installed"; exit 0; }
t_setup

# itemized FILE: the itemize lines of a mirrorctl or rsync output, sorted
# (rsync lists deletions per directory, mirrorctl after the entries).
itemized() {
	grep -E '^([<>ch.][fdLDS][.+cstpogux]{9}|\*deleting  ) ' "$1" | LC_ALL=C sort
}

# assert_line LINE FILE: FILE has exactly this line.
assert_line() {
	grep -qxF -- "$1" "$2" || {
		cat "$2" >&2
		t_fail "no line of $2 is '$1'"
	}
}

# same_as_rsync RSYNC-OPTS -- MIRRORCTL-OPTS: syncs src into rcopy with
# rsync -ai and into store with mirrorctl sync -i; the lines must match.
same_as_rsync() {
	local ropts=() mopts=()
	while [ "$1" != -- ]; do ropts+=("$1"); shift; done
	shift
	mopts=("$@")
	rsync -ai "${ropts[@]}" src/ rcopy/ >"$TC/rsync.out"
	t_ctl sync -i "${mopts[@]}" src store
	assert_rc 0 "mirrorctl sync -i"
	# mirrorctl removes a purged directory as a whole, in one line; rsync
	# lists what was inside it first (mirrorctl(8) says so).
	itemized "$TC/rsync.out" | python3 -c '
import sys
lines = sys.stdin.read().splitlines()
dirs = [l[12:] for l in lines if l.startswith("*deleting") and l.endswith("/")]
for l in lines:
    if not (l.startswith("*deleting") and
            any(l[12:] != d and l[12:].startswith(d) for d in dirs)):
        print(l)' >"$TC/want"
	itemized "$TC/out" >"$TC/got"
	[ -s "$TC/want" ] || t_fail "rsync itemized nothing"
	diff -u "$TC/want" "$TC/got" >&2 ||
		t_fail "mirrorctl -i differs from rsync -ai ${ropts[*]}"
}

# A tree of each kind rsync -a copies (devices only as root).
make_kinds() {
	mkdir -p src/d/deep src/gone-dir/x rcopy store
	echo a >src/a && echo bb >src/d/b && echo c >src/d/deep/c
	echo t >src/same-size && echo p >src/perm && echo x >src/gone
	echo y >src/gone-dir/x/y && echo z >src/retype
	ln -s a src/l && ln -s d src/l2
	mkfifo src/fifo
	if t_is_root; then mknod src/null c 1 3; fi
	# Old times, so that a change now differs by seconds: rsync compares
	# whole seconds where mirrorctl compares nanoseconds.
	find src -exec touch -h -d '2000-01-01 00:00:00' {} +
}

case_created_entries() {
	make_kinds
	same_as_rsync --delete -- --delete
	assert_line '>f+++++++++ a' "$TC/out"
	assert_line 'cd+++++++++ d/' "$TC/out"
	assert_line 'cL+++++++++ l -> a' "$TC/out"
	assert_line 'cS+++++++++ fifo' "$TC/out"
	assert_trees_eq src store
}

case_changed_entries() {
	make_kinds
	rsync -a src/ rcopy/
	t_ctl sync src store
	assert_rc 0
	echo more >>src/a				# size and time
	touch -d '2001-02-03 04:05:06' src/same-size	# time alone
	chmod 600 src/perm				# permissions alone
	ln -sfn d/b src/l				# a symlink's target
	touch -h -d '2002-01-01' src/l2			# a symlink's time
	touch -d '2003-01-01' src/d/deep		# a directory's time
	chmod 700 src/d					# a directory's mode
	rm src/gone && rm -r src/gone-dir		# purges
	rm src/retype && mkdir src/retype		# a file becomes a directory
	mkdir src/new && echo n >src/new/n		# created below a new one
	if t_is_root; then
		chown 1:2 src/null src/d/b		# owner and group
		chgrp 3 src/d/deep/c			# group alone
	fi
	# A dry run says what the session will do, in the same words.
	t_ctl sync -n -i --delete src store
	assert_rc 0
	itemized "$TC/out" >"$TC/dry"
	same_as_rsync --delete -- --delete
	diff -u "$TC/dry" "$TC/got" >&2 || t_fail "-n -i differs from -i"
	assert_line '>f.st...... a' "$TC/out"
	assert_line '>f..t...... same-size' "$TC/out"
	assert_line '.f...p..... perm' "$TC/out"
	assert_line 'cLc.t...... l -> d/b' "$TC/out"
	assert_line '.d..t...... ./' "$TC/out"
	assert_line '*deleting   gone-dir/' "$TC/out"
	assert_line 'cd+++++++++ retype/' "$TC/out"
	assert_trees_eq src store
	# Nothing left to change: nothing itemized, by either.
	rsync -ai --delete src/ rcopy/ >"$TC/rsync.out"
	t_ctl sync -i --delete src store
	assert_rc 0
	[ -z "$(itemized "$TC/rsync.out")" ] || t_fail "rsync itemized a second run"
	[ -z "$(itemized "$TC/out")" ] || t_fail "a second -i run itemized: $(itemized "$TC/out")"
}

case_checksum_column() {
	mkdir -p src rcopy store
	echo aaaa >src/f
	touch -d '2004-01-01' src/f src
	rsync -a src/ rcopy/
	t_ctl sync src store
	echo bbbb >src/f				# same size, same time
	touch -d '2004-01-01' src/f src
	same_as_rsync -c -- -c
	assert_line '>fc........ f' "$TC/out"
}

case_hard_link() {
	mkdir -p src store
	echo a >src/a && ln src/a src/h
	t_ctl sync -i src store
	assert_rc 0
	# rsync -aiH names the pair the same way ("hf+++++++++ NAME => FIRST").
	assert_line '>f+++++++++ a' "$TC/out"
	assert_line 'hf+++++++++ h => a' "$TC/out"
	# -i is documented, and only -i prints the strings.
	t_ctl sync -v src store
	assert_not_grep '^[.>ch][fdLDS][.+cstpogux]\{9\} ' "$TC/out"
	assert_grep 'YXcstpoguax' "$T_ROOT/docs/man/mirrorctl.8"
}

case_mkpath_local() {
	mkdir -p src && echo a >src/a
	# As rsync: without --mkpath a missing parent is an error naming it.
	t_ctl sync src "$TC/no/such/store"
	assert_rc 3 "sync into a store whose parent is missing"
	assert_line "mirrorctl: $TC/no/such/store: cannot create store: its parent directory does not exist (--mkpath creates it)" "$TC/err"
	assert_missing "$TC/no"
	# A dry run with --mkpath makes nothing either.
	t_ctl sync -n --mkpath src "$TC/no/such/store"
	assert_rc 0
	assert_missing "$TC/no"
	t_ctl sync --mkpath src "$TC/no/such/store/"
	assert_rc 0 "sync --mkpath"
	assert_trees_eq src "$TC/no/such/store"
	# A parent that is a file is an error naming it.
	echo f >"$TC/file"
	t_ctl sync --mkpath src "$TC/file/sub/store"
	assert_rc 3
	assert_grep "cannot create $TC/file/sub" "$TC/err"
}

case_mkpath_ssh() {
	mkdir -p src "$TC/bin" && echo a >src/a
	make_rsh "$TC/bin/fake-ssh"
	t_ctl sync -e "$TC/bin/fake-ssh" src "ssh://host//$TC/far/away/store"
	assert_rc 3 "ssh:// sync into a missing parent"
	assert_grep "its parent directory does not exist" "$TC/err"
	assert_missing "$TC/far"
	t_ctl sync --mkpath -e "$TC/bin/fake-ssh" src "ssh://host//$TC/far/away/store"
	assert_rc 0 "ssh:// sync --mkpath"
	assert_line "mirrord --mkpath --serve '/$TC/far/away/store'" "$TC/rsh.argv"
	assert_trees_eq src "$TC/far/away/store"
}

t_case "-i: created entries as rsync -ai shows them" case_created_entries
t_case "-i: changes, purges and a retype as rsync -ai --delete; -n -i alike" case_changed_entries
t_case "-i -c: the checksum column as rsync -aic" case_checksum_column
t_case "-i: a hard link as rsync -aiH; only -i prints strings" case_hard_link
t_case "--mkpath into a local store; without it the parent is named" case_mkpath_local
t_case "--mkpath over ssh:// (mirrord --mkpath --serve)" case_mkpath_ssh
t_done
