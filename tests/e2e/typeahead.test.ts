// A person types as soon as they see the terminal: what they type while the VM
// on this device is still loading reaches it once it runs.
import { afterAll, beforeAll, describe, it } from "vitest";
import { type App, Shell, startApp, waitForVmState } from "./harness.ts";

let app: App;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

describe("typing while a VM loads", () => {
  it("types right after “New VM” and sees the answer", async () => {
    const context = await app.browser.newContext();
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByRole("button", { name: "New VM" }).click();
    // No waiting for the VM or the prompt, and no click into the terminal first.
    await page.keyboard.type("echo hello-$((6*7))", { delay: 5 });
    await page.keyboard.press("Enter");
    await waitForVmState(page, "running");
    await new Shell(page).waitForText("hello-42");
    await context.close();
  });
});
