// Every limit the signaling server enforces, its default, and the environment
// variable `npm start` reads it from (signaling-server/PROTOCOL.md lists them).
import {
  type IceParse,
  type IceServer,
  parseIceServers,
  parseIceServersJson,
} from "../core/net/ice-servers.ts";

export interface SignalingLimits {
  /** Largest inbound WebSocket message; a bigger one closes the socket with 1009. */
  maxFrameBytes: number;
  /** Token bucket per socket: sustained messages per second… */
  messagesPerSecond: number;
  /** …and how many may come at once. */
  burst: number;
  peersPerRoom: number;
  /** Sessions one key (one peer id) may hold in one room; a join beyond it is refused (room-full). */
  sessionsPerKey: number;
  maxRooms: number;
  /** Open signaling sockets from one IP address (counted at the HTTP upgrade). */
  socketsPerIp: number;
  /** Open signaling sockets in total. */
  maxSockets: number;
  /**
   * Open TCP connections from one IP address, of any kind (HTTP, upgrading,
   * WebSocket), counted from the moment each is accepted. Unless given:
   * socketsPerIp + CONNECTION_MARGIN.perIp.
   */
  connectionsPerIp: number;
  /** Open TCP connections in total. Unless given: maxSockets + CONNECTION_MARGIN.total. */
  maxConnections: number;
  /** A connection that has not sent complete request headers this long after it opened gets 408 and is closed. */
  headerTimeoutMs: number;
  /** A WebSocket ping this often… */
  heartbeatIntervalMs: number;
  /** …must be answered within this, or the socket is terminated. */
  heartbeatTimeoutMs: number;
  /** A socket that has not joined a room by then is closed. */
  joinTimeoutMs: number;
  /** Invalid messages a socket may send before it is closed. */
  maxStrikes: number;
  /** Bytes queued for a reader that does not keep up before it is terminated. */
  maxBufferedBytes: number;
  /** How long close() lets clients take their close frame before it terminates them. */
  shutdownGraceMs: number;
  /** Passed to clients in "joined" (STUN/TURN); none by default. */
  iceServers: IceServer[];
}

/**
 * Room for plain HTTP (the app's files, /healthz) beside the signaling
 * sockets, when the connection caps are not given: they follow socketsPerIp
 * and maxSockets, so raising those is never undone by a cap below them.
 */
export const CONNECTION_MARGIN = Object.freeze({ perIp: 64, total: 1_024 });

export const DEFAULT_LIMITS: Readonly<SignalingLimits> = Object.freeze({
  maxFrameBytes: 64 * 1024,
  messagesPerSecond: 50,
  burst: 100,
  peersPerRoom: 256,
  sessionsPerKey: 8,
  maxRooms: 10_000,
  socketsPerIp: 64,
  maxSockets: 20_000,
  connectionsPerIp: 64 + CONNECTION_MARGIN.perIp,
  maxConnections: 20_000 + CONNECTION_MARGIN.total,
  headerTimeoutMs: 10_000,
  heartbeatIntervalMs: 30_000,
  heartbeatTimeoutMs: 10_000,
  joinTimeoutMs: 10_000,
  maxStrikes: 5,
  maxBufferedBytes: 256 * 1024,
  shutdownGraceMs: 1_000,
  iceServers: [],
});

type NumericLimit = Exclude<keyof SignalingLimits, "iceServers">;

/** The environment variable for each limit. */
export const LIMIT_ENV: Readonly<Record<keyof SignalingLimits, string>> = Object.freeze({
  maxFrameBytes: "SIGNAL_MAX_FRAME_BYTES",
  messagesPerSecond: "SIGNAL_MESSAGES_PER_SECOND",
  burst: "SIGNAL_BURST",
  peersPerRoom: "SIGNAL_PEERS_PER_ROOM",
  sessionsPerKey: "SIGNAL_SESSIONS_PER_KEY",
  maxRooms: "SIGNAL_MAX_ROOMS",
  socketsPerIp: "SIGNAL_SOCKETS_PER_IP",
  maxSockets: "SIGNAL_MAX_SOCKETS",
  connectionsPerIp: "SIGNAL_CONNECTIONS_PER_IP",
  maxConnections: "SIGNAL_MAX_CONNECTIONS",
  headerTimeoutMs: "SIGNAL_HEADER_TIMEOUT_MS",
  heartbeatIntervalMs: "SIGNAL_HEARTBEAT_INTERVAL_MS",
  heartbeatTimeoutMs: "SIGNAL_HEARTBEAT_TIMEOUT_MS",
  joinTimeoutMs: "SIGNAL_JOIN_TIMEOUT_MS",
  maxStrikes: "SIGNAL_MAX_STRIKES",
  maxBufferedBytes: "SIGNAL_MAX_BUFFERED_BYTES",
  shutdownGraceMs: "SIGNAL_SHUTDOWN_GRACE_MS",
  iceServers: "SIGNAL_ICE_SERVERS",
});

const NUMERIC = (Object.keys(DEFAULT_LIMITS) as (keyof SignalingLimits)[]).filter(
  (k): k is NumericLimit => k !== "iceServers",
);

export class LimitError extends Error {}

function checkIceServers(parsed: IceParse, where: string): IceServer[] {
  if (!parsed.ok) throw new LimitError(`${where}: ${parsed.error}`);
  return parsed.servers;
}

/** The defaults with `given` on top; throws LimitError for a value that is not a positive integer. */
export function resolveLimits(given: Partial<SignalingLimits> = {}): SignalingLimits {
  const limits: SignalingLimits = { ...DEFAULT_LIMITS, iceServers: [] };
  for (const key of NUMERIC) {
    const v = given[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new LimitError(`${key}: a positive integer, not ${String(v)}`);
    limits[key] = v;
  }
  if (given.connectionsPerIp === undefined)
    limits.connectionsPerIp = limits.socketsPerIp + CONNECTION_MARGIN.perIp;
  if (given.maxConnections === undefined) limits.maxConnections = limits.maxSockets + CONNECTION_MARGIN.total;
  if (given.iceServers !== undefined)
    limits.iceServers = checkIceServers(parseIceServers(given.iceServers), "iceServers");
  return limits;
}

/** Limits from environment variables (unset ones keep their defaults); throws LimitError naming a bad one. */
export function limitsFromEnv(env: Record<string, string | undefined>): Partial<SignalingLimits> {
  const given: Partial<SignalingLimits> = {};
  for (const key of NUMERIC) {
    const name = LIMIT_ENV[key];
    const text = env[name]?.trim();
    if (!text) continue;
    const v = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new LimitError(`${name}: a positive integer, not "${text}"`);
    given[key] = v;
  }
  const ice = env[LIMIT_ENV.iceServers]?.trim();
  if (ice) given.iceServers = checkIceServers(parseIceServersJson(ice), LIMIT_ENV.iceServers);
  return given;
}
