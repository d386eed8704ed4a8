// "This device": a VM running in a worker of this tab, with its shell. Puts the
// controller (lifecycle, autosave, set-aside) together with the real worker, the
// browser's clock and idle time, the shipped guest, and the view; and asks
// "leave site?" only while leaving would lose something not saved yet.

import type { SavedVmStore } from "../../core/guest/saved-vm.ts";
import type { KeyValueStore } from "../../core/state/storage.ts";
import { systemClock } from "../../core/util/clock.ts";
import { FilePanel } from "../file-panel.ts";
import { guestManifest, guestSource, imageState, keepGuestCached } from "../guest.ts";
import { Lifetime } from "../lifetime.ts";
import { VmWorker } from "../vm-worker.ts";
import { LocalVmController } from "./controller.ts";
import { type LocalVmElements, LocalVmView } from "./view.ts";

export type { LocalVmElements };

/** Runs `fn` when the browser is idle (or soon, where it cannot say); returns its cancel. */
function whenIdle(fn: () => void): () => void {
  if ("requestIdleCallback" in globalThis) {
    const handle = requestIdleCallback(fn, { timeout: 1000 });
    return () => cancelIdleCallback(handle);
  }
  const timer = setTimeout(fn, 200);
  return () => clearTimeout(timer);
}

export class LocalVmPage {
  private readonly controller: LocalVmController;
  private readonly view: LocalVmView;
  /** Files into and out of the VM (dropped on the shell, or picked). */
  private readonly files: FilePanel | null;
  /** The page's own listeners (leaving the page). */
  private readonly lifetime = new Lifetime();

  constructor(el: LocalVmElements, saved: SavedVmStore, settings: KeyValueStore) {
    this.controller = new LocalVmController({
      createWorker: () => new VmWorker(),
      clock: systemClock,
      saved,
      settings,
      guest: {
        imageId: guestManifest.imageId,
        v86Version: guestManifest.v86Version,
        source: guestSource,
        imageState,
        keepCached: keepGuestCached,
      },
      whenIdle,
      persistStorage: () => void navigator.storage?.persist?.(),
    });
    this.view = new LocalVmView(el, this.controller);
    const filesRoot = el.root.querySelector<HTMLElement>("#vm-files");
    this.files = filesRoot && new FilePanel(filesRoot, el.terminal, () => this.controller.files());
    const showFiles = () => this.files?.setAvailable(this.controller.files() !== null);
    showFiles();
    this.lifetime.defer(this.controller.on("change", showFiles));
    const { signal } = this.lifetime;
    window.addEventListener(
      "beforeunload",
      (event) => {
        if (!this.controller.hasUnsavedWork()) return;
        // The browser asks "leave site?"; a save under way or due in a moment then finishes.
        event.preventDefault();
        event.returnValue = "";
      },
      { signal },
    );
    // Also where the page is left without being hidden first; usually one save is already under way.
    window.addEventListener("pagehide", () => void this.controller.save("when the page was left"), {
      signal,
    });
  }

  /** What this tab's VM costs right now, for presence. */
  load(): { vms: number; usedPct: number } {
    return this.controller.load();
  }

  /** Resumes the VM saved on this device, if there is one. */
  init(): Promise<void> {
    return this.controller.init();
  }

  /** The page is shown or hidden (navigation between pages). */
  setVisible(visible: boolean): void {
    this.controller.setVisible(visible);
  }

  /** Ends the view's listeners, the controller's timers, and the VM's worker. */
  async dispose(): Promise<void> {
    this.lifetime.end();
    this.files?.dispose();
    this.view.dispose();
    await this.controller.dispose();
  }
}
