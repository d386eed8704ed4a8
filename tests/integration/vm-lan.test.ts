// The owner's private network: two VMs of one owner, on different hosts, reach
// each other at their virtual addresses, and still do after one moves. Nobody
// else gets in: a stranger's packets, a packet that claims another source, and
// another owner's VM are all kept out, and a flood is cut to a rate.
import { afterEach, describe, expect, it } from "vitest";
import { GUEST_IP_BITS, virtualAddressBitsOf } from "../../core/guest/virtual-address.ts";
import { encodeLanPacket, LAN_PROTOCOL } from "../../core/vm/lan-protocol.ts";
import { eventually } from "../helpers/eventually.ts";
import { icmpEcho, readPacket } from "../helpers/ip-packets.ts";
import { type FakeMachine, running } from "./fake-engine.ts";
import {
  addPeer,
  addStranger,
  hostOf,
  type Peer,
  peers,
  remove,
  room,
  runningVm,
  settled,
  stopAll,
  strangers,
} from "./vm-peers.ts";

afterEach(async () => {
  for (const s of strangers.splice(0)) await s.stop();
  await stopAll();
});

/** A small packet rate, so a test's flood passes it. */
const LAN_LIMITS = { perPeerPacketsPerS: 100, perPeerBurst: 200 };

const machineOf = (vmId: string): FakeMachine | undefined =>
  [...running].find((m) => m.vmId === vmId && m.running);

const peerAt = (address: string | null) => peers.find((p) => p.node.self === address)!;

/** Two VMs of `owner`, each on its own host (contributors have one slot each). */
async function twoVms(owner: Peer, a: Peer, b: Peer) {
  const one = await runningVm(owner, a, b, "one");
  const two = await runningVm(owner, a, b, "two");
  const [h1, h2] = [peerAt(hostOf(owner, one.vmId)), peerAt(hostOf(owner, two.vmId))];
  expect(h1).not.toBe(h2);
  await eventually("both guests are on the LAN", () =>
    Boolean(machineOf(one.vmId)?.lanSend && machineOf(two.vmId)?.lanSend),
  );
  return { one: one.vmId, two: two.vmId, h1, h2 };
}

const pingsFrom = (m: FakeMachine | undefined, src: number, type: 0 | 8) =>
  (m?.lanReceived ?? []).map(readPacket).filter((p) => p.src === src && p.payload[0] === type);

