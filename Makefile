# mirrorfs build: `make` builds into build/, `make check` runs every test,
# `make demo` shows a real sync. SANITIZE=1 builds into build-san/ with
# AddressSanitizer and UndefinedBehaviorSanitizer.

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

CC      ?= cc
PKGS    := libzstd libxxhash libsodium inih
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)
DEB_PKGS := build-essential pkg-config libzstd-dev libxxhash-dev check \
	    libfuse3-dev fuse3 libsodium-dev libinih-dev rsync python3 \
	    iproute2 shellcheck

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build
SANFLAGS :=
endif

WERROR  ?=
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-unused-parameter $(WERROR) $(SANFLAGS) \
	   -D_GNU_SOURCE -DMIRRORFS_VERSION='"$(VERSION)"' -Ilib -MMD -MP
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lzstd -lxxhash)
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread

LIB_SRC := $(wildcard lib/*.c)
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

.PHONY: all clean check check-unit deps demo install fuzz fuzz-seeds
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/fs/%.o: fs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(FUSE_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/mirrorctl: $(BUILD)/tools/mirrorctl.o $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mirrord: $(SYNCD_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mirrorfs: $(FS_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(FUSE_LIBS) $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) \
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
	clang -g -O1 -std=gnu11 -D_GNU_SOURCE -DMIRRORFS_VERSION='"fuzz"' -Ilib \
		-fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
		-o $(FUZZ_DIR)/fuzz_wire tests/fuzz/fuzz_wire.c $(LIB_SRC) $(PKG_LIBS) -lpthread
	cp -n tests/fuzz/corpus/* $(FUZZ_DIR)/corpus/
	$(FUZZ_DIR)/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus

fuzz-seeds: $(LIB_A)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $(BUILD)/make_seeds tests/fuzz/make_seeds.c $(LIB_A) $(LDLIBS)
	$(BUILD)/make_seeds tests/fuzz/corpus

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build build-san build-fuzz demo

-include $(LIB_OBJ:.o=.d) $(FS_OBJ:.o=.d) $(SYNCD_OBJ:.o=.d) $(BUILD)/tools/mirrorctl.d
