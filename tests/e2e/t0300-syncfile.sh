#!/bin/bash
# The SYNC file: one master per store, slave mounts, stale entries, clear-sync.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

# sync_field KEY: the value of KEY in store/.mirrorfs/SYNC.
sync_field() {
	sed -n "s/^$1=//p" store/.mirrorfs/SYNC
}

case_master_entry() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	assert_missing store/.mirrorfs/SYNC	# a clean stop removes it
	mount_store store mnt
	assert_exists store/.mirrorfs/SYNC
	assert_eq "mirrorfs@$(hostname):$TC/mnt" "$(sync_field instance)"
	assert_eq "$MOUNT_PID" "$(sync_field pid)"
	assert_eq "$(hostname)" "$(sync_field host)"
	assert_eq "$(cat /proc/sys/kernel/random/boot_id)" "$(sync_field boot_id)"
	sync_field started | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' ||
		t_fail "started= is not a UTC time: $(sync_field started)"
	store_free store && t_fail "the master does not hold the store lock"
	unmount_store mnt
	assert_missing store/.mirrorfs/SYNC
}

# A mount that daemonizes (as from fstab): SYNC names the process that runs
# and holds the lock, not the one that started it.
case_daemonized_master_entry() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mkdir mnt
	"$MIRRORFS" store mnt 2>>"$TC/mirrorfs.log" ||
		t_fail "mirrorfs did not start: $(cat "$TC/mirrorfs.log")"
	t_defer fusermount3 -u -z "$TC/mnt"
	wait_for mounted mnt || t_fail "not mounted"
	local pid
	pid=$(sync_field pid)
	t_defer kill "$pid"
	kill -0 "$pid" || t_fail "SYNC names pid $pid, which does not run"
	assert_eq "$(realpath "$MIRRORFS")" "$(readlink "/proc/$pid/exe")" \
	    "the process SYNC names"
	# It is the process that holds the store's lock.
	store_free store && t_fail "no master holds the store lock"
	find "/proc/$pid/fd" -lname "$TC/store/.mirrorfs/lock" | grep -q . ||
		t_fail "pid $pid does not have the lock file open"
	fusermount3 -u mnt || t_fail "fusermount3 -u failed"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && t_fail "mirrorfs $pid still runs after unmount"
	assert_missing store/.mirrorfs/SYNC
}

case_slave_mount() {
	mkdir src && echo "old version" >src/f
	t_ctl sync src store
	mount_store store m1
	local master=$MOUNT_PID
	mount_store store m2
	local slave=$MOUNT_PID
	assert_grep 'mounted as a slave' "$TC/mirrorfs.log"
	assert_eq "$master" "$(sync_field pid)" "the first mount stays master"
	assert_eq "old version" "$(cat m2/f)"
	exec 7<m2/f
	echo "new version, longer" >src/f
	t_ctl sync src store
	assert_rc 0
	# Both mounts show the new version at once; the slave's fd the old one.
	assert_eq "new version, longer" "$(cat m1/f)"
	assert_eq "new version, longer" "$(cat m2/f)"
	assert_eq "old version" "$(cat <&7)"
	assert_eq 1 "$(find store/.mirrorfs/renamed -type f | wc -l)" "kept old versions"
	t_ctl renamed store
	assert_grep '^AA[0-9]{6}  0 open  f$' "$TC/out"
	exec 7<&-
	# shellcheck disable=SC2016 # the inner sh lists it at each try
	wait_for sh -c '[ -z "$(ls "$1")" ]' sh store/.mirrorfs/renamed ||
		t_fail "the old version was not removed after the slave closed it"
	kill -0 "$slave" || t_fail "the slave mount died"
}

case_open_for_write_in_slave() {
	mkdir src && echo v1 >src/f
	t_ctl sync src store
	mount_store store m1
	mount_store store m2 -o rw
	exec 8>>m2/f
	echo v2 >src/f
	t_ctl sync src store
	assert_rc 1
	assert_grep '^skip    f: open for write through another mount' "$TC/out"
	exec 8>&-
	assert_eq v1 "$(cat m1/f)"
	# Inside a directory the source removes: the directory stays.
	mkdir src/d && echo v1 >src/d/in
	t_ctl sync src store
	exec 8>>m2/d/in
	rm -r src/d
	t_ctl sync --purge-dirs src store
	assert_rc 1
	assert_grep '^skip    d/: a file in it is open for write through another mount' "$TC/out"
	exec 8>&-
	assert_eq v1 "$(cat m1/d/in)"
}

