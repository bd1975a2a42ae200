#!/usr/bin/env bash
# bench/run.sh: mirrorctl, mirrord and mirrorfs against rsync, tar, lsyncd,
# mergerfs and the native filesystem, on data sets it generates, in one run;
# writes docs/BENCHMARKS.md.
#
#   bench/run.sh [--small] [--reps N] [--stop-after 3] [--out FILE] [--keep]
#
# --small  ~4,000 files, 256 MiB read file, short fio runs, 20,000 watched
#          files: about 2 minutes.
# (full)   ~100,000 files of 0-64 KiB + 20 of 8-64 MiB, 1 GiB read file,
#          20 s fio runs, 1,000,000 watched files: about 20-30 minutes on 2
#          cores (deleting each fresh DST is part of it: see rmtree below).
# --stop-after 3 runs rows 1-3 only (sync, re-sync, one change: the rows of
# mirrorctl and mirrord against rsync) and writes their report.
# Rows 6-10 (loopback TCP against an rsync daemon and ssh to a private sshd
# on 127.0.0.1 against rsync over the same ssh, bytes on the wire for a small
# change, latency against lsyncd via bench/latency.sh, mirrord's RSS while
# watching) put their destinations on a tmpfs mounted under the temp dir.
# Needs root (drop_caches, FUSE). Contenders alternate within each repetition
# (A B A B ...); each figure is the median with min-max over the repetitions.
# Every cold measurement follows `sync; echo 3 > /proc/sys/vm/drop_caches`,
# and every timed write run follows a `sync`, so no run pays for the dirty
# pages an earlier one left behind. MIRRORFS_BUILD=DIR takes the binaries
# from DIR instead of build/.
set -Eeuo pipefail	# -E: the ERR trap (below) also fires inside functions

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

MODE=full
REPS=
STOP_AFTER=
OUT=
KEEP=0
ARGS="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--small) MODE=small ;;
	--full) MODE=full ;;
	--reps) REPS=$2; shift ;;
	--stop-after)
		[ "$2" = 3 ] || { usage >&2; exit 2; }
		STOP_AFTER=$2; shift ;;
	--out) OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BUILD=${MIRRORFS_BUILD:-$REPO/build}
OUT=${OUT:-$REPO/docs/BENCHMARKS.md}

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: needs root (drop_caches, FUSE mounts)" >&2
	exit 2
