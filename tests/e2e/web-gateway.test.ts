// A VM serves the web, in four browser contexts and from Node: the owner's VM
// runs busybox httpd on port 80 and the owner publishes it from My VMs; in a
// visitor's browser /vm/<name>:80/ is answered by the service worker through
// that browser's app page and the mesh, and anyone's `fetch` gets the same page
// through the server. The host's page goes away: the address serves again from
// the other contributor. An unknown address is a 404.
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, Shell, startApp } from "./harness.ts";
import { contribute, createVm, hostingCount, openInRoom, waitForContributors } from "./remote-steps.ts";

let app: App;
const ROOM = "e2e-web";
const PAGE = "<h1>hello-web-42</h1>";

beforeAll(async () => {
  app = await startApp({ gatewayRoom: ROOM });
});

afterAll(async () => {
  await app?.close();
});

const open = (context: BrowserContext, page: string): Promise<Page> =>
  openInRoom(context, app.url, ROOM, page);

/** Status and body of a page under /vm/, as a tab of `visitor` gets it. */
async function inBrowser(visitor: Page, path: string): Promise<string> {
  const res = await visitor.goto(`${app.url}${path}`);
  return `${res?.status()} ${(await visitor.textContent("body"))?.trim()}`;
}

async function throughServer(path: string): Promise<string> {
  const res = await fetch(`${app.url}${path}`);
  return `${res.status} ${(await res.text()).trim()}`;
}

describe("web hosting", () => {
  it("serves a VM's page at a stable address, in any browser and through the server, across a move", async () => {
    const [ownerCtx, aCtx, bCtx, visitorCtx] = [
      await app.browser.newContext(),
      await app.browser.newContext(),
      await app.browser.newContext(),
      await app.browser.newContext(),
    ];
    const a = await open(aCtx, "contribute");
    const b = await open(bCtx, "contribute");
    for (const c of [a, b]) await contribute(c);
    const owner = await open(ownerCtx, "vms");
    await waitForContributors(owner, 2);
    await createVm(owner, "site", 90_000);
    await owner.getByRole("button", { name: "Open shell site" }).click();
    const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 60_000);
    await shell.run(`mkdir -p /www && echo '${PAGE}' > /www/index.html && httpd -p 80 -h /www && sync`);
    // Publish port 80 as "blog": two questions, answered as a person would.
    const answers = ["80", "blog"];
    owner.on("dialog", (d) => void d.accept(answers.shift()));
    await owner.getByRole("button", { name: "Publish web site" }).click();
    await owner.getByRole("link", { name: "/vm/blog:80/" }).waitFor({ timeout: 10_000 });

    const visitorApp = await open(visitorCtx, "network");
    await visitorApp.waitForFunction(() => navigator.serviceWorker.controller !== null, null, {
      timeout: 30_000,
    });
    const visitor = await visitorCtx.newPage();
    // The published record reaches the visitor through the shared state; then the host answers.
    const ok = `200 ${PAGE.replace(/<[^>]+>/g, "")}`; // as the browser shows it
    const raw = `200 ${PAGE}`; // as fetch reads it
    await expect.poll(() => inBrowser(visitor, "vm/blog:80/"), { timeout: 60_000, interval: 500 }).toBe(ok);
    await expect.poll(() => throughServer("vm/blog:80/"), { timeout: 60_000, interval: 1000 }).toBe(raw);
    expect(await throughServer("vm/nothing-here/")).toMatch(/^404 nothing is published at nothing-here/);

    // The host's page goes away: the VM moves to the other contributor, and the address follows it.
    const [host, hostCtx] = (await hostingCount(a)) === 1 ? [a, aCtx] : [b, bCtx];
    await host.close();
    await hostCtx.close();
    await expect.poll(() => throughServer("vm/blog:80/"), { timeout: 60_000, interval: 500 }).toBe(raw);
    await expect
      .poll(() => inBrowser(visitor, "vm/blog:80/index.html"), { timeout: 30_000, interval: 500 })
      .toBe(ok);
    for (const c of [ownerCtx, aCtx, bCtx, visitorCtx]) await c.close().catch(() => {});
  }, 300_000);
});
