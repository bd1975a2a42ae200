#!/bin/bash
# make install: every file in place with its mode, paths that follow PREFIX,
# man pages that render without warnings and cover every option of --help,
# a systemd unit that systemd-analyze accepts, an example config that
# mirrord accepts, bash completion that completes.
set -u
T_TIMEOUT=${T_TIMEOUT:-120}
. "$(dirname "$0")/../lib.sh"
t_setup

VERSION=$(sed -n 's/^VERSION *:= *//p' "$T_ROOT/Makefile")

# install_to ROOT PREFIX: make install of what $BUILD holds (NOBUILD=1: the
# binaries under test, never rebuilt) into ROOT.
install_to() {
	make -C "$T_ROOT" --no-print-directory install NOBUILD=1 BUILD="$BUILD" \
		PREFIX="$2" DESTDIR="$1" >"$TC/make.log" 2>&1 || {
		tail -n 20 "$TC/make.log" >&2
		t_fail "make install PREFIX=$2 DESTDIR=$1 failed"
	}
}

# The files make install PREFIX=/usr puts down, with their modes.
expected_usr() {
	cat <<'EOF'
644 etc/mirrorfs/mirrord.conf.example
755 usr/bin/mirrorctl
755 usr/bin/mirrord
755 usr/bin/mirrorfs
644 usr/lib/systemd/system/mirrord.service
644 usr/lib/systemd/system/mirrorfs@.service
644 usr/share/bash-completion/completions/mirrorctl
644 usr/share/doc/mirrorfs/GUIDE.md
644 usr/share/doc/mirrorfs/OWNERSHIP.md
644 usr/share/doc/mirrorfs/PROTOCOL.md
644 usr/share/doc/mirrorfs/README.md
644 usr/share/doc/mirrorfs/examples/fstab.example
644 usr/share/doc/mirrorfs/examples/mirrord.conf.example
644 usr/share/doc/mirrorfs/examples/opt-app.mount
644 usr/share/man/man5/mirrord.conf.5
644 usr/share/man/man8/mirrorctl.8
644 usr/share/man/man8/mirrord.8
644 usr/share/man/man8/mirrorfs.8
EOF
}

case_files() {
	local root=$TC/root b
	install_to "$root" /usr
	(cd "$root" && find . -type f -printf '%m %P\n' | LC_ALL=C sort) >got
	expected_usr | LC_ALL=C sort >want
	if ! diff -u want got >&2; then
		t_fail "make install put down other files or modes than expected"
	fi
	# no symlinks or other types either; directories 755
	assert_eq "" "$(cd "$root" && find . ! -type f ! -type d)" "non-regular files"
	assert_eq "" "$(cd "$root" && find . -type d ! -perm 755)" "directories not 755"
	for b in mirrorctl mirrord mirrorfs; do
		cmp -s "$BUILD/$b" "$root/usr/bin/$b" || t_fail "usr/bin/$b is not $BUILD/$b"
	done
	assert_eq "mirrorctl $VERSION" "$("$root/usr/bin/mirrorctl" --version)"
	assert_eq "mirrord $VERSION" "$("$root/usr/bin/mirrord" --version)"
	"$root/usr/bin/mirrorfs" --version >v
	assert_grep "^mirrorfs $VERSION \(libfuse 3" v
	# every placeholder was filled in
	if grep -rlE '@(PREFIX|BINDIR|SYSCONFDIR|UNITDIR|VERSION)@' "$root" >left; then
		cat left >&2
		t_fail "placeholders left in installed files"
	fi
}

