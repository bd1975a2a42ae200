#!/usr/bin/env bash
# bench/run.sh: mirrorctl and mirrorfs against rsync, tar and the native
# filesystem, on data sets it generates, in one run; writes docs/BENCHMARKS.md.
#
#   bench/run.sh [--small] [--reps N] [--out FILE] [--keep]
#
# --small  ~4,000 files, 256 MiB read file, short fio runs: about 1.5 minutes.
# (full)   ~50,000 files of 0-64 KiB + 20 of 8-64 MiB, 1 GiB read file,
#          20 s fio runs: about 6-10 minutes on 2 cores (deleting each fresh
#          DST is part of it: see R_INIT below).
# Needs root (drop_caches, FUSE). Contenders alternate within each repetition
# (A B A B ...); each figure is the median with min-max over the repetitions.
# Every cold measurement follows `sync; echo 3 > /proc/sys/vm/drop_caches`,
# and every timed write run follows a `sync`, so no run pays for the dirty
# pages an earlier one left behind. MIRRORFS_BUILD=DIR takes the binaries
# from DIR instead of build/.
set -euo pipefail

usage() {
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
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
else
	NDIRS=25 NSUB=20 NFILES=100 NBIG=20 BIGMIN=8 BIGMAX=64
	READ_MIB=1024 FIO_SECS=20 R_INIT=2 R_RESYNC=5 R_READ=3 R_FIO=2 HF_RUNS=100
fi
# Row 1 repetitions are few because every fresh DST must be deleted again:
# on a filesystem mounted with `discard` each freed file costs a synchronous
# discard (about 1.2 ms a file here, a minute for the full tree).
if [ -n "$REPS" ]; then
	R_INIT=$REPS R_RESYNC=$REPS R_READ=$REPS R_FIO=$REPS
fi

W=$(mktemp -d /var/tmp/mirrorfs-bench.XXXXXX)
MNT=$W/mnt
FS_PID=
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
cp "$BUILD/mirrorctl" "$BUILD/mirrorfs" "$W/bin/"	# fixed for the whole run
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
meta versions "$(rsync --version | head -1 | awk '{ print "rsync " $3 }'), $(tar --version | head -1), $(fio --version), $(hyperfine --version), $(fusermount3 --version 2>&1 | tail -1)"
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

meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta mirrorfs_stderr "$(grep -v '^$' "$W/mirrorfs.log" | sort | uniq -c | head -5 | tr '\n' ';')"
log "writing $OUT"
python3 "$HERE/report.py" "$META" "$RES" "$OUT"
cp "$RES" "/var/tmp/mirrorfs-bench-last-$MODE.tsv"
cp "$META" "/var/tmp/mirrorfs-bench-last-$MODE.meta"
log "done"
