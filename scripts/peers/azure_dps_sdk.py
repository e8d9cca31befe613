"""DPS registration with Microsoft's own device SDK (azure-iot-device's
ProvisioningDeviceClient), unchanged: X.509 attestation with the bootstrap certificate,
register, poll, assigned. Prints the result as one JSON line; exits non-zero when the
registration is not assigned. Used by the tests and by inband-bench.

The SDK always connects to port 8883, which belongs to the system here. It is given a
ProxyOptions (its public API for factory proxies) naming an HTTP CONNECT proxy run by this
script, which carries the connection to the test broker's port; TLS stays end to end
between the SDK and mosquitto.

usage: azure_dps_sdk.py HOST PORT CERT KEY CAFILE REGISTRATION_ID ID_SCOPE
"""
import json
import socket
import sys
import threading
import time

from azure.iot.device import ProvisioningDeviceClient, ProxyOptions, X509

host, port, cert, key, cafile, registration_id, id_scope = sys.argv[1:8]


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener):
    while True:
        client, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                break
            request += chunk
        if not request.startswith(b"CONNECT "):
            client.close()
            continue
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4)
threading.Thread(target=serve, args=(listener,), daemon=True).start()

with open(cafile) as f:
    trusted = f.read()
started = time.monotonic()
client = ProvisioningDeviceClient.create_from_x509_certificate(
    provisioning_host="localhost",
    registration_id=registration_id,
    id_scope=id_scope,
    x509=X509(cert_file=cert, key_file=key),
    server_verification_cert=trusted,
    proxy_options=ProxyOptions("HTTP", "127.0.0.1", listener.getsockname()[1]),
)
client.provisioning_payload = {"model": "sdk-test"}
result = client.register()
elapsed_ms = (time.monotonic() - started) * 1000
state = result.registration_state
print(json.dumps({
    "status": result.status,
    "operation_id": result.operation_id,
    "device_id": state.device_id if state else None,
    "assigned_hub": state.assigned_hub if state else None,
    "response_payload": state.response_payload if state else None,
    "elapsed_ms": elapsed_ms,
}))
sys.exit(0 if result.status == "assigned" else 2)
