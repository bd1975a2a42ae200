#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync: --exclude, --include, --exclude-from.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

# make_src: a small tree used by most cases.
make_src() {
	mkdir -p src/d/sub src/x/d/sub src/cache/inner src/logs
	local f
	for f in top.txt a.tmp keep.tmp d/top.txt d/b.tmp d/sub/s1 d/sub/s2 \
		x/d/sub/s3 x/c.tmp cache/c1 cache/inner/c2 logs/app.log logs/app.txt \
		d/q1 d/q22 d/fa d/fb d/fc; do
		printf '%s\n' "$f" >"src/$f"
	done
}

case_exclude_basename() {
	make_src
	t_ctl sync --json --exclude '*.tmp' src store
	assert_rc 0
	assert_missing store/a.tmp
	assert_missing store/keep.tmp
	assert_missing store/d/b.tmp
	assert_missing store/x/c.tmp
	assert_exists store/top.txt
	assert_exists store/d/top.txt
	assert_exists store/x/d/sub/s3
	CMP_IGNORE="a.tmp keep.tmp d/b.tmp x/c.tmp" assert_trees_eq src store
	# excluded entries are not part of the set: they are not counted
	local n
	n=$(find src -mindepth 1 ! -name '*.tmp' | wc -l)
	assert_json created "$n" skipped 0 failed 0
}

case_exclude_dir() {
	make_src
	t_ctl sync --exclude cache src store
	assert_rc 0
	assert_missing store/cache
	assert_exists store/logs/app.log
	CMP_IGNORE="cache" assert_trees_eq src store
}

case_exclude_path() {
	make_src
	# a pattern with '/' matches the path relative to SOURCE
	t_ctl sync --exclude 'd/sub' --exclude 'logs/*.log' src store
	assert_rc 0
	assert_missing store/d/sub
	assert_missing store/logs/app.log
	assert_exists store/logs/app.txt
	assert_exists store/d/top.txt
	assert_exists store/d/b.tmp
}

case_exclude_anchored() {
	make_src
	# a leading '/' anchors to the top of SOURCE
	t_ctl sync --exclude '/top.txt' src store
	assert_rc 0
	assert_missing store/top.txt
	assert_exists store/d/top.txt
	# without the '/', the basename matches at any depth
	t_ctl sync --exclude 'top.txt' src store2
	assert_rc 0
	assert_missing store2/top.txt
	assert_missing store2/d/top.txt
	assert_exists store2/d/b.tmp
}

case_wildcards() {
	make_src
	t_ctl sync --exclude 'q?' --exclude 'f[ab]' src store
	assert_rc 0
	assert_missing store/d/q1
	assert_exists store/d/q22
	assert_missing store/d/fa
	assert_missing store/d/fb
	assert_exists store/d/fc
}

case_include_first_match() {
	make_src
	# re-include before the exclude: keep.tmp is sent
	t_ctl sync --include keep.tmp --exclude '*.tmp' src store
	assert_rc 0
	assert_exists store/keep.tmp
	assert_file_eq src/keep.tmp store/keep.tmp
	assert_missing store/a.tmp
	assert_missing store/d/b.tmp
	# the other order: the exclude matches first, keep.tmp is not sent
	t_ctl sync --exclude '*.tmp' --include keep.tmp src store2
	assert_rc 0
	assert_missing store2/keep.tmp
	assert_missing store2/a.tmp
	assert_exists store2/top.txt
}

case_exclude_from() {
	make_src
	cat >rules <<'EOF'
# comments and blank lines are ignored

*.tmp
cache

/top.txt
EOF
	t_ctl sync --json --exclude-from rules src store
	assert_rc 0
	assert_missing store/a.tmp
	assert_missing store/d/b.tmp
	assert_missing store/cache
	assert_missing store/top.txt
	assert_exists store/d/top.txt
	assert_exists store/logs/app.log
	assert_json failed 0 skipped 0
	# a line '# comments...' is not a pattern: a file of that name is sent
	printf 'c\n' >'src/# comments and blank lines are ignored'
	t_ctl sync --exclude-from rules src store
	assert_rc 0
	assert_exists 'store/# comments and blank lines are ignored'
}

case_excluded_unchanged_on_resync() {
	make_src
	t_ctl sync --exclude '*.tmp' src store
	assert_rc 0
	printf 'changed\n' >src/a.tmp
	t_ctl sync --json --exclude '*.tmp' src store
	assert_rc 0
	assert_json created 0 replaced 0
	assert_missing store/a.tmp
}

t_case "--exclude GLOB without / matches the basename at any depth" case_exclude_basename
t_case "an excluded directory excludes everything below it" case_exclude_dir
t_case "--exclude with / matches the path relative to SOURCE" case_exclude_path
t_case "--exclude /NAME is anchored at the top" case_exclude_anchored
t_case "? and [..] wildcards" case_wildcards
t_case "--include re-includes; first matching rule wins" case_include_first_match
t_case "--exclude-from reads globs, ignores comments and blank lines" case_exclude_from
t_case "excluded files stay out on re-sync" case_excluded_unchanged_on_resync
t_done
