// Several tabs (browser contexts) are several peers: they meet through the real
// signaling server, link over WebRTC, share the document, and survive the
// server going away; a Node peer (node-datachannel) joins them.
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity } from "../../core/crypto/identity.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { type NodePeer, startNodePeer } from "../../transports/node-peer.ts";
import { type App, distDir, startApp } from "./harness.ts";

let app: App;
const pages: Page[] = [];

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

async function openPeer(name?: string): Promise<Page> {
  const context = await app.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app.url}?network=e2e#network`);
  if (name) {
    await page.getByLabel("Your name").fill(name);
    await page.getByRole("button", { name: "Save name" }).click();
  }
  pages.push(page);
  return page;
}

const peerRows = (page: Page) => page.getByRole("table", { name: "Peers" }).locator("tbody tr");

async function waitForPeerCount(page: Page, count: number, timeoutMs = 30_000): Promise<void> {
  await page.locator(`#net-peer-count[data-count="${count}"]`).waitFor({ timeout: timeoutMs });
}

async function waitForName(page: Page, name: string, timeoutMs = 30_000): Promise<void> {
  await peerRows(page)
    .filter({ has: page.getByRole("rowheader", { name, exact: true }) })
    .waitFor({ timeout: timeoutMs });
}

async function waitForStatus(page: Page, state: string, timeoutMs = 30_000): Promise<void> {
  await page.locator(`#net-status[data-state="${state}"]`).waitFor({ timeout: timeoutMs });
}

