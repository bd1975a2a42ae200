#!/bin/bash
# make deb: the package's contents and Depends; dpkg -i, the programs from
# /usr/bin, a mount through an fstab line (mount.fuse3 runs /usr/bin/mirrorfs),
# then dpkg -r and dpkg -P leave nothing of the package behind (its conffile
# neither).  The package is always purged when the case ends, passed or
# failed.  (t0820 checks the same package with lintian, without installing.)
# e2e: alone (installs the package with dpkg)
set -u
T_TIMEOUT=${T_TIMEOUT:-180}
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

VERSION=$(sed -n 's/^VERSION *:= *//p' "$T_ROOT/Makefile")

# build_deb: make deb (dpkg-buildpackage from debian/, in a copy of the tree;
# made again only when a source changed); copies the package to
# $TC/mirrorfs.deb.
build_deb() {
	command -v dpkg-buildpackage >/dev/null || t_skip "dpkg-dev is not installed"
	[ -x /usr/bin/dh ] || t_skip "debhelper is not installed"
	local arch
	arch=$(dpkg --print-architecture)
	make -C "$T_ROOT" --no-print-directory deb BUILD="$BUILD" \
		>"$TC/make.log" 2>&1 || {
		tail -n 20 "$TC/make.log" >&2
		t_fail "make deb failed"
	}
	assert_exists "$BUILD/mirrorfs_${VERSION}_${arch}.deb"
	cp "$BUILD/mirrorfs_${VERSION}_${arch}.deb" "$TC/mirrorfs.deb"
}

pkg_status() {
	dpkg-query -W -f='${db:Status-Status}' mirrorfs 2>/dev/null || echo not-installed
}

case_contents() {
	local lib pkg
	build_deb
	dpkg-deb -f mirrorfs.deb Package Version Architecture >fields
	assert_eq "Package: mirrorfs
Version: $VERSION
Architecture: $(dpkg --print-architecture)" "$(cat fields)"
	dpkg-deb -f mirrorfs.deb Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' |
		sort >depends
	# every library the programs link (NEEDED; what those need in turn is
	# their packages' business) comes from a package it depends on
	dpkg-deb -x mirrorfs.deb x
	local needed
	needed=$(for b in x/usr/bin/mirrorctl x/usr/bin/mirrord x/usr/bin/mirrorfs; do
		readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
	done | sort -u)
	for lib in $(ldd x/usr/bin/mirrorctl x/usr/bin/mirrord x/usr/bin/mirrorfs |
		awk '$3 ~ /^\// { print $1, $3 }' | sort -u |
		while read -r soname path; do
			grep -qx -- "$soname" <<<"$needed" && echo "$path"
		done | sort -u); do
		pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib") ||
			t_fail "no package owns $lib"
		pkg=${pkg%%:*}
		case $pkg in *sanitizer* | libasan* | libubsan* | libgcc-s1 | libstdc++*) continue ;; esac
		grep -qx -- "$pkg" depends || t_fail "Depends lacks $pkg (for $lib): $(cat depends)"
	done
	grep -qx fuse3 depends || t_fail "Depends lacks fuse3 (mount.fuse3, fusermount3)"
	dpkg-deb -c mirrorfs.deb | awk '{ print $1, $2, $6 }' >contents
	for f in ./usr/bin/mirrorctl ./usr/bin/mirrord ./usr/bin/mirrorfs; do
		assert_grep "^-rwxr-xr-x root/root $f\$" contents
	done
	for f in ./usr/share/man/man8/mirrorctl.8.gz ./usr/share/man/man8/mirrord.8.gz \
		./usr/share/man/man8/mirrorfs.8.gz ./usr/share/man/man5/mirrord.conf.5.gz \
		./lib/systemd/system/mirrord.service ./lib/systemd/system/mirrorfs@.service \
		./usr/share/bash-completion/completions/mirrorctl \
		./usr/share/doc/mirrorfs/examples/mirrord.conf.example \
		./usr/share/doc/mirrorfs/copyright ./usr/share/doc/mirrorfs/changelog.gz \
		./etc/mirrorfs/mirrord.conf; do
		assert_grep "^-rw-r--r-- root/root $f\$" contents
	done
	assert_not_grep '/usr/local' contents
	# the one file in /etc is the (commented) configuration, a conffile
	assert_eq "./etc/mirrorfs/mirrord.conf" "$(grep '^-.* \./etc/' contents | awk '{ print $3 }')"
	assert_eq /etc/mirrorfs/mirrord.conf "$(dpkg-deb --ctrl-tarfile mirrorfs.deb | tar -xO ./conffiles)"
	assert_grep '^ExecStart=/usr/bin/mirrord -c /etc/mirrorfs/mirrord.conf$' \
		x/lib/systemd/system/mirrord.service
	zcat x/usr/share/man/man8/mirrord.8.gz >mirrord.8
	assert_grep '/usr/share/doc/mirrorfs/examples' mirrord.8
}

# shadowed: a mirrorfs that mount(8)'s PATH finds before /usr/bin.
shadowed() {
	local d
	for d in /usr/local/sbin /usr/local/bin /usr/sbin; do
		if [ -e "$d/mirrorfs" ] || [ -L "$d/mirrorfs" ]; then
			echo "$d/mirrorfs"
			return 0
		fi
	done
	return 1
}

# daemon_of MNT: pid of the mirrorfs process serving MNT, with its exe.
daemon_of() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/bin/mirrorfs ] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- " $1" || continue
		echo "${p#/proc/}"
		return 0
	done
	return 1
}

