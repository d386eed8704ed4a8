// The app's entry point: wires the pages to storage and the service worker.
import { SavedVmStore } from "../core/saved-vm.ts";
import { IdbStore } from "./idb-store.ts";
import { LocalVmPage } from "./local-vm-page.ts";
import { setUpServiceWorker } from "./pwa.ts";
import "./style.css";

function $<T extends HTMLElement>(selector: string): T {
  const found = document.querySelector<T>(selector);
  if (!found) throw new Error(`missing element ${selector}`);
  return found;
}

const store = new IdbStore("spare-cycles");

const localVm = new LocalVmPage(
  {
    root: $("#local-vm"),
    newButton: $("#vm-new"),
    saveButton: $("#vm-save"),
    pauseButton: $("#vm-pause"),
    resetButton: $("#vm-reset"),
    budget: $("#vm-budget"),
    budgetOutput: $("#vm-budget-output"),
    status: $("#vm-status"),
    notice: $("#vm-notice"),
    progress: $("#vm-progress"),
    progressLabel: $("#vm-progress-label"),
    terminal: $("#vm-terminal"),
    stats: $("#vm-stats"),
    saveState: $("#vm-save-state"),
  },
  new SavedVmStore(store),
  store,
);

setUpServiceWorker($("#update-banner"), $("#update-button"));
void localVm.init();
