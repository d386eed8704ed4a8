// Paying with cycles between real runtimes (in-memory network, fake engines
// whose commands cost a known number of instructions): the host meters, the
// owner signs receipts, balances move both ways and agree on every peer; an
// owner without credit is refused and told why; a VM whose receipts stop is
// checkpointed and paused, not lost, and runs again once they return.
import { afterEach, describe, expect, it } from "vitest";
import { signReceipt } from "../../core/ledger/receipt.ts";
import { checkStamp, searchStamp } from "../../core/ledger/stamp.ts";
import { INSTRUCTIONS_PER_MILLI } from "../../core/ledger/units.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import type { PeerNode } from "../../core/peer/peer-node.ts";
import { eventually } from "../helpers/eventually.ts";
import { running } from "./fake-engine.ts";
import { addPeer, earnAllowance, engines, type Peer, setFile, settled, stopAll } from "./vm-peers.ts";

afterEach(stopAll);

/** What one command typed into a VM costs: 0.8 credits. */
const LINE_MILLI = 800;
const LINE_INSTRUCTIONS = LINE_MILLI * INSTRUCTIONS_PER_MILLI;

async function account(p: Peer, peer: Peer) {
  return (await p.node.credits.ledger()).accounts.get(peer.identity.peerId);
}

async function ownerAndHost(options: { ownerLeads?: () => boolean; paymentGraceMs?: number } = {}) {
  const hub = new MemorySignalingHub();
  const network = new MemoryNetwork();
  const owner = await addPeer(hub, network, { isLeader: options.ownerLeads });
  const host = await addPeer(hub, network, {
    contributing: true,
    instructionsPerLine: LINE_INSTRUCTIONS,
    paymentGraceMs: options.paymentGraceMs,
  });
  await settled([owner, host]);
  return { hub, network, owner, host };
}

async function runningVm(owner: Peer, name: string): Promise<string> {
  const vmId = await owner.vm.owner.create(name);
  await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
  return vmId;
}

const paymentOn = (host: Peer, vmId: string) => host.vm.host.vms().find((v) => v.vmId === vmId)?.payment;

