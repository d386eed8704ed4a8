// CPU time of processes and threads, read from /proc (Linux): what a governor
// really cost, measured from outside the browser.
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_S = 100; // USER_HZ on Linux

interface Stat {
  comm: string;
  ppid: number;
  cpuMs: number;
}

function readStat(path: string): Stat | null {
  try {
    const s = readFileSync(path, "utf8");
    const comm = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
    const fields = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return {
      comm,
      ppid: Number(fields[1]),
      cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S,
    };
  } catch {
    return null; // the process or thread ended meanwhile
  }
}

function pids(): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number);
}

/** The process whose command line contains `marker`, and all its descendants. */
export function processTree(marker: string): number[] {
  const all = pids();
  const root = all.find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
    } catch {
      return false;
    }
  });
  if (root === undefined) return [];
  const parent = new Map(all.map((pid) => [pid, readStat(`/proc/${pid}/stat`)?.ppid ?? 0]));
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++)
      if (p === root) return true;
    return false;
  };
  return all.filter(inTree);
}

export interface CpuSample {
  /** CPU ms of threads whose name matches, across the tree. */
  threadsMs: number;
  /** CPU ms of the whole renderer processes (all their threads). */
  processesMs: number;
}

/** CPU used so far by threads named like `threadName` inside processes of the tree, and by the processes holding them. */
export function sampleCpu(tree: number[], threadName: RegExp): CpuSample {
  let threadsMs = 0;
  let processesMs = 0;
  for (const pid of tree) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    const threads = tids
      .map((tid) => readStat(`/proc/${pid}/task/${tid}/stat`))
      .filter((t): t is Stat => !!t);
    const matching = threads.filter((t) => threadName.test(t.comm));
    if (matching.length === 0) continue;
    threadsMs += matching.reduce((sum, t) => sum + t.cpuMs, 0);
    processesMs += readStat(`/proc/${pid}/stat`)?.cpuMs ?? 0;
  }
  return { threadsMs, processesMs };
}

/** This process's own CPU time so far. */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}