case_prefix() {
	local root=$TC/root u=usr/local/lib/systemd/system/mirrord.service
	install_to "$root" /usr/local
	for f in usr/local/bin/mirrorctl usr/local/bin/mirrord usr/local/bin/mirrorfs \
		usr/local/share/man/man8/mirrorctl.8 usr/local/share/man/man5/mirrord.conf.5 \
		usr/local/share/bash-completion/completions/mirrorctl \
		usr/local/share/doc/mirrorfs/examples/mirrord.conf.example \
		etc/mirrorfs/mirrord.conf.example "$u"; do
		assert_exists "$root/$f"
	done
	assert_missing "$root/usr/bin"
	assert_grep '^ExecStart=/usr/local/bin/mirrord -c /etc/mirrorfs/mirrord.conf$' "$root/$u"
	assert_grep '/usr/local/share/doc/mirrorfs/examples/mirrord.conf.example' \
		"$root/usr/local/share/man/man8/mirrord.8"
	assert_not_grep '/usr/share/doc' "$root/usr/local/share/man/man8/mirrord.8"
	assert_grep "mirrorfs $VERSION" "$root/usr/local/share/man/man8/mirrorfs.8"
}

# render PAGE: no warning from groff -ww nor from man --warnings.
render() {
	local page=$1
	groff -man -ww -z "$page" >warn 2>&1 || true
	LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$page" \
		>page.txt 2>>warn || t_fail "man -l $page failed"
	if [ -s warn ]; then
		cat warn >&2
		t_fail "$page renders with warnings"
	fi
	[ "$(wc -l <page.txt)" -gt 40 ] || t_fail "$page renders to almost nothing"
}

# covers PAGE HELPFILE: every long option and -o option of HELPFILE is in PAGE.
covers() {
	local page=$1 help=$2 opt
	sed 's/\\-/-/g' "$page" >plain
	for opt in $(grep -oE -- '--[a-z][a-z-]*|-o [a-z_]+' "$help" | tr ' ' '#' | sort -u); do
		opt=${opt//#/ }
		case $opt in
		"-o "*) grep -qF -- "${opt#-o }" plain ;;
		*) grep -qF -- "$opt" plain ;;
		esac || t_fail "$page does not mention $opt (from its --help)"
	done
}

