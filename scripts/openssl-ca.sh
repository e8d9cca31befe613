#!/bin/sh
# An issuing CA made with openssl, the way a factory PKI hands one over, for tests that import
# it: writes root.pem, root.key, issuing.pem, issuing.key (PKCS#8, plain) and issuing.enc.pem
# (PKCS#8 encrypted with the passphrase "transport") into the directory given, with the
# by-products issuing.csr, root.srl and ext. The issuing CA lives ten years: a station refuses a
# profile whose certificates (five years by default) would outlive it.
set -eu
cd "$1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout root.key -out root.pem -days 7300 -subj '/O=Acme/CN=Acme Root' \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout issuing.key -out issuing.csr -subj '/O=Acme/CN=Acme Issuing'
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > ext
openssl x509 -req -in issuing.csr -CA root.pem -CAkey root.key -CAcreateserial \
  -days 3650 -extfile ext -out issuing.pem
openssl pkcs8 -topk8 -in issuing.key -v2 aes-256-cbc -passout pass:transport -out issuing.enc.pem
