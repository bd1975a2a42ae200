#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync --report: lists what would be done, changes nothing.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

REPORT_SUMMARY='^report: created [0-9]+, replaced [0-9]+, purged [0-9]+, unchanged [0-9]+, skipped [0-9]+, failed [0-9]+, bytes sent [0-9]+ in [0-9]+\.[0-9]{2} s \([0-9.]+([KMGTP]iB|B)/s\)$'

# make_mix: a store in sync with an old source, then a source with one of
# each: 2 creates (a file in a new directory counts with it: 3), 1 replace,
# 2 purges, 1 type change (a replace with purge, a skip without).
make_mix() {
	mkdir -p src/d src/conflict
	printf 'same\n' >src/same
	printf 'old\n' >src/mod
	printf 'gone\n' >src/gone
	printf 'gone2\n' >src/d/gone2
	printf 'c\n' >src/conflict/inner
	t_ctl sync src store
	assert_rc 0
	printf 'new content\n' >src/mod
	printf 'n\n' >src/new
	mkdir src/newdir
	printf 'nf\n' >src/newdir/nf
	rm src/gone src/d/gone2
	rm -r src/conflict
	printf 'now a file\n' >src/conflict
}

case_report_lists_and_changes_nothing() {
	make_mix
	local before after
	before=$(snapshot store)
	t_ctl sync --report src store
	assert_rc 1 "exit status of a report with a would-be skip"
	assert_grep '^skip    conflict/?: .+--purge replaces it' "$TC/out"
	t_ctl sync --report --purge src store
	assert_rc 0 "exit status of a report of a purge"
	after=$(snapshot store)
	assert_eq "$before" "$after" "store snapshot before/after --report"
	assert_grep '^create  new$' "$TC/out"
	assert_grep '^create  newdir/$' "$TC/out"
	assert_grep '^create  newdir/nf$' "$TC/out"
	assert_grep '^replace mod$' "$TC/out"
	assert_grep '^purge   gone$' "$TC/out"
	assert_grep '^purge   d/gone2$' "$TC/out"
	assert_grep '^replace conflict$' "$TC/out"
	assert_not_grep '^(create|replace|purge|skip) +same$' "$TC/out"
	assert_grep "$REPORT_SUMMARY" "$TC/out"
	assert_grep '^report: created 3, replaced 2, purged 2, unchanged [0-9]+, skipped 0, failed 0, ' "$TC/out"
	assert_eq "report: " "$(tail -n 1 "$TC/out" | cut -c1-8)" "last line starts with 'report: '"
	# the same again with --json; still nothing changes
	t_ctl sync -n --purge --json src store
	assert_rc 0
	assert_json report true created 3 replaced 2 purged 2 skipped 0 failed 0
	after=$(snapshot store)
	assert_eq "$before" "$after" "store snapshot before/after -n --json"
	# and the real run does what was reported
	t_ctl sync --purge --json src store
	assert_rc 0
	assert_json report false created 3 replaced 2 purged 2 skipped 0 failed 0
	assert_eq 'new content' "$(cat store/mod)" "replaced file"
	assert_missing store/gone
	assert_missing store/d/gone2
	assert_exists store/newdir/nf
	assert_eq 'now a file' "$(cat store/conflict)" "the directory replaced by a file"
}

case_report_clean() {
	mkdir src
	printf 'a\n' >src/a
	t_ctl sync src store
	assert_rc 0
	printf 'b\n' >src/b
	local before
	before=$(snapshot store)
	t_ctl sync --report --json src store
	assert_rc 0 "exit status of a report with nothing to skip"
	assert_json report true created 1 replaced 0 purged 0 unchanged 1 skipped 0 failed 0
	assert_eq "$before" "$(snapshot store)" "store snapshot"
	assert_missing store/b
	# without --purge a report never lists purges
	rm src/a
	t_ctl sync --report src store
	assert_rc 0
	assert_not_grep '^purge ' "$TC/out"
	assert_grep '^create  b$' "$TC/out"
	assert_eq "$before" "$(snapshot store)" "store snapshot"
}

case_report_new_store() {
	generate_tree src 10 0
	local n
	n=$(count_entries src)
	t_ctl sync --report --json src store
	assert_rc 0
	assert_json report true created "$n"
	assert_missing store
	t_ctl sync --report src store
	assert_rc 0
	assert_eq "$n" "$(grep -c '^create  ' "$TC/out")" "number of create lines"
	assert_grep '^create  a/b/c/$' "$TC/out"
	assert_grep '^create  empty dir/$' "$TC/out"
	assert_grep '^create  a/rel link$' "$TC/out"
	assert_missing store
}

case_report_purge_dirs() {
	mkdir -p src/keep
	printf 'k\n' >src/keep/k
	t_ctl sync src store
	assert_rc 0
	mkdir -p store/extra/sub
	printf 'x\n' >store/extra/sub/x
	printf 'y\n' >store/keep/y
	local before
	before=$(snapshot store)
	t_ctl sync --report --purge-dirs src store
	assert_rc 0
	assert_grep '^purge   keep/y$' "$TC/out"
	assert_grep '^purge   extra/' "$TC/out"
	assert_eq "$before" "$(snapshot store)" "store snapshot"
}

case_report_checksum() {
	mkdir src
	printf 'AAAA' >src/f
	touch -d @1600000000 src/f
	t_ctl sync src store
	assert_rc 0
	printf 'BBBB' >src/f
	touch -d @1600000000 src/f
	local before
	before=$(snapshot store)
	t_ctl sync --report src store
	assert_rc 0
	assert_not_grep '^replace f$' "$TC/out"
	t_ctl sync --report -c src store
	assert_rc 0
	assert_grep '^replace f$' "$TC/out"
	assert_eq "$before" "$(snapshot store)" "store snapshot"
}

t_case "--report lists create/replace/purge/skip and changes nothing" case_report_lists_and_changes_nothing
t_case "--report with nothing to skip exits 0" case_report_clean
t_case "--report into a missing STORE does not create it" case_report_new_store
t_case "--report --purge-dirs lists purges, changes nothing" case_report_purge_dirs
t_case "--report -c finds same-size same-mtime changes" case_report_checksum
t_done
