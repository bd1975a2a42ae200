#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# The source tree keeps its layers (docs/ARCHITECTURE.md): no include cycle,
# lib/ never includes a program's header, lib/store/ uses only its base.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

ROOT=$(cd "$(dirname "$0")/../.." && pwd)

case_layers() {
	python3 "$ROOT/tests/layers/check.py" "$ROOT" >"$TC/out" 2>&1 || {
		cat "$TC/out"
		t_fail "the layers are broken"
	}
	cat "$TC/out"
}

# The checker itself finds a cycle and a store module reaching up.
case_checker_finds_breaks() {
	mkdir -p tree/lib/store
	printf '#include "b.h"\n' >tree/lib/a.h
	printf '#include "a.h"\n' >tree/lib/b.h
	printf '#include "plan.h"\n' >tree/lib/store/s.c
	printf '\n' >tree/lib/plan.h
	python3 "$ROOT/tests/layers/check.py" tree >"$TC/out" 2>&1 &&
		t_fail "a broken tree passed: $(cat "$TC/out")"
	assert_grep 'include cycle: lib/a -> lib/b -> lib/a' "$TC/out"
	assert_grep 'lib/store/s.c \(the store layer\) includes plan.h' "$TC/out"
}

t_case "no include cycle; lib/ and lib/store/ include only below them" case_layers
t_case "the layer checker finds a cycle and a layer reaching up" case_checker_finds_breaks
t_done
