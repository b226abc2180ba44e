# Thin wrapper around CMake. The two quick-start commands:
#   make train   install what is missing, build, train the default network on Fashion-MNIST
#   make test    install what is missing, build, run the whole test suite (also under ASan+UBSan,
#                every fuzz target for a few seconds from its corpus, and the kernel and
#                deployment tests cross-built for aarch64 under qemu-user, and a model
#                exported on x86 giving the same outputs there)
#   make test-arm64  the whole suite cross-built for aarch64, under qemu-user (slow: emulated)
BUILD    ?= build
ASAN     ?= build-asan
FUZZ     ?= build-fuzz
ARM64    ?= build-arm64
FUZZ_SECONDS ?= 10
JOBS     ?= $(shell nproc)
EPOCHS   ?= 5

.PHONY: all deps build build-arm64 train test test-fast test-asan test-fuzz test-arm64 test-arm64-kernels bench clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

train: build
	$(BUILD)/dorefa train --model default --data /usr/share/datasets/fashion-mnist --epochs $(EPOCHS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure

test-asan: deps
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOREFA_SANITIZE=ON
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

# libFuzzer targets (clang), each run from its seed corpus: scripts/fuzz.sh
test-fuzz: deps
	cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOREFA_FUZZ=ON -DDOREFA_TESTS=OFF
	cmake --build $(FUZZ) -j $(JOBS) --target fuzz
	sh scripts/fuzz.sh $(FUZZ) $(FUZZ_SECONDS)

# aarch64: Debian's cross compiler and arm64 libraries (multiarch), tests under qemu-user
build-arm64:
	@sh scripts/install-deps-arm64.sh
	cmake -S . -B $(ARM64) -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release -DDOREFA_MPI=OFF
	cmake --build $(ARM64) -j $(JOBS)

test-arm64: build-arm64
	cd $(ARM64) && ctest --output-on-failure --timeout 3000

ARM64_QUICK = test_products|test_layers|test_quant|test_bitkernels|test_int8_conv|test_deploy
test-arm64-kernels: build build-arm64
	cd $(ARM64) && ctest --output-on-failure -R '$(ARM64_QUICK)'
	sh tests/cross_outputs.sh $(BUILD) $(ARM64)

test: test-fast test-asan test-fuzz test-arm64-kernels

# Throughput beside PyTorch (Debian's python3-torch), same machine, same run.
bench: build
	sh scripts/install-deps.sh python3-torch
	sh bench/train_throughput.sh 5

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ) $(ARM64)