case_takeover_after_kill() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store m1
	kill -9 "$MOUNT_PID"
	fusermount3 -u -z "$TC/m1"
	assert_exists store/.mirrorfs/SYNC	# an abnormal end leaves the entry
	# The same instance (same mount point) regains control at once.
	mount_store store m1
	assert_grep 'regains control after its abnormal end' "$TC/mirrorfs.log"
	assert_eq "$MOUNT_PID" "$(sync_field pid)"
	kill -9 "$MOUNT_PID"
	fusermount3 -u -z "$TC/m1"
	# Another mount on this host takes over, naming the entry it replaced.
	mount_store store m2
	assert_grep "taking over from instance mirrorfs@$(hostname):$TC/m1" "$TC/mirrorfs.log"
	assert_eq "$MOUNT_PID" "$(sync_field pid)"
	assert_eq one "$(cat m2/f)"
}

case_foreign_entry_blocks() {
	mkdir src mnt && echo one >src/f
	t_ctl sync src store
	printf 'instance=mirrorfs@elsewhere:/srv/app\npid=4242\nhost=elsewhere.example\nboot_id=0000\nstarted=2026-01-02T03:04:05Z\n' \
		>store/.mirrorfs/SYNC
	t_run "$MIRRORFS" -f store mnt
	assert_ne 0 "$RC" "exit status of a mount blocked by another host's entry"
	assert_grep 'instance mirrorfs@elsewhere:/srv/app \(pid 4242 on host elsewhere.example since 2026-01-02T03:04:05Z\)' "$TC/err"
	assert_grep "mirrorctl clear-sync $TC/store" "$TC/err"
	mounted mnt && t_fail "mounted despite the foreign entry"
	t_ctl sync src store
	assert_rc 3
	t_ctl clear-sync store
	assert_rc 0
	assert_grep 'removed the stale entry of instance mirrorfs@elsewhere' "$TC/out"
	assert_missing store/.mirrorfs/SYNC
	mount_store store mnt
	assert_eq one "$(cat mnt/f)"
}

case_clear_sync_refuses_live_master() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	t_ctl clear-sync store
	assert_ne 0 "$RC" "exit status of clear-sync against a live master"
	assert_grep "refusing" "$TC/err"
	assert_grep "pid $MOUNT_PID" "$TC/err"
	assert_eq "$MOUNT_PID" "$(sync_field pid)"
}

case_slave_takes_over_when_master_dies() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store m1
	local master=$MOUNT_PID
	mount_store store m2
	local slave=$MOUNT_PID
	kill -9 "$master"
	fusermount3 -u -z "$TC/m1"
	wait_for grep -q 'took over as master' "$TC/mirrorfs.log" ||
		t_fail "the slave did not take over"
	assert_eq "$slave" "$(sync_field pid)"
	echo two >src/f
	t_ctl sync src store
	assert_rc 0
	assert_eq two "$(cat m2/f)"
}

case_slave_that_cannot_take_over_stops() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store m1
	mount_store store m2
	local slave=$MOUNT_PID
	# A slave that hangs is dropped by its master after 10 s; the master
	# lives on, so the slave cannot take over when it wakes up.
	kill -STOP "$slave"
	t_defer kill -CONT "$slave"
	echo two >src/f
	t_ctl sync src store
	assert_rc 0
	assert_grep 'dropping the slave mount' "$TC/mirrorfs.log"
	assert_eq two "$(cat m1/f)"
	kill -CONT "$slave"
	for _ in $(seq 100); do kill -0 "$slave" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$slave" 2>/dev/null && t_fail "the dropped slave still serves"
	assert_grep 'lost the master of the store and cannot take over' "$TC/mirrorfs.log"
	if cat m2/f >/dev/null 2>&1; then t_fail "the dropped slave's mount still serves files"; fi
}

t_case "the master's SYNC entry: instance, pid, host, boot_id, started; removed at a clean stop" case_master_entry
t_case "a daemonized mount's SYNC entry names the running process" case_daemonized_master_entry
t_case "a second mount is a slave; rename-while-open holds for its fds" case_slave_mount
t_case "a file open for write through a slave mount is not replaced" case_open_for_write_in_slave
t_case "after kill -9 the same instance regains, another mount takes over" case_takeover_after_kill
t_case "another host's entry blocks until clear-sync" case_foreign_entry_blocks
t_case "clear-sync refuses while the master lives" case_clear_sync_refuses_live_master
t_case "a slave takes over when the master dies" case_slave_takes_over_when_master_dies
t_case "a slave that cannot take over stops rather than serve stale data" case_slave_that_cannot_take_over_stops
t_done
