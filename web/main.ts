// The app's entry point: wires the pages to storage, the network and the service worker.

import { effectiveBudgetPct } from "../core/cpu/backoff.ts";
import { clampBudgetPct } from "../core/cpu/governor.ts";
import { SavedVmStore } from "../core/guest/saved-vm.ts";
import { systemClock } from "../core/util/clock.ts";
import { startVmServices, type VmServices } from "../core/vm/vm-services.ts";
import { ContributePage } from "./contribute-page.ts";
import { loadContributeSettings } from "./contribute-settings.ts";
import { creditRulesFrom } from "./credit-rules.ts";
import { CreditHistory } from "./credits-history.ts";
import { CreditsPage } from "./credits-page.ts";
import { DeviceMonitor } from "./device-monitor.ts";
import { guestImages, guestManifest } from "./guest.ts";
import { IdbStore } from "./idb-store.ts";
import { loadOrCreateIdentity } from "./identity-store.ts";
import { claimLeadership } from "./leader.ts";
import { Lifetime } from "./lifetime.ts";
import { LocalVmPage } from "./local-vm/page.ts";
import { MyVmsPage } from "./my-vms-page.ts";
import { loadNetworkSettings, startNetwork } from "./network.ts";
import { NetworkPage } from "./network-page.ts";
import { setUpServiceWorker } from "./pwa.ts";
import { showPageFromHash } from "./router.ts";
import "./style.css";
import { watchKeyboard } from "./keyboard-watch.ts";
import { labelTableCells } from "./table-labels.ts";
import { createVmEngine } from "./vm-engine.ts";
import { VmWorker } from "./vm-worker.ts";
import { serveGateway } from "./web-gateway.ts";

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
    offline: $("#vm-offline"),
  },
  new SavedVmStore(store),
  store,
);

setUpServiceWorker($("#update-banner"), $("#update-button"));
// Narrow screens stack table rows, each cell named by its column.
window.addEventListener("pagehide", labelTableCells(document), { once: true });
window.addEventListener("pagehide", watchKeyboard(window), { once: true });
const showPage = () => showPageFromHash((page) => localVm.setVisible(page === "local-vm"));
showPage();
window.addEventListener("hashchange", showPage);
void localVm.init();

