#!/bin/bash
# RENAMEOPEN: files open through the mount are replaced, their holders keep the old bytes.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

case_open_fd_keeps_old_bytes() {
	mkdir src && echo "old version" >src/f
	t_ctl sync src store
	mount_store store mnt
	exec 7<mnt/f
	echo "new version, longer" >src/f
	t_ctl sync src store
	assert_rc 0
	assert_eq "old version" "$(cat <&7)" "read through the fd opened before the sync"
	assert_eq "new version, longer" "$(cat mnt/f)" "a new open"
	t_ctl renamed store
	assert_rc 0
	assert_grep '^AA[0-9]{6}  1 open  f$' "$TC/out"
	name=$(awk '{print $1}' "$TC/out")
	assert_exists "store/.mirrorfs/renamed/$name"
	exec 7<&-
	# The kernel sends RELEASE asynchronously after close.
	wait_for test ! -e "store/.mirrorfs/renamed/$name" || t_fail "$name not reaped after the last close"
	t_ctl renamed store
	assert_grep 'no old versions' "$TC/out"
}

case_running_executable_replaced() {
	mkdir -p src/bin
	build_prog src/bin/prog 1
	t_ctl sync src store
	mount_store store mnt
	mnt/bin/prog 40 >run.out 2>&1 &
	local pid=$!
	t_defer kill "$pid"
	wait_for grep -q 'version 1' run.out || t_fail "the program did not start"
	build_prog src/bin/prog 2
	t_ctl sync -v src store
	assert_rc 0
	assert_grep '^replace bin/prog$' "$TC/out"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	assert_eq "version 2 2" "$(mnt/bin/prog)" "a new exec"
	t_ctl renamed store
	assert_grep ' 1 open  bin/prog$' "$TC/out"
	local rc=0
	wait "$pid" || rc=$?
	assert_eq 0 "$rc" "exit status of the program replaced while it ran (138 = SIGBUS)"
	assert_eq 40 "$(grep -c '^version 1 1$' run.out)" "lines of the old version"
	assert_not_grep 'version 2' run.out
}

case_open_for_write_not_replaced() {
	mkdir src && echo v1 >src/f && echo v1 >src/g
	t_ctl sync src store
	mount_store store mnt -o rw
	exec 8>>mnt/f
	echo v2-f >src/f && echo v2-g >src/g
	t_ctl sync --json src store
	assert_rc 1
	assert_json skipped 1 replaced 1
	json_entries "$TC/out" skip >skipped.txt
	assert_grep '^f	open for write through the mount' skipped.txt
	assert_eq v1 "$(cat store/f)"
	assert_eq v2-g "$(cat mnt/g)"
	exec 8>&-
	wait_for sh -c "'$MIRRORCTL' sync src store >/dev/null" || t_fail "the next sync did not replace f after close"
	assert_eq v2-f "$(cat mnt/f)"
}

case_vetoed_retype_keeps_old_file() {
	mkdir src && echo v1 >src/f && chmod 640 src/f
	t_ctl sync src store
	local before
	before=$(stat -c '%a %Y %i' store/f)
	mount_store store mnt -o rw
	exec 8>>mnt/f
	rm src/f && mkdir src/f && echo x >src/f/x && chmod 700 src/f
	touch -d '2001-01-01' src/f
	t_ctl sync --purge --json src store
	assert_rc 1
	json_entries "$TC/out" skip >skipped.txt
	assert_grep '^f	open for write through the mount' skipped.txt
	assert_grep '^f/x	its directory f was not replaced: open for write through the mount' skipped.txt
	json_entries "$TC/out" create >created.txt
	assert_not_grep '^f/x' created.txt
	assert_eq "$before" "$(stat -c '%a %Y %i' store/f)" "the old file's mode, mtime, inode"
	assert_eq v1 "$(cat store/f)"
	exec 8>&-
	wait_for sh -c "'$MIRRORCTL' sync --purge src store >/dev/null" || t_fail "the next sync did not make f a directory"
	assert_eq x "$(cat mnt/f/x)"
	assert_eq 700 "$(stat -c %a store/f)"
}

# A file open for write inside a directory the source made a file, or
# that --purge-dirs removes: the directory stays, and so does the file
# under its writer, until the next sync after it is closed.
case_open_file_inside_replaced_dir() {
	mkdir -p src/d src/p && echo v1 >src/d/in && echo v1 >src/p/deep
	t_ctl sync src store
	mount_store store mnt -o rw
	exec 8>>mnt/d/in
	exec 9>>mnt/p/deep
	rm -r src/d src/p && echo file >src/d && echo n >src/e
	t_ctl sync --purge-dirs --json src store
	assert_rc 1
	json_entries "$TC/out" skip >skipped.txt
	assert_grep '^d	a file in it is open for write through the mount' skipped.txt
	assert_grep '^p	a file in it is open for write through the mount' skipped.txt
	echo more >&8
	exec 8>&- 9>&-
	assert_eq "v1 more" "$(tr '\n' ' ' <store/d/in | sed 's/ $//')" "the file written on inside the kept directory"
	assert_eq v1 "$(cat store/p/deep)"
	assert_eq n "$(cat store/e)" "the rest of the session"
	wait_for sh -c "'$MIRRORCTL' sync --purge-dirs src store >/dev/null" || t_fail "the next sync did not replace d after close"
	assert_eq file "$(cat mnt/d)"
	assert_missing store/p
}

case_no_renameopen_skips_open_files() {
	mkdir src && echo v1 >src/f
	t_ctl sync src store
	mount_store store mnt --no-renameopen
	exec 7<mnt/f
	echo v2 >src/f
	t_ctl sync src store
	assert_rc 1
	assert_grep '^skip    f: open through the mount and renameopen is off' "$TC/out"
	assert_eq v1 "$(cat mnt/f)"
	exec 7<&-
	wait_for sh -c "'$MIRRORCTL' sync src store >/dev/null" || t_fail "f was not replaced after close"
	assert_eq v2 "$(cat mnt/f)"
}

case_renamed_reaped_at_next_start() {
	mkdir src && echo v1 >src/f
	t_ctl sync src store
	mount_store store mnt
	exec 7<mnt/f
	echo v2 >src/f
	t_ctl sync src store
	assert_eq 1 "$(find store/.mirrorfs/renamed -type f | wc -l)"
	kill -9 "$MOUNT_PID"
	exec 7<&-
	fusermount3 -u -z "$(realpath mnt)"
	t_ctl renamed store
	assert_grep 'not mounted' "$TC/out"
	mount_store store mnt
	assert_eq 0 "$(find store/.mirrorfs/renamed -type f | wc -l)" "old versions after a restart"
	assert_eq v2 "$(cat mnt/f)"
}

t_case "an fd opened before a sync reads the old bytes; renamed lists and reaps" case_open_fd_keeps_old_bytes
t_case "a running executable is replaced and keeps running after drop_caches" case_running_executable_replaced
t_case "a file open for write through an rw mount is not replaced" case_open_for_write_not_replaced
t_case "a file open for write that the source made a directory keeps its attributes" case_vetoed_retype_keeps_old_file
t_case "a file open for write inside a directory replaced or purged keeps the directory" case_open_file_inside_replaced_dir
t_case "--no-renameopen skips open files" case_no_renameopen_skips_open_files
t_case "old versions left by a crashed mount are deleted at the next start" case_renamed_reaped_at_next_start
t_done
