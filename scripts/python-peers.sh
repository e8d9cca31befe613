#!/usr/bin/env bash
# Installs the Python peers the tests run against our emulators, at pinned versions, into a
# virtual environment under the build directory (default: target/python-peers), and prints
# its path. Idempotent and safe to run from concurrent tests (a lock serialises them).
#
# Nordic's nrfcredstore (and nrfcloud-utils, built on it) only opens ports that pyserial enumerates, and pyserial never lists a
# pseudo-terminal. The venv gets a sitecustomize.py that adds the paths in
# COMMISSIONER_PTY_PORTS (colon-separated) to pyserial's list_ports.comports(); nrfcredstore
# itself is installed and run unchanged.
set -euo pipefail

# nrfcloud-utils (device_credentials_installer, Nordic's installer script) needs nrfcredstore >= 2.1.
NRFCREDSTORE_VERSION=2.1.0
NRFCLOUD_UTILS_VERSION=3.3.1
PYSERIAL_VERSION=3.5
# Intercreate's SMP client and its CLI, the judges of the Zephyr SMP emulator.
SMP_VERSION=4.2.0
SMPCLIENT_VERSION=7.3.0
SMPMGR_VERSION=0.19.1
# AWS IoT fleet provisioning by claim (awsiot.iotidentity) against `commissioner responder --dialect aws-fleet`.
AWSIOTSDK_VERSION=1.31.0
AWSCRT_VERSION=0.36.1
# Azure DPS registration (ProvisioningDeviceClient) against `commissioner responder --dialect azure-dps`.
AZURE_IOT_DEVICE_VERSION=2.14.0
PAHO_MQTT_VERSION=1.6.1

here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-${CARGO_TARGET_DIR:-$here/../target}/python-peers}"
mkdir -p "$(dirname "$venv")"
stamp="$venv/.installed-nrfcredstore-$NRFCREDSTORE_VERSION-nrfcloud-utils-$NRFCLOUD_UTILS_VERSION-pyserial-$PYSERIAL_VERSION-smpmgr-$SMPMGR_VERSION-smpclient-$SMPCLIENT_VERSION-smp-$SMP_VERSION-awsiotsdk-$AWSIOTSDK_VERSION-awscrt-$AWSCRT_VERSION-azure-iot-device-$AZURE_IOT_DEVICE_VERSION-paho-mqtt-$PAHO_MQTT_VERSION"

exec 9>"$venv.lock"
flock 9
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "nrfcredstore==$NRFCREDSTORE_VERSION" "nrfcloud-utils==$NRFCLOUD_UTILS_VERSION" \
    "pyserial==$PYSERIAL_VERSION" \
    "smp==$SMP_VERSION" "smpclient==$SMPCLIENT_VERSION" "smpmgr==$SMPMGR_VERSION" \
    "awsiotsdk==$AWSIOTSDK_VERSION" "awscrt==$AWSCRT_VERSION" \
    "azure-iot-device==$AZURE_IOT_DEVICE_VERSION" "paho-mqtt==$PAHO_MQTT_VERSION" >&2
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  cat > "$site/sitecustomize.py" <<'PY'
# Written by scripts/python-peers.sh: pyserial never lists a pseudo-terminal, and the tools
# under test only open ports it lists. The paths in COMMISSIONER_PTY_PORTS are added to
# list_ports.comports(); nothing else changes.
import os

_extra = [p for p in os.environ.get("COMMISSIONER_PTY_PORTS", "").split(":") if p]
if _extra:
    from serial.tools import list_ports, list_ports_common

    _system_comports = list_ports.comports

    def _comports(include_links=False):
        ports = list(_system_comports(include_links))
        known = {p.device for p in ports}
        for path in _extra:
            if path not in known:
                ports.append(list_ports_common.ListPortInfo(path, skip_link_detection=True))
        return ports

    list_ports.comports = _comports
PY
  touch "$stamp"
fi
echo "$venv"
