import { TestPki } from '../helpers/pki.js';
import { basicPki, startServer, pem } from './fixtures.js';
import { EstClient } from '../../lib/client/index.js';
const pki = new TestPki();
const { ca, server } = basicPki(pki);
const s = await startServer({ serverCert: server, clientCa: ca.cert }, { caRootCertificate: ca.cert, caPrivateKey: ca.key, caSerialNumber: ca.serial });
const other = pki.ca('p256', '/CN=Other CA');
const c = new EstClient({ url: s.origin, trustAnchors: pem(other.cert), timeout: 3000 });
setTimeout(() => console.log('still alive'), 4000);
try { await c.cacerts(); console.log('ok?'); } catch (e) { console.log('err', e); }
await c.close(); await s.close();
