# mirrorfs build: `make` builds into build/, `make check` runs every test,
# `make demo` shows a real sync. SANITIZE=1 builds into build-san/ with
# AddressSanitizer and UndefinedBehaviorSanitizer.

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

CC      ?= cc
PKGS    := libzstd libxxhash libsodium libcrypto inih
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)
DEB_PKGS := build-essential pkg-config libzstd-dev libxxhash-dev check \
	    libfuse3-dev fuse3 libsodium-dev libssl-dev libinih-dev rsync python3 \
	    iproute2 shellcheck man-db groff-base bash-completion strace attr acl libcap2-bin \
	    debhelper dpkg-dev lintian

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build
SANFLAGS :=
endif

WERROR  ?=
# The user's flags (or dpkg-buildflags') go in CFLAGS, CPPFLAGS and LDFLAGS
# and add to the build's own, which live in MF_*: `make CFLAGS=-O0` still
# has the include path and the feature macros.  Hardening: stack protector,
# full RELRO with immediate binding, and _FORTIFY_SOURCE=2 where it can work
# (it needs optimization, and it hides calls from the sanitizers), unless the
# caller's flags choose a _FORTIFY_SOURCE level themselves.
CFLAGS  ?= -O2 -g
CPPFLAGS ?=
LDFLAGS ?=
OPTIMIZED := $(filter-out -O0,$(lastword $(filter -O%,$(CFLAGS))))
FORTIFY := $(if $(SANFLAGS)$(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),,$(if \
	   $(OPTIMIZED),-D_FORTIFY_SOURCE=2))
MF_CPPFLAGS := -D_GNU_SOURCE $(FORTIFY) -DMIRRORFS_VERSION='"$(VERSION)"' \
	       -Ilib -MMD -MP
MF_CFLAGS := -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	     -Wmissing-prototypes -Wno-unused-parameter -fstack-protector-strong \
	     $(WERROR) $(SANFLAGS)
MF_LDFLAGS := -Wl,-z,relro,-z,now $(SANFLAGS)
ALL_CFLAGS = $(MF_CPPFLAGS) $(CPPFLAGS) $(MF_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(MF_LDFLAGS) $(LDFLAGS)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lzstd -lxxhash)
LDLIBS  += $(PKG_LIBS) -lpthread

