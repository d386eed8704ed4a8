// "Network": this peer's identity and name, the signaling server's status, and
// every peer this tab knows of with its presence and how it is connected.

import { importIdentity, shortPeerId } from "../core/crypto/identity.ts";
import { parseIceServersText } from "../core/net/ice-servers.ts";
import type { SignalingStatus } from "../core/net/signaling-client.ts";
import type { LinkRoute } from "../core/net/transport.ts";
import type { PeerView } from "../core/peer/peer-node.ts";
import type { KeyValueStore } from "../core/state/storage.ts";
import { errorMessage } from "../core/util/errors.ts";
import { formatAge } from "../core/util/format.ts";
import { downloadFile } from "./download.ts";
import { identityFile, replaceIdentity } from "./identity-store.ts";
import { Lifetime } from "./lifetime.ts";
import { type Network, type NetworkSettings, saveNetworkSettings } from "./network.ts";
import { parseServerUrls } from "./network-settings.ts";
import { renderRefusedInput } from "./refused-input.ts";

const REFRESH_MS = 2000;

export interface NetworkElements {
  status: HTMLElement;
  peerId: HTMLElement;
  nameForm: HTMLFormElement;
  nameInput: HTMLInputElement;
  exportButton: HTMLButtonElement;
  importInput: HTMLInputElement;
  notice: HTMLElement;
  peers: HTMLTableSectionElement;
  peerCount: HTMLElement;
  settingsForm: HTMLFormElement;
  roomInput: HTMLInputElement;
  serverInput: HTMLInputElement;
  iceInput: HTMLTextAreaElement;
  /** "Link only through a TURN relay" (found by id when not given). */
  relayOnlyInput?: HTMLInputElement;
  /** "Refused input": its summary line and its list (found by id when not given). */
  refusedSummary?: HTMLElement;
  refusedList?: HTMLElement;
}

const CONNECTION_LABEL: Record<PeerView["connection"], string> = {
  self: "this tab",
  direct: "direct",
  connecting: "connecting…",
  relayed: "via the mesh",
  offline: "no link yet",
};

/** A direct link that goes through a TURN server says so (the relay sees the traffic's size and timing, never its content). */
const RELAYED_BY_TURN = "relayed by TURN";

export class NetworkPage {
  /** Every listener and timer this page started: dispose ends them. */
  private readonly lifetime = new Lifetime();
  private rendering = false;
  private readonly refused: { summary: HTMLElement; list: HTMLElement } | null;
  private readonly relayOnlyInput: HTMLInputElement | null;

  constructor(
    private readonly el: NetworkElements,
    private readonly network: Network,
    private readonly store: KeyValueStore,
    /** The keys of the VMs this identity owns: exported and imported with it. */
    private readonly vmKeys: KeyValueStore,
  ) {
    const { node, signaling } = network;
    el.peerId.textContent = shortPeerId(node.identity.peerId);
    el.peerId.title = node.identity.peerId;
    const summary = el.refusedSummary ?? document.getElementById("net-refused-summary");
    const list = el.refusedList ?? document.getElementById("net-refused");
    this.refused = summary && list ? { summary, list } : null;
    this.relayOnlyInput =
      el.relayOnlyInput ?? (document.getElementById("net-relay-only") as HTMLInputElement | null);
    const { signal } = this.lifetime;
    this.lifetime.defer(node.on("change", () => void this.renderPeers()));
    this.lifetime.defer(signaling.on("status", () => this.renderStatus()));
    this.lifetime.every(REFRESH_MS, () => {
      this.renderStatus();
      void this.renderPeers();
      this.renderRefused();
    });
    const onSubmit = (form: HTMLFormElement, action: () => Promise<void>) =>
      form.addEventListener(
        "submit",
        (e) => {
          e.preventDefault();
          void action();
        },
        { signal },
      );
    onSubmit(el.nameForm, () => this.saveName());
    onSubmit(el.settingsForm, () => this.saveSettings());
    el.exportButton.addEventListener("click", () => void this.exportIdentity(), { signal });
    el.importInput.addEventListener("change", () => void this.importIdentity(), { signal });
    this.fillSettings(network.settings);
    void node.directory.ownProfile().then((p) => {
      if (p && !el.nameInput.value && !this.lifetime.ended) el.nameInput.value = p.name;
    });
    this.renderStatus();
    void this.renderPeers();
    this.renderRefused();
  }

  dispose(): void {
    this.lifetime.end();
  }

  private renderStatus(): void {
    const s: SignalingStatus = this.network.signaling.status();
    const where = `network “${this.network.settings.room}”`;
    let text: string;
    if (s.state === "joined") text = `Connected to the signaling server, in ${where}.`;
    else if (s.state === "connecting") text = `Connecting to the signaling server (${s.url})…`;
    else if (s.state === "waiting") {
      const inS = Math.max(0, Math.ceil(((s.retryAtMs ?? 0) - performance.now()) / 1000));
      text = `The signaling server is unreachable (${s.lastError ?? "no answer"}). Trying again in ${inS} s. Links to peers stay up.`;
    } else text = "Not connected.";
    this.el.status.textContent = text;
    this.el.status.dataset.state = s.state;
  }

