#!/usr/bin/env bash
# The factory package, as a factory installs it: the release .deb unpacked into a scratch root
# (dpkg-deb -x, no root needed), its app started from there under Xvfb. It must stay up, log
# its start and map its window; and the test seams of development builds must not be in it.
set -euo pipefail

deb=${1:?usage: tests/package.sh path/to/commissioner.deb}
root=$(mktemp -d)
app_pid=
cleanup() {
  if [[ -n $app_pid ]]; then kill "$app_pid" 2>/dev/null || true; fi
  rm -rf "$root"
}
trap cleanup EXIT

dpkg-deb -x "$deb" "$root/fs"
bin="$root/fs/usr/bin/commissioner-app"
[[ -x $bin ]] || { echo "FAIL: no /usr/bin/commissioner-app in $deb"; exit 1; }
# The fixed dialog directory of the end-to-end tests is compiled out (feature test-seams).
if grep -q COMMISSIONER_DIALOG_DIR "$bin"; then
  echo "FAIL: the package's app still reads COMMISSIONER_DIALOG_DIR"
  exit 1
fi

station="$root/station"
export COMMISSIONER_STATION="$station"
export DISPLAY_WAIT_SECS=${DISPLAY_WAIT_SECS:-30}
xvfb-run -a -s "-screen 0 1280x1024x24" bash -ec '
  "$0" & app=$!
  for _ in $(seq $((DISPLAY_WAIT_SECS * 2))); do
    if xwininfo -root -tree | grep -q "\"Commissioner\""; then
      sleep 2
      kill -0 "$app" || { echo "FAIL: the app exited after showing its window"; exit 1; }
      kill "$app"; wait "$app" || true
      echo "window shown"
      exit 0
    fi
    kill -0 "$app" 2>/dev/null || { echo "FAIL: the app exited before showing a window"; exit 1; }
    sleep 0.5
  done
  kill "$app"; echo "FAIL: no Commissioner window within ${DISPLAY_WAIT_SECS}s"; exit 1
' "$bin"
grep -rq "starting Commissioner" "$station/logs" || { echo "FAIL: no start in the app log"; exit 1; }
echo "OK: $(basename "$deb") installs and starts"
