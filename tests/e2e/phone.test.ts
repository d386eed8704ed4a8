// The app on a phone (393×852, touch): every page fits the screen, the shell's
// columns follow its width and the guest knows them, and the key bar gives the
// keys a touch keyboard lacks, in the local shell and the remote one.
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SCREENSHOTS, seriousViolations } from "./a11y-axe.ts";
import { type App, Shell, startApp, waitForVmState } from "./harness.ts";
import { PAGES, PHONE } from "./phone-viewport.ts";
import { contribute, createVm, openInRoom, waitForContributors } from "./remote-steps.ts";

let app: App;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

// bypassCSP: axe-core goes into the page as an inline script (a11y-axe.ts).
const phone = (): Promise<BrowserContext> => app.browser.newContext({ ...PHONE, bypassCSP: true });

/** The rows the terminal in `scope` shows, as text. */
function screenRows(page: Page, scope: string): Promise<string[]> {
  return page
    .locator(`${scope} .xterm-rows`)
    .evaluate((el) => [...el.children].map((row) => (row.textContent ?? "").replaceAll("\u00a0", " ")));
}

/** The shell's fitted size, as the page says it (data-cols, data-rows). */
async function shellSize(page: Page, scope: string): Promise<{ cols: number; rows: number }> {
  const terminal = page.locator(`${scope} section.terminal`);
  return {
    cols: Number(await terminal.getAttribute("data-cols")),
    rows: Number(await terminal.getAttribute("data-rows")),
  };
}

/** Checks the guest was told the shell's size, and lines wrap at its width. */
async function expectFittedShell(page: Page, scope: string, shell: Shell): Promise<void> {
  const { cols, rows } = await shellSize(page, scope);
  expect(cols).toBeGreaterThan(30);
  expect(cols).toBeLessThan(80);
  expect(rows).toBeGreaterThan(5);
  await shell.waitForText(`stty cols ${cols} rows ${rows}`);
  await shell.run("stty size | sed 's/^/size: /'");
  await shell.waitForText(`size: ${rows} ${cols}`);
  await shell.run("printf '%0100d\\n' 0");
  // The 100 zeros take full rows of `cols`, then the rest: wrapped at the screen's width, none cut off.
  const lines = (await screenRows(page, scope)).map((l) => l.trimEnd());
  const at = lines.indexOf("0".repeat(cols));
  expect(at).toBeGreaterThanOrEqual(0);
  const rowsUsed = Math.ceil(100 / cols);
  const wrapped = lines.slice(at, at + rowsUsed);
  expect(wrapped.slice(0, -1).every((l) => l.length === cols)).toBe(true);
  expect(wrapped.join("")).toBe("0".repeat(100));
}

/** Ctrl from the key bar, then "c" as an IME delivers it (an `input` event, no key code): the sleep ends. */
async function expectCtrlCInterrupts(page: Page, scope: string, shell: Shell): Promise<void> {
  const bar = page.locator(scope).getByRole("toolbar", { name: "Terminal keys" });
  await shell.type("sleep 100");
  await shell.waitForText("sleep 100");
  const ctrl = bar.getByRole("button", { name: "Ctrl" });
  await ctrl.tap();
  expect(await ctrl.getAttribute("aria-pressed")).toBe("true");
  await page.keyboard.insertText("c");
  expect(await ctrl.getAttribute("aria-pressed")).toBe("false");
  // The sleep is over well before its 100 s: the next command answers.
  await shell.run("echo after-$((1+2))", 15_000);
  expect(await shell.text()).toContain("after-3");
}

/** The key bar's Up recalls the last command; Enter runs it again. */
async function expectHistory(page: Page, scope: string, shell: Shell): Promise<void> {
  await shell.type("echo hist-$((2+3))");
  await shell.waitForText("hist-5");
  await page
    .locator(scope)
    .getByRole("toolbar", { name: "Terminal keys" })
    .getByRole("button", { name: "Up" })
    .tap();
  await waitForCount(page, scope, "echo hist-$((2+3))", 2);
  await page.keyboard.press("Enter");
  await waitForCount(page, scope, "hist-5", 2);
}

