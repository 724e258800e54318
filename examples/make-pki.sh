#!/usr/bin/env bash
# Makes the files the examples read, in ./pki of the folder you run it from (est-server init-ca):
#   pki/ca.crt, pki/ca.key             the example CA (est_ca_root_certificate, est_ca_private_key)
#   pki/csrattrs.der                   CSR attributes (empty unless you pass --csr-attr)
#   pki/tls/server.crt, server.key     TLS certificate for localhost / 127.0.0.1 / ::1, issued by that CA
#   pki/tls/server.pem                 the same certificate and key in one file (HAProxy)
# Extra arguments go to init-ca (see: est-server init-ca --help). Nothing is written when pki/ exists.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -e pki/ca.crt ]; then
  echo "pki/ already holds a CA; remove pki/ to make a new one"
  exit 0
fi
exec node --import tsx "$here/../lib/cli/est-server.ts" init-ca --dir pki --cn "Example EST CA" "$@"
