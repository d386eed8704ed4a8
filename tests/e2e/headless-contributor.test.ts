// The headless contributor as a real process (node on the bin script, as `npm
// run contribute` starts it) hosting a VM that a browser created: the owner's
// shell works, every thread of the contributor is at nice 19 (read from /proc,
// not from its own log), and SIGTERM hands the VM over to a second headless
// contributor with the file written just before.
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContributorProcess } from "../../scripts/contribute-process.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { distDir, Shell } from "./harness.ts";
import { launchPeerBrowser, type PeerBrowser } from "./peer-browsers.ts";
import { createVm, roomUrl, TEST_CREDIT_PARAMS, waitForContributors } from "./remote-steps.ts";

const ROOM = "e2e-headless";
/** The stamp's difficulty, lowered for the test on both sides (as TEST_CREDIT_PARAMS does for pages). */
const STAMP_BITS = Number(new URLSearchParams(TEST_CREDIT_PARAMS).get("stampBits"));
let server: SignalingServer;
let browser: PeerBrowser;
const contributors: ContributorProcess[] = [];

beforeAll(async () => {
  server = createSignalingServer({ port: 0, staticDir: distDir });
  await server.ready;
  browser = await launchPeerBrowser();
});

afterAll(async () => {
  for (const c of contributors) await c.stop(5000);
  await browser?.close();
  await server?.close();
});

/** Starts a headless contributor and waits until it offers its slots; returns it and its peer address. */
async function startContributor(name: string): Promise<{ c: ContributorProcess; address: string }> {
  const c = new ContributorProcess(
    [
      ...["--server", server.address().url, "--room", ROOM, "--name", name],
      ...["--budget", "50", "--slots", "1", "--stamp-bits", String(STAMP_BITS), "--connect-timeout", "60"],
    ],
    // Without tsx's compile cache, as on a fresh checkout: tsx then starts its esbuild service
    // (a child process) before any contributor code runs, and that child must be at nice 19 too.
    { echo: name, env: { TSX_DISABLE_CACHE: "1" } },
  );
  contributors.push(c);
  // At nice 19 it gets only what the machine's other work leaves: on a busy machine, starting is slow.
  const joined = await c.waitForLine(/joined room/, 90_000);
  await c.waitForLine(/offering 1 VM slots/, 30_000);
  const address = /\(([^()]+)\)$/.exec(joined)?.[1] ?? "";
  return { c, address };
}

const row = (owner: Page) => owner.locator("#my-vms-list tr").first();

describe("the headless contributor", () => {
  it("hosts a browser's VM at nice 19 on every thread, and SIGTERM moves it with its files", async () => {
    const first = await startContributor("headless-a");
    const threadsIdle = first.c.threadNices().size;

    const owner = await browser.context.newPage();
    await owner.goto(roomUrl(`${server.address().url}/`, ROOM, "vms"));
    await waitForContributors(owner, 1);
    await createVm(owner, "headless-vm", 90_000).catch(async (err) => {
      console.log(`My VMs: ${await owner.locator("#my-vms-list").textContent()}`);
      throw err;
    });
    expect(await row(owner).getAttribute("data-host")).toBe(first.address);
    await first.c.waitForLine(/VM "headless-vm" .*: running/, 30_000);

    await owner.getByRole("button", { name: "Open shell headless-vm" }).click();
    const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 60_000);
    await shell.type("echo hello-$((6*7))");
    await shell.waitForText("hello-42");

    // Every thread, the VM's own among them, at nice 19: from /proc, not from the contributor's word.
    const nices = first.c.threadNices();
    console.log(
      `headless contributor: ${threadsIdle} threads idle, ${nices.size} hosting, nice ${[...new Set(nices.values())]}`,
    );
    expect(nices.size).toBeGreaterThan(threadsIdle);
    expect([...nices.entries()].filter(([, n]) => n !== 19)).toEqual([]);

    // A second contributor joins; a file is written; the first is told to stop.
    const second = await startContributor("headless-b");
    await waitForContributors(owner, 2);
    await shell.run("echo moved-$((40+2)) > /root/moved.txt && sync");
    const stoppedAt = Date.now();
    first.c.signal("SIGTERM");
    const exit = await first.c.exited;
    console.log(`SIGTERM to exit: ${Date.now() - stoppedAt} ms`);
    expect(exit.code).toBe(0);
    // Its last word on the VM is a checkpoint taken after the signal (the file is in it).
    const afterSignal = first.c.lines.slice(first.c.lines.findIndex((l) => /SIGTERM: handing over/.test(l)));
    expect(afterSignal.join("\n")).toMatch(/VM "headless-vm" .*: checkpoint \d+ kept/);

    await owner.waitForFunction(
      (to) => {
        const r = document.querySelector<HTMLElement>("#my-vms-list tr");
        return r?.dataset.state === "running" && r.dataset.host === to;
      },
      second.address,
      { timeout: 60_000, polling: 100 },
    );
    console.log(`SIGTERM to running on the second contributor: ${Date.now() - stoppedAt} ms`);
    expect(await row(owner).getAttribute("data-epoch")).toBe("2");
    await second.c.waitForLine(/VM "headless-vm" .*epoch 2\): running/, 30_000);
    await shell.run("cat /root/moved.txt", 60_000);
    expect(await shell.text()).toContain("moved-42");
  }, 420_000);
});
