// Issue 2's numbers: restore and cold boot in Chromium's worker vs raw v86 in
// Node, the governor's real CPU share, and guest throughput in the worker vs Node.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import type { Page } from "playwright-core";
import { parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { NodeVm } from "../lib/node-vm.ts";
import { type BenchContext, callPage, log, median, root, round } from "./context.ts";
import { processTree, sampleCpu } from "./proc-cpu.ts";

const manifest = parseGuestManifest(JSON.parse(readFileSync(`${root}/public/guest/manifest.json`, "utf8")));
const guestFile = (path: string) => new Uint8Array(readFileSync(`${root}/public/guest/${path}`));
const BUSY_LOOP = "while :; do :; done &\r";
const RUNS = 3;

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

/**
 * The app as a person uses it: press "New VM", type a command at the prompt, see
 * the answer. Times are taken inside the page, so Playwright's own round trips
 * (noticing the prompt, then typing) are not counted: click-to-answer is the
 * time until the VM took input plus the time from typing to the answer.
 */
async function appClickToAnswer(
  ctx: BenchContext,
): Promise<{ ms: number; readyMs: number; answerMs: number; timings: unknown }> {
  const page = await ctx.newPage();
  // Full speed for the measurement (the app's default budget is 50%).
  await page.locator("#vm-budget").fill("100");
  await page.locator('#local-vm[data-prepared="true"]').waitFor({ timeout: 60_000 });
  await page.evaluate(() => {
    const w = window as unknown as Record<string, number>;
    const root = document.querySelector("#local-vm")!;
    document
      .querySelector("#vm-new")!
      .addEventListener("click", () => (w.clickAt = performance.now()), { capture: true });
    new MutationObserver(() => {
      if (root.getAttribute("data-state") === "running") w.readyAt ??= performance.now();
    }).observe(root, { attributes: true });
    new MutationObserver(() => {
      if (document.querySelector("#vm-terminal .xterm-rows")?.textContent?.includes("hello-42"))
        w.answerAt ??= performance.now();
    }).observe(document.querySelector("#vm-terminal")!, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  await page.getByRole("button", { name: "New VM" }).click();
  await page.locator('#local-vm[data-state="running"]').waitFor();
  await page.locator("#vm-terminal .xterm-helper-textarea").focus();
  await page.evaluate(() => ((window as unknown as Record<string, number>).typedAt = performance.now()));
  await page.keyboard.insertText("echo hello-$((6*7))");
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    () => (window as unknown as Record<string, number>).answerAt !== undefined,
    null,
    {
      polling: "raf",
    },
  );
  const t = await page.evaluate(() => {
    const w = window as unknown as Record<string, number>;
    return { clickAt: w.clickAt, readyAt: w.readyAt, typedAt: w.typedAt, answerAt: w.answerAt };
  });
  const readyMs = t.readyAt! - t.clickAt!;
  const answerMs = t.answerAt! - t.typedAt!;
  const timings = JSON.parse((await page.locator("#local-vm").getAttribute("data-load-timings")) ?? "{}");
  await page.context().close();
  return { ms: readyMs + answerMs, readyMs, answerMs, timings };
}

/** The worker without preparation: start from the image state and answer. */
async function workerUnprepared(ctx: BenchContext): Promise<number> {
  const page = await benchPage(ctx);
  const t0 = performance.now();
  await api(page, "start", { cold: false, budgetPct: 100 });
  await api(page, "run", "echo hello-$((6*7))");
  const ms = performance.now() - t0;
  await page.context().close();
  return ms;
}

async function nodeRestore(): Promise<number> {
  const t0 = performance.now();
  const state = gunzipSync(readFileSync(`${root}/public/guest/${manifest.files.state.path}`));
  const vm = await NodeVm.start({
    memorySizeBytes: manifest.memorySizeBytes,
    state: state.buffer as ArrayBuffer,
  });
  await new Promise((r) => setTimeout(r, 0));
  await vm.run("echo hello-$((6*7))");
  const ms = performance.now() - t0;
  await vm.destroy();
  return ms;
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
  log("restore: app click-to-answer (Chromium worker) vs raw v86 in Node");
  const app: number[] = [];
  const unprepared: number[] = [];
  const node: number[] = [];
  let timings: unknown = null;
  const ready: number[] = [];
  const answer: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await appClickToAnswer(ctx);
    app.push(r.ms);
    ready.push(r.readyMs);
    answer.push(r.answerMs);
    timings = r.timings;
    unprepared.push(await workerUnprepared(ctx));
    node.push(await nodeRestore());
  }
  log(
    `  worker ${app.map(Math.round)} (unprepared ${unprepared.map(Math.round)}), node ${node.map(Math.round)}`,
  );

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

  const restoreWorker = median(app);
  const restoreNode = median(node);
  return {
    restore_ms: {
      worker: round(restoreWorker),
      node: round(restoreNode),
      ratio: round(restoreWorker / restoreNode, 2),
      worker_click_to_ready: round(median(ready)),
      worker_type_to_answer: round(median(answer)),
      worker_unprepared: round(median(unprepared)),
      worker_load_timings_ms: timings,
    },
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