async function joinNetwork(): Promise<void> {
  const identity = await loadOrCreateIdentity(store);
  const settings = await loadNetworkSettings(store);
  let contribute = await loadContributeSettings(store);
  let services: VmServices | null = null;
  const nav = navigator as Navigator & { deviceMemory?: number };
  const creditRules = creditRulesFrom(location.search);
  const network = startNetwork(identity, settings, creditRules, () => {
    const local = localVm.load();
    return {
      name: "",
      appVersion: __APP_VERSION__,
      capacity: {
        contributing: contribute.contributing,
        cores: nav.hardwareConcurrency ?? 1,
        memoryMiB: contribute.memoryMiB,
        budgetPct: contribute.budgetPct,
        slots: contribute.slots,
      },
      load: { vms: local.vms + (services?.host.count() ?? 0), usedPct: local.usedPct },
    };
  });
  // Others' VMs back off while this device is busy; the user's own VM keeps the budget they chose.
  const device = new DeviceMonitor(
    () => contribute,
    () => {
      services?.host.applyBudget();
      contributePage?.governorChanged();
    },
  );
  let contributePage: ContributePage | null = null;
  const vmKeys = new IdbStore("spare-cycles-vm-keys");
  const leadership = claimLeadership(`spare-cycles-owner-${identity.peerId}`);
  const engine = () =>
    createVmEngine({
      images: guestImages.map((i) => ({ imageId: i.imageId, guest: i.source, image: i.state() })),
      createHost: () => new VmWorker(),
    });
  services = startVmServices(network.node, {
    clock: systemClock,
    createEngine: engine,
    keys: vmKeys,
    checkpoints: new IdbStore("spare-cycles-checkpoints"),
    replicas: new IdbStore("spare-cycles-replicas"),
    // Hosted VMs get the budget the user offers, scaled down (to 0: held) while the device needs it.
    hostSettings: () => ({
      ...contribute,
      paymentGraceMs: creditRules.paymentGraceMs,
      budgetPct: effectiveBudgetPct(clampBudgetPct(contribute.budgetPct), device.share()),
    }),
    imageId: guestManifest.imageId,
    memoryBytes: guestManifest.memorySizeBytes,
    isLeader: () => leadership.isLeader(),
  });
  const vm = services;
  // This tab carries its browser's requests for /vm/ addresses (worker/sw.ts) to the VMs' hosts.
  const stopGateway = serveGateway(vm.web.book, vm.web.client);
  /** This tab's own subscriptions (the badge, presence): ended when the tab goes. */
  const subscriptions = new Lifetime();
  subscriptions.defer(vm.host.on("change", () => void network.node.publishPresence()));
  const networkPage = new NetworkPage(
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
    vmKeys,
  );
  contributePage = new ContributePage(
    {
      toggle: $("#contribute-toggle"),
      form: $("#contribute-form"),
      slots: $("#contribute-slots"),
      memory: $("#contribute-memory"),
      budget: $("#contribute-budget"),
      batteryStop: $("#contribute-battery-stop"),
      batteryResume: $("#contribute-battery-resume"),
      hoursFrom: $("#contribute-hours-from"),
      hoursTo: $("#contribute-hours-to"),
      idleOnly: $("#contribute-idle-only"),
      outbound: $("#contribute-outbound"),
      bandwidthCap: $("#contribute-bandwidth-cap"),
      bandwidth: $("#contribute-bandwidth"),
      status: $("#contribute-status"),
      governor: $("#contribute-governor"),
      chart: $("#contribute-chart"),
      hosted: $("#contribute-hosted"),
    },
    contribute,
    vm.host,
    device,
    store,
    (next) => {
      contribute = next;
      vm.host.applyBudget();
      void network.node.publishPresence();
    },
    vm.bandwidth,
  );
  const contributeView = contributePage;
  const myVmsPage = new MyVmsPage(
    {
      createForm: $("#vm-create-form"),
      createName: $("#vm-create-name"),
      createImage: $("#vm-create-image"),
      createMemory: $("#vm-create-memory"),
      status: $("#my-vms-status"),
      list: $("#my-vms-list"),
      shellPanel: $("#remote-shell"),
      shellTitle: $("#remote-shell-name"),
      shellLatency: $("#remote-shell-latency"),
      shellTerminal: $("#remote-terminal"),
      shellClose: $("#remote-shell-close"),
    },
    vm.owner,
    () => network.node.peers(),
    vm.web.book,
    guestImages,
    vm.files,
  );
  const creditsPage = new CreditsPage(
    {
      balance: $("#credits-balance"),
      figures: $("#credits-figures"),
      stampButton: $("#credits-stamp"),
      stampProgress: $("#credits-stamp-progress"),
      stampStatus: $("#credits-stamp-status"),
      proofs: $("#credits-proofs"),
      chart: $("#credits-chart"),
    },
    network.node.credits,
    identity,
    new CreditHistory(store),
    creditRules.stampBits,
  );
  const badge = $("#net-badge");
  const renderBadge = () => {
    const s = network.signaling.status();
    const links = network.node.mesh.openLinks().length;
    const hosting = vm.host.count();
    badge.textContent =
      `${s.state === "joined" ? "online" : "signaling offline"} · ${links} ${links === 1 ? "link" : "links"}` +
      (contribute.contributing ? ` · hosting ${hosting}` : "");
  };
  subscriptions.defer(network.signaling.on("status", renderBadge));
  subscriptions.defer(network.node.mesh.on("change", renderBadge));
  subscriptions.defer(vm.host.on("change", renderBadge));
  renderBadge();
  // A frozen tab runs nothing, its VMs included: owners move them now, if this still gets out.
  document.addEventListener("freeze", () => vm.host.leaving());
  window.addEventListener("pagehide", () => {
    // Owners of the VMs this tab hosts move them now rather than after a timeout.
    vm.host.leaving();
    subscriptions.end();
    networkPage.dispose();
    contributeView.dispose();
    device.dispose();
    myVmsPage.dispose();
    creditsPage.dispose();
    stopGateway();
    leadership.release();
    void vm.dispose();
    network.stop();
  });
}

joinNetwork().catch((err) => console.error("could not join the network", err));
