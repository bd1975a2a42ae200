#!/bin/bash
# ssh destinations as people type them: the remote shell runs from an argv
# (no local shell), the remote command is quoted, host:path and
# ssh://user@host:port//path reach the remote shell as ssh expects, and
# names that could turn into options or commands are refused.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

# argv_of N: the Nth recorded argv of the stand-in, one word per line.
argv_of() {
	awk -v n="$1" '/^--- argv$/ { k++; next } /^--- end$/ { next } k == n' rsh.argv
}

case_hostile_paths() {
	generate_tree src 5 0
	mkdir bin d
	make_rsh bin/rsh
	# shellcheck disable=SC2016 # names that must stay literal
	local names=('s;touch pwned' 's$(touch pwned)' 's`touch pwned`' 's p'
		"s'q\"r" $'s\nn' 's&&touch pwned||x' 's>pwned' "s'\\''t" '-n')
	local name i=0
	for name in "${names[@]}"; do
		i=$((i + 1))
		t_ctl sync -e "$TC/bin/rsh" src "ssh://h//$TC/d/$name"
		assert_rc 0 "sync into '$name'"
		assert_trees_eq src "d/$name"
		# The remote command held the path in single quotes.
		assert_eq "mirrord --serve '/$TC/d/${name//\'/\'\\\'\'}'" \
			"$(argv_of "$i" | tail -n +2 | paste -sd$'\n')" "remote command for '$name'"
	done
	assert_missing pwned
	assert_missing d/pwned
	# Exactly those directories were made, nothing else.
	assert_eq "${#names[@]}" "$(find d -mindepth 1 -maxdepth 1 -printf x | wc -c)" "entries in d"
	# The same through the scp form and a relative path.
	(cd d && t_ctl sync -e "$TC/bin/rsh" "$TC/src" 'h:r;touch pwned')
	assert_rc 0
	assert_trees_eq src 'd/r;touch pwned'
	assert_missing d/pwned
}

case_argv() {
	generate_tree src 3 0
	mkdir bin
	make_rsh bin/rsh
	t_ctl sync -e "$TC/bin/rsh" src "host:$TC/a"
	assert_rc 0
	t_ctl sync -e "$TC/bin/rsh" src "deploy@host:$TC/b"
	assert_rc 0
	t_ctl sync -e "$TC/bin/rsh" src "ssh://deploy@host:2222//$TC/c"
	assert_rc 0
	# -e takes arguments, split into words without a shell, quotes as rsync.
	t_ctl sync -e "$TC/bin/rsh -o BatchMode=yes -i 'my key' -o \"User x\"" src "[::1]:$TC/e"
	assert_rc 0
	t_ctl sync --rsh "$TC/bin/rsh -p 22" src "ssh://host/rel"
	assert_rc 0
	assert_eq "$(printf '%s\n' host "mirrord --serve '$TC/a'")" "$(argv_of 1)" "host:path"
	assert_eq "$(printf '%s\n' -l deploy host "mirrord --serve '$TC/b'")" "$(argv_of 2)" "user@host:path"
	assert_eq "$(printf '%s\n' -p 2222 -l deploy host "mirrord --serve '/$TC/c'")" "$(argv_of 3)" "ssh://user@host:port//path"
	assert_eq "$(printf '%s\n' -o BatchMode=yes -i 'my key' -o 'User x' ::1 "mirrord --serve '$TC/e'")" \
		"$(argv_of 4)" "-e with arguments"
	# ssh://host/PATH is relative to the login directory, as in rsync.
	assert_eq "$(printf '%s\n' -p 22 host "mirrord --serve 'rel'")" "$(argv_of 5)" "relative path"
	for d in a b c e rel; do assert_trees_eq src "$d"; done
}

case_local_names_with_colons() {
	generate_tree src 3 0
	# As in rsync: a name with a colon is local behind a '/'.
	t_ctl sync src ./a:b
	assert_rc 0
	assert_trees_eq src a:b
	t_ctl sync src "$TC/c:d"
	assert_rc 0
	assert_trees_eq src c:d
	# Without one it is an ssh destination: never a local directory named so.
	t_ctl sync -e /nonexistent/rsh src host:app
	assert_rc 3
	assert_grep 'running the remote shell' "$TC/err"
	assert_missing host:app
}

case_refused() {
	generate_tree src 3 0
	mkdir bin
	make_rsh bin/rsh
	local bad
	# shellcheck disable=SC2016 # ${IFS} must reach mirrorctl unexpanded
	for bad in 'ssh://-oProxyCommand=touch${IFS}pwned/x' '-oProxyCommand=touch pwned:x' \
		'ssh://-l@host/x' 'ssh://a b/x' $'ssh://a\nb/x' $'u\tv@h:x' 'host::module' 'host:' \
		'ssh://host:99999//x' 'ssh://[::1/x'; do
		t_ctl sync -e "$TC/bin/rsh" src "$bad"
		assert_rc 2 "exit status for '$bad'"
		[ -s "$TC/err" ] || t_fail "no message for '$bad'"
	done
	assert_missing rsh.argv
	assert_missing pwned
	t_ctl sync src host::module
	assert_grep "rsync's daemon syntax" "$TC/err"
	t_ctl sync src 'ssh://-oProxyCommand=x/p'
	assert_grep "starts with '-'" "$TC/err"
	t_ctl sync -e "ssh 'unclosed" src host:x
	assert_rc 3
	assert_grep 'unterminated single quote' "$TC/err"
}

t_case "ssh:// paths with ; \$(...) \` spaces quotes newlines: exactly that path, no command" case_hostile_paths
t_case "host:path, user@host:path, ssh://user@host:2222//p and -e with arguments: the remote shell's argv" case_argv
t_case "a local name with a colon stays reachable as ./a:b; host:app is never a local directory" case_local_names_with_colons
t_case "users and hosts that would be options, blanks, control characters, rsync daemon syntax: refused" case_refused
t_done
