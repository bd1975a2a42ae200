#!/bin/bash
# Network transports: mirrord on loopback with a pre-shared key, ssh://, zstd, hostile input.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

case_tcp_session() {
	generate_tree src 80 2
	serve app "$TC/store"
	t_ctl sync --key key -v src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
	assert_grep "127\.0\.0\.1:[0-9]+: session into store app done" mirrord.log
	t_ctl sync --key key --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_json created 0 replaced 0
}

# mirrord -v: its session processes log their debug lines too.
case_verbose_sessions() {
	generate_tree src 40 2
	MIRRORD_FLAGS=-v serve app "$TC/store"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
	assert_grep "store: at most [0-9]+ entries of [0-9]+ were held at once" mirrord.log
}

case_wrong_key_refused() {
	mkdir src && echo data >src/f
	serve app "$TC/store"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	snapshot store >before
	echo "a different secret of enough bytes" >other && chmod 600 other
	echo changed >src/f
	t_ctl sync --key other src "mirror://127.0.0.1:$PORT/app"
	assert_rc 3
	assert_grep 'authentication failed' "$TC/err"
	assert_grep '127\.0\.0\.1:[0-9]+: refused: authentication failed' mirrord.log
	snapshot store >after
	assert_eq "$(cat before)" "$(cat after)" "store after a wrong key"
	# A missing key never reaches the store either; nor an unknown store.
	t_ctl sync src "mirror://127.0.0.1:$PORT/app"
	assert_rc 2
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/nosuch"
	assert_rc 3
	assert_grep "no store 'nosuch'" "$TC/err"
	assert_missing nosuch
}

case_key_permissions() {
	mkdir src && echo data >src/f
	"$MIRRORCTL" genkey key >/dev/null
	chmod 640 key
	t_ctl sync --key key src mirror://127.0.0.1:1/app
	assert_rc 2
	assert_grep 'permissions 0640 are too open' "$TC/err"
	write_conf conf "127.0.0.1:$(free_port)" "$TC/key" app "$TC/store"
	t_run "$MIRRORD" -c conf
	assert_rc 2
	assert_grep 'too open' "$TC/err"
}

# hostile PORT: garbage, truncated and oversized frames, then a half handshake.
hostile() {
	python3 - "$1" <<'PY'
import os, socket, struct, sys, time
port = int(sys.argv[1])
def send(data, wait=0.2):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    time.sleep(wait)
    s.close()
send(os.urandom(4096))
send(b"\xff\xff\xff\xff" + os.urandom(100))          # a 4 GiB frame
NET_OPEN = b"\x18"   # the message type of NET_OPEN (lib/proto.h)
send(struct.pack(">I", 50) + NET_OPEN + b"x" * 10)     # truncated NET_OPEN
send(struct.pack(">I", 1) + b"\x00")                  # unknown type
opn = struct.pack(">IHBB", 0x4d524e54, 1, 0, 1) + struct.pack(">H", 3) + b"app" + b"n" * 32
send(struct.pack(">I", len(opn) + 1) + NET_OPEN + opn + os.urandom(64))
send(struct.pack(">I", 13) + NET_OPEN + b"not-mirrorfs")   # a bad greeting
for i in range(20):
    send(os.urandom(i * 7))
PY
}

case_hostile_input() {
	generate_tree src 30 1
	serve app "$TC/store"
	hostile "$PORT"
	kill -0 "$MIRRORD_PID" || t_fail "the listener died"
	# Each bad connection is logged with the peer's address.
	assert_grep "^$STAMP mirrord: 127\.0\.0\.1:[0-9]+ sent a frame of [0-9]+ bytes \(limit [0-9]+\): corrupt stream" mirrord.log
	assert_grep "^$STAMP mirrord: 127\.0\.0\.1:[0-9]+: refused: not a mirrorfs client" mirrord.log
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
	assert_no_litter store
}

case_ssh_stand_in() {
	generate_tree src 40 1
	# A stand-in for ssh: runs the remote command here, like ssh localhost.
	mkdir bin
	make_rsh bin/fake-ssh
	t_ctl sync --rsh "$TC/bin/fake-ssh" src "ssh://someone@example//$TC/store"
	assert_rc 0
	assert_trees_eq src store
	assert_eq "--- argv|-l|someone|example|mirrord --serve '/$TC/store'|--- end" \
		"$(paste -sd'|' rsh.argv)"
	t_ctl sync --rsh "$TC/bin/fake-ssh" --json src "ssh://someone@example//$TC/store"
	assert_json created 0 replaced 0
}

