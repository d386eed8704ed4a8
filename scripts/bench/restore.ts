// restore_ms: the app as a person uses it (press "New VM", type at the prompt,
// see the answer) in Chromium's worker, against raw v86 in Node restoring the
// same state; with where the worker's time went.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import type { Page } from "playwright-core";
import { parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { NodeVm } from "../lib/node-vm.ts";
import { type BenchContext, callPage, log, median, root, round } from "./context.ts";

const manifest = parseGuestManifest(JSON.parse(readFileSync(`${root}/public/guest/manifest.json`, "utf8")));
const RUNS = 3;

/** Types `command` in the page's shell; resolves with the ms from typing until `answer` shows. */
async function typeToAnswer(page: Page, command: string, answer: string): Promise<number> {
  await page.evaluate((answer: string) => {
    const w = window as unknown as Record<string, number | undefined>;
    w.answerAt = undefined;
    new MutationObserver(() => {
      if (document.querySelector("#vm-terminal .xterm-rows")?.textContent?.includes(answer))
        w.answerAt ??= performance.now();
    }).observe(document.querySelector("#vm-terminal")!, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  }, answer);
  await page.locator("#vm-terminal .xterm-helper-textarea").focus();
  await page.evaluate(() => ((window as unknown as Record<string, number>).typedAt = performance.now()));
  await page.keyboard.insertText(command);
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    () => (window as unknown as Record<string, number>).answerAt !== undefined,
    null,
    { polling: "raf" },
  );
  return page.evaluate(() => {
    const w = window as unknown as Record<string, number>;
    return w.answerAt! - w.typedAt!;
  });
}

/** Waits until the worker has kept the image's state unpacked in Cache Storage; false after 30 s. */
async function waitForKeptBase(page: Page): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const kept = await page.evaluate(async () => {
      const cache = await caches.open("spare-cycles-unpacked-states");
      for (const request of await cache.keys()) if (await cache.match(request)) return true;
      return false;
    });
    if (kept) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

const loadTimings = async (page: Page): Promise<Record<string, number>> =>
  JSON.parse((await page.locator("#local-vm").getAttribute("data-load-timings")) ?? "{}");

interface AppRun {
  /** Click "New VM" to the answer of the first command. */
  ms: number;
  readyMs: number;
  answerMs: number;
  timings: Record<string, number>;
  /** The same VM resumed by a reload, from navigation to running, and to the answer. */
  resume: { readyMs: number; answerMs: number; timings: Record<string, number> };
}

/**
 * The app as a person uses it: press "New VM", type a command at the prompt, see
 * the answer; then reload the page, which resumes the saved VM. Times are taken
 * inside the page, so Playwright's own round trips (noticing the prompt, then
 * typing) are not counted: click-to-answer is the time until the VM took input
 * plus the time from typing to the answer.
 */
async function appClickToAnswer(ctx: BenchContext): Promise<AppRun> {
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
  });
  await page.getByRole("button", { name: "New VM" }).click();
  await page.locator('#local-vm[data-state="running"]').waitFor();
  const answerMs = await typeToAnswer(page, "echo hello-$((6*7))", "hello-42");
  const t = await page.evaluate(() => {
    const w = window as unknown as Record<string, number>;
    return { clickAt: w.clickAt!, readyAt: w.readyAt! };
  });
  const readyMs = t.readyAt - t.clickAt;
  const timings = await loadTimings(page);

  await page.locator('#vm-save-state[data-saved="true"]').waitFor({ timeout: 30_000 });
  // As when a person comes back later: the image's state is kept unpacked by then (worker/base-states.ts).
  if (!(await waitForKeptBase(page))) log("  (the unpacked image state was not kept in time)");
  await page.addInitScript(() => {
    document.addEventListener("DOMContentLoaded", () => {
      const root = document.querySelector("#local-vm")!;
      new MutationObserver(() => {
        const w = window as unknown as Record<string, number>;
        if (root.getAttribute("data-state") === "running") w.readyAt ??= performance.now();
      }).observe(root, { attributes: true });
    });
  });
  await page.reload();
  await page.locator('#local-vm[data-state="running"]').waitFor();
  const resumeAnswerMs = await typeToAnswer(page, "echo back-$((6*7))", "back-42");
  // performance.now() counts from the navigation.
  const resumeReadyMs = await page.evaluate(() => (window as unknown as Record<string, number>).readyAt!);
  const resume = { readyMs: resumeReadyMs, answerMs: resumeAnswerMs, timings: await loadTimings(page) };
  await page.context().close();
  return { ms: readyMs + answerMs, readyMs, answerMs, timings, resume };
}

/** The worker without preparation: start from the image state and answer. */
async function workerUnprepared(ctx: BenchContext): Promise<number> {
  const page = await ctx.newPage("bench.html");
  await page.waitForFunction(() => document.documentElement.dataset.benchReady === "true");
  const t0 = performance.now();
  await callPage(page, "spareBench", "start", [{ cold: false, budgetPct: 100 }]);
  await callPage(page, "spareBench", "run", ["echo hello-$((6*7))"]);
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

/** The median of each timing the worker reported, over the runs. */
function medianTimings(runs: Record<string, number>[]): Record<string, number> {
  const keys = new Set(runs.flatMap((r) => Object.keys(r)));
  return Object.fromEntries([...keys].map((k) => [k, round(median(runs.map((r) => r[k] ?? 0)))] as const));
}

export async function restoreBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  log("restore: app click-to-answer (Chromium worker) vs raw v86 in Node");
  const app: number[] = [];
  const unprepared: number[] = [];
  const node: number[] = [];
  const timings: Record<string, number>[] = [];
  const ready: number[] = [];
  const answer: number[] = [];
  const resumes: AppRun["resume"][] = [];
  // Interleaved, so a noisy spell on the shared machine hits both sides.
  for (let i = 0; i < RUNS; i++) {
    const r = await appClickToAnswer(ctx);
    app.push(r.ms);
    ready.push(r.readyMs);
    answer.push(r.answerMs);
    timings.push(r.timings);
    resumes.push(r.resume);
    unprepared.push(await workerUnprepared(ctx));
    node.push(await nodeRestore());
  }
  log(
    `  worker ${app.map(Math.round)} (unprepared ${unprepared.map(Math.round)}), node ${node.map(Math.round)}`,
  );
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
      worker_load_timings_ms: medianTimings(timings),
      worker_resume: {
        reload_to_ready: round(median(resumes.map((r) => r.readyMs))),
        type_to_answer: round(median(resumes.map((r) => r.answerMs))),
        load_timings_ms: medianTimings(resumes.map((r) => r.timings)),
      },
    },
  };
}
