// Issue 4's numbers, through the app as people use it (three browser contexts:
// an owner and two contributors): keystroke-to-echo in the local shell and in the
// remote shell, the size and cost of a checkpoint of an idle guest, and how long
// the shell is gone when the host's page closes.
import type { Page } from "playwright-core";
import { earnAllowance, roomUrl } from "../../tests/e2e/remote-steps.ts";
import { type BenchContext, log, percentile, round } from "./context.ts";
import { failoverCrashBench } from "./failover-crash.ts";
import { echoTimes, runIn } from "./page-shell.ts";

const ROOM = `bench-remote-${Date.now()}`;
const KEYSTROKES = 100;

async function hosting(page: Page): Promise<number> {
  return Number((await page.locator("#contribute-status").getAttribute("data-hosting")) ?? "0");
}

export async function remoteBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  // Local shell: the device page's VM at full budget.
  const local = await ctx.newPage();
  await local.locator("#vm-budget").fill("100");
  await local.getByRole("button", { name: "New VM" }).click();
  await local.locator('#local-vm[data-state="running"]').waitFor({ timeout: 60_000 });
  await runIn(local, "#vm-terminal", "", 1, { timeoutMs: 30_000 });
  const localTimes = await echoTimes(local, "#vm-terminal", KEYSTROKES);
  await local.context().close();
  log(
    `local echo p50 ${round(percentile(localTimes, 50), 1)} ms p95 ${round(percentile(localTimes, 95), 1)} ms`,
  );

  // Two contributors at full budget, and an owner.
  const contributors: Page[] = [];
  for (let i = 0; i < 2; i++) {
    const page = await ctx.newPage(roomUrl("", ROOM, "contribute"));
    await page.locator("#contribute-budget").fill("100");
    await page.getByRole("button", { name: "Save limits" }).click();
    await page.getByRole("button", { name: "Contribute" }).click();
    contributors.push(page);
  }
  const owner = await ctx.newPage(roomUrl("", ROOM, "vms"));
  await owner.waitForFunction(
    () => (document.querySelector("#net-peers")?.textContent?.match(/VM slots/g) ?? []).length >= 2,
    null,
    { timeout: 30_000 },
  );
  await earnAllowance(owner);
  await owner.getByLabel("VM name").fill("bench");
  await owner.getByRole("button", { name: "Create VM" }).click();
  await owner.locator('#my-vms-list tr[data-state="running"]').waitFor({ timeout: 60_000 });
  await owner.getByRole("button", { name: "Open shell bench" }).click();
  await runIn(owner, "#remote-terminal", "", 2, { timeoutMs: 30_000 });
  const remoteTimes = await echoTimes(owner, "#remote-terminal", KEYSTROKES);
  log(
    `remote echo p50 ${round(percentile(remoteTimes, 50), 1)} ms p95 ${round(percentile(remoteTimes, 95), 1)} ms`,
  );

  // The first checkpoint of the idle guest, as its host measured it.
  const host = (await hosting(contributors[0]!)) === 1 ? contributors[0]! : contributors[1]!;
  const other = host === contributors[0] ? contributors[1]! : contributors[0]!;
  const row = host.locator("#contribute-hosted tr[data-checkpoint-seq]").first();
  await row.waitFor({ timeout: 60_000 });
  const checkpoint = {
    bytes: Number(await row.getAttribute("data-checkpoint-bytes")),
    save_ms: Number(await row.getAttribute("data-checkpoint-save-ms")),
    transfer_ms: Number(await row.getAttribute("data-checkpoint-transfer-ms")),
  };
  log(`checkpoint ${JSON.stringify(checkpoint)}`);

  // Failover: the host's page closes; time until the shell answers on the other contributor.
  const checkpointAt = Number(await row.getAttribute("data-checkpoint-at"));
  const t0 = performance.now();
  const closedAtMs = Date.now();
  await host.close({ runBeforeUnload: true });
  await other.locator('#contribute-status[data-hosting="1"]').waitFor({ timeout: 60_000 });
  await owner.locator('#my-vms-list tr[data-state="running"][data-epoch="2"]').waitFor({ timeout: 60_000 });
  await runIn(owner, "#remote-terminal", "echo back", 3, { timeoutMs: 60_000 });
  const failoverMs = performance.now() - t0;
  log(`failover ${Math.round(failoverMs)} ms (checkpoint age at close ${closedAtMs - checkpointAt} ms)`);
  // What checkpoints take of the VM's budget while its guest is busy (output every 0.1 s for
  // 20 s), on the host it moved to: after the failover, so a busy guest does not age the
  // checkpoint that failover restores.
  await runIn(owner, "#remote-terminal", "for i in $(seq 1 200); do echo tick $i; sleep 0.1; done", 4, {
    timeoutMs: 90_000,
  });
  const busyRow = other.locator("#contribute-hosted tr[data-checkpoint-seq]").first();
  const overheadPct = Number(await busyRow.getAttribute("data-checkpoint-overhead-pct"));
  log(
    `busy for 20 s: checkpoint #${await busyRow.getAttribute("data-checkpoint-seq")}, overhead ${overheadPct}% of the budget`,
  );
  await owner.context().close();
  await other.context().close();

  return {
    remote_shell_rtt_ms: {
      local_p50: round(percentile(localTimes, 50), 1),
      local_p95: round(percentile(localTimes, 95), 1),
      remote_p50: round(percentile(remoteTimes, 50), 1),
      remote_p95: round(percentile(remoteTimes, 95), 1),
    },
    checkpoint: { ...checkpoint, overhead_pct: overheadPct },
    failover_ms: Math.round(failoverMs),
    failover_checkpoint_age_ms: closedAtMs - checkpointAt,
    ...(await failoverCrashBench(ctx)),
  };
}
