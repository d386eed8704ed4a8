// The steps the remote-VM e2e tests share: contributors switch on, the owner
// waits until it knows them, creates a VM and finds which tab hosts it.
import type { Page } from "playwright-core";

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

/** Creates a VM named `name` on the owner's page and waits until it runs. */
export async function createVm(owner: Page, name: string, timeoutMs: number): Promise<void> {
  await owner.getByLabel("VM name").fill(name);
  await owner.getByRole("button", { name: "Create VM" }).click();
  await owner.locator('#my-vms-list tr[data-state="running"]').waitFor({ timeout: timeoutMs });
}