fi

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# --- what we compare against -------------------------------------------------
# Debian packages; the optional ones feed some rows only (a row whose tool
# could not be installed says so in the table). mergerfs and sshd count as
# present when their program is, however they were installed.
# Rows 1-3 (--stop-after 3) need only rsync, time, tar and python3.
deps() {
	local p missing=() optional=() need=(rsync time python3 tar findutils)
	[ "$STOP_AFTER" = 3 ] || need+=(hyperfine fio fuse3)
	for p in "${need[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	if [ "$STOP_AFTER" != 3 ]; then
		command -v lsyncd >/dev/null || optional+=(lsyncd)
		command -v mergerfs >/dev/null || optional+=(mergerfs)
		command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || optional+=(openssh-server)
		command -v ssh-keygen >/dev/null || optional+=(openssh-client)
		[ -e /usr/include/lmdb.h ] || optional+=(liblmdb-dev)
	fi
	[ $((${#missing[@]} + ${#optional[@]})) = 0 ] && return 0
	log "installing ${missing[*]} ${optional[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y "${missing[@]}" "${optional[@]}" >/dev/null 2>&1; then
		apt-get update >/dev/null 2>&1 || true
		[ ${#missing[@]} = 0 ] || apt-get install -y "${missing[@]}" >/dev/null
		for p in "${optional[@]}"; do
			apt-get install -y "$p" >/dev/null 2>&1 || log "optional $p not installed"
		done
	fi
}
deps

if [ ! -x "$BUILD/mirrorctl" ] || [ ! -x "$BUILD/mirrorfs" ]; then
	log "building (make)"
	make -C "$REPO" >/dev/null
fi

# --- settings ----------------------------------------------------------------
# Full: 100,000 small files in the tree (rows 2-5: the one change is 1 file
# in 100,000, the find/stat rows walk 100,000 files) and 1,000,000 watched
# files (row 10); small: the same rows on a tree of 4,000 files.
if [ "$MODE" = small ]; then
	NDIRS=10 NSUB=8 NFILES=50 NBIG=2 BIGMIN=8 BIGMAX=16
	READ_MIB=256 FIO_SECS=3 R_INIT=2 R_RESYNC=3 R_READ=3 R_FIND=3 R_PY=3 R_FIO=1 HF_RUNS=100
	R_TCP=2 R_WIRE=3 LAT_TRIALS=6 NWATCH=20000 NIDLE=200
	R_PUSH=3 R_BIG=1 BIGFILE_MIB=64 R_RSS=1
else
	NDIRS=50 NSUB=20 NFILES=100 NBIG=20 BIGMIN=8 BIGMAX=64
	READ_MIB=1024 FIO_SECS=20 R_INIT=3 R_RESYNC=5 R_READ=3 R_FIND=5 R_PY=5 R_FIO=2 HF_RUNS=100
	R_TCP=2 R_WIRE=3 LAT_TRIALS=10 NWATCH=1000000 NIDLE=200
	R_PUSH=5 R_BIG=2 BIGFILE_MIB=1024 R_RSS=2
fi
if [ -n "$REPS" ]; then
	R_INIT=$REPS R_RESYNC=$REPS R_READ=$REPS R_FIND=$REPS R_PY=$REPS R_FIO=$REPS R_TCP=$REPS R_WIRE=$REPS
	R_PUSH=$REPS R_BIG=$REPS R_RSS=$REPS
fi

W=$(mktemp -d /var/tmp/mirrorfs-bench.XXXXXX)
MNT=$W/mnt	# mirrorfs over STORE (row 4)
MGMNT=$W/mergerfs	# mergerfs over the same STORE (row 4)
TM=$W/tmpfs	# destinations of rows 6-10 (see there)
FS_PID=
MG_PID=
BG_PIDS=()	# daemons started for rows 2-3 and 6-10 (mirrord, rsync, sshd)
RUN_SSHD_MADE=	# /run/sshd was made by us (sshd's privilege separation dir)
RES=$W/results.tsv
META=$W/meta.tsv
: >"$RES"
: >"$META"

# rmtree DIR...: deletes trees, 4 top-level entries at a time. On a
# filesystem mounted with `discard` (as here) each freed file costs a
# synchronous discard, about 1 ms; in parallel they overlap.
rmtree() {
	local d
	for d in "$@"; do
		if [ -d "$d" ]; then find "$d" -mindepth 1 -maxdepth 1 -print0; fi
	done | xargs -0 -r -n 1 -P 4 rm -rf --
	rm -rf -- "$@"
}

unmount_fuse() {	# MOUNTPOINT PID
	fusermount3 -u "$1" 2>/dev/null || { sleep 1; fusermount3 -u "$1"; } || return 1
	wait "$2" 2>/dev/null
}

cleanup() {
	local rc=$? p
	set +e
	trap - ERR
	if [ "$rc" != 0 ] && [ -s "$RES" ]; then
		cp "$RES" "/var/tmp/mirrorfs-bench-failed-$MODE.tsv"
		cp "$META" "/var/tmp/mirrorfs-bench-failed-$MODE.meta"
		mkdir -p "/var/tmp/mirrorfs-bench-failed-$MODE.logs"
		cp "$W"/*.log "$W"/*.err "$W"/*.conf "/var/tmp/mirrorfs-bench-failed-$MODE.logs/" 2>/dev/null
		log "partial results in /var/tmp/mirrorfs-bench-failed-$MODE.{tsv,meta,logs}"
	fi
	[ -z "$FS_PID" ] || unmount_fuse "$MNT" "$FS_PID"
	[ -z "$MG_PID" ] || unmount_fuse "$MGMNT" "$MG_PID"
	FS_PID=''
	MG_PID=''
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[ -z "$RUN_SSHD_MADE" ] || rmdir /run/sshd
	mountpoint -q "$TM" 2>/dev/null && umount "$TM"
	if mountpoint -q "$MNT" 2>/dev/null || mountpoint -q "$MGMNT" 2>/dev/null ||
	    mountpoint -q "$TM" 2>/dev/null; then
		log "a mount is left under $W; left $W in place"
	elif [ "$KEEP" = 1 ]; then
		log "kept $W"
	else
		case $W in /var/tmp/mirrorfs-bench.*) rmtree "$W" ;; esac
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "ERROR: line $LINENO: $BASH_COMMAND exited with status $?"' ERR

mkdir -p "$W/bin" "$MNT" "$MGMNT"
cp "$BUILD/mirrorctl" "$BUILD/mirrorfs" "$BUILD/mirrord" "$W/bin/"	# fixed for the whole run
MC=$W/bin/mirrorctl
MFS=$W/bin/mirrorfs

# --- helpers -----------------------------------------------------------------
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
# rec KEY CONTENDER VALUE UNIT
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
dirty_kb() { awk '/^Dirty:/ { print $2 }' /proc/meminfo; }
# Other programs on the machine may drop the caches too (a warm figure then
# measures a cold read): /proc/vmstat counts every drop, we count ours.
DROPS=0
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; DROPS=$((DROPS + 1)); }
vm_drops() { awk '/^drop_pagecache / { print $2 }' /proc/vmstat; }
foreign_drops() { echo $(($(vm_drops) - $1 - (DROPS - $2))); }	# VM_DROPS_BEFORE DROPS_BEFORE

# timed KEY CONTENDER CMD...: wall time of CMD in seconds (also in $LAST).
LAST=0
timed() {
	local key=$1 who=$2 t0 t1
	shift 2
	t0=$EPOCHREALTIME
	"$@"
	t1=$EPOCHREALTIME
	LAST=$(elapsed "$t0" "$t1")
	rec "$key" "$who" "$LAST" s
}

# A write run starts with nothing dirty; afterwards the time `sync` takes
# is what the run left for the kernel to write (recorded, not billed).
write_pre() { sync; rec "dirty_before:$1" "$2" "$(dirty_kb)" KiB; }
write_post() {
	local t0 t1
	rec "dirty_after:$1" "$2" "$(dirty_kb)" KiB
	t0=$EPOCHREALTIME; sync; t1=$EPOCHREALTIME
	LAST_WB=$(elapsed "$t0" "$t1")
	rec "writeback:$1" "$2" "$LAST_WB" s
}

maxrss() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }

freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
stop_bg() {	# PID: stop one daemon we started
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${BG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	BG_PIDS=("${keep[@]}")
}
wait_log() {	# FILE PATTERN PID: wait (10 s at most) until a daemon logs PATTERN
	for _ in $(seq 1 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	log "ERROR: no '$2' in $1:"; cat "$1" >&2
	return 1
}

run_mirrorctl() { "$MC" sync -q "$1" "$2" >>"$W/mirrorctl.log"; }
run_rsync() { rsync -a "$1/" "$2/"; }
run_tar() { mkdir -p "$2"; tar -C "$1" -cf - . | tar -C "$2" -xf -; }

# finish: the end of a run: the last facts, then the report.
finish() {
	meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
	meta foreign_drops "$(foreign_drops "$VM_DROPS0" 0)"
	meta mirrorfs_stderr "$({ grep -v '^$' "$W/mirrorfs.log" 2>/dev/null || true; } | sort | uniq -c | awk 'NR <= 5' | tr '\n' ';')"
	log "writing $OUT"
	python3 "$HERE/report.py" "$META" "$RES" "$OUT"
	cp "$RES" "/var/tmp/mirrorfs-bench-last-$MODE.tsv"
	cp "$META" "/var/tmp/mirrorfs-bench-last-$MODE.meta"
	log "done"
}

# --- machine -----------------------------------------------------------------
meta mode "$MODE"
[ -z "$STOP_AFTER" ] || meta rows "1-$STOP_AFTER"
meta command "bench/run.sh${ARGS:+ $ARGS}"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
meta cores "$(nproc)"
meta ram "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
meta kernel "$(uname -r)"
meta fs "$(findmnt -no FSTYPE,OPTIONS -T "$W" | awk '{ print $1 " (" $2 ")" }')"
meta dirty_ratio "$(cat /proc/sys/vm/dirty_ratio)% (background $(cat /proc/sys/vm/dirty_background_ratio)%)"
meta commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- lib fs syncd tools 2>/dev/null || echo ' + uncommitted changes in lib/fs/syncd/tools')"
meta binaries "$(stat -c '%y' "$BUILD/mirrorctl" | cut -d. -f1)"
# (awk reads all its input: no SIGPIPE for the ERR trap, as `| head -1` would)
first() { awk -v f="${1:-0}" 'NR == 1 { print f ? $f : $0 }'; }
meta versions "rsync $(rsync --version | first 3), $(tar --version | first), $(fio --version 2>/dev/null || echo "fio ?"), $(hyperfine --version 2>/dev/null || echo "hyperfine ?"), $(fusermount3 --version 2>&1 | tail -1), lsyncd $( (lsyncd --version 2>/dev/null || echo 'Version: ?') | first 2), mergerfs $( (mergerfs --version 2>/dev/null || echo '? ? ?') | first 3), $(ssh -V 2>&1 | first 1)"
meta tmpdir "$W"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
VM_DROPS0=$(vm_drops)

# --- data --------------------------------------------------------------------
SRC=$W/src
log "generating tree ($MODE) in $W"
GEN=$(python3 "$HERE/gen.py" tree "$SRC" "$NDIRS" "$NSUB" "$NFILES" "$NBIG" "$BIGMIN" "$BIGMAX")
NTREE=$(printf '%s\n' "$GEN" | sed -n 's/.*files=\([0-9]*\).*/\1/p')
meta tree_files "$NTREE"
meta tree "$GEN symlinks=$((NDIRS * NSUB)) dirs=$((NDIRS * NSUB + NDIRS + 1))"
python3 "$HERE/gen.py" readset "$W/readsrc" "$READ_MIB"
# A real application's files (row 4: python3 importing from them).
PYVER=$(python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
mkdir -p "$W/readsrc/py"
cp -a "/usr/lib/$PYVER" "$W/readsrc/py/"
meta readfile "$READ_MIB MiB"

# The disk on its own: 1 GiB written with fsync, then read cold.
sync
t0=$EPOCHREALTIME
dd if=/dev/zero of="$W/ddprobe" bs=1M count=1024 conv=fsync status=none
t1=$EPOCHREALTIME
meta disk_write "$(awk -v s="$(elapsed "$t0" "$t1")" 'BEGIN { printf "%.0f MB/s (1 GiB, dd conv=fsync)", 1073.741824 / s }')"
drop
t0=$EPOCHREALTIME
dd if="$W/ddprobe" of=/dev/null bs=1M status=none
t1=$EPOCHREALTIME
meta disk_read "$(awk -v s="$(elapsed "$t0" "$t1")" 'BEGIN { printf "%.0f MB/s (1 GiB, dd, cold)", 1073.741824 / s }')"
rm -f "$W/ddprobe"

# --- 1. initial sync ---------------------------------------------------------
log "1. initial sync x$R_INIT"
# Every run writes a fresh tree, and the trees go only after the row: ext4
# skips inodes freed in the last 5 minutes whose table block is cached and
# dirty, scanning past each of them at every create, so a run made right
# after deleting the last run's 100,000 files measured that scan (a fifth
# of mirrorctl's profile), for every tool alike.
# Each run starts in turn (mirrorctl rsync tar, then rsync tar mirrorctl,
# ...): the first run of the row was often the slowest here (twice the
# system time of the next, whichever tool ran it).
order="mirrorctl rsync tar"
for r in $(seq 1 "$R_INIT"); do
	[ "$r" = 1 ] || order="${order#* } ${order%% *}"
	for c in $order; do
		d=$W/dst-$c-$r
		[ "$r" != "$R_INIT" ] || d=$W/dst-$c	# the last run's trees serve rows 2 on
		drop
		write_pre init "$c"
		case $c in
		mirrorctl)
			timed init "$c" /usr/bin/time -v -o "$W/rss.txt" "$MC" sync -q "$SRC" "$d" >>"$W/mirrorctl.log"
			;;
		rsync) timed init "$c" /usr/bin/time -v -o "$W/rss.txt" rsync -a "$SRC/" "$d/" ;;
		tar) timed init "$c" run_tar "$SRC" "$d" ;;
		esac
		case $c in mirrorctl|rsync) rec maxrss:init "$c" "$(maxrss "$W/rss.txt")" KiB ;; esac
		T_RUN=$LAST
		write_post init "$c"
		# The durable floor: tar plus the writeback it left (mirrorctl
		# makes its data durable before it returns; tar and rsync do not).
		if [ "$c" = tar ]; then
			rec init "tar+sync" "$(awk -v a="$T_RUN" -v b="$LAST_WB" 'BEGIN { printf "%.6f", a + b }')" s
		fi
	done
done
for r in $(seq 1 "$R_INIT"); do
	rmtree "$W/dst-mirrorctl-$r" "$W/dst-rsync-$r" "$W/dst-tar-$r"
done
rmtree "$W/dst-tar"
STORE=$W/dst-mirrorctl
RDST=$W/dst-rsync

# --- mirrord watching SRC, for rows 2 and 3 ------------------------------------
# A mirrord with one file set (watch = yes, quiet = 0: a change is pushed as
# soon as the daemon reads its event and no process holds the file open for
# write) pushing SRC to its own local store MSTORE on the same disk. Its
# first (whole) session creates MSTORE. It runs through rows 2 and 3 and
# alternates there with mirrorctl and rsync.
MSTORE=$W/dst-mirrord
MDCONF=$W/mirrord-bench.conf
MDLOG=$W/mirrord-bench.log
cat >"$MDCONF" <<CONF
[daemon]
control = $W/mirrord-bench.sock

[fileset bench]
source = $SRC
dest = $MSTORE
watch = yes
quiet = 0
CONF
# wait_idle CONF PID LOG SECONDS: until `mirrorctl status --json` shows the
# (first) file set idle with a result; the status JSON in $ST.
ST=
wait_idle() {
	for _ in $(seq 1 $(($4 * 5))); do
		ST=$("$MC" status -c "$1" --json 2>/dev/null || true)
		python3 -c 'import json, sys
f = json.loads(sys.argv[1])["filesets"][0]
sys.exit(0 if f["last_result"] is not None and f["state"] == "idle" else 1)' "$ST" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || { log "ERROR: mirrord exited"; cat "$3" >&2; return 1; }
		sleep 0.2
	done
	log "ERROR: mirrord's session did not end within $4 s"
	return 1
}
# The daemon logs "bench: session done: N of M destinations committed"
# when it has collected a session (at once: the session's end wakes its
# loop).
md_ended() { grep -c -E '^[^ ]+ mirrord: bench: session done: ' "$MDLOG" || true; }
md_wait() {	# N: until more than N sessions have ended
	for _ in $(seq 1 30000); do
		[ "$(md_ended)" -gt "$1" ] && break
		kill -0 "$MD_WATCH_PID" 2>/dev/null || { log "ERROR: mirrord exited"; cat "$MDLOG" >&2; return 1; }
		sleep 0.01
	done
	if grep -E '^[^ ]+ mirrord: bench: session done: ' "$MDLOG" | tail -1 | grep -q 'done: 0 of'; then
		log "ERROR: mirrord's session failed:"; tail -3 "$MDLOG" >&2
		return 1
	fi
}
md_settle() {	# until the daemon is idle: no session running, no change pending
	for _ in $(seq 1 6000); do
		"$MC" status -c "$MDCONF" --json 2>/dev/null | grep -q '"state":"idle"' && return 0
		sleep 0.05
	done
	log "ERROR: mirrord did not become idle"
	return 1
}
MD_N=0
# start_watcher CONF LOG: mirrord -c CONF in the background (stopped at exit),
# then until its first session has ended; sets WATCHER_PID and WATCHER_S.
start_watcher() {
	"$W/bin/mirrord" -c "$1" >"$2" 2>&1 &
	WATCHER_PID=$!
	BG_PIDS+=("$WATCHER_PID")
	local t0=$EPOCHREALTIME
	wait_idle "$1" "$WATCHER_PID" "$2" 1200 || return 1
	WATCHER_S=$(elapsed "$t0" "$EPOCHREALTIME")
}
# md_syncnow [--full]: sync-now, then until the session it started (if any:
# with nothing pending and the watch complete, the answer is that there is
# nothing to send) has ended.
md_syncnow() {
	local reply
	reply=$("$MC" sync-now -c "$MDCONF" "$@" bench)
	case $reply in
	"nothing to send"*) ;;
	*) md_wait "$MD_N" ;;
	esac
}
log "   mirrord watching SRC: first session into a fresh store"
sync
start_watcher "$MDCONF" "$MDLOG"
MD_WATCH_PID=$WATCHER_PID
meta mirrord_first_session "$(awk -v s="$WATCHER_S" 'BEGIN { printf "%.3g", s }') s, $(python3 -c 'import json, sys
r = json.loads(sys.argv[1])["filesets"][0]["last_result"]
print("created %d, replaced %d, unchanged %d, failed %d" % (r["created"], r["replaced"], r["unchanged"], r["failed"]))' "$ST")"

# --- 2. no-change re-sync ----------------------------------------------------
# mirrord: `mirrorctl sync-now` sends what is pending, and the watch is
# complete: with nothing changed, the daemon answers that there is nothing
# to send and runs no session (timed from the request to that answer).
# `sync-now --full` runs a whole session (the walk of `mirrorctl sync`,
# inside the daemon), timed until the daemon has ended it.
log "2. no-change re-sync x$R_RESYNC"
NOCHANGE=(mirrorctl rsync mirrord mirrord-full)
nochange() {	# KEY CONTENDER: one timed no-change re-sync
	MD_N=$(md_ended)
	case $2 in
	mirrorctl) timed "$1" "$2" run_mirrorctl "$SRC" "$STORE" ;;
	rsync) timed "$1" "$2" run_rsync "$SRC" "$RDST" ;;
	mirrord) timed "$1" "$2" md_syncnow ;;
	mirrord-full) timed "$1" "$2" md_syncnow --full ;;
	esac
}
for r in $(seq 1 "$R_RESYNC"); do
	for c in "${NOCHANGE[@]}"; do
		write_pre nochange_warm "$c"
		nochange nochange_warm "$c"
		write_post nochange_warm "$c"
	done
	for c in "${NOCHANGE[@]}"; do
		drop
		nochange nochange_cold "$c"
	done
