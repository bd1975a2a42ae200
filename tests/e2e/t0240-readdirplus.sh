#!/bin/bash
# READDIRPLUS: listings with attributes through the mount, before and after
# syncs, across many reply buffers, and every lookup forgotten again.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

drop_caches() {
	sync
	echo "$1" >/proc/sys/vm/drop_caches
}

need_root() {
	t_is_root || t_skip "needs root (drop_caches)"
}

# long_names DIR N: N empty-ish files in DIR with 200-character names (a
# READDIRPLUS reply holds few of them), each a distinct size and mtime.
long_names() {
	python3 - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
pad = "n" * 190
for i in range(n):
    p = os.path.join(d, "%s%06d" % (pad, i))
    with open(p, "w") as f:
        f.write("x" * (i % 97))
    os.utime(p, ns=(1600000000 * 10**9 + i * 1001, 1600000000 * 10**9 + i * 1001))
PY
}

# lstat_all DIR: lstat every name of DIR as soon as readdir gives it (as
# ls -l does, batch by batch); prints the count.
lstat_all() {
	python3 - "$1" <<'PY'
import os, sys
n = 0
with os.scandir(sys.argv[1]) as it:
    for e in it:
        e.stat(follow_symlinks=False)
        n += 1
print(n)
PY
}

# node_fds PID STORE: descriptors the process holds on entries below STORE
# (not on STORE itself, nor in its .mirrorfs).
node_fds() {
	local top
	top=$(realpath "$2")
	find "/proc/$1/fd" -mindepth 1 -printf '%l\n' 2>/dev/null |
		awk -v top="$top/" -v meta="$top/.mirrorfs" '
			index($0, top) == 1 && index($0, meta) != 1 { n++ }
			END { print n + 0 }'
}

case_cold_listing_matches_store() {
	need_root
	generate_tree src 300 1
	t_ctl sync src store
	assert_rc 0
	# -d: the protocol trace shows which requests the listing cost.
	mount_store store mnt -d -o readdirplus
	drop_caches 3
	: >"$TC/mirrorfs.log"
	assert_listing_eq store mnt "cold"
	grep -q 'opcode: READDIRPLUS' mirrorfs.log || t_fail "no READDIRPLUS request was made"
	# Every attribute came with the listing: no LOOKUP round trip per file.
	local lookups
	lookups=$(grep -c 'opcode: LOOKUP' mirrorfs.log || true)
	assert_eq 0 "$lookups" "LOOKUP requests during a cold find -printf"
	assert_listing_eq store mnt "warm"
	ls -a mnt >ls.out
	assert_not_grep '^\.mirrorfs$' ls.out
	ls -la mnt >lsl.out
	assert_not_grep ' \.mirrorfs$' lsl.out
	[ -z "$(find mnt -name .mirrorfs)" ] || t_fail "find shows .mirrorfs through the mount"
	assert_trees_eq src mnt
}

# By default a listing carries attributes only while programs stat what
# they list: a names-only walk makes the kernel no inode per entry, and a
# walk that stats costs one LOOKUP per file only in the directories it
# read before its first stat showed.
case_attributes_on_demand() {
	need_root
	generate_tree src 300 1
	mkdir -p src/many
	long_names src/many/one 50
	long_names src/many/two 50
	long_names src/many/three 50
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt -d
	drop_caches 3
	: >"$TC/mirrorfs.log"
	find mnt -type f >/dev/null
	grep -q 'opcode: READDIRPLUS' mirrorfs.log || t_fail "no READDIRPLUS request was made"
	# The walk looks up the directories it goes down into, nothing else.
	local dirs lookups
	dirs=$(find src -mindepth 1 -type d | wc -l)
	lookups=$(grep -c 'opcode: LOOKUP' mirrorfs.log || true)
	[ "$lookups" -le "$dirs" ] || t_fail "$lookups LOOKUP requests during a cold find -type f over $dirs directories"
	# The listing made no inode: a stat asks for the name.
	: >"$TC/mirrorfs.log"
	stat mnt/a/b/c >/dev/null
	stat "mnt/$(cd src && find . -maxdepth 1 -type f | head -n 1)" >/dev/null
	grep -q 'opcode: LOOKUP' mirrorfs.log || t_fail "a stat after a names-only listing made no LOOKUP"
	# A walk that stats: LOOKUPs for the first directory or so, then none.
	drop_caches 3
	: >"$TC/mirrorfs.log"
	assert_listing_eq store mnt "cold, attributes on demand"
	lookups=$(grep -c 'opcode: LOOKUP' mirrorfs.log || true)
	[ "$lookups" -le 120 ] || t_fail "$lookups LOOKUP requests during a cold find -printf of $(find src | wc -l) entries: the listings did not carry attributes"
}

