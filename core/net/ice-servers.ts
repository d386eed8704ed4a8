// STUN/TURN servers for WebRTC: one strict parser for every place a list of them
// comes from (the signaling server's environment, its "joined" message, the
// user's settings box and what the settings saved). Pure: it returns the typed
// list or says what is wrong, and never throws.

import { isObject, isShortText } from "../util/guards.ts";

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export type IceParse<T = IceServer[]> = { ok: true; servers: T } | { ok: false; error: string };

/** More servers than anyone configures: a longer list is an attack or a mistake. */
export const MAX_ICE_SERVERS = 32;
/** URLs one server entry may list. */
export const MAX_ICE_URLS = 16;
/** Longest URL, username or credential. */
export const MAX_ICE_TEXT = 512;
/** Longest text (JSON or URLs) parsed at all. */
export const MAX_ICE_INPUT_CHARS = 64 * 1024;

const ICE_URL_PATTERN = /^(stun|stuns|turn|turns):[^\s]+$/;
const FIELDS = new Set(["urls", "username", "credential"]);

const fail = (error: string): IceParse<never> => ({ ok: false, error });

function parseUrl(v: unknown, where: string): string | IceParse<never> {
  if (!isShortText(v, MAX_ICE_TEXT)) return fail(`${where}: a string of up to ${MAX_ICE_TEXT} characters`);
  if (!ICE_URL_PATTERN.test(v))
    return fail(`${where}: not a STUN/TURN URL: ${JSON.stringify(v.slice(0, 80))}`);
  return v;
}

function parseEntry(v: unknown, where: string): IceServer | IceParse<never> {
  if (!isObject(v)) return fail(`${where}: an object {urls, username?, credential?}`);
  for (const key of Object.keys(v))
    if (!FIELDS.has(key)) return fail(`${where}: unknown field ${JSON.stringify(key.slice(0, 40))}`);
  let urls: string | string[];
  if (Array.isArray(v.urls)) {
    if (v.urls.length === 0 || v.urls.length > MAX_ICE_URLS)
      return fail(`${where}.urls: 1 to ${MAX_ICE_URLS} URLs`);
    urls = [];
    for (const [i, u] of v.urls.entries()) {
      const url = parseUrl(u, `${where}.urls[${i}]`);
      if (typeof url !== "string") return url;
      urls.push(url);
    }
  } else {
    const url = parseUrl(v.urls, `${where}.urls`);
    if (typeof url !== "string") return url;
    urls = url;
  }
  const server: IceServer = { urls };
  for (const key of ["username", "credential"] as const) {
    const text = v[key];
    if (text === undefined) continue;
    if (!isShortText(text, MAX_ICE_TEXT))
      return fail(`${where}.${key}: a string of up to ${MAX_ICE_TEXT} characters`);
    server[key] = text;
  }
  // WebRTC refuses a TURN server without both, and would say so far from here.
  const turn = (typeof urls === "string" ? [urls] : urls).some((u) => u.startsWith("turn"));
  if (turn && (server.username === undefined || server.credential === undefined))
    return fail(`${where}: a TURN server needs a username and a credential`);
  return server;
}

/** A list of ICE servers from an untrusted value (parsed JSON, a stored setting, a message). */
export function parseIceServers(value: unknown): IceParse {
  if (!Array.isArray(value)) return fail("a JSON list of {urls, username?, credential?}");
  if (value.length > MAX_ICE_SERVERS) return fail(`at most ${MAX_ICE_SERVERS} ICE servers`);
  const servers: IceServer[] = [];
  for (const [i, v] of value.entries()) {
    const server = parseEntry(v, `[${i}]`);
    if ("ok" in server) return server;
    servers.push(server);
  }
  return { ok: true, servers };
}

/** A list of ICE servers from JSON text (an environment variable, a JSON array typed by the user). */
export function parseIceServersJson(text: string): IceParse {
  if (text.length > MAX_ICE_INPUT_CHARS) return fail(`longer than ${MAX_ICE_INPUT_CHARS} characters`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail("not JSON");
  }
  return parseIceServers(value);
}

/**
 * ICE servers as the user types them: STUN/TURN URLs separated by white space,
 * or a JSON array. Empty text means "none of my own" (null: use the server's).
 */
export function parseIceServersText(text: string): IceParse<IceServer[] | null> {
  const trimmed = text.trim();
  if (!trimmed) return { ok: true, servers: null };
  if (trimmed.startsWith("[")) return parseIceServersJson(trimmed);
  if (trimmed.length > MAX_ICE_INPUT_CHARS) return fail(`longer than ${MAX_ICE_INPUT_CHARS} characters`);
  return parseIceServers(trimmed.split(/\s+/).map((urls) => ({ urls })));
}
