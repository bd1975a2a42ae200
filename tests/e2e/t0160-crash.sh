#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# Crash safety: a store file is only ever its old or its new version;
# `mirrorctl recover` (or the next sync) rolls the journal forward or back
# and leaves no litter.  Crashes come from MIRRORFS_CRASH_AT fault
# injection and from kill -9 at random times.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup
# shellcheck disable=SC2034 # read by t_case (tests/lib.sh)
T_TIMEOUT=${T_TIMEOUT_CRASH:-500}
KILLS=${CRASH_KILLS:-6}

D=$T/data

# make_data: $D/old and $D/new (same paths, different contents, some only
# in old, some only in new, some identical), and $D/old.json, $D/new.json
# mapping each file to its sha256.
make_data() {
	python3 - "$D" "${CRASH_FILES:-1200}" <<'EOF'
import hashlib, json, os, random, sys
top, nfiles = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
old, new = os.path.join(top, "old"), os.path.join(top, "new")
sums = {"old": {}, "new": {}}
def put(tree, rel, data, mtime, mode=0o644):
    p = os.path.join(top, tree, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)
    os.utime(p, ns=(mtime, mtime))
    sums[tree][rel] = hashlib.sha256(data).hexdigest()
dirs = ["d%02d/s%d" % (i, i % 3) for i in range(40)]
for i in range(nfiles):
    rel = "%s/f%04d" % (dirs[i % len(dirs)], i)
    size = rnd.randint(0, 16384)
    if i % 170 == 0:
        size = rnd.randint(1 << 20, 4 << 20)
    data = rnd.randbytes(size)
    t = (1600000000 + i) * 10**9 + 123
    kind = i % 10
    if kind < 6:                      # changed
        put("old", rel, data, t)
        put("new", rel, rnd.randbytes(size + rnd.randint(0, 100)), t + 10**12)
    elif kind < 9:                    # identical
        put("old", rel, data, t)
        put("new", rel, data, t)
    else:                             # only in old (purged)
        put("old", rel, data, t)
for i in range(nfiles // 10):         # only in new
    rel = "%s/n%04d" % (dirs[(i * 7) % len(dirs)], i)
    put("new", rel, rnd.randbytes(rnd.randint(0, 20000)), 1700000000 * 10**9 + i)
for i in range(5):
    put("new", "brand/new/dir%d/x" % i, rnd.randbytes(1000), 1700000000 * 10**9)
os.makedirs(os.path.join(old, "olddir/empty"), exist_ok=True)
for tree in (old, new):
    for dp, dn, fn in os.walk(tree, topdown=False):
        os.utime(dp, ns=(1650000000 * 10**9 + 5, 1650000000 * 10**9 + 5))
for tree in ("old", "new"):
    with open(os.path.join(top, tree + ".json"), "w") as f:
        json.dump(sums[tree], f)
EOF
}

# check_mix STORE: every file in STORE is its OLD or its NEW version; files
# both trees have are present; nothing else is there.
check_mix() {
	python3 - "$1" "$D/old.json" "$D/new.json" <<'EOF'
import hashlib, json, os, stat, sys
store, old, new = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
seen = set()
for dp, dn, fn in os.walk(store):
    rel_dp = os.path.relpath(dp, store)
    if rel_dp == ".":
        dn[:] = [d for d in dn if d != ".mirrorfs"]
    for n in fn:
        p = os.path.join(dp, n)
        rel = os.path.relpath(p, store)
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode):
            sys.exit("%s: not a regular file" % rel)
        if rel not in old and rel not in new:
            sys.exit("%s: in neither OLD nor NEW (litter)" % rel)
        with open(p, "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()
        if h != old.get(rel) and h != new.get(rel):
            sys.exit("%s: content is neither the OLD nor the NEW version (%d bytes)" % (rel, st.st_size))
        seen.add(rel)
for rel in old:
    if rel in new and rel not in seen:
        sys.exit("%s: missing (it is in OLD and in NEW)" % rel)
EOF
}

assert_mix() {
	local d
	d=$(check_mix "$1" 2>&1) || t_fail "after crash ($2): $d"
}

# reset_store: STORE := a copy of the store synced to OLD.
reset_store() {
	rm -rf "$TC/store"
	cp -a "$D/pristine" "$TC/store"
}

# count_staged: number of files NEW's sync stages (changed + new).
count_staged() {
	python3 -c '
import json, sys
o, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(sum(1 for k in n if o.get(k) != n[k]))' "$D/old.json" "$D/new.json"
}

case_prepare() {
	mkdir -p "$D"
	make_data
	t_ctl sync "$D/old" "$D/pristine"
	assert_rc 0
	assert_trees_eq "$D/old" "$D/pristine"
	assert_no_litter "$D/pristine"
	reset_store
	local t0 t1
	t0=$(date +%s%N)
	t_ctl sync --purge-dirs "$D/new" store
	t1=$(date +%s%N)
	assert_rc 0
	assert_trees_eq "$D/new" store
	echo $(((t1 - t0) / 1000000)) >"$D/duration_ms"
	echo "sync OLD->NEW took $(cat "$D/duration_ms") ms; $(count_staged) files to stage"
}

# crash_at POINT EXPECT: inject a crash at POINT, recover, check.  EXPECT is
# old (rolled back) or new (rolled forward).
crash_at() {
	local point=$1 expect=$2
	reset_store
	MIRRORFS_CRASH_AT=$point t_ctl sync --purge-dirs "$D/new" store
	if [ "$RC" -ne 137 ]; then
		t_show
		t_fail "MIRRORFS_CRASH_AT=$point: expected death by SIGKILL (137), got $RC"
	fi
	t_ctl recover store
	assert_rc 0 "mirrorctl recover after crash at $point"
	# It says what it did: rolled back to OLD, or forward to NEW.
	if [ "$expect" = old ]; then
		assert_grep '^store: recovered an interrupted session that had not committed: rolled back \([0-9]+ staged entries discarded\); consistent$' "$TC/out"
	else
		assert_grep '^store: recovered an interrupted session that had committed: rolled forward \([0-9]+ operations redone\); consistent$' "$TC/out"
	fi
	assert_no_litter store
	assert_mix store "$point"
	local d
	if ! d=$(compare_trees "$D/$expect" store 2>&1); then
		t_fail "after crash at $point and recover, store is not $expect: $d"
	fi
	t_ctl sync --purge-dirs "$D/new" store
	assert_rc 0 "sync after recover ($point)"
	assert_trees_eq "$D/new" store
	assert_no_litter store
}

need_data() {
	[ -f "$D/duration_ms" ] || t_fail "no data (the prepare case failed)"
}

case_staging() {
	need_data
	crash_at staging:1 old
	crash_at "staging:$((${CRASH_FILES:-1200} * 3 / 20))" old
}

case_journal() {
	need_data
	crash_at journal new
}

case_commit() {
	need_data
	crash_at commit:1 new
	crash_at "commit:$((${CRASH_FILES:-1200} / 4))" new
}

case_cleanup() {
	need_data
	crash_at cleanup new
}

# the next sync recovers by itself, without `mirrorctl recover`
case_sync_recovers() {
	need_data
	local point
	for point in staging:50 commit:100; do
		reset_store
		MIRRORFS_CRASH_AT=$point t_ctl sync --purge-dirs "$D/new" store
		assert_rc 137 "exit status of MIRRORFS_CRASH_AT=$point"
		t_ctl sync --purge-dirs "$D/new" store
		assert_rc 0 "sync after a crash at $point"
		assert_no_litter store
		assert_trees_eq "$D/new" store
	done
}

case_random_kill() {
	need_data
	local dur i delay pid st n_killed=0
	dur=$(cat "$D/duration_ms")
	for ((i = 1; i <= KILLS; i++)); do
		reset_store
		delay=$((RANDOM % (dur + 1)))
		setsid "$MIRRORCTL" sync --purge-dirs "$D/new" store >"$TC/bg.out" 2>&1 &
		pid=$!
		t_track "$pid"
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		st=0
		wait "$pid" || st=$?
		t_untrack "$pid"
		if [ "$st" -eq 137 ]; then
			n_killed=$((n_killed + 1))
		elif [ "$st" -eq 0 ]; then
			# It was over within delay: the duration measured once,
			# maybe under load, was too long; aim within this.
			[ "$delay" -ge "$dur" ] || dur=$delay
		else
			cat "$TC/bg.out"
			t_fail "run $i: sync exited $st before it was killed"
		fi
		# nothing of that session may still run
		while kill -0 -- "-$pid" 2>/dev/null; do sleep 0.05; done
		t_ctl recover store
		assert_rc 0 "recover after kill -9 at ${delay} ms (run $i)"
		assert_no_litter store
		assert_mix store "kill -9 at ${delay} ms, run $i"
		t_ctl sync --purge-dirs "$D/new" store
		assert_rc 0 "sync after kill -9 at ${delay} ms (run $i)"
		assert_trees_eq "$D/new" store
		assert_no_litter store
		echo "run $i: kill at $delay ms of $dur (status $st): ok"
	done
	[ "$n_killed" -ge $((KILLS / 2)) ] || t_fail "only $n_killed of $KILLS runs were still alive when killed"
}

t_case "prepare OLD/NEW data, sync OLD, time a sync to NEW" case_prepare
t_case "crash while staging: recover rolls back to OLD" case_staging
t_case "crash after the journal is durable: recover rolls forward" case_journal
t_case "crash during commit: recover rolls forward" case_commit
t_case "crash before journal removal: recover rolls forward" case_cleanup
t_case "the next sync recovers by itself" case_sync_recovers
t_case "kill -9 at random times: only OLD or NEW versions, never litter" case_random_kill
t_done
