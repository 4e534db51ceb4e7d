#!/usr/bin/env bash
# gen-certs.sh DIR
#
# Writes a fresh test PKI into DIR (created if missing):
#   ca.pem, ca.key        test CA (self-signed, CA:TRUE)
#   cert.pem, key.pem     end-entity cert for the relay, EC P-256, signed by the CA:
#                         CA:FALSE, SAN DNS:localhost + IP:127.0.0.1, EKU serverAuth,
#                         valid from 1 h ago for 1 day
#   other-ca.pem          a second, unrelated CA (for wrong-certificate tests)
#   misnamed-cert.pem, misnamed-key.pem
#                         an end-entity cert signed by the CA like cert.pem, but for
#                         DNS:elsewhere.invalid only (for hostname-mismatch tests)
#   cert.sha256           lowercase hex SHA-256 of cert.pem's DER, no colons, no newline
#
# Quiet on success; on failure prints openssl's output to stderr and exits non-zero.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR="$1"
mkdir -p "$DIR"

command -v openssl >/dev/null 2>&1 || { echo "gen-certs.sh: openssl not found" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/moq-gen-certs.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
LOG="$WORK/openssl.log"

run() {
    if ! "$@" >>"$LOG" 2>&1; then
        echo "gen-certs.sh: command failed: $*" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

# Validity: not before = now - 1 h, not after = now + 1 day (UTC, openssl ca format).
fmt_time() { date -u -d "@$1" +%Y%m%d%H%M%SZ; }
NOW="$(date -u +%s)"
START="$(fmt_time $((NOW - 3600)))"
END="$(fmt_time $((NOW + 86400)))"

make_ca() { # make_ca KEY CERT CN
    run openssl ecparam -name prime256v1 -genkey -noout -out "$1"
    cat >"$WORK/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = $3
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    # `req -x509` cannot backdate, so self-sign through `openssl ca -selfsign`
    # to control both dates exactly.
    run openssl req -new -key "$1" -config "$WORK/ca.cnf" -out "$WORK/ca.csr"
    sign "$WORK/ca.csr" "$2" "$1" "" v3_ca "$WORK/ca.cnf" -selfsign
}

# sign CSR OUT SIGNKEY SIGNCERT EXTSECTION EXTFILE [extra ca args]
sign() {
    local csr="$1" out="$2" key="$3" cacert="$4" ext="$5" extfile="$6"
    shift 6
    rm -rf "$WORK/db" && mkdir -p "$WORK/db/new"
    : >"$WORK/db/index.txt"
    openssl rand -hex 16 >"$WORK/db/serial"
    cat >"$WORK/ca-sign.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $WORK/db/index.txt
new_certs_dir = $WORK/db/new
serial = $WORK/db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
EOF
    local certarg=()
    [ -n "$cacert" ] && certarg=(-cert "$cacert")
    run openssl ca -batch -notext -config "$WORK/ca-sign.cnf" -keyfile "$key" "${certarg[@]}" \
        -startdate "$START" -enddate "$END" -extfile "$extfile" -extensions "$ext" \
        -in "$csr" -out "$out" "$@"
}

# 1. The test CA and an unrelated one.
make_ca "$WORK/ca.key" "$WORK/ca.pem" "moq test CA"
make_ca "$WORK/other-ca.key" "$WORK/other-ca.pem" "moq unrelated test CA"

# 2. The relay's end-entity certificate.
run openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key.ec.pem"
# PKCS#8 ("BEGIN PRIVATE KEY") is understood by every consumer (rustls-pemfile too).
run openssl pkcs8 -topk8 -nocrypt -in "$WORK/key.ec.pem" -out "$WORK/key.pem"
cat >"$WORK/leaf.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
run openssl req -new -key "$WORK/key.pem" -config "$WORK/leaf.cnf" -out "$WORK/leaf.csr"
sign "$WORK/leaf.csr" "$WORK/cert.pem" "$WORK/ca.key" "$WORK/ca.pem" v3_leaf "$WORK/leaf.cnf"

# 2b. The same, for a name no test connects to.
run openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/misnamed-key.ec.pem"
run openssl pkcs8 -topk8 -nocrypt -in "$WORK/misnamed-key.ec.pem" -out "$WORK/misnamed-key.pem"
sed -e 's/^CN = localhost$/CN = elsewhere.invalid/' \
    -e 's/^subjectAltName = .*/subjectAltName = DNS:elsewhere.invalid/' \
    "$WORK/leaf.cnf" >"$WORK/misnamed.cnf"
run openssl req -new -key "$WORK/misnamed-key.pem" -config "$WORK/misnamed.cnf" -out "$WORK/misnamed.csr"
sign "$WORK/misnamed.csr" "$WORK/misnamed-cert.pem" "$WORK/ca.key" "$WORK/ca.pem" v3_leaf \
    "$WORK/misnamed.cnf"

# 3. Sanity: the leaf verifies against the CA and not against the other CA.
run openssl verify -CAfile "$WORK/ca.pem" -purpose sslserver "$WORK/cert.pem"
if openssl verify -CAfile "$WORK/other-ca.pem" "$WORK/cert.pem" >/dev/null 2>&1; then
    echo "gen-certs.sh: internal error: cert verifies against the unrelated CA" >&2
    exit 1
fi

# 4. Fingerprint of the leaf's DER.
run openssl x509 -in "$WORK/cert.pem" -outform DER -out "$WORK/cert.der"
FP="$(openssl dgst -sha256 -r "$WORK/cert.der" | cut -d' ' -f1 | tr 'A-F' 'a-f')"
if ! printf '%s' "$FP" | grep -Eq '^[0-9a-f]{64}$'; then
    echo "gen-certs.sh: could not compute the certificate fingerprint (got '$FP')" >&2
    exit 1
fi

# 5. Publish into DIR (keys readable by the owner only).
umask 077
cp "$WORK/ca.pem" "$WORK/ca.key" "$WORK/cert.pem" "$WORK/key.pem" "$WORK/other-ca.pem" \
    "$WORK/misnamed-cert.pem" "$WORK/misnamed-key.pem" "$DIR/"
printf '%s' "$FP" >"$DIR/cert.sha256"
chmod 644 "$DIR/ca.pem" "$DIR/cert.pem" "$DIR/other-ca.pem" "$DIR/misnamed-cert.pem" \
    "$DIR/cert.sha256"
