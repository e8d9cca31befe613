#!/usr/bin/env bash
# Full-stack smoke test, as a new user meets the tool: the demo on a brand-new station, then an
# independent look at what it left behind, with sqlite3 and openssl rather than our own code.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/debug/commissioner"
[ -x "$bin" ] || cargo build -q -p commissioner-cli

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
station="$work/station"
export COMMISSIONER_CA_PASSPHRASE=smoke-test-passphrase

out=$("$bin" --station "$station" demo)
echo "$out"
grep -q '^PASS' <<<"$out" || { echo "smoke: demo did not print PASS" >&2; exit 1; }
# The lab's broker and backend identities are issued in sessions of their own first.
session=$(awk '/^PASS/ {print $3}' <<<"$out")
serial=$(awk '/cert serial/ {print $3}' <<<"$out")
fingerprint=$(awk '/sha-256/ {print $2}' <<<"$out")

db="$station/journal.sqlite"
[ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ]
[ "$(sqlite3 "$db" "SELECT result FROM sessions WHERE id = $session")" = pass ]
[ "$(sqlite3 "$db" "SELECT count(*) FROM steps WHERE session_id = $session AND outcome = 'ok'")" = 8 ]
[ "$(sqlite3 "$db" "SELECT sha256 FROM certificates WHERE serial = '$serial'")" = "$fingerprint" ]

sqlite3 "$db" "SELECT pem FROM certificates WHERE serial = '$serial'" >"$work/unit.pem"
openssl verify -x509_strict -purpose sslclient -CAfile "$station/ca/root.pem" \
  -untrusted "$station/ca/issuing.pem" "$work/unit.pem"
[ "$(openssl x509 -in "$work/unit.pem" -noout -serial)" = "serial=$serial" ]
[ "$(openssl x509 -in "$work/unit.pem" -noout -fingerprint -sha256 | tr -d ':' | tr 'A-F' 'a-f' | cut -d= -f2)" = "$fingerprint" ]
if grep -q "PRIVATE KEY-----" <(grep -v ENCRYPTED "$station"/ca/*.key.pem); then
  echo "smoke: a CA key is stored in the clear" >&2; exit 1
fi
echo "smoke: OK (serial $serial)"
