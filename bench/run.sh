#!/usr/bin/env bash
# bench/run.sh: mirrorctl and mirrorfs against rsync, tar and the native
# filesystem, on data sets it generates, in one run; writes docs/BENCHMARKS.md.
#
#   bench/run.sh [--small] [--reps N] [--out FILE] [--keep]
#
# --small  ~4,000 files, 256 MiB read file, short fio runs, 20,000 watched
#          files: about 1.5 minutes.
# (full)   ~50,000 files of 0-64 KiB + 20 of 8-64 MiB, 1 GiB read file,
#          20 s fio runs, 200,000 watched files: about 7-10 minutes on 2
#          cores (deleting each fresh DST is part of it: see R_INIT below).
# Rows 6-10 (loopback TCP against an rsync daemon, bytes on the wire for a
# small change, latency against lsyncd via bench/latency.sh, mirrord's RSS
# while watching) put their destinations on a tmpfs mounted under the temp dir.
# Needs root (drop_caches, FUSE). Contenders alternate within each repetition
# (A B A B ...); each figure is the median with min-max over the repetitions.
# Every cold measurement follows `sync; echo 3 > /proc/sys/vm/drop_caches`,
# and every timed write run follows a `sync`, so no run pays for the dirty
# pages an earlier one left behind. MIRRORFS_BUILD=DIR takes the binaries
# from DIR instead of build/.
set -euo pipefail

usage() {
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
}

MODE=full
REPS=
OUT=
KEEP=0
ARGS="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--small) MODE=small ;;
	--full) MODE=full ;;
	--reps) REPS=$2; shift ;;
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
deps() {
	local p missing= optional=
	for p in rsync hyperfine fio time fuse3 python3 tar findutils; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	for p in lsyncd mergerfs; do	# for later rows; cheap
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			optional="$optional $p"
	done
	[ -z "$missing$optional" ] && return 0
	log "installing$missing$optional"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y $missing $optional >/dev/null 2>&1; then
		apt-get update >/dev/null 2>&1 || true
		apt-get install -y $missing >/dev/null
		apt-get install -y $optional >/dev/null 2>&1 || log "optional:$optional not installed"
	fi
}
deps

if [ ! -x "$BUILD/mirrorctl" ] || [ ! -x "$BUILD/mirrorfs" ]; then
	log "building (make)"
	make -C "$REPO" >/dev/null
fi

# --- settings ----------------------------------------------------------------
if [ "$MODE" = small ]; then
	NDIRS=10 NSUB=8 NFILES=50 NBIG=2 BIGMIN=8 BIGMAX=16
	READ_MIB=256 FIO_SECS=5 R_INIT=2 R_RESYNC=3 R_READ=3 R_FIO=1 HF_RUNS=100
	R_TCP=2 R_WIRE=3 LAT_TRIALS=6 NWATCH=20000
else
	NDIRS=25 NSUB=20 NFILES=100 NBIG=20 BIGMIN=8 BIGMAX=64
	READ_MIB=1024 FIO_SECS=20 R_INIT=2 R_RESYNC=5 R_READ=3 R_FIO=2 HF_RUNS=100
	R_TCP=2 R_WIRE=3 LAT_TRIALS=10 NWATCH=200000
fi
# Row 1 repetitions are few because every fresh DST must be deleted again:
# on a filesystem mounted with `discard` each freed file costs a synchronous
# discard (about 1.2 ms a file here, a minute for the full tree).
if [ -n "$REPS" ]; then
	R_INIT=$REPS R_RESYNC=$REPS R_READ=$REPS R_FIO=$REPS R_TCP=$REPS R_WIRE=$REPS
fi

W=$(mktemp -d /var/tmp/mirrorfs-bench.XXXXXX)
MNT=$W/mnt
TM=$W/tmpfs	# destinations of rows 6-10 (see there)
FS_PID=
BG_PIDS=()	# daemons started for rows 6-10
RES=$W/results.tsv
META=$W/meta.tsv
: >"$RES"
: >"$META"

