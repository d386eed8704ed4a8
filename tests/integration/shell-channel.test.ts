// A remote console's output on a shell channel of its own (core/vm/shell-channel.ts),
// on the in-memory network: the host sends a granted tab's output there once it
// greeted it, and nowhere else; it takes no channel from a tab it did not grant,
// and a tab that talks on one loses it, its output going back to the mesh.
import { afterEach, describe, expect, it } from "vitest";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import type { SideChannel } from "../../core/net/side-channel.ts";
import type { LinkFactory } from "../../core/net/transport.ts";
import { shellChannelLabel } from "../../core/vm/shell-channel.ts";
import { parseShellFrame } from "../../core/vm/shell-frames.ts";
import { encodeShell, SHELL_PROTOCOL } from "../../core/vm/vm-protocol.ts";
import { eventually } from "../helpers/eventually.ts";
import { addPeer, hostOf, type Peer, settled, stopAll } from "./vm-peers.ts";

afterEach(stopAll);

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** An owner's console that takes the shell channel on this thread, and keeps what came which way. */
function console_(owner: Peer, vmId: string) {
  const seen = { mesh: "", fast: "", greeted: false, bad: 0, channel: null as SideChannel | null };
  const session = owner.vm.owner.attach(vmId, {
    output: (bytes) => {
      seen.mesh += text(bytes);
    },
    transcript: () => {},
    status: () => {},
    fastChannel: (channel) => {
      seen.channel = channel;
      channel.on("message", (data) => {
        const frame = parseShellFrame(data);
        if (frame?.t === "hello") seen.greeted = true;
        else if (frame?.t === "output") seen.fast += text(frame.bytes);
        else seen.bad++;
      });
      return () => channel.close();
    },
  });
  const type = (line: string) => session.input(new TextEncoder().encode(line));
  return { session, seen, type };
}

/** Links as a build without side channels makes them (it neither opens nor announces any). */
function withoutSideChannels(network: MemoryNetwork): MemoryNetwork {
  return {
    factory(self: string): LinkFactory {
      const inner = network.factory(self);
      return { create: (options) => Object.assign(inner.create(options), { openChannel: undefined }) };
    },
  } as MemoryNetwork;
}

async function room({ oldHost = false } = {}) {
  const hub = new MemorySignalingHub();
  const network = new MemoryNetwork();
  const owner = await addPeer(hub, network);
  const host = await addPeer(hub, oldHost ? withoutSideChannels(network) : network, { contributing: true });
  const stranger = await addPeer(hub, network);
  await settled([owner, host, stranger]);
  const vmId = await owner.vm.owner.create("fast");
  await eventually("the VM runs", () => owner.vm.owner.get(vmId)?.state === "running");
  return { owner, host, stranger, vmId };
}

describe("a remote console's shell channel", () => {
  it("carries the granted tab's output once the host greeted it, and the mesh no longer does", async () => {
    const { owner, vmId } = await room();
    const { seen, type } = console_(owner, vmId);
    await eventually("the host greeted the tab on its channel", () => seen.greeted);
    const meshBefore = seen.mesh;
    type("echo over-the-channel\r");
    await eventually("the answer came on the channel", () => seen.fast.includes("over-the-channel\r\n"));
    expect(seen.mesh).toBe(meshBefore);
    expect(seen.bad).toBe(0);
  });

  it("is not taken from a tab the owner did not grant, which sees none of the output", async () => {
    const { owner, host, stranger, vmId } = await room();
    const hostAddress = hostOf(owner, vmId)!;
    expect(hostAddress).toBe(host.node.mesh.self);
    stranger.node.mesh.pin(hostAddress);
    await eventually("the stranger is linked to the host", () => stranger.node.mesh.isOpen(hostAddress));
    const channel = stranger.node.mesh.sideChannels.open(hostAddress, shellChannelLabel(vmId))!;
    const heard: Uint8Array[] = [];
    let closed = false;
    channel.on("message", (data) => heard.push(data));
    channel.on("close", () => {
      closed = true;
    });
    // And its typing on the mesh reaches nothing either.
    stranger.node.mesh
      .channel(SHELL_PROTOCOL)
      .send(hostAddress, encodeShell(vmId, new TextEncoder().encode("echo intruder\r")));
    await eventually("the host closed the stranger's channel", () => closed);

    const { seen, type } = console_(owner, vmId);
    await eventually("the owner's tab is greeted", () => seen.greeted);
    type("echo owner-only\r");
    await eventually("the owner sees its answer", () => seen.fast.includes("owner-only\r\n"));
    expect(heard).toEqual([]);
    expect(seen.fast).not.toContain("intruder");
  });

  it("is closed when the tab talks on it, and the output comes back on the mesh", async () => {
    const { owner, vmId } = await room();
    const { seen, type } = console_(owner, vmId);
    await eventually("the host greeted the tab", () => seen.greeted);
    let closed = false;
    seen.channel!.on("close", () => {
      closed = true;
    });
    seen.channel!.send(new TextEncoder().encode("not for you"));
    await eventually("the host closed the channel", () => closed);
    type("echo back-on-the-mesh\r");
    await eventually("the answer came on the mesh", () => seen.mesh.includes("back-on-the-mesh\r\n"));
  });

  it("is never opened toward a host whose build has none: the output stays on the mesh", async () => {
    const { owner, vmId } = await room({ oldHost: true });
    const { seen, type } = console_(owner, vmId);
    type("echo on-the-mesh\r");
    await eventually("the answer came on the mesh", () => seen.mesh.includes("on-the-mesh\r\n"));
    expect(seen.channel).toBeNull();
  });

  it("follows the VM when it moves: the old host's channel closes, the new host's carries the output", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network);
    const a = await addPeer(hub, network, { contributing: true });
    const b = await addPeer(hub, network, { contributing: true });
    await settled([owner, a, b]);
    const vmId = await owner.vm.owner.create("moving");
    await eventually("the VM runs", () => owner.vm.owner.get(vmId)?.state === "running");
    const { seen, type } = console_(owner, vmId);
    await eventually("greeted by the first host", () => seen.greeted);
    const first = seen.channel!;
    const firstHost = hostOf(owner, vmId);
    await owner.vm.owner.move(vmId);
    await eventually("the VM runs on the other host", () => {
      const v = owner.vm.owner.get(vmId);
      return v?.state === "running" && v.host !== firstHost;
    });
    await eventually(
      "a new channel to the new host",
      () => seen.channel !== first && seen.channel?.isOpen() === true,
    );
    expect(first.isOpen()).toBe(false);
    const meshBefore = seen.mesh;
    type("echo after-the-move\r");
    await eventually("the answer came on the new channel", () => seen.fast.includes("after-the-move\r\n"));
    expect(seen.mesh).toBe(meshBefore);
  });
});
