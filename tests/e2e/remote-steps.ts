// The steps the remote-VM e2e tests share: contributors switch on, the owner
// waits until it knows them, creates a VM and finds which tab hosts it.
import type { BrowserContext, Page } from "playwright-core";

/**
 * URL parameters every page of a remote-VM test carries: a stamp of 8 bits buys
 * the starting allowance (a few hundred tries instead of millions), and every
 * page, host or owner, must agree on it (web/credit-rules.ts).
 */
export const TEST_CREDIT_PARAMS = "stampBits=8";

/** The app at `appUrl`, in network `room`, with the test credit rules (and `extra` parameters), on page `hash`. */
export function roomUrl(appUrl: string, room: string, hash: string, extra = ""): string {
  return `${appUrl}?network=${room}&${TEST_CREDIT_PARAMS}${extra ? `&${extra}` : ""}#${hash}`;
}

/** A new page of `context` on the app in network `room` (see roomUrl). */
export async function openInRoom(
  context: BrowserContext,
  appUrl: string,
  room: string,
  hash: string,
  extra = "",
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(roomUrl(appUrl, room, hash, extra));
  return page;
}

/** Earns this identity's starting allowance on the Credits page (if it has none), then goes back. */
export async function earnAllowance(page: Page): Promise<void> {
  const back = await page.evaluate(() => location.hash);
  await page.evaluate(() => {
    location.hash = "#credits";
  });
  const button = page.getByRole("button", { name: "Earn the starting allowance" });
  const status = page.locator("#credits-stamp-status");
  await page.waitForFunction(() =>
    /ratio/.test(document.querySelector("#credits-figures")?.textContent ?? ""),
  );
  if (await button.isVisible()) {
    await button.click();
    await status.filter({ hasText: "Done" }).waitFor({ timeout: 60_000 });
  }
  await page.evaluate((hash) => {
    location.hash = hash;
  }, back);
}

/** How many VMs the Contribute page says this tab hosts. */
export async function hostingCount(page: Page): Promise<number> {
  return Number((await page.locator("#contribute-status").getAttribute("data-hosting")) ?? "0");
}

/** Presses "Contribute" and waits until the page says it contributes. */
export async function contribute(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Contribute" }).click();
  await page.locator('#contribute-toggle[aria-pressed="true"]').waitFor();
}

/** Waits until the owner's page knows `count` contributors (presence travels over the mesh). */
export async function waitForContributors(owner: Page, count: number): Promise<void> {
  await owner.waitForFunction(
    (n) => (document.querySelector("#net-peers")?.textContent?.match(/VM slots/g) ?? []).length >= n,
    count,
    { timeout: 30_000 },
  );
}

/** Creates a VM named `name` on the owner's page (earning its allowance first) and waits until it runs. */
export async function createVm(owner: Page, name: string, timeoutMs: number): Promise<void> {
  await earnAllowance(owner);
  await owner.getByLabel("VM name").fill(name);
  await owner.getByRole("button", { name: "Create VM" }).click();
  await owner.locator('#my-vms-list tr[data-state="running"]').waitFor({ timeout: timeoutMs });
}
