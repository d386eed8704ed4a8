// The VM host (the code that runs inside the worker) driven directly in Node,
// against the real guest image served over HTTP by the real server.
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleTail, markCommand } from "../../core/guest/guest-console.ts";
import { guestSourceOf, parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { withTimeout } from "../../core/util/async.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import type { GuestSource, StateSource, VmHostEvents } from "../../worker/api.ts";
import { VmHost } from "../../worker/vm-host.ts";
import { eventually } from "../helpers/eventually.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const manifest = parseGuestManifest(
  JSON.parse(readFileSync(join(root, "public/guest/manifest.json"), "utf8")),
);
let server: SignalingServer;
let dir: string;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "spare-cycles-vmhost-"));
  symlinkSync(join(root, "public/guest"), join(dir, "guest"));
  symlinkSync(createRequire(import.meta.url).resolve("v86/build/v86.wasm"), join(dir, "v86.wasm"));
  server = createSignalingServer({ port: 0, staticDir: dir });
  await server.ready;
  base = server.address().url;
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function guest(): GuestSource {
  return guestSourceOf(manifest, (file) => `${base}/guest/${file.path}`, `${base}/v86.wasm`);
}

function imageState(sha256 = manifest.files.state.sha256): Extract<StateSource, { kind: "url" }> {
  const f = manifest.files.state;
  return {
    kind: "url",
    url: `${base}/guest/${f.path}`,
    sha256,
    bytes: f.bytes,
    transcript: manifest.consoleTranscript,
    label: "The image's state",
  };
}

/** A started host with its console. */
async function startHost(states: StateSource[], budgetPct = 100) {
  const host = new VmHost();
  const tail = new ConsoleTail();
  const stages = new Set<string>();
  const events: VmHostEvents = {
    output: (bytes) => tail.push(bytes),
    progress: (p) => stages.add(p.stage),
  };
  const result = await host.start({ guest: guest(), states, budgetPct }, events);
  let nonce = 1;
  const run = async (command: string, timeoutMs = 30_000) => {
    const from = tail.end;
    const marked = markCommand(command, nonce++);
    host.input(new TextEncoder().encode(marked.line));
    const at = await withTimeout(tail.waitFor(marked.done, from), timeoutMs, command);
    return tail.since(from).slice(0, at - from);
  };
  return { host, tail, result, stages, run };
}