cleanup() {
	local rc=$?
	set +e
	if [ "$rc" != 0 ] && [ -s "$RES" ]; then
		cp "$RES" "/var/tmp/mirrorfs-bench-failed-$MODE.tsv"
		cp "$META" "/var/tmp/mirrorfs-bench-failed-$MODE.meta"
		log "partial results in /var/tmp/mirrorfs-bench-failed-$MODE.{tsv,meta}"
	fi
	if [ -n "$FS_PID" ]; then
		fusermount3 -u "$MNT" 2>/dev/null || { sleep 1; fusermount3 -u "$MNT"; }
		wait "$FS_PID" 2>/dev/null
		FS_PID=
	fi
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	mountpoint -q "$TM" 2>/dev/null && umount "$TM"
	if mountpoint -q "$MNT" 2>/dev/null; then
		log "$MNT still mounted; left $W in place"
	elif [ "$KEEP" = 1 ]; then
		log "kept $W"
	else
		case $W in /var/tmp/mirrorfs-bench.*) rm -rf -- "$W" ;; esac
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "ERROR: line $LINENO: $BASH_COMMAND exited with status $?"' ERR

mkdir -p "$W/bin" "$MNT"
cp "$BUILD/mirrorctl" "$BUILD/mirrorfs" "$BUILD/mirrord" "$W/bin/"	# fixed for the whole run
MC=$W/bin/mirrorctl
MFS=$W/bin/mirrorfs

# --- helpers -----------------------------------------------------------------
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
# rec KEY CONTENDER VALUE UNIT
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
dirty_kb() { awk '/^Dirty:/ { print $2 }' /proc/meminfo; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

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

run_mirrorctl() { "$MC" sync -q "$1" "$2" >>"$W/mirrorctl.log"; }
run_rsync() { rsync -a "$1/" "$2/"; }
run_tar() { mkdir -p "$2"; tar -C "$1" -cf - . | tar -C "$2" -xf -; }

# --- machine -----------------------------------------------------------------
meta mode "$MODE"
meta command "bench/run.sh${ARGS:+ $ARGS}"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
meta cores "$(nproc)"
meta ram "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
meta kernel "$(uname -r)"
meta fs "$(findmnt -no FSTYPE,OPTIONS -T "$W" | awk '{ print $1 " (" $2 ")" }')"
meta dirty_ratio "$(cat /proc/sys/vm/dirty_ratio)% (background $(cat /proc/sys/vm/dirty_background_ratio)%)"
meta commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- lib fs tools 2>/dev/null || echo ' + uncommitted changes in lib/fs/tools')"
meta binaries "$(stat -c '%y' "$BUILD/mirrorctl" | cut -d. -f1)"
meta versions "$(rsync --version | head -1 | awk '{ print "rsync " $3 }'), $(tar --version | head -1), $(fio --version), $(hyperfine --version), $(fusermount3 --version 2>&1 | tail -1), $(lsyncd --version 2>/dev/null | head -1 || echo 'lsyncd ?')"
meta tmpdir "$W"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"

# --- data --------------------------------------------------------------------
SRC=$W/src
log "generating tree ($MODE) in $W"
GEN=$(python3 "$HERE/gen.py" tree "$SRC" $NDIRS $NSUB $NFILES $NBIG $BIGMIN $BIGMAX)
meta tree "$GEN symlinks=$((NDIRS * NSUB)) dirs=$((NDIRS * NSUB + NDIRS + 1))"
python3 "$HERE/gen.py" readset "$W/readsrc" "$READ_MIB"
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
for r in $(seq 1 "$R_INIT"); do
	for c in mirrorctl rsync tar; do
		d=$W/dst-$c
		rm -rf -- "$d"
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
		if [ $c = tar ]; then
			rec init "tar+sync" "$(awk -v a="$T_RUN" -v b="$LAST_WB" 'BEGIN { printf "%.6f", a + b }')" s
		fi
	done
done
rm -rf -- "$W/dst-tar"
STORE=$W/dst-mirrorctl
RDST=$W/dst-rsync

# --- 2. no-change re-sync ----------------------------------------------------
log "2. no-change re-sync x$R_RESYNC"
for r in $(seq 1 "$R_RESYNC"); do
	for c in mirrorctl rsync; do
		write_pre nochange_warm "$c"
		if [ $c = mirrorctl ]; then timed nochange_warm $c run_mirrorctl "$SRC" "$STORE"
		else timed nochange_warm $c run_rsync "$SRC" "$RDST"; fi
		write_post nochange_warm "$c"
	done
	for c in mirrorctl rsync; do
		drop
		if [ $c = mirrorctl ]; then timed nochange_cold $c run_mirrorctl "$SRC" "$STORE"
		else timed nochange_cold $c run_rsync "$SRC" "$RDST"; fi
	done
