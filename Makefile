# berth: `make help` lists the targets.
.PHONY: help build release demo test test-unit lint bench bench-pull clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Debug build of the workspace
	cargo build --workspace

# berth-runtime is linked statically (glibc and libseccomp): it is exec'd twice per container
# start (the sealing re-exec), and a static binary skips the dynamic loader's work each time.
STATIC_TARGET := x86_64-unknown-linux-gnu
RUNTIME_STATIC := target/$(STATIC_TARGET)/release/berth-runtime

release: ## Release build (what the benchmarks use); berth-runtime static in target/x86_64-unknown-linux-gnu/release
	cargo build --release --workspace
	RUSTFLAGS="-C target-feature=+crt-static" LIBSECCOMP_LINK_TYPE=static \
	  LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
	  cargo build --release -p berth-runtime --target $(STATIC_TARGET)

demo: ## Install dependencies, build, and run a busybox container (root)
	bash scripts/demo.sh

test: ## All tests: unit tests and root integration tests against berth and runc (root)
	cargo build --workspace --tests
	cargo nextest run --workspace --no-fail-fast

test-unit: ## Unit tests only (no root needed)
	cargo nextest run --workspace --lib --bins

lint: ## clippy with warnings as errors, and rustfmt check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check

bench: release ## Benchmarks against the peers (runc): prints ratios (root)
	target/release/berth-bench runtime --runs 200 --berth $(RUNTIME_STATIC)
	target/release/berth-bench stats --containers 100 --rounds 5 --berth $(RUNTIME_STATIC)

bench-pull: ## Image pull: berth vs docker pull, podman pull, skopeo (root; builds a ~130 MB fixture once)
	cargo build --release -p berth-bench -p berthd
	target/release/berth-bench pull --runs 5

clean: ## Remove build output
	cargo clean
