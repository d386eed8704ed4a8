// A contributor's memory cap holds for VMs of different sizes: what its running
// VMs take is summed, each with its own memory (a Debian VM may have 256 MiB, a
// small one 96), not counted as so many copies of the newcomer.
import { afterEach, describe, expect, it } from "vitest";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import { eventually } from "../helpers/eventually.ts";
import { addPeer, IMAGE, runningOn, settled, stopAll } from "./vm-peers.ts";

const MiB = 1024 * 1024;

afterEach(stopAll);

describe("a host's memory cap", () => {
  it("refuses a VM that would take its VMs past the memory it offers, and takes one that fits", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network);
    // 448 MiB offered: a 256 MiB VM and its overhead (64 MiB) leave 128 MiB.
    const host = await addPeer(hub, network, { contributing: true, slots: 4, memoryMiB: 448 });
    await settled([owner, host]);

    const big = await owner.vm.owner.create("big", { imageId: IMAGE, memoryBytes: 256 * MiB });
    await eventually("the 256 MiB VM runs", () => runningOn(host, big));

    // 128 MiB + 64 MiB more would be 512 MiB in all: refused, and nobody else has room.
    const more = await owner.vm.owner.create("more", { imageId: IMAGE, memoryBytes: 128 * MiB });
    await eventually("the second VM waits", () => owner.vm.owner.get(more)?.state === "waiting");
    expect(runningOn(host, more)).toBe(false);

    // 32 MiB + 64 MiB fits beside it (416 of 448 MiB).
    const small = await owner.vm.owner.create("small", { imageId: IMAGE, memoryBytes: 32 * MiB });
    await eventually("the small VM runs", () => runningOn(host, small));
    expect(owner.vm.owner.get(big)?.memoryBytes).toBe(256 * MiB);
  });
});
