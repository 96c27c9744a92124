#!/bin/sh
# Makes the throwaway PKI that the tests, the demo and the benchmarks use:
#   ca.pem/ca.key                  the test CA (RSA-2048)
#   server-rsa.{pem,key}           RSA-2048 leaf for localhost, 127.0.0.1, ::1
#   server-ecdsa.{pem,key}         ECDSA P-256 leaf for the same names
#   expired.{pem,key}              localhost, valid 2020-01-01 .. 2020-01-02
#   notyet.{pem,key}               localhost, valid from 2090
#   wronghost.{pem,key}            wrong.example only
#   selfsigned.{pem,key}           localhost, self-signed (not under the CA)
#   other-ca.{pem,key}             a CA nobody trusts; untrusted.{pem,key} is its localhost leaf
#   client.{pem,key}               a client certificate under the CA
#   client-untrusted.{pem,key}     a client certificate under other-ca
#   intermediate.{pem,key}         an intermediate CA under the CA
#   server-chain.{pem,key}         localhost leaf under the intermediate; the .pem holds leaf then intermediate
#   server-rsa-encrypted.key       server-rsa.key in traditional encrypted PEM (AES-256-CBC),
#                                  password in key-password.txt
# Usage: make-test-certs.sh OUTDIR   (idempotent: does nothing when OUTDIR/stamp names this
# version of the set; an older set is made again)
set -eu
out=${1:?usage: make-test-certs.sh OUTDIR}
version=2
mkdir -p "$out"
[ -f "$out/stamp" ] && [ "$(sed -n 2p "$out/stamp")" = "set $version" ] && exit 0
cd "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# A CA: key, self-signed certificate, and an `openssl ca` database to sign with.
make_ca() { # name cn
  rsa "$1.key"
  openssl req -new -x509 -key "$1.key" -out "$1.pem" -days 3650 -subj "/O=uptls tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  mkdir -p "$work/$1"
  : > "$work/$1/index.txt"
  cat > "$work/$1/ca.cnf" <<CNF
[ca]
default_ca = this
[this]
database = $work/$1/index.txt
new_certs_dir = $work/$1
certificate = $PWD/$1.pem
private_key = $PWD/$1.key
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
rand_serial = yes
[anything]
commonName = supplied
organizationName = optional
CNF
}

# A leaf: sign KEYFILE's request with CA, for SAN, from START to END (YYYYMMDDHHMMSSZ).
sign() { # ca name keyfile cn san eku start end
  ca=$1 name=$2 key=$3 cn=$4 san=$5 eku=$6 start=$7 end=$8
  openssl req -new -key "$key" -out "$work/$name.csr" -subj "/O=uptls tests/CN=$cn" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$san" > "$work/$name.ext"
  openssl ca -batch -config "$work/$ca/ca.cnf" -in "$work/$name.csr" -out "$name.pem" -notext \
    -startdate "$start" -enddate "$end" -extfile "$work/$name.ext" 2>/dev/null
}

now=20240101000000Z
later=20990101000000Z
localnames="DNS:localhost,IP:127.0.0.1,IP:::1"

make_ca ca "uptls test CA"
make_ca other-ca "uptls untrusted CA"

rsa server-rsa.key; sign ca server-rsa server-rsa.key localhost "$localnames" serverAuth $now $later
ec server-ecdsa.key; sign ca server-ecdsa server-ecdsa.key localhost "$localnames" serverAuth $now $later
rsa expired.key; sign ca expired expired.key localhost "$localnames" serverAuth 20200101000000Z 20200102000000Z
rsa notyet.key; sign ca notyet notyet.key localhost "$localnames" serverAuth 20900101000000Z $later
rsa wronghost.key; sign ca wronghost wronghost.key wrong.example "DNS:wrong.example" serverAuth $now $later
rsa untrusted.key; sign other-ca untrusted untrusted.key localhost "$localnames" serverAuth $now $later
rsa client.key; sign ca client client.key "uptls test client" "DNS:client.uptls.test" clientAuth $now $later
rsa client-untrusted.key; sign other-ca client-untrusted client-untrusted.key "uptls rogue client" "DNS:rogue.uptls.test" clientAuth $now $later

rsa selfsigned.key
openssl req -new -x509 -key selfsigned.key -out selfsigned.pem -days 3650 -subj "/O=uptls tests/CN=localhost" \
  -addext "subjectAltName=$localnames" -addext "basicConstraints=critical,CA:FALSE" \
  -addext "extendedKeyUsage=serverAuth" 2>/dev/null

# An intermediate CA (the chain tests): CA:TRUE, path length 0, under the test CA.
rsa intermediate.key
openssl req -new -key intermediate.key -out "$work/intermediate.csr" -subj "/O=uptls tests/CN=uptls intermediate CA" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$work/intermediate.ext"
openssl ca -batch -config "$work/ca/ca.cnf" -in "$work/intermediate.csr" -out intermediate.pem -notext \
  -startdate $now -enddate $later -extfile "$work/intermediate.ext" 2>/dev/null
make_ca_db() { # name: an `openssl ca` database for an existing CA key and certificate
  mkdir -p "$work/$1"; : > "$work/$1/index.txt"
  sed "s|$work/ca|$work/$1|g; s|$PWD/ca.pem|$PWD/$1.pem|; s|$PWD/ca.key|$PWD/$1.key|" "$work/ca/ca.cnf" > "$work/$1/ca.cnf"
}
make_ca_db intermediate
ec server-chain.key; sign intermediate server-chain-leaf server-chain.key localhost "$localnames" serverAuth $now $later
cat server-chain-leaf.pem intermediate.pem > server-chain.pem
rm -f server-chain-leaf.pem

# The server key again, encrypted the traditional way (Proc-Type/DEK-Info),
# which OpenSSL, GnuTLS and mbedTLS 2.28 all read.
printf 'uptls test password' > key-password.txt
openssl rsa -in server-rsa.key -aes256 -traditional -passout file:key-password.txt -out server-rsa-encrypted.key 2>/dev/null

{ date -u; echo "set $version"; } > stamp