# Every module of lib/ and of its subdirectories (lib/store/, ...).
LIB_SRC := $(sort $(wildcard lib/*.c lib/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A   := $(BUILD)/libmirror.a

UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

FS_SRC := $(wildcard fs/*.c)
FS_OBJ := $(FS_SRC:%.c=$(BUILD)/%.o)

SYNCD_SRC := $(wildcard syncd/*.c)
SYNCD_OBJ := $(SYNCD_SRC:%.c=$(BUILD)/%.o)

BINS := $(BUILD)/mirrorctl $(BUILD)/mirrorfs $(BUILD)/mirrord

.PHONY: all clean check check-unit deps demo install fuzz fuzz-seeds bench
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/fs/%.o: fs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) $(FUSE_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/mirrorctl: $(BUILD)/tools/mirrorctl.o $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mirrord: $(SYNCD_OBJ) $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mirrorfs: $(FS_OBJ) $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FUSE_LIBS) $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB_A) \
		$(CHECK_LIBS) $(LDLIBS)

# deps installs the Debian packages the build and the tests need, and only
# when one is missing, so `make check` on a ready machine touches nothing.
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing" $$missing; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

check: deps
	$(MAKE) all $(UNIT_BIN)
	tests/run.sh $(abspath $(BUILD)) $(T)

check-unit: $(UNIT_BIN)
	tests/run.sh $(abspath $(BUILD)) --unit-only

# bench: the side-by-side benchmarks (bench/run.sh; BENCH=--small for a
# one-minute run); results go to docs/BENCHMARKS.md.
bench: deps
	$(MAKE) all
	MIRRORFS_BUILD=$(abspath $(BUILD)) bench/run.sh $(BENCH)

demo: deps
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) tools/demo.sh

# fuzz: the decoder fuzz target under libFuzzer (clang), from the seed
# corpus in tests/fuzz/corpus, for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_DIR := build-fuzz
fuzz:
	@command -v clang >/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get install -y clang libclang-rt-14-dev; }
	@mkdir -p $(FUZZ_DIR)/corpus
	clang -g -O1 -std=gnu11 -D_GNU_SOURCE -DMIRRORFS_VERSION='"fuzz"' \
		-Ilib \
		-fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
		-o $(FUZZ_DIR)/fuzz_wire tests/fuzz/fuzz_wire.c $(LIB_SRC) $(PKG_LIBS) -lpthread
	cp -n tests/fuzz/corpus/* $(FUZZ_DIR)/corpus/
	$(FUZZ_DIR)/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus

fuzz-seeds: $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) $(ALL_LDFLAGS) -o $(BUILD)/make_seeds tests/fuzz/make_seeds.c $(LIB_A) $(LDLIBS)
	$(BUILD)/make_seeds tests/fuzz/corpus

# install: the programs `make` built, their man pages, the systemd unit,
# examples and bash completion, under $(DESTDIR)$(PREFIX).  Paths inside
# installed files follow PREFIX (and SYSCONFDIR).  NOBUILD=1 installs what is
# in $(BUILD) as it is, without running `make all` first; ETC_EXAMPLE=0 leaves
# out $(SYSCONFDIR)/mirrorfs/mirrord.conf.example (the copy under the doc
# directory is always installed); ETC_CONF=1 installs
# $(SYSCONFDIR)/mirrorfs/mirrord.conf, the example with every setting
# commented out (the Debian package's conffile: never over a live one).
SYSCONFDIR  ?= /etc
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/mirrorfs
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ETC_EXAMPLE ?= 1
ETC_CONF    ?= 0
MAN_PAGES   := docs/man/mirrorctl.8 docs/man/mirrord.8 docs/man/mirrorfs.8 \
	       docs/man/mirrord.conf.5
DOC_FILES   := README.md docs/GUIDE.md docs/OWNERSHIP.md docs/PROTOCOL.md
EXAMPLES    := packaging/mirrord.conf.example packaging/opt-app.mount \
	       packaging/fstab.example
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@UNITDIR@|$(UNITDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g'
# The example with each setting (a line that is no comment) commented out.
COMMENTED_CONF = sed -e 's|^; Copy to /etc/mirrorfs/mirrord.conf and edit; see|; Every setting is off: remove the ";" of those you use; see|' \
	-e '/^[^;\#[:space:]]/s/^/;/'

install: $(if $(NOBUILD),,all)
	@for b in $(BINS); do [ -x "$$b" ] || { \
		echo "make install: $$b is missing: run make first" >&2; exit 1; }; done
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	@set -e; for m in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; \
		echo "$(SUBST) $$m > $$d"; \
		$(SUBST) "$$m" >"$$d"; chmod 0644 "$$d"; \
	done
	@set -e; for u in mirrord.service mirrorfs@.service; do \
		echo "$(SUBST) packaging/$$u.in > $(DESTDIR)$(UNITDIR)/$$u"; \
		$(SUBST) "packaging/$$u.in" >"$(DESTDIR)$(UNITDIR)/$$u"; \
		chmod 0644 "$(DESTDIR)$(UNITDIR)/$$u"; \
	done
	install -m 0644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 contrib/bash-completion/mirrorctl $(DESTDIR)$(BASHCOMPDIR)/mirrorctl
ifneq ($(ETC_EXAMPLE),0)
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/mirrorfs
	install -m 0644 packaging/mirrord.conf.example \
		$(DESTDIR)$(SYSCONFDIR)/mirrorfs/mirrord.conf.example
endif
ifeq ($(ETC_CONF),1)
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/mirrorfs
	$(COMMENTED_CONF) packaging/mirrord.conf.example \
		>$(DESTDIR)$(SYSCONFDIR)/mirrorfs/mirrord.conf
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/mirrorfs/mirrord.conf
endif

# man: the man pages with their paths filled in, in $(BUILD)/man, each
# checked to render without a warning (groff -ww, man --warnings).
.PHONY: man
man:
	@mkdir -p $(BUILD)/man
	@set -e; for m in $(MAN_PAGES); do \
		out=$(BUILD)/man/$${m##*/}; \
		$(SUBST) "$$m" >"$$out"; \
		w=; \
		if command -v groff >/dev/null; then \
			w=$$(groff -man -ww -z "$$out" 2>&1); fi; \
		if command -v man >/dev/null; then \
			w="$$w$$(LC_ALL=C.UTF-8 MANROFFSEQ= MANWIDTH=80 \
			man --warnings -E UTF-8 -l "$$out" 2>&1 >/dev/null)"; fi; \
		if [ -n "$$w" ]; then echo "$$w" >&2; \
			echo "make man: $$m renders with warnings" >&2; exit 1; fi; \
		echo "man: $$out"; \
	done

# deb: $(BUILD)/mirrorfs_VERSION_ARCH.deb (its -dbgsym, .changes, .buildinfo),
# built by dpkg-buildpackage from debian/ in a copy of the tree under
# $(BUILD)/deb (so debian/rules clean cannot touch this tree's build/), with
# dpkg-buildflags and without the test suite (make check runs it). Made
# again only when a file it is made of changed.
DEB_ARCH    = $(shell dpkg --print-architecture)
DEB_FILE    = $(BUILD)/mirrorfs_$(VERSION)_$(DEB_ARCH).deb
DEB_TOP     = $(BUILD)/deb
DEB_INPUTS := Makefile $(wildcard lib/*.[ch] lib/*/*.[ch] fs/*.[ch] syncd/*.[ch] \
	      tools/*.c tests/unit/*.[ch] debian/* debian/source/* packaging/* \
	      docs/man/* docs/*.md README.md contrib/bash-completion/*)
.PHONY: deb
deb: $(DEB_FILE)
	@echo "deb: $(DEB_FILE)"

$(DEB_FILE): $(DEB_INPUTS)
	rm -rf $(DEB_TOP)
	mkdir -p $(DEB_TOP)/mirrorfs-$(VERSION)
	tar -c --exclude=./.git --exclude='./build*' --exclude=./demo \
		--exclude=./$(BUILD) -f - . | tar -x -C $(DEB_TOP)/mirrorfs-$(VERSION)
	@# A clean environment: this make's variables (BUILD=, SANITIZE=, through
	@# MAKEFLAGS too) must not reach the package's own make.
	cd $(DEB_TOP)/mirrorfs-$(VERSION) && env -i PATH="$$PATH" HOME="$$HOME" \
		LC_ALL=C.UTF-8 DEB_BUILD_OPTIONS="nocheck $(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -n 30 ../build.log >&2; echo "make deb: dpkg-buildpackage failed \
		(all of it: $(DEB_TOP)/build.log)" >&2; exit 1; }
	cp $(DEB_TOP)/mirrorfs*_$(VERSION)_$(DEB_ARCH).deb \
		$(DEB_TOP)/mirrorfs_$(VERSION)_$(DEB_ARCH).changes \
		$(DEB_TOP)/mirrorfs_$(VERSION)_$(DEB_ARCH).buildinfo $(BUILD)/

# shellcheck: every shell script of the tree, found by its name (*.sh) or
# its #! line, and the bash completion (a bash file without a #! line).
SHELLCHECK_PRUNE := -name .git -o -name 'build*' -o -name demo -o -path ./debian/mirrorfs \
	-o -path ./debian/.debhelper -o -path ./debian/tmp
.PHONY: shellcheck
shellcheck:
	@files=$$(find . \( $(SHELLCHECK_PRUNE) \) -prune -o -type f -print | \
		while read -r f; do \
			case $$f in \
			*.sh) echo "$$f" ;; \
			*) head -n 1 "$$f" 2>/dev/null | \
				grep -qE '^#! ?/(usr/)?bin/(env +)?(ba|da)?sh( |$$)' && \
				echo "$$f" ;; \
			esac; \
		done | LC_ALL=C sort); \
	echo "shellcheck:" $$files contrib/bash-completion/mirrorctl; \
	shellcheck $$files && shellcheck -s bash contrib/bash-completion/mirrorctl

clean:
	rm -rf build build-san build-fuzz demo

-include $(LIB_OBJ:.o=.d) $(FS_OBJ:.o=.d) $(SYNCD_OBJ:.o=.d) $(BUILD)/tools/mirrorctl.d