case_man() {
	local root=$TC/root m=$TC/root/usr/share/man
	command -v man >/dev/null || t_skip "man is not installed"
	command -v groff >/dev/null || t_skip "groff is not installed"
	install_to "$root" /usr
	for p in "$m"/man8/*.8 "$m"/man5/*.5; do
		render "$p"
		assert_grep '^\.SH SEE ALSO' "$p"
		assert_grep '^\.SH EXAMPLES?' "$p"
	done
	for p in "$m"/man8/*.8; do
		assert_grep '^\.SH EXIT STATUS' "$p"
		assert_grep '^\.SH FILES' "$p"
	done
	"$BUILD/mirrorctl" --help >help.ctl
	for c in sync recover renamed clear-sync log; do
		"$BUILD/mirrorctl" help "$c" >>help.ctl
	done
	covers "$m/man8/mirrorctl.8" help.ctl
	for c in sync recover renamed genkey clear-sync help; do
		grep -qE "^\.BI? ${c//-/\\\\-}( |\$)" "$m/man8/mirrorctl.8" ||
			t_fail "mirrorctl.8 does not describe the command $c"
	done
	"$BUILD/mirrorfs" --help >help.fs
	covers "$m/man8/mirrorfs.8" help.fs
	"$BUILD/mirrord" --help >help.d
	covers "$m/man8/mirrord.8" help.d
	# the files of a store, in each page that talks about stores
	for f in SYNC lock staging journal renamed partial control.sock; do
		grep -qF ".mirrorfs/$f" "$m/man8/mirrorctl.8" ||
			t_fail "mirrorctl.8 does not describe .mirrorfs/$f"
	done
	assert_grep 'fileset' "$m/man5/mirrord.conf.5"
	# man finds the pages by name in the installed tree
	assert_eq "$m/man5/mirrord.conf.5" "$(MANPATH=$m man -w mirrord.conf)"
}

# verify_unit UNIT NAME ROOT: systemd-analyze verify accepts UNIT, copied to
# $TC/NAME, without a word. It checks that ExecStart= exists: the copy runs
# the binary staged under ROOT.
verify_unit() {
	sed "s|^ExecStart=/usr/bin/|ExecStart=$3/usr/bin/|" "$1" >"$TC/$2"
	systemd-analyze verify --man=no "$TC/$2" >"$TC/verify.log" 2>&1 || {
		cat "$TC/verify.log" >&2
		t_fail "systemd-analyze verify $2 failed"
	}
	if [ -s "$TC/verify.log" ]; then
		cat "$TC/verify.log" >&2
		t_fail "systemd-analyze verify warns about $2"
	fi
}

case_unit() {
	local root=$TC/root u=$TC/root/usr/lib/systemd/system/mirrord.service k
	install_to "$root" /usr
	for k in 'Type=notify' 'ExecStart=/usr/bin/mirrord -c /etc/mirrorfs/mirrord.conf' \
		'Restart=on-failure' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
		'ReadWritePaths=/var/lib/mirrorfs' 'ProtectHome=read-only' 'PrivateTmp=yes' \
		'ProtectKernelTunables=yes' 'ProtectControlGroups=yes' \
		'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'LockPersonality=yes'; do
		grep -qxF -- "$k" "$u" || t_fail "mirrord.service lacks $k"
	done
	for k in CAP_SETUID CAP_SETGID CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_NET_BIND_SERVICE; do
		assert_grep "^CapabilityBoundingSet=.*\<$k\>" "$u"
	done
	assert_not_grep '^RestrictSUIDSGID=yes' "$u"
	command -v systemd-analyze >/dev/null || t_skip "systemd-analyze is not installed"
	verify_unit "$u" mirrord.service "$root"
	cp "$root/usr/share/doc/mirrorfs/examples/opt-app.mount" .
	systemd-analyze verify --man=no "$TC/opt-app.mount" >verify.log 2>&1 || {
		cat verify.log >&2
		t_fail "systemd-analyze verify opt-app.mount failed"
	}
	# the template, as an instance (its binary: the staged one)
	u=$root/usr/lib/systemd/system/mirrorfs@.service
	# shellcheck disable=SC2016 # ${STORE} and the others are systemd's
	for k in 'Type=notify' 'ExecStart=/usr/bin/mirrorfs -f ${STORE} ${MOUNTPOINT} -o ${OPTIONS}' \
		'EnvironmentFile=-/etc/mirrorfs/mount-%i' 'Restart=on-failure'; do
		grep -qxF -- "$k" "$u" || t_fail "mirrorfs@.service lacks $k"
	done
	# no sandboxing: its own mount namespace would hide the mount
	assert_not_grep '^(Protect|Private)' "$u"
	verify_unit "$u" mirrorfs@app.service "$root"
}

case_makefile_flags() {
	local b=$TC/b
	# Under `make check SANITIZE=1` the outer make's variables come in
	# MAKEFLAGS: the makes below are a user's plain ones.
	unset MAKEFLAGS MFLAGS MAKELEVEL
	# CFLAGS from the user replace "-O2 -g" only: the build's own flags stay
	make -C "$T_ROOT" --no-print-directory -n -B BUILD="$b" CFLAGS=-O0 \
		"$b/tools/mirrorctl.o" >n.log
	assert_grep '^cc -D_GNU_SOURCE .*-Ilib .*-Wall .*-fstack-protector-strong .*-O0 +-c -o .*/tools/mirrorctl\.o tools/mirrorctl\.c$' n.log
	# _FORTIFY_SOURCE needs optimization: not at -O0 (its #warning would stop -Werror)
	assert_not_grep '_FORTIFY_SOURCE' n.log
	# and it builds, warning-free (mirrorctl.c needs lib/ and _GNU_SOURCE)
	make -C "$T_ROOT" --no-print-directory BUILD="$b" CFLAGS=-O0 WERROR=-Werror \
		"$b/tools/mirrorctl.o" "$b/lib/sender.o" >o0.log 2>&1 || {
		cat o0.log >&2
		t_fail "make CFLAGS=-O0 failed"
	}
	# CPPFLAGS and LDFLAGS add to the build's too; hardened by default
	make -C "$T_ROOT" --no-print-directory -n -B BUILD="$b" CPPFLAGS=-DMIRRORFS_T0800 \
		LDFLAGS=-Wl,--as-needed "$b/mirrorctl" >n2.log
	assert_grep '^cc -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 .*-Ilib .*-DMIRRORFS_T0800 .*-O2 -g +-c -o .*/lib/buf\.o lib/buf\.c$' n2.log
	assert_grep '^cc -Wl,-z,relro,-z,now +-Wl,--as-needed +-o .*/mirrorctl ' n2.log
	# a caller that chooses its own _FORTIFY_SOURCE level keeps it alone
	make -C "$T_ROOT" --no-print-directory -n -B BUILD="$b" \
		CPPFLAGS=-D_FORTIFY_SOURCE=3 "$b/lib/buf.o" >n3.log
	assert_eq 1 "$(grep -o '_FORTIFY_SOURCE=[0-9]' n3.log | sort -u | wc -l)" "fortify levels"
	assert_grep '_FORTIFY_SOURCE=3' n3.log
	# every module of lib/ and of its subdirectories (which include each
	# other as "store/master.h": -Ilib only)
	mkdir -p tree/lib/extra
	cp "$T_ROOT/Makefile" tree/
	cp "$T_ROOT"/lib/*.[ch] tree/lib/
	printf '/* extra: a module in a subdirectory. */\nint extra_x;\n' >tree/lib/extra/extra.c
	make -C tree --no-print-directory -n BUILD=out out/libmirror.a >n4.log
	assert_grep '^cc .*-Ilib .*-c -o out/lib/extra/extra\.o lib/extra/extra\.c$' n4.log
	assert_not_grep 'Ilib/extra' n4.log
	assert_grep '^ar rcs out/libmirror\.a .*out/lib/extra/extra\.o' n4.log
}

