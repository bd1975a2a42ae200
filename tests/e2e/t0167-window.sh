#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# The receiver's released window (issue 17): a session over thousands of
# entries, where the receiver forgets entries as they end, still lands
# every byte and attribute: hard links whose first name came thousands of
# entries earlier (to a file unchanged in the store and to one staged in
# the session), a deep directory and a wide one (5,000 entries) open
# across thousands of entries, each with user.* xattrs and its own mtime,
# a purge in a directory that closes after 5,000 entries; -i and
# --json -v list every entry once; -n lists every change and changes
# nothing; a session cut by SIGKILL is completed by the next; a --delete
# sync over 20,000 files holds a small window too (its purges are decided
# per directory, not against the whole manifest) and purges exactly the
# store's extras.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

# window_tree DIR K: version K (0, then 1) of the tree, made in place.
# Every directory gets a user.dir xattr and a distinct mtime, set last
# (bottom-up); every file a distinct mtime; the wide files an xattr each.
window_tree() {
	python3 - "$1" "$2" <<'EOF'
import os, sys
top, k = sys.argv[1], int(sys.argv[2])
def put(rel, data):
    p = os.path.join(top, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(data)
deep = "deep/" + "/".join("l%02d" % i for i in range(1, 26))
if k == 0:
    os.makedirs(top)
    # First names early: "a/" comes before thousands of entries.
    put("a/first-same", "unchanged in both versions\n")
    put("a/first-staged", "version 0\n")
    for i in range(2000):	# 25 directories open across these
        put("%s/bulk/b%04d" % (deep, i), "bulk %d\n" % i)
    put(deep + "/zz-after", "after the bulk\n")
    for i in range(5000):
        rel = "wide/f%04d" % i
        put(rel, "wide %d\n" % i)
        os.setxattr(os.path.join(top, rel), "user.n", b"%d" % i)
    # Later names, after about 7,000 entries.
    os.makedirs(os.path.join(top, "z"))
    os.link(os.path.join(top, "a/first-same"), os.path.join(top, "z/same-1"))
    os.link(os.path.join(top, "a/first-staged"), os.path.join(top, "z/staged-1"))
else:
    put("a/first-staged.new", "version 1, longer than version 0\n")
    os.rename(os.path.join(top, "a/first-staged.new"), os.path.join(top, "a/first-staged"))
    os.unlink(os.path.join(top, "z/staged-1"))
    os.link(os.path.join(top, "a/first-staged"), os.path.join(top, "z/staged-1"))
    os.link(os.path.join(top, "a/first-staged"), os.path.join(top, "z/staged-2"))
    os.link(os.path.join(top, "a/first-same"), os.path.join(top, "z/same-2"))
    put("wide/f2500", "wide 2500, changed\n")
    os.setxattr(os.path.join(top, "wide/f4000"), "user.n", b"changed")
    put(deep + "/bulk/b1000", "bulk 1000, changed\n")
    put(deep + "/new-deepest", "new in the deepest directory\n")
# Distinct mtimes: files by index, directories after (bottom-up).
base = 1600000000 + 1000000 * k
n = 0
for dp, dn, fn in os.walk(top, topdown=False):
    for f in sorted(fn):
        if k == 1 and f not in ("first-staged", "f2500", "b1000", "new-deepest"):
            continue
        n += 1
        t = (base + n) * 10**9 + n * 1000 + 7
        os.utime(os.path.join(dp, f), ns=(t, t))
for dp, dn, fn in os.walk(top, topdown=False):
    n += 1
    rel = os.path.relpath(dp, top)
    os.setxattr(dp, "user.dir", ("%s v%d" % (rel, k)).encode())
    t = (base + 500000 + n) * 10**9 + n * 1000 + 3
    os.utime(dp, ns=(t, t))
EOF
}

# assert_xattrs_eq A B: every entry of A has the same user.* xattrs in B.
assert_xattrs_eq() {
	python3 - "$1" "$2" <<'EOF' || t_fail "xattrs of '$1' and '$2' differ"
import os, sys
a, b = sys.argv[1], sys.argv[2]
def user(p):
    return {n: os.getxattr(p, n, follow_symlinks=False)
            for n in os.listxattr(p, follow_symlinks=False) if n.startswith("user.")}
n = 0
for dp, dn, fn in os.walk(a):
    for name in [""] + dn + fn:
        pa = os.path.join(dp, name) if name else dp
        rel = os.path.relpath(pa, a)
        xa, xb = user(pa), user(os.path.join(b, rel))
        if xa != xb:
            sys.exit("%s: %r vs %r" % (rel, xa, xb))
        n += len(xa)
if n < 5000:
    sys.exit("only %d xattrs compared" % n)
EOF
}

# src_paths DIR: every entry below DIR, directories with a trailing /, sorted.
src_paths() {
	(cd "$1" && find . -mindepth 1 \( -type d -printf '%P/\n' -o -printf '%P\n' \)) |
		LC_ALL=C sort
}

# itemized_paths FILE: the path of each -i line but the top's ("./"), sorted.
itemized_paths() {
	grep -E '^([<>ch.][fdLDS][.+cstpogux]{9}|\*deleting  ) ' "$1" |
		grep -v '^.d......... \./$' | cut -c13- | sed 's/ => .*//' | LC_ALL=C sort
}

# assert_same_lines WANT GOT WHAT: the files are equal, line for line.
assert_same_lines() {
	diff -u "$1" "$2" >&2 || t_fail "$3"
}

SRC=$T/src
STORE=$T/store

case_initial() {
	window_tree "$SRC" 0
	src_paths "$SRC" >want
	[ "$(wc -l <want)" -gt 7000 ] || t_fail "the tree has only $(wc -l <want) entries"
	t_ctl sync -i "$SRC" "$STORE"
	assert_rc 0
	itemized_paths "$TC/out" >got
	assert_same_lines want got "-i does not list every entry exactly once"
	assert_grep '^hf\+{9} z/same-1 => a/first-same$' "$TC/out"
	assert_trees_eq "$SRC" "$STORE"
	assert_xattrs_eq "$SRC" "$STORE"
	assert_no_litter "$STORE"
}

case_resync() {
	[ -d "$STORE/wide" ] || t_fail "no store from the first case"
	window_tree "$SRC" 1
	# Names to purge, first and last in a directory that closes late.
	echo extra >"$STORE/wide/e-extra"
	echo extra >"$STORE/wide/g-late"
	before=$(snapshot "$STORE")
	t_ctl sync -n -i --purge "$SRC" "$STORE"
	assert_rc 0
	assert_eq "$before" "$(snapshot "$STORE")" "the store after -n"
	itemized_paths "$TC/out" >dry
	t_ctl sync -i --purge "$SRC" "$STORE"
	assert_rc 0
	itemized_paths "$TC/out" >got
	# The store first: a wrong tree is the worse failure.
	assert_trees_eq "$SRC" "$STORE"
	assert_xattrs_eq "$SRC" "$STORE"
	assert_no_litter "$STORE"
	assert_same_lines dry got "-n -i differs from -i"
	# Every change, and only those (the directories: their mtimes).
	src_paths "$SRC" | grep '/$' >want
	printf '%s\n' a/first-staged wide/e-extra wide/f2500 wide/f4000 wide/g-late \
		z/same-2 z/staged-1 z/staged-2 \
		"deep/$(printf 'l%02d/' $(seq 1 25))bulk/b1000" \
		"deep/$(printf 'l%02d/' $(seq 1 25))new-deepest" >>want
	LC_ALL=C sort -o want want
	assert_same_lines want got "-i does not list exactly the changes"
	assert_grep '^hf\+{9} z/same-2 => a/first-same$' "$TC/out"
	assert_grep '^\*deleting +wide/g-late$' "$TC/out"
}

case_cut() {
	[ -d "$SRC/wide" ] || t_fail "no source from the first case"
	src_paths "$SRC" >want
	# A first session to a new store, killed after 3,000 files: nothing
	# of it shows.
	MIRRORFS_CRASH_AT=send:3000 t_ctl sync "$SRC" cut
	assert_rc 137 "the cut session's exit status"
	assert_eq 0 "$(count_entries cut)" "entries in the store after the cut"
	# The next lands it all, and --json -v lists every entry once.
	t_ctl sync -v --json "$SRC" cut
	assert_rc 0
	tail -n 1 "$TC/out" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())["destinations"][0]
for e in d["entries"]:
    assert e["action"] == "create", e
    print(e["path"] + ("/" if e["dir"] else ""))
' | LC_ALL=C sort >got
	assert_same_lines want got "--json -v does not list every entry exactly once"
	assert_trees_eq "$SRC" cut
	assert_xattrs_eq "$SRC" cut
	assert_no_litter cut
}

