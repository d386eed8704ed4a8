// The headless contributor's command line and log, without starting it: what
// the user types becomes the right settings (or a clear refusal), and the log
// says one readable line per thing that happened to a hosted VM.
import { describe, expect, it } from "vitest";
import { parseCommandLine, signalingUrlOf } from "../../contributor/cli-options.ts";
import { HostLog } from "../../contributor/host-log.ts";
import type { HostedVm } from "../../core/vm/host-runtime.ts";

describe("the headless contributor's command line", () => {
  it("takes the server as a signaling URL or as the server's web address", () => {
    expect(signalingUrlOf("http://box:8080")).toBe("ws://box:8080/signal");
    expect(signalingUrlOf("https://spare.example")).toBe("wss://spare.example/signal");
    expect(signalingUrlOf("ws://box:8080/signal")).toBe("ws://box:8080/signal");
    expect(() => signalingUrlOf("ftp://box")).toThrow(/ws\(s\):\/\/ or http\(s\):\/\//);
    expect(() => signalingUrlOf("box:8080")).toThrow();
  });

  it("takes several instances of the server as a comma-separated list, one URL as before", () => {
    expect(parseCommandLine(["--server", "http://a:8080, ws://b:8081/signal,"])).toMatchObject({
      ok: true,
      options: { serverUrl: "ws://a:8080/signal", serverUrls: ["ws://a:8080/signal", "ws://b:8081/signal"] },
    });
    expect(parseCommandLine(["--server", "http://a:8080"])).toMatchObject({
      ok: true,
      options: { serverUrl: "ws://a:8080/signal", serverUrls: ["ws://a:8080/signal"] },
    });
    expect(parseCommandLine(["--server", "http://a:8080,box:1"])).toMatchObject({ ok: false });
    expect(parseCommandLine(["--server", ","])).toMatchObject({ ok: false, error: "--server is required" });
  });

  it("has defaults for all but the server, and refuses what makes no sense", () => {
    const parsed = parseCommandLine(["--server", "http://box:8080"]);
    expect(parsed).toMatchObject({
      ok: true,
      options: {
        room: "main",
        budgetPct: 50,
        slots: 2,
        memoryMiB: 1024,
        stampBits: undefined,
        dataDir: null,
        allowOutbound: false,
        relayOnly: false,
        bandwidthCapKiBps: null,
      },
    });
    expect(parseCommandLine(["--server", "ws://x/signal", "--relay-only"])).toMatchObject({
      ok: true,
      options: { relayOnly: true },
    });
    expect(
      parseCommandLine(["--server", "ws://x/signal", "--allow-outbound", "--bandwidth", "512"]),
    ).toMatchObject({ ok: true, options: { allowOutbound: true, bandwidthCapKiBps: 512 } });
    expect(parseCommandLine(["--server", "ws://x/signal", "--bandwidth", "0"])).toMatchObject({ ok: false });
    expect(parseCommandLine([])).toMatchObject({ ok: false, error: "--server is required" });
    expect(parseCommandLine(["--server", "ws://x/signal", "--slots", "0"])).toMatchObject({ ok: false });
    expect(parseCommandLine(["--server", "ws://x/signal", "--budget", "12.5"])).toMatchObject({ ok: false });
    expect(parseCommandLine(["--server", "ws://x/signal", "--bogus"])).toMatchObject({ ok: false });
    expect(parseCommandLine(["--help"])).toMatchObject({ ok: false, help: true });
  });
});

describe("the hosting log", () => {
  const vm = (over: Partial<HostedVm>): HostedVm => ({
    vmId: "0123456789abcdef",
    owner: "fedcba9876543210",
    name: "web",
    epoch: 1,
    state: "restoring",
    detail: "",
    startedAtMs: 0,
    lastCheckpoint: null,
    payment: null,
    outbound: false,
    diskBytes: null,
    ...over,
  });

  it("logs each change once: taken on, running, a checkpoint, the payment, gone with what it was paid", () => {
    const lines: string[] = [];
    const log = new HostLog((l) => lines.push(l));
    log.update([vm({})]);
    log.update([vm({})]);
    log.update([vm({ state: "running" })]);
    const checkpoint = { seq: 1, atMs: 0, bytes: 40_960, saveMs: 120, transferMs: 30, overheadPct: 1 };
    log.update([vm({ state: "running", lastCheckpoint: checkpoint })]);
    const paid = { state: "paid" as const, meteredMilli: 10, paidMilli: 10, budgetFactor: 1, reason: "" };
    const late = { ...paid, state: "throttled" as const, reason: "receipts 30 s behind" };
    log.update([vm({ state: "running", lastCheckpoint: checkpoint, payment: paid })]);
    log.update([vm({ state: "running", lastCheckpoint: checkpoint, payment: late })]);
    log.update([vm({ state: "running", lastCheckpoint: checkpoint, payment: { ...late, paidMilli: 1234 } })]);
    log.update([]);
    expect(lines).toEqual([
      'hosting VM "web" (0123456789, owner fedcba9876, epoch 1): restoring',
      'VM "web" (0123456789, owner fedcba9876, epoch 1): running',
      'VM "web" (0123456789, owner fedcba9876, epoch 1): checkpoint 1 kept (40 KiB, saved in 120 ms, sent in 30 ms)',
      'VM "web" (0123456789, owner fedcba9876, epoch 1): payment paid',
      'VM "web" (0123456789, owner fedcba9876, epoch 1): payment throttled (receipts 30 s behind)',
      'no longer hosting VM "web" (0123456789, owner fedcba9876, epoch 1), paid 1.234 credits',
    ]);
  });
});
