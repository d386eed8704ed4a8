// The web gateway in the browser: the owner publishes a port of its VM from My
// VMs; in another person's browser a page under /vm/<name>:<port>/ is answered
// by the service worker, which hands the request to that browser's app page,
// which carries it over the mesh to the VM's host. Until the guest has a network
// card, the host answers that it cannot reach the guest: the test checks the
// whole path up to the guest, and what an unknown address gets; the same through
// the server for anyone on the web.
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, startApp } from "./harness.ts";
import { contribute, createVm, TEST_CREDIT_PARAMS, waitForContributors } from "./remote-steps.ts";

let app: App;
const ROOM = "e2e-web";

beforeAll(async () => {
  app = await startApp({ gatewayRoom: ROOM });
});

afterAll(async () => {
  await app?.close();
});

async function open(context: BrowserContext, page: string): Promise<Page> {
  const p = await context.newPage();
  await p.goto(`${app.url}?network=${ROOM}&${TEST_CREDIT_PARAMS}#${page}`);
  return p;
}

describe("the web gateway", () => {
  it("carries a request for a published port from another browser's tab to the VM's host", async () => {
    const [ownerCtx, hostCtx, visitorCtx] = [
      await app.browser.newContext(),
      await app.browser.newContext(),
      await app.browser.newContext(),
    ];
    const host = await open(hostCtx, "contribute");
    await contribute(host);
    const owner = await open(ownerCtx, "vms");
    await waitForContributors(owner, 1);
    await createVm(owner, "site", 90_000);
    // Publish port 80 as "blog": two questions, answered as a person would.
    const answers = ["80", "blog"];
    owner.on("dialog", (d) => void d.accept(answers.shift()));
    await owner.getByRole("button", { name: "Publish web site" }).click();
    await owner.getByRole("link", { name: "/vm/blog:80/" }).waitFor({ timeout: 10_000 });

    const visitor = await open(visitorCtx, "network");
    await visitor.waitForFunction(() => navigator.serviceWorker.controller !== null, null, {
      timeout: 30_000,
    });
    await visitor.waitForFunction(
      () => (document.querySelector("#net-peers")?.textContent?.match(/VM slots/g) ?? []).length >= 1,
      null,
      { timeout: 30_000 },
    );
    const page = await visitorCtx.newPage();
    // The published record reaches the visitor through the shared state; then the host answers.
    await expect
      .poll(
        async () => {
          const res = await page.goto(`${app.url}vm/blog:80/index.html`);
          return `${res?.status()} ${(await page.textContent("body"))?.trim()}`;
        },
        { timeout: 30_000, interval: 500 },
      )
      .toMatch(/^502 this host cannot reach the guest's network/);
    const unknown = await page.goto(`${app.url}vm/nothing-here/`);
    expect(unknown?.status()).toBe(404);
    expect(await page.textContent("body")).toMatch(/nothing is published at nothing-here/);

    // Anyone on the web, through the server: it joins the room as a peer and asks the host the same way.
    await expect
      .poll(
        async () => {
          const res = await fetch(`${app.url}vm/blog:80/`);
          return `${res.status} ${(await res.text()).trim()}`;
        },
        { timeout: 60_000, interval: 1000 },
      )
      .toMatch(/^502 this host cannot reach the guest's network/);
    const missing = await fetch(`${app.url}vm/nothing-here/`);
    expect(missing.status).toBe(404);
    for (const c of [ownerCtx, hostCtx, visitorCtx]) await c.close();
  }, 240_000);
});