done
meta mirrord_nochange_sessions "$(md_ended) sessions ended after row 2 (the first, and $((2 * R_RESYNC)) sync-now --full; the $((2 * R_RESYNC)) sync-now with nothing changed ran none)"
tail -1 "$W/mirrorctl.log" | sed 's/^/  mirrorctl: /' >&2
tail -1 "$MDLOG" | sed 's/^/  /' >&2

# --- 3. one changed file -----------------------------------------------------
# One append to one file of the tree. mirrord sees it and pushes it by
# itself: timed from the write until the new content is readable in MSTORE,
# and until the daemon has ended that session. Then mirrorctl and rsync
# are run on the same change (alternating), each from a `sync`.
log "3. one changed file x$R_RESYNC"
F=d00/s00/f0001
for r in $(seq 1 "$R_RESYNC"); do
	write_pre onechange mirrord
	MD_N=$(md_ended)
	t0=$EPOCHREALTIME
	printf 'change %s\n' "$r" >>"$SRC/$F"
	until cmp -s "$SRC/$F" "$MSTORE/$F"; do
		sleep 0.005
		[ "$(elapsed "$t0" "$EPOCHREALTIME" | cut -d. -f1)" -lt 120 ] ||
			{ log "ERROR: mirrord did not push $F in 120 s"; exit 1; }
	done
	t1=$EPOCHREALTIME
	md_wait "$MD_N"
	t2=$EPOCHREALTIME
	rec onechange_visible mirrord "$(elapsed "$t0" "$t1")" s
	rec onechange mirrord "$(elapsed "$t0" "$t2")" s
	md_settle	# a later event of the same write may start one more session
	write_post onechange mirrord
	for c in mirrorctl rsync; do
		write_pre onechange "$c"
		if [ $c = mirrorctl ]; then timed onechange $c run_mirrorctl "$SRC" "$STORE"
		else timed onechange $c run_rsync "$SRC" "$RDST"; fi
		write_post onechange "$c"
	done
