// Who is at the other end of a link. Signaling carries every link's set-up
// data and is not trusted, so it could pair us with itself and pass the bytes
// on (or answer under someone else's address). What it cannot do is make both
// ends see the same DTLS certificates: each end's transport checks the remote's
// certificate against the fingerprint it was given, so a spliced link shows the
// splicer's fingerprint as `remote`. So, before a link counts as open, each end
// signs, with the key its address is derived from, the link as it sees it:
//
//   spare-cycles-link/1 \n <signer's role> \n <initiator address> \n
//   <responder address> \n <initiator fingerprint> \n <responder fingerprint>
//
// and sends {publicKey, signature} as the first frame, on a channel of its own
// (with `sideChannels: true` when its transport takes side channels, so a peer
// never opens one toward a build that would take it for the link's own channel).
// The other end rebuilds the text from what *it* sees (its local fingerprint is
// the signer's remote one) and checks the key's peer id against the address it
// dialed or was dialed by. The role line keeps a proof from being reflected
// back to its signer (two sessions of one identity share a peer id).
import { type Identity, peerIdFromPublicKey, sign, verifySignature } from "../crypto/identity.ts";
import { isObject, isShortText } from "../util/guards.ts";
import { parseJsonBytes } from "../util/json.ts";
import { CHANNEL_IDS, decodeFrame, encodeFrame, type Protocol } from "./channels.ts";
import { type PeerAddress, peerIdOf } from "./peer-address.ts";
import type { Link, LinkFingerprints } from "./transport.ts";

export const LINK_AUTH_PROTOCOL: Protocol = { name: "link-auth", id: CHANNEL_IDS.linkAuth, version: 1 };

const LABEL = "spare-cycles-link/1";
const MAX_PROOF_BYTES = 512;
/** Frames a remote may send after its proof while we check it (it had checked ours). */
const MAX_QUEUED_FRAMES = 1024;
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/** One end's view of a link: which end it is, and the fingerprints it sees. */
export interface LinkView {
  self: PeerAddress;
  remote: PeerAddress;
  initiator: boolean;
  fingerprints: LinkFingerprints;
}

/** The text the end in `role` signs for the link `view` describes (from either end). */
export function linkAuthMessage(view: LinkView, role: "initiator" | "responder"): Uint8Array {
  const { self, remote, initiator, fingerprints: fp } = view;
  const lines = [
    LABEL,
    role,
    initiator ? self : remote,
    initiator ? remote : self,
    initiator ? fp.local : fp.remote,
    initiator ? fp.remote : fp.local,
  ];
  return new TextEncoder().encode(lines.join("\n"));
}

const roleOf = (initiator: boolean) => (initiator ? "initiator" : "responder");

export interface LinkProof {
  publicKey: string;
  signature: string;
  /** The prover's end takes side channels (side-channel.ts). */
  sideChannels: boolean;
}

/** This end's proof for the link it sees as `view`: the payload of its link-auth frame. */
export async function proveLink(
  identity: Identity,
  view: LinkView,
  options: { sideChannels?: boolean } = {},
): Promise<Uint8Array> {
  const signature = await sign(identity, linkAuthMessage(view, roleOf(view.initiator)));
  const proof = {
    publicKey: identity.publicKey,
    signature,
    ...(options.sideChannels ? { sideChannels: true } : {}),
  };
  return new TextEncoder().encode(JSON.stringify(proof));
}

export function parseLinkProof(payload: Uint8Array): LinkProof | null {
  if (payload.length > MAX_PROOF_BYTES) return null;
  const value = parseJsonBytes(payload, { fatal: true });
  if (!isObject(value) || !isShortText(value.publicKey, 64) || !isShortText(value.signature, 128))
    return null;
  return {
    publicKey: value.publicKey,
    signature: value.signature,
    sideChannels: value.sideChannels === true,
  };
}

