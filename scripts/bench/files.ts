// Files into and out of a VM through the app as people move them (web/file-panel.ts):
// a 4 MiB file picked on the page until it is in the guest's /files, and the
// same file from /files until the browser has it, for the VM on this device and
// for one in a contributor's tab (over the mesh, through the open shell). The
// download is of the uploaded file, not one the guest writes: the transfer does
// not depend on the guest running, and a remote guest with 4 MiB more in /files
// has stalled for minutes here while its bigger checkpoints took its budget.
import { randomBytes } from "node:crypto";
import type { Page } from "playwright-core";
import { earnAllowance, roomUrl } from "../../tests/e2e/remote-steps.ts";
import { type BenchContext, log, median, round } from "./context.ts";
import { runIn } from "./page-shell.ts";

const FILE_MIB = 4;
const RUNS = 3;
/** Fewer remotely: each 4 MiB in /files makes every checkpoint of the VM 4 MiB bigger. */
const REMOTE_RUNS = 2;
const ROOM = `bench-files-${Date.now()}`;

async function transferDone(page: Page, scope: string): Promise<void> {
  await page
    .locator(`${scope} .files:is([data-transfer="done"], [data-transfer="failed"])`)
    .waitFor({ timeout: 120_000 });
  const state = await page.locator(`${scope} .files`).getAttribute("data-transfer");
  if (state !== "done")
    throw new Error((await page.locator(`${scope} .files`).getByRole("status").textContent()) ?? "failed");
}

/** MiB/s of uploads and downloads through the file panel in `scope`. */
async function measure(page: Page, scope: string, runs: number): Promise<{ up: number; down: number }> {
  const panel = page.locator(`${scope} .files`);
  const ups: number[] = [];
  const downs: number[] = [];
  for (let run = 0; run < runs; run++) {
    const buffer = randomBytes(FILE_MIB * 1024 * 1024);
    const t0 = performance.now();
    await panel.locator("input[type=file]").setInputFiles({
      name: `up-${run}.bin`,
      mimeType: "application/octet-stream",
      buffer,
    });
    // The status leaves "done" when the next transfer starts; wait for this one's name.
    await panel
      .getByRole("status")
      .filter({ hasText: `/files/up-${run}.bin` })
      .waitFor({ timeout: 120_000 });
    await transferDone(page, scope);
    ups.push(FILE_MIB / ((performance.now() - t0) / 1000));

    await panel.getByRole("button", { name: "Show files in /files" }).click();
    const button = panel.getByRole("button", { name: `Download up-${run}.bin` });
    await button.waitFor();
    const downloading = page.waitForEvent("download", { timeout: 180_000 });
    const t1 = performance.now();
    await button.click();
    await downloading;
    await panel
      .getByRole("status")
      .filter({ hasText: `Downloaded /files/up-${run}.bin` })
      .waitFor({ timeout: 120_000 });
    downs.push(FILE_MIB / ((performance.now() - t1) / 1000));
    log(
      `files ${scope} run ${run}: upload ${round(ups.at(-1)!, 1)} MiB/s, download ${round(downs.at(-1)!, 1)} MiB/s`,
    );
  }
  return { up: median(ups), down: median(downs) };
}

export async function filesBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  const local = await ctx.newPage();
  await local.locator("#vm-budget").fill("100");
  await local.getByRole("button", { name: "New VM" }).click();
  await local.locator('#local-vm[data-state="running"]').waitFor({ timeout: 60_000 });
  await runIn(local, "#vm-terminal", "", 1, { timeoutMs: 30_000 });
  const localRates = await measure(local, "#local-vm", RUNS);
  await local.context().close();
  log(`files local: upload ${round(localRates.up, 1)} MiB/s, download ${round(localRates.down, 1)} MiB/s`);

  const host = await ctx.newPage(roomUrl("", ROOM, "contribute"));
  await host.locator("#contribute-budget").fill("100");
  await host.getByRole("button", { name: "Save limits" }).click();
  await host.getByRole("button", { name: "Contribute" }).click();
  const owner = await ctx.newPage(roomUrl("", ROOM, "vms"));
  await owner.waitForFunction(
    () => (document.querySelector("#net-peers")?.textContent?.match(/VM slots/g) ?? []).length >= 1,
    null,
    { timeout: 60_000 },
  );
  await earnAllowance(owner);
  await owner.getByLabel("VM name").fill("bench-files");
  await owner.getByRole("button", { name: "Create VM" }).click();
  await owner.locator('#my-vms-list tr[data-state="running"]').waitFor({ timeout: 60_000 });
  await owner.getByRole("button", { name: "Open shell bench-files" }).click();
  await runIn(owner, "#remote-terminal", "", 2, { timeoutMs: 30_000 });
  const remoteRates = await measure(owner, "#remote-shell", REMOTE_RUNS).catch((err: Error) => {
    log(`files remote failed: ${err.message}`);
    return { up: Number.NaN, down: Number.NaN };
  });
  log(`files remote: upload ${round(remoteRates.up, 1)} MiB/s, download ${round(remoteRates.down, 1)} MiB/s`);
  await owner.context().close();
  await host.context().close();

  return {
    files: {
      file_mib: FILE_MIB,
      upload_mib_per_s_local: round(localRates.up, 2),
      download_mib_per_s_local: round(localRates.down, 2),
      upload_mib_per_s_remote: round(remoteRates.up, 2),
      download_mib_per_s_remote: round(remoteRates.down, 2),
    },
  };
}