done
tail -1 "$W/mirrorctl.log" | sed 's/^/  mirrorctl: /' >&2
tail -1 "$MDLOG" | sed 's/^/  /' >&2
if ! cmp -s "$SRC/$F" "$STORE/$F" || ! cmp -s "$SRC/$F" "$RDST/$F"; then
	log "ERROR: the changed file did not arrive"
	exit 1
fi
stop_bg "$MD_WATCH_PID"
meta mirrord_sessions "$(md_ended) sessions ended (expected $((1 + 3 * R_RESYNC)): the first, $((2 * R_RESYNC)) sync-now --full, $R_RESYNC changes; the $((2 * R_RESYNC)) sync-now with nothing changed ran none); $(grep -c ': session to ' "$MDLOG") whole, $(grep -c ': session of ' "$MDLOG") partial"
rmtree "$RDST"

[ "$STOP_AFTER" != 3 ] || { finish; exit 0; }

# --- 4. reads: mount vs the native store vs mergerfs -------------------------
log "4. reads through the mount vs native vs mergerfs x$R_READ"
VM_DROPS4=$(vm_drops) DROPS4=$DROPS
"$MC" sync -q "$W/readsrc" "$STORE" >>"$W/mirrorctl.log"
sync
# We raise mirrorfs's RLIMIT_NOFILE as far as we may (root without
# CAP_SYS_RESOURCE cannot pass the hard limit; mirrorfs itself raises its
# soft limit to the hard one) and report what the mount then fails to show.
NOFILE_DEFAULT=$(ulimit -n)
# start_mirrorfs: mounts STORE at MNT in the background (FS_PID) and waits
# for the mount point; the time it took is in $LAST.
start_mirrorfs() {
	local t0 t1
	t0=$EPOCHREALTIME
	(ulimit -Hn 1048576 2>/dev/null || true; ulimit -n "$(ulimit -Hn)" || true; exec "$MFS" -f "$STORE" "$MNT") 2>>"$W/mirrorfs.log" &
	FS_PID=$!
	for _ in $(seq 1 1000); do
		mountpoint -q "$MNT" && break
		sleep 0.01
	done
	t1=$EPOCHREALTIME
	mountpoint -q "$MNT" || { log "ERROR: mirrorfs did not mount"; exit 1; }
	LAST=$(elapsed "$t0" "$t1")
}
# fresh WHO: a cold start for WHO: the page cache dropped and, for
# mirrorfs, a new mount (its clean stop saved the index, the new one loads
# it: the time of that start is the mount_cold series).
fresh() {
	if [ "$1" = mirrorfs ]; then
		unmount_fuse "$MNT" "$FS_PID" || log "mirrorfs exited with status $?"
		drop
		start_mirrorfs
		rec mount_cold mirrorfs "$LAST" s
	fi
	drop
}
start_mirrorfs
meta index_build "$(grep -o 'indexed .* in [0-9.]* s' "$W/mirrorfs.log" | tail -1)"
meta mirrorfs_cmd "mirrorfs -f STORE MNT (defaults: multi-threaded, cache_timeout=86400), started with ulimit -n $(awk '/Max open files/ { print $4 }' /proc/$FS_PID/limits) (the shell's default: $NOFILE_DEFAULT)"

# mergerfs over the same STORE directory as its single branch, with the
# options its manual suggests for read performance: page cache kept across
# opens while mtime and size are unchanged (cache.files=auto-full), name,
# attribute, readdir and symlink caches; no dropcacheonclose (it would drop
# the page cache of STORE's files, which the native reads share).
MG_OPTS="ro,cache.files=auto-full,cache.entry=120,cache.attr=120,cache.negative_entry=120,cache.readdir=true,cache.symlinks=true,cache.statfs=120,fsname=mergerfs-bench"
READERS=(mirrorfs native)
if command -v mergerfs >/dev/null; then
	mergerfs -f -o "$MG_OPTS" "$STORE" "$MGMNT" 2>>"$W/mergerfs.log" &
	MG_PID=$!
	for _ in $(seq 1 50); do
		mountpoint -q "$MGMNT" && break
		sleep 0.1
	done
	if mountpoint -q "$MGMNT"; then
		READERS=(mirrorfs native mergerfs)
		meta mergerfs_cmd "mergerfs -f -o $MG_OPTS STORE MNT2 (mergerfs $(mergerfs --version | first 3), default threads)"
	else
		log "mergerfs did not mount: $(tail -1 "$W/mergerfs.log")"
		meta skip:mergerfs "mergerfs did not mount ($(tail -1 "$W/mergerfs.log"))"
		kill "$MG_PID" 2>/dev/null || true
		wait "$MG_PID" 2>/dev/null || true
		MG_PID=
	fi
else
	meta skip:mergerfs "mergerfs is not installed (apt-get install mergerfs failed)"
fi

path_of() {
	case $1 in
	mirrorfs) echo "$MNT" ;;
	mergerfs) echo "$MGMNT" ;;
	*) echo "$STORE" ;;
	esac
}
seqread() {	# KEY WHO FILE
	local t0 t1
	t0=$EPOCHREALTIME
	dd if="$3" of=/dev/null bs=1M status=none
	t1=$EPOCHREALTIME
	rec "$1" "$2" "$(awk -v s="$(elapsed "$t0" "$t1")" -v m="$READ_MIB" 'BEGIN { printf "%.1f", m * 1.048576 / s }')" MB/s
}
randread() {	# KEY WHO FILE
	local iops
	iops=$(fio --name=rr --filename="$3" --readonly --rw=randread --bs=4k \
	    --ioengine=psync --numjobs=1 --runtime="$FIO_SECS" --time_based \
	    --invalidate=0 --output-format=json |
	    python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["jobs"][0]["read"]["iops"])')
	rec "$1" "$2" "$iops" IOPS
}
# find over the tree; the native and mergerfs sides skip .mirrorfs (the
# store's metadata), which the mount does not show.
findcount() {
	local base
	base=$(path_of "$1")
	{ find "$base" -path "$base/.mirrorfs" -prune -o -type f -print || true; } | wc -l
} 2>>"$W/find.err"
findstat() {
	local base
	base=$(path_of "$1")
	{ find "$base" -path "$base/.mirrorfs" -prune -o -type f -printf '%s %T@ %m\n' || true; } | wc -l
} 2>>"$W/find.err"

