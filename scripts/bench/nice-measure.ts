// What "nice" is measured with, from outside the browser (/proc, not the app's
// own report): the cores a browser's threads use over a window, how long after
// a moment their use drops, and the speed of CPU-bound native loops.
import { Worker } from "node:worker_threads";
import { processTree, sampleCpu } from "./proc-cpu.ts";

/** The threads of a browser that a contributed VM's emulation runs on (the VM worker, v86's helper). */
export const VM_THREADS = /^DedicatedWorker/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Cores used by matching threads of the browser carrying `marker`, over `windowMs`. */
export async function coresUsed(marker: string, windowMs: number, threads = VM_THREADS): Promise<number> {
  const tree = processTree(marker);
  const a = sampleCpu(tree, threads).threadsMs;
  const t0 = performance.now();
  await sleep(windowMs);
  const b = sampleCpu(processTree(marker), threads).threadsMs;
  return (b - a) / (performance.now() - t0);
}

/**
 * Milliseconds from now until the matching threads' use over one window of
 * `windowMs` falls below `belowCores`: the end of the first such window (so an
 * upper bound, within one window of the drop); null if none within `maxMs`.
 */
export async function msUntilBelow(
  marker: string,
  belowCores: number,
  options: { windowMs?: number; maxMs?: number; threads?: RegExp } = {},
): Promise<number | null> {
  const { windowMs = 100, maxMs = 10_000, threads = VM_THREADS } = options;
  const t0 = performance.now();
  let at = t0;
  let cpu = sampleCpu(processTree(marker), threads).threadsMs;
  while (at - t0 < maxMs) {
    await sleep(windowMs);
    const nextAt = performance.now();
    const nextCpu = sampleCpu(processTree(marker), threads).threadsMs;
    if ((nextCpu - cpu) / (nextAt - at) < belowCores) return Math.round(nextAt - t0);
    at = nextAt;
    cpu = nextCpu;
  }
  return null;
}

/**
 * Runs one CPU-bound loop per core in worker threads of this (Node) process for
 * `durationMs`; returns iterations per ms, all loops together.
 */
export async function nativeLoopSpeed(durationMs: number, cores: number): Promise<number> {
  const source = `
    const { parentPort, workerData } = require("node:worker_threads");
    const end = Date.now() + workerData.durationMs;
    let n = 0, x = 0;
    while (Date.now() < end) { for (let i = 0; i < 100000; i++) x = (x * 1103515245 + 12345) | 0; n++; }
    parentPort.postMessage({ n, x });
  `;
  const t0 = performance.now();
  const counts = await Promise.all(
    Array.from(
      { length: cores },
      () =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(source, { eval: true, workerData: { durationMs } });
          w.once("message", (m: { n: number }) => {
            resolve(m.n);
            void w.terminate();
          });
          w.once("error", reject);
        }),
    ),
  );
  return counts.reduce((a, b) => a + b, 0) / (performance.now() - t0);
}
