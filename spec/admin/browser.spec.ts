// The admin pages in real headless Chromium (Debian's chromium, driven by puppeteer-core): a person
// logs in, approves, denies and revokes; clients using curl and openssl see the outcome.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { b64lines } from '../helpers/http.js';
import { openssl, pkcs7Certs, verifyCert } from '../helpers/pki.js';
import { ADMIN_PASSWORD, ADMIN_USER, run, startApprovalStack, type ApprovalStack } from '../approve/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not installed (apt-get install chromium)`;
if (missing && process.env.CI === 'true') throw new Error(`CI: ${missing}`);

let stack: ApprovalStack;
let browser: Browser;
let page: Page;
let profile: string;

before(async () => {
  if (missing) return;
  stack = await startApprovalStack();
  profile = mkdtempSync(join(tmpdir(), 'est-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  // The page's own login: HTTP Basic against the scrypt hash of this password.
  await page.authenticate({ username: ADMIN_USER, password: ADMIN_PASSWORD });
});
after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await stack?.close();
});

/** A CSR made by `openssl req`, base64 in a file as a device would send it. */
function opensslCsr(subject: string): { b64: string; key: string } {
  const c = stack.pki.csr({ subject, exts: ['subjectAltName=DNS:device.example'] });
  return { b64: stack.pki.write(`csr-${Math.random().toString(36).slice(2)}.b64`, b64lines(c.der)), key: c.key };
}

