#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync: first sync, re-sync, changes, counts, output format,
# nanosecond mtimes, owner, --checksum.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

# the summary ends with the time the session took and its rate
TOOK=' in [0-9]+\.[0-9]{2} s \([0-9.]+([KMGTP]iB|B)/s\)'
SUMMARY="^created [0-9]+, replaced [0-9]+, purged [0-9]+, unchanged [0-9]+, skipped [0-9]+, failed [0-9]+, bytes sent [0-9]+$TOOK\$"

# summary_field NAME: the number after NAME in the summary line of $TC/out.
summary_field() {
	grep -E "$SUMMARY" "$TC/out" | tail -n 1 | sed -E "s/.*$1 ([0-9]+).*/\\1/"
}

case_first_sync() {
	generate_tree src 60 2
	local n
	n=$(count_entries src)
	assert_missing store
	t_ctl sync --json src store
	assert_rc 0
	assert_trees_eq src store
	assert_exists store/.mirrorfs
	assert_no_litter store
	assert_json created "$n" replaced 0 purged 0 unchanged 0 skipped 0 failed 0 report false
	assert_json status ok error null
	# without -v the entries are the problems only: none
	assert_eq "[]" "$(jf entries)" entries
	assert_eq 1 "$(jtop version)" "JSON version"
	[ "$(jf bytes_sent)" -gt 0 ] || t_fail "bytes_sent is $(jf bytes_sent) after sending data"
	# hard links inside the set are hard links in the store
	assert_eq "$(stat -c %i store/a/hl1)" "$(stat -c %i store/d2/hl2)" "inode of the hard-link pair"
	assert_eq 3 "$(stat -c %h store/d2/sub/tri1)" "link count of the triple"
}

case_resync_unchanged() {
	generate_tree src 60 2
	local n s1 s2 first again
	n=$(count_entries src)
	t_ctl sync --json src store
	assert_rc 0
	first=$(jf bytes_sent)
	s1=$(snapshot src)
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 0 replaced 0 purged 0 unchanged "$n" skipped 0 failed 0
	# no file data is sent again (only the manifest may be)
	again=$(jf bytes_sent)
	[ "$again" -lt $((first / 10)) ] ||
		t_fail "bytes_sent of an unchanged re-sync is $again (first sync: $first)"
	assert_trees_eq src store
	s2=$(snapshot src)
	assert_eq "$s1" "$s2" "source snapshot (sync must not touch SOURCE)"
	# plain output: no per-entry lines, one summary line
	t_ctl sync src store
	assert_rc 0
	assert_grep "$SUMMARY" "$TC/out"
	assert_eq "created 0, replaced 0, purged 0, unchanged $n, skipped 0, failed 0, bytes sent" \
		"$(tail -n 1 "$TC/out" | sed -E "s# [0-9]+$TOOK\$##")" "summary line"
	assert_not_grep '^(create|replace|purge) ' "$TC/out"
	# -q is accepted and lists no entries either
	printf 'q\n' >src/quiet-new
	t_ctl sync -q src store
	assert_rc 0
	assert_not_grep '^(create|replace|purge) ' "$TC/out"
	assert_file_eq src/quiet-new store/quiet-new
}

case_changes() {
	generate_tree src 30 1
	t_ctl sync src store
	assert_rc 0
	local n
	n=$(count_entries src)
	# content and size change, mode only, mtime only, owner only (root),
	# one new file, one new directory holding one file.
	printf 'new content\n' >src/d2/file5
	chmod 0700 "src/x%y/x.txt8"
	touch -d '@1700000000.000000001' "src/a/file with spaces1"
	mkdir src/newdir
	printf 'hello\n' >src/newdir/f
	printf 'top\n' >src/newtop
	local replaced=3
	if t_is_root; then
		chown 1234:1234 src/a/b/-dash2
		replaced=4
	fi
	t_ctl sync -v --json src store
	assert_rc 0
	assert_json created 3 replaced "$replaced" purged 0 skipped 0 failed 0
	assert_json unchanged $((n - replaced))
	assert_trees_eq src store
	assert_grep '^create  newdir/$' "$TC/out"
	assert_grep '^create  newdir/f$' "$TC/out"
	assert_grep '^create  newtop$' "$TC/out"
	assert_grep '^replace d2/file5$' "$TC/out"
	assert_grep '^replace x%y/x\.txt8$' "$TC/out"
	assert_grep '^replace a/file with spaces1$' "$TC/out"
	assert_not_grep '^replace (a|d2|newdir)/$' "$TC/out"
	assert_eq "$(grep -cE '^(create|replace) ' "$TC/out")" $((3 + replaced)) "number of create/replace lines"
}

