#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# A new directory (in one the store has) is staged whole, every entry of
# its tree in place, and put in place by one rename at the commit: the
# tree appears whole with that one journal record, with every type of
# entry, hard links into, out of and within it, modes, owners, extended
# attributes and mtimes as rsync keeps them; a crash before the
# commit point leaves no trace of it, one after rolls it forward (t0420
# keeps and resumes the files of a session cut inside a new tree). A
# directory a user makes at the tree's place through an rw mount during
# the session is left as it is (the tree fails, naming why; the next
# sync fills it), and a path too long to stage inside the tree is staged
# on its own.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup
COMPARE="python3 $T_ROOT/tests/fidelity.py"

# assert_mirror SRC STORE
assert_mirror() {
	$COMPARE "$1" "$2" >compare.out 2>&1 || {
		cat compare.out >&2
		t_fail "$2 is not $1: $(head -n 4 compare.out | tr '\n' ';')"
	}
}

# old_release: src with one directory the store gets first (old/).
old_release() {
	mkdir -p src/old
	echo "kept" >src/old/kept
	echo "linked" >src/old/target
}

# file_of I: where new_tree puts file I.
file_of() {
	local d="src/new/d$(($1 % 3))/s$(($1 / 3 % 3))"
	[ $(($1 % 4)) -eq 0 ] && d="$d/deep"
	echo "$d/f$1"
}

# new_tree: src/new, a tree of every kind of entry, 120 files in 19
# directories, with hard links within it, into it from old/ and from it
# to old/, and its own modes, owners, attributes and mtimes.
new_tree() {
	local d i
	for d in 0 1 2; do
		for i in 0 1 2; do
			mkdir -p "src/new/d$d/s$i/deep"
		done
	done
	mkdir -p src/new/empty
	for i in $(seq 120); do
		head -c "$((i * 37))" /dev/urandom >"$(file_of "$i")"
	done
	ln -s ../../old/kept src/new/d0/link
	mkfifo src/new/d1/fifo
	ln "$(file_of 3)" src/new/d2/hl-within
	ln src/old/target src/new/d1/hl-out
	ln "$(file_of 5)" src/old/hl-in
	chmod 0750 src/new/d1
	chmod 0700 src/new/d2/s2/deep
	chown 1234:5678 src/new/d0/s1 "$(file_of 4)"
	setfattr -n user.tag -v tree src/new/d2
	find src -exec touch -h -d "@1600000000" {} +
	touch -d "@1500000000" src/new src/new/d1
}

# synced_store: store holds the old release.
synced_store() {
	old_release
	t_ctl sync src store
	assert_rc 0 "the first sync"
	new_tree
}

case_whole() {
	synced_store
	# Stopped after the first record it carries out: the tree is there whole.
	MIRRORFS_STOP_AT=commit:1 "$MIRRORCTL" sync src store >sync.out 2>&1 &
	local pid=$!
	t_track "$pid"
	wait_stopped "$pid" || t_fail "the sync did not stop in its commit: $(cat sync.out)"
	assert_eq "$(find src/new -type f | wc -l)" "$(find store/new -type f | wc -l)" \
		"files in store/new after the commit's first record"
	local f
	f=$(file_of 120)
	assert_file_eq "$f" "store/${f#src/}"
	kill -CONT "$pid"
	wait "$pid" || t_fail "the sync exited $?: $(cat sync.out)"
	t_untrack "$pid"
	assert_mirror src store
	assert_no_litter store
}

case_crash_before() {
	synced_store
	MIRRORFS_CRASH_AT=staging:60 t_ctl sync src store
	assert_rc 137 "a crash while the tree is staged"
	t_ctl recover store
	assert_rc 0 "recover"
	# Every entry of the tree counts, not the tree as one.
	local n
	n=$(sed -n 's/.*rolled back, \([0-9]*\) staged entries discarded.*/\1/p' "$TC/err")
	[ "${n:-0}" -ge 60 ] || t_fail "recover counted ${n:-no} staged entries, not the 60 files staged and their directories"
	assert_missing store/new
	assert_no_litter store
	t_ctl sync src store
	assert_rc 0 "the sync after"
	assert_mirror src store
}

case_crash_after() {
	local point
	for point in journal commit:1 commit:3; do
		rm -rf src store
		synced_store
		MIRRORFS_CRASH_AT=$point t_ctl sync src store
		assert_rc 137 "a crash at $point"
		t_ctl recover store
		assert_rc 0 "recover after $point"
		assert_no_litter store
		assert_mirror src store
	done
}

