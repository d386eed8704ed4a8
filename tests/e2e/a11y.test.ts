// Accessibility: axe-core on every page, on a desktop and on a phone, finds no
// serious or critical violation. With SCREENSHOTS=1 it also saves each page at
// both sizes under docs/screenshots/ (the pictures in the docs).
import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SCREENSHOTS, seriousViolations } from "./a11y-axe.ts";
import { type App, startApp } from "./harness.ts";
import { DESKTOP, PAGES, PHONE } from "./phone-viewport.ts";

let app: App;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

describe.each([
  ["desktop", DESKTOP],
  ["phone", PHONE],
])("accessibility on a %s", (name, device) => {
  it("every page has no serious or critical axe-core violation", async () => {
    // The app's CSP allows no inline script; axe's source goes in as one, so this context bypasses it.
    const context = await app.browser.newContext({ ...device, bypassCSP: true });
    const page = await context.newPage();
    if (process.env.SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
    const found: Record<string, string[]> = {};
    for (const hash of PAGES) {
      await page.goto(`${app.url}#${hash}`);
      await page.locator(`nav a[href="#${hash}"][aria-current="page"]`).waitFor();
      // The page has what the network gives it by now (a status line, its own peer).
      await page.locator("#net-peer-id").filter({ hasText: /\w/ }).waitFor({ state: "attached" });
      const serious = await seriousViolations(page);
      if (serious.length > 0) found[hash] = serious;
      if (process.env.SCREENSHOTS)
        await page.screenshot({ path: `${SCREENSHOTS}${hash}-${name}.png`, fullPage: true });
    }
    // The shell with a running VM, its key bar and tools included.
    await page.goto(`${app.url}#device`);
    await page.getByRole("button", { name: "New VM" }).click();
    await page.locator('#local-vm[data-state="running"]').waitFor({ timeout: 60_000 });
    await page.locator("#local-vm .xterm-rows").filter({ hasText: "root@spare:~#" }).waitFor();
    const serious = await seriousViolations(page);
    if (serious.length > 0) found["device (running)"] = serious;
    if (process.env.SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}shell-${name}.png` });
    expect(found).toEqual({});
    await context.close();
  });
});
