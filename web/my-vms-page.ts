// "My VMs": the VMs this identity owns, wherever they run: their state, host,
// newest checkpoint and transfers, with actions, and a shell into any of them.

import { shortPeerId } from "../core/crypto/identity.ts";
import { formatCredits } from "../core/ledger/units.ts";
import type { PeerView } from "../core/peer/peer-node.ts";
import { errorMessage } from "../core/util/errors.ts";
import { formatAge, formatBytes } from "../core/util/format.ts";
import type { FileClients } from "../core/vm/file-client.ts";
import type { OwnedVm, OwnerRuntime, ShellSession } from "../core/vm/owner-runtime.ts";
import type { PublishedPort, WebBook } from "../core/web/web-book.ts";
import { downloadFile } from "./download.ts";
import { FilePanel } from "./file-panel.ts";
import type { GuestImage } from "./guest.ts";
import { ImageChoice } from "./image-choice.ts";
import { Lifetime } from "./lifetime.ts";
import { RemoteShellOutput } from "./remote-shell-output.ts";
import { createShell, type Shell } from "./terminal.ts";
import { vmNetworkText } from "./vm-network-view.ts";

export interface MyVmsElements {
  createForm: HTMLFormElement;
  createName: HTMLInputElement;
  createImage: HTMLSelectElement;
  createMemory: HTMLSelectElement;
  status: HTMLElement;
  list: HTMLTableSectionElement;
  shellPanel: HTMLElement;
  shellTitle: HTMLElement;
  shellLatency: HTMLElement;
  shellTerminal: HTMLElement;
  shellClose: HTMLButtonElement;
}

const STATE_LABEL: Record<OwnedVm["state"], string> = {
  placing: "placing",
  checking: "checking with its host",
  starting: "starting",
  running: "running",
  moving: "moving",
  stopped: "stopped",
  waiting: "waiting for a contributor",
  failed: "failed",
};

export class MyVmsPage {
  private readonly shell: Shell;
  /** The shell's output off the page's thread where it can be, so echoes are painted a frame sooner. */
  private readonly fastOutput: RemoteShellOutput;
  private session: ShellSession | null = null;
  private readonly files: FilePanel | null;
  private sessionVm: string | null = null;
  /** Every listener and timer this page started: dispose ends them. */
  private readonly lifetime = new Lifetime();
  private names = new Map<string, string>();
  /** Each VM's published ports, as the shared state says (refreshed every second). */
  private published = new Map<string, PublishedPort[]>();
  /** The create form's image and memory. */
  private readonly choice: ImageChoice;

  constructor(
    private readonly el: MyVmsElements,
    private readonly owner: OwnerRuntime,
    private readonly peers: () => Promise<PeerView[]>,
    private readonly web: WebBook,
    /** The images a new VM may start from, the default first (web/guest.ts). */
    images: GuestImage[],
    /** Files into and out of the VM whose shell is open (the host takes them from this granted tab). */
    files?: FileClients,
  ) {
    this.choice = new ImageChoice(el.createImage, el.createMemory, images, this.lifetime.signal);
    this.shell = createShell(el.shellTerminal, (bytes) => this.session?.input(bytes));
    const filesRoot = el.shellPanel.querySelector<HTMLElement>("#remote-files");
    this.files =
      filesRoot && files
        ? new FilePanel(filesRoot, el.shellTerminal, () => {
            const vmId = this.sessionVm;
            return vmId ? files.port(vmId, () => this.owner.get(vmId)?.host ?? null) : null;
          })
        : null;
    this.fastOutput = new RemoteShellOutput(this.shell, el.shellTerminal);
    const { signal } = this.lifetime;
    el.createForm.addEventListener(
      "submit",
      (e) => {
        e.preventDefault();
        void this.create();
      },
      { signal },
    );
    el.shellClose.addEventListener("click", () => this.closeShell(), { signal });
    this.lifetime.defer(owner.on("change", () => this.render()));
    this.lifetime.every(1000, () => {
      void this.refreshNames();
      this.render();
    });
    void this.refreshNames();
    this.render();
  }

  dispose(): void {
    this.lifetime.end();
    this.closeShell();
    this.files?.dispose();
    this.fastOutput.dispose();
    this.shell.dispose();
  }

  private async refreshNames(): Promise<void> {
    const views = await this.peers();
    this.names = new Map(views.map((v) => [v.peer, v.name]));
    const byVm = new Map<string, PublishedPort[]>();
    for (const p of await this.web.all()) byVm.set(p.vmId, [...(byVm.get(p.vmId) ?? []), p]);
    this.published = byVm;
  }