done
tail -1 "$W/mirrorctl.log" | sed 's/^/  mirrorctl: /' >&2

# --- 3. one changed file -----------------------------------------------------
log "3. one changed file x$R_RESYNC"
F=$SRC/d00/s00/f0001
for r in $(seq 1 "$R_RESYNC"); do
	touch "$F"
	echo "change $r" >>"$F"
	for c in mirrorctl rsync; do
		write_pre onechange "$c"
		if [ $c = mirrorctl ]; then timed onechange $c run_mirrorctl "$SRC" "$STORE"
		else timed onechange $c run_rsync "$SRC" "$RDST"; fi
		write_post onechange "$c"
	done
done
tail -1 "$W/mirrorctl.log" | sed 's/^/  mirrorctl: /' >&2
cmp -s "$F" "$STORE/d00/s00/f0001" && cmp -s "$F" "$RDST/d00/s00/f0001" ||
	{ log "ERROR: the changed file did not arrive"; exit 1; }
rm -rf -- "$RDST"

# --- 4. reads: mount vs the native store -------------------------------------
log "4. reads through the mount vs native x$R_READ"
"$MC" sync -q "$W/readsrc" "$STORE" >>"$W/mirrorctl.log"
sync
# mirrorfs keeps an O_PATH fd per inode the kernel knows: with the usual
# RLIMIT_NOFILE (1024 under systemd, 20000 in this shell) lookups fail with
# EMFILE on a 50,000-file tree. We raise the limit as far as we may (root
# without CAP_SYS_RESOURCE cannot pass the hard limit) and report what the
# mount then fails to show.
NOFILE_DEFAULT=$(ulimit -n)
(ulimit -Hn 1048576 2>/dev/null || true; ulimit -n "$(ulimit -Hn)" || true; exec "$MFS" -f "$STORE" "$MNT") 2>>"$W/mirrorfs.log" &
FS_PID=$!
for _ in $(seq 1 50); do
	mountpoint -q "$MNT" && break
	sleep 0.1
done
mountpoint -q "$MNT" || { log "ERROR: mirrorfs did not mount"; exit 1; }
meta mirrorfs_cmd "mirrorfs -f STORE MNT (defaults: multi-threaded, cache_timeout=86400), started with ulimit -n $(awk '/Max open files/ { print $4 }' /proc/$FS_PID/limits) (the shell's default: $NOFILE_DEFAULT)"

path_of() { if [ "$1" = mirrorfs ]; then echo "$MNT"; else echo "$STORE"; fi; }
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
# find over the tree; the native side skips .mirrorfs, as the mount does.
findcount() {
	if [ "$1" = mirrorfs ]; then { find "$MNT" -type f || true; } | wc -l
	else find "$STORE" -path "$STORE/.mirrorfs" -prune -o -type f -print | wc -l; fi
} 2>>"$W/find.err"
findstat() {
	if [ "$1" = mirrorfs ]; then { find "$MNT" -type f -printf '%s %T@ %m\n' || true; } | wc -l
	else find "$STORE" -path "$STORE/.mirrorfs" -prune -o -type f -printf '%s %T@ %m\n' | wc -l; fi
} 2>>"$W/find.err"

for r in $(seq 1 "$R_READ"); do
	for c in mirrorfs native; do
		drop
		seqread seq_cold "$c" "$(path_of $c)/big.bin"
	done
done
for c in mirrorfs native; do cat "$(path_of $c)/big.bin" >/dev/null; done
for r in $(seq 1 "$R_READ"); do
	for c in mirrorfs native; do seqread seq_warm "$c" "$(path_of $c)/big.bin"; done
done
for r in $(seq 1 "$R_FIO"); do
	for c in mirrorfs native; do
		drop
		randread rand_cold "$c" "$(path_of $c)/big.bin"
	done
