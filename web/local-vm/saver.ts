// Saving the local VM as it goes: soon after activity settles (core/guest/autosave.ts),
// on demand, and when the page is hidden or left; each save a small delta against
// the image's state that replaces the previous save in one write. It knows what
// is not saved yet, for the page's "leave site?" prompt and the save indicator.
import { AutosavePolicy } from "../../core/guest/autosave.ts";
import type { SavedVm, SavedVmStore } from "../../core/guest/saved-vm.ts";
import type { Clock } from "../../core/util/clock.ts";
import { errorMessage } from "../../core/util/errors.ts";
import { formatAge, formatBytes } from "../../core/util/format.ts";
import type { BaseSource } from "../../worker/api.ts";
import { baseOf } from "../base-source.ts";
import { Timers } from "./timers.ts";
import type { LocalVmGuest, LocalVmWorker } from "./worker-port.ts";

export interface SaverDeps {
  clock: Clock;
  wallMs(): number;
  saved: SavedVmStore;
  guest: LocalVmGuest;
  /** Asks the browser to keep this origin's storage; called after the first save. */
  persistStorage?: () => void;
  /** Whether the VM can be saved now (it runs or is paused). */
  canSave(): boolean;
  /** What `state()` returns changed. */
  changed(): void;
  failed(message: string): void;
}

/** After a save fails (a full disk…), how long before trying again on its own. */
export const RETRY_AFTER_FAILURE_MS = 5000;

export interface SaveState {
  text: string;
  saved: boolean;
  title: string;
}

export class LocalVmSaver {
  private readonly timers: Timers;
  private vm: LocalVmWorker | null = null;
  private policy: AutosavePolicy | null = null;
  private saving: Promise<void> | null = null;
  private lastSavedAtMs: number | null = null;
  private title = "";
  private persisted = false;
  /** When the last save failed (clock time); null once one succeeds. */
  private failedAtMs: number | null = null;

  constructor(private readonly deps: SaverDeps) {
    this.timers = new Timers(deps.clock);
  }

  /**
   * Saves `vm` as it goes from now on. `savedAtMs`: when the state it started
   * from was saved on this device (null: never, so it is unsaved from the start).
   */
  attach(vm: LocalVmWorker, savedAtMs: number | null): void {
    this.vm = vm;
    this.lastSavedAtMs = savedAtMs;
    const now = this.deps.clock.nowMs();
    this.policy = new AutosavePolicy(now);
    if (savedAtMs === null) this.policy.noteActivity(now); // save the new VM soon
    this.schedule();
  }

  /** The VM stops (or is replaced): no more saves of it. */
  detach(): void {
    this.timers.cancelAll();
    this.vm = null;
    this.policy = null;
  }

  /** The saved VM was discarded. */
  forget(): void {
    this.lastSavedAtMs = null;
  }

  /** Something changed in the VM (input typed, output printed). */
  noteActivity(): void {
    if (!this.policy) return;
    this.policy.noteActivity(this.deps.clock.nowMs());
    this.schedule();
  }

  /**
   * Whether leaving now would lose something: a change that no completed save
   * holds (a save under way does not count until it is written; a periodic save
   * of an unchanged VM risks nothing).
   */
  unsaved(): boolean {
    return this.vm !== null && (this.policy?.dirty ?? false);
  }

  /** Saves the VM to this device; concurrent requests share one save. */
  save(reason: string): Promise<void> {
    if (this.saving) return this.saving;
    const vm = this.vm;
    if (!vm || !this.deps.canSave()) return Promise.resolve();
    const startedMs = this.deps.clock.nowMs();
    this.saving = this.write(vm, reason, startedMs).finally(() => {
      this.saving = null;
      if (this.vm === vm) this.schedule();
      this.deps.changed();
    });
    this.deps.changed();
    return this.saving;
  }

  state(): SaveState {
    const dirty = this.policy?.dirty ?? false;
    let text: string;
    if (this.saving) text = "Saving…";
    else if (!this.vm) text = "";
    else if (this.lastSavedAtMs === null) text = "Not saved yet";
    else {
      const age = formatAge(this.deps.wallMs() - this.lastSavedAtMs);
      text = dirty ? `Unsaved changes (saved ${age})` : `Saved ${age}`;
    }
    return { text, saved: !!this.vm && !dirty && this.lastSavedAtMs !== null, title: this.title };
  }

  private async write(vm: LocalVmWorker, reason: string, startedMs: number): Promise<void> {
    const base = this.base();
    try {
      const snapshot = await vm.api.snapshot(base);
      if (this.vm !== vm) return;
      const record: SavedVm = {
        schema: 2,
        imageId: this.deps.guest.imageId,
        v86Version: this.deps.guest.v86Version,
        savedAtMs: this.deps.wallMs(),
        encoding: snapshot.encoding,
        baseSha256: snapshot.encoding === "delta-gzip" && base ? base.sha256 : null,
        state: snapshot.state,
        rawBytes: snapshot.rawBytes,
        transcript: snapshot.transcript,
      };
      await this.deps.saved.save(record);
      if (this.vm !== vm) return;
      if (!this.persisted) this.deps.persistStorage?.();
      this.persisted = true;
      this.lastSavedAtMs = record.savedAtMs;
      this.failedAtMs = null;
      this.policy?.noteSaved(startedMs);
      const what = snapshot.encoding === "delta-gzip" ? "changes from the image" : "state";
      const madeMs = snapshot.saveMs + snapshot.compressMs;
      this.title = `Saved ${reason}: ${formatBytes(snapshot.state.byteLength)} (${what}; state ${formatBytes(snapshot.rawBytes)} before compression), made in ${madeMs} ms`;
    } catch (err) {
      if (this.vm !== vm) return;
      this.failedAtMs = this.deps.clock.nowMs();
      this.deps.failed(`Saving failed: ${errorMessage(err)}`);
    }
  }

  /** The image's state, which saves are deltas against (none: saves are whole). */
  private base(): BaseSource | undefined {
    const image = this.deps.guest.imageState();
    return image.kind === "url" ? baseOf(image) : undefined;
  }

  private schedule(): void {
    // A save under way schedules the next when it ends.
    if (!this.policy || !this.vm || this.saving) return;
    const now = this.deps.clock.nowMs();
    let dueMs = this.policy.dueInMs(now);
    if (this.failedAtMs !== null) dueMs = Math.max(dueMs, this.failedAtMs + RETRY_AFTER_FAILURE_MS - now);
    this.timers.after("autosave", dueMs, () => void this.save("automatically"));
  }
}