case_compression_counts_wire_bytes() {
	mkdir src
	head -c 4194304 /dev/zero >src/zeros
	serve app "$TC/plain" app2 "$TC/packed"
	t_ctl sync --key key --compress 0 --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	local plain packed
	plain=$(jf bytes_sent)
	t_ctl sync --key key --compress 3 --json src "mirror://127.0.0.1:$PORT/app2"
	assert_rc 0
	packed=$(jf bytes_sent)
	[ "$plain" -gt 4194304 ] || t_fail "uncompressed: $plain bytes sent for 4 MiB"
	[ "$packed" -lt 65536 ] || t_fail "compressed: $packed bytes sent for 4 MiB of zeros"
	assert_file_eq src/zeros packed/zeros
}

# big_tree DIR N: N files of 256 KiB of random data (not compressible).
big_tree() {
	mkdir -p "$1"
	local i
	for i in $(seq -w 1 "$2"); do head -c 262144 /dev/urandom >"$1/f$i"; done
}

case_kill_receiver_mid_transfer() {
	big_tree old 40
	cp -a old new
	for f in new/f0*; do head -c 262144 /dev/urandom >"$f"; done
	serve app "$TC/store"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app" 2>/dev/null || true
	t_ctl sync --key key --compress 0 old "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	# The session process of mirrord dies by SIGKILL while staging.
	kill "$MIRRORD_PID"
	wait_for sh -c "! kill -0 $MIRRORD_PID 2>/dev/null"
	MIRRORFS_CRASH_AT=staging:5 start_mirrord conf mirrord.log
	t_ctl sync --key key --compress 0 new "mirror://127.0.0.1:$PORT/app"
	assert_rc 3
	assert_trees_eq old store
	kill "$MIRRORD_PID"
	wait_for sh -c "! kill -0 $MIRRORD_PID 2>/dev/null"
	start_mirrord conf mirrord.log
	t_ctl sync --key key new "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq new store
	assert_no_litter store
}

case_kill_sender_mid_transfer() {
	big_tree old 40
	cp -a old new
	for f in new/f0*; do head -c 262144 /dev/urandom >"$f"; done
	serve app "$TC/store"
	t_ctl sync --key key --compress 0 old "mirror://127.0.0.1:$PORT/app"
	# mirrorctl dies by SIGKILL after sending 3 of the 9 changed files.
	MIRRORFS_CRASH_AT=send:3 t_ctl sync --key key --compress 0 new "mirror://127.0.0.1:$PORT/app"
	assert_rc 137
	# The receiver notices, rolls back and lets go of the store.
	wait_for sh -c "! flock -n '$TC/store/.mirrorfs/lock' true 2>/dev/null; flock -n '$TC/store/.mirrorfs/lock' true" ||
		t_fail "mirrord still holds the store"
	assert_trees_eq old store
	assert_no_litter store
	# A real kill -9 from outside, at a random moment of a transfer.
	setsid "$MIRRORCTL" sync --key key --compress 0 new "mirror://127.0.0.1:$PORT/app" >/dev/null 2>&1 &
	local pid=$!
	sleep "0.$((RANDOM % 3))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	sleep 0.5
	t_ctl sync --key key new "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq new store
	assert_no_litter store
	kill -0 "$MIRRORD_PID" || t_fail "the listener died"
}

