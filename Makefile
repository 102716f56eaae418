# lockscope - build, test, demo. All output under build/. Quiet by default; V=1 shows commands.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

BUILD  := build
PREFIX ?= /usr/local
CC     ?= gcc
CLANG  ?= clang
BPFTOOL ?= bpftool
ARCH   := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Debian packages the build, the tests and the demo need; `make deps` installs what is missing.
DEB_PKGS := make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev \
	    libzstd-dev libcriterion-dev python3 bc procps

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -MMD -MP -I$(BUILD) -Ibpf -Iuserspace
LDLIBS  := -lbpf -lelf -ldw -lzstd -lz -pthread
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf -Wall

LIB_SRCS  := $(filter-out userspace/main.c,$(wildcard userspace/*.c))
LIB_OBJS  := $(LIB_SRCS:userspace/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ  := $(BUILD)/obj/main.o
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
SKELS     := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)
SUPPORT   := $(wildcard tests/support/*.c)
UNIT_SRCS := $(wildcard tests/unit/*.c) $(SUPPORT)
E2E_SRCS  := $(wildcard tests/e2e/*.c) $(SUPPORT) tests/unit/jsonparse.c
WORKLOADS := $(patsubst tests/workloads/%.c,$(BUILD)/workloads/%,$(wildcard tests/workloads/*.c))
BENCHES   := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))

.PHONY: all deps test unit e2e demo bench install clean format
all: $(BUILD)/lockscope $(WORKLOADS)

# ---- set-up: install what is missing (Debian packages only) ----
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "make: deps: need root to install:" $$missing >&2; exit 2; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing) \
			>$(BUILD_LOG) 2>&1 || { echo "make: deps: apt-get failed, see $(BUILD_LOG)" >&2; exit 2; }; \
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
$(BUILD)/obj/%.o: userspace/%.c $(SKELS) | $(BUILD)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/lockscope: $(MAIN_OBJ) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# ---- tests ----
$(BUILD)/test_unit: $(UNIT_SRCS) $(LIB_OBJS) | $(BUILD)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/support -Itests/unit $^ -o $@ $(LDLIBS) -lcriterion

$(BUILD)/test_e2e: $(E2E_SRCS) $(LIB_OBJS) | $(BUILD)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/support -Itests/unit $^ -o $@ $(LDLIBS) -lcriterion

# Workloads are built as users build: optimised, no frame pointers, with debug info.
$(BUILD)/workloads/%: tests/workloads/%.c | $(BUILD)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -pthread $< -o $@

$(BUILD)/bench/%: tests/bench/%.c $(LIB_OBJS) | $(BUILD)/bench
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $^ -o $@ $(LDLIBS)

unit: $(BUILD)/test_unit
	$(BUILD)/test_unit

e2e: $(BUILD)/test_e2e all
	$(BUILD)/test_e2e -j1

test: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/test_unit $(BUILD)/test_e2e
	$(BUILD)/test_unit
	$(BUILD)/test_e2e -j1

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tests/demo.sh

# the bench also measures the alternatives: per-call uprobes (bpftrace) and Helgrind
bench: DEB_PKGS += time valgrind bpftrace
bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCHES)
	$(Q)sh tests/bench/run.sh

install: $(BUILD)/lockscope
	install -D -m 0755 $< $(DESTDIR)$(PREFIX)/bin/lockscope

format:
	clang-format -i userspace/*.[ch] bpf/*.[ch] tests/*/*.c

clean:
	rm -rf $(BUILD)

$(BUILD) $(BUILD)/obj $(BUILD)/workloads $(BUILD)/bench:
	$(Q)mkdir -p $@

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/*.d)
