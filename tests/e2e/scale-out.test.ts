// Two signaling instances sharing rooms over a real redis-server, and three
// browser contexts spread over them: two pages on the first instance, one on
// the second. They list each other and share edits as if on one server, and a
// VM owned on the first instance runs on a contributor that only the second
// instance knows directly, with a working remote shell; the page it serves is
// reached through either instance's web gateway.
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.ts";
import { type App, distDir, Shell, startApp } from "./harness.ts";
import { contribute, createVm, hostingCount, openInRoom, waitForContributors } from "./remote-steps.ts";

const ROOM = "e2e-scale-out";

let redis: RedisServer;
let app: App;
let second: SignalingServer;
let secondUrl: string;

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startApp({ redisUrl: redis.url, gatewayRoom: ROOM });
  second = createSignalingServer({
    port: 0,
    staticDir: distDir,
    redisUrl: redis.url,
    gatewayRoom: ROOM,
    clusterLog: () => undefined,
  });
  await second.ready;
  secondUrl = `${second.address().url}/`;
});

afterAll(async () => {
  await app?.close();
  await second?.close();
  await redis?.stop();
});

async function health(url: string): Promise<{ redis: string; peers: number; instanceId: string }> {
  return (await (await fetch(`${url}healthz`)).json()) as {
    redis: string;
    peers: number;
    instanceId: string;
  };
}

const peerRows = (page: Page) => page.getByRole("table", { name: "Peers" }).locator("tbody tr");

async function waitForName(page: Page, name: string): Promise<void> {
  await peerRows(page)
    .filter({ has: page.getByRole("rowheader", { name, exact: true }) })
    .waitFor({ timeout: 30_000 });
}

async function saveName(page: Page, name: string): Promise<void> {
  await page.evaluate(() => {
    location.hash = "#network";
  });
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Save name" }).click();
}

describe("two instances over Redis", () => {
  it("three contexts on two instances share edits, run a remote VM and reach its page through either gateway", async () => {
    // Each instance reaches Redis a moment after it listens.
    for (const url of [app.url, secondUrl])
      await expect.poll(async () => (await health(url)).redis, { timeout: 10_000 }).toBe("up");
    const [first, other] = [await health(app.url), await health(secondUrl)];
    expect(first.instanceId).not.toBe(other.instanceId);

    const contexts: BrowserContext[] = [];
    const context = async () => {
      const c = await app.browser.newContext();
      contexts.push(c);
      return c;
    };
    // The owner and a second peer on the first instance, the only contributor on the second.
    const owner = await openInRoom(await context(), app.url, ROOM, "network");
    const bob = await openInRoom(await context(), app.url, ROOM, "network");
    const host = await openInRoom(await context(), secondUrl, ROOM, "contribute");

    // Each instance holds its own sockets; the pages still list all three.
    await expect.poll(async () => (await health(app.url)).peers, { timeout: 30_000 }).toBe(2);
    await expect.poll(async () => (await health(secondUrl)).peers, { timeout: 30_000 }).toBe(1);
    for (const page of [owner, bob, host])
      await page.locator('#net-peer-count[data-count="2"]').waitFor({ state: "attached", timeout: 30_000 });

    // An edit on one instance's page reaches the page on the other, and back.
    await saveName(owner, "Olive");
    await saveName(host, "Hana");
    await waitForName(host, "Olive");
    await waitForName(bob, "Olive");
    await waitForName(owner, "Hana");
    await waitForName(bob, "Hana");

    // The VM: owned on the first instance, hosted by the contributor on the second.
    await host.evaluate(() => {
      location.hash = "#contribute";
    });
    await contribute(host);
    await owner.evaluate(() => {
      location.hash = "#vms";
    });
    await waitForContributors(owner, 1);
    await createVm(owner, "scale-vm", 90_000);
    expect(await hostingCount(host)).toBe(1);
    await owner.getByRole("button", { name: "Open shell scale-vm" }).click();
    const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 30_000);
    await shell.run("echo across-$((6*7))");
    expect(await shell.text()).toContain("across-42");

    // Its web page, published once, answers through each instance's gateway (each a peer of the
    // room on its own instance: the first reaches the host on the second through Redis' signals).
    const page = "<h1>served-across</h1>";
    await shell.run(`mkdir -p /www && echo '${page}' > /www/index.html && httpd -p 80 -h /www`);
    const answers = ["80", "site"];
    owner.on("dialog", (d) => void d.accept(answers.shift()));
    await owner.getByRole("button", { name: "Publish web scale-vm" }).click();
    await owner.getByRole("link", { name: "/vm/site:80/" }).waitFor({ timeout: 10_000 });
    const through = async (base: string) => {
      const res = await fetch(`${base}vm/site:80/`).catch(() => null);
      return res ? `${res.status} ${(await res.text()).trim()}` : "no answer";
    };
    for (const base of [app.url, secondUrl])
      await expect.poll(() => through(base), { timeout: 60_000, interval: 500 }).toBe(`200 ${page}`);

    for (const c of contexts) await c.close();
  });
});