describe("credits between owner and host", () => {
  it("the host earns what the owner spends, and both peers compute the same balances", async () => {
    const { owner, host } = await ownerAndHost();
    const vmId = await runningVm(owner, "paid");
    for (const i of [1, 2, 3]) await setFile(owner, host, vmId, `f${i}`, "x");
    await eventually("the host is paid for three commands", async () => {
      const earned = (await account(host, host))?.earnedMilli ?? 0;
      return earned >= 3 * LINE_MILLI;
    });
    await eventually("both peers agree", async () => {
      const [a, b] = [await account(owner, owner), await account(host, owner)];
      const [c, d] = [await account(owner, host), await account(host, host)];
      return (
        a !== undefined &&
        a.spentMilli === b?.spentMilli &&
        a.balanceMilli === b.balanceMilli &&
        c?.earnedMilli === d?.earnedMilli &&
        c?.earnedMilli === a.spentMilli
      );
    });
    const spent = (await account(owner, owner))!;
    expect(spent.spentMilli).toBeGreaterThanOrEqual(3 * LINE_MILLI);
    expect(spent.balanceMilli).toBe(spent.allowanceMilli - spent.spentMilli);
    const earned = (await account(host, host))!;
    expect(earned.balanceMilli).toBe(earned.allowanceMilli + earned.earnedMilli);
    expect(paymentOn(host, vmId)?.state).toBe("paid");
    // The owner's page shows what this lease cost so far.
    await eventually(
      "the owner sees the cost",
      () => (owner.vm.owner.get(vmId)?.payment?.paidMilli ?? 0) >= 3 * LINE_MILLI,
    );
  });

  it("an owner without credit is refused and told why; once it has some, its VM starts", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network, { allowance: false });
    const host = await addPeer(hub, network, { contributing: true });
    await settled([owner, host]);
    const vmId = await owner.vm.owner.create("broke");
    await eventually("waiting, with the reason", () => {
      const v = owner.vm.owner.get(vmId);
      return v?.state === "waiting" && /no credit/.test(v.detail);
    });
    expect(engines.created.get(host.node.self) ?? 0).toBe(0);
    await earnAllowance(owner.node);
    await eventually("running once it has credit", () => owner.vm.owner.get(vmId)?.state === "running");
  });

  it("a host refuses an owner its own rules give no credit, and the owner shows the host's reason", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    // The owner accepts 6-bit stamps; this host asks for 16 bits: the owner's stamp buys nothing here.
    const owner = await addPeer(hub, network, { allowance: false });
    const host = await addPeer(hub, network, { contributing: true, stampBits: 16 });
    await settled([owner, host]);
    await publishWeakStamp(owner.node, 6, 16);
    const vmId = await owner.vm.owner.create("weak-stamp");
    await eventually("refused by the host, with its reason", () => {
      const v = owner.vm.owner.get(vmId);
      return v?.state === "waiting" && /the owner has no credit/.test(v.detail);
    });
    expect(engines.created.get(host.node.self) ?? 0).toBe(0);
  });

  it("a VM whose receipts stop is checkpointed and paused, and runs again when they return", async () => {
    let leads = true;
    const { owner, host } = await ownerAndHost({ ownerLeads: () => leads, paymentGraceMs: 300 });
    const vmId = await runningVm(owner, "unpaid");
    await setFile(owner, host, vmId, "before", "1");
    const sealedBefore = engines.sealedWith.get(host.node.self)?.length ?? 0;
    // No tab of the owner signs any more; the VM keeps working.
    leads = false;
    for (const i of [1, 2, 3]) await setFile(owner, host, vmId, `unpaid${i}`, "x");
    await eventually("paused by its host", () => paymentOn(host, vmId)?.state === "paused", {
      timeoutMs: 20_000,
    });
    const machine = [...running].find((m) => m.files.unpaid3 === "x")!;
    expect(machine.paused).toBe(true);
    expect(machine.running).toBe(true); // paused, not stopped: nothing is lost
    expect(engines.sealedWith.get(host.node.self)?.length ?? 0).toBeGreaterThan(sealedBefore);
    await eventually("the owner sees why", () => {
      const p = owner.vm.owner.get(vmId)?.payment;
      return p?.state === "paused" && /not signed/.test(p.reason);
    });
    expect(paymentOn(host, vmId)?.reason).toMatch(/resumes/);
    // The owner's tab leads again: it pays what the meter counted, and the VM runs.
    leads = true;
    await eventually("running again", () => paymentOn(host, vmId)?.state === "paid", { timeoutMs: 20_000 });
    expect(machine.paused).toBe(false);
    await setFile(owner, host, vmId, "after", "2");
    expect(machine.files.before).toBe("1");
    await eventually("the owner's view says paid", () => owner.vm.owner.get(vmId)?.payment?.state === "paid");
  });

  it("a full host gives the slot of an unpaid VM to a paying owner; the unpaid one waits with its files", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const broke = await addPeer(hub, network);
    const payer = await addPeer(hub, network);
    const host = await addPeer(hub, network, {
      contributing: true,
      slots: 1,
      instructionsPerLine: LINE_INSTRUCTIONS,
      paymentGraceMs: 300,
    });
    await settled([broke, payer, host]);
    const unpaid = await runningVm(broke, "spends-too-much");
    // Seven commands at 0.8 credits: more than the 5-credit allowance covers.
    for (let i = 1; i <= 7; i++) await setFile(broke, host, unpaid, `f${i}`, "x");
    // Receipts rise only as fast as the lease's wall time allows (units.ts), so this takes a few seconds.
    await eventually(
      "the allowance is spent",
      async () => (await account(broke, broke))?.balanceMilli === 0,
      {
        timeoutMs: 20_000,
      },
    );
    await eventually("behind on payment", () => paymentOn(host, unpaid)?.state !== "paid", {
      timeoutMs: 20_000,
    });
    expect(owner(broke, unpaid)?.payment?.reason).toMatch(/Out of credit/);
    const before = owner(broke, unpaid)?.lastCheckpoint?.seq ?? 0;
    const paid = await payer.vm.owner.create("pays");
    await eventually("the payer's VM runs on the full host", () => owner(payer, paid)?.state === "running");
    expect(owner(payer, paid)?.host).toBe(host.node.self);
    await eventually("the unpaid VM waits, saying why", () => {
      const v = owner(broke, unpaid);
      return v?.state === "waiting" && /no credit left/.test(v.detail);
    });
    expect(host.vm.host.vms().map((v) => v.vmId)).toEqual([paid]);
    expect([...running].some((m) => m.files.f7 === "x")).toBe(false); // not running anywhere
    expect(owner(broke, unpaid)?.lastCheckpoint?.seq ?? 0).toBeGreaterThan(before); // saved before it left
  });

  it("an owner with a proof of cheating against it is refused, and told why", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const cheat = await addPeer(hub, network);
    const host = await addPeer(hub, network, { contributing: true });
    await settled([cheat, host]);
    // Two different receipts for one lease and seq: one in the owner's slot, one the host holds.
    const terms = {
      lease: "c".repeat(64),
      vm: "d".repeat(32),
      host: host.identity.peerId,
      epoch: 1,
      seq: 1,
      startedAt: 1_000,
      at: 61_000,
    };
    await cheat.node.credits.publishReceipt(
      await signReceipt(cheat.identity, { ...terms, milliCredits: 100 }),
    );
    expect(
      await host.node.credits.holdReceipt(await signReceipt(cheat.identity, { ...terms, milliCredits: 900 })),
    ).toBe(true);
    await eventually("both peers hold the proof", async () => {
      const [a, b] = [await cheat.node.credits.ledger(), await host.node.credits.ledger()];
      return a.cheaters.has(cheat.identity.peerId) && b.cheaters.has(cheat.identity.peerId);
    });
    const vmId = await cheat.vm.owner.create("cheater");
    await eventually("refused, with the reason", () => {
      const v = owner(cheat, vmId);
      return v?.state === "waiting" && /proof of cheating/.test(v.detail);
    });
    expect(engines.created.get(host.node.self) ?? 0).toBe(0);
  });
});

const owner = (p: Peer, vmId: string) => p.vm.owner.get(vmId);

/** Publishes a stamp that holds at `bits` but not at `notBits`. */
async function publishWeakStamp(node: PeerNode, bits: number, notBits: number): Promise<void> {
  for (let from = 0; ; ) {
    const s = searchStamp(node.identity.publicKey, bits, from, 1 << 16);
    if (!s) {
      from += 1 << 16;
      continue;
    }
    if (!checkStamp(s, notBits)) return node.credits.publishStamp(s);
    from = s.nonce + 1;
  }
}
