// A side channel is only as trusted as the link it rides on: a peer that has not
// proved the key of its address (its link is still "connecting") cannot get a
// side channel to anyone's consumers. On the in-memory network, with a real mesh.
import { afterEach, describe, expect, it } from "vitest";
import { createIdentity } from "../../../core/crypto/identity.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../../core/net/memory-transport.ts";
import { Mesh } from "../../../core/net/mesh.ts";
import { type PeerAddress, peerAddress } from "../../../core/net/peer-address.ts";
import type { SideChannel } from "../../../core/net/side-channel.ts";
import type { Link } from "../../../core/net/transport.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import { flushAsync } from "../../helpers/eventually.ts";

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

describe("hostile: a side channel on a link that is not proven", () => {
  it("never reaches a consumer, and is closed", async () => {
    const clock = new ManualClock();
    const network = new MemoryNetwork();
    const hub = new MemorySignalingHub();
    const victimId = await createIdentity();
    const victim = peerAddress(victimId.peerId, "s1");
    const signaling = hub.connect({ peer: victim, publicKey: victimId.publicKey });
    const mesh = new Mesh(signaling, network.factory(victim), { clock, identity: victimId });
    const given: SideChannel[] = [];
    mesh.sideChannels.onChannel((_remote, channel) => {
      given.push(channel);
      channel.on("message", () => {});
    });
    mesh.start();
    signaling.start();
    stops.push(
      () => mesh.stop(),
      () => signaling.stop(),
    );

    // Mallory dials the victim with a raw link, never proves who she is, and opens a side channel.
    const malloryId = await createIdentity();
    const mallory: PeerAddress = peerAddress(malloryId.peerId, "s1");
    const malloryHub = hub.connect({ peer: mallory, publicKey: malloryId.publicKey });
    malloryHub.start();
    stops.push(() => malloryHub.stop());
    let open = false;
    const link: Link = network.factory(mallory).create({
      remote: victim,
      initiator: true,
      iceServers: [],
      events: {
        signal: (data) => malloryHub.sendSignal(victim, { mesh: 1, kind: "rtc", attempt: "m1", data }),
        open: () => {
          open = true;
        },
        message: () => {},
        close: () => {},
      },
    });
    stops.push(() => link.close());
    await clock.runUntil(() => open, {
      stepMs: 20,
      maxMs: 5_000,
      flush: flushAsync,
      what: "the raw link opens",
    });
    const side = link.openChannel!("shell/1/00000000000000000000000000000000")!;
    let closed = false;
    side.on("close", () => {
      closed = true;
    });
    await clock.runUntil(() => closed, {
      stepMs: 20,
      maxMs: 5_000,
      flush: flushAsync,
      what: "the channel closed",
    });
    expect(given).toEqual([]);
    expect(mesh.isOpen(mallory)).toBe(false);
  });
});
