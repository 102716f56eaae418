# lockscope - build, test, demo. All output under build/. Quiet by default; V=1 shows commands.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

BUILD  := build
VERSION := 0.1.0
# `make install` honours PREFIX and DESTDIR (a staging root for packages)
PREFIX ?= /usr/local
BINDIR  = $(PREFIX)/bin
MANDIR  = $(PREFIX)/share/man/man1
COMPDIR = $(PREFIX)/share/bash-completion/completions
CC     ?= gcc
CLANG  ?= clang
BPFTOOL ?= bpftool
ARCH   := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

# A link's inputs: its sources and objects, not the headers that -MMD lists beside them.
srcs = $(filter %.c %.o,$^)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Debian packages the build, the tests and the demo need; `make deps` installs what is missing.
DEB_PKGS := make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev \
	    libzstd-dev libcriterion-dev python3 bc procps libclang-rt-14-dev
# The manual page is read with man (its test renders it with `man -l`)
DEB_PKGS += man-db groff-base
# The viewer's browser test: Debian's chromium, and node with npm (a nodejs that ships npm
# conflicts with Debian's npm package, so npm is asked for only where the command is missing).
DEB_PKGS += chromium nodejs $(if $(shell command -v npm),,npm)
# The real programs the e2e tests record, started by the tests on private ports, sockets and
# data directories, and the load tools that drive them.
DEB_PKGS += mariadb-server sysbench redis-server redis-tools memcached postgresql g++
# Names on real binaries: separate debug info served by a local debuginfod (elfutils' server and
# client library), Go's pprof to check that exported profiles map back to the binaries, and
# Debian's zstd, whose -T0 workers share condition variables.
DEB_PKGS += debuginfod libdebuginfod-dev golang-go zstd

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -MMD -MP -I$(BUILD) -I. -Iuserspace
# libdebuginfod to fetch separate debug files; libstdc++ for its C++ demangler (__cxa_demangle)
LDLIBS  := -lbpf -lelf -ldw -ldebuginfod -lzstd -lz -lstdc++ -pthread
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf -Wall