case_resume_after_a_cut() {
	mkdir src
	head -c 20971520 /dev/urandom >src/big
	big_tree src/more 8
	serve app "$TC/store"
	# The sender dies after 8 MiB of the big file went out.
	MIRRORFS_CRASH_AT=data:8 t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$PORT/app"
	assert_rc 137
	wait_for sh -c "flock -n '$TC/store/.mirrorfs/lock' true" ||
		t_fail "mirrord still holds the store"
	assert_missing store/big
	assert_no_litter store
	assert_eq 1 "$(find store/.mirrorfs/partial -type f | wc -l)" "parts kept"
	# The next session sends only what is missing (give or take the 1 MiB
	# the sender's sealing thread had queued when it died).
	t_ctl sync --key key --compress 0 --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
	local sent
	sent=$(jf bytes_sent)
	[ "$sent" -lt $((20971520 - 8388608 + 2097152 + 2 * 1048576)) ] ||
		t_fail "resumed session sent $sent bytes: not resumed"
	[ "$sent" -gt $((20971520 - 8388608)) ] ||
		t_fail "resumed session sent only $sent bytes"
	assert_eq 0 "$(find store/.mirrorfs/partial -type f | wc -l)" "parts left"
	# A kept part of a version that changed since is not used.
	MIRRORFS_CRASH_AT=data:3 t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$PORT/app" 2>/dev/null
	head -c 20971520 /dev/urandom >src/big
	MIRRORFS_CRASH_AT=data:4 t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$PORT/app"
	wait_for sh -c "flock -n '$TC/store/.mirrorfs/lock' true"
	head -c 1000 /dev/urandom >>src/big
	t_ctl sync --key key --compress 0 src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
}

case_store_trigger() {
	generate_tree src 20 0
	"$MIRRORCTL" genkey key >/dev/null
	PORT=$(free_port)
	write_conf conf "127.0.0.1:$PORT" "$TC/key" app "$TC/store"
	printf 'trigger = env | grep ^MIRRORFS_ | sort >%s/trig.out\n' "$TC" >>conf
	start_mirrord conf mirrord.log
	t_ctl sync --key key --json src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	wait_for test -s trig.out || t_fail "the store's trigger did not run"
	assert_grep "^MIRRORFS_CREATED=$(jf created)\$" trig.out
	assert_grep '^MIRRORFS_STORE=app$' trig.out
	assert_grep "^MIRRORFS_DEST=$TC/store\$" trig.out
	# Nothing changed: no trigger.
	rm trig.out
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	sleep 0.5
	assert_missing trig.out
}

case_sync_into_mounted_remote_store() {
	mkdir src && echo one >src/f
	serve app "$TC/store"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	mount_store store mnt
	assert_eq one "$(cat mnt/f)"
	exec 7<mnt/f
	echo "two, longer" >src/f
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_eq "two, longer" "$(cat mnt/f)"
	assert_eq one "$(cat <&7)"
	exec 7<&-
}

# The sender spools its file list in $TMPDIR: a full one fails the session.
case_spool_cannot_be_written() {
	t_is_root || t_skip "not root"
	mkdir -p src/d tmp
	echo old >src/d/first
	serve app "$TC/store"
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	local i
	for i in $(seq 1 400); do
		echo "$i" >"src/d/a-file-with-a-name-long-enough-$i"
	done
	echo new >src/d/first
	mount -t tmpfs -o size=8k tmpfs tmp
	t_defer umount -l "$TC/tmp"
	TMPDIR=$TC/tmp t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 3 "exit status with a full spool (nothing committed)"
	assert_grep "the sender's spool in $TC/tmp: writing .*No space left on device" "$TC/err"
	assert_eq old "$(cat store/d/first)" "store/d/first after a spool that failed"
	assert_missing store/d/a-file-with-a-name-long-enough-1
	# With room again, the same sync goes through.
	t_ctl sync --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_trees_eq src store
}

t_case "a TCP session on loopback" case_tcp_session
t_case "mirrord -v: its sessions log their debug lines" case_verbose_sessions
t_case "a wrong or missing key is refused before the store is touched" case_wrong_key_refused
t_case "key files readable by others are refused" case_key_permissions
t_case "random bytes and bad frames: the listener survives and serves the next session" case_hostile_input
t_case "ssh:// through a stand-in rsh" case_ssh_stand_in
t_case "compression shows in bytes_sent" case_compression_counts_wire_bytes
t_case "kill -9 of the receiving side mid-transfer, then convergence" case_kill_receiver_mid_transfer
t_case "kill -9 of the sending side mid-transfer, then convergence" case_kill_sender_mid_transfer
t_case "an interrupted transfer resumes where it stopped" case_resume_after_a_cut
t_case "a store's trigger runs on the destination after a session that changed it" case_store_trigger
t_case "mirrord passes a session to the mount serving the store" case_sync_into_mounted_remote_store
t_case "a spool that cannot be written: a clear error, nothing committed" case_spool_cannot_be_written
t_done
