// A stand-in EST server whose responses are produced by the openssl CLI (and one captured from
// RFC 7030 App. A.2), in the shapes real servers send: for interop tests of the client.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestPki } from '../helpers/pki.js';

/** RFC 7030 App. A.2 /csrattrs response body (challengePassword, ecPublicKey/secp384r1, macAddress, ecdsa-with-SHA384). */
export const RFC7030_A2_CSRATTRS = 'MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBggqhkjOPQQDAw==';

function ossl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function wrap(b64: string, width: number, eol: string): string {
  return (b64.match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join(eol) + eol;
}

/**
 * Serves `/.well-known/est/<shape>/<op>`. Shapes: `wrapped` (64 columns CRLF + CTE header,
 * smime-type), `oneline` (one base64 line, no newline, no CTE, no smime-type), `pem` (PEM PKCS7
 * armour), `der` (binary), `retry` (first enroll answers 202 with an HTTP-date), `refuse` (400 text).
 */
export async function startOpensslServer(pki: TestPki, ca: { cert: string; key: string }, tls: { cert: string; key: string }): Promise<{ origin: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  let retried = false;
  let n = 0;
  const certsOnly = (certPath: string, outform: 'DER' | 'PEM') => ossl(['crl2pkcs7', '-nocrl', '-certfile', certPath, '-outform', outform]);
  const issue = (csrDer: Buffer, forcePubkey?: string): string => {
    const csr = pki.write(`fx-${++n}.csr.der`, csrDer);
    const out = pki.path(`fx-${n}.crt`);
    const ext = pki.write(`fx-${n}.cnf`, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n');
    ossl(['x509', '-req', '-inform', 'DER', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', out, ...(forcePubkey ? ['-force_pubkey', forcePubkey] : [])]);
    return out;
  };
  const server: Server = createServer({ key: readFileSync(tls.key), cert: readFileSync(tls.cert) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/\.well-known\/est\/([a-z]+)\/([a-z]+)$/.exec(req.url ?? '');
      requests.push(`${req.method} ${req.url}`);
      if (!m) return void res.writeHead(404).end();
      const [, shape, op] = m as unknown as [string, string, string];
      const send = (der: Buffer, type: string) => {
        let body: Buffer;
        const headers: Record<string, string> = { 'Content-Type': type };
        if (shape === 'wrapped') {
          body = Buffer.from(wrap(der.toString('base64'), 64, '\r\n'));
          headers['Content-Transfer-Encoding'] = 'base64';
        } else if (shape === 'der') body = der;
        else body = Buffer.from(der.toString('base64'));
        res.writeHead(200, headers).end(body);
      };
      try {
        if (shape === 'refuse') return void res.writeHead(400, { 'Content-Type': 'text/plain' }).end('subject not allowed by policy\n');
        if (op === 'cacerts') {
          if (shape === 'pem') return void res.writeHead(200, { 'Content-Type': 'application/pkcs7-mime' }).end(certsOnly(ca.cert, 'PEM'));
          return send(certsOnly(ca.cert, 'DER'), 'application/pkcs7-mime');
        }
        if (op === 'csrattrs') return void res.writeHead(200, { 'Content-Type': 'application/csrattrs' }).end(RFC7030_A2_CSRATTRS);
        const csrDer = ossl(['base64', '-d', '-A'], Buffer.from(Buffer.concat(chunks).toString('latin1').replace(/\s+/g, '')));
        if (op === 'simpleenroll' || op === 'simplereenroll') {
          if (shape === 'retry' && !retried) {
            retried = true;
            return void res.writeHead(202, { 'Retry-After': new Date(Date.now() + 1000).toUTCString(), 'Content-Type': 'text/plain' }).end('pending approval');
          }
          const cert = issue(csrDer);
          if (shape === 'pem') return void res.writeHead(200, { 'Content-Type': 'application/pkcs7-mime; smime-type=certs-only' }).end(certsOnly(cert, 'PEM'));
          return send(certsOnly(cert, 'DER'), shape === 'wrapped' ? 'application/pkcs7-mime; smime-type=certs-only' : 'application/pkcs7-mime');
        }
        if (op === 'serverkeygen') {
          // Key by openssl genpkey, certificate part FIRST, LF line ends, no CTE: the reverse of A.4.
          const keyPem = pki.path(`fx-${++n}.key`);
          ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPem]);
          const pubPem = pki.write(`fx-${n}.pub`, ossl(['pkey', '-in', keyPem, '-pubout']));
          const cert = issue(csrDer, pubPem);
          const keyDer = ossl(['pkcs8', '-topk8', '-nocrypt', '-in', keyPem, '-outform', 'DER']);
          const b = 'fxboundary';
          const body = [
            'preamble to ignore', `--${b}`, 'Content-Type: application/pkcs7-mime; smime-type=certs-only', '', wrap(certsOnly(cert, 'DER').toString('base64'), 76, '\n').trimEnd(),
            `--${b}`, 'Content-Type: application/pkcs8', '', wrap(keyDer.toString('base64'), 76, '\n').trimEnd(), `--${b}--`, '',
          ].join('\n');
          return void res.writeHead(200, { 'Content-Type': `multipart/mixed ; boundary=${b}` }).end(body);
        }
        res.writeHead(404).end();
      } catch (e) {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String((e as Error).message));
      }
    });
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
  return {
    origin: `https://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
