#!/usr/bin/env bash
# Installs what Commissioner needs on Debian 12: system packages, then tauri-driver.
# Idempotent: checks before installing, so re-running is cheap.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS=(
  build-essential pkg-config libssl-dev libudev-dev
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  mosquitto mosquitto-clients openssl socat sqlite3
  softhsm2 opensc
  xvfb xauth webkit2gtk-driver
)

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
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
fi

if [ "${WITH_E2E:-1}" = "1" ] && ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "==> installing tauri-driver"
  cargo install tauri-driver --locked
fi
