# crisp: build, run, test, bench. `make test` works on a fresh Debian 12 machine as root.

VERSION      := 0.1.0
GIT_REV      := $(shell git rev-parse --short HEAD 2>/dev/null)
CRISP_VERSION := $(VERSION)$(if $(GIT_REV),+g$(GIT_REV))

BUILD   ?= build
CC      ?= gcc
PYTHON  := /usr/bin/python3
PREFIX  ?= /usr/local
DESTDIR ?=

# -Ulinux: gnu11 predefines `linux`, which CRI uses as a field name.
CFLAGS_BASE := -std=gnu11 -Ulinux -g -Wall -Wextra -Werror -pthread -I. -I$(BUILD)/gen
OPTFLAGS    ?= -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SANFLAGS    ?=
CFLAGS      := $(CFLAGS_BASE) $(OPTFLAGS) $(SANFLAGS) $(EXTRA_CFLAGS)
LDLIBS      := -lgrpc -lgpr -lprotobuf-c -lyajl -lcurl -larchive -lzstd -lz -lseccomp -lcap -lssl -lcrypto -lsystemd -pthread
LDFLAGS     += $(SANFLAGS)

# Debian packages for building and testing; `make deps` installs the missing ones.
DEB_PACKAGES := gcc make pkg-config libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libyajl-dev \
                protobuf-compiler python3-grpcio python3-protobuf python3-pytest clang \
                libcurl4-openssl-dev libarchive-dev libzstd-dev zlib1g-dev libssl-dev libseccomp-dev libcap-dev \
                libsystemd-dev \
                docker-registry umoci skopeo busybox-static apache2-utils zstd \
                containernetworking-plugins iproute2 iptables openssl curl
# For `make format` and `make tsan` (gcc's ThreadSanitizer runtime).
DEB_PACKAGES += clang-format libtsan2

GEN      := $(BUILD)/gen/api.pb-c.c $(BUILD)/gen/api.pb-c.h $(BUILD)/gen/version.h
# crispd's library: every source folder but helpers/ (libc-only, below) and the entry points.
SRC_DIRS := common images runtime runtime/cgroup runtime/cni runtime/seccomp runtime/stats server server/cri \
            server/convert streaming streaming/spdy streaming/ws