for r in $(seq 1 "$R_READ"); do
	for c in "${READERS[@]}"; do
		drop
		seqread seq_cold "$c" "$(path_of "$c")/big.bin"
	done
done
for c in "${READERS[@]}"; do cat "$(path_of "$c")/big.bin" >/dev/null; done
for r in $(seq 1 "$R_READ"); do
	for c in "${READERS[@]}"; do seqread seq_warm "$c" "$(path_of "$c")/big.bin"; done
done
for r in $(seq 1 "$R_FIO"); do
	for c in "${READERS[@]}"; do
		drop
		randread rand_cold "$c" "$(path_of "$c")/big.bin"
	done
done
for c in "${READERS[@]}"; do cat "$(path_of "$c")/big.bin" >/dev/null; done
for r in $(seq 1 "$R_FIO"); do
	for c in "${READERS[@]}"; do randread rand_warm "$c" "$(path_of "$c")/big.bin"; done
done
# exec of a small binary: hyperfine rounds alternate the contenders.
for r in 1 2; do
	for c in "${READERS[@]}"; do
		hyperfine -N --warmup 10 --runs "$HF_RUNS" --export-json "$W/hf.json" \
		    "$(path_of "$c")/bin/true" >/dev/null 2>&1 || { log "exec through $c failed"; continue; }
		python3 -c 'import json,sys
for t in json.load(open(sys.argv[1]))["results"][0]["times"]:
    print("exec\t%s\t%.6f\tms" % (sys.argv[2], t * 1000))' "$W/hf.json" "$c" >>"$RES"
	done
done

# python3 importing standard-library modules from the copy in the store
# (bench/pyimport.py): a real application's cold start, then warm.
PYRUN=(python3 -I -S -B -W ignore "$HERE/pyimport.py")
"${PYRUN[@]}" pick "$STORE/py/$PYVER" 150 >"$W/pymods"
meta pymods "$(wc -l <"$W/pymods")"
meta pyimport_cmd "python3 -I -S -B pyimport.py run ROOT/py/$PYVER MODULES ($(python3 --version), $(wc -l <"$W/pymods") modules from $(head -1 "$W/pymods") to $(tail -1 "$W/pymods"), not counting what they import in turn)"
pyimport() { "${PYRUN[@]}" run "$(path_of "$1")/py/$PYVER" "$W/pymods"; }
for r in $(seq 1 "$R_PY"); do
	for c in "${READERS[@]}"; do
		fresh "$c"
		timed pyimport_cold "$c" pyimport "$c" >/dev/null
		timed pyimport_warm "$c" pyimport "$c" >/dev/null
	done
done

# find, and stat of every file, over the whole tree; cold: a fresh mount
for r in $(seq 1 "$R_FIND"); do
	for c in "${READERS[@]}"; do
		fresh "$c"
		timed find_cold "$c" findcount "$c" >/dev/null
		fresh "$c"
		timed findstat_cold "$c" findstat "$c" >/dev/null
	done
done
for c in "${READERS[@]}"; do findstat "$c" >/dev/null; done
for r in $(seq 1 "$R_FIND"); do
	for c in "${READERS[@]}"; do
		timed find_warm "$c" findcount "$c" >/dev/null
		timed findstat_warm "$c" findstat "$c" >/dev/null
	done
done
: >"$W/find.err"
for c in "${READERS[@]}"; do meta "find_n_$c" "$(findstat "$c")"; done
meta find_errors "$(wc -l <"$W/find.err") $(head -1 "$W/find.err")"
[ "$(findstat mirrorfs)" = "$(findstat native)" ] || log "WARNING: find counts differ: mount $(findstat mirrorfs), native $(findstat native)"

meta foreign_drops_reads "$(foreign_drops "$VM_DROPS4" "$DROPS4")"

# --- 5. memory of the mounts after stat of every file --------------------------
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rec rss_after_stat mirrorfs "$(awk '/^VmRSS/ { print $2 }' "/proc/$FS_PID/status")" KiB
rec hwm_after_stat mirrorfs "$(awk '/^VmHWM/ { print $2 }' "/proc/$FS_PID/status")" KiB
meta mirrorfs_fds "$(fds "$FS_PID") open fds after stat of every file"
meta mirrorfs_threads "$(awk '/^Threads/ { print $2 }' "/proc/$FS_PID/status")"
if [ -n "$MG_PID" ]; then
	rec rss_after_stat mergerfs "$(awk '/^VmRSS/ { print $2 }' "/proc/$MG_PID/status")" KiB
	rec hwm_after_stat mergerfs "$(awk '/^VmHWM/ { print $2 }' "/proc/$MG_PID/status")" KiB
	meta mergerfs_fds "$(fds "$MG_PID") open fds, $(awk '/^Threads/ { print $2 }' "/proc/$MG_PID/status") threads"
	unmount_fuse "$MGMNT" "$MG_PID" || log "mergerfs exited with status $?"
	MG_PID=
fi
unmount_fuse "$MNT" "$FS_PID" || log "mirrorfs exited with status $?"
FS_PID=
meta index_file "$(stat -c %s "$STORE/.mirrorfs/index" 2>/dev/null || echo none)"
meta index_loaded "$(grep -o 'index loaded ([^)]*)' "$W/mirrorfs.log" | tail -1)"

# --- 11. the index's own file against LMDB, on the same store ----------------
read -ra PKG_LIBS <<<"$(pkg-config --libs libzstd libxxhash libsodium inih libcrypto)"
if [ -e /usr/include/lmdb.h ] &&
    cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$REPO/lib" -o "$W/bin/indexfmt" "$HERE/indexfmt.c" \
	"$BUILD/libmirror.a" -llmdb "${PKG_LIBS[@]}" \
	-lrsync -lpthread 2>>"$W/indexfmt.err"; then
	log "11. the index: its own file vs LMDB x$R_READ"
	"$W/bin/indexfmt" "$STORE" "$W" "$R_READ" >>"$RES" 2>>"$W/indexfmt.err" ||
		meta skip:lmdb "indexfmt failed: $(tail -1 "$W/indexfmt.err")"
	rm -f "$W/index.mdb" "$W/index.mdb-lock"
else
	meta skip:lmdb "liblmdb-dev is not installed ($(tail -1 "$W/indexfmt.err" 2>/dev/null))"
fi

# --- 12. a one-file push against foreign dirty data -------------------------
# A one-file push, on a clean filesystem and with 1 GiB of unrelated
# dirty data waiting on the same filesystem (the temp dir's disk): a push
# makes its own files durable, so it should not wait for other writers.
log "12. one-file push, clean and with 1 GiB of foreign dirty data x$R_PUSH"
PS=$W/push-src PD=$W/push-dst
mkdir -p "$PS"
head -c 4096 /dev/urandom >"$PS/f"
run_mirrorctl "$PS" "$PD"
for r in $(seq 1 "$R_PUSH"); do
	sync
	echo "$r" >>"$PS/f"
	timed push1 mirrorctl-clean run_mirrorctl "$PS" "$PD"
	dd if=/dev/zero of="$W/foreign-dirty" bs=1M count=1024 status=none
	rec dirty_before:push1 mirrorctl-dirty "$(dirty_kb)" KiB
	echo "$r" >>"$PS/f"
	timed push1 mirrorctl-dirty run_mirrorctl "$PS" "$PD"
	rm -f "$W/foreign-dirty"
done
sync
cmp -s "$PS/f" "$PD/f" || { log "ERROR: $PD/f differs"; exit 1; }
rm -rf -- "$PS" "$PD"

# --- 13. four big files until durable ---------------------------------------
# Four big files, initial sync until durable: mirrorctl (a local store:
# each file's descriptor goes to the receiver, which copies it with
# copy_file_range) against `cp -a` followed by `sync`.
log "13. four ${BIGFILE_MIB} MiB files, initial sync until durable x$R_BIG"
BS=$W/big-src
mkdir -p "$BS"
meta bigfile "$BIGFILE_MIB MiB"
for k in 1 2 3 4; do
	head -c $((BIGFILE_MIB << 20)) /dev/urandom >"$BS/f$k"
