// WebRTC data channel links through @thaunknown/simple-peer (the maintained
// simple-peer). The same code runs in the browser (native WebRTC) and in Node,
// where simple-peer's webrtc-polyfill uses node-datachannel.
import SimplePeer from "@thaunknown/simple-peer/lite.js";
import { fingerprintsFromSdp } from "../core/net/sdp-fingerprints.ts";
import type { IceServer } from "../core/net/signaling-protocol.ts";
import type { Link, LinkFactory, LinkFingerprints, LinkRoute } from "../core/net/transport.ts";
import { type DataChannelLike, SIDE_LABEL_PREFIX, sideChannel } from "./side-channel.ts";

/** Chromium refuses to queue more than 16 MiB; stay well below it. */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** What the link reads of simple-peer's RTCPeerConnection (native, or node-datachannel's polyfill). */
interface PeerConnectionLike {
  localDescription?: { sdp?: string } | null;
  remoteDescription?: { sdp?: string } | null;
  createDataChannel?(label: string, options: { ordered: boolean }): DataChannelLike;
  ondatachannel?: ((event: { channel: DataChannelLike }) => void) | null;
  getStats?(): Promise<StatsReportLike>;
}

/** The part of an RTCStatsReport read here (the browser's, or node-datachannel's Map). */
interface StatsReportLike {
  get(id: string): Record<string, unknown> | undefined;
  forEach(each: (stat: Record<string, unknown>) => void): void;
}

export interface SimplePeerLinkOptions {
  /**
   * Gather relay candidates only (iceTransportPolicy "relay"): every link goes
   * through a TURN server, so the other end never learns this device's
   * addresses. Without a TURN server among the ICE servers, no link comes up.
   */
  relayOnly?: boolean;
}

/** The candidate pair ICE selected: the transport's, or else a nominated pair that succeeded. */
function selectedPair(report: StatsReportLike): Record<string, unknown> | undefined {
  let pair: Record<string, unknown> | undefined;
  report.forEach((s) => {
    if (s.type === "transport" && typeof s.selectedCandidatePairId === "string")
      pair ??= report.get(s.selectedCandidatePairId);
  });
  if (!pair)
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated === true && s.state === "succeeded") pair ??= s;
    });
  return pair;
}

/** "relayed" when either end of the selected pair is a TURN relay candidate. */
async function routeOf(pc: PeerConnectionLike | null): Promise<LinkRoute> {
  if (!pc?.getStats) return "unknown";
  let report: StatsReportLike;
  try {
    report = await pc.getStats();
  } catch {
    return "unknown";
  }
  const pair = selectedPair(report);
  if (!pair) return "unknown";
  const types = [pair.localCandidateId, pair.remoteCandidateId].map((id) =>
    typeof id === "string" ? report.get(id)?.candidateType : undefined,
  );
  if (types.includes("relay")) return "relayed";
  return types.every((t) => typeof t === "string") ? "direct" : "unknown";
}

/**
 * Sends the remote's side channels (labels with our prefix) to `onSide`, and
 * only the first other channel to simple-peer (the responder's one data
 * channel): a remote that opens more cannot swap the link's channel.
 */
function routeIncomingChannels(pc: PeerConnectionLike, onSide: (channel: DataChannelLike) => void): void {
  const simplePeers = pc.ondatachannel;
  let mainSeen = false;
  pc.ondatachannel = (event) => {
    const channel = event.channel;
    if (channel.label.startsWith(SIDE_LABEL_PREFIX)) onSide(channel);
    else if (simplePeers && !mainSeen) {
      mainSeen = true;
      simplePeers.call(pc, event);
    } else channel.close();
  };
}

/** The DTLS fingerprints in the connection's local and remote descriptions (the ones DTLS checks). */
function fingerprintsOf(pc: PeerConnectionLike | null | undefined): LinkFingerprints | null {
  const local = fingerprintsFromSdp(pc?.localDescription?.sdp);
  const remote = fingerprintsFromSdp(pc?.remoteDescription?.sdp);
  return local && remote ? { local, remote } : null;
}

export function simplePeerLinks(options: SimplePeerLinkOptions = {}): LinkFactory {
  const policy: Pick<RTCConfiguration, "iceTransportPolicy"> = options.relayOnly
    ? { iceTransportPolicy: "relay" }
    : {};
  return {
    create({ remote, initiator, iceServers, events }): Link {
      const peer = new SimplePeer({
        initiator,
        trickle: true,
        config: { iceServers: iceServers as RTCIceServer[], ...policy },
        channelConfig: { ordered: true },
      });
      let closed = false;
      const close = (reason: string) => {
        if (closed) return;
        closed = true;
        peer.removeAllListeners();
        peer.on("error", () => {}); // late errors from a destroyed peer are expected
        peer.destroy();
        events.close(reason);
      };
      peer.on("signal", (data) => events.signal(data));
      peer.on("connect", () => events.open());
      peer.on("data", (data) => events.message(data instanceof Uint8Array ? data : new Uint8Array(data)));
      peer.on("close", () => close("closed"));
      peer.on("error", (err) => close(`error: ${err.code ?? err.message}`));
      const pc = () => (closed ? null : ((peer as { _pc?: PeerConnectionLike | null })._pc ?? null));
      const created = pc();
      if (created)
        routeIncomingChannels(created, (channel) => {
          if (closed || !events.channel) channel.close();
          else events.channel(sideChannel(channel, channel.label.slice(SIDE_LABEL_PREFIX.length)));
        });
      return {
        remote,
        send(data) {
          if (closed || !peer.connected || peer.bufferSize > MAX_BUFFERED_BYTES) return false;
          try {
            peer.send(data);
            return true;
          } catch {
            return false;
          }
        },
        bufferedBytes: () => (closed ? 0 : peer.bufferSize),
        fingerprints: () => fingerprintsOf(pc()),
        route: () => (peer.connected ? routeOf(pc()) : Promise.resolve("unknown")),
        openChannel(label) {
          const connection = pc();
          if (!connection?.createDataChannel || !peer.connected) return null;
          try {
            return sideChannel(
              connection.createDataChannel(SIDE_LABEL_PREFIX + label, { ordered: true }),
              label,
            );
          } catch {
            return null;
          }
        },
        signal(data) {
          if (closed) return;
          try {
            peer.signal(data);
          } catch (err) {
            close(`bad signal: ${String(err)}`);
          }
        },
        close: () => close("closed locally"),
      };
    },
  };
}

export type { IceServer };