  private renderRefused(): void {
    if (this.refused)
      renderRefusedInput(this.refused.summary, this.refused.list, this.network.node.inputStats());
  }

  private async renderPeers(): Promise<void> {
    if (this.rendering) return;
    this.rendering = true;
    try {
      const views = await this.network.node.peers();
      const routes = await Promise.all(
        views.map((v) =>
          v.connection === "direct" ? this.network.linkRoute(v.peer) : Promise.resolve<LinkRoute>("unknown"),
        ),
      );
      if (this.lifetime.ended) return;
      const rows = views.map((v, i) => this.row(v, routes[i] ?? "unknown"));
      this.el.peers.replaceChildren(...rows);
      const others = views.filter((v) => v.connection !== "self").length;
      this.el.peerCount.textContent = others === 1 ? "1 other peer" : `${others} other peers`;
      this.el.peerCount.dataset.count = String(others);
    } finally {
      this.rendering = false;
    }
  }

  private row(v: PeerView, route: LinkRoute): HTMLTableRowElement {
    const tr = document.createElement("tr");
    tr.dataset.peer = v.peer;
    tr.dataset.connection = v.connection;
    if (v.connection === "direct") tr.dataset.route = route;
    const p = v.presence;
    const how =
      v.connection === "direct" && route === "relayed"
        ? `direct, ${RELAYED_BY_TURN}`
        : CONNECTION_LABEL[v.connection];
    const cells = [
      v.name || "(no name)",
      shortPeerId(v.peerId),
      how + (v.rttMs !== null ? ` (${Math.round(v.rttMs)} ms)` : ""),
      p
        ? p.capacity.contributing
          ? `${p.capacity.slots} VM slots, ${p.capacity.budgetPct}% CPU, ${p.capacity.memoryMiB} MiB`
          : `not contributing (${p.capacity.cores} cores)`
        : "–",
      p ? `${p.load.vms} VMs, ${Math.round(p.load.usedPct)}% CPU` : "–",
      p ? `${p.appVersion} · ${v.seenAtMs ? formatAge(Date.now() - v.seenAtMs) : "–"}` : "–",
    ];
    for (const [i, text] of cells.entries()) {
      const td = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) td.setAttribute("scope", "row");
      td.textContent = text;
      if (i === 1) td.title = v.peer;
      tr.append(td);
    }
    return tr;
  }

  private async saveName(): Promise<void> {
    await this.network.node.setName(this.el.nameInput.value);
    this.showNotice("Name saved: every peer in the network sees it.");
  }

  private async exportIdentity(): Promise<void> {
    const file = await identityFile(this.network.node.identity, this.vmKeys);
    downloadFile(
      `spare-cycles-identity-${shortPeerId(file.peerId)}.json`,
      JSON.stringify(file, null, 2),
      "application/json",
    );
  }

  private async importIdentity(): Promise<void> {
    const file = this.el.importInput.files?.[0];
    this.el.importInput.value = "";
    if (!file) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await file.text());
    } catch {
      this.showNotice("That file is not an identity file (not JSON).");
      return;
    }
    const refuse = (err: unknown) => this.showNotice(`Could not import: ${errorMessage(err)}`);
    let incoming: string;
    try {
      incoming = (await importIdentity(parsed)).peerId; // check it before asking anything
    } catch (err) {
      refuse(err);
      return;
    }
    if (incoming === this.network.node.identity.peerId) {
      this.showNotice("This device already uses that identity.");
      return;
    }
    const ok = window.confirm(
      `Use identity ${shortPeerId(incoming)} from this file on this device? The current one (${shortPeerId(this.network.node.identity.peerId)}) is replaced: export it first if you want to keep it.`,
    );
    if (!ok) return;
    try {
      await replaceIdentity(this.store, this.vmKeys, parsed);
    } catch (err) {
      refuse(err);
      return;
    }
    location.reload();
  }

  private fillSettings(s: NetworkSettings): void {
    this.el.roomInput.value = s.room;
    this.el.serverInput.value = s.serverUrls.join(" ");
    this.el.iceInput.value = s.iceServers ? JSON.stringify(s.iceServers) : "";
    if (this.relayOnlyInput) this.relayOnlyInput.checked = s.relayOnly;
  }

  private async saveSettings(): Promise<void> {
    const ice = parseIceServersText(this.el.iceInput.value);
    if (!ice.ok) {
      this.showNotice(`ICE servers: ${ice.error}`);
      return;
    }
    const iceServers = ice.servers;
    const room = this.el.roomInput.value.trim() || "main";
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(room)) {
      this.showNotice("The network name may use letters, digits, '.', '_' and '-' (up to 64).");
      return;
    }
    const servers = parseServerUrls(this.el.serverInput.value);
    if (!servers.ok) {
      this.showNotice(`Signaling servers: ${servers.error}.`);
      return;
    }
    const relayOnly = this.relayOnlyInput?.checked ?? false;
    await saveNetworkSettings(this.store, { room, serverUrls: servers.urls, iceServers, relayOnly });
    location.reload();
  }

  private showNotice(text: string): void {
    this.el.notice.hidden = false;
    this.el.notice.textContent = text;
  }
}
