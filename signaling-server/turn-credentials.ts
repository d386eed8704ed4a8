// Short-lived TURN credentials for each joined peer, in coturn's shared-secret
// REST scheme (turnserver --use-auth-secret --static-auth-secret=…): the
// username is `<unix expiry s>:<peer address>` and the password is
// base64(HMAC-SHA1(secret, username)). coturn recomputes the password from the
// username and refuses a username whose expiry has passed, so the server never
// talks to coturn and a leaked credential is worth ttlS at most.
//
// Fresh ones before they run out: the client pings every 15 s (signaling-client)
// and, once a socket's credentials are past half their life, the server answers
// that ping with an "ice-servers" message carrying new ones as well. A client
// therefore always holds credentials with at least half of ttlS left (less one
// ping interval) when it makes a new link, however long its tab stays open;
// links already up keep their allocation (coturn checks the expiry when it
// authenticates the Allocate; seen with coturn 4.6: a REFRESH on that allocation
// after the expiry still succeeds), and a link that loses its relay anyway is
// dialled again with the fresh ones. Only sockets that ping get them, which
// every client does.
import { createHmac } from "node:crypto";
import type { IceServer } from "../core/net/ice-servers.ts";

export interface TurnSettings {
  /** turn: or turns: URLs of one coturn (or several sharing the secret). */
  urls: string[];
  /** coturn's static-auth-secret. */
  secret: string;
  /** How long each credential is valid, in seconds. */
  ttlS: number;
}

export const DEFAULT_TURN_TTL_S = 3600;
/** Shorter than a few pings and the refresh could not keep up. */
export const MIN_TURN_TTL_S = 60;
/** A day: a credential is a licence to relay through our TURN server. */
export const MAX_TURN_TTL_S = 86_400;

export const TURN_ENV = { urls: "TURN_URLS", secret: "TURN_SECRET", ttlS: "TURN_TTL_S" } as const;

export class TurnSettingError extends Error {}

// turn:host[:port][?transport=udp|tcp]; IPv6 hosts in brackets.
const TURN_URL_PATTERN = /^turns?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/;

/** Why a TURN URL is unusable, or null when it is fine. */
export function turnUrlProblem(url: string): string | null {
  const m = TURN_URL_PATTERN.exec(url);
  if (!m)
    return `not a turn:/turns: URL (turn:host[:port][?transport=udp|tcp]): ${JSON.stringify(url.slice(0, 80))}`;
  const port = m[2] ? Number(m[2].slice(1)) : 3478;
  if (port < 1 || port > 65_535) return `port out of range in ${JSON.stringify(url.slice(0, 80))}`;
  return null;
}

/** Checks settings given in code (the same rules as the environment); throws TurnSettingError. */
export function checkTurnSettings(t: TurnSettings): TurnSettings {
  if (t.urls.length === 0) throw new TurnSettingError(`${TURN_ENV.urls}: at least one URL`);
  if (t.urls.length > 16) throw new TurnSettingError(`${TURN_ENV.urls}: at most 16 URLs`);
  for (const url of t.urls) {
    const problem = turnUrlProblem(url);
    if (problem) throw new TurnSettingError(`${TURN_ENV.urls}: ${problem}`);
  }
  if (t.secret.length === 0) throw new TurnSettingError(`${TURN_ENV.secret}: must not be empty`);
  if (!Number.isSafeInteger(t.ttlS) || t.ttlS < MIN_TURN_TTL_S || t.ttlS > MAX_TURN_TTL_S)
    throw new TurnSettingError(
      `${TURN_ENV.ttlS}: whole seconds from ${MIN_TURN_TTL_S} to ${MAX_TURN_TTL_S}, not ${String(t.ttlS)}`,
    );
  return { urls: [...t.urls], secret: t.secret, ttlS: t.ttlS };
}

/** TURN from TURN_URLS (comma-separated), TURN_SECRET and TURN_TTL_S; null when TURN_URLS is unset. */
export function turnFromEnv(env: Record<string, string | undefined>): TurnSettings | null {
  const urlsText = env[TURN_ENV.urls]?.trim();
  const secret = env[TURN_ENV.secret] ?? "";
  if (!urlsText) {
    if (secret) throw new TurnSettingError(`${TURN_ENV.secret} is set but ${TURN_ENV.urls} is not`);
    return null;
  }
  if (!secret) throw new TurnSettingError(`${TURN_ENV.urls} is set but ${TURN_ENV.secret} is not`);
  const urls = urlsText
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u !== "");
  const ttlText = env[TURN_ENV.ttlS]?.trim();
  let ttlS = DEFAULT_TURN_TTL_S;
  if (ttlText) ttlS = /^\d+$/.test(ttlText) ? Number(ttlText) : Number.NaN;
  if (Number.isNaN(ttlS))
    throw new TurnSettingError(`${TURN_ENV.ttlS}: whole seconds, not ${JSON.stringify(ttlText)}`);
  return checkTurnSettings({ urls, secret, ttlS });
}

/** coturn's REST credentials for `peer`, valid until `expiryS` (unix seconds). */
export function turnCredentials(
  secret: string,
  peer: string,
  expiryS: number,
): { username: string; credential: string } {
  const username = `${expiryS}:${peer}`;
  const credential = createHmac("sha1", secret).update(username).digest("base64");
  return { username, credential };
}

/** The expiry (unix seconds) in a REST username, or null when it has none. */
export function turnExpiryS(username: string): number | null {
  const m = /^(\d{1,12}):/.exec(username);
  return m ? Number(m[1]) : null;
}

/**
 * Hands out the credentials, and remembers per socket when to hand out fresh
 * ones (a WeakMap: nothing to clean up when a socket goes).
 */
export class TurnIssuer {
  private readonly settings: TurnSettings;
  /** Per socket: unix seconds after which its credentials are past half their life. */
  private readonly refreshAtS = new WeakMap<object, number>();

  constructor(
    settings: TurnSettings,
    private readonly nowS: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.settings = checkTurnSettings(settings);
  }

  /** A TURN server entry for `peer` on socket `owner`, valid for ttlS from now. */
  issue(owner: object, peer: string): IceServer {
    const now = this.nowS();
    const { username, credential } = turnCredentials(this.settings.secret, peer, now + this.settings.ttlS);
    this.refreshAtS.set(owner, now + Math.floor(this.settings.ttlS / 2));
    return { urls: [...this.settings.urls], username, credential };
  }

  /** Whether `owner`'s credentials are past half their life (false for a socket never issued any). */
  due(owner: object): boolean {
    const at = this.refreshAtS.get(owner);
    return at !== undefined && this.nowS() >= at;
  }
}
