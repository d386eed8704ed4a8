// Issue 11's `nice` numbers, with the app as people use it (an owner and one
// contributor at its default 50 % budget, in the bench's Chromium):
//  - page_frame_p95_ms_{idle,contributing}: frame p95 of a page animating with
//    6 ms of work per frame, with no VM, then beside the busy contributed VM;
//  - backoff_ms: from pressure going critical to the VM's CPU (its threads,
//    from /proc) falling below half of what it was, pressure forced at a known
//    instant (the contributor's PressureObserver can be told what to report);
//  - browser_native_loop_ratio: the speed of one CPU-bound loop per core beside
//    the busy contributed VM over their speed alone (VM guest idle), same run,
//    with the real Compute Pressure API when it reports here (pressure_source
//    says "real"), else the stand-in told "critical" while the loops run; and
//    browser_native_loop_ratio_proc, the same from /proc (1 - the VM threads'
//    cores beside the loops / cores), since other work on a shared machine
//    moves the loops' speed between runs far more than the VM does.
import { loadavg } from "node:os";
import type { Page } from "playwright-core";
import { earnAllowance, roomUrl } from "../../tests/e2e/remote-steps.ts";
import { type BenchContext, log, median, percentile, round } from "./context.ts";
import { coresUsed, msUntilBelow, nativeLoopSpeed } from "./nice-measure.ts";
import { runIn } from "./page-shell.ts";
import { ownCpuMs } from "./proc-cpu.ts";

const ROOM = `bench-nice-${Date.now()}`;
const LOOP_MS = 8000;
const PAIRS = 2;
const CORES = 2;

/**
 * The page's PressureObserver passes the real one's records on, unless told a
 * state (`__forcePressure("critical")`; `null` gives the real one back), and
 * counts the real records (`__realRecords`: 0 when the API reports nothing here).
 */
const SWITCHABLE_PRESSURE = `(() => {
  const Real = window.PressureObserver;
  const observers = new Set();
  let forced = null;
  let real = null;
  const w = window;
  w.__realRecords = 0;
  const deliver = (o, state) => {
    o.callback([{ source: "cpu", state, time: performance.now() }], o);
  };
  class PressureObserver {
    constructor(callback) { this.callback = callback; }
    async observe(source, options) {
      observers.add(this);
      if (forced) deliver(this, forced);
      if (!Real) return;
      this.real = new Real((records) => {
        w.__realRecords += records.length;
        real = records.at(-1)?.state ?? real;
        if (!forced && real) deliver(this, real);
      });
      await this.real.observe(source, options).catch(() => {});
    }
    disconnect() { observers.delete(this); this.real?.disconnect(); }
    static get knownSources() { return ["cpu"]; }
  }
  Object.defineProperty(window, "PressureObserver", { value: PressureObserver, configurable: true });
  w.__forcePressure = (state) => {
    forced = state;
    for (const o of observers) if (state || real) deliver(o, state ?? real);
  };
})();`;

/** Frame intervals of a page doing `workMs` of work in every animation frame, for `ms`: their p95. */
async function frameP95(page: Page, ms: number, workMs = 6): Promise<number> {
  // A string, not a function: the bench runs under tsx, whose helpers a page does not have.
  const gaps = (await page.evaluate(`new Promise((resolve) => {
    const out = [];
    let last = 0;
    const end = performance.now() + ${ms};
    const frame = (t) => {
      if (last) out.push(t - last);
      last = t;
      const until = performance.now() + ${workMs};
      while (performance.now() < until) {}
      if (t < end) requestAnimationFrame(frame);
      else resolve(out);
    };
    requestAnimationFrame(frame);
  })`)) as number[];
  return percentile(gaps, 95);
}

async function waitForGovernor(page: Page, text: string, timeoutMs: number): Promise<boolean> {
  return page
    .locator("#contribute-governor")
    .filter({ hasText: text })
    .waitFor({ timeout: timeoutMs })
    .then(() => true)
    .catch(() => false);
}

