// The "This device" page without a browser: a fake worker and a manual clock
// stand in for the VM host worker and time.
import { describe, expect, it } from "vitest";
import { type SavedVm, SavedVmStore } from "../../core/guest/saved-vm.ts";
import { MemoryStore } from "../../core/state/storage.ts";
import { ManualClock } from "../../core/util/clock.ts";
import { BUDGET_KEY, CACHE_DELAY_MS, LocalVmController } from "../../web/local-vm/controller.ts";
import { RETRY_AFTER_FAILURE_MS } from "../../web/local-vm/saver.ts";
import type { LocalVmGuest, LocalVmWorker } from "../../web/local-vm/worker-port.ts";
import type {
  BaseSource,
  GuestSource,
  StartRequest,
  StartResult,
  StateSource,
  VmHostEvents,
  VmSnapshot,
  VmStats,
} from "../../worker/api.ts";

const EPOCH = Date.UTC(2025, 0, 2, 3, 4, 5);

const guestSource = { wasmUrl: "https://app.example/v86.wasm" } as GuestSource;
const imageState: StateSource = {
  kind: "url",
  url: "https://app.example/guest/state.bin.gz",
  sha256: "0".repeat(64),
  bytes: 1000,
  transcript: "",
  label: "The image's saved state",
};

/** Lets every pending promise callback run (no time passes). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

class FakeWorker implements LocalVmWorker {
  request: StartRequest | null = null;
  events: VmHostEvents | null = null;
  prepared = false;
  disposed = false;
  paused = false;
  snapshots = 0;
  /** The base each snapshot was asked to be a delta against. */
  snapshotBases: (BaseSource | undefined)[] = [];
  /** While set, snapshots wait for it (a save under way). */
  snapshotGate: Promise<void> | null = null;
  inputs: Uint8Array[] = [];
  budgets: number[] = [];
  private answer: { resolve(r: StartResult): void; reject(e: Error): void } | null = null;

  readonly api = {
    input: async (bytes: Uint8Array) => {
      this.inputs.push(bytes);
    },
    snapshot: async (base?: BaseSource): Promise<VmSnapshot> => {
      this.snapshots++;
      this.snapshotBases.push(base);
      const n = this.snapshots;
      await this.snapshotGate;
      const state = new Uint8Array([n, 2, 3]).buffer;
      return {
        state,
        encoding: base ? "delta-gzip" : "gzip",
        transcript: `saved #${n}`,
        rawBytes: 4096,
        saveMs: 1,
        compressMs: 1,
      };
    },
    pause: async () => {
      this.paused = true;
    },
    resume: async () => {
      this.paused = false;
    },
    setBudget: async (pct: number) => {
      this.budgets.push(pct);
    },
    stats: async (): Promise<VmStats> => ({
      phase: "running",
      budgetPct: 50,
      usedPct: 37,
      busyMs: 0,
      wallMs: 0,
      instructions: 1e6,
      diskBytes: 0,
      uptimeMs: 5000,
    }),
  };

  async prepare(): Promise<void> {
    this.prepared = true;
  }

  start(request: StartRequest, events: VmHostEvents): Promise<StartResult> {
    this.request = request;
    this.events = events;
    return new Promise((resolve, reject) => {
      this.answer = { resolve, reject };
    });
  }

  /** The worker reports that the state at `restoredIndex` loaded (null: booted from scratch). */
  finishStart(restoredIndex: number | null, problems: string[] = []): void {
    this.answer!.resolve({
      mode: restoredIndex === null ? "cold-boot" : "restored",
      restoredIndex,
      problems,
      loadMs: 800,
      timingsMs: { stateMs: 300 },
    });
  }

  failStart(message: string): void {
    this.answer!.reject(new Error(message));
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

function setUp(options: { saved?: SavedVm; budget?: number } = {}) {
  const clock = new ManualClock();
  const store = new MemoryStore();
  const saved = new SavedVmStore(store);
  const workers: FakeWorker[] = [];
  let cached = 0;
  const guest: LocalVmGuest = {
    imageId: "image-1",
    v86Version: "v86-1",
    source: () => guestSource,
    imageState: () => imageState,
    keepCached: async () => {
      cached++;
      return true;
    },
  };
  const controller = new LocalVmController({
    createWorker: () => {
      const w = new FakeWorker();
      workers.push(w);
      return w;
    },
    clock,
    wallMs: () => EPOCH + clock.nowMs(),
    saved,
    settings: store,
    guest,
  });
  let changes = 0;
  controller.on("change", () => changes++);
  const output: string[] = [];
  controller.on("output", (bytes) => output.push(new TextDecoder().decode(bytes)));
  return {
    clock,
    store,
    saved,
    workers,
    controller,
    output,
    changes: () => changes,
    cached: () => cached,
    /** The record saved as this device's VM, if any. */
    current: () => saved.load(),
    advance: (ms: number) => clock.advance(ms, flush),
    async seed() {
      if (options.saved) await saved.save(options.saved);
      if (options.budget !== undefined) await store.set(BUDGET_KEY, options.budget);
    },
  };
}

/** Starts a new VM from the image and lets the worker report it running. */
async function startRunning(t: ReturnType<typeof setUp>): Promise<FakeWorker> {
  const started = t.controller.startNew();
  await flush();
  const worker = t.workers.at(-1)!;
  worker.finishStart(0);
  await started;
  return worker;
}

const savedVm = (savedAtMs: number): SavedVm => ({
  schema: 2,
  imageId: "image-1",
  v86Version: "v86-1",
  savedAtMs,
  encoding: "gzip",
  baseSha256: null,
  state: new Uint8Array([9, 9, 9]).buffer,
  rawBytes: 4096,
  transcript: "root@spare:~# ",
});

describe("LocalVmController", () => {
  it("starts a new VM from the image and saves it soon after, without being asked", async () => {
    const t = setUp();
    await t.controller.init();
    const worker = await startRunning(t);
    expect(worker.request?.states).toEqual([imageState]);
    const s = t.controller.state();
    expect(s.ui).toBe("running");
    expect(s.inputEnabled).toBe(true);
    expect(s.status).toMatch(/^Started in 0\.8 s/);
    expect(s.save).toMatchObject({ text: "Not saved yet", saved: false });
    expect(await t.current()).toBeNull();

    await t.advance(500);
    const record = await t.current();
    expect(record).toMatchObject({ imageId: "image-1", v86Version: "v86-1", transcript: "saved #1" });
    expect(record?.savedAtMs).toBe(EPOCH + 500);
    expect(t.controller.state().save).toMatchObject({ saved: true, text: "Saved just now" });
    expect(t.controller.state().save.title).toMatch(/^Saved automatically: /);
    // A delta against the image's state, which the record names.
    expect(worker.snapshotBases).toEqual([{ url: imageState.url, sha256: "0".repeat(64), bytes: 1000 }]);
    expect(record).toMatchObject({ schema: 2, encoding: "delta-gzip", baseSha256: "0".repeat(64) });
  });

  it("waits for typing to settle before saving", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    await t.advance(500); // the first save of the new VM
    expect(worker.snapshots).toBe(1);

    t.controller.input(new TextEncoder().encode("l"));
    await t.advance(400);
    t.controller.input(new TextEncoder().encode("s"));
    await t.advance(400);
    expect(worker.snapshots).toBe(1);
    expect(worker.inputs).toHaveLength(2);
    expect(t.controller.state().save).toMatchObject({
      saved: false,
      text: "Unsaved changes (saved just now)",
    });

    await t.advance(100); // half a second after the last keystroke
    expect(worker.snapshots).toBe(2);
    expect(t.controller.state().save.saved).toBe(true);
  });

  it("does not let constant typing put off a save for long", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    await t.advance(500);
    for (let i = 0; i < 30; i++) {
      t.controller.input(new Uint8Array([0x61]));
      await t.advance(200);
    }
    // Six seconds of typing, never half a second apart: saved 3 and 6 s after it began.
    expect(worker.snapshots).toBe(3);
  });

  it("saves now and then even when nothing visible happens", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    await t.advance(500);
    await t.advance(29_000);
    expect(worker.snapshots).toBe(1);
    await t.advance(1000);
    expect(worker.snapshots).toBe(2);
  });

  it("resumes the VM saved on this device, replaying its console", async () => {
    const t = setUp({ saved: savedVm(EPOCH - 60_000) });
    await t.seed();
    const init = t.controller.init();
    await flush();
    const worker = t.workers[0]!;
    expect(t.controller.state()).toMatchObject({
      ui: "loading",
      status: "Resuming your VM (saved 1 min ago)…",
    });
    expect(worker.request?.states[0]).toMatchObject({
      kind: "bytes",
      label: "Your saved VM",
      transcript: "root@spare:~# ",
    });
    expect(worker.request?.states[1]).toEqual(imageState);
    worker.finishStart(0);
    await init;
    expect(t.controller.state().status).toMatch(/^Resumed in/);
    expect(t.controller.state().notice).toBeNull();
    // Nothing changed since the save it came from: no save is due soon, and leaving loses nothing.
    expect(t.controller.hasUnsavedWork()).toBe(false);
    await t.advance(29_000);
    expect(worker.snapshots).toBe(0);
    expect(await t.saved.setAsideCopy()).toBeNull();
  });

  it("resumes a save made as a delta against the image's state", async () => {
    const delta: SavedVm = { ...savedVm(EPOCH - 5000), encoding: "delta-gzip", baseSha256: "0".repeat(64) };
    const t = setUp({ saved: delta });
    await t.seed();
    const init = t.controller.init();
    await flush();
    const worker = t.workers[0]!;
    expect(worker.request?.states[0]).toMatchObject({
      kind: "delta",
      base: { url: imageState.url, sha256: "0".repeat(64), bytes: 1000 },
      label: "Your saved VM",
    });
    worker.finishStart(0);
    await init;
    expect(t.controller.state().status).toMatch(/^Resumed in/);
  });

  it("asks before leaving only while something is not saved yet", async () => {
    const t = setUp();
    await t.controller.init();
    expect(t.controller.hasUnsavedWork()).toBe(false); // no VM
    const worker = await startRunning(t);
    expect(t.controller.hasUnsavedWork()).toBe(true); // a new VM, never saved
    await t.advance(500);
    expect(t.controller.hasUnsavedWork()).toBe(false);

    worker.events!.output(new TextEncoder().encode("data written"));
    expect(t.controller.hasUnsavedWork()).toBe(true);
    let open!: () => void;
    worker.snapshotGate = new Promise((resolve) => {
      open = resolve;
    });
    await t.advance(500);
    expect(worker.snapshots).toBe(2);
    expect(t.controller.state().save.text).toBe("Saving…");
    expect(t.controller.hasUnsavedWork()).toBe(true); // under way is not saved
    open();
    await t.advance(0);
    expect(t.controller.hasUnsavedWork()).toBe(false);
    expect(t.controller.state().save).toMatchObject({ saved: true, text: "Saved just now" });

    // The periodic save of an unchanged VM risks nothing: no prompt while it runs.
    worker.snapshotGate = new Promise(() => {});
    await t.advance(30_000);
    expect(worker.snapshots).toBe(3);
    expect(t.controller.state().save.text).toBe("Saving…");
    expect(t.controller.hasUnsavedWork()).toBe(false);
  });

  it("keeps saving after output that came during a save, half a second after it settles", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    await t.advance(500);
    worker.events!.output(new TextEncoder().encode("a"));
    let open!: () => void;
    worker.snapshotGate = new Promise((resolve) => {
      open = resolve;
    });
    await t.advance(500); // the save starts
    worker.events!.output(new TextEncoder().encode("b")); // during it
    await t.advance(200);
    open();
    worker.snapshotGate = null;
    await t.advance(0);
    expect(t.controller.state().save.saved).toBe(false); // "b" is not in that save
    await t.advance(299);
    expect(worker.snapshots).toBe(2);
    await t.advance(1);
    expect(worker.snapshots).toBe(3);
    expect(t.controller.hasUnsavedWork()).toBe(false);
  });

  it("a save that cannot be written leaves the previous one readable", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    await t.advance(500);
    expect((await t.current())?.transcript).toBe("saved #1");
    const set = t.store.set.bind(t.store);
    t.store.set = async () => {
      throw new Error("QuotaExceededError");
    };
    worker.events!.output(new TextEncoder().encode("more"));
    await t.advance(500);
    expect(worker.snapshots).toBe(2);
    expect(t.controller.state().notice?.text).toBe("Saving failed: QuotaExceededError");
    expect(t.controller.hasUnsavedWork()).toBe(true);
    expect((await t.current())?.transcript).toBe("saved #1");
    t.store.set = set;
    await t.advance(RETRY_AFTER_FAILURE_MS - 1);
    expect(worker.snapshots).toBe(2); // not retried at once, over and over
    await t.advance(1);
    expect((await t.current())?.transcript).toBe("saved #3");
    expect(t.controller.hasUnsavedWork()).toBe(false);
  });

  it("says a saved VM made with an older guest image is why it will not restore", async () => {
    const t = setUp({ saved: { ...savedVm(EPOCH - 3_600_000), imageId: "image-0" } });
    await t.seed();
    const init = t.controller.init();
    await flush();
    t.workers[0]!.finishStart(1, ["Your saved VM would not load: delta needs base aa, not bb"]);
    await init;
    const s = t.controller.state();
    expect(s.notice?.offerDownload).toBe(true);
    expect(s.notice?.text).toMatch(/saved with an older guest image/);
  });

  it("sets aside a saved VM that will not restore, offers it for download, and starts fresh", async () => {
    const old = savedVm(EPOCH - 3_600_000);
    const t = setUp({ saved: old });
    await t.seed();
    const init = t.controller.init();
    await flush();
    const worker = t.workers[0]!;
    worker.finishStart(1, ["Your saved VM: bad gzip data"]);
    await init;

    const s = t.controller.state();
    expect(s.ui).toBe("running");
    expect(s.notice?.offerDownload).toBe(true);
    expect(s.notice?.text).toMatch(/could not be restored \(Your saved VM: bad gzip data\)/);
    expect(s.status).toMatch(/^Started in/);
    // Kept, not dropped: the bytes are still on the device, and the fresh VM does not overwrite them.
    const file = await t.controller.setAsideFile();
    expect(file?.name).toBe(
      `spare-cycles-vm-${new Date(old.savedAtMs).toISOString().slice(0, 19)}.v86state.gz`,
    );
    expect(new Uint8Array(file!.data)).toEqual(new Uint8Array([9, 9, 9]));
    await t.advance(500);
    expect((await t.current())?.transcript).toBe("saved #1");
    expect(new Uint8Array((await t.saved.setAsideCopy())!.state)).toEqual(new Uint8Array([9, 9, 9]));
  });

  it("says when the VM could not start, and lets the user reset", async () => {
    const t = setUp();
    const started = t.controller.startNew();
    await flush();
    t.workers[0]!.failStart("the VM worker failed: out of memory");
    await started;
    const s = t.controller.state();
    expect(s).toMatchObject({ ui: "failed", status: "The VM could not start.", progress: null });
    expect(s.notice).toEqual({ text: "the VM worker failed: out of memory", offerDownload: false });
    expect(t.workers[0]!.disposed).toBe(true);
    expect(t.controller.canReset()).toBe(true);

    const reset = t.controller.reset();
    await flush();
    expect(t.workers).toHaveLength(2);
    t.workers[1]!.finishStart(0);
    await reset;
    expect(t.controller.state()).toMatchObject({ ui: "running", notice: null });
  });

  it("reset discards the saved VM and starts a fresh one", async () => {
    const t = setUp();
    const first = await startRunning(t);
    await t.advance(500);
    expect(await t.current()).not.toBeNull();
    const reset = t.controller.reset();
    await flush();
    expect(first.disposed).toBe(true);
    expect(await t.current()).toBeNull();
    t.workers[1]!.finishStart(0);
    await reset;
    expect(t.controller.state().ui).toBe("running");
    expect(t.controller.state().save.text).toBe("Not saved yet");
  });

  it("sends console output to the shell and counts it as activity", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    await t.advance(500);
    worker.events!.output(new TextEncoder().encode("hello-42"));
    expect(t.output).toEqual(["hello-42"]);
    expect(t.controller.state().save.saved).toBe(false);
  });

  it("pauses and resumes; typing while paused does not reach the VM", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    await t.controller.togglePause();
    expect(worker.paused).toBe(true);
    expect(t.controller.state()).toMatchObject({ ui: "paused", inputEnabled: false });
    t.controller.input(new Uint8Array([0x61]));
    expect(worker.inputs).toHaveLength(0);
    expect(t.controller.load().vms).toBe(1);
    await t.controller.togglePause();
    expect(t.controller.state()).toMatchObject({ ui: "running", status: "Running." });
  });

  it("saves on demand, and concurrent requests share one save", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    const a = t.controller.save("on demand");
    const b = t.controller.save("page hidden");
    expect(a).toBe(b);
    expect(t.controller.state().save.text).toBe("Saving…");
    await a;
    expect(worker.snapshots).toBe(1);
    expect(t.controller.state().save.title).toMatch(
      /^Saved on demand: 3 B \(changes from the image; state 4\.0 KB before compression\), made in 2 ms$/,
    );
  });

  it("reports a failed save without losing the VM", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    worker.api.snapshot = async () => {
      throw new Error("quota exceeded");
    };
    await t.controller.save("on demand");
    expect(t.controller.state().notice?.text).toBe("Saving failed: quota exceeded");
    expect(t.controller.state().ui).toBe("running");
  });

  it("keeps the CPU budget the user chose, and applies it to the running VM", async () => {
    const t = setUp({ budget: 30 });
    await t.seed();
    await t.controller.init();
    expect(t.controller.state().budgetPct).toBe(30);
    const worker = await startRunning(t);
    expect(worker.request?.budgetPct).toBe(30);
    t.controller.setBudget(500);
    expect(t.controller.state().budgetPct).toBe(100);
    expect(worker.budgets).toEqual([100]);
    await flush();
    expect(await t.store.get(BUDGET_KEY)).toBe(100);
  });

  it("reports the VM's load every second", async () => {
    const t = setUp();
    await startRunning(t);
    expect(t.controller.load()).toEqual({ vms: 1, usedPct: 0 });
    await t.advance(1000);
    expect(t.controller.load()).toEqual({ vms: 1, usedPct: 37 });
    expect(t.controller.state().stats?.usedPct).toBe(37);
  });

  it("makes the guest available offline a few seconds after the VM starts", async () => {
    const t = setUp();
    await startRunning(t);
    await t.advance(CACHE_DELAY_MS - 1);
    expect(t.cached()).toBe(0);
    expect(t.controller.state().offline).toBeNull();
    await t.advance(1);
    expect(t.cached()).toBe(1);
    expect(t.controller.state().offline).toEqual({ text: "Available offline", title: "", ready: true });
  });

  it("gets a spare worker ready while the page is seen, and starts the new VM on it", async () => {
    const t = setUp();
    t.controller.setVisible(false);
    await t.controller.init();
    await t.advance(10_000);
    expect(t.workers).toHaveLength(0); // nobody looks: no worker yet

    t.controller.setVisible(true);
    await t.advance(1000);
    expect(t.workers).toHaveLength(1);
    expect(t.workers[0]!.prepared).toBe(true);
    expect(t.controller.state().prepared).toBe(true);

    const worker = await startRunning(t);
    expect(worker).toBe(t.workers[0]);
    expect(t.workers).toHaveLength(1);
    expect(t.controller.state().prepared).toBe(false);
  });

  it("dispose stops every timer and the workers, and nothing is saved afterwards", async () => {
    const t = setUp();
    const worker = await startRunning(t);
    t.controller.input(new Uint8Array([0x61]));
    expect(t.clock.pending).toBeGreaterThan(0);
    const changes = t.changes();
    await t.controller.dispose();
    expect(t.clock.pending).toBe(0);
    expect(worker.disposed).toBe(true);
    await t.advance(300_000);
    expect(worker.snapshots).toBe(0);
    expect(await t.current()).toBeNull();
    expect(t.changes()).toBe(changes);
  });

  it("dispose before the idle moment cancels the spare, and ends a prepared one", async () => {
    const t = setUp();
    await t.controller.init();
    expect(t.clock.pending).toBe(1);
    await t.controller.dispose();
    expect(t.clock.pending).toBe(0);
    await t.advance(1000);
    expect(t.workers).toHaveLength(0);

    const u = setUp();
    await u.controller.init();
    await u.advance(1000);
    await u.controller.dispose();
    expect(u.workers[0]!.disposed).toBe(true);
  });

  it("a start that finishes after dispose changes nothing", async () => {
    const t = setUp();
    const started = t.controller.startNew();
    await flush();
    await t.controller.dispose();
    t.workers[0]!.finishStart(0);
    await started;
    expect(t.clock.pending).toBe(0);
    expect(t.controller.state().ui).not.toBe("running");
  });
});
