// Whose request is this: behind a reverse proxy every connection comes from the
// proxy, so the per-address limits (sockets per IP at the upgrade, the web
// gateway's rate per client) count by the client's address from
// X-Forwarded-For, but only on a connection from a proxy the operator trusts
// (SIGNAL_TRUSTED_PROXIES). The address taken is the right-most one that is
// not itself a trusted proxy (express's proxy-addr does the walk), so a client
// can prepend what it likes and change nothing. From anyone else the header is
// ignored. The TCP gate counts before any header is read and so stays by the
// raw peer address (tcp-gate.ts).
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import proxyAddr from "proxy-addr";
import { ipKey } from "./admission.ts";
import { LimitError } from "./limits.ts";

export const TRUSTED_PROXIES_ENV = "SIGNAL_TRUSTED_PROXIES";

/** The per-address key (admission.ts ipKey) a request counts against. */
export type ClientKey = (req: IncomingMessage) => string;

/**
 * The key function for `trusted`: addresses, CIDRs (IPv4 or IPv6) and
 * proxy-addr's names `loopback`, `linklocal`, `uniquelocal`. None: the socket's
 * own address, header ignored. Throws LimitError for an entry that is none of these.
 */
export function clientKey(trusted: readonly string[] = [], where = "trustedProxies"): ClientKey {
  const own: ClientKey = (req) => ipKey(req.socket.remoteAddress);
  if (trusted.length === 0) return own;
  let trust: (addr: string, i: number) => boolean;
  try {
    trust = proxyAddr.compile([...trusted]);
  } catch (err) {
    throw new LimitError(
      `${where}: ${(err as Error).message} (addresses, CIDRs or loopback/linklocal/uniquelocal)`,
    );
  }
  return (req) => {
    const addr = proxyAddr(req, trust);
    // Junk in the header (not an address) from a trusted proxy must not become
    // a fresh key per socket: it counts as the proxy that passed it on.
    return isIP(addr) ? ipKey(addr) : own(req);
  };
}

/** SIGNAL_TRUSTED_PROXIES as a list (comma-separated), checked; undefined when unset or blank. */
export function trustedProxiesFromEnv(env: Record<string, string | undefined>): string[] | undefined {
  const list = (env[TRUSTED_PROXIES_ENV] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (list.length === 0) return undefined;
  clientKey(list, TRUSTED_PROXIES_ENV);
  return list;
}