/**
 * Whether `payload` proves the remote of `view` holds the key of its address,
 * for this link as this end sees it. Never throws.
 */
export async function checkLinkProof(payload: Uint8Array, view: LinkView): Promise<boolean> {
  const proof = parseLinkProof(payload);
  if (!proof) return false;
  let peerId: string;
  try {
    peerId = await peerIdFromPublicKey(proof.publicKey);
  } catch {
    return false;
  }
  if (peerId !== peerIdOf(view.remote)) return false;
  const message = linkAuthMessage(view, roleOf(!view.initiator));
  return verifySignature(proof.publicKey, message, proof.signature);
}

export interface LinkAuthHost {
  /** Both proofs are through: ours is sent, theirs checked. Frames held back follow. */
  proven(): void;
  failed(reason: string): void;
  /** A frame that arrived after the remote's proof, handed on once the link is proven. */
  deliver(data: Uint8Array): void;
}

/**
 * The handshake on one link, from the moment its transport is up: sends this
 * end's proof first, checks the remote's (which must be its first frame), and
 * holds back what follows it until the check is through. Dropped frames, a
 * wrong proof or none at all fail the link; the mesh times out one that hangs.
 */
export class LinkAuthenticator {
  private sent = false;
  private checked = false;
  private done = false;
  private heard = false;
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Whether the remote said, in its proof, that its end takes side channels. */
  remoteTakesSideChannels = false;

  constructor(
    private readonly identity: Identity,
    private readonly self: PeerAddress,
    private readonly initiator: boolean,
    private readonly link: Link,
    private readonly host: LinkAuthHost,
  ) {}

  /** The transport is up: prove who this end is. */
  start(): void {
    const view = this.view();
    if (!view) return;
    proveLink(this.identity, view, { sideChannels: this.link.openChannel !== undefined }).then(
      (payload) => {
        if (this.done) return;
        if (!this.link.send(encodeFrame(LINK_AUTH_PROTOCOL, payload))) {
          this.fail("proof not sent");
          return;
        }
        this.sent = true;
        this.settle();
      },
      (err: unknown) => this.fail(`cannot sign: ${String(err)}`),
    );
  }

  /** A frame from the remote while the link is not open yet. */
  receive(data: Uint8Array): void {
    if (this.done) return;
    if (this.heard) {
      this.queuedBytes += data.byteLength;
      if (this.queue.length >= MAX_QUEUED_FRAMES || this.queuedBytes > MAX_QUEUED_BYTES)
        this.fail("too much before the proof was checked");
      else this.queue.push(data);
      return;
    }
    this.heard = true;
    const frame = decodeFrame(data);
    if (!frame || frame.id !== LINK_AUTH_PROTOCOL.id || frame.version !== LINK_AUTH_PROTOCOL.version) {
      this.fail("no proof of identity");
      return;
    }
    const view = this.view();
    if (!view) return;
    checkLinkProof(frame.payload, view).then((ok) => {
      if (this.done) return;
      if (!ok) {
        this.fail("bad proof of identity");
        return;
      }
      this.remoteTakesSideChannels = parseLinkProof(frame.payload)?.sideChannels === true;
      this.checked = true;
      this.settle();
    });
  }

  /** The link went away: nothing more is reported. */
  cancel(): void {
    this.done = true;
    this.queue.length = 0;
  }

  private view(): LinkView | null {
    const fingerprints = this.link.fingerprints();
    if (!fingerprints) {
      this.fail("no DTLS fingerprints");
      return null;
    }
    return { self: this.self, remote: this.link.remote, initiator: this.initiator, fingerprints };
  }

  private settle(): void {
    if (this.done || !this.sent || !this.checked) return;
    this.done = true;
    this.host.proven();
    for (const data of this.queue.splice(0)) this.host.deliver(data);
  }

  private fail(reason: string): void {
    if (this.done) return;
    this.cancel();
    this.host.failed(reason);
  }
}
