// The README's "Migrating from nginx-http-est" section, rendered from the directive and behaviour tables.
import { renderDirectiveTable, renderTerminatorTable } from '../middleware/directives.js';
import { renderBehaviourChanges } from './behaviour-changes.js';

/** The complete README section (markdown). A spec checks that README.md contains it verbatim. */
export function renderReadmeSection(): string {
  return `## Migrating from nginx-http-est

\`est-migrate\` reads your nginx configuration and writes an Express app that answers your EST clients
the way the module did, minus the module's defects, plus an nginx front end and a report:

\`\`\`sh
npx est-migrate /etc/nginx/nginx.conf -o est-app     # --check: only validate and print the report
cd est-app && npm install && npm start               # the app, on 127.0.0.1:8080
nginx -t -p nginx -c nginx.conf                       # the new front end (or include nginx/est-servers.conf)
\`\`\`

It follows nginx's own reading of the file: comments, quoting, \`include\` with globs (relative to the
config's directory, or \`-p <prefix>\`), nested \`http\`/\`server\`/\`location\` blocks, and inheritance of
\`est_*\` directives into nested locations (\`est on\` itself is not inherited) and of \`ssl_*\` from
\`http\` into \`server\`. Each \`location\` with \`est on\` becomes one \`app.use(<path>, est({...}))\`; several
locations (labels) are mounted longest path first, as nginx matches them. The CA files and the serial
file are used in place: issuance continues from the module's last serial, without a gap or a reuse.

It writes \`app.ts\` and \`app.js\`, \`package.json\`, \`nginx/nginx.conf\` (standalone, runs without root;
\`nginx/est-servers.conf\` and \`nginx/est-stream.conf\` can be included from your own config instead) and
\`MIGRATION.md\`, the report: every directive mapped, inherited or defaulted, what it could not map (why,
and what to do), and the behaviour that changes. It refuses what it cannot understand (nginx syntax
errors as \`file:line\`, an \`est_auth_request\` it cannot resolve, regex locations), writes nothing then, and
never overwrites files without \`--force\`. Exit codes: 0 converted, 1 cannot convert or would overwrite,
2 usage error, unreadable file or syntax error.

### Directives and options

${renderDirectiveTable()}
Settings of the TLS terminator that the migration carries over:

${renderTerminatorTable()}
### What changes on purpose

${renderBehaviourChanges()}
Unchanged: the operations, methods and their status codes (404 unknown operation or label, 405 wrong
method), the authentication rule (a verified client certificate, else \`authRequest\`,
else 401), \`/csrattrs\` 204 when nothing is configured, the serial file format, and the
\`application/pkcs7-mime\` / \`application/csrattrs\` bodies in base64.

### Before and after

Before (nginx-http-est):

\`\`\`nginx
server {
    listen 443 ssl;
    ssl_certificate         /etc/nginx/ssl/server.crt;
    ssl_certificate_key     /etc/nginx/ssl/server.key;
    ssl_client_certificate  /etc/nginx/ssl/ca.crt;
    ssl_verify_client       optional;

    location /.well-known/est {
        est                      on;
        est_auth_request         /est-auth;
        est_root_certificate     /etc/nginx/ssl/ca.crt;
        est_ca_root_certificate  /etc/nginx/ssl/ca.crt;
        est_ca_private_key       /etc/nginx/ssl/ca.key;
        est_ca_serial_number     /etc/nginx/ssl/ca.srl;
    }

    location = /est-auth {
        internal;
        proxy_pass               http://127.0.0.1:9000/check;
        proxy_pass_request_body  off;
        proxy_set_header         Content-Length "";
    }
}
\`\`\`

After: the app (\`app.ts\`, abridged) ...

\`\`\`ts
import express from 'express';
import { est } from 'express-est';

const app = express();
app.use('/.well-known/est', est({
  authRequest: 'http://127.0.0.1:9000/check',   // est_auth_request, resolved through location = /est-auth
  rootCertificate: '/etc/nginx/ssl/ca.crt',      // est_root_certificate
  caRootCertificate: '/etc/nginx/ssl/ca.crt',    // est_ca_root_certificate
  caPrivateKey: '/etc/nginx/ssl/ca.key',         // est_ca_private_key
  caSerialNumber: '/etc/nginx/ssl/ca.srl',       // est_ca_serial_number
  trustAnchors: '/etc/nginx/ssl/ca.crt',         // ssl_client_certificate
  trustProxy: 'loopback',                        // only nginx may pass client-certificate headers
  proxyHeaders: 'nginx',                         // X-SSL-Client-Cert / X-SSL-Client-Verify
}));
app.listen(8080, '127.0.0.1');
\`\`\`

... and nginx, still terminating TLS exactly as before:

\`\`\`nginx
upstream est_app_1 {
    server 127.0.0.1:8080;
    keepalive 16;
}

server {
    listen 443 ssl;
    ssl_certificate         /etc/nginx/ssl/server.crt;
    ssl_certificate_key     /etc/nginx/ssl/server.key;
    ssl_client_certificate  /etc/nginx/ssl/ca.crt;
    ssl_verify_client       optional;

    location /.well-known/est {
        proxy_pass http://est_app_1;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
    }
}
\`\`\`

\`examples/from-nginx\` holds the module's README configuration (with \`est_pop on\`) and exactly what
est-migrate writes for it; a spec keeps the two in sync.

### Keeping nginx as the TLS terminator

nginx keeps the certificates, protocols and client-certificate request (\`ssl_verify_client optional\`);
it passes the client certificate as \`X-SSL-Client-Cert: $ssl_client_escaped_cert\`. The app believes those
headers only from addresses in \`trustProxy\` (\`'loopback'\` when nginx runs on the same host; set the
address or CIDR of the nginx hosts otherwise, and never expose the app's port directly), and it verifies
the certificate chain itself against \`trustAnchors\`: nginx's \`$ssl_client_verify\` alone is never
trusted. With \`ssl_verify_client off\` the generated nginx clears those headers and the app sets no
\`trustProxy\`.

### When \`est_pop on\` needs HAProxy or stream pass-through

Proof-of-possession compares the CSR's challengePassword with the TLS channel binding (tls-unique, or
tls-exporter under TLS 1.3). nginx cannot export it to an upstream, so with \`est_pop on\` the TLS connection
must end where the binding can be read. est-migrate picks the first of these; both work:

- **nginx \`stream\` pass-through** (what est-migrate generates): nginx forwards TCP and the app terminates
  TLS itself; \`est()\` reads the client certificate and the binding from the socket. The whole port goes
  to the app, so other locations of that server must move to another port, and the app sees nginx's
  address, not the client's.

  \`\`\`nginx
  stream {
      server {
          listen 443;
          proxy_pass 127.0.0.1:8443;
      }
  }
  \`\`\`

  \`\`\`ts
  https.createServer({
    cert: readFileSync('/etc/nginx/ssl/server.crt'), key: readFileSync('/etc/nginx/ssl/server.key'),
    ca: readFileSync('/etc/nginx/ssl/ca.crt'), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2',
  }, app).listen(8443, '127.0.0.1');
  \`\`\`

- **HAProxy in front**, which can export tls-unique: keep HTTP routing, pass the certificate (RFC 9440) and
  the binding as headers, and use \`proxyHeaders: 'haproxy'\` (the core of it, for TLS 1.2; TLS 1.3 needs
  the exporter secret too, see \`examples/behind-haproxy\`):

  \`\`\`
  frontend est
      bind :443 ssl crt /etc/haproxy/server.pem ca-file /etc/nginx/ssl/ca.crt verify optional
      http-request del-header Client-Cert
      http-request del-header X-TLS-Unique
      http-request set-header Client-Cert :%[ssl_c_der,base64]: if { ssl_c_used }
      http-request set-header X-TLS-Unique %[ssl_fc_unique_id,base64]
      http-request set-header X-TLS-Protocol %[ssl_fc_protocol]
      default_backend est_app
  backend est_app
      server app 127.0.0.1:8080
  \`\`\`

  \`\`\`ts
  app.use('/.well-known/est', est({ /* ... */ pop: true, trustProxy: 'loopback', proxyHeaders: 'haproxy' }));
  \`\`\`

Without \`est_pop\`, nginx (or Envoy, Traefik, Apache) can stay in front as a plain HTTP reverse proxy.
Complete, tested setups: \`examples/behind-nginx\` (HTTP proxy, and \`stream\` pass-through) and
\`examples/behind-haproxy\`.
`;
}
