// What the owner sees of its VM's network, and what a contributor gives: the
// owner's view counts the requests its published port served and the bytes in
// and out, added up across a move; it says whether the VM's host lets it reach
// the internet (only a host that allows it tells its engine so); and a host's
// bandwidth cap slows an answer down without cutting it.
import { afterEach, describe, expect, it } from "vitest";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import { encodeVmMessage, VM_PROTOCOL } from "../../core/vm/vm-protocol.ts";
import type { WebRequest, WebResponse } from "../../core/vm/web-client.ts";
import { eventually } from "../helpers/eventually.ts";
import { running } from "./fake-engine.ts";
import {
  addPeer,
  engines,
  hostOf,
  nextVmMessage,
  type Peer,
  type PeerOptions,
  settled,
  stopAll,
} from "./vm-peers.ts";

afterEach(stopAll);

const GET = (target: string): WebRequest => ({ method: "GET", target, headers: [], body: new Uint8Array() });
const text = (r: WebResponse) => new TextDecoder().decode(r.body);

async function servingRoom(a: PeerOptions, b: PeerOptions) {
  const hub = new MemorySignalingHub();
  const network = new MemoryNetwork();
  const owner = await addPeer(hub, network);
  const hosts = [
    await addPeer(hub, network, { contributing: true, ...a }),
    await addPeer(hub, network, { contributing: true, ...b }),
  ];
  const visitor = await addPeer(hub, network);
  await settled([owner, ...hosts, visitor]);
  const vmId = await owner.vm.owner.create("site");
  await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
  const host = hosts.find((h) => h.node.self === hostOf(owner, vmId))!;
  const machine = [...running].find((m) => m.running)!;
  machine.files["index.html"] = "<h1>counted</h1>";
  machine.listening.add(80);
  await owner.vm.web.book.publish(vmId, 80, "site");
  await eventually("the visitor sees it published", () => visitor.vm.web.book.isPublished(vmId, 80));
  return { owner, visitor, vmId, host, other: hosts.find((h) => h !== host)!, first: hosts[0]! };
}

/** The owner's view of the VM's outbound, once the host of its current lease said. */
const outboundOf = (owner: Peer, vmId: string) => {
  const v = owner.vm.owner.get(vmId);
  return v?.outbound?.epoch === v?.epoch ? v?.outbound?.allowed : undefined;
};

describe("what the owner sees of its VM's network", () => {
  it("counts requests and bytes, across a move, and says whether its host carries outbound traffic", async () => {
    const { owner, visitor, vmId, host, other, first } = await servingRoom(
      { outboundAllowed: true },
      { outboundAllowed: false },
    );
    // Only the host whose contributor allowed it (the first) tells its engine the guest may go out.
    const hostAllows = host === first;
    expect(engines.outbound.get(host.node.self)).toEqual([hostAllows]);
    await eventually("the owner hears its host's outbound", () => outboundOf(owner, vmId) !== undefined);
    expect(outboundOf(owner, vmId)).toBe(hostAllows);

    for (let i = 0; i < 3; i++) {
      const r = await visitor.vm.web.client.fetch(vmId, 80, GET("/"));
      expect(text(r)).toBe("<h1>counted</h1>");
    }
    expect((await visitor.vm.web.client.fetch(vmId, 80, GET("/missing"))).status).toBe(404);
    await eventually(
      "the owner's view counts 4 requests",
      () => owner.vm.owner.get(vmId)?.web.requests === 4,
    );
    // A stranger's word on the VM's traffic counts for nothing: only its lease's host says.
    const epoch = owner.vm.owner.get(vmId)!.epoch;
    const huge = { requests: 1_000_000, bytesIn: 2 ** 40, bytesOut: 2 ** 40 };
    const forged = nextVmMessage(owner, visitor, (m) => m.t === "meter");
    const meter = encodeVmMessage({ t: "meter", vmId, epoch, milli: 0, web: huge });
    expect(visitor.node.mesh.channel(VM_PROTOCOL).send(owner.node.self, meter)).toBe(true);
    await forged;
    expect(owner.vm.owner.get(vmId)!.web.requests).toBe(4);
    const before = owner.vm.owner.get(vmId)!.web;
    expect(before.bytesIn).toBeGreaterThan(4 * "GET / HTTP/1.1\r\n".length);
    expect(before.bytesOut).toBe(3 * "<h1>counted</h1>".length + "not found\n".length);

    await owner.vm.owner.move(vmId);
    await eventually(
      "moved",
      () => owner.vm.owner.get(vmId)?.state === "running" && hostOf(owner, vmId) === other.node.self,
    );
    await eventually("the new host's outbound", () => outboundOf(owner, vmId) === !hostAllows);
    expect(engines.outbound.get(other.node.self)).toEqual([!hostAllows]);
    const moved = [...running].find((m) => m.running)!;
    moved.listening.add(80);
    moved.files["index.html"] ??= "<h1>counted</h1>";
    await eventually(
      "served from the new host",
      async () => (await visitor.vm.web.client.fetch(vmId, 80, GET("/"))).status === 200,
    );
    // The new lease's requests add to the old lease's.
    await eventually("the total adds up", () => (owner.vm.owner.get(vmId)?.web.requests ?? 0) >= 5);
    expect(owner.vm.owner.get(vmId)!.web.bytesOut).toBeGreaterThan(before.bytesOut);
  });

  it("a host's bandwidth cap slows a large answer down, and it arrives whole", async () => {
    const capKiBps = 32;
    const { visitor, vmId, host } = await servingRoom(
      { bandwidthCapKiBps: capKiBps },
      { bandwidthCapKiBps: capKiBps },
    );
    const big = "x".repeat(64 * 1024);
    for (const m of running) if (m.running) m.files.big = big;
    const startedMs = performance.now();
    const r = await visitor.vm.web.client.fetch(vmId, 80, GET("/big"));
    const tookMs = performance.now() - startedMs;
    expect(r.status).toBe(200);
    expect(text(r)).toBe(big);
    // 64 KiB at 32 KiB/s, less the first burst (a quarter second's worth): at least 1.5 s.
    expect(tookMs).toBeGreaterThanOrEqual(1400);
    const totals = host.vm.bandwidth.totals();
    expect(totals.outBytes).toBeGreaterThanOrEqual(big.length);
    expect(totals.heldBytes).toBeGreaterThan(0);
    expect(totals.inBytes).toBeGreaterThan(0);
  });
});