done
cp_sync() { cp -a "$1" "$2" && sync; }
for r in $(seq 1 "$R_BIG"); do
	for c in mirrorctl cp; do
		d=$W/big-$c
		drop
		case $c in
		mirrorctl) timed big4 mirrorctl run_mirrorctl "$BS" "$d" ;;
		cp) timed big4 "cp+sync" cp_sync "$BS" "$d" ;;
		esac
		for k in 1 2 3 4; do
			cmp -s "$BS/f$k" "$d/f$k" || { log "ERROR: $d/f$k differs"; exit 1; }
		done
		rmtree "$d"
	done
done
rm -rf -- "$BS"

# --- 6-10. loopback TCP, bytes on the wire, latency, daemon memory ------------
# Destinations (stores, rsync modules, the watched tree) live on a tmpfs: both
# daemons then write to memory, so these rows measure the protocols and the
# processes, not the disk (and deleting each fresh store costs no discards).
# The sources stay on disk; the initial sync starts cold, as row 1.
log "6-10. loopback TCP, wire bytes, latency, watch RSS"
mkdir -p "$TM"
mount -t tmpfs -o size=16g,mode=0755 mirrorfs-bench "$TM"
meta tcp_dest "tmpfs"
"$MC" genkey "$W/key" >/dev/null
PM=$(freeport)
PR=$(freeport)
[ "$PM" != "$PR" ] || PR=$(freeport)
# The destination mirrord: [store app] at APPDIR, plus the two stores of row 8.
MD_PID=
start_mirrord() {	# APPDIR
	[ -z "$MD_PID" ] || stop_bg "$MD_PID"
	cat >"$W/mirrord-dst.conf" <<CONF
[listen]
address = 127.0.0.1:$PM
key = $W/key

[store app]
path = $1

[store wire3]
path = $TM/wire-m3

[store wire0]
path = $TM/wire-m0
CONF
	: >"$W/mirrord-dst.log"
	"$W/bin/mirrord" -c "$W/mirrord-dst.conf" >>"$W/mirrord-dst.log" 2>&1 &
	MD_PID=$!
	BG_PIDS+=("$MD_PID")
	wait_log "$W/mirrord-dst.log" "listening on" "$MD_PID"
}
# The rsync daemon (re-reads its config on each connection).
cat >"$W/rsyncd.conf" <<CONF
[mod]
path = $TM/rs-app
read only = no
use chroot = no
munge symlinks = no
uid = root
gid = root

[wire]
path = $TM/wire-r
read only = no
use chroot = no
munge symlinks = no
uid = root
gid = root
CONF
mkdir -p "$TM/rs-app" "$TM/wire-r"
: >"$W/rsyncd.log"
rsync --daemon --no-detach --config="$W/rsyncd.conf" --port="$PR" --log-file="$W/rsyncd.log" &
RD_PID=$!
BG_PIDS+=("$RD_PID")
for _ in $(seq 1 100); do
	rsync "rsync://127.0.0.1:$PR/" >/dev/null 2>&1 && break
	sleep 0.1
done
meta tcp_cmds "\`mirrorctl sync -q --json --key K --compress 0 SRC mirror://127.0.0.1:$PM/app\` (mirrord $W/bin) against \`rsync -a --stats SRC/ rsync://127.0.0.1:$PR/mod/\` (rsync --daemon, use chroot = no)"

JSON=$W/mirrorctl.json
# The first destination's bytes_sent of mirrorctl's --json report, in
# $BYTES: read in the shell, because these calls are timed and a python3
# started for it took 0.1 s, half of row 8's figure (rsync's is an awk).
json_bytes() {
	local line
	line=$(tail -n 1 "$JSON")
	[[ $line =~ \"bytes_sent\":([0-9]+) ]] || { log "no bytes_sent in $JSON"; return 1; }
	BYTES=${BASH_REMATCH[1]}
}
tcp_mirrorctl() {	# SRC URL LEVEL: bytes on the wire in $BYTES
	"$MC" sync -q --json --key "$W/key" --compress "$3" "$1" "$2" >"$JSON"
	json_bytes
}
tcp_rsync() {	# SRC URL: bytes on the wire in $BYTES
	rsync -a --stats "$1/" "$2/" >"$W/rsync.stats"
	BYTES=$(awk -F': ' '/^Total bytes sent/ { gsub(",", "", $2); print $2 }' "$W/rsync.stats")
}

# 6. initial sync over loopback TCP (fresh store / module each run, cold source)
log "6. initial sync over loopback TCP x$R_TCP"
for r in $(seq 1 "$R_TCP"); do
	for c in mirrorctl rsync; do
		case $c in
		mirrorctl) rm -rf -- "$TM/m-app"; start_mirrord "$TM/m-app" ;;
		rsync) rm -rf -- "$TM/rs-app"; mkdir "$TM/rs-app" ;;
		esac
		drop
		case $c in
		mirrorctl) timed tcp_init "$c" tcp_mirrorctl "$SRC" "mirror://127.0.0.1:$PM/app" 0 ;;
		rsync) timed tcp_init "$c" tcp_rsync "$SRC" "rsync://127.0.0.1:$PR/mod" ;;
		esac
		rec bytes:tcp_init "$c" "$BYTES" B
	done
done
same_src() {	# COPY WHAT: COPY (less its .mirrorfs) identical to SRC, or exit
	diff -rq --no-dereference --exclude=.mirrorfs "$SRC" "$1" >/dev/null ||
		{ log "ERROR: the $2 copy $1 differs from SRC"; exit 1; }
}
same_tree() { same_src "$1" "$3"; same_src "$2" "$3"; }	# COPY COPY WHAT
same_tree "$TM/m-app" "$TM/rs-app" TCP

# 7. no-change re-sync over loopback TCP (warm)
log "7. no-change re-sync over loopback TCP x$R_RESYNC"
for r in $(seq 1 "$R_RESYNC"); do
	timed tcp_nochange mirrorctl tcp_mirrorctl "$SRC" "mirror://127.0.0.1:$PM/app" 0
	rec bytes:tcp_nochange mirrorctl "$BYTES" B
	timed tcp_nochange rsync tcp_rsync "$SRC" "rsync://127.0.0.1:$PR/mod"
	rec bytes:tcp_nochange rsync "$BYTES" B
done
rm -rf -- "$TM/m-app" "$TM/rs-app"
mkdir "$TM/rs-app"