case_install_remove() {
	local s f v
	t_is_root || t_skip "needs root (dpkg -i)"
	s=$(pkg_status)
	[ "$s" = not-installed ] || t_skip "a mirrorfs package is already on this machine ($s)"
	if s=$(shadowed); then
		t_skip "$s precedes /usr/bin on mount's PATH"
	fi
	# the package's conffile would meet this machine's own configuration
	[ ! -e /etc/mirrorfs/mirrord.conf ] ||
		t_skip "/etc/mirrorfs/mirrord.conf exists: this machine is configured"
	command -v mount.fuse3 >/dev/null || [ -x /sbin/mount.fuse3 ] ||
		t_skip "mount.fuse3 (package fuse3) is not installed"
	build_deb
	# what the package holds, and which of it this machine already had
	dpkg-deb -c mirrorfs.deb | awk '{ print $6 }' | sed 's|^\.||; s|/$||' |
		grep . >pkg.list
	while read -r f; do
		if [ -e "$f" ]; then echo "$f"; fi
	done <pkg.list >pre.list

	# From here the package may be on the machine: purge it whatever happens.
	t_defer dpkg --purge mirrorfs
	dpkg -i mirrorfs.deb >dpkg.log 2>&1 || {
		cat dpkg.log >&2
		t_fail "dpkg -i failed"
	}
	assert_eq installed "$(pkg_status)" "package status after dpkg -i"
	# not enabled, not started
	assert_eq "" "$(find /etc/systemd/system -name mirrord.service 2>/dev/null)"
	assert_eq "mirrorctl $VERSION" "$(/usr/bin/mirrorctl --version)"
	assert_eq "mirrord $VERSION" "$(/usr/bin/mirrord --version)"
	v=$(/usr/bin/mirrorfs --version)
	case $v in "mirrorfs $VERSION (libfuse 3"*) ;; *) t_fail "mirrorfs --version: $v" ;; esac
	assert_eq /usr/share/man/man8/mirrorctl.8.gz "$(man -w mirrorctl 2>/dev/null || true)"

	# a sync with the installed mirrorctl, a mount through an fstab line
	mkdir -p src/d mnt
	echo hello >src/f
	echo deeper >src/d/g
	t_run /usr/bin/mirrorctl sync src store
	assert_rc 0
	echo "$TC/store $TC/mnt fuse.mirrorfs ro,allow_other 0 0" >fstab
	t_defer umount -l "$TC/mnt"
	mount -T "$TC/fstab" "$TC/mnt" >mount.log 2>&1 || {
		cat mount.log >&2
		t_fail "mount -T fstab failed"
	}
	wait_for mounted "$TC/mnt" || t_fail "$TC/mnt is not mounted"
	awk -v d="$TC/mnt" '$2 == d { print $3, $4 }' /proc/mounts >mnt.info
	assert_grep '^fuse\.mirrorfs ro,' mnt.info
	daemon_of "$TC/mnt" >daemon.pid || t_fail "no /usr/bin/mirrorfs process serves $TC/mnt"
	assert_eq hello "$(cat mnt/f)"
	assert_eq deeper "$(cat mnt/d/g)"
	assert_missing mnt/.mirrorfs
	# a sync while mounted commits through the mount
	echo again >src/f
	t_run /usr/bin/mirrorctl sync src store
	assert_rc 0
	assert_eq again "$(cat mnt/f)"
	umount "$TC/mnt" || t_fail "umount failed"
	wait_for store_free "$TC/store" || t_fail "mirrorfs still holds the store after umount"

	# remove, then purge: nothing of the package is left
	dpkg -L mirrorfs | grep -vx -e "" -e "/\." | sort >installed.list
	comm -13 <(sort pkg.list) installed.list >extra
	[ ! -s extra ] || t_fail "dpkg -L lists paths the .deb does not hold: $(cat extra)"
	dpkg -r mirrorfs >dpkg.log 2>&1 || {
		cat dpkg.log >&2
		t_fail "dpkg -r failed"
	}
	s=$(pkg_status)
	case $s in config-files | not-installed) ;; *) t_fail "status after dpkg -r: $s" ;; esac
	# dpkg -r keeps the conffile (and its directory) until dpkg -P
	while read -r f; do
		grep -qxF -- "$f" pre.list && continue
		case $f in /etc/mirrorfs | /etc/mirrorfs/mirrord.conf) continue ;; esac
		if [ -e "$f" ] || [ -L "$f" ]; then
			t_fail "$f is left after dpkg -r"
		fi
	done <installed.list
	assert_exists /etc/mirrorfs/mirrord.conf
	dpkg -P mirrorfs >dpkg.log 2>&1 || {
		cat dpkg.log >&2
		t_fail "dpkg -P failed"
	}
	assert_eq not-installed "$(pkg_status)" "package status after dpkg -P"
	if compgen -G '/var/lib/dpkg/info/mirrorfs.*' >/dev/null; then
		t_fail "dpkg keeps $(echo /var/lib/dpkg/info/mirrorfs.*) after purge"
	fi
	assert_missing /usr/bin/mirrorfs
	assert_missing /etc/mirrorfs/mirrord.conf
	# the store is the user's: untouched
	assert_eq again "$(cat store/f)"
}

t_case "make deb: contents, modes and Depends" case_contents
t_case "dpkg -i, sync, mount through fstab, dpkg -r and -P leave nothing" case_install_remove
t_done
