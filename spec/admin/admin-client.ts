// Acts on the admin pages over HTTP as a person with a browser would (list → form → POST), for specs.
import assert from 'node:assert/strict';
import { fetchRaw } from '../helpers/http.js';

/** Finds the pending request whose subject contains `subject` on the first list page and decides it. */
export async function decideOnPage(base: string, authorization: string, subject: string, decision: 'approve' | 'deny', reason = '', ca?: string): Promise<string> {
  const list = await fetchRaw(`${base}/pending`, { headers: { Authorization: authorization }, ...(ca ? { ca } : {}) });
  assert.equal(list.status, 200, list.text);
  const page = list.body.toString('utf8');
  const rows = page.split('<tr data-id="').slice(1);
  const row = rows.find((r) => r.includes(subject));
  assert.ok(row, `no pending request for ${subject} on the page`);
  const id = row.slice(0, row.indexOf('"'));
  const csrf = /name="csrf" value="([^"]+)"/.exec(row)![1]!;
  const r = await fetchRaw(`${base}/pending/${id}/decision`, {
    method: 'POST',
    headers: { Authorization: authorization, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, decision, reason }).toString(),
    ...(ca ? { ca } : {}),
  });
  assert.equal(r.status, 303, r.text);
  return id;
}
