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
# Output is printed as it comes, with the time each script took; the last
# line is "N passed, N failed".
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

for script in "$here"/e2e/t*.sh; do
	[ -z "$unit_only" ] || break
	[ -f "$script" ] || continue
	base=$(basename "$script")
	skip=
	for prefix in ${E2E_SKIP:-}; do
		case $base in "$prefix"*) skip=1 ;; esac
	done
	if [ -n "$skip" ]; then
		echo "# e2e: $base left out (E2E_SKIP)"
		continue
	fi
	if [ -n "$pattern" ]; then
		# shellcheck disable=SC2254
		case $base in
		*$pattern*) ;;
		*) continue ;;
		esac
	fi
	echo "# e2e: $base"
	started=$SECONDS
	run_logged 600 bash "$script"
	echo "# $base took $((SECONDS - started)) s"
	line=$(grep -E '^# results: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "not ok - $base: died without a results line (exit status $st)"
		failed=$((failed + 1))
		continue
	fi
	p=$(sed -E 's/^# results: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $base: exit status $st although no case failed"
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
