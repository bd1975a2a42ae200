#!/bin/bash
# Local boundaries: the master's control.sock is reached without following
# symlinks and serves only root and the store's owner; mirrord's control
# socket serves root and [daemon] control_group; a file set's user whose
# ids cannot be taken on fails its session and nothing is read.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

NOBODY=65534

# as_nobody CMD...: t_run CMD as uid/gid 65534 with no other group.
as_nobody() { t_run setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }


case_control_sock_peer() {
	t_is_root || t_skip "needs root to switch to an unprivileged user"
	chmod 755 "$T" "$TC"
	generate_tree src 10 0
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	wait_for test -S store/.mirrorfs/control.sock || t_fail "no control socket"
	assert_eq 600 "$(stat -c %a store/.mirrorfs/control.sock)" "socket mode"
	# Widen the file modes: what stands then is the master's own check.
	chmod 755 store/.mirrorfs
	chmod 666 store/.mirrorfs/control.sock
	echo planted >src/planted
	chmod -R a+rX src
	tree_sums store >before
	as_nobody "$MIRRORCTL" sync src store
	assert_rc 3
	assert_grep "refused: only root and the store's owner may use its control socket" "$TC/err"
	wait_for grep -qE "control socket: refused pid [0-9]+ \\(uid $NOBODY\\): only root and the store's owner \\(uid 0\\)" mirrorfs.log ||
		t_fail "the mount did not log the refusal: $(cat mirrorfs.log)"
	tree_sums store >after
	cmp -s before after || t_fail "the store changed"
	assert_missing mnt/planted
	as_nobody "$MIRRORCTL" renamed store
	assert_rc 3
	# The owner of the store may use it; root may sync.
	chown $NOBODY store
	as_nobody "$MIRRORCTL" renamed store
	assert_rc 0
	t_ctl sync src store
	assert_rc 0
	assert_eq planted "$(cat mnt/planted)"
}

case_control_sock_no_symlinks() {
	generate_tree src 10 0
	t_ctl sync src store
	mount_store store mnt
	wait_for test -S store/.mirrorfs/control.sock || t_fail "no control socket"
	echo planted >src/planted
	tree_sums store >before
	# A store whose .mirrorfs is a symlink to the mounted store's.
	mkdir evil
	ln -s ../store/.mirrorfs evil/.mirrorfs
	t_ctl sync src evil
	assert_rc 3
	assert_grep 'evil/\.mirrorfs/control\.sock: a symlink on the way: refused' "$TC/err"
	# One whose socket is a symlink to the mount's socket.
	mkdir -p evil2/.mirrorfs
	ln -s "$TC/store/.mirrorfs/control.sock" evil2/.mirrorfs/control.sock
	t_ctl sync src evil2
	assert_rc 3
	assert_grep 'evil2/\.mirrorfs/control\.sock: a symlink on the way: refused' "$TC/err"
	# And one where it is not a socket at all.
	mkdir -p evil3/.mirrorfs
	mkfifo evil3/.mirrorfs/control.sock
	t_ctl sync src evil3
	assert_rc 3
	assert_grep 'evil3/\.mirrorfs/control\.sock: not a socket' "$TC/err"
	tree_sums store >after
	cmp -s before after || t_fail "a session reached the mounted store through a symlink"
	assert_missing mnt/planted
	assert_missing evil/planted
}

MIRRORD=$BUILD/mirrord

# daemon CONF [CMD-PREFIX...]: mirrord -c CONF in the background; sets DPID.
daemon() {
	local conf=$1
	shift
	"$@" "$MIRRORD" -c "$conf" 2>>"$TC/mirrord.log" &
	DPID=$!
	t_defer kill -9 "$DPID"
	wait_for grep -q 'running [0-9]* file sets' "$TC/mirrord.log" ||
		t_fail "mirrord did not start: $(cat "$TC/mirrord.log")"
}

# last_error: the error of the file set's last session, from mirrord's status.
last_error() {
	"$MIRRORCTL" status -c conf --json |
		python3 -c 'import json, sys; f = json.load(sys.stdin)["filesets"][0]; print(f.get("error") or "")'
}

case_daemon_control_group() {
	t_is_root || t_skip "needs root for groupadd and setpriv"
	chmod 755 "$T" "$TC"
	local group=mfs$$
	groupadd "$group"
	t_defer groupdel "$group"
	local gid
	gid=$(getent group "$group" | cut -d: -f3)
	mkdir src
	printf '[daemon]\ncontrol = %s/ctl.sock\ncontrol_group = %s\n\n[fileset app]\nsource = %s/src\ndest = %s/store\ninterval = 3600\n' \
		"$TC" "$group" "$TC" "$TC" >conf
	chmod 644 conf
	daemon conf
	assert_eq "660 $group" "$(stat -c '%a %G' ctl.sock)" "control socket mode and group"
	t_ctl status -c conf
	assert_rc 0
	# Widened, so that only mirrord's own check stands.
	chmod 666 ctl.sock
	as_nobody "$MIRRORCTL" status -c conf
	assert_ne 0 "$RC" "status as a stranger"
	assert_grep 'refused: only root and the members of \[daemon\] control_group' "$TC/err"
	wait_for grep -qE "control socket: refused pid [0-9]+ \\(uid $NOBODY\\): only root and members of group $group may use it" mirrord.log ||
		t_fail "mirrord did not log the refusal: $(cat mirrord.log)"
	t_run setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$gid" "$MIRRORCTL" status -c conf
	assert_rc 0
	assert_grep '^app' "$TC/out"
	# An unknown group is a configuration error naming the line.
	printf '[daemon]\ncontrol_group = no-such-group-%s\n' "$$" >bad
	t_run "$MIRRORD" -c bad
	assert_rc 2
	assert_grep "bad:2: .*control_group.*no such group" "$TC/err"
}