# userspace/ has one folder per stage of the data path (README, "How it works"); objects mirror it.
LIB_SRCS  := $(filter-out userspace/commands/main.c,$(wildcard userspace/*/*.c))
LIB_OBJS  := $(LIB_SRCS:userspace/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ  := $(BUILD)/obj/commands/main.o
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
SKELS     := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)
SUPPORT   := $(wildcard tests/support/*.c)
UNIT_SRCS := $(wildcard tests/unit/*.c) $(SUPPORT) $(wildcard tests/fuzz/fuzz_*.c)
E2E_SRCS  := $(wildcard tests/e2e/*.c) $(SUPPORT) tests/unit/jsonparse.c tests/unit/protodec.c
WORKLOADS := $(patsubst tests/workloads/%.c,$(BUILD)/workloads/%,$(wildcard tests/workloads/*.c)) \
	     $(patsubst tests/workloads/%.cpp,$(BUILD)/workloads/%,$(wildcard tests/workloads/*.cpp))
VIEWER_FILES := $(wildcard viewer/*.html viewer/*.css viewer/*.js)
LIB_OBJS  += $(BUILD)/obj/view_assets.o
BENCHES   := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))

.PHONY: all deps test unit e2e demo bench install uninstall clean format viewer-test check fuzz \
	fuzz-smoke devtools-test
all: $(BUILD)/lockscope $(BUILD)/lockscope.1 $(WORKLOADS)

# ---- set-up: install what is missing (Debian packages only) ----
# Services that packages would start on install (a database server's default instance) are kept
# from starting: the tests start their own, and stop them.
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "make: deps: need root to install:" $$missing >&2; exit 2; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then guard=/usr/sbin/policy-rc.d; \
			printf '#!/bin/sh\nexit 101\n' > $$guard && chmod 755 $$guard; fi; \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing) \
			>$(BUILD_LOG) 2>&1; rc=$$?; [ -z "$$guard" ] || rm -f $$guard; \
		[ $$rc = 0 ] || { echo "make: deps: apt-get failed, see $(BUILD_LOG)" >&2; exit 2; }; \
	fi
BUILD_LOG := /tmp/lockscope-deps.log

# ---- BPF ----
$(BUILD)/vmlinux.h: | $(BUILD)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c bpf/events.h $(BUILD)/vmlinux.h | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp && $(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# ---- userspace ----
$(BUILD)/obj/%.o: userspace/%.c $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) -c $< -o $@

# The viewer's files go into the binary: `lockscope view` needs nothing beside it.
$(BUILD)/view_assets.c: $(VIEWER_FILES) viewer/embed.sh | $(BUILD)
	$(call msg,GEN,$@)
	$(Q)sh viewer/embed.sh $(VIEWER_FILES) > $@

$(BUILD)/obj/view_assets.o: $(BUILD)/view_assets.c | $(BUILD)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# --version says which release this is
$(MAIN_OBJ) $(BUILD)/asan/obj/commands/main.o: CFLAGS += -DLOCKSCOPE_VERSION='"$(VERSION)"'

$(BUILD)/lockscope.1: doc/lockscope.1 Makefile | $(BUILD)
	$(call msg,GEN,$@)
	$(Q)sed 's/@VERSION@/$(VERSION)/g' $< > $@

$(BUILD)/lockscope: $(MAIN_OBJ) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(srcs) -o $@ $(LDLIBS)

# ---- tests ----
# The tests run the lockscope binary of their own build (plain, or ASan's for `make check`).
TEST_CFLAGS = -Itests/support -Itests/unit -DTEST_LOCKSCOPE='"$(dir $@)lockscope"' \
	      -DTEST_WORKLOADS='"$(BUILD)/workloads"'
# test_unit replays the fuzzers' committed corpus and crash inputs through the fuzz targets.
UNIT_CFLAGS = $(TEST_CFLAGS) -Itests/fuzz -DFUZZ_REPLAY

$(BUILD)/test_unit: $(UNIT_SRCS) $(LIB_OBJS) | $(BUILD)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(UNIT_CFLAGS) $(srcs) -o $@ $(LDLIBS) -lcriterion

$(BUILD)/test_e2e: $(E2E_SRCS) $(LIB_OBJS) | $(BUILD)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(TEST_CFLAGS) $(srcs) -o $@ $(LDLIBS) -lcriterion

# Workloads are built as users build: optimised, no frame pointers, with debug info.
$(BUILD)/workloads/%: tests/workloads/%.c | $(BUILD)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -pthread $< -o $@

$(BUILD)/workloads/%: tests/workloads/%.cpp | $(BUILD)/workloads
	$(call msg,CXX,$@)
	$(Q)$(CXX) -O2 -g -Wall -Wextra -pthread $< -o $@

$(BUILD)/bench/%: tests/bench/%.c $(LIB_OBJS) | $(BUILD)/bench
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $(srcs) -o $@ $(LDLIBS)

# ---- reliability: everything again under ASan+UBSan (`make check`); libFuzzer targets ----
ASAN      := $(BUILD)/asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_OBJS := $(LIB_SRCS:userspace/%.c=$(ASAN)/obj/%.o) $(BUILD)/obj/view_assets.o
# A sanitizer finding aborts (exit 134), so it can never pass for a contract exit status.
SAN_ENV   := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
	     LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0

$(ASAN)/obj/%.o: userspace/%.c $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(ASAN)/lockscope: $(ASAN)/obj/commands/main.o $(ASAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $(srcs) -o $@ $(LDLIBS)

$(ASAN)/test_unit: $(UNIT_SRCS) $(ASAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $(UNIT_CFLAGS) $(srcs) -o $@ $(LDLIBS) -lcriterion

$(ASAN)/test_e2e: $(E2E_SRCS) $(ASAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $(TEST_CFLAGS) $(srcs) -o $@ $(LDLIBS) -lcriterion

check: deps
	$(Q)$(MAKE) --no-print-directory all $(ASAN)/lockscope $(ASAN)/test_unit $(ASAN)/test_e2e
	$(SAN_ENV) $(ASAN)/test_unit
	$(SAN_ENV) $(ASAN)/test_e2e -j1

# Fuzzers: clang's libFuzzer over the library compiled again with clang and the sanitizers;
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION lets them past the checksums to the decoders.
FUZZ       := $(BUILD)/fuzz
FUZZ_FLAGS := -O1 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
	      -I$(BUILD) -I. -Iuserspace -Itests/fuzz \
	      -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	      -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_OBJS  := $(LIB_SRCS:userspace/%.c=$(BUILD)/fuzz-obj/%.o) $(BUILD)/obj/view_assets.o
FUZZERS    := $(patsubst tests/fuzz/fuzz_%.c,$(FUZZ)/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SMOKE_S ?= 5
FUZZ_LONG_S  ?= 60

$(BUILD)/fuzz-obj/%.o: userspace/%.c $(SKELS)
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D) && $(CLANG) $(FUZZ_FLAGS) -MMD -MP -c $< -o $@

$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/lsz.h tests/unit/jsonparse.c \
		tests/unit/protodec.c $(FUZZ_OBJS) | $(FUZZ)
	$(call msg,FUZZER,$@)
	$(Q)$(CLANG) $(FUZZ_FLAGS) -Itests/unit -fsanitize=fuzzer $< tests/unit/jsonparse.c \
		tests/unit/protodec.c $(FUZZ_OBJS) -o $@ $(LDLIBS)

# Seeds: small synthetic traces of every record type, and a real recording, all re-wrapped in
# stored (uncompressed) zstd blocks so that a mutated byte reaches the record decoder; and their
# chunks' raw records, for fuzz_records.
$(FUZZ)/seeds: tests/fuzz/seeds.c tests/fuzz/lsz.h $(LIB_OBJS) | $(FUZZ)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(srcs) -o $@ $(LDLIBS)

$(FUZZ)/corpus.stamp: $(FUZZ)/seeds $(BUILD)/lockscope $(BUILD)/workloads/contended
	$(call msg,SEEDS,$(FUZZ)/seed-corpus)
	$(Q)rm -rf $(FUZZ)/seed-corpus $(FUZZ)/seed-records
	$(Q)mkdir -p $(FUZZ)/seed-corpus $(FUZZ)/seed-records
	$(Q)$(BUILD)/lockscope record --mode full -o $(FUZZ)/real.lsz -- \
		$(BUILD)/workloads/contended --iters 40 >/dev/null 2>$(FUZZ)/real.err || \
		{ cat $(FUZZ)/real.err >&2; exit 1; }
	$(Q)$(FUZZ)/seeds $(FUZZ)/seed-corpus $(FUZZ)/seed-records $(FUZZ)/real.lsz
	$(Q)touch $@

# Each fuzzer keeps its corpus in build/fuzz/corpus-NAME between runs and starts from the seeds
# and from tests/fuzz/corpus/NAME and tests/fuzz/regressions/NAME; what it finds that crashes
# lands in build/fuzz/ as crash-*, to be committed under tests/fuzz/regressions/NAME.
fuzz-run = for f in $(FUZZERS); do n=$$(basename $$f); mkdir -p $(FUZZ)/corpus-$$n; \
	seeds=$(FUZZ)/seed-corpus; [ $$n != fuzz_records ] || seeds=$(FUZZ)/seed-records; \
	printf '  %-8s %s\n' FUZZ "$$n ($(1) s)"; \
	$$f -max_total_time=$(1) -timeout=10 -close_fd_mask=3 -artifact_prefix=$(FUZZ)/ \
		$(FUZZ)/corpus-$$n $$seeds $$(ls -d tests/fuzz/*/$$n 2>/dev/null) \
		2>$(FUZZ)/$$n.log || \
		{ tail -n 40 $(FUZZ)/$$n.log >&2; exit 1; }; done

fuzz-smoke: $(FUZZERS) $(FUZZ)/corpus.stamp
	$(Q)$(call fuzz-run,$(FUZZ_SMOKE_S))

fuzz: $(FUZZERS) $(FUZZ)/corpus.stamp
	$(Q)$(call fuzz-run,$(FUZZ_LONG_S))

unit: $(BUILD)/test_unit
	$(BUILD)/test_unit

e2e: $(BUILD)/test_e2e all
	$(BUILD)/test_e2e -j1

test: deps
	$(Q)sh tests/layers.sh
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/test_unit $(BUILD)/test_e2e
	$(BUILD)/test_unit
	$(BUILD)/test_e2e -j1
	$(Q)$(MAKE) --no-print-directory fuzz-smoke
	$(Q)$(MAKE) --no-print-directory viewer-test
	$(Q)$(MAKE) --no-print-directory devtools-test

# The viewer in headless chromium, driven by playwright-core from the lockfile.
viewer-test: $(BUILD)/lockscope $(WORKLOADS)
	$(Q)cd tests/viewer && npm ci --offline --silent --no-audit --no-fund
	node --test tests/viewer/viewer.test.mjs

# The Chrome export in Chrome DevTools' own trace model, vendored (tests/devtools/vendor). The
# tarballs are unpacked, not installed with npm: trace_engine asks for its two dependencies at
# "latest", which Debian's npm 9 resolves against the registry even with the vendored copies.
DEVTOOLS_PKGS := @paulirish/trace_engine=paulirish-trace_engine-0.0.65 \
	legacy-javascript=legacy-javascript-0.0.1 third-party-web=third-party-web-0.30.0
devtools-test: $(BUILD)/lockscope $(WORKLOADS)
	$(Q)rm -rf tests/devtools/node_modules && for p in $(DEVTOOLS_PKGS); do \
	  d=tests/devtools/node_modules/$${p%%=*}; mkdir -p $$d && \
	  tar -xzf tests/devtools/vendor/$${p#*=}.tgz -C $$d --strip-components=1 || exit 1; done
	node --test tests/devtools/flows.test.mjs

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tests/demo.sh

# the bench also measures the alternatives: per-call uprobes (bpftrace) and Helgrind
bench: DEB_PKGS += time valgrind bpftrace
bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCHES)
	$(Q)sh tests/bench/run.sh
	$(Q)$(MAKE) --no-print-directory fuzz

install: $(BUILD)/lockscope $(BUILD)/lockscope.1
	install -D -m 0755 $(BUILD)/lockscope $(DESTDIR)$(BINDIR)/lockscope
	install -D -m 0644 $(BUILD)/lockscope.1 $(DESTDIR)$(MANDIR)/lockscope.1
	install -D -m 0644 doc/lockscope.bash $(DESTDIR)$(COMPDIR)/lockscope

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lockscope $(DESTDIR)$(MANDIR)/lockscope.1 \
	      $(DESTDIR)$(COMPDIR)/lockscope

format:
	clang-format -i userspace/*/*.[ch] bpf/*.[ch] tests/*/*.c

clean:
	rm -rf $(BUILD)

$(BUILD) $(BUILD)/obj $(BUILD)/workloads $(BUILD)/bench $(FUZZ):
	$(Q)mkdir -p $@

-include $(wildcard $(BUILD)/*.d $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(ASAN)/obj/*/*.d $(BUILD)/fuzz-obj/*/*.d)