MAIN_SRC := server/main.c
TEST_HOOKS_SRC := server/test_hooks.c
LIB_SRC  := $(filter-out $(MAIN_SRC) $(TEST_HOOKS_SRC),$(wildcard $(addsuffix /*.c,$(SRC_DIRS))))
LIB_OBJ  := $(BUILD)/gen/api.pb-c.o $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
# helpers/<name>/ is the helper binary build/crisp-<name>; helpers/lib/ is what they share.
HELPER_NAMES   := $(filter-out lib,$(notdir $(wildcard helpers/*)))
HELPERS        := $(addprefix $(BUILD)/crisp-,$(HELPER_NAMES))
# common/'s libc-only files, which the helpers share with crispd (compiled apart, unsanitized).
HELPER_COMMON  := common/clock.c
HELPER_LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard helpers/lib/*.c)) \
                  $(patsubst common/%.c,$(BUILD)/helpers/common/%.o,$(HELPER_COMMON))
HELPER_LIB     := $(BUILD)/libcrisp-helpers.a
UNIT_SRC := $(wildcard test/unit/test_*.c)
UNIT_BIN := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(UNIT_SRC))

.PHONY: all deps run test unit e2e asan asan-test tsan tsan-build format format-check fuzz fuzz-streaming \
        fuzz-seccomp bench install clean vm-test FORCE
.SECONDARY:

all: $(BUILD)/crispd $(BUILD)/crispd-test $(BUILD)/crisp-bench $(HELPERS)

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/gen/api.pb-c.c $(BUILD)/gen/api.pb-c.h &: proto/api.proto
	@mkdir -p $(BUILD)/gen
	protoc-c -Iproto --c_out=$(BUILD)/gen proto/api.proto

# Rewritten only when the version changes; only the objects whose -MMD dependencies name it rebuild.
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define CRISP_VERSION "$(CRISP_VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/gen/api.pb-c.o: $(BUILD)/gen/api.pb-c.c
	$(CC) $(CFLAGS) -c -o $@ $<

# The generated headers are order-only: they must exist before the first compile, and after that
# each object's -MMD file lists the ones it really includes.
$(BUILD)/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libcrisp.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/crispd: $(BUILD)/server/main.o $(BUILD)/libcrisp.a $(HELPER_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The test build: crispd with the test-only hooks (server/test_hooks.c) linked in; the e2e suite runs it.
$(BUILD)/crispd-test: $(BUILD)/server/main.o $(BUILD)/server/test_hooks.o $(BUILD)/libcrisp.a $(HELPER_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Helpers run once per pod or container: they link only libc, to stay small. They are built without
# sanitizers even in `make asan`: LeakSanitizer's exit-time tracer hangs in a process that has unshared
# its PID namespace.
HELPER_CFLAGS := $(CFLAGS_BASE) $(OPTFLAGS) $(EXTRA_CFLAGS)
$(BUILD)/helpers/%.o: helpers/%.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(HELPER_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/helpers/common/%.o: common/%.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(HELPER_CFLAGS) -MMD -MP -c -o $@ $<

$(HELPER_LIB): $(HELPER_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

define helper_rule
$(BUILD)/crisp-$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard helpers/$(1)/*.c)) $(HELPER_LIB)
	$$(CC) -o $$@ $$^
endef
$(foreach h,$(HELPER_NAMES),$(eval $(call helper_rule,$(h))))

$(BUILD)/crisp-bench: $(BUILD)/bench/cri_bench.o $(BUILD)/libcrisp.a $(HELPER_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test/%: $(BUILD)/test/unit/%.o $(BUILD)/libcrisp.a $(HELPER_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

run: deps all
	$(BUILD)/crispd

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

e2e: all
	CRISPD=$(abspath $(BUILD)/crispd-test) $(PYTHON) -m pytest -q -p no:cacheprovider test/e2e

test: deps
	$(MAKE) all unit
	$(MAKE) e2e

# ASan + UBSan build in its own folder; `make asan-test` runs the unit and e2e suites against it.
asan:
	$(MAKE) BUILD=build-asan OPTFLAGS="-O1 -fno-omit-frame-pointer" \
	    SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BIN))

asan-test: asan
	@fail=0; for t in $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BIN)); do $$t || fail=1; done; [ $$fail = 0 ]
	ASAN_OPTIONS=detect_leaks=1 CRISPD=$(abspath build-asan/crispd-test) $(PYTHON) -m pytest -q -p no:cacheprovider test/e2e

# ThreadSanitizer build in its own folder (the helpers stay unsanitized, as for asan); `make tsan` builds
# it and runs the unit and e2e suites against it. Every process writes its reports to its own file under
# build-tsan/reports (log_path), whatever the harness does with its exit code, and the run fails when
# any report file exists; test/tsan.supp holds the suppressions for the uninstrumented libraries.
# setarch -R turns off address randomisation for the whole process tree: with the larger mmap
# randomisation of recent kernels (vm.mmap_rnd_bits > 28) TSan dies on an "unexpected memory mapping".
TSAN_REPORTS := $(abspath build-tsan/reports)
TSAN_E2E     ?= test/e2e
# test_seccomp has no threads of its own, and its children that a filter kills with SCMP_ACT_KILL (the
# thread only) would outlive it in TSan's background thread, so its waitpid would never return.
TSAN_UNIT    := $(filter-out build-tsan/test/test_seccomp,$(patsubst $(BUILD)/%,build-tsan/%,$(UNIT_BIN)))
TSAN_RUN     := setarch $$(uname -m) -R env TSAN_OPTIONS="suppressions=$(abspath test/tsan.supp) \
                log_path=$(TSAN_REPORTS)/tsan second_deadlock_stack=1 history_size=4"
tsan-build:
	$(MAKE) BUILD=build-tsan OPTFLAGS="-O1 -fno-omit-frame-pointer" SANFLAGS="-fsanitize=thread" \
	    all $(patsubst $(BUILD)/%,build-tsan/%,$(UNIT_BIN))

tsan: tsan-build
	@rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	@fail=0; for t in $(TSAN_UNIT); do \
	    echo "== $$t"; $(TSAN_RUN) CRISP_EXEC=$(abspath build-tsan/crisp-exec) \
	    CRISP_PINNS=$(abspath build-tsan/crisp-pinns) $$t || fail=1; done; \
	$(TSAN_RUN) CRISPD=$(abspath build-tsan/crispd-test) $(PYTHON) -m pytest -q -p no:cacheprovider \
	    $(TSAN_E2E) || fail=1; \
	if ls $(TSAN_REPORTS)/tsan.* >/dev/null 2>&1; then \
	    echo "ThreadSanitizer reports in $(TSAN_REPORTS):"; grep -h "^SUMMARY" $(TSAN_REPORTS)/tsan.* | sort | uniq -c; \
	    fail=1; fi; \
	exit $$fail

# clang-format (Debian 12's, version 14) with .clang-format over every tracked C file: format-check
# lists the files that differ and fails, format rewrites them.
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' ! -path './build*')
format-check:
	@bad=$$(for f in $(FORMAT_FILES); do [ ! -f $$f ] || clang-format $$f | cmp -s $$f - || echo $$f; done); \
	if [ -n "$$bad" ]; then echo "differ from clang-format's output (make format rewrites them):"; \
	    echo "$$bad"; exit 1; fi

format:
	@for f in $(FORMAT_FILES); do [ ! -f $$f ] || clang-format -i $$f; done

# libFuzzer on the request decode path, with protobuf-c itself compiled in (from Debian's source of
# the linked version) so coverage reaches into the decoder; FUZZ_SECONDS bounds the run.
FUZZ_SECONDS ?= 300
fuzz: $(GEN)
	@mkdir -p build-fuzz fuzz-corpus
	test/fuzz/protobuf-c-source.sh build-fuzz/protobuf-c-src
	clang -std=gnu11 -Ulinux -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/gen \
	    -Ibuild-fuzz/protobuf-c-src -o build-fuzz/fuzz_decode test/fuzz/fuzz_decode.c server/decode.c \
	    server/dispatch.c common/error.c common/arena.c build/gen/api.pb-c.c \
	    build-fuzz/protobuf-c-src/protobuf-c/protobuf-c.c
	build-fuzz/fuzz_decode -max_total_time=$(FUZZ_SECONDS) -max_len=65536 fuzz-corpus

# The streaming server's parsers (HTTP head, SPDY frames and header blocks, WebSocket frames) and
# Localhost seccomp profiles, each against its own corpus.
FUZZ_CC := clang -std=gnu11 -Ulinux -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/gen
fuzz-streaming:
	@mkdir -p build-fuzz fuzz-corpus-streaming
	$(FUZZ_CC) -o build-fuzz/fuzz_streaming test/fuzz/fuzz_streaming.c streaming/http.c \
	    streaming/spdy/spdy.c streaming/ws/ws.c streaming/io.c common/error.c common/clock.c -lz -lssl -lcrypto
	build-fuzz/fuzz_streaming -max_total_time=$(FUZZ_SECONDS) -max_len=65536 fuzz-corpus-streaming

fuzz-seccomp:
	@mkdir -p build-fuzz fuzz-corpus-seccomp
	$(FUZZ_CC) -o build-fuzz/fuzz_seccomp test/fuzz/fuzz_seccomp.c runtime/seccomp/seccomp.c runtime/seccomp/seccomp_profile.c \
	    runtime/seccomp/seccomp_default.c runtime/caps.c common/json.c common/file.c common/error.c common/arena.c \
	    -lseccomp -lcap -lyajl
	build-fuzz/fuzz_seccomp -max_total_time=$(FUZZ_SECONDS) -max_len=65536 fuzz-corpus-seccomp

bench: deps all
	bench/run.sh $(BUILD)

# crisp on a stock Debian 12 node (cgroup v2, systemd as PID 1) in a qemu VM whose image is built once
# and cached outside the checkout (VM_CACHE, default /var/cache/crisp-vm): crisp.service and the e2e
# suite with each cgroup driver. VM_TESTS picks the pytest arguments; vm/README.md says more.
VM_BUILD ?= $(if $(filter command line,$(origin BUILD)),$(BUILD),build-vm)
vm-test:
	BUILD=$(VM_BUILD) VM_TESTS="$(VM_TESTS)" vm/vm-test.sh

install: all
	install -D -m 0755 $(BUILD)/crispd $(DESTDIR)$(PREFIX)/bin/crispd
	for h in $(HELPERS); do install -D -m 0755 $$h $(DESTDIR)$(PREFIX)/bin/$$(basename $$h); done
	install -D -m 0644 deploy/crisp.json $(DESTDIR)/etc/crisp/crisp.json
	install -D -m 0644 deploy/crisp.service $(DESTDIR)/etc/systemd/system/crisp.service
	install -D -m 0644 deploy/crictl.yaml $(DESTDIR)/etc/crictl.yaml

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
