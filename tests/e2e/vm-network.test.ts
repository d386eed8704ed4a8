// What owners and contributors see of the network, in Chromium: a contributor
// opts in to outbound traffic and caps its bandwidth on the Contribute page
// (both kept across a reload); the owner's My VMs shows the VM's virtual
// address, "Outbound: on via" that host, and the requests its published port
// served through the server's gateway; the contributor sees the bytes it gave.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { virtualAddressOf } from "../../core/guest/virtual-address.ts";
import { type App, Shell, startApp } from "./harness.ts";
import { contribute, createVm, openInRoom, waitForContributors } from "./remote-steps.ts";

let app: App;
const ROOM = "e2e-vm-network";

beforeAll(async () => {
  app = await startApp({ gatewayRoom: ROOM });
});

afterAll(async () => {
  await app?.close();
});

describe("the network as owners and contributors see it", () => {
  it("shows the VM's address, its host's outbound and its web counters; the contributor's bandwidth", async () => {
    const [hostCtx, ownerCtx] = [await app.browser.newContext(), await app.browser.newContext()];
    const host = await openInRoom(hostCtx, app.url, ROOM, "contribute");
    const outbound = host.getByLabel(/Let VMs I host reach the internet/);
    const cap = host.getByLabel(/Bandwidth cap for hosted VMs/);
    const given = host.locator("#contribute-bandwidth");
    await given.filter({ hasText: "no cap" }).waitFor({ timeout: 30_000 }); // the page is wired
    await outbound.check();
    await cap.fill("4096");
    await host.getByRole("button", { name: "Save limits" }).click();
    await given.filter({ hasText: "capped at 4096 KiB/s" }).waitFor(); // saved
    await host.reload();
    await expect.poll(() => outbound.isChecked(), { timeout: 10_000 }).toBe(true);
    expect(await cap.inputValue()).toBe("4096");
    await contribute(host);

    const owner = await openInRoom(ownerCtx, app.url, ROOM, "vms");
    await waitForContributors(owner, 1);
    await createVm(owner, "site", 90_000);
    const row = owner.locator("#my-vms-list tr").first();
    const vmId = (await row.getAttribute("data-vm-id")) ?? "";
    expect(await row.getAttribute("data-address")).toBe(virtualAddressOf(vmId));
    await expect.poll(() => row.getAttribute("data-outbound"), { timeout: 10_000 }).toBe("on");
    expect(await row.locator(".vm-outbound").textContent()).toMatch(/^Outbound: on via /);

    await owner.getByRole("button", { name: "Open shell site" }).click();
    const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 60_000);
    await shell.run("mkdir -p /www && echo '<h1>counted</h1>' > /www/index.html && httpd -p 80 -h /www");
    const answers = ["80", "counted"];
    owner.on("dialog", (d) => void d.accept(answers.shift()));
    await owner.getByRole("button", { name: "Publish web site" }).click();
    await owner.getByRole("link", { name: "/vm/counted:80/" }).waitFor({ timeout: 10_000 });
    const get = async () => (await fetch(`${app.url}vm/counted:80/`)).status;
    await expect.poll(get, { timeout: 60_000, interval: 500 }).toBe(200);
    for (let i = 0; i < 2; i++) expect(await get()).toBe(200);

    // The host's meter (every 3 s) carries the counters to the owner's page.
    await expect
      .poll(async () => Number(await row.getAttribute("data-web-requests")), { timeout: 20_000 })
      .toBeGreaterThanOrEqual(3);
    expect(await row.locator(".vm-traffic").textContent()).toMatch(/requests served · .* in · .* out$/);
    await expect
      .poll(async () => Number(await given.getAttribute("data-out-bytes")), { timeout: 5_000 })
      .toBeGreaterThan(3 * "<h1>counted</h1>".length);
    expect(await given.textContent()).toMatch(/capped at 4096 KiB\/s/);
    for (const c of [hostCtx, ownerCtx]) await c.close().catch(() => {});
  }, 240_000);
});
