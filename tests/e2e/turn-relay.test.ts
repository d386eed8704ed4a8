// Peers that cannot link directly link through a TURN relay: a real coturn on
// loopback, the app's server handing out its REST credentials (TURN_URLS /
// TURN_SECRET's options), and two pages whose Network settings say "link only
// through a TURN relay" (iceTransportPolicy "relay": no host or reflexive
// candidates at all, so the link exists only through coturn). The Network page
// says the link is relayed, coturn logged the allocations, a remote VM's shell
// works over it, and credentials past their expiry are refused by coturn itself.
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IceServer } from "../../core/net/ice-servers.ts";
import { turnCredentials } from "../../signaling-server/turn-credentials.ts";
import { type Coturn, startCoturn } from "../helpers/coturn.ts";
import { type App, Shell, startApp } from "./harness.ts";
import { contribute, createVm, openInRoom, waitForContributors } from "./remote-steps.ts";

let coturn: Coturn;
let app: App;

beforeAll(async () => {
  coturn = await startCoturn();
  app = await startApp({ turn: { urls: [coturn.url], secret: coturn.secret, ttlS: 600 } });
});

afterAll(async () => {
  await app?.close();
  await coturn?.stop();
});

/** Ticks "Link only through a TURN relay" in the Network settings and saves (the page reloads). */
async function relayOnly(page: Page): Promise<void> {
  await page.getByText("Network settings").click();
  await page.getByLabel(/Link only through a TURN relay/).check();
  await Promise.all([
    page.waitForEvent("load"),
    page.getByRole("button", { name: "Save and reconnect" }).click(),
  ]);
  await page.getByText("Network settings").click();
  expect(await page.getByLabel(/Link only through a TURN relay/).isChecked()).toBe(true);
}

/** Gathers ICE candidates with only `server`, relay-only: how many relay candidates, and the errors. */
function gatherRelay(page: Page, server: IceServer): Promise<{ relays: number; errors: number[] }> {
  return page.evaluate(async (server) => {
    const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: "relay" });
    let relays = 0;
    const errors: number[] = [];
    pc.onicecandidate = (e) => {
      if (e.candidate?.type === "relay") relays++;
    };
    pc.onicecandidateerror = (e) => errors.push((e as RTCPeerConnectionIceErrorEvent).errorCode);
    const complete = new Promise<void>((resolve) => {
      pc.onicegatheringstatechange = () => {
        if (pc.iceGatheringState === "complete") resolve();
      };
    });
    pc.createDataChannel("probe");
    await pc.setLocalDescription();
    await complete;
    pc.close();
    return { relays, errors };
  }, server);
}

describe("the signaling servers setting", () => {
  it("names a bad URL, and with two servers joins through the one that answers", async () => {
    const context = await app.browser.newContext();
    const page = await openInRoom(context, app.url, `e2e-servers-${Date.now()}`, "network");
    const own = `${app.url.replace("http", "ws")}signal`;
    await page.getByText("Network settings").click();
    const field = page.getByLabel(/Signaling servers/);
    await field.fill(`${own} https://example.org/signal`);
    await page.getByRole("button", { name: "Save and reconnect" }).click();
    await page
      .locator("#net-notice")
      .filter({
        hasText: 'Signaling servers: "https://example.org/signal" does not start with ws:// or wss://',
      })
      .waitFor();
    // Nothing listens on port 9 (discard): the client moves on to the next URL.
    await field.fill(`ws://127.0.0.1:9/signal, ${own}`);
    await Promise.all([
      page.waitForEvent("load"),
      page.getByRole("button", { name: "Save and reconnect" }).click(),
    ]);
    await page.locator('#net-status[data-state="joined"]').waitFor({ timeout: 30_000 });
    expect(await page.getByLabel(/Signaling servers/).inputValue()).toBe(`ws://127.0.0.1:9/signal ${own}`);
    await context.close();
  });
});

describe("two pages that may link only through TURN", () => {
  it("link through coturn, say so, run a remote shell, and expired credentials are refused", async () => {
    const room = `e2e-turn-${Date.now()}`;
    const contributorCtx = await app.browser.newContext();
    const ownerCtx = await app.browser.newContext();
    const contributor = await openInRoom(contributorCtx, app.url, room, "network");
    const owner = await openInRoom(ownerCtx, app.url, room, "network");
    for (const page of [contributor, owner]) await relayOnly(page);

    // Each page's row for the other says the link goes through the relay.
    for (const page of [contributor, owner]) {
      const row = page.locator('#net-peers tr[data-connection="direct"][data-route="relayed"]');
      await row.waitFor({ timeout: 30_000 });
      expect(await row.textContent()).toContain("relayed by TURN");
    }
    expect(await owner.locator('#net-peers tr[data-route="direct"]').count()).toBe(0);
    // coturn really allocated relays, for users named by the server's credentials.
    await coturn.waitForLog(/username=<\d+:[0-9a-f]{32}\.[A-Za-z0-9_-]+>/);
    await coturn.waitForLog(/ALLOCATE processed, success/);

    // A remote VM on the contributor, driven from the owner's shell over the relayed link.
    await contributor.evaluate(() => {
      location.hash = "#contribute";
    });
    await contribute(contributor);
    await owner.evaluate(() => {
      location.hash = "#vms";
    });
    await waitForContributors(owner, 1);
    await createVm(owner, "relayed", 90_000);
    await owner.getByRole("button", { name: "Open shell relayed" }).click();
    const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 30_000);
    await shell.run("echo through-$((6*7))-turn");
    expect(await shell.text()).toContain("through-42-turn");

    // Credentials one minute past their expiry: coturn refuses them (401), no relay
    // candidate; the same user with a fresh expiry gets one.
    const user = `${"e".repeat(32)}.expired`;
    const nowS = Math.floor(Date.now() / 1000);
    const expired = await gatherRelay(owner, {
      urls: coturn.url,
      ...turnCredentials(coturn.secret, user, nowS - 60),
    });
    expect(expired.relays).toBe(0);
    expect(expired.errors).toContain(401);
    await coturn.waitForLog(
      new RegExp(`Cannot find credentials of user <${nowS - 60}:${user.replace(".", "\\.")}>`),
    );
    const fresh = await gatherRelay(owner, {
      urls: coturn.url,
      ...turnCredentials(coturn.secret, user, nowS + 60),
    });
    expect(fresh.relays).toBeGreaterThan(0);

    await ownerCtx.close();
    await contributorCtx.close();
  }, 240_000);
});
