// The headless contributor as a real process, without a browser: it tells the
// user how to run it, refuses nonsense, gives up with a clear message when the
// server cannot be reached, and once joined runs every thread at nice 19 (and
// its session's autogroup, where Linux has them).
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ContributorProcess } from "../../scripts/contribute-process.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { eventually } from "../helpers/eventually.ts";

const started: ContributorProcess[] = [];
let server: SignalingServer | null = null;

afterAll(async () => {
  for (const c of started) await c.stop(5000);
  await server?.close();
});

function contributor(args: string[]): ContributorProcess {
  const c = new ContributorProcess(args);
  started.push(c);
  return c;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe("the headless contributor's command", () => {
  it("prints its usage with --help and exits 0", async () => {
    const c = contributor(["--help"]);
    expect((await c.exited).code).toBe(0);
    expect(c.lines.join("\n")).toMatch(/--server URL[\s\S]*--budget PCT[\s\S]*--slots N[\s\S]*--memory MIB/);
  });

  it("refuses a budget over 100 % with a message and the usage", async () => {
    const c = contributor(["--server", "ws://127.0.0.1:1/signal", "--budget", "500"]);
    expect((await c.exited).code).toBe(64);
    expect(c.stderr).toMatch(/--budget must be a whole number from 1 to 100/);
  });

  it("exits non-zero with a clear message when the server cannot be reached", async () => {
    const port = await closedPort();
    const c = contributor(["--server", `ws://127.0.0.1:${port}/signal`, "--connect-timeout", "2"]);
    const exit = await c.exited;
    expect(exit.code).toBe(69);
    expect(c.stderr).toMatch(
      new RegExp(`cannot reach the server at ws://127\\.0\\.0\\.1:${port}/signal after 2 s`),
    );
  });

  it("joins a room and runs every one of its threads at nice 19", async () => {
    server = createSignalingServer({ port: 0 });
    await server.ready;
    const c = contributor([
      "--server",
      server.address().url,
      "--room",
      "headless-nice",
      "--connect-timeout",
      "20",
    ]);
    await c.waitForLine(/offering 2 VM slots/, 30_000);
    const nices = c.threadNices();
    // Node's own threads (libuv, V8's platform, the loader, WebRTC's) are there, each at 19.
    expect(nices.size).toBeGreaterThan(5);
    expect([...nices.entries()].filter(([, n]) => n !== 19)).toEqual([]);
    // Where the scheduler shares the CPU by session first, the hosting process has a session
    // of its own, at nice 19 too (else it would take that session's fair share).
    const groups = c.autogroupNices();
    if (groups.size > 0) expect(groups.get(c.hostPid())).toBe(19);
    const exit = await c.stop();
    expect(exit.code).toBe(0);
    expect(c.lines.at(-1)).toMatch(/stopped: 0 VM\(s\) handed over/);
  });

  it("stops hosting by itself when the process that started it is killed outright", async () => {
    server ??= createSignalingServer({ port: 0 });
    await server.ready;
    const c = contributor(["--server", server.address().url, "--room", "headless-orphan"]);
    await c.waitForLine(/offering 2 VM slots/, 30_000);
    const host = c.hostPid();
    // Only where it started again in a session of its own is there a separate hosting process.
    if (host === c.pid) return;
    c.signal("SIGKILL");
    await eventually("the hosting process is gone", () => !existsSync(`/proc/${host}`), {
      timeoutMs: 20_000,
    });
  });

  it("with --data keeps its identity across a restart, readable only by its owner", async () => {
    server ??= createSignalingServer({ port: 0 });
    await server.ready;
    const dir = mkdtempSync(join(tmpdir(), "spare-cycles-data-"));
    try {
      const args = ["--server", server.address().url, "--room", "headless-data", "--data", dir];
      const first = contributor(args);
      const joined = await first.waitForLine(/joined room/, 30_000);
      expect(joined).toContain(`new, kept in ${dir}`);
      expect((await first.stop()).code).toBe(0);
      const id = /as ([0-9a-f]{10})/.exec(joined)?.[1];
      expect(statSync(join(dir, "identity.json")).mode & 0o777).toBe(0o600);
      expect(readdirSync(dir).sort()).toEqual(["identity.json", "replicas", "state"]);

      const second = contributor(args);
      const again = await second.waitForLine(/joined room/, 30_000);
      expect(again).toContain(`as ${id}, kept in ${dir}`);
      expect((await second.stop()).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
