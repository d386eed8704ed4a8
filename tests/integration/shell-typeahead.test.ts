// Typing into a remote VM's shell is never lost: what the owner's tab types
// before a host runs the VM, while it moves to another host, or while the link
// to its host is re-made, is kept in order and reaches the VM once it can.
import { afterEach, describe, expect, it } from "vitest";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import type { LinkFactory } from "../../core/net/transport.ts";
import type { ShellSession } from "../../core/vm/owner-runtime.ts";
import { eventually } from "../helpers/eventually.ts";
import { running } from "./fake-engine.ts";
import { addPeer, hostOf, type Peer, settled, stopAll } from "./vm-peers.ts";

afterEach(stopAll);

/** Types `text` one keystroke at a time, as a terminal sends it. */
function type(session: ShellSession, text: string): void {
  for (const key of text) session.input(new TextEncoder().encode(key));
}

/** The VMs running now, and whether one holds `name` = `value`. */
const holds = (name: string, value: string) => [...running].some((m) => m.running && m.files[name] === value);

/** A network whose links from `peer` the test can cut. */
function cuttable(network: MemoryNetwork) {
  const links: { remote: string; close(): void }[] = [];
  const wrapped = {
    factory(self: string): LinkFactory {
      const inner = network.factory(self);
      return {
        create: (options) => {
          const link = inner.create(options);
          links.push({ remote: options.remote, close: () => link.close() });
          return link;
        },
      };
    },
  } as MemoryNetwork;
  return {
    network: wrapped,
    cut: (remote: string) => {
      for (const link of links) if (link.remote === remote) link.close();
    },
  };
}

async function room() {
  const hub = new MemorySignalingHub();
  const network = new MemoryNetwork();
  const links = cuttable(network);
  const owner = await addPeer(hub, links.network);
  const a = await addPeer(hub, network, { contributing: true });
  const b = await addPeer(hub, network, { contributing: true });
  await settled([owner, a, b]);
  return { owner, a, b, cut: links.cut };
}

function attach(owner: Peer, vmId: string) {
  const seen = { transcript: false, notices: [] as string[] };
  const session = owner.vm.owner.attach(vmId, {
    output: () => {},
    transcript: () => {
      seen.transcript = true;
    },
    status: () => {},
    notice: (text) => seen.notices.push(text),
  });
  return { session, seen };
}

describe("typing into a remote VM's shell", () => {
  it("before any host runs the VM reaches it once one does", async () => {
    const { owner } = await room();
    const vmId = await owner.vm.owner.create("early");
    const { session, seen } = attach(owner, vmId);
    type(session, "set early yes\r");
    expect(owner.vm.owner.get(vmId)?.state).not.toBe("running");
    await eventually("the VM holds what was typed before it ran", () => holds("early", "yes"));
    expect(seen.notices).toEqual([]);
  });

  it("while the VM moves reaches it on its new host", async () => {
    const { owner, a, b } = await room();
    const vmId = await owner.vm.owner.create("mover");
    await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
    const first = hostOf(owner, vmId);
    const { session, seen } = attach(owner, vmId);
    await eventually("attached", () => seen.transcript);
    // Type the moment the owner signs the lease for the other host.
    const typed = new Promise<void>((resolve) => {
      const off = owner.vm.owner.on("change", () => {
        if (owner.vm.owner.get(vmId)?.state !== "moving") return;
        off();
        type(session, "set moved yes\r");
        resolve();
      });
    });
    await owner.vm.owner.move(vmId);
    await typed;
    const second = hostOf(owner, vmId);
    expect(second).not.toBe(first);
    expect([a.node.self, b.node.self]).toContain(second);
    await eventually("the new host's VM holds what was typed during the move", () => holds("moved", "yes"));
    expect(running.size).toBe(1);
  });

  it("while the link to its host is re-made reaches it once the host knows the tab again", async () => {
    const { owner, cut } = await room();
    const vmId = await owner.vm.owner.create("relink");
    await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
    const { session, seen } = attach(owner, vmId);
    await eventually("attached", () => seen.transcript);
    cut(hostOf(owner, vmId)!);
    type(session, "set relinked yes\r");
    await eventually("the VM holds what was typed while the link was down", () => holds("relinked", "yes"));
  });
});
