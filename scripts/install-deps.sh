#!/usr/bin/env bash
# Installs what Commissioner needs on Debian 12: system packages, then tauri-driver.
# Idempotent: checks before installing, so re-running is cheap.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# PROFILE=demo installs what the CLI demo needs; anything else installs the full set
# (desktop app, its end-to-end tests, PKCS#11).
PKGS=(build-essential pkg-config libssl-dev libudev-dev mosquitto mosquitto-clients openssl sqlite3)
if [ "${PROFILE:-full}" != "demo" ]; then
  PKGS+=(
    libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
    socat softhsm2 opensc xvfb xauth webkit2gtk-driver python3-venv
    # The second real broker of the tests (MQTT plugin, EXTERNAL login by certificate CN).
    rabbitmq-server
    # pdftotext reads the batch reports and PDF labels back in the tests.
    poppler-utils
    # The central store's server (issue 17): the tests run their own on a temporary directory.
    postgresql
  )
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The package starts a system broker on 1883; our tests never use it, but stop it so
  # nothing on the machine depends on a broker we did not start.
  # Likewise RabbitMQ (and the epmd it pulls in): the tests boot their own node on free ports.
  if command -v systemctl >/dev/null 2>&1; then
    for unit in mosquitto rabbitmq-server epmd.socket epmd.service postgresql; do
      $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
fi

if [ "${PROFILE:-full}" != "demo" ] && ! command -v cargo-deny >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-deny" ]; then
  echo "==> installing cargo-deny (supply-chain checks)"
  cargo install cargo-deny --locked --version 0.20.2
fi

# Vendor tools the tests drive our emulators with (nrfcredstore), pinned, in target/.
if [ "${PROFILE:-full}" != "demo" ]; then
  echo "==> Python peers: $(bash "$(dirname "$0")/python-peers.sh")"
fi

if [ "${PROFILE:-full}" != "demo" ] && ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "==> installing tauri-driver"
  cargo install tauri-driver --locked
fi
