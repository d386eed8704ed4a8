// A host's browser killed outright, one browser process per peer (an owner and
// two contributors at full budget): a file is written, the host's whole process
// group is SIGKILLed 1.5 s later, and the VM must answer on the other
// contributor with the file. detect: kill to the owner's page leaving "running";
// answer: kill to the file's contents in the remote shell; lost_work_ms: the kill
// less the moment the newest checkpoint that counted (held by the owner or a
// replica, and recorded) was taken, as its host showed it just before the kill,
// an upper bound on the guest's work that did not survive.
import { type Browser, type BrowserServer, chromium, type Page } from "playwright-core";
import { chromiumLaunchOptions } from "../../tests/e2e/browser.ts";
import { earnAllowance, roomUrl } from "../../tests/e2e/remote-steps.ts";
import { type BenchContext, log } from "./context.ts";
import { runIn } from "./page-shell.ts";

interface PeerBrowser {
  page: Page;
  kill(): void;
  close(): Promise<void>;
}

async function peer(url: string): Promise<PeerBrowser> {
  const server: BrowserServer = await chromium.launchServer(chromiumLaunchOptions());
  const browser: Browser = await chromium.connect(server.wsEndpoint());
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  const pid = server.process().pid;
  let killed = false;
  return {
    page,
    kill() {
      killed = true;
      if (pid) process.kill(-pid, "SIGKILL");
    },
    async close() {
      if (!killed) await browser.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}

export async function failoverCrashBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  const room = `bench-crash-${Date.now()}`;
  const peers = [
    await peer(roomUrl(ctx.url, room, "contribute")),
    await peer(roomUrl(ctx.url, room, "contribute")),
  ];
  const ownerPeer = await peer(roomUrl(ctx.url, room, "vms"));
  try {
    for (const { page } of peers) {
      await page.locator("#contribute-budget").fill("100");
      await page.getByRole("button", { name: "Save limits" }).click();
      await page.getByRole("button", { name: "Contribute" }).click();
    }
    const owner = ownerPeer.page;
    await owner.waitForFunction(
      () => (document.querySelector("#net-peers")?.textContent?.match(/VM slots/g) ?? []).length >= 2,
      null,
      { timeout: 30_000 },
    );
    await earnAllowance(owner);
    await owner.getByLabel("VM name").fill("crash");
    await owner.getByRole("button", { name: "Create VM" }).click();
    await owner.locator('#my-vms-list tr[data-state="running"]').waitFor({ timeout: 90_000 });
    const firstHost = await owner.locator("#my-vms-list tr").first().getAttribute("data-host");
    const hosting = async (p: Page) =>
      Number((await p.locator("#contribute-status").getAttribute("data-hosting")) ?? "0");
    const host = (await hosting(peers[0]!.page)) === 1 ? peers[0]! : peers[1]!;
    await owner.getByRole("button", { name: "Open shell crash" }).click();
    await runIn(owner, "#remote-terminal", "", 1, { pollMs: 20 });
    await runIn(owner, "#remote-terminal", "echo crash-$((40+2)) > /root/crash.txt && sync", 2, {
      pollMs: 20,
    });
    await owner.waitForTimeout(1500); // the scenario: the crash comes 1.5 s after the write
    const shown = host.page.locator("#contribute-hosted tr[data-checkpoint-seq]").first();
    const num = async (name: string) => Number((await shown.getAttribute(name).catch(() => null)) ?? "NaN");
    const capturedAt =
      (await num("data-checkpoint-at")) -
      (await num("data-checkpoint-transfer-ms")) -
      (await num("data-checkpoint-save-ms"));
    const killedAt = Date.now();
    host.kill();
    await owner.waitForFunction(
      (first) => {
        const r = document.querySelector<HTMLElement>("#my-vms-list tr");
        return r?.dataset.state !== "running" || r.dataset.host !== first;
      },
      firstHost,
      { timeout: 60_000, polling: 20 },
    );
    const detect = Date.now() - killedAt;
    await owner.waitForFunction(
      (first) => {
        const r = document.querySelector<HTMLElement>("#my-vms-list tr");
        return r?.dataset.state === "running" && r.dataset.host !== first;
      },
      firstHost,
      { timeout: 60_000, polling: 20 },
    );
    await runIn(owner, "#remote-terminal", "cat /root/crash.txt", 3, { pollMs: 20 });
    const answer = Date.now() - killedAt;
    const text = (await owner.locator("#remote-terminal .xterm-rows").textContent()) ?? "";
    const survived = text.includes("crash-42");
    const lost = survived ? Math.max(0, killedAt - capturedAt) : killedAt - capturedAt;
    log(
      `crash failover: detect ${detect} ms, answer ${answer} ms, file survived ${survived}, lost ≤ ${lost} ms`,
    );
    return {
      failover_crash_ms: { detect, answer, lost_work_ms: Number.isFinite(lost) ? lost : null, survived },
    };
  } finally {
    for (const p of [...peers, ownerPeer]) await p.close();
  }
}