  /** Asks for a port and a name, and publishes that port of the VM at /vm/<name>/. */
  private async publish(v: OwnedVm): Promise<void> {
    const port = Number(window.prompt(`Which port of “${v.name}” serves the web?`, "80"));
    if (!Number.isInteger(port) || port < 1 || port > 65535) return;
    const suggested =
      v.name
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^-+|-+$/g, "") || "site";
    const name = window.prompt("A name for its address (letters, digits and dashes):", suggested);
    if (!name) return;
    try {
      await this.web.publish(v.vmId, port, name.trim().toLowerCase());
      this.el.status.textContent = `Published port ${port} of “${v.name}” at ${new URL(`vm/${name}/`, document.baseURI).href}`;
      await this.refreshNames();
      this.render();
    } catch (err) {
      this.el.status.textContent = `Could not publish: ${errorMessage(err)}`;
    }
  }

  private async unpublish(p: PublishedPort): Promise<void> {
    await this.web.publish(p.vmId, p.port, p.name, false);
    await this.refreshNames();
    this.render();
  }

  private hostLabel(host: string | null): string {
    if (!host) return "–";
    const name = this.names.get(host);
    return name ? `${name} (${shortPeerId(host)})` : shortPeerId(host);
  }

  private async create(): Promise<void> {
    const name = this.el.createName.value;
    this.el.createName.value = "";
    this.el.status.textContent = "Creating a VM and looking for a contributor with room…";
    try {
      await this.owner.create(name, this.choice.value());
    } catch (err) {
      this.el.status.textContent = `Could not create the VM: ${errorMessage(err)}`;
    }
  }

  private render(): void {
    const vms = this.owner.list();
    this.el.list.replaceChildren(...vms.map((v) => this.row(v)));
    if (vms.length === 0)
      this.el.status.textContent = "You own no VMs yet. Give one a name and press “Create VM”.";
    else this.el.status.textContent = `${vms.length} ${vms.length === 1 ? "VM" : "VMs"}.`;
    if (this.session && this.sessionVm) {
      const rtt = this.session.rttMs();
      const host = this.session.host();
      this.el.shellLatency.textContent = host
        ? `on ${this.hostLabel(host)} · latency ${rtt === null ? "…" : `${Math.round(rtt)} ms`}`
        : "waiting for the host…";
    }
  }

  private row(v: OwnedVm): HTMLTableRowElement {
    const tr = document.createElement("tr");
    tr.dataset.vmId = v.vmId;
    tr.dataset.state = v.state;
    tr.dataset.host = v.host ?? "";
    tr.dataset.epoch = String(v.epoch);
    tr.dataset.checkpointSeq = v.lastCheckpoint ? `${v.lastCheckpoint.epoch}.${v.lastCheckpoint.seq}` : "";
    const name = document.createElement("th");
    name.scope = "row";
    const label = document.createElement("span");
    label.className = "vm-name";
    label.textContent = v.name;
    const guest = document.createElement("div");
    guest.className = "muted vm-guest";
    guest.textContent = this.choice.describe(v.imageId, v.memoryBytes);
    tr.dataset.diskBytes = v.diskBytes === null ? "" : String(v.diskBytes);
    if (v.diskBytes !== null && this.choice.hasDisk(v.imageId))
      guest.textContent += `, disk ${formatBytes(v.diskBytes)}`;
    name.append(label, guest);
    const state = document.createElement("td");
    state.className = "vm-state";
    state.textContent = v.state === "running" ? `running on ${this.hostLabel(v.host)}` : STATE_LABEL[v.state];
    if (v.detail) {
      const detail = document.createElement("div");
      detail.className = "muted";
      detail.textContent = v.detail;
      state.append(detail);
    }
    // How paying for the current lease stands (its host's word, or this tab's if out of credit).
    const payment = v.payment?.epoch === v.epoch ? v.payment : null;
    tr.dataset.payment = payment?.state ?? "";
    if (payment && (payment.reason || payment.paidMilli > 0)) {
      const note = document.createElement("div");
      note.className = "vm-payment";
      note.setAttribute("role", "status");
      const cost = `${formatCredits(payment.paidMilli)} on this host so far`;
      note.textContent = payment.reason ? `${payment.reason} (${cost})` : cost;
      state.append(note);
    }
    const network = this.networkCell(v, tr);
    const checkpoint = document.createElement("td");
    const c = v.lastCheckpoint;
    checkpoint.textContent = c
      ? `${formatAge(Date.now() - c.createdAt)} (${formatBytes(c.bytes)})`
      : "none yet";
    if (v.transfer) {
      const bar = document.createElement("progress");
      bar.max = v.transfer.total;
      bar.value = v.transfer.done;
      bar.setAttribute("aria-label", `Checkpoint transfer for ${v.name}`);
      checkpoint.append(" ", bar);
    }
    const actions = document.createElement("td");
    actions.className = "actions";
    const button = (label: string, onClick: () => void, disabled = false) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.disabled = disabled;
      b.setAttribute("aria-label", `${label} ${v.name}`);
      b.addEventListener("click", onClick); // goes with its row, which the next render replaces
      actions.append(b);
    };
    const live = v.state === "running";
    button("Open shell", () => this.openShell(v), v.state === "stopped");
    button("Move", () => void this.owner.move(v.vmId), !live);
    if (v.state === "stopped") button("Start", () => void this.owner.start(v.vmId));
    else button("Stop", () => void this.owner.stop(v.vmId), !live);
    button("Download snapshot", () => void this.download(v), !c);
    button("Publish web", () => void this.publish(v));
    // Its published addresses: open them, or take them back.
    for (const p of this.published.get(v.vmId) ?? []) {
      const link = document.createElement("a");
      link.href = `vm/${p.name}:${p.port}/`;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = `/vm/${p.name}:${p.port}/`;
      const unpublish = document.createElement("button");
      unpublish.type = "button";
      unpublish.textContent = "Unpublish";
      unpublish.setAttribute("aria-label", `Unpublish ${p.name}:${p.port}`);
      unpublish.addEventListener("click", () => void this.unpublish(p));
      const item = document.createElement("div");
      item.className = "vm-web";
      item.append(link, " ", unpublish);
      state.append(item);
    }
    button("Delete", () => void this.remove(v));
    tr.append(name, state, network, checkpoint, actions);
    return tr;
  }

  /** Its address on the owner's network, whether its host carries outbound traffic, what its ports served. */
  private networkCell(v: OwnedVm, tr: HTMLTableRowElement): HTMLTableCellElement {
    const text = vmNetworkText(v, (host) => this.hostLabel(host));
    const said = v.outbound?.epoch === v.epoch ? v.outbound : null;
    tr.dataset.address = text.address;
    tr.dataset.outbound = said ? (said.allowed ? "on" : "off") : "";
    tr.dataset.webRequests = String(v.web.requests);
    tr.dataset.webBytesOut = String(v.web.bytesOut);
    const cell = document.createElement("td");
    cell.className = "vm-network";
    const line = (className: string, content: string) => {
      if (!content) return;
      const div = document.createElement("div");
      div.className = className;
      div.textContent = content;
      cell.append(div);
    };
    line("vm-address", text.address);
    line("vm-outbound muted", text.outbound);
    line("vm-traffic muted", text.traffic);
    return cell;
  }

  private openShell(v: OwnedVm): void {
    this.closeShell();
    this.sessionVm = v.vmId;
    this.el.shellPanel.hidden = false;
    this.el.shellTitle.textContent = v.name;
    this.shell.clear();
    this.shell.setInputEnabled(true);
    this.session = this.fastOutput.attach(this.owner, v.vmId, {
      output: (bytes) => this.shell.write(bytes),
      transcript: (text) => {
        // On (re)attach the host sends what the console shows: start from that.
        this.shell.clear();
        this.shell.write(text.replaceAll("\x1b[6n", ""));
      },
      status: () => this.render(),
      // Typing that did not fit while the VM was out of reach: said where the typing is.
      notice: (text) => this.shell.write(`\r\n[${text}]\r\n`),
    });
    this.files?.setAvailable(true);
    this.files?.setDisk(this.choice.hasDisk(v.imageId));
    this.shell.focus();
    this.render();
  }

  private closeShell(): void {
    this.files?.setAvailable(false);
    this.session?.detach();
    this.session = null;
    this.sessionVm = null;
    this.el.shellPanel.hidden = true;
    this.shell.setInputEnabled(false);
  }

  private async download(v: OwnedVm): Promise<void> {
    const snapshot = await this.owner.sealedSnapshot(v.vmId);
    if (!snapshot) {
      this.el.status.textContent = "This tab holds no checkpoint of that VM yet.";
      return;
    }
    downloadFile(
      `${v.name}-${v.vmId.slice(0, 8)}-${snapshot.epoch}.${snapshot.seq}.sealed`,
      snapshot.bytes as BlobPart,
      "application/octet-stream",
    );
  }

  private async remove(v: OwnedVm): Promise<void> {
    if (
      !window.confirm(
        `Delete “${v.name}”? It stops, and its checkpoints and key are erased from this device.`,
      )
    )
      return;
    if (this.sessionVm === v.vmId) this.closeShell();
    await this.owner.remove(v.vmId);
  }
}