case_example_conf() {
	local root=$TC/root ex pid port
	install_to "$root" /usr
	ex=$root/usr/share/doc/mirrorfs/examples/mirrord.conf.example
	cmp -s "$ex" "$root/etc/mirrorfs/mirrord.conf.example" ||
		t_fail "the two copies of the example differ"
	"$BUILD/mirrorctl" genkey "$TC/key"
	# the example as shipped, with this case's key, store and a free port
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sed -e "s|^key = .*|key = $TC/key|" -e "s|^path = .*|path = $TC/store|" \
		-e "s|^address = .*|address = 127.0.0.1:$port|" "$ex" >mirrord.conf
	assert_eq 1 "$(grep -c "^key = $TC/key\$" mirrord.conf)" "key lines"
	"$BUILD/mirrord" -c mirrord.conf 2>mirrord.log &
	pid=$!
	t_track "$pid"
	for _ in $(seq 100); do
		grep -q 'listening on' mirrord.log && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	assert_grep "listening on 127\.0\.0\.1:$port \(1 stores\)" mirrord.log
	kill -TERM "$pid"
	wait "$pid" || t_fail "mirrord exited $? on SIGTERM"
	t_untrack "$pid"
}

case_completion() {
	local root=$TC/root
	[ -f /usr/share/bash-completion/bash_completion ] ||
		t_skip "bash-completion is not installed"
	install_to "$root" /usr
	bash -c '
		. /usr/share/bash-completion/bash_completion
		. "$1"
		t() {
			COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
			COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
			_mirrorctl mirrorctl "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
			echo "${COMPREPLY[*]}"
		}
		t mirrorctl ""
		t mirrorctl -v sync --pur
		t mirrorctl help cl
	' _ "$root/usr/share/bash-completion/completions/mirrorctl" >comp
	assert_eq "sync recover renamed genkey clear-sync log help" "$(sed -n 1p comp)"
	assert_eq "--purge --purge-dirs" "$(sed -n 2p comp)"
	assert_eq "clear-sync" "$(sed -n 3p comp)"
}

t_case "make install PREFIX=/usr puts every file in place with its mode" case_files
t_case "make install PREFIX=/usr/local: paths inside files follow PREFIX" case_prefix
t_case "man pages render without warnings and cover --help" case_man
t_case "mirrord.service is hardened and passes systemd-analyze verify" case_unit
t_case "the Makefile: CFLAGS, CPPFLAGS, LDFLAGS add to its own; hardening; lib/*/" case_makefile_flags
t_case "mirrord accepts the example configuration" case_example_conf
t_case "bash completion completes commands and options" case_completion
t_done
