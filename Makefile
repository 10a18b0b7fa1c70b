# openkd: the README's two commands. `make run` and `make test` install missing
# Debian packages, configure with CMake + Ninja, build incrementally, then run.
SANITIZE ?= 0
FUZZ_SECONDS ?= 60
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

ifeq ($(SANITIZE),1)
BUILD := build/asan
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Debug -DOPENKD_SANITIZE=ON
else
BUILD := build/release
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo
endif
# pybind11 2.10 otherwise falls back to FindPythonInterp and may pick a pyenv shim.
CMAKE_FLAGS += -DPYBIND11_FINDPYTHON=ON -DPython_EXECUTABLE=$(PYTHON)

.PHONY: all deps configure build run test ctest pytest fuzz fuzz-smoke bench clean

all: build

deps:
	@sh scripts/deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	exec $(BUILD)/tools/kd/kd -k sim

ctest: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# pytest exits 5 when it collects nothing; that is not a failure while pytests/ grows.
# PYTHONPATH finds the openkd package in the build tree, and -p loads its pytest plugin.
pytest: build
	PYTHONPATH=$(abspath $(BUILD))/python$${PYTHONPATH:+:$$PYTHONPATH} OPENKD_BUILD=$(abspath $(BUILD)) \
	  $(PYTHON) -m pytest -p openkd.pytest_plugin -n $(JOBS) -q pytests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

test: ctest pytest fuzz-smoke

# libFuzzer targets need clang-16 (see CMakeLists.txt); they live in their own build tree.
build/fuzz/build.ninja: | deps
	CC=clang-16 CXX=clang++-16 cmake -S . -B build/fuzz -G Ninja -DOPENKD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo

fuzz: build/fuzz/build.ninja
	cmake --build build/fuzz -j $(JOBS)
	sh scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS)

fuzz-smoke: build/fuzz/build.ninja
	cmake --build build/fuzz -j $(JOBS)
	sh scripts/fuzz.sh build/fuzz 3

# Figures, not pass/fail: scripts/bench.py measures openkd against the raw
# ping-pong and gdb + QEMU side by side (bench/results.json, bench/results.png;
# BENCH_ARGS=--quick for a smoke run), then the transports and remoting.
BENCH_ARGS ?=
bench: build
	@sh scripts/deps.sh bench
	OPENKD_BUILD=$(BUILD) $(PYTHON) scripts/bench.py $(BENCH_ARGS)
	OPENKD_BUILD=$(BUILD) $(PYTHON) scripts/bench_backends.py
	$(BUILD)/tools/bench_remote/bench_remote

clean:
	rm -rf build
