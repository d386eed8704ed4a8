// Who may open a signaling socket: at the HTTP upgrade, before any WebSocket
// exists, each raw socket is counted against maxSockets and against
// socketsPerIp for its address (an IPv6 address by its /64). The count is
// released when the socket closes, so the per-IP map holds only addresses with
// an open socket.
import type { Duplex } from "node:stream";
import type { SignalingLimits } from "./limits.ts";
import type { RejectReason } from "./metrics.ts";

/** The key the per-IP limit counts by: the IPv4 address, or the /64 an IPv6 address lies in. */
export function ipKey(address: string | undefined): string {
  if (!address) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  const [head = "", tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = address.includes("::") && tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || "0", 16).toString(16))
    .join(":")}::/64`;
}

const kIp = Symbol("signaling ip");
type Counted = Duplex & { [kIp]?: string };

export class Admission {
  /** Raw sockets admitted and not yet closed. */
  private open = 0;
  private readonly perIp = new Map<string, number>();
  /** One close listener for every bare socket (`this` is the socket); it ends when that socket closes. */
  private readonly onBareClose: (this: Duplex) => void;

  constructor(
    private readonly caps: Pick<SignalingLimits, "maxSockets" | "socketsPerIp">,
    /** Called after each release (the hub waits on the count reaching zero at shutdown). */
    private readonly released: () => void,
  ) {
    const release = (ip: string) => this.release(ip);
    this.onBareClose = function () {
      release((this as Counted)[kIp]!);
    };
  }

  /** Raw sockets admitted and not yet closed. */
  get admitted(): number {
    return this.open;
  }

  /** Distinct addresses (IPv6: /64 prefixes) with an admitted socket. */
  get ips(): number {
    return this.perIp.size;
  }

  /** Counts a raw socket from `ip`, or says why it is refused. */
  admit(ip: string): RejectReason | null {
    if (this.open >= this.caps.maxSockets) return "max-sockets";
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.caps.socketsPerIp) return "too-many-sockets";
    this.perIp.set(ip, n + 1);
    this.open += 1;
    return null;
  }

  /** An admitted socket whose WebSocket handshake did not complete (yet): counted until it closes. */
  countUntilClosed(socket: Duplex, ip: string): void {
    (socket as Counted)[kIp] = ip;
    socket.on("close", this.onBareClose);
  }

  /** The WebSocket handshake on `raw` completed after all: from now on the WebSocket's close releases it. */
  handOver(raw: Duplex): void {
    if ((raw as Counted)[kIp] === undefined) return;
    raw.off("close", this.onBareClose);
    (raw as Counted)[kIp] = undefined;
  }

  release(ip: string): void {
    this.open -= 1;
    const left = (this.perIp.get(ip) ?? 1) - 1;
    if (left > 0) this.perIp.set(ip, left);
    else this.perIp.delete(ip);
    this.released();
  }
}
