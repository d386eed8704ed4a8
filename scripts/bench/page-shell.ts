// A terminal in the app's page, as the benches drive it: run a command and wait
// for its end marker, and time keystrokes until their echo is painted.
import type { Page } from "playwright-core";
import { markCommand } from "../../core/guest/guest-console.ts";

/** Types `command` into the terminal at `terminal` and waits until it has finished. */
export async function runIn(
  page: Page,
  terminal: string,
  command: string,
  nonce: number,
  { timeoutMs = 60_000, pollMs = 50 }: { timeoutMs?: number; pollMs?: number } = {},
): Promise<void> {
  const marked = markCommand(command, nonce);
  await page.locator(`${terminal} .xterm-helper-textarea`).focus();
  await page.keyboard.insertText(marked.line.replace(/\r$/, ""));
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    ({ sel, done }) => document.querySelector(`${sel} .xterm-rows`)?.textContent?.includes(done),
    { sel: terminal, done: marked.done },
    { timeout: timeoutMs, polling: pollMs },
  );
}

/** After this many keystrokes the line is cleared, so the shell's line stays short. */
export const LINE_KEYS = 20;

/**
 * Keystrokes until their echo is painted, timed inside the page: from the keydown
 * event to the terminal's rows changing (xterm paints in an animation frame), so
 * Playwright's own latency is not counted.
 */
export async function echoTimes(page: Page, terminal: string, count: number): Promise<number[]> {
  await page.locator(`${terminal} .xterm-helper-textarea`).focus();
  await page.evaluate((sel) => {
    const w = window as unknown as { echo: { waiting: boolean; start: number; times: number[] } };
    w.echo = { waiting: false, start: 0, times: [] };
    const rows = document.querySelector(`${sel} .xterm-rows`)!;
    document.addEventListener("keydown", () => (w.echo.start = performance.now()), { capture: true });
    let last = rows.textContent ?? "";
    new MutationObserver(() => {
      const now = rows.textContent ?? "";
      if (w.echo.waiting && now !== last) {
        w.echo.times.push(performance.now() - w.echo.start);
        w.echo.waiting = false;
      }
      last = now;
    }).observe(rows, { subtree: true, childList: true, characterData: true });
  }, terminal);
  for (let i = 0; i < count; i++) {
    await page.evaluate(() => ((window as unknown as { echo: { waiting: boolean } }).echo.waiting = true));
    await page.keyboard.press("a");
    await page.waitForFunction(
      () => !(window as unknown as { echo: { waiting: boolean } }).echo.waiting,
      null,
      {
        polling: "raf",
        timeout: 10_000,
      },
    );
    if (i % LINE_KEYS === LINE_KEYS - 1) {
      await page.keyboard.press("Control+U");
      await page.waitForTimeout(100);
    }
  }
  await page.keyboard.press("Control+U");
  return page.evaluate(() => (window as unknown as { echo: { times: number[] } }).echo.times);
}