# delete_tree DIR: 16 directories of 1,250 empty files (an empty file
# costs the disk no block: the tree and its copy take seconds), and a
# nested directory of small ones.
delete_tree() {
	python3 - "$1" <<'EOF'
import os, sys
top = sys.argv[1]
os.makedirs(os.path.join(top, "d05/n1/n2"))
for d in range(16):
    dp = os.path.join(top, "d%02d" % d)
    os.makedirs(dp, exist_ok=True)
    for i in range(1250):
        os.close(os.open(os.path.join(dp, "f%04d" % i), os.O_WRONLY | os.O_CREAT, 0o644))
for i in range(50):
    with open(os.path.join(top, "d05/n1/n2/g%02d" % i), "w") as f:
        f.write("nested %d\n" % i)
EOF
}

case_delete_window() {
	delete_tree dsrc
	# The store: the same tree (cp -a: unchanged to the nanosecond) and
	# extras early, late and nested in directories, an extra directory
	# with files in it, one at the top.
	cp -a dsrc dstore || t_fail "cp -a dsrc dstore"
	echo x >dstore/d03/a-extra
	echo x >dstore/d11/f0624x
	echo x >dstore/d15/zz-extra
	echo x >dstore/d05/n1/n2/extra
	mkdir dstore/d12/xdir && echo x >dstore/d12/xdir/f1 && echo x >dstore/d12/xdir/f2
	echo x >dstore/top-extra
	# -v before sync: the debug lines (the window); after it: each change.
	t_ctl -v sync -v --delete dsrc dstore
	assert_rc 0
	assert_trees_eq dsrc dstore
	assert_no_litter dstore
	# Each extra purged once, the extra directory as one, nothing else.
	grep '^purge ' "$TC/out" | awk '{ print $2 }' | LC_ALL=C sort >got
	printf '%s\n' d03/a-extra d05/n1/n2/extra d11/f0624x d12/xdir/ d15/zz-extra \
		top-extra >want
	assert_same_lines want got "the purges are not exactly the store's extras"
	assert_grep '^created 0, replaced 0, purged 6, unchanged 20068,' "$TC/out"
	# The receiver's window (-v): a few entries, not the 20,068.
	line=$(grep -hE 'at most [0-9]+ entries of [0-9]+ were held at once' "$TC/out" "$TC/err" 2>/dev/null | head -n 1)
	[ -n "$line" ] || t_fail "no window line in the -v output"
	held=$(printf '%s\n' "$line" | sed -E 's/.*at most ([0-9]+) entries of ([0-9]+).*/\1/')
	total=$(printf '%s\n' "$line" | sed -E 's/.*at most ([0-9]+) entries of ([0-9]+).*/\2/')
	assert_eq 20068 "$total" "the manifest's entries"
	[ "$held" -le 1000 ] || t_fail "--delete held $held entries of $total at once"
}

t_case "a first sync of 7,000 entries: every byte, xattr, mtime; -i lists each entry once" case_initial
t_case "a session cut after 3,000 files: the next lands all, --json -v lists each entry once" case_cut
t_case "a re-sync: links to old first names, purges late in a wide directory, -n -i as -i" case_resync
t_case "--delete over 20,000 files: a small window, exactly the extras purged" case_delete_window
t_done
