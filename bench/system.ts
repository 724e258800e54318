// Machine facts for the benchmark: CPU, versions, `openssl speed` ceilings, peak RSS of server processes.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  openssl: string;
  nginx: string | null;
}

function tryRun(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return (r.stdout + r.stderr).trim();
}

export function machine(nginxPath: string | undefined): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    openssl: tryRun('openssl', ['version']) ?? 'unknown',
    nginx: nginxPath ? (tryRun(nginxPath, ['-v'])?.replace(/^nginx version: /, '') ?? null) : null,
  };
}

/** Signatures per second on one core, as `openssl speed` reports them. */
export interface SpeedRow {
  sign: number;
  verify: number;
}

/**
 * Runs `openssl speed -seconds <s> ecdsap256 rsa2048` (one core) and parses the summary lines:
 * `rsa 2048 bits 0.000302s 0.000018s 3308.9 54070.1` and
 * `256 bits ecdsa (nistp256) 0.0000s 0.0001s 50941.0 16417.0`.
 */
export function opensslSpeed(seconds: number): { p256: SpeedRow; rsa2048: SpeedRow; raw: string } {
  const out = execFileSync('openssl', ['speed', '-seconds', String(seconds), 'ecdsap256', 'rsa2048'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const rsa = /^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m.exec(out);
  const ec = /^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m.exec(out);
  if (!rsa || !ec) throw new Error(`cannot parse openssl speed output:\n${out}`);
  return {
    rsa2048: { sign: Number(rsa[1]), verify: Number(rsa[2]) },
    p256: { sign: Number(ec[1]), verify: Number(ec[2]) },
    raw: out.split('\n').filter((l) => /^(rsa|\s*256 bits ecdsa|\s+sign)/.test(l)).join('\n'),
  };
}

/**
 * A /proc `stat` file: the command name and the fields after it (`comm` may hold spaces, so the
 * fields start after the last ')'; fields[1] is the ppid, [11] and [12] utime and stime).
 */
function procStat(path: string): { name: string; fields: string[] } | undefined {
  try {
    const st = readFileSync(path, 'latin1');
    return { name: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')), fields: st.slice(st.lastIndexOf(')') + 2).split(' ') };
  } catch {
    return undefined; // gone, or not Linux
  }
}

const USER_HZ = 100;

/** CPU seconds (user + system) of a /proc stat's fields. */
function cpuOf(fields: string[]): number {
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** Child processes of `pid` (from /proc; Linux only, empty elsewhere). */
export function childPids(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((e) => /^\d+$/.test(e) && Number(procStat(`/proc/${e}/stat`)?.fields[1]) === pid).map(Number);
}

/** CPU seconds used so far by each thread of process `pid` (Linux only, empty elsewhere). */
export function threadCpuSeconds(pid: number): Array<{ tid: number; name: string; seconds: number }> {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tids.flatMap((tid) => {
    const st = procStat(`/proc/${pid}/task/${tid}/stat`);
    return st ? [{ tid: Number(tid), name: st.name, seconds: cpuOf(st.fields) }] : [];
  });
}

/** Resets the kernel's peak-RSS counter (VmHWM) of each process (`echo 5 > clear_refs`). */
export function resetPeakRss(pids: number[]): void {
  for (const p of pids) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      /* not Linux, or not ours */
    }
  }
}

/** Peak RSS in MB (VmHWM) of each process since its last reset; NaN when unknown. */
export function peakRssMb(pids: number[]): number[] {
  return pids.map((p) => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'latin1'));
      return m ? Number(m[1]) / 1024 : NaN;
    } catch {
      return NaN;
    }
  });
}

/** CPU seconds (user + system) used so far by these processes together. */
export function cpuSeconds(pids: number[]): number {
  let sum = 0;
  for (const p of pids) {
    const st = procStat(`/proc/${p}/stat`);
    if (st) sum += cpuOf(st.fields);
  }
  return sum;
}

/** Busy and total jiffies of the whole machine (/proc/stat), to compute overall CPU use. */
export function machineCpu(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (line[3] ?? 0) + (line[4] ?? 0);
    const total = line.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}
