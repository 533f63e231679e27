# SPDX-License-Identifier: MIT
# The commands a newcomer types. Each installs what is missing first
# (scripts/install-deps.sh), then builds with CMake and runs CTest.

BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

# Benchmarks: bench/<name>.c builds bench_<name>; `make bench-<name>` runs one,
# `make bench` runs all of them (see bench/README.md).
BENCHES ?= $(patsubst bench/%.c,%,$(wildcard bench/*.c))

.PHONY: all deps build check test test-asan lint format clean bench fuzz install
.PHONY: deb check-package

# make install [PREFIX=/usr/local] [DESTDIR=/some/root]: qmail in bin, qkme
# in sbin, manual pages, docs, bash completion and systemd units (dist/).
# The prefix is configured into the build (the units name the programs).
PREFIX  ?= /usr/local
DESTDIR ?=

# make demo: a local world (mail servers, two KMEs, Alice and Bob, two web
# GUIs) kept in DEMO_STATE, rebuilt on every run; Ctrl-C stops it.
DEMO_STATE ?= $(CURDIR)/.demo
DEMO_PORT  ?= 8025
.PHONY: demo demo-clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

install: deps $(BUILD)/CMakeCache.txt
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target qmail qkme man
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# make deb: qmail_VERSION_ARCH.deb and qkme_VERSION_ARCH.deb here, built by
# debhelper (debian/) from a copy of the tree in DEB_DIR: the files git
# tracks or does not ignore, and PQClean's sources from node_modules.
# Then `sudo apt install ./qmail_*.deb ./qkme_*.deb`.
DEB_DIR ?= $(BUILD)/deb
deb: deps
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/qmail/node_modules
	git ls-files -z -co --exclude-standard | \
	  tar --null -T - --ignore-failed-read -cf - | tar -xf - -C $(DEB_DIR)/qmail
	cp -a node_modules/pqclean $(DEB_DIR)/qmail/node_modules/
	cd $(DEB_DIR)/qmail && DEB_BUILD_OPTIONS="parallel=$(JOBS) nocheck" \
	  dpkg-buildpackage -b -us -uc
	rm -f qmail_*.deb qkme_*.deb qmail-dbgsym_*.deb qkme-dbgsym_*.deb
	cp $(DEB_DIR)/qmail_*.deb $(DEB_DIR)/qkme_*.deb .

# make check-package: make deb, then both packages unpacked into a
# throw-away root run --version from there, and lintian finds no error
# (scripts/check-package.sh). Not part of make check (it builds everything
# again with Debian's flags); CI runs it.
check-package: deb
	bash scripts/check-package.sh $(DEB_DIR)

lint:
	@bash scripts/check-banned.sh
	@bash scripts/check-layers.sh

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DQM_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD_ASAN) -j$(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  QM_SANITIZED=1 ctest --output-on-failure -j$(JOBS) -LE nosan

# make check: install, lint, build, run every test, then run them again
# under AddressSanitizer + UndefinedBehaviorSanitizer.
check: deps lint
	$(MAKE) test
	$(MAKE) test-asan

# make bench: every benchmark, each figure kept in $(BUILD)/bench-results,
# then docs/PERFORMANCE.md rewritten from them (scripts/bench-report.sh).
# The end-to-end run sends BENCH_E2E_N messages per level to stay in the
# 10-minute budget on a shared 2-core machine (`make bench-e2e`: 200).
# The chat ping-pong likewise sends BENCH_CHAT_N messages per level
# (`make bench-chat`: 200, about 15 minutes).
BENCH_E2E_N ?= 50
BENCH_CHAT_N ?= 20
bench: build
	QM_BENCH_E2E_N=$${QM_BENCH_E2E_N:-$(BENCH_E2E_N)} \
	  QM_BENCH_CHAT_N=$${QM_BENCH_CHAT_N:-$(BENCH_CHAT_N)} \
	  bash scripts/bench-report.sh run $(BUILD) $(BUILD)/bench-results $(BENCHES)
	bash scripts/bench-report.sh report $(BUILD)/bench-results docs/PERFORMANCE.md

bench-%: build
	cd $(BUILD) && QM_SOURCE_DIR=$(CURDIR) ./bench/bench_$*

# make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="env mime"]: builds the libFuzzer
# targets with clang (ASan + UBSan) in $(FUZZ_BUILD) and runs each for
# FUZZ_SECONDS (fuzz/run.sh prints executions, coverage, crashes).
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DQM_FUZZ=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_all
	bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'fuzz/*.c' 'demo/*.c')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

# deps first: without root it prints the exact apt-get line for what is
# missing. The mail servers of the demo must be started as root.
demo: deps
	@if [ "$$(id -u)" -ne 0 ]; then \
	  echo "make demo starts its own OpenSMTPD and Dovecot, which needs root:" >&2; \
	  echo "  sudo make demo" >&2; exit 1; fi
	$(MAKE) $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS) --target qmail-demo
	$(BUILD)/demo/qmail-demo --state $(DEMO_STATE) --port $(DEMO_PORT)

demo-clean:
	@if [ -f $(DEMO_STATE)/demo.pid ] && kill -0 $$(cat $(DEMO_STATE)/demo.pid) 2>/dev/null; then \
	  echo "the demo is still running (pid $$(cat $(DEMO_STATE)/demo.pid)): stop it with Ctrl-C first" >&2; exit 1; fi
	rm -rf $(DEMO_STATE)
