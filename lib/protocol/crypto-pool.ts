// Signature work off the event loop: a few worker threads that import CSR keys, verify and sign.
//
// Node's callback crypto still imports a peer's key and prepares each job on the main thread
// (~100 µs per P-256 CSR), and it queues the work on libuv's thread pool, where the record
// store's file writes then wait behind it. Jobs queued within one turn of the event loop go to a
// thread as one message, and come back as one.
import type { KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { signData, verifySignature, type SignatureParams } from './algorithms.js';
import { CRYPTO_THREAD_SOURCE } from './crypto-worker.js';
import { importKeyInput, PublicKeyError, type KeyInput } from './public-key.js';

/** One job as posted to a crypto thread. */
export type CryptoJob =
  | { op: 'verify'; key: KeyInput; params: SignatureParams; data: Uint8Array; signature: Uint8Array }
  | { op: 'sign'; keyId: number; params: SignatureParams; data: Uint8Array };

/** One job's answer: a verification outcome, a signature, or why signing failed. */
export type CryptoResult = { ok: boolean; keyError?: string } | { signature: Uint8Array } | { error: string };

/** One message to a crypto thread: signing keys it has not seen yet, then the jobs. */
export interface CryptoBatch {
  keys: Array<[number, KeyObject]>;
  jobs: CryptoJob[];
}

/** A signature check's outcome: `keyError` when the key itself was refused on import (e.g. an EC point off the curve). */
export interface VerifyOutcome {
  ok: boolean;
  keyError?: string;
}

interface Pending {
  job: CryptoJob;
  key?: KeyObject;
  resolve(r: CryptoResult): void;
  reject(e: Error): void;
}

interface Thread {
  worker: Worker;
  /** Posted batches not answered yet, oldest first (a thread answers in order). */
  inFlight: Pending[][];
  outstanding: number;
  keysSent: Set<number>;
}

/** Threads when the `cryptoThreads` option is not given: one per core beyond the first, 1 to 4. */
export const DEFAULT_CRYPTO_THREADS = Math.min(4, Math.max(1, availableParallelism() - 1));


class CryptoPool {
  size = DEFAULT_CRYPTO_THREADS;
  /** Jobs answered by a crypto thread so far. */
  done = 0;
  private threads: Thread[] = [];
  private queue: Pending[] = [];
  private flushScheduled = false;
  private keyIds = new WeakMap<KeyObject, number>();
  private nextKeyId = 1;

  run(job: CryptoJob, key?: KeyObject): Promise<CryptoResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, ...(key ? { key } : {}), resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  get running(): number {
    return this.threads.length;
  }

  keyId(key: KeyObject): number {
    let id = this.keyIds.get(key);
    if (id === undefined) this.keyIds.set(key, (id = this.nextKeyId++));
    return id;
  }

  private spawn(): Thread {
    // No Node options: the thread's CommonJS source needs none, an inherited `--input-type=module`
    // would run it as a module (no `require`), and an explicit list with a V8 flag such as
    // `--max-old-space-size` is refused (ERR_WORKER_INVALID_EXEC_ARGV). V8's flags apply anyway.
    const worker = new Worker(CRYPTO_THREAD_SOURCE, { eval: true, name: 'est-crypto', execArgv: [] });
    const t: Thread = { worker, inFlight: [], outstanding: 0, keysSent: new Set() };
    worker.on('message', (results: CryptoResult[]) => {
      const batch = t.inFlight.shift() ?? [];
      t.outstanding -= batch.length;
      this.done += batch.length;
      if (t.outstanding === 0) worker.unref();
      batch.forEach((p, i) => p.resolve(results[i] ?? { error: 'no answer from the crypto thread' }));
    });
    const fail = (why: string) => {
      this.threads = this.threads.filter((x) => x !== t);
      const err = new Error(`crypto thread ${why}`);
      for (const batch of t.inFlight) for (const p of batch) p.reject(err);
      t.inFlight = [];
    };
    worker.on('error', (e) => fail(`failed: ${e.message}`));
    worker.on('exit', (code) => fail(`exited (${code})`));
    // After the listeners: adding a 'message' listener refs the worker's port again. An idle
    // thread must not keep the process alive (it is ref'd only while it has jobs, in post()).
    worker.unref();
    this.threads.push(t);
    return t;
  }

  /** Sends what this turn queued: split over the threads, least busy first. */
  private flush(): void {
    this.flushScheduled = false;
    const queue = this.queue;
    this.queue = [];
    while (this.threads.length < this.size) this.spawn();
    const threads = [...this.threads].sort((a, b) => a.outstanding - b.outstanding);
    const share = Math.ceil(queue.length / threads.length);
    for (let i = 0, n = 0; i < queue.length; i += share, n++) this.post(threads[n]!, queue.slice(i, i + share));
  }

  private post(t: Thread, batch: Pending[]): void {
    const keys: Array<[number, KeyObject]> = [];
    for (const p of batch) {
      if (p.job.op !== 'sign' || t.keysSent.has(p.job.keyId)) continue;
      t.keysSent.add(p.job.keyId);
      keys.push([p.job.keyId, p.key!]);
    }
    const message: CryptoBatch = { keys, jobs: batch.map((p) => p.job) };
    try {
      t.worker.postMessage(message);
    } catch (e) {
      for (const p of batch) p.reject(e as Error);
      return;
    }
    if (t.outstanding === 0) t.worker.ref();
    t.outstanding += batch.length;
    t.inFlight.push(batch);
  }
}

const pool = new CryptoPool();

/**
 * `bytes` on an ArrayBuffer of its own. postMessage copies a view's whole ArrayBuffer, and a
 * small Buffer is a slice of an 8 KB slab (Buffer.from, the request body): copied, a job carries
 * its own few hundred bytes instead of the slab.
 */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}

