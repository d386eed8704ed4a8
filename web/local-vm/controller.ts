// "This device" without the DOM: the VM in this tab's worker and its lifecycle.
// The VM is saved as it goes (saver.ts); a reload resumes it with its files. A
// saved state that will not restore is set aside for download, never dropped.
// The worker factory and the clock are injected, so tests drive all of it.

import { clampBudgetPct } from "../../core/cpu/governor.ts";
import type { SavedVm, SavedVmStore } from "../../core/guest/saved-vm.ts";
import type { KeyValueStore } from "../../core/state/storage.ts";
import type { Clock } from "../../core/util/clock.ts";
import { Emitter } from "../../core/util/emitter.ts";
import { errorMessage } from "../../core/util/errors.ts";
import { formatAge } from "../../core/util/format.ts";
import { droppedInputNote, PendingInput } from "../../core/util/pending-input.ts";
import type { GuestFilePort } from "../../core/vm/file-transfer.ts";
import type { LoadProgress, StateSource, VmStats } from "../../worker/api.ts";
import { baseOf } from "../base-source.ts";
import { LocalVmSaver, type SaveState } from "./saver.ts";
import { SpareWorker } from "./spare.ts";
import { Timers } from "./timers.ts";
import type { LocalVmGuest, LocalVmWorker } from "./worker-port.ts";

export const BUDGET_KEY = "local-vm-budget-pct";
const DEFAULT_BUDGET_PCT = 50;
export const STATS_INTERVAL_MS = 1000;
export const CACHE_DELAY_MS = 5000;
/** When the browser has no requestIdleCallback: how long "idle" waits. */
const IDLE_FALLBACK_MS = 200;

export type UiState = "empty" | "loading" | "running" | "paused" | "failed";

export interface LocalVmNotice {
  text: string;
  /** Offer the set-aside VM for download (see `setAsideFile`). */
  offerDownload: boolean;
}

/** Everything the page shows, as data. */
export interface LocalVmState {
  ui: UiState;
  /** Typing reaches the VM (while it loads, it is held and delivered once the VM runs). */
  inputEnabled: boolean;
  status: string;
  /** A new object each time a notice is shown; null when there is none. */
  notice: LocalVmNotice | null;
  /** Loading progress; null when nothing loads. */
  progress: LoadProgress | null;
  /** The VM's last stats (kept after it stops). */
  stats: VmStats | null;
  save: SaveState;
  /** Whether a new VM can start offline; null until that is looked into. */
  offline: { text: string; title?: string; ready?: boolean } | null;
  budgetPct: number;
  /** A spare worker is ready: "New VM" starts at once. */
  prepared: boolean;
  /** Where the last start's time went. */
  loadTimings: Record<string, number> | null;
}

export interface LocalVmEvents {
  /** Something in `state()` changed. */
  change(): void;
  /** Console output for the shell. */
  output(bytes: Uint8Array): void;
  clearShell(): void;
  focusShell(): void;
}

export interface LocalVmDeps {
  createWorker(): LocalVmWorker;
  clock: Clock;
  /** Wall-clock time, for when a VM was saved (default Date.now). */
  wallMs?: () => number;
  saved: SavedVmStore;
  settings: KeyValueStore;
  guest: LocalVmGuest;
  /** Runs `fn` when the browser is idle; returns its cancel (default: the clock, shortly). */
  whenIdle?: (fn: () => void) => () => void;
  /** Asks the browser to keep this origin's storage; called after the first save. */
  persistStorage?: () => void;
}

type Shown = Omit<LocalVmState, "inputEnabled" | "save">;

export class LocalVmController {
  private readonly events = new Emitter<LocalVmEvents>();
  private readonly timers: Timers;
  private readonly spare: SpareWorker;
  private readonly saver: LocalVmSaver;
  private vm: LocalVmWorker | null = null;
  /** What is typed while the VM loads, delivered in order once it runs. */
  private readonly typedAhead = new PendingInput();
  private shown: Shown = {
    ui: "empty",
    status: "",
    notice: null,
    progress: null,
    stats: null,
    offline: null,
    budgetPct: DEFAULT_BUDGET_PCT,
    prepared: false,
    loadTimings: null,
  };

  constructor(private readonly deps: LocalVmDeps) {
    const { clock } = deps;
    this.timers = new Timers(clock);
    this.spare = new SpareWorker({
      create: () => deps.createWorker(),
      prepare: (worker) => worker.prepare(deps.guest.source(), deps.guest.imageState()),
      whenIdle: deps.whenIdle ?? ((fn) => clock.after(IDLE_FALLBACK_MS, fn)),
      needed: () => this.vm === null,
      ready: () => this.show({ prepared: true }),
    });
    this.saver = new LocalVmSaver({
      clock,
      wallMs: () => this.wallMs(),
      saved: deps.saved,
      guest: deps.guest,
      ...(deps.persistStorage && { persistStorage: deps.persistStorage }),
      canSave: () => this.shown.ui === "running" || this.shown.ui === "paused",
      changed: () => this.show({}),
      failed: (message) => this.showNotice(message, false),
    });
  }

