// Issue 2's numbers: restore (restore.ts) and cold boot in Chromium's worker vs
// raw v86 in Node, the governor's real CPU share, and guest throughput in the
// worker vs Node.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import type { Page } from "playwright-core";
import { parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { NodeVm } from "../lib/node-vm.ts";
import { type BenchContext, callPage, log, median, root, round } from "./context.ts";
import { processTree, sampleCpu } from "./proc-cpu.ts";
import { restoreBench } from "./restore.ts";

const manifest = parseGuestManifest(JSON.parse(readFileSync(`${root}/public/guest/manifest.json`, "utf8")));
const guestFile = (path: string) => new Uint8Array(readFileSync(`${root}/public/guest/${path}`));
const BUSY_LOOP = "while :; do :; done &\r";

interface BenchApi {
  start(o: { cold: boolean; budgetPct: number }): Promise<unknown>;
  run(command: string): Promise<number>;
  send(text: string): Promise<void>;
  setBudget(pct: number): Promise<void>;
  stats(): Promise<{ instructions: number; usedPct: number }>;
  destroy(): Promise<void>;
}

/** Calls the bench page's API (web/bench.ts). */
function api<K extends keyof BenchApi>(page: Page, method: K, ...args: Parameters<BenchApi[K]>) {
  return callPage<Awaited<ReturnType<BenchApi[K]>>>(page, "spareBench", method, args);
}

async function benchPage(ctx: BenchContext): Promise<Page> {
  const page = await ctx.newPage("bench.html");
  await page.waitForFunction(() => document.documentElement.dataset.benchReady === "true");
  return page;
}

async function workerColdBoot(ctx: BenchContext): Promise<number> {
  const page = await benchPage(ctx);
  const t0 = performance.now();
  await api(page, "start", { cold: true, budgetPct: 100 });
  await api(page, "run", "echo hello-$((6*7))");
  const ms = performance.now() - t0;
  await page.context().close();
  return ms;
}

async function nodeColdBoot(): Promise<number> {
  const t0 = performance.now();
  const f = manifest.files;
  const vm = await NodeVm.start({
    memorySizeBytes: manifest.memorySizeBytes,
    cold: {
      bios: guestFile(f.bios.path),
      vgaBios: guestFile(f.vgaBios.path),
      bzimage: guestFile(f.bzimage.path),
      initrd: guestFile(f.initrd.path),
      cmdline: manifest.cmdline,
    },
  });
  await vm.tail.waitFor("# ");
  await vm.run("echo hello-$((6*7))", 120_000);
  const ms = performance.now() - t0;
  await vm.destroy();
  return ms;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A busy guest in the worker at `budgetPct`: CPU share from /proc and guest instructions per second. */
async function workerBusy(ctx: BenchContext, budgetPct: number, settleMs: number, measureMs: number) {
  const page = await benchPage(ctx);
  await api(page, "start", { cold: false, budgetPct });
  await api(page, "send", BUSY_LOOP);
  await sleep(settleMs);
  const tree = processTree(ctx.browserMarker);
  const cpu0 = sampleCpu(tree, /^DedicatedWorker/);
  const ins0 = (await api(page, "stats")).instructions;
  const t0 = performance.now();
  await sleep(measureMs);
  const cpu1 = sampleCpu(tree, /^DedicatedWorker/);
  const stats = await api(page, "stats");
  const wallMs = performance.now() - t0;
  await api(page, "destroy");
  await page.context().close();
  return {
    measuredPct: ((cpu1.threadsMs - cpu0.threadsMs) / wallMs) * 100,
    processPct: ((cpu1.processesMs - cpu0.processesMs) / wallMs) * 100,
    reportedPct: stats.usedPct,
    instructionsPerS: ((stats.instructions - ins0) / wallMs) * 1000,
  };
}

async function nodeBusy(settleMs: number, measureMs: number): Promise<number> {
  const state = gunzipSync(readFileSync(`${root}/public/guest/${manifest.files.state.path}`));
  const vm = await NodeVm.start({
    memorySizeBytes: manifest.memorySizeBytes,
    state: state.buffer as ArrayBuffer,
  });
  await sleep(0);
  vm.send(BUSY_LOOP);
  await sleep(settleMs);
  // The counter is 32-bit and wraps every few seconds: add up deltas sampled often.
  let total = 0;
  let last = vm.instructions() >>> 0;
  const t0 = performance.now();
  while (performance.now() - t0 < measureMs) {
    await sleep(250);
    const now = vm.instructions() >>> 0;
    total += (now - last + 2 ** 32) % 2 ** 32;
    last = now;
  }
  const wallMs = performance.now() - t0;
  await vm.destroy();
  return (total / wallMs) * 1000;
}

export async function foundationBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  const restore = await restoreBench(ctx);

  log("cold boot: worker vs Node");
  const coldWorker = await workerColdBoot(ctx);
  const coldNode = await nodeColdBoot();
  log(`  worker ${Math.round(coldWorker)}, node ${Math.round(coldNode)}`);

  log("governor: busy guest at 25/50/100% budgets, CPU from /proc");
  const governor = [];
  const workerIpsRuns: number[] = [];
  for (const budget of [25, 50, 100]) {
    const r = await workerBusy(ctx, budget, 5000, 6000);
    if (budget === 100) workerIpsRuns.push(r.instructionsPerS);
    governor.push({
      budget_pct: budget,
      measured_pct: round(r.measuredPct, 1),
      reported_pct: round(r.reportedPct, 1),
      renderer_process_pct: round(r.processPct, 1),
    });
    log(`  ${JSON.stringify(governor.at(-1))}`);
  }
  log("throughput: guest instructions per second, worker at 100% vs Node (interleaved)");
  const nodeIpsRuns = [await nodeBusy(5000, 6000)];
  workerIpsRuns.push((await workerBusy(ctx, 100, 5000, 6000)).instructionsPerS);
  nodeIpsRuns.push(await nodeBusy(5000, 6000));
  const workerIps = median(workerIpsRuns);
  const nodeIps = median(nodeIpsRuns);
  log(`  worker ${round(workerIps / 1e6, 1)} MIPS, node ${round(nodeIps / 1e6, 1)} MIPS`);

  return {
    ...restore,
    cold_boot_ms: {
      worker: round(coldWorker),
      node: round(coldNode),
      ratio: round(coldWorker / coldNode, 2),
    },
    governor,
    throughput_ratio: round(workerIps / nodeIps, 2),
    throughput_mips: { worker: round(workerIps / 1e6, 1), node: round(nodeIps / 1e6, 1) },
  };
}
