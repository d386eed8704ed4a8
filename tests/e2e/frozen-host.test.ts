// A contributor's tab the browser freezes (to save memory or battery) runs
// nothing, its VMs included: they must move. Chrome freezes a tab by firing
// `freeze` and then running none of its tasks; the app hears `freeze` and says
// goodbye (web/main.ts), and an owner whose host link goes silent moves the VM
// anyway. DevTools' Page.setWebLifecycleState {state: "frozen"} does not freeze
// a page in this headless Chromium (its timers keep running: the test logs it),
// so the freeze here is the event the browser fires, then SIGSTOP on the host
// browser's renderer processes (page and workers alike stop, as when frozen).
// The shell answers on the other contributor with the file written before, and
// the thawed tab lets the VM go: never two running. A discarded tab (Chrome
// ends its renderer, no event at all) is the renderers killed: the VM moves too.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processTree } from "../../scripts/bench/proc-cpu.ts";
import { chromiumLaunchOptions } from "./browser.ts";
import { type App, PRESSURE_STAND_IN, Shell, startApp } from "./harness.ts";
import { contribute, createVm, hostingCount, openInRoom, waitForContributors } from "./remote-steps.ts";

let app: App;
let hostBrowser: Browser;
const marker = `--spare-e2e-frozen=${randomUUID()}`;

beforeAll(async () => {
  app = await startApp();
  hostBrowser = await chromium.launch(chromiumLaunchOptions([marker]));
});

afterAll(async () => {
  signalRenderers("SIGCONT");
  await hostBrowser?.close();
  await app?.close();
});

/** The host browser's renderer processes (the page, its workers' threads). */
function renderers(): number[] {
  return processTree(marker).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--type=renderer");
    } catch {
      return false;
    }
  });
}

function signalRenderers(signal: "SIGSTOP" | "SIGCONT" | "SIGKILL"): number {
  const pids = renderers();
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {}
  }
  return pids.length;
}

const row = (owner: Page) => owner.locator("#my-vms-list tr").first();

async function open(browser: Browser, room: string, page: string): Promise<Page> {
  const context = await browser.newContext();
  await context.addInitScript(PRESSURE_STAND_IN);
  return openInRoom(context, app.url, room, page);
}

/** Timer ticks a page ran in `ms` after DevTools' "frozen" state (0 if it froze). */
async function ticksWhileCdpFrozen(page: Page, ms: number): Promise<number> {
  const cdp = await page.context().newCDPSession(page);
  await page.evaluate(() => {
    const w = window as unknown as { __ticks: number };
    w.__ticks = 0;
    setInterval(() => w.__ticks++, 100);
  });
  await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
  const before = (await page.evaluate("window.__ticks")) as number;
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = (await page.evaluate("window.__ticks")) as number;
  await cdp.send("Page.setWebLifecycleState", { state: "active" });
  await cdp.detach();
  return after - before;
}

/** A VM on the host browser's tab (the only contributor then), a second contributor, a file in a checkpoint. */
async function vmWithFileInCheckpoint(room: string, name: string) {
  const host = await open(hostBrowser, room, "contribute");
  await contribute(host);
  const owner = await open(app.browser, room, "vms");
  await waitForContributors(owner, 1);
  await createVm(owner, name, 90_000);
  expect(await hostingCount(host)).toBe(1);
  const firstHost = await row(owner).getAttribute("data-host");
  const other = await open(app.browser, room, "contribute");
  await contribute(other);
  await waitForContributors(owner, 2);
  await owner.getByRole("button", { name: `Open shell ${name}` }).click();
  const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
  await shell.waitForText("root@spare:~#", 60_000);
  await shell.run("echo kept-$((6*7)) > /root/note; sync");
  const writtenAt = Date.now();
  const checkpointAt = () => host.locator("#contribute-hosted tr").first().getAttribute("data-checkpoint-at");
  await expect.poll(async () => Number(await checkpointAt()), { timeout: 60_000 }).toBeGreaterThan(writtenAt);
  return { host, owner, other, shell, firstHost };
}

/** Waits until the VM runs on another host and its shell shows the file; returns both times from `sinceMs`. */
async function movedWithFile(owner: Page, shell: Shell, firstHost: string | null, sinceMs: number) {
  await expect.poll(() => row(owner).getAttribute("data-host"), { timeout: 60_000 }).not.toBe(firstHost);
  await owner.locator('#my-vms-list tr[data-state="running"]').waitFor({ timeout: 60_000 });
  const movedMs = Date.now() - sinceMs;
  await shell.run("cat /root/note", 60_000);
  expect(await shell.text()).toContain("kept-42");
  return { movedMs, answeredMs: Date.now() - sinceMs };
}

describe("a frozen or discarded contributor", () => {
  it("frozen: loses its VM to another contributor, which answers with the files, and lets it go once thawed", async () => {
    const room = `e2e-frozen-${Date.now()}`;
    const probe = await open(app.browser, room, "");
    console.log(
      `Page.setWebLifecycleState frozen: ${await ticksWhileCdpFrozen(probe, 1000)} timer ticks of 100 ms in 1 s`,
    );
    await probe.context().close();
    const { host, owner, other, shell, firstHost } = await vmWithFileInCheckpoint(room, "frozen-vm");

    // What Chrome does to a tab it freezes: `freeze`, then none of its tasks run.
    const frozenAt = Date.now();
    await host.evaluate(() => document.dispatchEvent(new Event("freeze")));
    expect(signalRenderers("SIGSTOP")).toBeGreaterThan(0);
    const t = await movedWithFile(owner, shell, firstHost, frozenAt);
    console.log(
      `frozen host: the VM runs elsewhere after ${t.movedMs} ms, its shell answers after ${t.answeredMs} ms`,
    );
    expect(await hostingCount(other)).toBe(1);

    signalRenderers("SIGCONT");
    // The thawed tab sees the newer lease and stops its copy: never two running.
    await expect.poll(() => hostingCount(host), { timeout: 30_000 }).toBe(0);
    expect(await hostingCount(other)).toBe(1);
    await shell.run("echo still-$((50+5))");
    expect(await shell.text()).toContain("still-55");
    for (const p of [owner, other, host]) await p.context().close();
  }, 300_000);

  it("discarded: its VM moves to another contributor with the files", async () => {
    const room = `e2e-discarded-${Date.now()}`;
    const { host, owner, other, shell, firstHost } = await vmWithFileInCheckpoint(room, "discarded-vm");
    const discardedAt = Date.now();
    expect(signalRenderers("SIGKILL")).toBeGreaterThan(0);
    const t = await movedWithFile(owner, shell, firstHost, discardedAt);
    console.log(
      `discarded host: the VM runs elsewhere after ${t.movedMs} ms, its shell answers after ${t.answeredMs} ms`,
    );
    expect(await hostingCount(other)).toBe(1);
    for (const p of [owner, other]) await p.context().close();
    await host
      .context()
      .close()
      .catch(() => {});
  }, 300_000);
});