describe("the owner's private network", () => {
  it("carries a ping between two of the owner's VMs on different hosts, and after one moves", async () => {
    const { owner, a, b, hub, network } = await room([], { slots: 1 });
    const { one, two, h2 } = await twoVms(owner, a, b);
    const [v1, v2] = [virtualAddressBitsOf(one), virtualAddressBitsOf(two)];

    machineOf(one)!.lanSend!(icmpEcho({ src: GUEST_IP_BITS, dst: v2, seq: 1 }));
    // The other guest gets it from the first VM's address, to its own, checksums right.
    await eventually("the ping arrives", () => pingsFrom(machineOf(two), v1, 8).length === 1);
    expect(pingsFrom(machineOf(two), v1, 8)[0]).toMatchObject({ dst: GUEST_IP_BITS, headerOk: true });
    // Its answer comes back the same way.
    await eventually("the answer arrives", () => pingsFrom(machineOf(one), v2, 0).length === 1);

    // The second VM's host goes; it moves to a new contributor, and its address follows it.
    const c = await addPeer(hub, network, { contributing: true, slots: 1 });
    await settled([owner, a, b, c].filter((p) => p !== h2));
    await remove(h2);
    await eventually(
      "the VM runs on the new host",
      () => hostOf(owner, two) === c.node.self && owner.vm.owner.get(two)?.state === "running",
      { timeoutMs: 20_000 },
    );
    await eventually("the moved guest is on the LAN", () => Boolean(machineOf(two)?.lanSend));
    await eventually(
      "a ping reaches it on its new host",
      () => {
        machineOf(one)!.lanSend!(icmpEcho({ src: GUEST_IP_BITS, dst: v2, seq: 2 }));
        return pingsFrom(machineOf(two), v1, 8).length > 0;
      },
      { intervalMs: 200 },
    );
    expect(c.vm.lan.counters.delivered).toBeGreaterThan(0);
  });

  it("keeps out strangers, forged sources and other owners' VMs, and cuts a flood to a rate", async () => {
    const { owner, a, b, hub, network } = await room([], { slots: 1, lanLimits: LAN_LIMITS });
    const { one, two, h1, h2 } = await twoVms(owner, a, b);
    const [v1, v2] = [virtualAddressBitsOf(one), virtualAddressBitsOf(two)];
    const target = machineOf(two)!;
    const refusedBefore = h2.vm.lan.counters.refused;

    // A stranger sends the owner's second VM a packet that claims to be from the first.
    const stranger = await addStranger(hub, network);
    await eventually("the stranger links to the host", () => stranger.node.mesh.isOpen(h2.node.self));
    const forged = encodeLanPacket({
      t: "packet",
      from: one,
      to: two,
      packet: icmpEcho({ src: v1, dst: v2 }),
    });
    expect(stranger.node.mesh.channel(LAN_PROTOCOL).send(h2.node.self, forged)).toBe(true);
    await eventually("refused", () => h2.vm.lan.counters.refused === refusedBefore + 1);

    // The first VM's real host, but a source address that is not its VM's.
    const spoofed = encodeLanPacket({
      t: "packet",
      from: one,
      to: two,
      packet: icmpEcho({ src: v1 ^ 1, dst: v2 }),
    });
    h1.node.mesh.channel(LAN_PROTOCOL).send(h2.node.self, spoofed);
    await eventually("refused", () => h2.vm.lan.counters.refused === refusedBefore + 2);

    // Another owner's VM: its guest finds no route to the first owner's VM, and its host's
    // packet that names the first owner's VM as the receiver is refused.
    const c = await addPeer(hub, network, { contributing: true, slots: 1 });
    const stranger2 = await addPeer(hub, network);
    await settled([owner, a, b, c, stranger2]);
    const theirs = await stranger2.vm.owner.create("theirs");
    await eventually("running", () => stranger2.vm.owner.get(theirs)?.state === "running");
    const theirHost = peerAt(hostOf(stranger2, theirs));
    await eventually("on the LAN", () => Boolean(machineOf(theirs)?.lanSend));
    const noRouteBefore = theirHost.vm.lan.counters.noRoute;
    machineOf(theirs)!.lanSend!(icmpEcho({ src: GUEST_IP_BITS, dst: v2 }));
    await eventually("no route", () => theirHost.vm.lan.counters.noRoute === noRouteBefore + 1);
    const crossOwner = encodeLanPacket({
      t: "packet",
      from: theirs,
      to: two,
      packet: icmpEcho({ src: virtualAddressBitsOf(theirs), dst: v2 }),
    });
    await eventually("linked", () => theirHost.node.mesh.isOpen(h2.node.self));
    theirHost.node.mesh.channel(LAN_PROTOCOL).send(h2.node.self, crossOwner);
    await eventually("refused", () => h2.vm.lan.counters.refused === refusedBefore + 3);
    expect(target.lanReceived).toHaveLength(0);

    // A flood from the stranger: past the burst, packets are dropped before any check.
    const channel = stranger.node.mesh.channel(LAN_PROTOCOL);
    for (let i = 0; i < 2000; i++) channel.send(h2.node.self, forged);
    await eventually(
      "cut to a rate",
      () => h2.vm.lan.counters.overLimit + h2.vm.lan.counters.refused >= 2003,
    );
    // What the rate let through was checked (and refused); the rest was dropped unread.
    expect(h2.vm.lan.counters.overLimit).toBeGreaterThan(1000);
    expect(target.lanReceived).toHaveLength(0);

    // The owner's own traffic still flows.
    machineOf(one)!.lanSend!(icmpEcho({ src: GUEST_IP_BITS, dst: v2 }));
    await eventually("the owner's ping still arrives", () => pingsFrom(machineOf(two), v1, 8).length === 1);
  });
});
