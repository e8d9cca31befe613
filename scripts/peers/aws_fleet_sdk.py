"""Fleet provisioning by claim with AWS's own device SDK (awsiot.iotidentity), unchanged:
connect with the bootstrap certificate, CreateCertificateFromCsr, RegisterThing. Prints the
accepted answers as one JSON line, with the exchange's wall time; exits non-zero on a
rejection or a timeout. Used by the tests and by inband-bench.

usage: aws_fleet_sdk.py HOST PORT CERT KEY CAFILE CLIENT_ID CSR_FILE TEMPLATE SERIAL
"""
import json
import sys
import threading
import time

from awscrt import mqtt
from awsiot import iotidentity, mqtt_connection_builder

host, port, cert, key, cafile, client_id, csr_file, template, serial = sys.argv[1:10]
started = time.monotonic()
conn = mqtt_connection_builder.mtls_from_path(
    endpoint=host, port=int(port), cert_filepath=cert, pri_key_filepath=key,
    ca_filepath=cafile, client_id=client_id, clean_session=True, keep_alive_secs=30)
conn.connect().result(10)
identity = iotidentity.IotIdentityClient(conn)
done = threading.Event()
result = {}


def answer(name):
    def on(response):
        result[name] = {k: getattr(response, k) for k in response.__slots__}
        done.set()
    return on


def wait(name):
    if not done.wait(15):
        sys.exit(f"timeout waiting for {name}")
    done.clear()
    if "rejected" in result:
        print(json.dumps(result))
        sys.exit(2)


q = mqtt.QoS.AT_LEAST_ONCE
sub = iotidentity.CreateCertificateFromCsrSubscriptionRequest()
identity.subscribe_to_create_certificate_from_csr_accepted(sub, q, answer("created"))[0].result(10)
identity.subscribe_to_create_certificate_from_csr_rejected(sub, q, answer("rejected"))[0].result(10)
with open(csr_file) as f:
    csr = f.read()
identity.publish_create_certificate_from_csr(
    iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=csr), q).result(10)
wait("created")

sub = iotidentity.RegisterThingSubscriptionRequest(template_name=template)
identity.subscribe_to_register_thing_accepted(sub, q, answer("registered"))[0].result(10)
identity.subscribe_to_register_thing_rejected(sub, q, answer("rejected"))[0].result(10)
identity.publish_register_thing(iotidentity.RegisterThingRequest(
    template_name=template,
    certificate_ownership_token=result["created"]["certificate_ownership_token"],
    parameters={"SerialNumber": serial}), q).result(10)
wait("registered")
conn.disconnect().result(10)
# The exchange alone, from CONNECT to DISCONNECT, without Python's start-up (for inband-bench).
result["elapsed_ms"] = (time.monotonic() - started) * 1000
print(json.dumps(result))