case_verbose_lines() {
	mkdir -p src/d/e
	printf 'x' >src/d/e/f
	printf 'y' >src/g
	t_ctl sync -v src store
	assert_rc 0
	assert_grep '^create  d/$' "$TC/out"
	assert_grep '^create  d/e/$' "$TC/out"
	assert_grep '^create  d/e/f$' "$TC/out"
	assert_grep '^create  g$' "$TC/out"
	assert_eq "created 4, replaced 0, purged 0, unchanged 0, skipped 0, failed 0, bytes sent" \
		"$(tail -n 1 "$TC/out" | sed -E "s# [0-9]+$TOOK\$##")" "summary line"
	# without -v, created entries are not listed
	printf 'z' >src/h
	t_ctl sync src store
	assert_rc 0
	assert_not_grep '^create ' "$TC/out"
	assert_grep "^created 1, replaced 0, purged 0, unchanged 4, skipped 0, failed 0, bytes sent [0-9]+$TOOK\$" "$TC/out"
}

case_nanoseconds() {
	mkdir -p src/d
	printf 'a' >src/d/f
	touch -d '@1500000000.123456789' src/d/f
	touch -d '@1500000001.987654321' src/d
	touch -d '@1500000002.000000007' src
	t_ctl sync src store
	assert_rc 0
	assert_eq "1500000000.123456789" "$(stat -c %.9Y store/d/f)" "file mtime"
	assert_eq "1500000001.987654321" "$(stat -c %.9Y store/d)" "directory mtime"
	assert_eq "1500000002.000000007" "$(stat -c %.9Y store)" "root mtime"
	# an mtime change of one nanosecond is a change
	touch -d '@1500000000.123456788' src/d/f
	t_ctl sync --json src store
	assert_rc 0
	assert_json replaced 1 unchanged 1
	assert_eq "1500000000.123456788" "$(stat -c %.9Y store/d/f)" "file mtime after re-sync"
}

case_root_not_counted() {
	mkdir src
	printf 'a' >src/f
	chmod 0750 src
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 1
	assert_eq 750 "$(stat -c %a store)" "mode of STORE"
	chmod 0705 src
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 0 replaced 0 unchanged 1
	assert_eq 705 "$(stat -c %a store)" "mode of STORE after chmod"
	assert_trees_eq src store
}

case_dir_mtime_only() {
	mkdir -p src/d
	printf 'a' >src/d/f
	t_ctl sync src store
	assert_rc 0
	touch -d '@1400000000.5' src/d
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 0 replaced 0 unchanged 2
	assert_eq "1400000000.500000000" "$(stat -c %.9Y store/d)" "directory mtime"
}

case_owner() {
	t_is_root || t_skip "not root"
	mkdir src
	printf 'a' >src/f
	printf 'b' >src/g
	ln -s g src/l
	chown 1234:1234 src/f
	chown -h 2345:3456 src/l
	chown 0:0 src/g
	t_ctl sync src store
	assert_rc 0
	assert_eq "1234:1234" "$(stat -c %u:%g store/f)" "owner of f"
	assert_eq "0:0" "$(stat -c %u:%g store/g)" "owner of g"
	assert_eq "2345:3456" "$(stat -c %u:%g store/l)" "owner of symlink l"
	assert_trees_eq src store
}

