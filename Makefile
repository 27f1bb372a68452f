# VolSeg: `make demo` and `make test` work on a fresh Debian machine with Swift installed.
# Each installs the system libraries it needs first (apt-get, only when something is missing).

SYSTEM_PACKAGES := libopenblas-dev libnifti2-dev libhdf5-dev pkg-config zlib1g-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Release builds: numeric Swift code is 10-50x slower in debug. -enable-testing lets the test
# targets use @testable imports against the same optimised code users run.
TEST_FLAGS := -c release -Xswiftc -enable-testing

.PHONY: deps build test demo bench fuzz clean

deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	swift build -c release

test: deps
	swift build $(TEST_FLAGS) --build-tests
	swift test $(TEST_FLAGS) --skip-build --disable-swift-testing

demo: deps build
	./scripts/demo.sh

# libFuzzer harnesses for the NIfTI, pipeline-YAML, HDF5 checkpoint and torch checkpoint readers, FUZZ_SECONDS each
# (default 600; FUZZ_HARNESSES="FuzzTorchCheckpoint" runs only that one).
fuzz: deps
	./fuzz/run.sh

bench: build
	.build/release/volseg bench kernels

clean:
	rm -rf .build
