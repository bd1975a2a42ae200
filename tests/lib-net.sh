# shellcheck shell=bash
#
# tests/lib-net.sh: helpers for end-to-end tests of the network transports.
# Source after lib.sh. Daemons started here are stopped by pid when the
# case ends; namespaces and links made here are deleted.

MIRRORD=$BUILD/mirrord
export MIRRORD

# free_port: a TCP port nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# write_conf FILE ADDRESS KEY [STORE PATH]...: a mirrord.conf.
write_conf() {
	local file=$1 address=$2 key=$3
	shift 3
	{
		printf '[listen]\naddress = %s\nkey = %s\ntimeout = %s\n' "$address" "$key" "${NET_TIMEOUT:-10}"
		while [ $# -ge 2 ]; do
			printf '\n[store %s]\npath = %s\n' "$1" "$2"
			shift 2
		done
	} >"$file"
}

# start_mirrord CONF LOG [NETNS]: run mirrord -c CONF (in NETNS if given;
# else with $MIRRORD_FLAGS before -c);
# sets MIRRORD_PID; waits until it listens (its own "listening on" line:
# LOG may hold those of an earlier mirrord).
start_mirrord() {
	local conf=$1 log=$2 ns=${3:-} want
	# the count, not any line: a restarted listener logs it once more
	want=$(($(grep -c 'listening on' "$log" 2>/dev/null || true) + 1))
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$MIRRORD" -c "$conf" 2>>"$log" &
	else
		# shellcheck disable=SC2086 # MIRRORD_FLAGS: words, e.g. -v
		"$MIRRORD" ${MIRRORD_FLAGS:-} -c "$conf" 2>>"$log" &
	fi
	MIRRORD_PID=$!
	t_track "$MIRRORD_PID"
	# shellcheck disable=SC2016 # the inner sh expands its own arguments
	wait_for sh -c '[ "$(grep -c "listening on" "$1")" -ge "$2" ]' sh "$log" "$want" ||
		t_fail "mirrord did not start: $(cat "$log")"
}

# stop_mirrord PID: stop a mirrord started here (SIGTERM) and wait for it.
stop_mirrord() {
	kill "$1"
	wait "$1" 2>/dev/null || true
	t_untrack "$1"
}

# serve NAME PATH...: in $TC, a key, a config of [store NAME] = PATH pairs and
# a running mirrord on loopback; sets PORT.
serve() {
	"$MIRRORCTL" genkey key >/dev/null || t_fail "genkey failed"
	PORT=$(free_port)
	write_conf conf "127.0.0.1:$PORT" "$TC/key" "$@"
	start_mirrord conf mirrord.log
}

# cut_src: src of 1,200 files of 8 KiB in four directories, an hour old
# (a session of them to cut).
cut_src() {
	python3 - <<'PY'
import os
for d in "abcd":
    os.makedirs("src/" + d)
    for i in range(300):
        with open("src/%s/f%d" % (d, i), "wb") as f:
            f.write(os.urandom(8192))
PY
	touch -d '-1 hour' src/*/*
}

# kill_sender PID: kills the stopped sender PID (this case's), which must
# die of it, and waits until mirrord has let the store ($TC/store) go.
kill_sender() {
	local st=0
	kill -KILL "$1"
	wait "$1" 2>/dev/null || st=$?
	t_untrack "$1"
	assert_eq 137 "$st" "exit status of the killed sender"
	wait_for sh -c "flock -n '$TC/store/.mirrorfs/lock' true" ||
		t_fail "mirrord still holds the store"
}

# make_rsh FILE: a stand-in for ssh at FILE. Like ssh it takes options
# (-l USER, -p PORT, -i KEY, -o OPT, and flags), then the host, then the
# remote command, whose words it joins with spaces and runs with `sh -c`
# as sshd does, here, with our binaries first on PATH. Each run appends
# its argv, one word per line between "--- argv" and "--- end", to
# $TC/rsh.argv.
make_rsh() {
	cat >"$1" <<STANDIN
#!/bin/bash
{ echo '--- argv'; printf '%s\n' "\$@"; echo '--- end'; } >>"$TC/rsh.argv"
while [ \$# -gt 0 ]; do
	case \$1 in
	-l|-p|-i|-o) shift 2 ;;
	-*) shift ;;
	*) break ;;
	esac
done
shift	# the host
# bash runs a lone command in place (exec), as the remote end must for
# its process to be the one ended when the session gives up.
PATH="$BUILD:\$PATH" exec bash -c "\$*"
STANDIN
	chmod 755 "$1"
}