export async function niceBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  const hostCtx = await ctx.browser.newContext();
  await hostCtx.addInitScript(SWITCHABLE_PRESSURE);
  const host = await hostCtx.newPage();
  await host.goto(roomUrl(ctx.url, ROOM, "contribute"));
  await host.getByRole("button", { name: "Contribute" }).click();
  const force = (state: string | null) =>
    host.evaluate(
      (s) => (window as unknown as { __forcePressure(s: string | null): void }).__forcePressure(s),
      state,
    );
  const animator = await ctx.newPage();
  await animator.setContent("<!doctype html><title>animating</title><div id=box>moving</div>");

  const idleP95 = await frameP95(animator, 5000);
  log(`frame p95 with no VM: ${round(idleP95, 1)} ms`);
  const alone = [await nativeLoopSpeed(LOOP_MS, CORES)];
  log(`loops alone (no VM): ${round(alone[0]!, 1)}/ms`);

  // While setting up, and for the frames beside it, the VM runs at its whole
  // budget whatever this shared machine's real pressure says.
  await force("nominal");
  const owner = await ctx.newPage(roomUrl("", ROOM, "vms"));
  await owner.waitForFunction(
    () => /VM slots/.test(document.querySelector("#net-peers")?.textContent ?? ""),
    null,
    {
      timeout: 30_000,
    },
  );
  await earnAllowance(owner);
  await owner.getByLabel("VM name").fill("nice");
  await owner.getByRole("button", { name: "Create VM" }).click();
  await owner.locator('#my-vms-list tr[data-state="running"]').waitFor({ timeout: 90_000 });
  await owner.getByRole("button", { name: "Open shell nice" }).click();
  await runIn(owner, "#remote-terminal", "", 1, { timeoutMs: 60_000 });
  await runIn(owner, "#remote-terminal", "while :; do :; done & true", 2, { timeoutMs: 60_000 });
  const fullAtStart = await waitForGovernor(host, "running at 100 %", 120_000);
  await host.waitForTimeout(2000);
  const baselineCores = await coresUsed(ctx.browserMarker, 3000);
  const contributingP95 = await frameP95(animator, 5000);
  log(
    `busy VM (at its whole budget: ${fullAtStart}): ${round(baselineCores, 2)} cores; frame p95 beside it ${round(contributingP95, 1)} ms`,
  );

  // Back-off: critical at a known instant, the VM's CPU from /proc.
  const forcedAt = Date.now();
  await force("critical");
  const measureFrom = Date.now();
  // Windows long enough for a few 10 ms ticks of /proc CPU time at the busy rate.
  const windowMs = Math.max(100, Math.ceil(40 / Math.max(0.01, baselineCores)));
  const dropMs = await msUntilBelow(ctx.browserMarker, baselineCores / 2, { maxMs: 10_000, windowMs });
  const backoffMs = dropMs === null ? null : dropMs + (measureFrom - forcedAt);
  log(`back-off: the VM's CPU halved ${backoffMs} ms after critical`);

  // The loops beside the busy VM, each run starting with the VM at its whole
  // budget, and the real pressure (if it reports here) left to notice them.
  const real =
    (await host.evaluate(() => (window as unknown as { __realRecords: number }).__realRecords)) > 0;
  log(`pressure source: ${real ? "the real Compute Pressure API" : "the stand-in (no real records here)"}`);
  const beside: number[] = [];
  const besideCores: number[] = [];
  const loopCores: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    await force("nominal");
    const recovered = await waitForGovernor(host, "running at 100 %", 120_000);
    await host.waitForTimeout(1000);
    await force(real ? null : "critical");
    const cores = coresUsed(ctx.browserMarker, LOOP_MS);
    const cpu0 = ownCpuMs();
    beside.push(await nativeLoopSpeed(LOOP_MS, CORES));
    loopCores.push((ownCpuMs() - cpu0) / LOOP_MS);
    besideCores.push(await cores);
    log(
      `beside the busy VM, run ${i + 1}: ${round(beside.at(-1)!, 1)}/ms (VM threads ${round(besideCores.at(-1)!, 3)}` +
        ` cores; at its whole budget at the start: ${recovered}; governor after: ${await host.locator("#contribute-governor").textContent()})`,
    );
  }
  for (const p of [owner, host]) await p.context().close();
  alone.push(await nativeLoopSpeed(LOOP_MS, CORES));
  log(`loops alone (VM gone): ${round(alone.at(-1)!, 1)}/ms`);
  await animator.context().close();
  const ratio = median(beside) / median(alone);
  const [load1] = loadavg();
  log(`native loops beside the busy VM keep ${round(ratio, 3)} of their speed`);
  return {
    nice: {
      page_frame_p95_ms_contributing: round(contributingP95, 1),
      page_frame_p95_ms_idle: round(idleP95, 1),
      backoff_ms: backoffMs,
      browser_native_loop_ratio: round(ratio, 3),
      pressure_source: real ? "real" : "stand-in",
      vm_cores_busy: round(baselineCores, 3),
      vm_cores_beside_loops: round(median(besideCores), 3),
      // What loops owning every core would keep: 1 - the VM threads' cores beside them / cores
      // (from /proc). Steadier than the speeds on this shared machine, where other work moves them.
      browser_native_loop_ratio_proc: round(1 - median(besideCores) / CORES, 3),
      loop_cores_beside: round(median(loopCores), 3),
      // Other work on this shared machine moves the loops' speed: the runs, and the load then.
      loop_speeds_alone: alone.map((v) => round(v, 2)),
      loop_speeds_beside: beside.map((v) => round(v, 2)),
      load_avg_1m: round(load1 ?? 0, 2),
    },
  };
}