case_checksum() {
	mkdir src
	printf 'AAAA1111' >src/f
	printf 'keep' >src/g
	touch -d '@1600000000.25' src/f
	t_ctl sync src store
	assert_rc 0
	# same size, same mtime, different content
	printf 'BBBB2222' >src/f
	touch -d '@1600000000.25' src/f
	t_ctl sync --json src store
	assert_rc 0
	assert_json replaced 0 unchanged 2
	assert_eq "AAAA1111" "$(cat store/f)" "content without --checksum"
	t_ctl sync -c --json src store
	assert_rc 0
	assert_json replaced 1 unchanged 1 created 0
	assert_eq "BBBB2222" "$(cat store/f)" "content with -c"
	assert_trees_eq src store
	printf 'CCCC3333' >src/f
	touch -d '@1600000000.25' src/f
	t_ctl sync --checksum src store
	assert_rc 0
	assert_eq "CCCC3333" "$(cat store/f)" "content with --checksum"
	# with nothing changed, --checksum replaces nothing
	t_ctl sync -c --json src store
	assert_rc 0
	assert_json replaced 0 unchanged 2
}

case_source_slash() {
	generate_tree src 10 0
	t_ctl sync src/ store1
	assert_rc 0
	t_ctl sync "$TC/src" "$TC/store2/"
	assert_rc 0
	assert_trees_eq src store1
	assert_trees_eq src store2
	assert_missing store1/src
}

case_existing_store_kept() {
	generate_tree src 10 0
	mkdir store
	printf 'mine' >store/unrelated
	mkdir store/olddir
	t_ctl sync --json src store
	assert_rc 0
	assert_json purged 0 failed 0 skipped 0
	assert_eq mine "$(cat store/unrelated)" "unrelated store file"
	assert_exists store/olddir
	CMP_IGNORE="unrelated olddir" assert_trees_eq src store
}

case_large_file() {
	mkdir src
	head -c $((9 * 1024 * 1024 + 7)) /dev/urandom >src/big
	t_ctl sync --progress src store
	assert_rc 0
	assert_file_eq src/big store/big
	assert_trees_eq src store
}

t_case "first sync creates STORE and mirrors everything" case_first_sync
t_case "re-sync of an unchanged tree changes nothing" case_resync_unchanged
t_case "changed, new and re-moded entries are sent and counted" case_changes
t_case "-v lists created entries, directories end with /" case_verbose_lines
t_case "mtimes are mirrored to the nanosecond" case_nanoseconds
t_case "root mode/mtime mirrored, root never counted" case_root_not_counted
t_case "a directory differing only in mtime counts unchanged" case_dir_mtime_only
t_case "owner and group are mirrored (root)" case_owner
t_case "--checksum replaces same-size same-mtime changes" case_checksum
# A low ulimit -n: the commit cannot hold every staged file open to sync
# them together, so it syncs the filesystem instead of failing.
case_low_fd_limit() {
	mkdir src
	python3 -c 'import os
for i in range(300):
    open("src/f%03d" % i, "wb").write(os.urandom(5000))'
	(ulimit -n 100 && t_ctl sync src store && echo "$RC" >rc)
	assert_eq 0 "$(cat rc)" "exit status under ulimit -n 100: $(cat "$TC/err")"
	assert_trees_eq src store
	assert_no_litter store
	# Far lower: files fail one by one, each saying why, never the session.
	python3 -c 'import os
for i in range(300):
    open("src/f%03d" % i, "wb").write(os.urandom(8192))'
	local n
	for n in 28 36; do
		(ulimit -n "$n" && t_ctl sync src store && echo "$RC" >rc)
		[ "$(cat rc)" -le 1 ] || t_fail "ulimit -n $n: exit $(cat rc), the session failed: $(tail -n 3 "$TC/err")"
		assert_not_grep '^fail    [^:]*: *$' "$TC/out"
		assert_no_litter store
	done
	t_ctl sync src store
	assert_rc 0 "the sync after, without the limit"
	assert_trees_eq src store
}

t_case "SOURCE with or without trailing slash mirrors its contents" case_source_slash
t_case "existing STORE content is kept without purge" case_existing_store_kept
t_case "a 9 MiB file with --progress" case_large_file
t_case "a commit under ulimit -n 100 with 300 files staged" case_low_fd_limit
t_done