/** Waits until the terminal in `scope` shows `needle` at least `count` times. */
async function waitForCount(page: Page, scope: string, needle: string, count: number): Promise<void> {
  await page.waitForFunction(
    ({ selector, needle, count }) =>
      (document.querySelector(selector)?.textContent ?? "").replaceAll("\u00a0", " ").split(needle).length -
        1 >=
      count,
    { selector: `${scope} .xterm-rows`, needle, count },
    { timeout: 10_000 },
  );
}

describe("on a phone", () => {
  it("every page fits the screen's width, with a tab bar at the bottom", async () => {
    const context = await phone();
    const page = await context.newPage();
    for (const hash of PAGES) {
      await page.goto(`${app.url}#${hash}`);
      await page.locator(`nav a[href="#${hash}"][aria-current="page"]`).waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(width, `#${hash}`).toBeLessThanOrEqual(PHONE.viewport.width);
      // The navigation sits at the bottom of the screen, each tab a comfortable target.
      const tab = await page.locator(`nav a[href="#${hash}"]`).boundingBox();
      expect(tab?.y ?? 0).toBeGreaterThan(PHONE.viewport.height - 100);
      expect(tab?.height ?? 0).toBeGreaterThanOrEqual(44);
    }
    // Charts are made while their page is hidden (the app opens on another): shown, each is as wide
    // as its place on the page, not drawn 600 px wide and clipped.
    await page.goto(`${app.url}#device`);
    for (const hash of ["contribute", "credits"]) {
      await page.locator(`nav a[href="#${hash}"]`).tap();
      const chart = page.locator(`#${hash} .uplot`).first();
      await chart.waitFor();
      await page.waitForFunction(
        // uPlot draws at the width it was given (its plot area's style), whatever CSS clips.
        (el) =>
          el !== null &&
          Number.parseFloat((el.querySelector(".u-wrap") as HTMLElement | null)?.style.width ?? "9999") <=
            (el.parentElement?.clientWidth ?? 0) + 1,
        await chart.elementHandle(),
        { timeout: 5000 },
      );
    }
    await context.close();
    // The smallest phones in use: 320 px.
    const small = await app.browser.newContext({ ...PHONE, viewport: { width: 320, height: 640 } });
    const narrow = await small.newPage();
    for (const hash of PAGES) {
      await narrow.goto(`${app.url}#${hash}`);
      await narrow.locator(`nav a[href="#${hash}"][aria-current="page"]`).waitFor();
      expect(
        await narrow.evaluate(() => document.documentElement.scrollWidth),
        `#${hash} at 320`,
      ).toBeLessThanOrEqual(320);
    }
    await small.close();
  });

  it("the local shell fits, is told its size, and the key bar types Ctrl-C and the arrows", async () => {
    const context = await phone();
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByRole("button", { name: "New VM" }).tap();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    await shell.waitForText("root@spare:~#");
    await expectFittedShell(page, "#local-vm", shell);
    await expectCtrlCInterrupts(page, "#local-vm", shell);
    await expectHistory(page, "#local-vm", shell);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(PHONE.viewport.width);

    // Turned sideways: more columns, fewer rows, and the guest is told at its next prompt.
    const upright = await shellSize(page, "#local-vm");
    await page.setViewportSize({ width: 852, height: 393 });
    await page.waitForFunction(
      (cols) =>
        Number(document.querySelector<HTMLElement>("#local-vm section.terminal")?.dataset.cols) > cols,
      upright.cols,
    );
    const sideways = await shellSize(page, "#local-vm");
    await shell.waitForText(`stty cols ${sideways.cols} rows ${sideways.rows}`);
    await shell.run("stty size | sed 's/^/now: /'");
    await shell.waitForText(`now: ${sideways.rows} ${sideways.cols}`);
    await page.setViewportSize(PHONE.viewport);

    // A paste of several lines asks first; each line then runs.
    await page.locator("#local-vm .xterm-helper-textarea").evaluate((el) => {
      const data = new DataTransfer();
      data.setData("text/plain", "echo one-$((0+1))\necho two-$((1+1))\n");
      el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    });
    const dialog = page.getByRole("dialog", { name: "Paste 2 lines into the shell?" });
    await dialog.waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    expect(await shell.text()).not.toContain("one-1");
    await dialog.getByRole("button", { name: "Paste" }).tap();
    await shell.waitForText("two-2");
    expect(await shell.text()).toContain("one-1");
    await context.close();
  });

  it("copies a selection and pastes a line with the shell's buttons; Ctrl applies to an IME's composition too", async () => {
    const context = await phone();
    await context.grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: new URL(app.url).origin,
    });
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByRole("button", { name: "New VM" }).tap();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    await shell.waitForText("root@spare:~#");

    // Copy: select the answer's line in the terminal (three clicks), then the Copy button.
    await shell.run("echo copy-$((6*7))");
    const copy = page.getByRole("button", { name: "Copy selection" });
    expect(await copy.isDisabled()).toBe(true);
    const line = page.locator("#local-vm .xterm-rows > div").filter({ hasText: /^copy-42\s*$/ });
    const box = await line.boundingBox();
    await page.mouse.click((box?.x ?? 0) + 10, (box?.y ?? 0) + (box?.height ?? 0) / 2, { clickCount: 3 });
    await copy.tap();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toMatch(/^copy-42\s*$/);

    // Paste: one line goes in as typed (no confirmation), and Enter runs it.
    await page.evaluate(() => navigator.clipboard.writeText("echo pasted-$((2+2))"));
    await page.getByRole("button", { name: "Paste", exact: true }).tap();
    await shell.waitForText("echo pasted-$((2+2))");
    await page.keyboard.press("Enter");
    await shell.waitForText("pasted-4");

    // Ctrl from the bar, then "c" composed by an IME (composition, then its commit): the sleep ends.
    await shell.type("sleep 100");
    await shell.waitForText("sleep 100");
    await page.getByRole("toolbar", { name: "Terminal keys" }).getByRole("button", { name: "Ctrl" }).tap();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Input.imeSetComposition", { text: "c", selectionStart: 1, selectionEnd: 1 });
    await cdp.send("Input.insertText", { text: "c" });
    await shell.run("echo composed-$((1+1))", 15_000);
    expect(await shell.text()).toContain("composed-2");
    await context.close();
  });

  it("the remote shell fits, is told its size, and takes the key bar's keys", async () => {
    const room = "e2e-phone";
    const hostCtx = await app.browser.newContext();
    const ownerCtx = await phone();
    const host = await openInRoom(hostCtx, app.url, room, "contribute");
    await contribute(host);
    const owner = await openInRoom(ownerCtx, app.url, room, "vms");
    await waitForContributors(owner, 1);
    await createVm(owner, "phone-vm", 90_000);
    await owner.getByRole("button", { name: "Open shell phone-vm" }).tap();
    const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 30_000);
    await expectFittedShell(owner, "#remote-shell", shell);
    await expectCtrlCInterrupts(owner, "#remote-shell", shell);
    await expectHistory(owner, "#remote-shell", shell);
    // My VMs with a VM (its row stacked) and its shell open: accessible too.
    expect(await seriousViolations(owner)).toEqual([]);
    if (process.env.SCREENSHOTS)
      await owner.screenshot({ path: `${SCREENSHOTS}vms-shell-phone.png`, fullPage: true });
    const width = await owner.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(PHONE.viewport.width);
    await ownerCtx.close();
    await hostCtx.close();
  });
});
