// Files into and out of the VM on this device, the way a person moves them: a
// file picked (or dropped on the shell) is readable in the guest's /files with
// the same SHA-256, and a file the guest makes there downloads with the same
// SHA-256; the same for a VM in someone else's tab, through its open shell. On
// a desktop and on a phone.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForTransfer } from "./file-steps.ts";
import { type App, Shell, startApp, waitForVmState } from "./harness.ts";
import { PHONE } from "./phone-viewport.ts";
import { contribute, createVm, openInRoom, waitForContributors } from "./remote-steps.ts";

const ROOM = "e2e-files";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

let app: App;
beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  await app?.close();
});

/** On a desktop, and on a phone (393×852, touch): the same steps, the same checks. */
const SCREENS = [
  ["a desktop", {}],
  ["a phone", PHONE],
] as const;

describe("files in and out of the VM on this device", () => {
  it.each(SCREENS)(
    "on %s: uploads a picked and a dropped file, and downloads one the guest made, SHA-256 equal",
    async (_screen, screen) => {
      const context = await app.browser.newContext({ ...screen, acceptDownloads: true });
      const page = await context.newPage();
      await page.goto(app.url);
      await page.getByRole("button", { name: "New VM" }).click();
      await waitForVmState(page, "running");
      const shell = new Shell(page);
      await shell.waitForText("root@spare:~#");

      const picked = new Uint8Array(randomBytes(2 * 1024 * 1024 + 5));
      await page.locator("#vm-files input[type=file]").setInputFiles({
        name: "picked.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(picked),
      });
      expect(await waitForTransfer(page, "#local-vm")).toContain("/files/picked.bin");
      await shell.run("sha256sum /files/picked.bin");
      await shell.waitForText(`${sha256(picked)}  /files/picked.bin`);

      // Dropped on the shell.
      const dropped = "dropped on the shell\n";
      await page.locator("#vm-terminal").evaluate((el, text) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([text], "dropped.txt", { type: "text/plain" }));
        el.dispatchEvent(
          new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }),
        );
        el.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
      }, dropped);
      expect(await waitForTransfer(page, "#local-vm")).toContain("/files/dropped.txt");
      await shell.run("cat /files/dropped.txt");
      await shell.waitForText("dropped on the shell");

      await shell.run("dd if=/dev/urandom of=/files/made.bin bs=1024 count=1536 2>/dev/null; sync", 60_000);
      await page.getByRole("button", { name: "Show files in /files" }).click();
      const downloading = page.waitForEvent("download");
      await page.getByRole("button", { name: "Download made.bin" }).click();
      const download = await downloading;
      expect(download.suggestedFilename()).toBe("made.bin");
      const data = new Uint8Array(readFileSync(await download.path()));
      expect(data.length).toBe(1536 * 1024);
      await waitForTransfer(page, "#local-vm");
      await shell.run("sha256sum /files/made.bin");
      await shell.waitForText(`${sha256(data)}  /files/made.bin`);
      await context.close();
    },
    240_000,
  );

  it("refuses a file over 64 MiB with a clear message, and shows nothing in /files", async () => {
    const context = await app.browser.newContext();
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByRole("button", { name: "New VM" }).click();
    await waitForVmState(page, "running");
    const dir = mkdtempSync(join(tmpdir(), "spare-cycles-files-"));
    const huge = join(dir, "huge.iso");
    writeFileSync(huge, "");
    truncateSync(huge, 64 * 1024 * 1024 + 1);
    await page.locator("#vm-files input[type=file]").setInputFiles(huge);
    rmSync(dir, { recursive: true, force: true });
    await expect(waitForTransfer(page, "#local-vm")).rejects.toThrow(/files up to 64 MiB/);
    await page.getByRole("button", { name: "Show files in /files" }).click();
    await page.getByText("/files is empty").waitFor();
    await context.close();
  }, 120_000);
});

describe("files in and out of a VM in someone else's tab", () => {
  it.each(SCREENS)(
    "on %s: uploads a picked file to a remote VM and downloads one it made, SHA-256 equal",
    async (_screen, screen) => {
      const ownerCtx = await app.browser.newContext({ ...screen, acceptDownloads: true });
      const hostCtx = await app.browser.newContext();
      const host = await openInRoom(
        hostCtx,
        app.url,
        `${ROOM}-${screen === PHONE ? "phone" : "desktop"}`,
        "contribute",
      );
      await contribute(host);
      const owner = await openInRoom(
        ownerCtx,
        app.url,
        `${ROOM}-${screen === PHONE ? "phone" : "desktop"}`,
        "vms",
      );
      await waitForContributors(owner, 1);
      await createVm(owner, "files-vm", 60_000);
      await owner.getByRole("button", { name: "Open shell files-vm" }).click();
      const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
      await shell.waitForText("root@spare:~#", 30_000);

      const picked = new Uint8Array(randomBytes(1024 * 1024 + 3));
      await owner.locator("#remote-files input[type=file]").setInputFiles({
        name: "remote.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(picked),
      });
      expect(await waitForTransfer(owner, "#remote-shell")).toContain("/files/remote.bin");
      await shell.run("sha256sum /files/remote.bin", 60_000);
      await shell.waitForText(`${sha256(picked)}  /files/remote.bin`);

      await shell.run(
        "dd if=/dev/urandom of=/files/made-remote.bin bs=1024 count=700 2>/dev/null; sync",
        60_000,
      );
      await owner.locator("#remote-files").getByRole("button", { name: "Show files in /files" }).click();
      const downloading = owner.waitForEvent("download");
      await owner.getByRole("button", { name: "Download made-remote.bin" }).click();
      const data = new Uint8Array(readFileSync(await (await downloading).path()));
      expect(data.length).toBe(700 * 1024);
      await shell.run("sha256sum /files/made-remote.bin", 60_000);
      await shell.waitForText(`${sha256(data)}  /files/made-remote.bin`);
      await ownerCtx.close();
      await hostCtx.close();
    },
    300_000,
  );
});