/** POSTs with curl, as a device would; returns status, headers and body. */
async function curl(op: string, b64File: string, auth: string[] = ['-u', 'estuser:estpass']): Promise<{ status: number; headers: string; body: string }> {
  const r = await run('curl', ['-sS', '-i', '--cacert', stack.ca.cert, ...auth, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${b64File}`, `${stack.estUrl}/${op}`]);
  const text = r.stdout.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const headers = text.slice(0, split);
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(headers)![1]), headers, body: text.slice(split + 4) };
}

async function rowId(subject: string): Promise<string> {
  const id = await page.$$eval('tr[data-id]', (rows, s) => rows.find((r) => (r.textContent ?? '').includes(s as string))?.getAttribute('data-id'), subject);
  assert.ok(id, `no row for ${subject}`);
  return id;
}

test('log in, see the openssl request, approve it; the retry gets a certificate that openssl verifies', { skip: missing }, async () => {
  const subject = '/CN=sensor-<img src=x onerror=alert(1)>/O=Acme Plant';
  const csr = opensslCsr(subject);
  const first = await curl('simpleenroll', csr.b64);
  assert.equal(first.status, 202);
  assert.match(first.headers, /\r\nretry-after: 1\r\n/i);
  assert.match(first.body, /^pending approval \(request [^)]+\); retry in 1 s\n?$/);
  assert.equal((await curl('simpleenroll', csr.b64)).status, 202, 'still pending');

  const res = await page.goto(`${stack.adminUrl}/pending`);
  assert.equal(res!.status(), 200);
  assert.match(await page.$eval('header .who', (e) => e.textContent ?? ''), /signed in as alice/);
  const id = await rowId('sensor-');
  // The hostile subject is shown as text, never as markup.
  assert.equal(await page.$$eval('main img', (els) => els.length), 0);
  const cells = await page.$$eval(`tr[data-id="${id}"] td`, (tds) => tds.map((td) => td.textContent ?? ''));
  assert.match(cells[0]!, /CN=sensor-\\<img src=x onerror=alert\(1\)\\>, O=Acme Plant/);
  assert.match(cells[1]!, /DNS:device\.example/);
  assert.match(cells[2]!, /EC P-256/);
  assert.match(cells[3]!, /auth-request, user estuser/);
  assert.match(cells[4]!, /127\.0\.0\.1/);
  await page.type(`tr[data-id="${id}"] input[name=reason]`, 'known plant sensor');
  await Promise.all([page.waitForNavigation(), page.click(`tr[data-id="${id}"] button.approve`)]);
  assert.match(await page.$eval('.notice', (e) => e.textContent ?? ''), /Request from CN=sensor-\\<img src=x onerror=alert\(1\)\\>, O=Acme Plant approved/);
  const decided = await stack.store.pendingById(id);
  assert.equal(decided!.decidedBy, 'alice');
  assert.equal(decided!.reason, 'known plant sensor');

  const ok = await curl('simpleenroll', csr.b64);
  assert.equal(ok.status, 200, ok.body);
  const pem = pkcs7Certs(ok.body);
  assert.match(verifyCert(stack.ca.cert, pem, stack.pki.dir), /: OK/);
  const again = await curl('simpleenroll', csr.b64);
  assert.equal(again.status, 200);
  assert.equal(pkcs7Certs(again.body), pem, 'a repeat after issuance returns the same certificate');
  const serial = openssl(['x509', '-noout', '-serial'], pem).toString().trim().split('=')[1]!;
  assert.equal((await stack.store.pendingById(id))!.state, 'issued');
  assert.equal((await stack.store.pendingById(id))!.serial, serial);

  // Revoke it from the issued list; re-enrolling with it is then refused.
  const certFile = stack.pki.write('approved.pem', pem);
  await page.goto(`${stack.adminUrl}/certificates?q=${serial}`);
  assert.equal(await page.$$eval('tr[data-serial]', (r) => r.length), 1);
  await page.select(`tr[data-serial="${serial}"] select[name=reason]`, 'keyCompromise');
  await Promise.all([page.waitForNavigation(), page.click(`tr[data-serial="${serial}"] button.revoke`)]);
  assert.match(await page.$eval('.notice', (e) => e.textContent ?? ''), new RegExp(`Certificate ${serial} revoked`));
  const rec = await stack.store.get(serial);
  assert.equal(rec!.status, 'revoked');
  assert.equal(rec!.revokedBy, 'alice');
  const renew = opensslCsr(subject);
  const re = await curl('simplereenroll', renew.b64, ['--cert', certFile, '--key', csr.key]);
  assert.equal(re.status, 403, re.body);
  assert.match(re.body, /revoked/);
});

test('deny in the page: the retry gets 403 with the reason', { skip: missing }, async () => {
  const csr = opensslCsr('/CN=rogue-device/O=Unknown');
  assert.equal((await curl('simpleenroll', csr.b64)).status, 202);
  await page.goto(`${stack.adminUrl}/pending`);
  const id = await rowId('rogue-device');
  await page.type(`tr[data-id="${id}"] input[name=reason]`, 'not one of ours');
  await Promise.all([page.waitForNavigation(), page.click(`tr[data-id="${id}"] button.deny`)]);
  assert.match(await page.$eval('.notice', (e) => e.textContent ?? ''), /denied/);
  const r = await curl('simpleenroll', csr.b64);
  assert.equal(r.status, 403);
  assert.equal(r.body, 'request denied: not one of ours\n');

  // Deciding the same request again from a stale page: a clear message, nothing changed.
  await page.goto(`${stack.adminUrl}/pending`);
  const other = opensslCsr('/CN=second-look/O=Unknown');
  assert.equal((await curl('simpleenroll', other.b64)).status, 202);
  await page.goto(`${stack.adminUrl}/pending`);
  const id2 = await rowId('second-look');
  await stack.store.decide(id2, { state: 'denied', by: 'bob', reason: 'faster' });
  await Promise.all([page.waitForNavigation(), page.click(`tr[data-id="${id2}"] button.approve`)]);
  assert.match(await page.$eval('.error', (e) => e.textContent ?? ''), /already denied by bob/);
  assert.equal((await stack.store.pendingById(id2))!.state, 'denied');
});

test('the pages look decent (screenshot)', { skip: missing }, async () => {
  for (const s of ['gateway-01', 'camera-7f', 'meter-2291']) assert.equal((await curl('simpleenroll', opensslCsr(`/CN=${s}/O=Acme Plant`).b64)).status, 202);
  await page.goto(`${stack.adminUrl}/pending`);
  const file = process.env.EST_ADMIN_SCREENSHOT ?? join(stack.pki.dir, 'admin.png');
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(statSync(file).size > 10_000);
  // The stylesheet applied (served behind the same login), and nothing was left to JavaScript.
  assert.equal(await page.$eval('header', (e) => (globalThis as unknown as { getComputedStyle(x: unknown): { display: string } }).getComputedStyle(e).display), 'flex');
  assert.equal(await page.$$eval('script', (s) => s.length), 0);
  assert.deepEqual(readFileSync(file).subarray(1, 4).toString(), 'PNG');
  // The issued list (with the certificate approved and revoked above) and one certificate.
  await page.goto(`${stack.adminUrl}/certificates`);
  await page.screenshot({ path: file.replace(/\.png$/, '-certificates.png'), fullPage: true });
  const first = await page.$eval('tr[data-serial] a', (a) => a.getAttribute('href'));
  await page.goto(`${stack.adminUrl.replace(/\/est-admin$/, '')}${first}`);
  assert.match(await page.$eval('h1', (e) => e.textContent ?? ''), /^Certificate [0-9A-F]+$/);
  await page.screenshot({ path: file.replace(/\.png$/, '-certificate.png'), fullPage: true });
});