# A user makes new/ through an rw mount (the store's master) while the
# sync waits after its first file, works in it and leaves a file there.
case_made_meanwhile() {
	local pid before
	synced_store
	mount_store store mnt -o rw
	MIRRORFS_STOP_AT=send:1 "$MIRRORCTL" sync -i src store >sync.out 2>&1 &
	pid=$!
	t_track "$pid"
	wait_stopped "$pid" || t_fail "the sync did not stop after its first file: $(cat sync.out)"
	mkdir mnt/new
	chmod 0700 mnt/new
	echo mine >mnt/new/mine
	before=$(stat -c '%i %a' store/new)
	kill -CONT "$pid"
	RC=0
	wait "$pid" || RC=$?
	t_untrack "$pid"
	[ "$RC" -ne 0 ] || t_fail "the sync reports success: $(tail -n 3 sync.out)"
	assert_grep 'fail +new/: commit: a directory was made there during the session' sync.out
	assert_eq "$before" "$(stat -c '%i %a' store/new)" "store/new (inode, mode) after the sync"
	assert_eq mine "$(cat mnt/new/mine)"
	assert_eq 2 "$(find store/new | wc -l)" "entries of store/new and itself"
	assert_no_litter store
	# The next sync syncs into the directory the user made.
	t_ctl sync src store
	assert_rc 0 "the sync after"
	assert_eq mine "$(cat store/new/mine)"
	rm store/new/mine
	assert_mirror src store
}

# Inside a tree a path is staged as "tI/" and its path below the tree's
# top: where that would reach PATH_MAX the entry is staged on its own.
case_long_paths() {
	old_release
	t_ctl sync src store
	assert_rc 0 "the first sync"
	python3 - src/n <<'EOF'
import os, sys
top = sys.argv[1]
os.makedirs(top)
fd = os.open(top, os.O_RDONLY)
path = len(top.split("/", 1)[1])	# "n", below src/
depth = 0
while path + 1 + 250 < 4060:
	name = "d%03d" % depth + "q" * 246
	os.mkdir(name, dir_fd=fd)
	nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
	os.close(fd)
	fd = nfd
	path += 1 + len(name)
	depth += 1
for extra in (4094, 4095):	# the whole path's length, below src/
	name = "x" * (extra - path - 1)
	f = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
	os.write(f, b"deep\n")
	os.close(f)
EOF
	t_ctl sync src store
	assert_rc 0 "a tree holding paths of 4094 and 4095 bytes"
	# Compared through directory descriptors: the paths are too long to name.
	python3 - src store <<'EOF' || t_fail "store is not src below n/"
import os, stat, sys
def walk(fd, rel, out):
	for name in sorted(os.listdir(fd)):
		st = os.lstat(name, dir_fd=fd)
		key = rel + "/" + name
		if stat.S_ISDIR(st.st_mode):
			out[key] = "dir"
			sub = os.open(name, os.O_RDONLY, dir_fd=fd)
			walk(sub, key, out)
			os.close(sub)
		else:
			f = os.open(name, os.O_RDONLY, dir_fd=fd)
			out[key] = os.read(f, 1 << 20)
			os.close(f)
trees = []
for top in sys.argv[1:]:
	out = {}
	fd = os.open(os.path.join(top, "n"), os.O_RDONLY)
	walk(fd, "n", out)
	trees.append(out)
if trees[0] != trees[1]:
	sys.exit("differ: %s" % sorted(set(trees[0].items()) ^ set(trees[1].items()))[:2])
print("%d entries below n/ alike" % len(trees[0]))
EOF
	assert_no_litter store
}

# Two trees past the commit point, and somebody makes both places (with
# a file, a directory and their own modes) before recovery: recovery
# puts neither tree there and touches nothing of theirs.
case_recovery_leaves_theirs() {
	local t
	mkdir -p src
	echo base >src/base
	t_ctl sync src store
	assert_rc 0 "the first sync"
	for t in A B; do
		mkdir -p "src/$t/sub"
		echo new >"src/$t/sub/f"
		touch -d 2001-01-01 "src/$t/sub" "src/$t"
	done
	MIRRORFS_CRASH_AT=journal t_ctl sync src store
	assert_rc 137 "a crash at the commit point"
	for t in A B; do
		mkdir -p "store/$t/sub"
		echo mine >"store/$t/mine"
		chmod 0700 "store/$t" "store/$t/sub"
		touch -d 2020-05-05 "store/$t/sub" "store/$t"
	done
	stat -c '%n %a %Y' store/A store/A/sub store/B store/B/sub >before.txt
	t_ctl recover store
	assert_rc 0 "recover"
	stat -c '%n %a %Y' store/A store/A/sub store/B store/B/sub >after.txt
	cmp -s before.txt after.txt || t_fail "recovery changed theirs: $(diff before.txt after.txt | tr '\n' ';')"
	assert_missing store/A/sub/f
	assert_missing store/B/sub/f
	assert_no_litter store
}

t_case "a new tree appears whole with its one record, as the source has it" case_whole
t_case "a crash while a new tree is staged leaves no trace of it" case_crash_before
t_case "a crash past the commit point puts the new tree in place" case_crash_after
t_case "a directory made at a new tree's place meanwhile is left as it is" case_made_meanwhile
t_case "paths too long to stage inside a new tree are staged on their own" case_long_paths
t_case "recovery puts no tree where somebody made its place" case_recovery_leaves_theirs
t_done