case_listing_follows_syncs() {
	need_root
	generate_tree src 200 0
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	drop_caches 3
	# Every name and attribute is now cached by the kernel (for a day).
	assert_listing_eq store mnt "before the sync"
	# Remove files, replace others (new size and mtime), add files, a
	# whole new directory, remove a directory.
	local f
	find src -type f -name 'file*' | LC_ALL=C sort >files.lst
	while IFS= read -r f; do rm -f "$f"; done < <(sed -n '1~9p' files.lst)
	while IFS= read -r f; do
		head -c $((RANDOM + 1)) /dev/urandom >"$f"
		touch -d @1700000002 "$f"
	done < <(sed -n '5~9p' files.lst)
	echo "new" >src/added && touch -d @1700000001 src/added
	mkdir -p src/newdir/deep && echo deep >src/newdir/deep/f
	mkdir -p "src/empty dir/now full" && echo full >"src/empty dir/now full/g"
	rm -rf "src/x%y"
	t_ctl sync -v --purge --purge-dirs src store
	assert_rc 0
	assert_grep '^replace ' "$TC/out"
	assert_grep '^purge ' "$TC/out"
	# Through the caches the kernel kept: the commit invalidated exactly.
	assert_listing_eq store mnt "right after the sync (warm)"
	assert_trees_eq src mnt
	drop_caches 3
	assert_listing_eq store mnt "after the sync (cold)"
	# And once more, now that READDIRPLUS filled the caches after the sync.
	echo "again" >src/added && touch -d @1700000003 src/added
	rm -f src/newdir/deep/f
	t_ctl sync --purge src store
	assert_rc 0
	assert_listing_eq store mnt "after a second sync"
	assert_trees_eq src mnt
}

case_directory_larger_than_a_reply() {
	need_root
	long_names src/big 5000
	echo small >src/other
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	drop_caches 3
	assert_listing_eq store mnt "5000 long names, cold"
	assert_eq 5000 "$(find mnt/big -type f | wc -l)" "files listed in mnt/big"
	assert_eq 5000 "$(lstat_all mnt/big)" "names stat'ed in mnt/big"
	drop_caches 3
	# A plain listing first (names only), then stat of every name.
	# shellcheck disable=SC2012 # ls itself is what is tested
	assert_eq 5000 "$(ls mnt/big | wc -l)" "names of ls mnt/big"
	assert_eq 5000 "$(lstat_all mnt/big)" "names stat'ed after ls"
	assert_listing_eq store mnt "5000 long names, warm"
}

# rewrite_all DIR: gives every file of DIR new contents of a new size (a
# sync then replaces each with a new inode).
rewrite_all() {
	python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
for i, n in enumerate(sorted(os.listdir(d))):
    with open(os.path.join(d, n), "a") as f:
        f.write("y" * (i % 13 + 1))
PY
}

# The kernel's inodes are index records: listings hold no descriptor per
# entry, and once drop_caches has made the kernel FORGET them, records
# of replaced files go and their numbers serve new files correctly.
case_forgets_keep_working() {
	need_root
	generate_tree src 300 0
	long_names src/big 3000
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	local i
	for i in 1 2; do
		drop_caches 3
		assert_eq 3000 "$(lstat_all mnt/big)" "names stat'ed in mnt/big ($i)"
		assert_listing_eq store mnt "listing $i"
		assert_eq 0 "$(node_fds "$MOUNT_PID" store)" "descriptors the mount holds on store entries after listing $i"
		# FORGETs, then every file replaced: the old records go.
		drop_caches 2
		rewrite_all src/big
		t_ctl sync src store
		assert_rc 0
		assert_listing_eq store mnt "after FORGETs and replacing every file ($i)"
	done
	assert_eq 3000 "$(lstat_all mnt/big)" "names stat'ed after the FORGETs"
	assert_trees_eq src mnt
}

case_noreaddirplus_option() {
	need_root
	generate_tree src 100 1
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt -d -o noreaddirplus
	drop_caches 3
	: >"$TC/mirrorfs.log"
	assert_listing_eq store mnt "cold, without readdirplus"
	assert_not_grep 'opcode: READDIRPLUS' mirrorfs.log
	grep -q 'opcode: LOOKUP' mirrorfs.log || t_fail "no LOOKUP: attributes came some other way"
}

T_TIMEOUT=120 t_case "with -o readdirplus a cold find -printf equals the store's, with no LOOKUP per file" case_cold_listing_matches_store
T_TIMEOUT=120 t_case "-o noreaddirplus lists names only; stat looks each up" case_noreaddirplus_option
T_TIMEOUT=120 t_case "by default listings carry attributes while programs stat what they list" case_attributes_on_demand
T_TIMEOUT=120 t_case "listings after syncs that add, remove and replace files show exactly the new tree" case_listing_follows_syncs
T_TIMEOUT=180 t_case "a directory of 5000 long names lists completely; stat works on all" case_directory_larger_than_a_reply
T_TIMEOUT=180 t_case "after drop_caches forces FORGETs the mount keeps working, with no descriptor per entry" case_forgets_keep_working
t_done