describe("VmHost", () => {
  it("restores the image's state and answers in the shell", async () => {
    const { host, tail, result, stages, run } = await startHost([imageState()]);
    expect(result).toMatchObject({ mode: "restored", restoredIndex: 0, problems: [] });
    expect([...stages]).toEqual(expect.arrayContaining(["download", "restore"]));
    expect(tail.recent()).toContain("root@spare:~#"); // the transcript was replayed
    expect(await run("echo hello-$((6*7))")).toContain("hello-42");
    await host.destroy();
    expect(host.stats().phase).toBe("destroyed");
  });

  it("snapshots a VM that restores elsewhere with its files", async () => {
    const first = await startHost([imageState()]);
    await first.run("echo snap-$((20+3)) > /root/f");
    const snapshot = await first.host.snapshot();
    await first.host.destroy();
    expect(new Uint8Array(snapshot.state).subarray(0, 2)).toEqual(new Uint8Array([0x1f, 0x8b]));
    expect(snapshot.transcript).toContain("snap-");
    const second = await startHost([
      { kind: "bytes", bytes: snapshot.state, transcript: snapshot.transcript, label: "The snapshot" },
    ]);
    expect(second.result.restoredIndex).toBe(0);
    expect(await second.run("cat /root/f")).toContain("snap-23");
    await second.host.destroy();
  });

  it("saves as a small delta against the image, which restores with its files", async () => {
    const first = await startHost([imageState()]);
    await first.run("echo delta-$((20+4)) > /root/f && sync");
    const saved = await first.host.snapshot(imageState());
    await first.host.destroy();
    expect(saved.encoding).toBe("delta-gzip");
    // Well under the whole state gzipped (about 10 MB).
    expect(saved.state.byteLength).toBeLessThan(2_000_000);
    const second = await startHost([
      { kind: "delta", bytes: saved.state, base: imageState(), transcript: saved.transcript, label: "Saved" },
    ]);
    expect(second.result.restoredIndex).toBe(0);
    expect(await second.run("cat /root/f")).toContain("delta-24");
    await second.host.destroy();
  });

  it("passes over a delta that is damaged, and says why", async () => {
    const first = await startHost([imageState()]);
    const saved = await first.host.snapshot(imageState());
    await first.host.destroy();
    const damaged = new Uint8Array(saved.state.slice(0));
    damaged[damaged.length - 12]! ^= 0xff; // inside the gzip stream, before its checksum
    const { host, result } = await startHost([
      { kind: "delta", bytes: damaged.buffer, base: imageState(), transcript: "", label: "Your saved VM" },
      imageState(),
    ]);
    expect(result.restoredIndex).toBe(1);
    expect(result.problems[0]).toMatch(/^Your saved VM would not load/);
    await host.destroy();
  });

  it("restores the likely state ahead in prepare, and starts another state cleanly", async () => {
    const first = await startHost([imageState()]);
    await first.run("echo other-$((30+3)) > /root/g");
    const other = await first.host.snapshot();
    await first.host.destroy();

    const ahead = new VmHost();
    await ahead.prepare(guest(), imageState());
    const tail = new ConsoleTail();
    const result = await ahead.start(
      { guest: guest(), states: [imageState()], budgetPct: 100 },
      { output: (bytes) => tail.push(bytes), progress: () => {} },
    );
    expect(result.timingsMs.preparedMs).toBeDefined();
    expect(result.timingsMs.stateMs).toBeUndefined(); // nothing left to download or unpack
    const marked = markCommand("echo ahead-$((6*7))", 1);
    ahead.input(new TextEncoder().encode(marked.line));
    await withTimeout(tail.waitFor(marked.done), 30_000, "the prepared VM");
    expect(tail.recent()).toContain("ahead-42");
    await ahead.destroy();

    // Prepared for the image, started from another state: that state, not a mix.
    const elsewhere = new VmHost();
    await elsewhere.prepare(guest(), imageState());
    const tail2 = new ConsoleTail();
    await elsewhere.start(
      {
        guest: guest(),
        states: [{ kind: "bytes", bytes: other.state, transcript: "", label: "other" }],
        budgetPct: 100,
      },
      { output: (bytes) => tail2.push(bytes), progress: () => {} },
    );
    const cat = markCommand("cat /root/g", 2);
    elsewhere.input(new TextEncoder().encode(cat.line));
    await withTimeout(tail2.waitFor(cat.done), 30_000, "the other state");
    expect(tail2.recent()).toContain("other-33");
    await elsewhere.destroy();
  });

  it("passes over a state that will not load, and says why", async () => {
    const broken: StateSource = {
      kind: "bytes",
      bytes: new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]).buffer,
      transcript: "",
      label: "Your saved VM",
    };
    const { host, result, run } = await startHost([broken, imageState()]);
    expect(result.mode).toBe("restored");
    expect(result.restoredIndex).toBe(1);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/^Your saved VM would not load/);
    expect(await run("echo ok-$((1+1))")).toContain("ok-2");
    await host.destroy();
  });

  it("says why every way of starting failed when none works", async () => {
    const host = new VmHost();
    const missing: StateSource = { ...imageState(), url: `${base}/guest/missing.bin.gz` };
    const cold = { ...guest().cold, biosUrl: `${base}/guest/missing-bios.bin` };
    const failure = host.start(
      { guest: { ...guest(), cold }, states: [missing], budgetPct: 100 },
      { output: () => {}, progress: () => {} },
    );
    await expect(failure).rejects.toThrow(
      /The image's state would not load.*404.*booting from scratch failed.*missing-bios/,
    );
    expect(host.stats().phase).toBe("failed");
  });

  it("pauses: the guest executes nothing until resumed", async () => {
    const { host, run } = await startHost([imageState()]);
    await run("");
    await host.pause();
    const before = host.stats().instructions;
    // An observation window: nothing to wait for, since nothing may happen.
    await new Promise((r) => setTimeout(r, 600));
    expect(host.stats().instructions).toBe(before);
    expect(host.stats().phase).toBe("paused");
    await host.resume();
    expect(await run("echo back-$((5+5))")).toContain("back-10");
    expect(host.stats().instructions).toBeGreaterThan(before);
    await host.destroy();
  });

  it("holds a busy guest near its CPU budget", async () => {
    const { host, run } = await startHost([imageState()], 30);
    host.input(new TextEncoder().encode("while :; do :; done &\r"));
    await run("");
    // Four seconds of governed time (the governor's own account, which a busy test machine cannot
    // shorten the way it can stall a timer), so the usage is an average over whole report windows.
    const from = host.stats().wallMs;
    await eventually("4 s under the governor", () => host.stats().wallMs - from >= 4000, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const stats = host.stats();
    expect(stats.budgetPct).toBe(30);
    expect(stats.usedPct).toBeGreaterThan(20);
    expect(stats.usedPct).toBeLessThan(40);
    await host.destroy();
  });

  it("boots from scratch when the image's state fails its checksum", async () => {
    const { host, result, stages, run } = await startHost([imageState("0".repeat(64))]);
    expect(result.mode).toBe("cold-boot");
    expect(result.problems[0]).toMatch(/corrupt/);
    expect(stages.has("boot")).toBe(true);
    expect(await run("echo cold-$((3*3))", 60_000)).toContain("cold-9");
    await host.destroy();
  }, 240_000);
});