# 6-7 over ssh: a private sshd on 127.0.0.1 (own host key, client key,
# sshd_config and authorized_keys in the temp dir; the session's PATH starts
# with our binaries, so `mirrord --serve` there is ours). mirrorctl syncs to
# ssh://127.0.0.1//DIR (the remote runs mirrord --serve DIR), rsync to
# 127.0.0.1:DIR/ through the same ssh command; both to the tmpfs.
SSHD=$(command -v sshd || true)
[ -n "$SSHD" ] || [ ! -x /usr/sbin/sshd ] || SSHD=/usr/sbin/sshd
SSHD_PID=
SSH_SKIP=
ssh_start() {
	local d=$W/ssh port remote
	if [ -z "$SSHD" ] || ! command -v ssh-keygen >/dev/null; then
		SSH_SKIP="openssh-server is not installed (apt-get install openssh-server failed)"
		return 1
	fi
	mkdir -p "$d"
	ssh-keygen -q -t ed25519 -N '' -C mirrorfs-bench-host -f "$d/host_key"
	ssh-keygen -q -t ed25519 -N '' -C mirrorfs-bench-client -f "$d/client_key"
	cp "$d/client_key.pub" "$d/authorized_keys"
	port=$(freeport)
	cat >"$d/sshd_config" <<CONF
ListenAddress 127.0.0.1:$port
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
# the temp dir is under /var/tmp (mode 1777): not for StrictModes
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
PidFile none
LogLevel ERROR
SetEnv PATH=$W/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CONF
	# sshd's privilege separation directory (systemd makes it for ssh.service)
	if [ ! -d /run/sshd ]; then
		mkdir -m 0755 /run/sshd
		RUN_SSHD_MADE=1
	fi
	"$SSHD" -D -e -f "$d/sshd_config" 2>>"$W/sshd.log" &
	SSHD_PID=$!
	BG_PIDS+=("$SSHD_PID")
	SSH_CMD=(ssh -F /dev/null -p "$port" -i "$d/client_key" -o BatchMode=yes
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=VERBOSE)
	RSH="${SSH_CMD[*]}"
	for _ in $(seq 1 100); do
		remote=$("${SSH_CMD[@]}" 127.0.0.1 'command -v mirrord' 2>/dev/null) && break
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$remote" != "$W/bin/mirrord" ]; then
		SSH_SKIP="the private sshd did not work (mirrord on its PATH: '$remote'; sshd said: $(tail -1 "$W/sshd.log"))"
		return 1
	fi
}
# ssh's own count of the bytes of the session (LogLevel=VERBOSE prints
# "Transferred: sent N, received M bytes" at exit): both directions.
ssh_bytes() { awk '/^Transferred: sent/ { gsub(",", ""); s += $3 + $5 } END { printf "%.0f\n", s }' "$W/ssh.err"; }
# A run that fails is reported (its last error line, see try_timed) and the
# rows go on: its stderr, ssh's included, is kept in ssh-failures.log.
ssh_failed() {	# WHAT
	{ echo "== $1"; cat "$W/ssh.err"; } >>"$W/ssh-failures.log"
	FAIL_WHY=$({ grep -v -E '^(Warning: Permanently added|Authenticated to|Transferred:|Bytes per second)' "$W/ssh.err" || true; } | tail -1)
	return 1
}
ssh_mirrorctl() {	# SRC DIR [OPTION...]: bytes_sent in $BYTES, ssh's count in $SBYTES
	local src=$1 dir=$2
	shift 2
	"$MC" sync -q --json --rsh "$RSH" "$@" "$src" "ssh://127.0.0.1/$dir" >"$JSON" 2>"$W/ssh.err" ||
		ssh_failed "mirrorctl $* -> $dir" || return 1
	json_bytes
	SBYTES=$(ssh_bytes)
}
ssh_rsync() {	# SRC DIR: "Total bytes sent" in $BYTES, ssh's count in $SBYTES
	rsync -a --stats -e "$RSH" "$1/" "127.0.0.1:$2/" >"$W/rsync.stats" 2>"$W/ssh.err" ||
		ssh_failed "rsync -> $2" || return 1
	BYTES=$(awk -F': ' '/^Total bytes sent/ { gsub(",", "", $2); print $2 }' "$W/rsync.stats")
	SBYTES=$(ssh_bytes)
}
# try_timed KEY CONTENDER CMD...: as timed, but a failing CMD is recorded
# (meta fail:KEY:CONTENDER, counted and with its reason, for the table)
# instead of ending the run; returns CMD's status.
FAIL_WHY=
try_timed() {
	local key=$1 who=$2 t0 t1 n
	shift 2
	t0=$EPOCHREALTIME
	if "$@"; then
		t1=$EPOCHREALTIME
		LAST=$(elapsed "$t0" "$t1")
		rec "$key" "$who" "$LAST" s
		return 0
	fi
	n=$(awk -F'\t' -v k="fail:$key:$who" '$1 == k { split($2, a, " "); n = a[1] } END { print n + 1 }' "$META")
	meta "fail:$key:$who" "$n failed: $FAIL_WHY"
	log "$who ($key) failed: $FAIL_WHY"
	return 1
}
if ssh_start; then
	meta ssh_cmds "\`mirrorctl sync -q --json --rsh RSH SRC ssh://127.0.0.1//DIR\` (default --compress 3; the remote runs \`mirrord --serve DIR\`) against \`rsync -a --stats -e RSH SRC/ 127.0.0.1:DIR/\`; RSH = \`ssh -F /dev/null -p PORT -i KEY -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=VERBOSE\` to \`sshd -D -f CONFIG\` (own config, default ciphers) on 127.0.0.1"
	# mirrorctl-z0: the same with --compress 0, as rsync (no -z) and rows 6-7
	# over TCP. Its copy is checked and deleted at once (tmpfs space: the
	# full tree is about 4 GB a copy).
	log "6. initial sync over ssh x$R_TCP"
	for r in $(seq 1 "$R_TCP"); do
		rm -rf -- "$TM/ssh-mirrorctl" "$TM/ssh-rsync" "$TM/ssh-mirrorctl-z0"
		mkdir "$TM/ssh-rsync"
		for c in mirrorctl-z0 mirrorctl rsync; do
			drop
			case $c in
			mirrorctl) try_timed ssh_init "$c" ssh_mirrorctl "$SRC" "$TM/ssh-$c" ;;
			rsync) try_timed ssh_init "$c" ssh_rsync "$SRC" "$TM/ssh-$c" ;;
			mirrorctl-z0) try_timed ssh_init "$c" ssh_mirrorctl "$SRC" "$TM/ssh-$c" --compress 0 ;;
			esac && {
				rec bytes:ssh_init "$c" "$BYTES" B
				rec sshbytes:ssh_init "$c" "$SBYTES" B
				if [ $c = mirrorctl-z0 ] && [ "$r" = "$R_TCP" ]; then
					same_src "$TM/ssh-$c" ssh
				fi
			}
			[ $c != mirrorctl-z0 ] || rm -rf -- "$TM/ssh-$c"
		done
	done
	# After a failed run a copy is incomplete: complete it (untimed) for row 7.
	ssh_mirrorctl "$SRC" "$TM/ssh-mirrorctl" || ssh_mirrorctl "$SRC" "$TM/ssh-mirrorctl"
	ssh_rsync "$SRC" "$TM/ssh-rsync" || ssh_rsync "$SRC" "$TM/ssh-rsync"
	same_tree "$TM/ssh-mirrorctl" "$TM/ssh-rsync" ssh
	log "7. no-change re-sync over ssh x$R_RESYNC"
	for r in $(seq 1 "$R_RESYNC"); do
		if try_timed ssh_nochange mirrorctl ssh_mirrorctl "$SRC" "$TM/ssh-mirrorctl"; then
			rec bytes:ssh_nochange mirrorctl "$BYTES" B
			rec sshbytes:ssh_nochange mirrorctl "$SBYTES" B
		fi
		if try_timed ssh_nochange rsync ssh_rsync "$SRC" "$TM/ssh-rsync"; then
			rec bytes:ssh_nochange rsync "$BYTES" B
			rec sshbytes:ssh_nochange rsync "$SBYTES" B
		fi
	done
	rm -rf -- "$TM/ssh-mirrorctl" "$TM/ssh-rsync"
else
	log "no ssh rows: $SSH_SKIP"
	meta skip:ssh "$SSH_SKIP"
fi
[ -z "$SSHD_PID" ] || stop_bg "$SSHD_PID"

