// Paying with cycles, in three browser contexts: an owner with its starting
// allowance, a contributor with nothing, and a newcomer with nothing. The
// contributor's balance rises while it hosts and the owner's falls (both on the
// Credits page and its chart); the newcomer is refused, with the reason shown;
// when the owner's tabs close its receipts stop and the host pauses the VM
// (after a checkpoint), and once the owner is back the VM runs again with its
// files.
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, Shell, startApp } from "./harness.ts";
import { contribute, createVm, openInRoom, waitForContributors } from "./remote-steps.ts";

let app: App;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

const ROOM = "e2e-credits-flow";
/** The host waits 1.5 s behind before slowing an unpaid VM, and as long again before pausing it. */
const HOST_PARAMS = "paymentGraceMs=1500";

const open = (context: BrowserContext, page: string, extra = ""): Promise<Page> =>
  openInRoom(context, app.url, ROOM, page, extra);

/** The figures the Credits page shows, in milli-credits. */
async function credits(page: Page): Promise<{ balance: number; earned: number; spent: number }> {
  const milli = (text: string | null) => {
    const m = text?.match(/(−?)(\d+)\.(\d{3}) credits/);
    return m ? (m[1] ? -1 : 1) * (Number(m[2]) * 1000 + Number(m[3])) : Number.NaN;
  };
  const figures = (await page.locator("#credits-figures").textContent()) ?? "";
  return {
    balance: milli(await page.locator("#credits-balance").textContent()),
    earned: milli(figures.match(/earned ([^·]+)/)?.[1] ?? null),
    spent: milli(figures.match(/spent ([^·]+)/)?.[1] ?? null),
  };
}

const hostedRow = (host: Page) => host.locator("#contribute-hosted tr").first();
const ownerRow = (owner: Page) => owner.locator("#my-vms-list tr").first();

describe("credits", () => {
  it("move from owner to host, refuse the penniless, and pause an unpaid VM until it is paid", async () => {
    const [ownerCtx, hostCtx, newcomerCtx] = [
      await app.browser.newContext(),
      await app.browser.newContext(),
      await app.browser.newContext(),
    ];
    const host = await open(hostCtx, "contribute", HOST_PARAMS);
    await contribute(host);
    let owner = await open(ownerCtx, "vms");
    await waitForContributors(owner, 1);
    await createVm(owner, "paid-vm", 90_000);
    await owner.getByRole("button", { name: "Open shell paid-vm" }).click();
    let shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 60_000);
    // Some work for the meter: a loop of a few hundred million instructions, and a file.
    await shell.run('i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo "loop-$i"', 60_000);
    await shell.waitForText("loop-20000", 60_000);
    await shell.run("echo kept-$((6*7)) > /root/kept; sync");

    // The owner's page says what the VM has cost so far, in credits.
    await expect
      .poll(() => ownerRow(owner).textContent(), { timeout: 30_000 })
      .toMatch(/[1-9]\d*\.\d{3} credits on this host so far|0\.\d*[1-9]\d* credits on this host so far/);
    // The host earns; the owner spends the same; both pages say so, live.
    await host.evaluate(() => {
      location.hash = "#credits";
    });
    await owner.evaluate(() => {
      location.hash = "#credits";
    });
    await expect.poll(async () => (await credits(host)).earned, { timeout: 30_000 }).toBeGreaterThan(0);
    await expect
      .poll(async () => (await credits(owner)).spent, { timeout: 30_000 })
      .toBeGreaterThanOrEqual((await credits(host)).earned);
    const o = await credits(owner);
    expect(o.balance).toBe(5000 - o.spent);
    expect(o.balance).toBeLessThan(5000);
    const h = await credits(host);
    expect(h.balance).toBe(h.earned); // it had no allowance: all it has, it earned
    expect(await host.locator("#credits-chart canvas").count()).toBeGreaterThan(0);
    expect(await owner.locator("#credits-chart canvas").count()).toBeGreaterThan(0);

    // A newcomer with no credit is refused before any host is asked, and told what to do.
    const newcomer = await open(newcomerCtx, "vms");
    await newcomer.getByLabel("VM name").fill("free-ride");
    await newcomer.getByRole("button", { name: "Create VM" }).click();
    await expect
      .poll(() => ownerRow(newcomer).textContent(), { timeout: 30_000 })
      .toMatch(/no credit left: contribute to earn some, or earn the starting allowance/);
    expect(await ownerRow(newcomer).getAttribute("data-state")).toBe("waiting");

    // The owner starts more work and closes its tab: nobody signs receipts now.
    await owner.evaluate(() => {
      location.hash = "#vms";
    });
    await shell.type("i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo busy-done");
    await host.evaluate(() => {
      location.hash = "#contribute";
    });
    await owner.close();
    await expect.poll(() => hostedRow(host).getAttribute("data-payment"), { timeout: 90_000 }).toBe("paused");
    expect(await hostedRow(host).textContent()).toMatch(/Paused: the owner has not signed/);
    expect(await hostedRow(host).getAttribute("data-state")).toBe("running"); // paused, not stopped

    // The owner is back: its tab pays what the meter counted, and the VM runs again.
    owner = await open(ownerCtx, "vms");
    await expect.poll(() => hostedRow(host).getAttribute("data-payment"), { timeout: 60_000 }).toBe("paid");
    await owner.getByRole("button", { name: "Open shell paid-vm" }).click();
    shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("busy-done", 120_000);
    await shell.run("cat /root/kept");
    await shell.waitForText("kept-42");
    for (const c of [ownerCtx, hostCtx, newcomerCtx]) await c.close();
  }, 420_000);
});
