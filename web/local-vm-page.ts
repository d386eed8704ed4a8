// "This device": a VM running in a worker of this tab, with its shell. The VM is
// saved to IndexedDB on demand, soon after activity settles, now and then, and
// when the page is hidden; a reload resumes it with its files.

import { clampBudgetPct } from "../core/cpu/governor.ts";
import { AutosavePolicy } from "../core/guest/autosave.ts";
import type { SavedVm, SavedVmStore } from "../core/guest/saved-vm.ts";
import type { KeyValueStore } from "../core/state/storage.ts";
import { errorMessage } from "../core/util/errors.ts";
import { formatAge, formatBytes, formatCount } from "../core/util/format.ts";
import type { LoadProgress, StateSource, VmStats } from "../worker/api.ts";
import { guestManifest, guestSource, imageState, keepGuestCached } from "./guest.ts";
import { createShell, type Shell } from "./terminal.ts";
import { VmWorker } from "./vm-worker.ts";

const BUDGET_KEY = "local-vm-budget-pct";
const DEFAULT_BUDGET_PCT = 50;
const STATS_INTERVAL_MS = 1000;
const CACHE_DELAY_MS = 5000;

type UiState = "empty" | "loading" | "running" | "paused" | "failed";

export interface LocalVmElements {
  root: HTMLElement;
  newButton: HTMLButtonElement;
  saveButton: HTMLButtonElement;
  pauseButton: HTMLButtonElement;
  resetButton: HTMLButtonElement;
  budget: HTMLInputElement;
  budgetOutput: HTMLOutputElement;
  status: HTMLElement;
  notice: HTMLElement;
  progress: HTMLProgressElement;
  progressLabel: HTMLElement;
  terminal: HTMLElement;
  stats: HTMLElement;
  saveState: HTMLElement;
  /** Whether a new VM can start on this device without the network. */
  offline: HTMLElement;
}

export class LocalVmPage {
  private readonly shell: Shell;
  private vm: VmWorker | null = null;
  /** A worker made ready ahead of "New VM", so a new VM starts in well under a second. */
  private spare: VmWorker | null = null;
  private ui: UiState = "empty";
  private autosave: AutosavePolicy | null = null;
  private autosaveTimer: ReturnType<typeof setTimeout> | null = null;
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private cacheTimer: ReturnType<typeof setTimeout> | null = null;
  private saving: Promise<void> | null = null;
  private lastSavedAtMs: number | null = null;
  private lastStats: VmStats | null = null;
  private budgetPct = DEFAULT_BUDGET_PCT;
  private visible = true;
  private wantSpare = false;
  private readonly onVisibility = () => {
    if (document.visibilityState === "hidden") void this.save("page hidden");
  };

  constructor(
    private readonly el: LocalVmElements,
    private readonly saved: SavedVmStore,
    private readonly settings: KeyValueStore,
  ) {
    this.shell = createShell(el.terminal, (bytes) => this.input(bytes));
    el.newButton.addEventListener("click", () => void this.startNew());
    el.saveButton.addEventListener("click", () => void this.save("on demand"));
    el.pauseButton.addEventListener("click", () => void this.togglePause());
    el.resetButton.addEventListener("click", () => void this.reset());
    el.budget.addEventListener("input", () => this.setBudget(Number(el.budget.value)));
    document.addEventListener("visibilitychange", this.onVisibility);
    this.render();
  }

  /** What this tab's VM costs right now, for presence. */
  load(): { vms: number; usedPct: number } {
    const running = this.ui === "running" || this.ui === "paused";
    return { vms: running ? 1 : 0, usedPct: running ? (this.lastStats?.usedPct ?? 0) : 0 };
  }

