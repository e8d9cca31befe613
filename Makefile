# Commissioner: the two commands of the README, and the pieces they are made of.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The demo's lab station; a lab CA, never for production units.
STATION ?= $(CURDIR)/.station/demo
export COMMISSIONER_CA_PASSPHRASE ?= commissioner-demo-lab-only
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: help demo test deps deps-demo ui ui-checks rust-checks rust-tests smoke app supply-chain package package-test

help:
	@echo "make demo   install what is missing, build, commission a simulated unit against a real mosquitto"
	@echo "make test   install what is missing, then every check and test (UI, Rust, e2e in WebKit)"
	@echo "make app    open the desktop app"

deps-demo:
	PROFILE=demo bash scripts/install-deps.sh

deps:
	bash scripts/install-deps.sh

demo: deps-demo
	cargo build -q -p commissioner-cli
	./target/debug/commissioner --station "$(STATION)" demo

ui:
	cd ui && npm install --no-audit --no-fund --loglevel=error && npm run build

ui-checks: ui
	cd ui && npm run check && npm run lint && npm test

rust-checks: ui
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# One cargo command shape for build and test: mixing `-p` builds with workspace builds
# re-resolves features and rebuilds for minutes.
rust-tests: ui
	xvfb-run -a cargo test --workspace

smoke:
	bash tests/smoke.sh

# Licenses, banned crates and sources of every dependency (deny.toml); the advisory database
# cannot be fetched from the build machines, so advisories are recorded in deny.toml instead.
supply-chain:
	cargo deny check licenses bans sources

test: deps supply-chain ui-checks rust-checks rust-tests smoke package-test

# The factory package: a release .deb from the Tauri bundler, built with the `deb` profile
# (release without LTO) and without the development builds' test seams (--no-default-features:
# no fixed dialog directory). No devtools either: Tauri's `devtools` feature is never enabled.
DEB_DIR := target/deb/bundle/deb
package: ui
	rm -f $(DEB_DIR)/*.deb
	cd src-tauri && ../ui/node_modules/.bin/tauri build --ci --bundles deb -- --profile deb --no-default-features
	ls $(DEB_DIR)/*.deb

# Installs the package into a scratch root and starts the app from it under Xvfb.
package-test: package
	bash tests/package.sh $$(ls $(DEB_DIR)/*.deb)

app: deps ui
	cargo build --workspace
	./target/debug/commissioner-app
