// Steps for the file panel (web/file-panel.ts) in the end-to-end tests.
import type { Page } from "playwright-core";

/** Waits for the file panel's transfer to end, and fails with its message if it failed. */
export async function waitForTransfer(page: Page, scope: string): Promise<string> {
  const panel = page.locator(`${scope} .files`);
  await page.locator(`${scope} .files:is([data-transfer="done"], [data-transfer="failed"])`).waitFor({
    timeout: 120_000,
  });
  const status = (await panel.getByRole("status").textContent()) ?? "";
  if ((await panel.getAttribute("data-transfer")) !== "done") throw new Error(status);
  return status;
}
