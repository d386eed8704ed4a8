// The published ports in the shared state: an owner publishes and unpublishes
// ports of its own VMs; readers count a record only when the VM's owner signed
// it and it sits in the owner's slot, so nobody can publish (or unpublish)
// another's VM, nor bring back an old record.
import type { Identity } from "../crypto/identity.ts";
import { signEntry, verifyEntry } from "../crypto/signed.ts";
import type { AuthorStore } from "../state/author-store.ts";
import type { VmBook } from "../state/vm-book.ts";
import { parseWebPort, WEB_PORT_KIND, type WebPort, webPortKey } from "./web-records.ts";

export interface PublishedPort extends WebPort {
  owner: string;
}

export class WebBook {
  constructor(
    private readonly store: AuthorStore,
    private readonly vms: VmBook,
    private readonly identity: Identity,
    private readonly now: () => number = Date.now,
  ) {}

  /** Publishes (or unpublishes) a port of one of this peer's own VMs. */
  async publish(vmId: string, port: number, name: string, published = true): Promise<WebPort> {
    const vm = await this.vms.vm(vmId);
    if (!vm || vm.vm.owner !== this.identity.peerId)
      throw new Error("only the VM's owner may publish its ports");
    const before = await this.record(vmId, port);
    const record = parseWebPort({
      vmId,
      port,
      name,
      published,
      updatedAt: Math.max(this.now(), (before?.updatedAt ?? -1) + 1),
    });
    if (!record) throw new Error("a port is 1 to 65535, and a name is lower-case letters, digits and dashes");
    await this.store.put(
      "web",
      webPortKey(vmId, port),
      await signEntry(this.identity, WEB_PORT_KIND, record),
    );
    return record;
  }

  /** The owner's newest record of a port, published or not (null if none verifies). */
  async record(vmId: string, port: number): Promise<PublishedPort | null> {
    const vm = await this.vms.vm(vmId);
    if (!vm) return null;
    const raw = this.store.get(vm.vm.owner, "web", webPortKey(vmId, port));
    const v = await verifyEntry(raw, WEB_PORT_KIND, parseWebPort);
    if (!v || v.signer !== vm.vm.owner || v.payload.vmId !== vmId || v.payload.port !== port) return null;
    return { ...v.payload, owner: vm.vm.owner };
  }

  /** Whether the port is published now. */
  async isPublished(vmId: string, port: number): Promise<boolean> {
    return (await this.record(vmId, port))?.published ?? false;
  }

  /** Every published port that verifies, of every VM. */
  async all(): Promise<PublishedPort[]> {
    const out: PublishedPort[] = [];
    for (const slot of this.store.list("web")) {
      const m = /^port\/([0-9a-f]{32})\/(\d{1,5})$/.exec(slot.key);
      if (!m) continue;
      const r = await this.record(m[1]!, Number(m[2]));
      if (r?.published && r.owner === slot.author) out.push(r);
    }
    return out;
  }

  /**
   * What `/vm/<ref>/` names: a VM id, or a name published by exactly one VM; the
   * lowest published port of that VM unless one is given.
   */
  async resolve(ref: string, port?: number): Promise<PublishedPort | null> {
    const all = await this.all();
    const byId = all.filter((p) => p.vmId === ref);
    const byName = all.filter((p) => p.name === ref);
    const vms = new Set(byName.map((p) => p.vmId));
    const candidates = byId.length > 0 ? byId : vms.size === 1 ? byName : [];
    const chosen = candidates
      .filter((p) => port === undefined || p.port === port)
      .sort((a, b) => a.port - b.port);
    return chosen[0] ?? null;
  }
}