done
for c in mirrorfs native; do cat "$(path_of $c)/big.bin" >/dev/null; done
for r in $(seq 1 "$R_FIO"); do
	for c in mirrorfs native; do randread rand_warm "$c" "$(path_of $c)/big.bin"; done
done
# exec of a small binary: hyperfine rounds alternate mount and native.
for r in 1 2; do
	for c in mirrorfs native; do
		hyperfine -N --warmup 10 --runs "$HF_RUNS" --export-json "$W/hf.json" \
		    "$(path_of $c)/bin/true" >/dev/null 2>&1 || { log "exec through $c failed"; continue; }
		python3 -c 'import json,sys
for t in json.load(open(sys.argv[1]))["results"][0]["times"]:
    print("exec\t%s\t%.6f\tms" % (sys.argv[2], t * 1000))' "$W/hf.json" "$c" >>"$RES"
	done
done

# The same over a part of the tree that stays under RLIMIT_NOFILE (see the
# EMFILE note at the mount): figures that mean something even while the
# whole-tree walk through the mount fails.
SUBDIRS="d00 d01 d02 d03 d04 d05 d06 d07"
subfind() {	# WHO ARGS...: find over the SUBDIRS of MNT or STORE
	local who=$1 base
	shift
	base=$(path_of "$who")
	(cd "$base" && { find $SUBDIRS "$@" || true; }) | wc -l
} 2>>"$W/find.err"
for r in $(seq 1 "$R_READ"); do
	for c in mirrorfs native; do
		drop
		timed subfind_cold "$c" subfind "$c" -type f >/dev/null
		drop
		timed subfindstat_cold "$c" subfind "$c" -type f -printf '%s %T@ %m\n' >/dev/null
	done
done
for c in mirrorfs native; do subfind "$c" -type f -printf '%s\n' >/dev/null; done
for r in $(seq 1 "$R_READ"); do
	for c in mirrorfs native; do
		timed subfind_warm "$c" subfind "$c" -type f >/dev/null
		timed subfindstat_warm "$c" subfind "$c" -type f -printf '%s %T@ %m\n' >/dev/null
	done
done
meta subfind_files "$(subfind mirrorfs -type f) through the mount, $(subfind native -type f) native"
rec rss_after_substat mirrorfs "$(awk '/^VmRSS/ { print $2 }' /proc/$FS_PID/status)" KiB
meta mirrorfs_fds_sub "$(ls /proc/$FS_PID/fd | wc -l)"

NF=0
for r in $(seq 1 "$R_READ"); do
	for c in mirrorfs native; do
		drop
		timed find_cold "$c" findcount "$c" >/dev/null
		drop
		timed findstat_cold "$c" findstat "$c" >/dev/null
	done
done
for c in mirrorfs native; do findstat "$c" >/dev/null; done
for r in $(seq 1 "$R_READ"); do
	for c in mirrorfs native; do
		timed find_warm "$c" findcount "$c" >/dev/null
		timed findstat_warm "$c" findstat "$c" >/dev/null
	done
done
: >"$W/find.err"
NM=$(findstat mirrorfs); NN=$(findstat native)
meta find_files "$NM through the mount, $NN native; errors in the last pass: $(wc -l <"$W/find.err") $(head -1 "$W/find.err")"
[ "$NM" = "$NN" ] || log "WARNING: find counts differ: mount $NM, native $NN"

# --- 5. memory of the mount after stat of every file --------------------------
rec rss_after_stat mirrorfs "$(awk '/^VmRSS/ { print $2 }' /proc/$FS_PID/status)" KiB
rec hwm_after_stat mirrorfs "$(awk '/^VmHWM/ { print $2 }' /proc/$FS_PID/status)" KiB
meta mirrorfs_fds "$(ls /proc/$FS_PID/fd | wc -l) open fds after stat of every file"
meta mirrorfs_threads "$(awk '/^Threads/ { print $2 }' /proc/$FS_PID/status)"

