import { describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { encodeFrame, type Protocol } from "../../core/net/channels.ts";
import {
  checkLinkProof,
  LINK_AUTH_PROTOCOL,
  LinkAuthenticator,
  type LinkView,
  linkAuthMessage,
  proveLink,
} from "../../core/net/link-auth.ts";
import { peerAddress } from "../../core/net/peer-address.ts";
import { fingerprintsFromSdp } from "../../core/net/sdp-fingerprints.ts";
import type { Link, LinkFingerprints } from "../../core/net/transport.ts";
import { eventually, flushAsync } from "../helpers/eventually.ts";

const FP_A = "sha-256 AA:01";
const FP_B = "sha-256 BB:02";
const FP_M = "sha-256 CC:03";

async function twoEnds() {
  const alice = await createIdentity();
  const bob = await createIdentity();
  const a = peerAddress(alice.peerId, "one");
  const b = peerAddress(bob.peerId, "two");
  // Alice dials Bob; each end sees its own fingerprint as local.
  const atAlice: LinkView = {
    self: a,
    remote: b,
    initiator: true,
    fingerprints: { local: FP_A, remote: FP_B },
  };
  const atBob: LinkView = {
    self: b,
    remote: a,
    initiator: false,
    fingerprints: { local: FP_B, remote: FP_A },
  };
  return { alice, bob, a, b, atAlice, atBob };
}

describe("fingerprints from SDP", () => {
  it("reads a=fingerprint lines at session or media level, normalized, sorted and without repeats", () => {
    const sdp = [
      "v=0",
      "a=fingerprint:SHA-256 ab:cd:EF",
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
      "a=fingerprint:sha-256 AB:CD:EF",
      "a=fingerprint:sha-1 01:02",
      "",
    ].join("\r\n");
    expect(fingerprintsFromSdp(sdp)).toBe("sha-1 01:02,sha-256 AB:CD:EF");
    expect(fingerprintsFromSdp("v=0\na=fingerprint:sha-256 00:11\n")).toBe("sha-256 00:11");
  });

  it("is null for an SDP without one, or no SDP at all", () => {
    expect(fingerprintsFromSdp("v=0\r\na=setup:actpass\r\n")).toBeNull();
    expect(fingerprintsFromSdp("v=0\r\na=fingerprint:sha-256 not-hex\r\n")).toBeNull();
    expect(fingerprintsFromSdp(undefined)).toBeNull();
    expect(fingerprintsFromSdp(null)).toBeNull();
  });
});

describe("link proofs", () => {
  it("both ends build the same text for a role, from their own views", async () => {
    const { atAlice, atBob, a, b } = await twoEnds();
    const text = new TextDecoder().decode(linkAuthMessage(atAlice, "initiator"));
    expect(text).toBe(["spare-cycles-link/1", "initiator", a, b, FP_A, FP_B].join("\n"));
    expect(linkAuthMessage(atBob, "initiator")).toEqual(linkAuthMessage(atAlice, "initiator"));
    expect(linkAuthMessage(atBob, "responder")).toEqual(linkAuthMessage(atAlice, "responder"));
    expect(linkAuthMessage(atBob, "responder")).not.toEqual(linkAuthMessage(atBob, "initiator"));
  });

  it("a genuine proof checks out at the other end, both ways", async () => {
    const { alice, bob, atAlice, atBob } = await twoEnds();
    expect(await checkLinkProof(await proveLink(alice, atAlice), atBob)).toBe(true);
    expect(await checkLinkProof(await proveLink(bob, atBob), atAlice)).toBe(true);
  });

  it("a proof for other fingerprints (a spliced link) does not", async () => {
    const { bob, atAlice, atBob } = await twoEnds();
    // Bob's link really goes to Mallory: he sees her fingerprint, Alice sees another of hers.
    const bobsView = { ...atBob, fingerprints: { local: FP_B, remote: FP_M } };
    const alicesView = { ...atAlice, fingerprints: { local: FP_A, remote: FP_M } };
    expect(await checkLinkProof(await proveLink(bob, bobsView), alicesView)).toBe(false);
    expect(await checkLinkProof(await proveLink(bob, bobsView), atAlice)).toBe(false);
  });

  it("a key that is not the address's, a forged signature, a reflected proof or junk does not", async () => {
    const { alice, bob, atAlice, atBob } = await twoEnds();
    const mallory = await createIdentity();
    expect(await checkLinkProof(await proveLink(mallory, atBob), atAlice)).toBe(false);
    const posing: Identity = { ...mallory, peerId: bob.peerId, publicKey: bob.publicKey };
    expect(await checkLinkProof(await proveLink(posing, atBob), atAlice)).toBe(false);
    // Alice's own proof sent back to her, on a link to another session of her own identity.
    const twin = { ...atAlice, remote: peerAddress(alice.peerId, "three") };
    expect(await checkLinkProof(await proveLink(alice, twin), twin)).toBe(false);
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    for (const junk of [
      new Uint8Array([0xff, 0xfe]),
      enc(null),
      enc({ publicKey: bob.publicKey }),
      enc({ publicKey: "short", signature: "x" }),
      enc({ publicKey: bob.publicKey, signature: "A".repeat(86) }),
      new Uint8Array(1000),
    ])
      expect(await checkLinkProof(junk, atAlice)).toBe(false);
  });
});

/** A link that records what is sent on it and reports the fingerprints it is given. */
function fakeLink(remote: string, fingerprints: LinkFingerprints | null, accepts = true) {
  const sent: Uint8Array[] = [];
  const link: Link = {
    remote,
    send: (data) => {
      if (accepts) sent.push(data);
      return accepts;
    },
    bufferedBytes: () => 0,
    signal: () => {},
    fingerprints: () => fingerprints,
    close: () => {},
  };
  return { link, sent };
}

function recorder() {
  const log: string[] = [];
  return {
    log,
    host: {
      proven: () => log.push("proven"),
      failed: (reason: string) => log.push(`failed: ${reason}`),
      deliver: (data: Uint8Array) => log.push(`deliver ${[...data]}`),
    },
  };
}

const OTHER: Protocol = { name: "other", id: 50, version: 1 };

describe("the handshake on one link", () => {
  it("sends its proof first, and is through once the remote's checks out; what followed it comes after", async () => {
    const { alice, bob, a, b, atBob } = await twoEnds();
    const { link, sent } = fakeLink(b, { local: FP_A, remote: FP_B });
    const { log, host } = recorder();
    const auth = new LinkAuthenticator(alice, a, true, link, host);
    auth.start();
    auth.receive(encodeFrame(LINK_AUTH_PROTOCOL, await proveLink(bob, atBob)));
    auth.receive(encodeFrame(OTHER, Uint8Array.of(1)));
    auth.receive(encodeFrame(OTHER, Uint8Array.of(2)));
    await eventually("through", () => log.length >= 3);
    expect(log).toEqual(["proven", `deliver 50,1,1`, `deliver 50,1,2`]);
    expect(sent).toHaveLength(1);
    expect(sent[0]![0]).toBe(LINK_AUTH_PROTOCOL.id);
    // Alice's proof is good at Bob's end.
    expect(await checkLinkProof(sent[0]!.subarray(2), atBob)).toBe(true);
  });

  it("fails when the first frame is not a proof, and holds back (then drops) what came", async () => {
    const { alice, a, b } = await twoEnds();
    const { link } = fakeLink(b, { local: FP_A, remote: FP_B });
    const { log, host } = recorder();
    const auth = new LinkAuthenticator(alice, a, true, link, host);
    auth.start();
    auth.receive(encodeFrame(OTHER, Uint8Array.of(1)));
    auth.receive(encodeFrame(LINK_AUTH_PROTOCOL, Uint8Array.of(2)));
    await eventually("failed", () => log.length > 0);
    expect(log).toEqual(["failed: no proof of identity"]);
  });

  it("fails on a bad proof, on a link with no fingerprints, or when its proof cannot be sent", async () => {
    const { alice, bob, a, b, atBob } = await twoEnds();
    const mallory = await createIdentity();
    {
      const { link } = fakeLink(b, { local: FP_A, remote: FP_B });
      const { log, host } = recorder();
      const auth = new LinkAuthenticator(alice, a, true, link, host);
      auth.start();
      auth.receive(encodeFrame(LINK_AUTH_PROTOCOL, await proveLink(mallory, atBob)));
      auth.receive(encodeFrame(OTHER, Uint8Array.of(1)));
      await eventually("failed", () => log.length > 0);
      await flushAsync();
      expect(log).toEqual(["failed: bad proof of identity"]);
    }
    {
      const { link } = fakeLink(b, null);
      const { log, host } = recorder();
      new LinkAuthenticator(alice, a, true, link, host).start();
      expect(log).toEqual(["failed: no DTLS fingerprints"]);
    }
    {
      const { link } = fakeLink(b, { local: FP_A, remote: FP_B }, false);
      const { log, host } = recorder();
      const auth = new LinkAuthenticator(alice, a, true, link, host);
      auth.start();
      auth.receive(encodeFrame(LINK_AUTH_PROTOCOL, await proveLink(bob, atBob)));
      await eventually("failed", () => log.length > 0);
      expect(log).toEqual(["failed: proof not sent"]);
    }
  });

  it("reports nothing once cancelled", async () => {
    const { alice, bob, a, b, atBob } = await twoEnds();
    const { link, sent } = fakeLink(b, { local: FP_A, remote: FP_B });
    const { log, host } = recorder();
    const proof = encodeFrame(LINK_AUTH_PROTOCOL, await proveLink(bob, atBob));
    const auth = new LinkAuthenticator(alice, a, true, link, host);
    auth.start();
    auth.receive(proof);
    auth.cancel();
    // The signing and the check finish, and neither reports.
    await flushAsync(20);
    expect(log).toEqual([]);
    expect(sent).toEqual([]);
  });
});