describe("peers in a network", () => {
  it("three tabs list each other, link directly and share edits", async () => {
    const [a, b, c] = [await openPeer("Alice"), await openPeer("Bob"), await openPeer()];
    for (const page of [a, b, c]) {
      await waitForPeerCount(page, 2);
      await waitForStatus(page, "joined");
    }
    await waitForName(c!, "Alice");
    await waitForName(c!, "Bob");
    await waitForName(a!, "Bob");
    // Links are direct WebRTC links.
    await peerRows(c!).filter({ hasText: "direct" }).nth(1).waitFor({ timeout: 30_000 });
    // An edit in one tab appears in the others.
    await c!.getByLabel("Your name").fill("Carol");
    await c!.getByRole("button", { name: "Save name" }).click();
    await waitForName(a!, "Carol");
    await waitForName(b!, "Carol");
  });

  it("shows what it refused from peers: none forged or over quota in an honest network", async () => {
    const [a] = pages;
    const section = a!.getByRole("region", { name: "Refused input" });
    await section.waitFor();
    const summary = section.locator("#net-refused-summary");
    await summary.filter({ hasText: /^Refused from peers: \d+ forged or malformed/ }).waitFor();
    expect(await summary.textContent()).toMatch(
      /^Refused from peers: 0 forged or malformed, 0 over quota, \d+ old replays or repeats\.$/,
    );
    for (const key of ["entries", "sync", "presence", "profiles", "frames", "signatures"])
      expect(await section.locator(`dd[data-key="${key}"]`).textContent()).toMatch(/^\d/);
    expect(await section.locator('dd[data-key="entries"]').textContent()).toMatch(/\(\d+ taken\)$/);
    expect(await section.locator('dd[data-key="presence"]').textContent()).toMatch(/^0 forged or malformed/);
    if (process.env.NETWORK_SCREENSHOT) {
      const size = a!.viewportSize();
      await a!.setViewportSize({ width: 390, height: 844 });
      await section.scrollIntoViewIfNeeded();
      await a!.screenshot({ path: process.env.NETWORK_SCREENSHOT });
      await a!.screenshot({
        path: process.env.NETWORK_SCREENSHOT.replace(/\.png$/, "-full.png"),
        fullPage: true,
      });
      if (size) await a!.setViewportSize(size);
    }
  });

  it("reconnects after the server restarts, without a reload, and resyncs", async () => {
    const [a, b, c] = pages;
    const { port } = app.server.address();
    await app.server.close();
    for (const page of [a!, b!, c!]) await waitForStatus(page, "waiting");
    // The links between peers stay up while the server is away: edits still flow.
    await a!.getByLabel("Your name").fill("Alice (offline server)");
    await a!.getByRole("button", { name: "Save name" }).click();
    await waitForName(b!, "Alice (offline server)");

    app.server = createSignalingServer({ port, staticDir: distDir }) as SignalingServer;
    await app.server.ready;
    for (const page of [a!, b!, c!]) await waitForStatus(page, "joined", 45_000);
    await b!.getByLabel("Your name").fill("Bob again");
    await b!.getByRole("button", { name: "Save name" }).click();
    await waitForName(a!, "Bob again");
    await waitForName(c!, "Bob again");
    // A peer that joins now catches up with everything.
    const d = await openPeer();
    await waitForName(d, "Alice (offline server)");
    await waitForName(d, "Bob again");
    await waitForName(d, "Carol");
    await waitForPeerCount(d, 3);
  });

  it("moves an identity to another device by exporting and importing it", async () => {
    const [a] = pages;
    const peerId = await a!.locator("#net-peer-id").getAttribute("title");
    const download = a!.waitForEvent("download");
    await a!.getByRole("button", { name: "Export identity" }).click();
    const file = await (await download).path();
    const other = await app.browser.newContext();
    const page = await other.newPage();
    await page.goto(`${app.url}?network=e2e-elsewhere#network`);
    const before = await page.locator("#net-peer-id").getAttribute("title");
    expect(before).not.toBe(peerId);
    page.once("dialog", (dialog) => void dialog.accept());
    const reloaded = page.waitForEvent("load");
    await page.locator("#net-import").setInputFiles(file);
    await reloaded;
    await page
      .locator("#net-peer-id")
      .filter({ hasText: peerId!.slice(0, 8) })
      .waitFor();
    expect(await page.locator("#net-peer-id").getAttribute("title")).toBe(peerId);
    // A file that is not an identity is refused with a reason, and nothing changes.
    await page
      .locator("#net-import")
      .setInputFiles({ name: "x.json", mimeType: "application/json", buffer: Buffer.from("{}") });
    await page.getByRole("alert").filter({ hasText: "Could not import" }).waitFor();
    expect(await page.locator("#net-peer-id").getAttribute("title")).toBe(peerId);
    await other.close();
  });

  it("a Node peer over node-datachannel joins and converges with the browsers", async () => {
    const [a] = pages;
    const identity = await createIdentity();
    let nodePeer: NodePeer | undefined;
    try {
      nodePeer = startNodePeer({
        url: `${app.server.address().url.replace("http", "ws")}/signal`,
        room: "e2e",
        identity,
        presence: () => ({
          name: "node-peer",
          appVersion: "node",
          capacity: { contributing: false, cores: 2, memoryMiB: 0, budgetPct: 0, slots: 0 },
          load: { vms: 0, usedPct: 0 },
        }),
      });
      await nodePeer.node.setName("Node peer");
      await waitForName(a!, "Node peer", 45_000);
      const node = nodePeer.node;
      const deadline = Date.now() + 30_000;
      let names: string[] = [];
      while (Date.now() < deadline) {
        names = [...(await node.directory.profiles()).values()].map((p) => p.payload.name);
        if (names.includes("Carol") && names.includes("Bob again")) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(names).toEqual(
        expect.arrayContaining(["Alice (offline server)", "Bob again", "Carol", "Node peer"]),
      );
      // It is linked directly to at least one browser over WebRTC.
      expect(node.mesh.openLinks().length).toBeGreaterThan(0);
      await peerRows(a!)
        .filter({ hasText: "Node peer" })
        .filter({ hasText: /direct|via the mesh/ })
        .waitFor();
    } finally {
      nodePeer?.stop();
    }
  });
});