case_user_gone() {
	t_is_root || t_skip "needs root for useradd"
	chmod 755 "$T" "$TC"
	local user=mfsu$$
	useradd --no-create-home --shell /usr/sbin/nologin "$user"
	t_defer userdel "$user"
	generate_tree src 5 0
	chmod -R a+rX src
	printf '[daemon]\ncontrol = %s/ctl.sock\n\n[fileset app]\nsource = %s/src\ndest = %s/store\ninterval = 3600\nuser = %s\n' \
		"$TC" "$TC" "$TC" "$user" >conf
	daemon conf
	wait_for test -f store/.mirrorfs/SYNC -o -d store/d0 || true
	# shellcheck disable=SC2016 # the inner sh expands MIRRORCTL (exported)
	wait_for sh -c '"$MIRRORCTL" status -c conf --json | grep -q "\"created\""' ||
		t_fail "the first session did not run"
	assert_eq "" "$(last_error)" "error of the first session"
	assert_trees_eq src store
	userdel "$user"
	echo new >src/new
	tree_sums store >before
	t_ctl sync-now -c conf app
	assert_rc 0
	wait_for sh -c "\"\$MIRRORCTL\" status -c conf --json | grep -q \"user '$user' does not exist\"" ||
		t_fail "the session did not fail: $(last_error)"
	tree_sums store >after
	cmp -s before after || t_fail "the store changed"
}

case_setfsuid_refused() {
	t_is_root || t_skip "needs root to switch to an unprivileged user"
	chmod 755 "$T" "$TC"
	generate_tree src 5 0
	echo secret >src/root-only
	chmod 600 src/root-only
	chmod a+rX src src/d*
	mkdir run store
	chown $NOBODY run store
	# mirrord without the right to switch ids, told to read as root.
	printf '[daemon]\ncontrol = %s/run/ctl.sock\n\n[fileset app]\nsource = %s/src\ndest = %s/store\ninterval = 3600\nuser = root\n' \
		"$TC" "$TC" "$TC" >conf
	chmod 644 conf
	daemon conf setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups
	# shellcheck disable=SC2016 # the inner sh expands MIRRORCTL (exported)
	wait_for sh -c '"$MIRRORCTL" status -c conf --json | grep -Eq "set(groups|fs[gu]id) was refused"' ||
		t_fail "the session did not fail: $(last_error); $(cat mirrord.log)"
	assert_grep 'cannot read the source as user 0 \(group 0\): set(groups|fs[ug]id) was refused' <(last_error)
	# Nothing was read, nothing landed.
	assert_eq 0 "$(find store -mindepth 1 -not -path 'store/.mirrorfs*' | wc -l)" "entries in the store"
}

# mirrord runs as root, in group root: a file set's user must not read
# what only group root may (its thread once kept mirrord's groups).
case_user_groups() {
	t_is_root || t_skip "needs root for useradd"
	chmod 755 "$T" "$TC"
	local user=mfsg$$
	useradd --no-create-home --shell /usr/sbin/nologin "$user"
	t_defer userdel "$user"
	mkdir src
	echo public >src/public
	echo root-group >src/group-only
	chown root:root src/group-only
	chmod 640 src/group-only
	chmod 755 src
	touch -d '-1 min' src/public src/group-only
	printf '[daemon]\ncontrol = %s/ctl.sock\n\n[fileset app]\nsource = %s/src\ndest = %s/store\ninterval = 3600\nuser = %s\n' \
		"$TC" "$TC" "$TC" "$user" >conf
	# As under a login shell: mirrord's supplementary groups hold root's.
	daemon conf setpriv --groups=0
	grep -q '^Groups:.*\b0\b' "/proc/$DPID/status" ||
		t_fail "mirrord is not in group 0: $(grep Groups "/proc/$DPID/status")"
	# shellcheck disable=SC2016 # the inner sh expands MIRRORCTL (exported)
	wait_for sh -c '"$MIRRORCTL" status -c conf --json | grep -q "\"last_result\":{"' ||
		t_fail "the first session did not run: $(last_error)"
	assert_eq public "$(cat store/public)"
	assert_missing store/group-only	# only group root may read it
	"$MIRRORCTL" status -c conf --json >st.json
	assert_grep '"path":"group-only","dir":false,"reason":"[^"]*Permission denied' st.json
}

t_case "control.sock: a stranger is refused by the master (SO_PEERCRED); the store's owner and root are served" case_control_sock_peer
t_case "control.sock and .mirrorfs are never reached through a symlink" case_control_sock_no_symlinks
t_case "mirrord's control socket: root and [daemon] control_group only" case_daemon_control_group
t_case "a file set's user that no longer exists fails its session" case_user_gone
t_case "a refused setfsuid fails the session; nothing is read" case_setfsuid_refused
t_case "a file set's user reads with its own groups, not mirrord's" case_user_groups
t_done