  /** Resumes the VM saved on this device, if there is one. */
  async init(): Promise<void> {
    const stored = await this.settings.get(BUDGET_KEY);
    if (typeof stored === "number") this.budgetPct = clampBudgetPct(stored);
    this.el.budget.value = String(this.budgetPct);
    this.renderBudget();
    const saved = await this.saved.load();
    if (saved) {
      this.lastSavedAtMs = saved.savedAtMs;
      await this.boot(saved);
    } else {
      this.setStatus("No VM on this device yet. Press “New VM” to start one: it takes about a second.");
      this.wantSpare = true;
      this.prepareSpareWhenSeen();
    }
  }

  /** The page is shown or hidden (navigation between pages). */
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.prepareSpareWhenSeen();
  }

  /** Gets a VM ready only while someone looks at this page, when the browser is idle. */
  private prepareSpareWhenSeen(): void {
    if (!this.wantSpare || !this.visible || this.spare || this.vm) return;
    this.wantSpare = false;
    const idle = globalThis.requestIdleCallback ?? ((fn: () => void) => setTimeout(fn, 200));
    idle(() => this.prepareSpare(), { timeout: 1000 });
  }

  private prepareSpare(): void {
    if (this.spare || this.vm) return;
    const spare = new VmWorker();
    this.spare = spare;
    spare.prepare(guestSource(), imageState()).then(
      () => {
        if (this.spare === spare) this.el.root.dataset.prepared = "true";
      },
      () => {
        // Not fatal: starting will try again and report what went wrong.
      },
    );
  }

  private async startNew(): Promise<void> {
    if (this.ui === "loading") return;
    await this.teardown();
    this.lastSavedAtMs = null;
    await this.boot(null);
  }

  private async reset(): Promise<void> {
    if (!this.vm && this.ui !== "failed") return;
    if (!window.confirm("Reset this VM? Its files and everything it is running are discarded.")) return;
    await this.teardown();
    await this.saved.clear();
    this.lastSavedAtMs = null;
    this.shell.clear();
    await this.boot(null);
  }

  private async boot(saved: SavedVm | null): Promise<void> {
    this.setUi("loading");
    this.clearNotice();
    this.shell.clear();
    this.showProgress({ stage: "download", label: "Starting the emulator", done: 0, total: 1 });
    const states: StateSource[] = [];
    if (saved) {
      states.push({
        kind: "bytes",
        bytes: saved.state.slice(0),
        transcript: saved.transcript,
        label: "Your saved VM",
      });
    }
    states.push(imageState());
    const vm = this.spare ?? new VmWorker();
    this.spare = null;
    delete this.el.root.dataset.prepared;
    this.vm = vm;
    this.setStatus(
      saved ? `Resuming your VM (saved ${formatAge(Date.now() - saved.savedAtMs)})…` : "Starting a new VM…",
    );
    try {
      const result = await vm.start(
        { guest: guestSource(), states, budgetPct: this.budgetPct },
        {
          output: (bytes) => {
            this.shell.write(bytes);
            this.autosave?.noteActivity(performance.now());
          },
          progress: (p) => this.showProgress(p),
        },
      );
      if (this.vm !== vm) return; // reset or replaced meanwhile
      this.hideProgress();
      const fromSaved = saved !== null && result.restoredIndex === 0;
      if (saved && !fromSaved) {
        await this.saved.setAside(saved);
        this.showNotice(
          `Your saved VM could not be restored (${result.problems[0] ?? "unknown error"}). It is kept on this device: download it below. This is a fresh VM.`,
          true,
        );
      } else if (result.mode === "cold-boot") {
        this.showNotice(`Booted from scratch: ${result.problems.join("; ")}`, false);
      }
      this.autosave = new AutosavePolicy(performance.now());
      if (!fromSaved) this.autosave.noteActivity(performance.now()); // save the new VM soon
      this.setUi("running");
      this.el.root.dataset.loadTimings = JSON.stringify({ loadMs: result.loadMs, ...result.timingsMs });
      this.setStatus(
        `${fromSaved ? "Resumed" : "Started"} in ${(result.loadMs / 1000).toFixed(1)} s. The VM runs in this tab.`,
      );
      this.statsTimer = setInterval(() => void this.refreshStats(), STATS_INTERVAL_MS);
      this.scheduleAutosave();
      this.shell.focus();
      // Off the critical path: the first seconds belong to the user's first commands.
      this.cacheTimer = setTimeout(() => {
        this.el.offline.textContent = "Making this VM available offline…";
        keepGuestCached().then(
          (ready) => {
            this.el.offline.textContent = ready ? "Available offline" : "";
            this.el.offline.title = "";
            this.el.offline.dataset.ready = String(ready);
          },
          (err) => {
            this.el.offline.textContent = "Not available offline yet";
            this.el.offline.title = String(err);
            console.warn("could not cache the guest for offline use", err);
          },
        );
      }, CACHE_DELAY_MS);
    } catch (err) {
      if (this.vm !== vm) return;
      await this.teardown();
      this.hideProgress();
      this.setUi("failed");
      this.setStatus("The VM could not start.");
      this.showNotice(errorMessage(err), false);
    }
  }

  private input(bytes: Uint8Array): void {
    if (!this.vm || this.ui !== "running") return;
    void this.vm.api.input(bytes);
    this.autosave?.noteActivity(performance.now());
    this.scheduleAutosave();
  }

  private scheduleAutosave(): void {
    if (this.autosaveTimer !== null) clearTimeout(this.autosaveTimer);
    this.autosaveTimer = null;
    if (!this.autosave || !this.vm) return;
    const dueMs = this.autosave.dueInMs(performance.now());
    this.autosaveTimer = setTimeout(() => {
      this.autosaveTimer = null;
      void this.save("automatically").finally(() => this.scheduleAutosave());
    }, dueMs);
  }

  /** Saves the VM to this device; concurrent requests share one save. */
  save(reason: string): Promise<void> {
    if (this.saving) return this.saving;
    const vm = this.vm;
    if (!vm || (this.ui !== "running" && this.ui !== "paused")) return Promise.resolve();
    const startedMs = performance.now();
    this.saving = (async () => {
      this.renderSaveState("Saving…");
      try {
        const snapshot = await vm.api.snapshot();
        if (this.vm !== vm) return;
        const record: SavedVm = {
          schema: 1,
          imageId: guestManifest.imageId,
          v86Version: guestManifest.v86Version,
          savedAtMs: Date.now(),
          state: snapshot.state,
          rawBytes: snapshot.rawBytes,
          transcript: snapshot.transcript,
        };
        await this.saved.save(record);
        void navigator.storage?.persist?.();
        this.lastSavedAtMs = record.savedAtMs;
        this.autosave?.noteSaved(startedMs);
        this.el.saveState.title = `Saved ${reason}: ${formatBytes(snapshot.state.byteLength)} (state ${formatBytes(snapshot.rawBytes)} before compression)`;
      } catch (err) {
        this.showNotice(`Saving failed: ${errorMessage(err)}`, false);
      } finally {
        this.saving = null;
        this.renderSaveState();
      }
    })();
    return this.saving;
  }

  private async togglePause(): Promise<void> {
    if (!this.vm) return;
    if (this.ui === "running") {
      await this.vm.api.pause();
      this.setUi("paused");
      this.setStatus("Paused: the VM uses no CPU until you resume it.");
    } else if (this.ui === "paused") {
      await this.vm.api.resume();
      this.setUi("running");
      this.setStatus("Running.");
    }
  }

  private setBudget(pct: number): void {
    this.budgetPct = clampBudgetPct(pct);
    this.renderBudget();
    void this.vm?.api.setBudget(this.budgetPct);
    void this.settings.set(BUDGET_KEY, this.budgetPct);
  }

  private async refreshStats(): Promise<void> {
    if (!this.vm) return;
    try {
      this.lastStats = await this.vm.api.stats();
    } catch {
      return;
    }
    const s = this.lastStats;
    this.el.stats.textContent =
      `CPU ${s.usedPct.toFixed(0)}% of one core (budget ${s.budgetPct.toFixed(0)}%) · ` +
      `${formatCount(s.instructions)} guest instructions · up ${formatAge(s.uptimeMs).replace(" ago", "")}`;
    this.renderSaveState();
  }

  private async teardown(): Promise<void> {
    if (this.autosaveTimer !== null) clearTimeout(this.autosaveTimer);
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    if (this.cacheTimer !== null) clearTimeout(this.cacheTimer);
    this.cacheTimer = null;
    this.autosaveTimer = null;
    this.statsTimer = null;
    this.autosave = null;
    const vm = this.vm;
    this.vm = null;
    this.shell.setInputEnabled(false);
    if (vm) await vm.dispose();
    this.setUi("empty");
  }

  private setUi(state: UiState): void {
    this.ui = state;
    this.render();
  }

  private render(): void {
    const { el, ui } = this;
    const hasVm = ui === "running" || ui === "paused";
    el.root.dataset.state = ui;
    el.newButton.hidden = hasVm;
    el.newButton.disabled = ui === "loading";
    el.saveButton.disabled = !hasVm;
    el.pauseButton.disabled = !hasVm;
    el.pauseButton.textContent = ui === "paused" ? "Resume" : "Pause";
    el.resetButton.disabled = !hasVm && ui !== "failed";
    this.shell.setInputEnabled(ui === "running");
    this.renderSaveState();
  }

  private renderBudget(): void {
    this.el.budgetOutput.value = `${this.budgetPct}%`;
    this.el.budget.setAttribute("aria-valuetext", `${this.budgetPct} percent of one core`);
  }

  private renderSaveState(override?: string): void {
    let text = override;
    if (!text) {
      if (!this.vm) text = "";
      else if (this.lastSavedAtMs === null) text = "Not saved yet";
      else {
        const age = formatAge(Date.now() - this.lastSavedAtMs);
        text = this.autosave?.dirty ? `Unsaved changes (saved ${age})` : `Saved ${age}`;
      }
    }
    this.el.saveState.textContent = text;
    this.el.saveState.dataset.saved = String(
      !!this.vm && !this.autosave?.dirty && this.lastSavedAtMs !== null,
    );
  }

  private setStatus(text: string): void {
    this.el.status.textContent = text;
  }

  private showNotice(text: string, offerDownload: boolean): void {
    this.el.notice.hidden = false;
    this.el.notice.replaceChildren(document.createTextNode(text));
    if (offerDownload) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Download the saved VM";
      button.addEventListener("click", () => void this.downloadSetAside());
      this.el.notice.append(" ", button);
    }
  }

  private clearNotice(): void {
    this.el.notice.hidden = true;
    this.el.notice.replaceChildren();
  }

  private async downloadSetAside(): Promise<void> {
    const vm = await this.saved.setAsideCopy();
    if (!vm) return;
    const url = URL.createObjectURL(new Blob([vm.state], { type: "application/gzip" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `spare-cycles-vm-${new Date(vm.savedAtMs).toISOString().slice(0, 19)}.v86state.gz`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  private showProgress(p: LoadProgress): void {
    const { progress, progressLabel } = this.el;
    progress.hidden = false;
    progressLabel.hidden = false;
    progress.max = Math.max(1, p.total);
    progress.value = Math.min(p.done, progress.max);
    const amount =
      p.stage === "download" && p.total > 1
        ? ` ${formatBytes(p.done)} of ${formatBytes(p.total)}`
        : p.stage === "boot"
          ? ` (about ${Math.round(p.total / 1000)} s)`
          : "";
    progressLabel.textContent = `${p.label}…${amount}`;
  }

  private hideProgress(): void {
    this.el.progress.hidden = true;
    this.el.progressLabel.hidden = true;
  }
}