function ownKey(key: KeyInput): KeyInput {
  return key.format === 'jwk' ? key : { ...key, key: own(key.key) };
}

/**
 * Sets how many crypto threads run in this process (the largest value any est() asked for wins;
 * 0 everywhere: verify and sign with Node's callback crypto on libuv's pool, as before).
 */
export function useCryptoThreads(n: number): void {
  if (!useCryptoThreads.called || n > pool.size) pool.size = n;
  useCryptoThreads.called = true;
}
useCryptoThreads.called = false;

/** Crypto threads running in this process, and the jobs they have answered. */
export function cryptoPoolStats(): { threads: number; jobs: number } {
  return { threads: pool.running, jobs: pool.done };
}

/** Imports a validated key and verifies `signature` over `data`, on a crypto thread. */
export async function verifyOffLoop(key: KeyInput, params: SignatureParams, data: Uint8Array, signature: Uint8Array): Promise<VerifyOutcome> {
  if (pool.size === 0) {
    let k: KeyObject;
    try {
      k = importKeyInput(key);
    } catch (e) {
      if (e instanceof PublicKeyError) return { ok: false, keyError: e.message };
      throw e;
    }
    return { ok: await verifySignature(params, data, k, signature) };
  }
  const r = await pool.run({ op: 'verify', key: ownKey(key), params, data: own(data), signature: own(signature) });
  return 'ok' in r ? r : { ok: false };
}

/** Signs `data` with a CA key on a crypto thread (the key is sent to each thread once). */
export async function signOffLoop(params: SignatureParams, data: Uint8Array, key: KeyObject): Promise<Uint8Array> {
  if (pool.size === 0) {
    return signData(params, data, key);
  }
  const r = await pool.run({ op: 'sign', keyId: pool.keyId(key), params, data: own(data) }, key);
  if ('signature' in r) return r.signature;
  throw new Error(`signing failed: ${'error' in r ? r.error : 'no signature'}`);
}
