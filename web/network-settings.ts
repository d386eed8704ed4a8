// The Network page's settings as saved and as typed, parsed at the edge: the
// network's name, the signaling servers (one or several, tried in turn), the
// user's own ICE servers and whether links go only through a TURN relay.
// Pure (no DOM, no storage), so it is tested in Node.
import { type IceServer, parseIceServers } from "../core/net/ice-servers.ts";
import { ROOM_PATTERN } from "../core/net/signaling-protocol.ts";

export interface NetworkSettings {
  /** The network (signaling room) to join. */
  room: string;
  /** ws(s) URLs of the signaling servers, tried in turn; empty for this site's own. */
  serverUrls: string[];
  /** ICE servers to use instead of the server's; null to use the server's. */
  iceServers: IceServer[] | null;
  /** Gather relay candidates only (iceTransportPolicy "relay"): peers never learn this device's address. */
  relayOnly: boolean;
}

export const DEFAULT_SETTINGS: NetworkSettings = {
  room: "main",
  serverUrls: [],
  iceServers: null,
  relayOnly: false,
};

/** More than anyone runs; a longer list is a mistake. */
export const MAX_SERVER_URLS = 8;
const MAX_URL_CHARS = 512;

export type ServerUrlsParse = { ok: true; urls: string[] } | { ok: false; error: string };

function urlProblem(text: string): string | null {
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  if (text.length > MAX_URL_CHARS) return `${shown} is longer than ${MAX_URL_CHARS} characters`;
  if (!/^wss?:\/\//i.test(text)) return `${shown} does not start with ws:// or wss://`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${shown} is not a URL`;
  }
  if (!url.hostname) return `${shown} names no host`;
  if (url.username || url.password) return `${shown} carries a user name or password`;
  if (url.hash) return `${shown} has a #fragment, which a WebSocket URL cannot have`;
  return null;
}

/** Signaling server URLs as typed: separated by white space or commas; empty text means this site's own. */
export function parseServerUrls(text: string): ServerUrlsParse {
  const parts = text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (parts.length > MAX_SERVER_URLS)
    return { ok: false, error: `at most ${MAX_SERVER_URLS} signaling servers, not ${parts.length}` };
  const urls: string[] = [];
  for (const part of parts) {
    const problem = urlProblem(part);
    if (problem) return { ok: false, error: problem };
    if (!urls.includes(part)) urls.push(part);
  }
  return { ok: true, urls };
}

/**
 * Settings from what was saved (anything: an older version's shape, or junk)
 * and the page's ?network= parameter. What does not parse falls back to its
 * default, so a bad saved value never keeps the page off the network.
 */
export function settingsFromSaved(saved: unknown, roomFromUrl: string | null): NetworkSettings {
  const s = (typeof saved === "object" && saved !== null ? saved : {}) as Record<string, unknown>;
  const room = [roomFromUrl, s.room].find((r): r is string => typeof r === "string" && ROOM_PATTERN.test(r));
  // Older versions saved one URL as serverUrl.
  const savedUrls = Array.isArray(s.serverUrls)
    ? s.serverUrls.filter((u): u is string => typeof u === "string").join(" ")
    : typeof s.serverUrl === "string"
      ? s.serverUrl
      : "";
  const urls = parseServerUrls(savedUrls);
  const ice = parseIceServers(s.iceServers);
  return {
    room: room ?? DEFAULT_SETTINGS.room,
    serverUrls: urls.ok ? urls.urls : [],
    iceServers: ice.ok ? ice.servers : null,
    relayOnly: s.relayOnly === true,
  };
}
