import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumLaunchOptions } from "./browser.ts";
import {
  type App,
  distDir,
  Shell,
  startApp,
  waitForResumed,
  waitForSaved,
  waitForVmState,
} from "./harness.ts";

let app: App;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

async function openApp(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(app.url);
  return page;
}

describe("a VM in this tab", () => {
  it("starts from the image and answers in the shell", async () => {
    const context = await app.browser.newContext();
    const page = await openApp(context);
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    await shell.waitForText("root@spare:~#");
    await shell.type("echo hello-$((6*7))");
    await shell.waitForText("hello-42");
    await page
      .getByRole("status")
      .filter({ hasText: /Started in/ })
      .waitFor();
    await context.close();
  });

  it("is networked from the start, and cannot reach the internet through the tab", async () => {
    const context = await app.browser.newContext();
    const page = await openApp(context);
    const outbound: string[] = [];
    context.on("request", (r) => {
      if (!r.url().startsWith(app.url)) outbound.push(r.url());
    });
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    await shell.run("ip -4 addr show eth0 | grep -o 'inet [0-9./]*'");
    await shell.waitForText("inet 192.168.86.100/24");
    await shell.run("wget -q -O - http://example.com/ 2>&1 | grep -o 'HTTP/1.1 [0-9]* [A-Za-z ]*'");
    await shell.waitForText("HTTP/1.1 403 Outbound Off");
    expect(outbound).toEqual([]);
    await context.close();
  });

  it("keeps files across a reload, and starts offline after one visit", async () => {
    const context = await app.browser.newContext();
    const page = await openApp(context);
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    await shell.run("echo kept-$((40+2)) > /root/note.txt");
    await waitForSaved(page);

    await page.reload();
    await waitForResumed(page);
    await shell.run("cat /root/note.txt");
    expect(await shell.text()).toContain("kept-42");

    // The page says when a new VM can start without the network, and it can:
    // the service worker's cache holds the image's state and the emulator.
    await page.locator('#vm-offline[data-ready="true"]').waitFor({ timeout: 60_000 });
    expect(await page.locator("#vm-offline").textContent()).toBe("Available offline");
    const cached = await page.evaluate(async () =>
      (await (await caches.open("spare-cycles-guest")).keys()).map((r) => new URL(r.url).pathname),
    );
    // The state as the app fetches it: the brotli copy where the server has one (public/guest/manifest.json).
    expect(cached).toEqual(expect.arrayContaining(["/guest/state.bin", expect.stringMatching(/\.wasm$/)]));

    await context.setOffline(true);
    await page.reload();
    await waitForVmState(page, "running");
    await shell.run("cat /root/note.txt");
    expect(await shell.text()).toContain("kept-42");

    // A fresh VM from the image starts offline too.
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Reset" }).click();
    await waitForVmState(page, "running");
    await shell.run("test -e /root/note.txt || echo gone-$((3+4))");
    expect(await shell.text()).toContain("gone-7");
    await context.close();
  });

  it("pauses and resumes the guest", async () => {
    const context = await app.browser.newContext();
    const page = await openApp(context);
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    await shell.run("");
    await page.getByRole("button", { name: "Pause" }).click();
    await waitForVmState(page, "paused");
    await shell.type("echo paused-$((1+1))");
    await page.waitForTimeout(1000);
    expect(await shell.text()).not.toContain("paused-2");
    await page.getByRole("button", { name: "Resume" }).click();
    await waitForVmState(page, "running");
    await shell.run("echo resumed-$((2+2))");
    expect(await shell.text()).toContain("resumed-4");
    await context.close();
  });

  it("keeps a saved VM that will not restore, says so, and starts a fresh one", async () => {
    const context = await app.browser.newContext();
    const page = await openApp(context);
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    await waitForSaved(page);
    // Damage the saved state as a failing disk or an incompatible version would.
    await page.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const open = indexedDB.open("spare-cycles");
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const tx = open.result.transaction("kv", "readwrite");
            const kv = tx.objectStore("kv");
            const get = kv.get("local-vm");
            get.onsuccess = () => {
              const record = get.result;
              record.state = new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]).buffer;
              kv.put(record, "local-vm");
            };
            tx.oncomplete = () => resolve();
            tx.onerror = () => reject(tx.error);
          };
        }),
    );
    await page.reload();
    await waitForVmState(page, "running");
    await page.getByRole("alert").filter({ hasText: "could not be restored" }).waitFor();
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Download the saved VM" }).click();
    const file = await download;
    // Saves are deltas against the image now: the file says so.
    expect(file.suggestedFilename()).toMatch(/\.v86delta\.gz$/);
    await context.close();
  });
});

describe("the installable app", () => {
  it("has a manifest Chromium accepts for installation", async () => {
    // A persistent profile: Chromium never offers installation in incognito contexts.
    const profile = mkdtempSync(join(tmpdir(), "spare-cycles-profile-"));
    const context = await chromium.launchPersistentContext(profile, chromiumLaunchOptions());
    try {
      const page = await openApp(context);
      await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, {
        timeout: 30_000,
      });
      const href = await page.locator('link[rel="manifest"]').getAttribute("href");
      const manifest = await (await page.request.get(new URL(href!, app.url).href)).json();
      expect(manifest.name).toBe("Spare Cycles");
      expect(manifest.display).toBe("standalone");
      expect(manifest.start_url).toBeTruthy();
      const sizes = manifest.icons.map(
        (i: { sizes: string; purpose?: string }) => `${i.sizes}:${i.purpose ?? "any"}`,
      );
      expect(sizes).toEqual(expect.arrayContaining(["192x192:any", "512x512:any", "512x512:maskable"]));
      for (const icon of manifest.icons) {
        const res = await page.request.get(new URL(icon.src, app.url).href);
        expect(res.headers()["content-type"]).toBe("image/png");
      }
      const cdp = await context.newCDPSession(page);
      const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
      expect(installabilityErrors).toEqual([]);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it("offers an update when a new version is deployed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spare-cycles-deploy-"));
    cpSync(distDir, dir, { recursive: true });
    const deployed = await startApp({ staticDir: dir });
    try {
      const context = await deployed.browser.newContext();
      const page = await context.newPage();
      await page.goto(deployed.url);
      await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, {
        timeout: 30_000,
      });
      const banner = page.getByText("A new version of Spare Cycles is ready.");
      expect(await banner.isVisible()).toBe(false);
      // Deploy a new version: a changed service worker.
      const sw = join(dir, "sw.js");
      writeFileSync(sw, `${readFileSync(sw, "utf8")}\n// next release\n`);
      await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.update());
      await banner.waitFor({ timeout: 30_000 });
      const reloaded = page.waitForEvent("load");
      await page.getByRole("button", { name: "Update" }).click();
      await reloaded;
      await banner.waitFor({ state: "hidden" });
      // The new service worker took over: nothing is left waiting.
      const waiting = await page.evaluate(
        async () => (await navigator.serviceWorker.getRegistration())?.waiting,
      );
      expect(waiting).toBeNull();
      await context.close();
    } finally {
      await deployed.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