fusermount3 -u "$MNT"
wait "$FS_PID" || log "mirrorfs exited with status $?"
FS_PID=

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
freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PM=$(freeport)
PR=$(freeport)
[ "$PM" != "$PR" ] || PR=$(freeport)
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
tcp_mirrorctl() {	# SRC URL LEVEL: bytes on the wire in $BYTES
	"$MC" sync -q --json --key "$W/key" --compress "$3" "$1" "$2" >"$JSON"
	BYTES=$(tail -1 "$JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_sent"])')
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
diff -rq --no-dereference --exclude=.mirrorfs "$SRC" "$TM/m-app" >/dev/null && diff -rq --no-dereference "$SRC" "$TM/rs-app" >/dev/null ||
	{ log "ERROR: the TCP copies differ from SRC"; exit 1; }

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
fi

# 10. memory of mirrord watching NWATCH files (first session done)
log "10. mirrord watching $NWATCH files"
WT=$TM/watch
python3 - "$WT/src" "$NWATCH" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(11)
pool = rng.randbytes(1 << 20)
per = 1000
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // per))
    if i % per == 0:
        os.makedirs(d, exist_ok=True)
    k = rng.randint(0, 1024)
    o = rng.randrange(0, len(pool) - k)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(pool[o:o + k])
PY
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
"$W/bin/mirrord" -c "$W/mirrord-watch.conf" >"$W/mirrord-watch.log" 2>&1 &
WD_PID=$!
BG_PIDS+=("$WD_PID")
t0=$EPOCHREALTIME
ST=
for _ in $(seq 1 6000); do	# 10 minutes at most
	ST=$("$MC" status -c "$W/mirrord-watch.conf" --json 2>/dev/null || true)
	python3 -c 'import json, sys
f = json.loads(sys.argv[1])["filesets"][0]
sys.exit(0 if f["last_result"] is not None and f["state"] == "idle" else 1)' "$ST" 2>/dev/null && break
	kill -0 "$WD_PID" 2>/dev/null || { log "ERROR: mirrord (watch) exited"; cat "$W/mirrord-watch.log" >&2; exit 1; }
	sleep 0.1
done
t1=$EPOCHREALTIME
rec watch_first_session mirrord "$(elapsed "$t0" "$t1")" s
RSS=$(awk '/^VmRSS/ { print $2 }' /proc/$WD_PID/status)
HWM=$(awk '/^VmHWM/ { print $2 }' /proc/$WD_PID/status)
rec rss_watch mirrord "$RSS" KiB
rec hwm_watch mirrord "$HWM" KiB
rec rss_watch_per_file mirrord "$(awk -v r="$RSS" -v n="$NWATCH" 'BEGIN { printf "%.0f", r * 1024 / n }')" B
rec hwm_watch_per_file mirrord "$(awk -v r="$HWM" -v n="$NWATCH" 'BEGIN { printf "%.0f", r * 1024 / n }')" B
meta watch_files "$NWATCH"
meta watch_result "$(python3 -c 'import json, sys
f = json.loads(sys.argv[1])["filesets"][0]; r = f["last_result"]
print("created %d, unchanged %d, skipped %d, failed %d; pending_changes %d; %s fds, %s threads" % (
    r["created"], r["unchanged"], r["skipped"], r["failed"], f["pending_changes"], sys.argv[2], sys.argv[3]))' \
	"$ST" "$(ls /proc/$WD_PID/fd | wc -l)" "$(awk '/^Threads/ { print $2 }' /proc/$WD_PID/status)")"
meta watch_inotify "$(grep -c '^inotify' /proc/$WD_PID/fdinfo/* 2>/dev/null | awk -F: '{ s += $2 } END { print s + 0 }') inotify watches"
NDST=$(find "$WT/dst" -path "$WT/dst/.mirrorfs" -prune -o -type f -print | wc -l)
meta watch_dst_files "$NDST"
[ "$NDST" = "$NWATCH" ] || log "WARNING: the watched destination has $NDST of $NWATCH files"
stop_bg "$WD_PID"
rm -rf -- "$WT"
umount "$TM"

meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta mirrorfs_stderr "$(grep -v '^$' "$W/mirrorfs.log" | sort | uniq -c | head -5 | tr '\n' ';')"
log "writing $OUT"
python3 "$HERE/report.py" "$META" "$RES" "$OUT"
cp "$RES" "/var/tmp/mirrorfs-bench-last-$MODE.tsv"
cp "$META" "/var/tmp/mirrorfs-bench-last-$MODE.meta"
log "done"
