# berth: `make help` lists the targets.
.PHONY: help build release init-static demo test test-unit lint bench bench-pull bench-containers clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

build: ## Debug build of the workspace
	cargo build --workspace

# berth-runtime's release build is a static musl binary (libseccomp from Debian's libseccomp.a):
# it is exec'd twice per container start (the sealing re-exec), and on this VM a static glibc
# binary spends ~1 ms of each exec probing caches with cpuid (which traps to the hypervisor)
# where musl's start-up does not. berth-shim is built the same way: a static binary keeps its
# resident memory per container small (no shared libc pages mapped in). The musl target comes
# from rustup (fetched once).
RUNTIME_TARGET := x86_64-unknown-linux-musl
# It uses the release-runtime profile (release with panic=abort): the rest of the workspace
# unwinds, so that berthd survives a panic in one request.
RUNTIME_STATIC := target/$(RUNTIME_TARGET)/release-runtime/berth-runtime
# berth-init, the `--init` of containers (bind-mounted at /sbin/docker-init), is static musl too,
# so that it runs in any image (busybox images have no libc); its profile optimises for size.
INIT_STATIC := target/$(RUNTIME_TARGET)/release-init/berth-init

release: ## Release build (what the benchmarks use); berth-runtime, berth-shim (release-runtime) and berth-init (release-init) static (musl) under target/x86_64-unknown-linux-musl/
	cargo build --release --workspace
	rustup target list --installed | grep -qx $(RUNTIME_TARGET) || rustup target add $(RUNTIME_TARGET)
	mkdir -p target/libseccomp-static
	cp /usr/lib/x86_64-linux-gnu/libseccomp.a target/libseccomp-static/
	LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$(CURDIR)/target/libseccomp-static \
	  cargo build --profile release-runtime -p berth-runtime -p berth-shim --target $(RUNTIME_TARGET)
	$(MAKE) init-static

init-static: ## berth-init alone: the static musl init for `--init`, in target/x86_64-unknown-linux-musl/release-init
	rustup target list --installed | grep -qx $(RUNTIME_TARGET) || rustup target add $(RUNTIME_TARGET)
	cargo build --profile release-init -p berth-init --target $(RUNTIME_TARGET)
	@ls -l $(INIT_STATIC)

demo: ## Install dependencies, build, and run a busybox container (root)
	bash scripts/demo.sh

# Tests that skip append a line to this file (berth_testutil::prereq); `make test` prints them.
SKIP_LOG := $(CURDIR)/target/test-skips.log

test: ## All tests: unit tests and root integration tests against berth and runc (root); lists skips
	cargo build --workspace --tests
	@rm -f $(SKIP_LOG)
	@status=0; BERTH_TEST_SKIP_LOG=$(SKIP_LOG) cargo nextest run --workspace --no-fail-fast || status=$$?; \
	if [ -s $(SKIP_LOG) ]; then \
	  echo "Skipped: $$(wc -l < $(SKIP_LOG)) test(s) (SKIP-HOST: this host cannot run them;" \
	    "SKIP-MISSING: a prerequisite is missing, which fails under CI/BERTH_TEST_STRICT=1):"; \
	  sort $(SKIP_LOG); \
	else echo "Skipped: none"; fi; \
	exit $$status

test-unit: ## Unit tests only (no root needed)
	cargo nextest run --workspace --lib --bins

lint: ## clippy with warnings as errors, rustfmt check, and the crate dependency rules
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check
	scripts/check-deps.sh

bench: release ## Benchmarks against the peers (runc): prints ratios (root)
	target/release/berth-bench runtime --runs 200 --berth $(RUNTIME_STATIC)
	target/release/berth-bench stats --containers 100 --rounds 5 --berth $(RUNTIME_STATIC)

bench-pull: ## Image pull: berth vs docker, podman, skopeo; 2 images, cold and right after rmi (root; ~10 min)
	cargo build --release -p berth-bench -p berthd
	target/release/berth-bench pull --runs 3

# berthd finds its shim in BERTH_SHIM: the static one, as `make release` builds it.
SHIM_STATIC := target/$(RUNTIME_TARGET)/release-runtime/berth-shim

bench-containers: ## Containers: berth run, and the docker CLI, on berthd vs dockerd and podman (run --rm, start, memory, ps; root)
	cargo build --release -p berthd -p berth-cli -p berth-shim -p berth-bench
	rustup target list --installed | grep -qx $(RUNTIME_TARGET) || rustup target add $(RUNTIME_TARGET)
	mkdir -p target/libseccomp-static
	cp /usr/lib/x86_64-linux-gnu/libseccomp.a target/libseccomp-static/
	LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$(CURDIR)/target/libseccomp-static \
	  cargo build --profile release-runtime -p berth-shim --target $(RUNTIME_TARGET)
	target/release/berth-bench containers --runs 50 --shim $(SHIM_STATIC)

clean: ## Remove build output
	cargo clean