# 8. bytes on the wire: 4 KiB changed in the middle of a 64 MiB random file
log "8. 4 KiB changed in a 64 MiB file, bytes on the wire x$R_WIRE"
WS=$W/wire-src
mkdir -p "$WS"
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(7).randbytes(64 << 20))' >"$WS/big.bin"
touch -d @$((EPOCHSECONDS - 1000)) "$WS/big.bin"
tcp_mirrorctl "$WS" "mirror://127.0.0.1:$PM/wire3" 3
rec bytes:wire_initial mirrorctl-z3 "$BYTES" B
tcp_mirrorctl "$WS" "mirror://127.0.0.1:$PM/wire0" 0
rec bytes:wire_initial mirrorctl-z0 "$BYTES" B
tcp_rsync "$WS" "rsync://127.0.0.1:$PR/wire"
rec bytes:wire_initial rsync "$BYTES" B
for r in $(seq 1 "$R_WIRE"); do
	python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(4096))' "$r" |
		dd of="$WS/big.bin" bs=4096 seek=$((8192 - 1 + r)) conv=notrunc status=none
	# a whole second apart: rsync's quick check ignores sub-second mtimes here
	touch -d @$((EPOCHSECONDS - 1000 + r)) "$WS/big.bin"
	timed wire_time mirrorctl-z3 tcp_mirrorctl "$WS" "mirror://127.0.0.1:$PM/wire3" 3
	rec wire_bytes mirrorctl-z3 "$BYTES" B
	timed wire_time mirrorctl-z0 tcp_mirrorctl "$WS" "mirror://127.0.0.1:$PM/wire0" 0
	rec wire_bytes mirrorctl-z0 "$BYTES" B
	timed wire_time rsync tcp_rsync "$WS" "rsync://127.0.0.1:$PR/wire"
	rec wire_bytes rsync "$BYTES" B
	rec wire_matched rsync "$(awk -F': ' '/^Matched data/ { gsub(",", "", $2); print $2 + 0 }' "$W/rsync.stats")" B
done
for d in "$TM/wire-m3" "$TM/wire-m0" "$TM/wire-r"; do
	cmp -s "$WS/big.bin" "$d/big.bin" || { log "ERROR: $d/big.bin differs"; exit 1; }
done
stop_bg "$MD_PID"; MD_PID=
stop_bg "$RD_PID"
rm -rf -- "$WS" "$TM/wire-m3" "$TM/wire-m0" "$TM/wire-r"

# 9. change-to-destination latency: mirrord (watch) against lsyncd
log "9. change-to-destination latency x$LAT_TRIALS"
if command -v lsyncd >/dev/null; then
	LATENCY_TSV=$RES MIRRORFS_BUILD=$W/bin "$HERE/latency.sh" "$LAT_TRIALS" 1 >"$W/latency.txt"
	sed 's/^/  /' "$W/latency.txt" >&2
else
	log "lsyncd missing: no latency row"
	meta skip:lsyncd "lsyncd is not installed (apt-get install lsyncd failed)"
fi

# 10. memory of mirrord watching NWATCH files (first session done)
log "10. mirrord watching $NWATCH files"
WT=$TM/watch
python3 "$HERE/gen.py" small "$WT/src" "$NWATCH"
mkdir -p "$WT/dst"
sleep 2	# no file younger than quiet = 1 when the daemon starts
cat >"$W/mirrord-watch.conf" <<CONF
[daemon]
control = $W/watch.sock

[fileset watch]
source = $WT/src
dest = $WT/dst
watch = yes
quiet = 1
CONF
start_watcher "$W/mirrord-watch.conf" "$W/mirrord-watch.log"
WD_PID=$WATCHER_PID
rec watch_first_session mirrord "$WATCHER_S" s
RSS=$(awk '/^VmRSS/ { print $2 }' "/proc/$WD_PID/status")
HWM=$(awk '/^VmHWM/ { print $2 }' "/proc/$WD_PID/status")
rec rss_watch mirrord "$RSS" KiB
rec hwm_watch mirrord "$HWM" KiB
rec rss_watch_per_file mirrord "$(awk -v r="$RSS" -v n="$NWATCH" 'BEGIN { printf "%.0f", r * 1024 / n }')" B
rec hwm_watch_per_file mirrord "$(awk -v r="$HWM" -v n="$NWATCH" 'BEGIN { printf "%.0f", r * 1024 / n }')" B
meta watch_files "$NWATCH"
meta watch_result "$(python3 -c 'import json, sys
f = json.loads(sys.argv[1])["filesets"][0]; r = f["last_result"]
print("created %d, unchanged %d, skipped %d, failed %d; pending_changes %d; %s fds, %s threads" % (
    r["created"], r["unchanged"], r["skipped"], r["failed"], f["pending_changes"], sys.argv[2], sys.argv[3]))' \
	"$ST" "$(fds "$WD_PID")" "$(awk '/^Threads/ { print $2 }' "/proc/$WD_PID/status")")"
meta watch_inotify "$(grep -c '^inotify' "/proc/$WD_PID"/fdinfo/* 2>/dev/null | awk -F: '{ s += $2 } END { print s + 0 }') inotify watches"
NDST=$(find "$WT/dst" -path "$WT/dst/.mirrorfs" -prune -o -type f -print | wc -l)
meta watch_dst_files "$NDST"
[ "$NDST" = "$NWATCH" ] || log "WARNING: the watched destination has $NDST of $NWATCH files"
stop_bg "$WD_PID"

# 15. peak RSS of mirrorctl over the same NWATCH files on tmpfs, initial and
# no-change, against rsync -a (its largest process: /usr/bin/time reports
# the biggest of the process and the children it waited for).
log "15. peak RSS over $NWATCH files on tmpfs x$R_RSS"
rm -rf -- "$WT/dst"
for r in $(seq 1 "$R_RSS"); do
	/usr/bin/time -v -o "$W/rss.txt" "$MC" sync -q "$WT/src" "$TM/rss-m" >>"$W/mirrorctl.log"
	rec maxrss:big_init mirrorctl "$(maxrss "$W/rss.txt")" KiB
	/usr/bin/time -v -o "$W/rss.txt" rsync -a "$WT/src/" "$TM/rss-r/"
	rec maxrss:big_init rsync "$(maxrss "$W/rss.txt")" KiB
	/usr/bin/time -v -o "$W/rss.txt" "$MC" sync -q "$WT/src" "$TM/rss-m" >>"$W/mirrorctl.log"
	rec maxrss:big_nochange mirrorctl "$(maxrss "$W/rss.txt")" KiB
	rm -rf -- "$TM/rss-m" "$TM/rss-r"
done
# 15b. the same to a mirror:// store on loopback: the sending mirrorctl
# alone (the receiver is mirrord's process), which keeps no manifest.
cat >"$W/mirrord-rss.conf" <<CONF
[listen]
address = 127.0.0.1:$PM
key = $W/key

[store app]
path = $TM/rss-md
CONF
for r in $(seq 1 "$R_RSS"); do
	: >"$W/mirrord-rss.log"
	"$W/bin/mirrord" -c "$W/mirrord-rss.conf" >>"$W/mirrord-rss.log" 2>&1 &
	MD_PID=$!
	BG_PIDS+=("$MD_PID")
	wait_log "$W/mirrord-rss.log" "listening on" "$MD_PID"
	for run in init nochange; do
		t0=$EPOCHREALTIME
		/usr/bin/time -v -o "$W/rss.txt" "$MC" sync -q --key "$W/key" \
		    "$WT/src" "mirror://127.0.0.1:$PM/app" >>"$W/mirrorctl.log"
		rec "big_remote_$run" mirrorctl "$(elapsed "$t0" "$EPOCHREALTIME")" s
		rec "maxrss:big_remote_$run" mirrorctl "$(maxrss "$W/rss.txt")" KiB
	done
	stop_bg "$MD_PID"; MD_PID=
	rm -rf -- "$TM/rss-md"
done
umount "$TM"	# frees the watched trees at once

# 14. memory of mirrord --listen holding NIDLE idle connections
log "14. mirrord --listen holding $NIDLE idle connections"
"$HERE/idle.sh" "$W/bin" "$NIDLE" >"$W/idle.tsv"
while IFS=$'\t' read -r k v u; do rec "$k" mirrord "$v" "$u"; done <"$W/idle.tsv"

finish