  on<K extends keyof LocalVmEvents>(event: K, handler: LocalVmEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  state(): LocalVmState {
    const shown = this.shown;
    const typable = shown.ui === "running" || shown.ui === "loading";
    return { ...shown, inputEnabled: typable && this.vm !== null, save: this.saver.state() };
  }

  /** What this tab's VM costs right now, for presence. */
  load(): { vms: number; usedPct: number } {
    const running = this.shown.ui === "running" || this.shown.ui === "paused";
    return { vms: running ? 1 : 0, usedPct: running ? (this.shown.stats?.usedPct ?? 0) : 0 };
  }

  /** Resumes the VM saved on this device, if there is one. */
  async init(): Promise<void> {
    // Both reads at once: a reload waits on them before resuming.
    const [stored, saved] = await Promise.all([this.deps.settings.get(BUDGET_KEY), this.deps.saved.load()]);
    if (typeof stored === "number") this.show({ budgetPct: clampBudgetPct(stored) });
    if (saved) {
      await this.boot(saved);
    } else {
      this.show({
        status: "No VM on this device yet. Press “New VM” to start one: it takes about a second.",
      });
      this.spare.want();
    }
  }

  /** The page is shown or hidden (navigation between pages). */
  setVisible(visible: boolean): void {
    this.spare.setVisible(visible);
  }

  async startNew(): Promise<void> {
    if (this.shown.ui === "loading") return;
    await this.teardown();
    await this.boot(null);
  }

  /** Whether there is anything to reset (the caller asks the user before `reset`). */
  canReset(): boolean {
    return this.vm !== null || this.shown.ui === "failed";
  }

  /** Discards the VM and its saved state, and starts a fresh one. */
  async reset(): Promise<void> {
    if (!this.canReset()) return;
    await this.teardown();
    await this.deps.saved.clear();
    this.saver.forget();
    this.events.emit("clearShell");
    await this.boot(null);
  }

  /** What the user typed in the shell. */
  input(bytes: Uint8Array): void {
    if (this.vm && this.shown.ui === "loading") {
      const first = this.typedAhead.dropped === 0;
      if (!this.typedAhead.push(bytes) && first)
        this.showNotice(droppedInputNote(bytes.length, "the VM was starting"), false);
      return;
    }
    if (!this.vm || this.shown.ui !== "running") return;
    void this.vm.api.input(bytes);
    this.saver.noteActivity();
  }

  /** The running VM's console output in shared memory (null when there is none). */
  async outputRing(): Promise<SharedArrayBuffer | null> {
    return (await this.vm?.api.outputRing?.()) ?? null;
  }

  /** The running VM's files in and out (worker/guest-files.ts); null while no VM runs. */
  files(): GuestFilePort | null {
    const api = this.vm?.api;
    const running = this.shown.ui === "running" || this.shown.ui === "paused";
    return running && typeof api?.fileUploadBegin === "function" ? (api as GuestFilePort) : null;
  }

  /** Saves the VM to this device; concurrent requests share one save. */
  save(reason: string): Promise<void> {
    return this.saver.save(reason);
  }

  /** Whether leaving the page now would lose something (for a "leave site?" prompt). */
  hasUnsavedWork(): boolean {
    return this.saver.unsaved();
  }

  async togglePause(): Promise<void> {
    const vm = this.vm;
    if (!vm) return;
    if (this.shown.ui === "running") {
      await vm.api.pause();
      this.show({ ui: "paused", status: "Paused: the VM uses no CPU until you resume it." });
    } else if (this.shown.ui === "paused") {
      await vm.api.resume();
      this.show({ ui: "running", status: "Running." });
    }
  }

  setBudget(pct: number): void {
    const budgetPct = clampBudgetPct(pct);
    this.show({ budgetPct });
    void this.vm?.api.setBudget(budgetPct);
    void this.deps.settings.set(BUDGET_KEY, budgetPct);
  }

  /** The saved VM that would not restore, as a file to download; null when there is none. */
  async setAsideFile(): Promise<{ name: string; data: ArrayBuffer; type: string } | null> {
    const vm = await this.deps.saved.setAsideCopy();
    if (!vm) return null;
    const when = new Date(vm.savedAtMs).toISOString().slice(0, 19);
    // A delta restores only against the image's state it was made from (public/guest/state.bin.gz).
    const kind = vm.encoding === "delta-gzip" ? "v86delta" : "v86state";
    return { name: `spare-cycles-vm-${when}.${kind}.gz`, data: vm.state, type: "application/gzip" };
  }

  /** Stops the VM, the spare worker and every timer; nothing is saved or shown after this. */
  async dispose(): Promise<void> {
    this.timers.cancelAll();
    this.saver.detach();
    const vm = this.vm;
    this.vm = null;
    this.events.clear();
    await Promise.all([this.spare.dispose(), vm?.dispose()]);
  }

  private async boot(saved: SavedVm | null): Promise<void> {
    this.events.emit("clearShell");
    this.show({
      ui: "loading",
      notice: null,
      progress: { stage: "download", label: "Starting the emulator", done: 0, total: 1 },
    });
    const { guest } = this.deps;
    const states: StateSource[] = [];
    if (saved) states.push(savedState(saved, guest.imageState()));
    states.push(guest.imageState());
    const vm = this.spare.take() ?? this.deps.createWorker();
    this.vm = vm;
    this.typedAhead.clear();
    // A person types as soon as they see the terminal: what they type now is kept.
    this.events.emit("focusShell");
    this.show({
      prepared: false,
      status: saved
        ? `Resuming your VM (saved ${formatAge(this.wallMs() - saved.savedAtMs)})…`
        : "Starting a new VM…",
    });
    try {
      const result = await vm.start(
        { guest: guest.source(), states, budgetPct: this.shown.budgetPct },
        {
          output: (bytes) => {
            if (this.vm !== vm) return;
            this.events.emit("output", bytes);
            this.saver.noteActivity();
          },
          progress: (progress) => {
            if (this.vm === vm) this.show({ progress });
          },
        },
      );
      if (this.vm !== vm) return; // reset or replaced meanwhile
      this.show({ progress: null });
      const fromSaved = saved !== null && result.restoredIndex === 0;
      if (saved && !fromSaved) {
        await this.deps.saved.setAside(saved);
        this.showNotice(
          `Your saved VM could not be restored (${
            saved.imageId !== this.deps.guest.imageId
              ? "it was saved with an older guest image, which this version of the app no longer has"
              : (result.problems[0] ?? "unknown error")
          }). It is kept on this device: download it below. This is a fresh VM.`,
          true,
        );
      } else if (result.mode === "cold-boot") {
        this.showNotice(`Booted from scratch: ${result.problems.join("; ")}`, false);
      }
      this.show({
        ui: "running",
        loadTimings: { loadMs: result.loadMs, ...result.timingsMs },
        status: `${fromSaved ? "Resumed" : "Started"} in ${(result.loadMs / 1000).toFixed(1)} s. The VM runs in this tab.`,
      });
      this.timers.every("stats", STATS_INTERVAL_MS, () => void this.refreshStats());
      this.saver.attach(vm, fromSaved ? saved.savedAtMs : null);
      const typed = this.typedAhead.take();
      if (typed) this.input(typed);
      // Off the critical path: the first seconds belong to the user's first commands.
      this.timers.after("cache", CACHE_DELAY_MS, () => this.makeAvailableOffline());
    } catch (err) {
      if (this.vm !== vm) return;
      await this.teardown();
      this.show({ progress: null, ui: "failed", status: "The VM could not start." });
      this.showNotice(errorMessage(err), false);
    }
  }

  private makeAvailableOffline(): void {
    this.show({ offline: { ...this.shown.offline, text: "Making this VM available offline…" } });
    this.deps.guest.keepCached().then(
      (ready) => this.show({ offline: { text: ready ? "Available offline" : "", title: "", ready } }),
      (err) => {
        this.show({
          offline: { ...this.shown.offline, text: "Not available offline yet", title: String(err) },
        });
        console.warn("could not cache the guest for offline use", err);
      },
    );
  }

  private async refreshStats(): Promise<void> {
    const vm = this.vm;
    if (!vm) return;
    let stats: VmStats;
    try {
      stats = await vm.api.stats();
    } catch {
      return;
    }
    this.show({ stats });
  }

  private async teardown(): Promise<void> {
    this.typedAhead.clear();
    this.saver.detach();
    this.timers.cancel("stats");
    this.timers.cancel("cache");
    const vm = this.vm;
    this.vm = null;
    this.show({});
    if (vm) await vm.dispose();
    this.show({ ui: "empty" });
  }

  private showNotice(text: string, offerDownload: boolean): void {
    this.show({ notice: { text, offerDownload } });
  }

  private show(change: Partial<Shown>): void {
    this.shown = { ...this.shown, ...change };
    this.events.emit("change");
  }

  private wallMs(): number {
    return (this.deps.wallMs ?? Date.now)();
  }
}

/** A saved VM as a state for the worker to restore (a delta needs the image's state). */
function savedState(saved: SavedVm, image: StateSource): StateSource {
  const common = { transcript: saved.transcript, label: "Your saved VM" };
  // A copy: the worker takes the bytes, and a failed restore sets the record aside.
  const bytes = saved.state.slice(0);
  if (saved.encoding === "delta-gzip" && image.kind === "url") {
    return { kind: "delta", bytes, base: baseOf(image), ...common };
  }
  return { kind: "bytes", bytes, ...common };
}
