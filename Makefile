# The two commands a new user runs are `make run` and `make test`; everything else is for developers.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:8080

.PHONY: deps test-deps cluster-deps build run cluster deb test test-asan fuzz fuzz-build soak bench demo-screenshot clean format

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

cluster-deps:
	@scripts/install-deps.sh --cluster

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Builds only the server, so it serves as soon as it is linked.
run: deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS) --target switchboard
	$(BUILD)/switchboard --dev --listen $(LISTEN)

# Redis (REDIS_CLUSTER=1: a Redis Cluster of three masters), three nodes and HAProxy round-robin
# on loopback (docs/scaling.md); Ctrl-C stops them.
cluster: cluster-deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS) --target switchboard
	scripts/cluster.sh $(BUILD)

# The Debian package build/switchboard_<version>_<arch>.deb (scripts/build-deb.sh; README:
# "Install as a service"). Needs no root.
deb: deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS) --target switchboard
	@scripts/build-deb.sh $(BUILD)

test: test-deps build fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) scripts/run-tests.sh $(BUILD)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSWITCHBOARD_SANITIZE=ON

test-asan: test-deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	@SWITCHBOARD_SANITIZED=1 scripts/run-tests.sh $(ASAN_BUILD)

# -O1 and line tables only (libFuzzer's usual flags): a crash still names file and line, and the
# build, which `make test` pays on every fresh machine, takes a fifth less.
$(FUZZ_BUILD)/build.ninja:
	CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
	  -DSWITCHBOARD_FUZZ=ON -DSWITCHBOARD_TESTS=OFF -DSWITCHBOARD_BENCH=OFF

# libFuzzer targets for every parser and for whole sessions (tests/fuzz); `make test` runs each
# for 10 s, `make fuzz` for FUZZ_SECONDS (default 600) each.
fuzz-build: test-deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz: fuzz-build
	@SUITES=fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-600} FUZZ_BUILD=$(FUZZ_BUILD) scripts/run-tests.sh $(BUILD)

# The reliability probes at their long sizes (tests/reliability, SWITCHBOARD_SOAK=1).
soak: test-deps build
	@SUITES=reliability SWITCHBOARD_SOAK=1 scripts/run-tests.sh $(BUILD)

# Renews docs/demo.png and docs/admin.png from the e2e suite's screenshots of the demo and admin pages.
demo-screenshot: test-deps build
	@SUITES=e2e scripts/run-tests.sh $(BUILD)
	cp build/screenshots/demo.png docs/demo.png
	cp build/screenshots/admin.png docs/admin.png

bench: build
	@tools/bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files 'src/*.[ch]pp' 'tests/*.[ch]pp' 'bench/*.[ch]pp' 'tools/*.[ch]pp')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
