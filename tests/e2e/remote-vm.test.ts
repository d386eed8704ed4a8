// The heart of the product, in three browser contexts: an owner and two
// contributors. The owner's VM runs on a contributor, answers through the
// remote shell, keeps a file through a checkpoint, survives its host's page
// closing by moving to the other contributor, and the reopened host does not
// run a second copy.
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, Shell, startApp } from "./harness.ts";
import { contribute, createVm, hostingCount, openInRoom, waitForContributors } from "./remote-steps.ts";

let app: App;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

const ROOM = "e2e-remote";

const open = (context: BrowserContext, page: string): Promise<Page> =>
  openInRoom(context, app.url, ROOM, page);

const vmRow = (owner: Page) => owner.getByRole("table", { name: "My VMs" }).locator("tbody tr").first();

describe("a VM in someone else's tab", () => {
  it("runs on a contributor, keeps its files through a checkpoint and moves when its host closes", async () => {
    const ownerCtx = await app.browser.newContext();
    const aCtx = await app.browser.newContext();
    const bCtx = await app.browser.newContext();
    const a = await open(aCtx, "contribute");
    const b = await open(bCtx, "contribute");
    for (const c of [a, b]) await contribute(c);
    const owner = await open(ownerCtx, "vms");
    // Both contributors are known before placing (presence travels over the mesh).
    await waitForContributors(owner, 2);

    await createVm(owner, "e2e-vm", 60_000);
    const firstHostAddress = await vmRow(owner).getAttribute("data-host");
    const [host, other, hostCtx] = (await hostingCount(a)) === 1 ? [a, b, aCtx] : [b, a, bCtx];
    expect(await hostingCount(host)).toBe(1);
    expect(await hostingCount(other)).toBe(0);

    await owner.getByRole("button", { name: "Open shell e2e-vm" }).click();
    const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 30_000);
    await shell.type("echo hello-$((6*7))");
    await shell.waitForText("hello-42");
    const latency = await owner.locator("#remote-shell-latency").textContent();
    expect(latency).toMatch(/latency \d+ ms|latency …/);

    // A file, then a checkpoint taken after it.
    await shell.run("echo kept-$((40+2)) > /root/note.txt");
    const before = await vmRow(owner).getAttribute("data-checkpoint-seq");
    await owner.waitForFunction(
      (prev) => {
        const seq = document.querySelector<HTMLElement>("#my-vms-list tr")?.dataset.checkpointSeq ?? "";
        return seq !== "" && seq !== prev;
      },
      before,
      { timeout: 45_000 },
    );

    // The host's page goes away; the VM moves to the other contributor and answers there.
    await host.close({ runBeforeUnload: true });
    await owner.waitForFunction(
      (first) => {
        const row = document.querySelector<HTMLElement>("#my-vms-list tr");
        return row?.dataset.state === "running" && row.dataset.host !== first;
      },
      firstHostAddress,
      { timeout: 60_000 },
    );
    expect(await vmRow(owner).getAttribute("data-epoch")).toBe("2");
    await other.locator('#contribute-status[data-hosting="1"]').waitFor({ timeout: 30_000 });
    await shell.waitForText("root@spare", 30_000);
    await shell.run("cat /root/note.txt");
    expect(await shell.text()).toContain("kept-42");

    // The closed host comes back (same identity, contributing again): no second copy runs.
    const reopened = await open(hostCtx, "contribute");
    await reopened.locator('#contribute-toggle[aria-pressed="true"]').waitFor({ timeout: 30_000 });
    await reopened.waitForTimeout(5000);
    expect(await hostingCount(reopened)).toBe(0);
    expect(await hostingCount(other)).toBe(1);
    await shell.run("echo still-$((1+2))");
    expect(await shell.text()).toContain("still-3");

    for (const c of [ownerCtx, aCtx, bCtx]) await c.close();
  });
});
