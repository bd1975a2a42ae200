#!/bin/bash
#
# tests/run.sh BUILD_DIR [PATTERN]: run every test and print a total.
#
# Without PATTERN: every Check unit-test binary in BUILD_DIR/tests/unit/, then
# every tests/e2e/t*.sh in sorted order.  With PATTERN: only the e2e scripts
# whose file name contains PATTERN (a shell glob is allowed), no unit tests.
# PATTERN --unit-only runs the unit tests alone. E2E_SKIP, a space-separated
# list of script name prefixes (t0810 t0410), leaves those scripts out.
#
# E2E_JOBS (default 2) scripts run at once, each one's output printed whole
# when it ends, in sorted order, with the time it took; a script whose head
# has a line "# e2e: alone (WHY)" (it changes the whole machine: a sysctl,
# an installed package, a file in /usr) runs after them, with nothing else
# running. The last line is "N passed, N failed".
# Exit status 0 only if nothing failed and something passed.
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 BUILD_DIR [PATTERN]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$1
pattern=${2:-}
unit_only=
if [ "$pattern" = --unit-only ]; then
	unit_only=1
	pattern=
fi
case $build in
/*) ;;
*) build=$PWD/$build ;;
esac
if [ ! -d "$build" ]; then
	echo "$0: $build: no such directory" >&2
	exit 2
fi
export BUILD=$build

passed=0
failed=0
out=$(mktemp "${TMPDIR:-/tmp}/mirrorfs-run.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT

# run_logged TIMEOUT CMD...: run CMD, copying its output to stdout as it
# comes and to $out; sets $st to CMD's status.
run_logged() {
	local to=$1
	shift
	timeout -k 10 "$to" "$@" </dev/null 2>&1 | tee "$out"
	st=${PIPESTATUS[0]}
}

if [ -z "$pattern" ]; then
	for bin in "$build"/tests/unit/*; do
		if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
		name=${bin#"$build"/}
		echo "# unit: $name"
		run_logged 600 env CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-30}" "$bin"
		# "100%: Checks: 12, Failures: 0, Errors: 0"
		line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$out" | tail -n 1)
		if [ -z "$line" ]; then
			echo "not ok - $name: no Check summary (exit status $st)"
			failed=$((failed + 1))
			continue
		fi
		c=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
		f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
		e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
		passed=$((passed + c - f - e))
		failed=$((failed + f + e))
		if [ "$st" -ne 0 ] && [ $((f + e)) -eq 0 ]; then
			echo "not ok - $name: exit status $st although all checks passed"
			failed=$((failed + 1))
		fi
	done
fi

# wanted SCRIPT: 0 when the script is to run (E2E_SKIP, PATTERN).
wanted() {
	local base prefix
	base=$(basename "$1")
	for prefix in ${E2E_SKIP:-}; do
		case $base in "$prefix"*)
			echo "# e2e: $base left out (E2E_SKIP)"
			return 1
			;;
		esac
	done
	[ -z "$pattern" ] && return 0
	# shellcheck disable=SC2254
	case $base in
	*$pattern*) return 0 ;;
	esac
	return 1
}

# run_script SCRIPT DIR: runs it, its output to DIR/out, its status to
# DIR/st, its time to DIR/secs (in the background: no shared state).
run_script() {
	local started=$SECONDS rc
	timeout -k 10 600 bash "$1" </dev/null >"$2/out" 2>&1
	rc=$?
	echo "$rc" >"$2/st"
	echo $((SECONDS - started)) >"$2/secs"
}

# account SCRIPT DIR: prints a script's output and adds its results up.
account() {
	local base st line p f
	base=$(basename "$1")
	st=$(cat "$2/st")
	echo "# e2e: $base"
	cat "$2/out"
	echo "# $base took $(cat "$2/secs") s"
	line=$(grep -E '^# results: [0-9]+ passed, [0-9]+ failed$' "$2/out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "not ok - $base: died without a results line (exit status $st)"
		failed=$((failed + 1))
		return
	fi
	p=$(sed -E 's/^# results: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $base: exit status $st although no case failed"
		failed=$((failed + 1))
	fi
}

scripts=()
alone=()
for script in "$here"/e2e/t*.sh; do
	[ -z "$unit_only" ] || break
	[ -f "$script" ] || continue
	wanted "$script" || continue
	if head -n 15 "$script" | grep -q '^# e2e: alone'; then
		alone+=("$script")
	else
		scripts+=("$script")
	fi
done

jobs=${E2E_JOBS:-2}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
work=$(mktemp -d "${TMPDIR:-/tmp}/mirrorfs-e2e-run.XXXXXX") || exit 2
trap 'rm -f "$out"; rm -rf "$work"' EXIT
declare -A index_of=()
next=0 printed=0 running=0
ended=()
while [ "$printed" -lt "${#scripts[@]}" ]; do
	while [ "$running" -lt "$jobs" ] && [ "$next" -lt "${#scripts[@]}" ]; do
		mkdir "$work/$next"
		run_script "${scripts[$next]}" "$work/$next" &
		index_of[$!]=$next
		next=$((next + 1))
		running=$((running + 1))
	done
	wait -n -p done_pid
	running=$((running - 1))
	ended[${index_of[$done_pid]}]=1
	while [ "$printed" -lt "$next" ] && [ -n "${ended[$printed]:-}" ]; do
		account "${scripts[$printed]}" "$work/$printed"
		printed=$((printed + 1))
	done
done
for script in "${alone[@]}"; do
	mkdir "$work/alone"
	run_script "$script" "$work/alone"
	account "$script" "$work/alone"
	rm -rf "$work/alone"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
