// The VM on this device is saved as it goes: what was written a second ago
// survives a reload, and the page asks "leave site?" only while something is
// not saved yet.
import type { Dialog, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.ts";
import { type App, Shell, startApp, waitForResumed, waitForSaved, waitForVmState } from "./harness.ts";

let app: App;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

/** The type of every dialog the page shows ("beforeunload": leave site?), answered with `answer`. */
function collectPrompts(page: Page, answer: (d: Dialog) => Promise<void>): string[] {
  const prompts: string[] = [];
  page.on("dialog", (dialog) => {
    prompts.push(dialog.type());
    void answer(dialog);
  });
  return prompts;
}

describe("the VM on this device is saved as it goes", () => {
  it("keeps a file written a second before a reload", async () => {
    const context = await app.browser.newContext();
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    await shell.run("echo data-$((40+2)) > /root/f && sync");
    const doneAt = Date.now();
    // The person reloads a second later, and answers "leave" if the page asks.
    const prompts = collectPrompts(page, (d) => d.accept());
    await page.waitForTimeout(1000 - (Date.now() - doneAt));
    await page.reload();

    await waitForResumed(page);
    await shell.run("cat /root/f");
    expect(await shell.text()).toContain("data-42");
    // Saved within the second: nothing was left to ask about.
    expect(prompts).toEqual([]);
    await context.close();
  });

  it("resumes from the image's state kept unpacked, and not from a damaged copy of it", async () => {
    const context = await app.browser.newContext();
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    await shell.run("echo kept-$((50+5)) > /root/k && sync");
    await waitForSaved(page);
    /** Complete copies kept (one being written is listed before it can be read). */
    const keptCopies = () =>
      page.evaluate(async () => {
        const cache = await caches.open("spare-cycles-unpacked-states");
        let complete = 0;
        for (const request of await cache.keys()) if (await cache.match(request)) complete++;
        return complete;
      });
    // Written a few seconds after the start, off its critical path.
    await eventually("one copy of the image's state kept unpacked", async () => (await keptCopies()) === 1, {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    // Damage the copy as a failing disk would: same size and label, other bytes.
    await page.evaluate(async () => {
      const cache = await caches.open("spare-cycles-unpacked-states");
      const [request] = await cache.keys();
      const response = (await cache.match(request!))!;
      const bytes = new Uint8Array(await response.arrayBuffer());
      bytes[bytes.length >> 1]! ^= 0xff;
      await cache.put(request!, new Response(bytes, { headers: response.headers }));
    });
    await page.reload();
    await waitForResumed(page);
    await shell.run("cat /root/k");
    expect(await shell.text()).toContain("kept-55");
    expect(await page.locator("#vm-notice").isVisible()).toBe(false);
    // The damaged copy was dropped and a good one written again.
    await eventually("one copy of the image's state kept unpacked", async () => (await keptCopies()) === 1, {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    await context.close();
  });

  it('asks "leave site?" only while something is not saved yet', async () => {
    const context = await app.browser.newContext();
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    const shell = new Shell(page);
    // Output all the time: there is always something not saved yet.
    await shell.type("(while [ ! -e /tmp/stop ]; do echo tick; done &)");
    await shell.waitForText("ticktick"); // rows run together in the text
    const prompts = collectPrompts(page, (d) => d.dismiss()); // "stay"
    const asked = page.waitForEvent("dialog");
    // Staying cancels the reload, which then never finishes: not awaited.
    page.reload().catch(() => {});
    await asked;
    expect(prompts).toEqual(["beforeunload"]);
    await shell.waitForText("ticktick");
    expect(await page.locator("#local-vm").getAttribute("data-state")).toBe("running");

    await shell.type("touch /tmp/stop");
    await waitForSaved(page);
    await page.reload(); // all saved: no prompt
    await waitForVmState(page, "running");
    expect(prompts).toEqual(["beforeunload"]);
    await context.close();
  });
});
