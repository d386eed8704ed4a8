// A remote that opens data channels of its own on a WebRTC link (node-datachannel
// here) cannot take the link over: the link keeps the one channel simple-peer
// set up, closes any other channel that is not a side channel, and hands side
// channels only to the link's consumer.
import SimplePeer from "@thaunknown/simple-peer/lite.js";
import { afterEach, describe, expect, it } from "vitest";
import type { SideChannel } from "../../../core/net/side-channel.ts";
import type { Link } from "../../../core/net/transport.ts";
import { simplePeerLinks } from "../../../transports/simple-peer-link.ts";
import { eventually } from "../../helpers/eventually.ts";

interface RawChannel {
  readyState: string;
  close(): void;
}
type Hostile = InstanceType<typeof SimplePeer> & {
  _pc: { createDataChannel(label: string): RawChannel };
};

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A hostile initiator (raw simple-peer, so it controls its connection) and our link as the responder. */
async function linked() {
  const hostile = new SimplePeer({ initiator: true, trickle: true }) as Hostile;
  const received: Uint8Array[] = [];
  const sides: SideChannel[] = [];
  let closed: string | null = null;
  let open = false;
  const link: Link = simplePeerLinks().create({
    remote: `${"a".repeat(32)}.x`,
    initiator: false,
    iceServers: [],
    events: {
      open: () => {
        open = true;
      },
      message: (data) => received.push(data),
      close: (reason) => {
        closed = reason;
      },
      signal: (data) => setTimeout(() => hostile.signal(data as never), 1),
      channel: (channel) => {
        sides.push(channel);
        channel.on("message", () => {});
      },
    },
  });
  hostile.on("signal", (data) => setTimeout(() => link.signal(data), 1));
  const heardByHostile: Uint8Array[] = [];
  hostile.on("data", (data: Uint8Array) => heardByHostile.push(new Uint8Array(data)));
  hostile.on("error", () => {});
  cleanup.push(() => {
    link.close();
    hostile.destroy();
  });
  await eventually("the link opens", () => open && hostile.connected);
  return { hostile, link, received, sides, heardByHostile, closed: () => closed };
}

describe("a remote that opens data channels of its own", () => {
  it("gets a plain one closed, and the link keeps its own channel both ways", async () => {
    const { hostile, link, received, heardByHostile, closed } = await linked();
    const extra = hostile._pc.createDataChannel("not-a-side-channel");
    await eventually("the extra channel is closed", () => extra.readyState === "closed");
    expect(link.send(new Uint8Array([1, 2, 3]))).toBe(true);
    hostile.send(new Uint8Array([4, 5]));
    await eventually(
      "the link's own channel still carries both ways",
      () => heardByHostile.length === 1 && received.length === 1,
    );
    expect([...heardByHostile[0]!]).toEqual([1, 2, 3]);
    expect([...received[0]!]).toEqual([4, 5]);
    expect(closed()).toBeNull();
  });

  it("gets a side channel handed to the consumer, never mistaken for the link's channel", async () => {
    const { hostile, link, sides, heardByHostile } = await linked();
    hostile._pc.createDataChannel("side:shell/1/x");
    await eventually("the consumer got it", () => sides.length === 1);
    expect(sides[0]!.label).toBe("shell/1/x");
    expect(link.send(new Uint8Array([7]))).toBe(true);
    await eventually("the link's own channel carries it", () => heardByHostile.length === 1);
  });
});
