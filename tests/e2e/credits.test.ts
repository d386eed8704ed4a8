// The Credits page: a new identity starts with nothing, earns its starting
// allowance by working for it in a worker (with progress shown), and keeps it
// across a reload; the chart draws credit over time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, startApp } from "./harness.ts";

let app: App;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

describe("credits page", () => {
  it("a new identity works for its allowance, sees progress, and keeps it after a reload", async () => {
    const context = await app.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}?network=e2e-credits#credits`);
    const balance = page.locator("#credits-balance");
    await expect
      .poll(() => page.locator("#credits-figures").textContent(), { timeout: 30_000 })
      .toContain("ratio");
    expect(await balance.textContent()).toBe("0.000 credits");
    await page.getByRole("button", { name: "Earn the starting allowance" }).click();
    await page.locator("#credits-stamp-progress:not([hidden])").waitFor({ timeout: 10_000 });
    await expect
      .poll(() => page.locator("#credits-stamp-status").textContent(), { timeout: 10_000 })
      .toMatch(/% of the expected work/);
    // The search is luck; its mean here is well under a minute.
    await expect.poll(() => balance.textContent(), { timeout: 240_000, interval: 500 }).toBe("5.000 credits");
    expect(await page.locator("#credits-stamp-status").textContent()).toContain("Done");
    expect(await page.locator("#credits-chart canvas").count()).toBeGreaterThan(0);
    await page.reload();
    await expect.poll(() => balance.textContent(), { timeout: 30_000 }).toBe("5.000 credits");
    expect(await page.locator("#credits-stamp-status").textContent()).toBe("This identity has its stamp.");
    expect(await page.getByRole("button", { name: "Earn the starting allowance" }).isHidden()).toBe(true);
    await context.close();
  }, 300_000);
});
