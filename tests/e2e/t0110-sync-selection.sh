#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync: --exclude, --include, --exclude-from, --filter.
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

# rsync_copy RULES DEST: what rsync sends of src with the exclude file RULES.
rsync_copy() {
	command -v rsync >/dev/null || t_skip "rsync is not installed"
	rsync -a --exclude-from="$1" src/ "$2/" || t_fail "rsync failed"
}

# selection DIR: each entry below DIR (not .mirrorfs) with its type, size
# and content: what the rules selected, whatever times rsync set (with
# --exclude-from it sometimes leaves a directory at the time it made it).
selection() {
	(cd "$1" && find . -path ./.mirrorfs -prune -o -mindepth 1 -printf '%P %y %s\n' |
		LC_ALL=C sort && find . -path ./.mirrorfs -prune -o -type f -print0 |
		LC_ALL=C sort -z | xargs -0 -r md5sum)
}

# same_selection A B: A and B hold the same entries.
same_selection() {
	selection "$1" >"$TC/sel.a"
	selection "$2" >"$TC/sel.b"
	diff -u "$TC/sel.a" "$TC/sel.b" >&2 || t_fail "'$1' and '$2' hold different entries"
}

case_exclude_from_rsync_rules() {
	make_src
	# rsync's filter lines: the first that matches wins, as in rsync
	cat >rules <<'EOF'
# keep.tmp is sent, the other .tmp files are not
+ keep.tmp
- *.tmp
- sub/s1
exclude /cache/
logs/*.log
EOF
	t_ctl sync --json --exclude-from rules src store
	assert_rc 0
	assert_exists store/keep.tmp
	assert_file_eq src/keep.tmp store/keep.tmp
	assert_missing store/a.tmp
	assert_missing store/d/b.tmp
	assert_missing store/x/c.tmp
	# a rule's pattern with an inner '/' matches at the end of the path
	assert_missing store/d/sub/s1
	assert_exists store/d/sub/s2
	assert_missing store/cache
	# a plain line is an exclude glob, matched from the top of SOURCE
	assert_missing store/logs/app.log
	assert_exists store/logs/app.txt
	assert_json failed 0 skipped 0
	# rsync sends exactly the same for rules in its own syntax (its exclude
	# files know "- " and "+ " only; its --filter takes "exclude " too)
	printf -- '+ keep.tmp\n- *.tmp\n- sub/s1\n- /cache/\n- /logs/*.log\n' >rsync-rules
	t_ctl sync --exclude-from rsync-rules src store2
	assert_rc 0
	rsync_copy rsync-rules rs
	same_selection rs store2
	# the other order: '- *.tmp' matches keep.tmp first, in rsync too
	printf -- '- *.tmp\n+ keep.tmp\n' >rules2
	t_ctl sync --exclude-from rules2 src store3
	assert_rc 0
	assert_missing store3/keep.tmp
	rsync_copy rules2 rs2
	same_selection rs2 store3
}

case_filter_rules() {
	make_src
	# only the directories and the .txt files, as with rsync's --filter
	t_ctl sync --filter '+ */' --filter '+ *.txt' --filter '- *' src store
	assert_rc 0
	assert_exists store/top.txt
	assert_exists store/d/top.txt
	assert_exists store/logs/app.txt
	assert_missing store/logs/app.log
	assert_missing store/a.tmp
	assert_missing store/d/sub/s1
	assert_exists store/x/d/sub
	# '**' crosses directories; '*' does not
	t_ctl sync --filter '- x/**/s3' --exclude 'd/*/s2' src store2
	assert_rc 0
	assert_missing store2/x/d/sub/s3
	assert_exists store2/d/sub/s1
	assert_missing store2/d/sub/s2
	assert_exists store2/x/c.tmp
}

case_bad_rules_are_errors() {
	make_src
	# a plain glob is no rule for --filter
	t_ctl sync --filter '*.tmp' src store
	assert_rc 2
	assert_grep "--filter: '\*\.tmp' is no rule: write '- \*\.tmp'" "$TC/err"
	assert_missing store
	# a line that is neither a rule nor a glob names the file and the line
	printf -- '+ keep.tmp\n# fine\n-*.tmp\n' >rules
	t_ctl sync --exclude-from rules src store
	assert_rc 2
	assert_grep "^mirrorctl: rules:3: '-\*\.tmp' is no rule" "$TC/err"
	assert_missing store
	printf -- 'merge other-rules\n' >rules
	t_ctl sync --exclude-from rules src store
	assert_rc 2
	assert_grep "rules:1: 'merge other-rules': rsync's 'merge' rule is not supported" "$TC/err"
	printf -- 'ok\nbad[x\n' >rules
	t_ctl sync --exclude-from rules src store
	assert_rc 2
	assert_grep "rules:2: 'bad\[x': an unclosed '\['" "$TC/err"
	t_ctl sync --exclude 'a[b' src store
	assert_rc 2
	assert_grep "--exclude 'a\[b': an unclosed '\['" "$TC/err"
	assert_missing store
}

t_case "--exclude GLOB without / matches the basename at any depth" case_exclude_basename
t_case "an excluded directory excludes everything below it" case_exclude_dir
t_case "--exclude with / matches the path relative to SOURCE" case_exclude_path
t_case "--exclude /NAME is anchored at the top" case_exclude_anchored
t_case "? and [..] wildcards" case_wildcards
t_case "--include re-includes; first matching rule wins" case_include_first_match
t_case "--exclude-from reads globs, ignores comments and blank lines" case_exclude_from
t_case "excluded files stay out on re-sync" case_excluded_unchanged_on_resync
t_case "--exclude-from reads rsync's '+ '/'- ' rules as rsync does" case_exclude_from_rsync_rules
t_case "--filter RULE, '**'" case_filter_rules
t_case "a line that is neither a rule nor a glob is an error naming its line" case_bad_rules_are_errors
t_done
