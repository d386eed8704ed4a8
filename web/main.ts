// The app's entry point: wires the pages to storage, the network and the service worker.
import { SavedVmStore } from "../core/saved-vm.ts";
import { IdbStore } from "./idb-store.ts";
import { loadOrCreateIdentity } from "./identity-store.ts";
import { LocalVmPage } from "./local-vm-page.ts";
import { loadNetworkSettings, startNetwork } from "./network.ts";
import { NetworkPage } from "./network-page.ts";
import { setUpServiceWorker } from "./pwa.ts";
import { showPageFromHash } from "./router.ts";
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
const showPage = () => showPageFromHash((page) => localVm.setVisible(page === "local-vm"));
showPage();
window.addEventListener("hashchange", showPage);
void localVm.init();

async function joinNetwork(): Promise<void> {
  const identity = await loadOrCreateIdentity(store);
  const settings = await loadNetworkSettings(store);
  const nav = navigator as Navigator & { deviceMemory?: number };
  const network = startNetwork(identity, settings, () => ({
    name: "",
    appVersion: __APP_VERSION__,
    capacity: {
      contributing: false,
      cores: nav.hardwareConcurrency ?? 1,
      memoryMiB: Math.round((nav.deviceMemory ?? 0) * 1024),
      budgetPct: 0,
      slots: 0,
    },
    load: localVm.load(),
  }));
  const page = new NetworkPage(
    {
      status: $("#net-status"),
      peerId: $("#net-peer-id"),
      nameForm: $("#net-name-form"),
      nameInput: $("#net-name"),
      exportButton: $("#net-export"),
      importInput: $("#net-import"),
      notice: $("#net-notice"),
      peers: $("#net-peers"),
      peerCount: $("#net-peer-count"),
      settingsForm: $("#net-settings"),
      roomInput: $("#net-room"),
      serverInput: $("#net-server"),
      iceInput: $("#net-ice"),
    },
    network,
    store,
  );
  const badge = $("#net-badge");
  const renderBadge = () => {
    const s = network.signaling.status();
    const links = network.node.mesh.openLinks().length;
    badge.textContent = `${s.state === "joined" ? "online" : "signaling offline"} · ${links} ${links === 1 ? "link" : "links"}`;
  };
  network.signaling.on("status", renderBadge);
  network.node.mesh.on("change", renderBadge);
  renderBadge();
  window.addEventListener("pagehide", () => {
    page.dispose();
    network.stop();
  });
}

joinNetwork().catch((err) => console.error("could not join the network", err));
