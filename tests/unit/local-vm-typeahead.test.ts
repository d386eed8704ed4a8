// Typing while the VM on "This device" loads: kept in order and delivered once
// it runs (a person types as soon as they see the terminal).
import { describe, expect, it } from "vitest";
import { SavedVmStore } from "../../core/guest/saved-vm.ts";
import { MemoryStore } from "../../core/state/storage.ts";
import { ManualClock } from "../../core/util/clock.ts";
import { PENDING_INPUT_MAX_BYTES } from "../../core/util/pending-input.ts";
import { LocalVmController } from "../../web/local-vm/controller.ts";
import type { LocalVmWorker } from "../../web/local-vm/worker-port.ts";
import type { GuestSource, StartResult, StateSource, VmStats } from "../../worker/api.ts";

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
const imageState: StateSource = {
  kind: "url",
  url: "https://app.example/guest/state.bin.gz",
  sha256: "0".repeat(64),
  bytes: 1000,
  transcript: "",
  label: "The image's saved state",
};

class LoadingWorker implements LocalVmWorker {
  readonly typed: string[] = [];
  private started: { resolve(r: StartResult): void; reject(e: Error): void } | null = null;
  readonly api = {
    input: async (bytes: Uint8Array) => {
      this.typed.push(new TextDecoder().decode(bytes));
    },
    snapshot: async (): Promise<never> => {
      throw new Error("these tests do not save");
    },
    pause: async () => {},
    resume: async () => {},
    setBudget: async () => {},
    stats: async () => ({ phase: "running" }) as VmStats,
  };
  async prepare(): Promise<void> {}
  start(): Promise<StartResult> {
    return new Promise((resolve, reject) => (this.started = { resolve, reject }));
  }
  finish(): void {
    this.started!.resolve({ mode: "restored", restoredIndex: 0, problems: [], loadMs: 500, timingsMs: {} });
  }
  fail(): void {
    this.started!.reject(new Error("no state would load"));
  }
  async dispose(): Promise<void> {}
}

function setUp() {
  const clock = new ManualClock();
  const store = new MemoryStore();
  const workers: LoadingWorker[] = [];
  const controller = new LocalVmController({
    createWorker: () => {
      const worker = new LoadingWorker();
      workers.push(worker);
      return worker;
    },
    clock,
    saved: new SavedVmStore(store),
    settings: store,
    guest: {
      imageId: "image-1",
      v86Version: "v86-1",
      source: () => ({}) as GuestSource,
      imageState: () => imageState,
      keepCached: async () => true,
    },
  });
  let focused = 0;
  controller.on("focusShell", () => focused++);
  return { controller, workers, focused: () => focused };
}

const type = (c: LocalVmController, text: string) => {
  for (const key of text) c.input(new TextEncoder().encode(key));
};

describe("typing while the local VM loads", () => {
  it("is kept in order and reaches the VM once it runs", async () => {
    const t = setUp();
    const started = t.controller.startNew();
    await flush();
    const worker = t.workers[0]!;
    // The terminal takes typing (and has the focus) from the moment the VM starts loading.
    expect(t.controller.state()).toMatchObject({ ui: "loading", inputEnabled: true });
    expect(t.focused()).toBe(1);
    type(t.controller, "echo hello-$((6*7))\r");
    expect(worker.typed).toEqual([]);

    worker.finish();
    await started;
    expect(worker.typed.join("")).toBe("echo hello-$((6*7))\r");
    t.controller.input(new TextEncoder().encode("x"));
    expect(worker.typed.at(-1)).toBe("x");
    expect(t.controller.state().notice).toBeNull();
  });

  it("keeps what fits and says that the rest was dropped", async () => {
    const t = setUp();
    const started = t.controller.startNew();
    await flush();
    const worker = t.workers[0]!;
    t.controller.input(new Uint8Array(PENDING_INPUT_MAX_BYTES - 1).fill(0x61));
    type(t.controller, "bcd");
    expect(t.controller.state().notice?.text).toMatch(/did not fit while the VM was starting/);
    worker.finish();
    await started;
    expect(worker.typed.join("")).toBe(`${"a".repeat(PENDING_INPUT_MAX_BYTES - 1)}b`);
  });

  it("is forgotten when the VM fails to start, and not sent to the next one", async () => {
    const t = setUp();
    const first = t.controller.startNew();
    await flush();
    type(t.controller, "lost");
    t.workers[0]!.fail();
    await first;
    expect(t.controller.state()).toMatchObject({ ui: "failed", inputEnabled: false });
    const second = t.controller.startNew();
    await flush();
    t.workers[1]!.finish();
    await second;
    expect(t.workers[1]!.typed).toEqual([]);
  });
});
