#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# debian/: dpkg-buildpackage -us -uc -b builds the package (make deb runs it
# in a copy of the tree) with dpkg-buildflags, lintian finds no error and no
# warning, the conffile is the commented configuration, the units are there
# and not enabled by the maintainer scripts. Nothing is installed.
set -u
T_TIMEOUT=${T_TIMEOUT:-300}
. "$(dirname "$0")/../lib.sh"
t_setup

VERSION=$(sed -n 's/^VERSION *:= *//p' "$T_ROOT/Makefile")
ARCH=$(dpkg --print-architecture 2>/dev/null || echo unknown)

# built: make deb (cached in $BUILD while the sources do not change), and
# the package unpacked in $TC/x with its control files in $TC/ctl.
built() {
	command -v dpkg-buildpackage >/dev/null || t_skip "dpkg-dev is not installed"
	[ -x /usr/bin/dh ] || t_skip "debhelper is not installed"
	make -C "$T_ROOT" --no-print-directory deb BUILD="$BUILD" >"$TC/make.log" 2>&1 || {
		tail -n 30 "$TC/make.log" >&2
		t_fail "make deb failed"
	}
	DEB=$BUILD/mirrorfs_${VERSION}_${ARCH}.deb
	assert_exists "$DEB"
	dpkg-deb -x "$DEB" "$TC/x"
	dpkg-deb -e "$DEB" "$TC/ctl"
}

case_lintian_clean() {
	command -v lintian >/dev/null || t_skip "lintian is not installed"
	built
	# the .changes names the package, its -dbgsym and the .buildinfo
	# exit 1: an error or a warning; 2: lintian could not check it
	t_run lintian --fail-on error,warning --display-info \
		"$BUILD/mirrorfs_${VERSION}_${ARCH}.changes"
	if [ "$RC" != 0 ] || grep -E '^(E|W): ' "$TC/out" >&2; then
		t_show >&2
		t_fail "lintian: exit status $RC"
	fi
	if grep -v 'running with root privileges' "$TC/err" | grep . >&2; then
		t_fail "lintian complained"
	fi
}

case_built_with_dpkg_buildflags() {
	local b=$BUILD/deb/build.log p
	built
	# dpkg-buildflags' CPPFLAGS and CFLAGS, after the Makefile's own
	assert_grep '^cc .*-Ilib .*-Wdate-time -D_FORTIFY_SOURCE=2 .*-Wall .*-fstack-protector-strong .*-g -O2 .*-Werror=format-security .*-c -o build/lib/buf\.o lib/buf\.c$' "$b"
	assert_grep '^cc .*-Wl,-z,relro,-z,now .*-Wl,-z,now .*-o build/mirrorctl ' "$b"
	for p in mirrorctl mirrord mirrorfs; do
		readelf -d "x/usr/bin/$p" >dyn
		readelf -lW "x/usr/bin/$p" >segments
		nm -D "x/usr/bin/$p" >syms
		grep -q 'FLAGS.*BIND_NOW' dyn || t_fail "usr/bin/$p is not linked with -z now"
		grep -q GNU_RELRO segments || t_fail "usr/bin/$p has no RELRO segment"
		grep -q '__[a-z_]*_chk' syms ||
			t_fail "usr/bin/$p calls no fortified function (_FORTIFY_SOURCE)"
	done
}

case_conffile_and_units() {
	built
	assert_eq /etc/mirrorfs/mirrord.conf "$(cat ctl/conffiles)" "conffiles"
	# every setting of the shipped configuration is commented out
	assert_eq "" "$(grep -vE '^([;#].*)?$' x/etc/mirrorfs/mirrord.conf)" "active settings"
	assert_grep '^;\[listen\]$' x/etc/mirrorfs/mirrord.conf
	assert_grep '^;filter = \+ keep\.tmp$' x/etc/mirrorfs/mirrord.conf
	# mirrord reads it whole, and finds nothing to do
	t_run "$BUILD/mirrord" -c x/etc/mirrorfs/mirrord.conf
	assert_rc 2
	assert_grep 'nothing to do' "$TC/err"
	# the units, with the package's paths
	assert_grep '^ExecStart=/usr/bin/mirrord -c /etc/mirrorfs/mirrord.conf$' \
		x/lib/systemd/system/mirrord.service
	assert_grep '^ExecStart=/usr/bin/mirrorfs -f \$\{STORE\} \$\{MOUNTPOINT\} -o \$\{OPTIONS\}$' \
		x/lib/systemd/system/mirrorfs@.service
	assert_grep '^EnvironmentFile=-/etc/mirrorfs/mount-%i$' x/lib/systemd/system/mirrorfs@.service
	# the maintainer scripts: debhelper's blocks and our prerm; no systemctl
	# of our own, nothing enabled or started on installation
	if grep -n 'systemctl' ctl/prerm >&2; then
		t_fail "prerm calls systemctl"
	fi
	assert_grep 'deb-systemd-invoke stop mirrord\.service' ctl/prerm
	assert_not_grep 'deb-systemd-invoke (start|restart)' ctl/postinst
	assert_grep 'was-enabled .mirrord\.service.' ctl/postinst
	# a native package's changelog is changelog.gz
	assert_exists x/usr/share/doc/mirrorfs/changelog.gz
	assert_missing x/usr/share/doc/mirrorfs/changelog.Debian.gz
	assert_grep "^Version: $VERSION\$" ctl/control
}

t_case "lintian: no error, no warning" case_lintian_clean
t_case "built with dpkg-buildflags, hardened" case_built_with_dpkg_buildflags
t_case "the conffile is the commented configuration; units; maintainer scripts" case_conffile_and_units
t_done
