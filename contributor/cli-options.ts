// The headless contributor's command line: what it offers, and to which network.
import { parseArgs } from "node:util";

export interface ContributorOptions {
  /** ws(s)://host:port/signal (an http(s) URL of the server is turned into that): the first of serverUrls. */
  serverUrl: string;
  /** Every instance given (--server a,b): the next one is tried when one is lost. */
  serverUrls: string[];
  room: string;
  budgetPct: number;
  slots: number;
  memoryMiB: number;
  name: string;
  /** The identity stamp's difficulty; for tests only, and it must match the network's. */
  stampBits: number | undefined;
  /** How long to wait for the server at start before giving up. */
  connectTimeoutMs: number;
  /** Whether hosted VMs may reach the internet through this machine (HTTP from its address); off by default. */
  allowOutbound: boolean;
  /** What it sends for hosted VMs (web answers, VM-to-VM frames), in KiB/s; null: unlimited. */
  bandwidthCapKiBps: number | null;
  /** Links only through the server's TURN relay (hides this machine's address from peers). */
  relayOnly: boolean;
  /** A folder for the identity, the shared state and others' replicas (null: memory, a new identity each start). */
  dataDir: string | null;
}

export const USAGE = `Usage: npm run contribute -- --server URL [options]
       npx spare-cycles-contribute --server URL [options]

Hosts other people's VMs on this machine, at the lowest OS priority (nice 19 on
every thread), in the network of a Spare Cycles server.

  --server URL[,URL]  the server: ws(s)://host:port/signal, or its http(s) address (required);
                      several instances of it comma-separated, tried in turn
  --room NAME         the network to join (default: main)
  --budget PCT        CPU each hosted VM may use, in % of one core (default: 50)
  --slots N           how many VMs to host at once (default: 2)
  --memory MIB        memory offered for VMs, in MiB (default: 1024)
  --name TEXT         the name other peers see (default: headless)
  --allow-outbound    let hosted VMs reach the internet (HTTP through this machine,
                      from its address; default: off, their requests are refused)
  --relay-only        link to peers only through the server's TURN relay, which
                      hides this machine's address from them (needs TURN_URLS on the server)
  --bandwidth KIBPS   cap what it sends for hosted VMs, in KiB/s (default: unlimited)
  --connect-timeout S seconds to wait for the server at start (default: 15)
  --data DIR          keep the identity (so the credit it earns), the shared state
                      and other owners' replicas in DIR (default: in memory only)
  --stamp-bits N      for tests: the identity stamp's difficulty; must match the network's
  --help              prints this
`;

export type ParsedCommandLine =
  | { ok: true; options: ContributorOptions }
  | { ok: false; help: boolean; error: string };

function intIn(text: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

/** ws(s)://…/signal from what the user typed (a bare http(s) address of the server works too). */
export function signalingUrlOf(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--server ${text} is not a URL (try ws://host:port/signal)`);
  }
  if (url.protocol === "http:" || url.protocol === "https:") {
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (url.pathname === "/" || url.pathname === "") url.pathname = "/signal";
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:")
    throw new Error(`--server must be ws(s):// or http(s)://`);
  return url.href;
}

export function parseCommandLine(argv: string[]): ParsedCommandLine {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        server: { type: "string" },
        room: { type: "string" },
        budget: { type: "string" },
        slots: { type: "string" },
        memory: { type: "string" },
        name: { type: "string" },
        "allow-outbound": { type: "boolean" },
        "relay-only": { type: "boolean" },
        bandwidth: { type: "string" },
        "connect-timeout": { type: "string" },
        data: { type: "string" },
        "stamp-bits": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) return { ok: false, help: true, error: "" };
    const serverUrls = (values.server ?? "")
      .split(",")
      .map((u) => u.trim())
      .filter((u) => u !== "")
      .map(signalingUrlOf);
    if (serverUrls.length === 0) throw new Error("--server is required");
    const budget = intIn(values.budget, "budget", 1, 100, 50);
    const stampBits =
      values["stamp-bits"] === undefined ? undefined : intIn(values["stamp-bits"], "stamp-bits", 1, 32, 0);
    return {
      ok: true,
      options: {
        serverUrl: serverUrls[0]!,
        serverUrls,
        room: values.room || "main",
        budgetPct: budget,
        slots: intIn(values.slots, "slots", 1, 16, 2),
        memoryMiB: intIn(values.memory, "memory", 128, 1024 * 1024, 1024),
        name: (values.name ?? "headless").slice(0, 40),
        allowOutbound: values["allow-outbound"] === true,
        relayOnly: values["relay-only"] === true,
        bandwidthCapKiBps:
          values.bandwidth === undefined
            ? null
            : intIn(values.bandwidth, "bandwidth", 1, 10 * 1024 * 1024, 0),
        stampBits,
        connectTimeoutMs: intIn(values["connect-timeout"], "connect-timeout", 1, 3600, 15) * 1000,
        dataDir: values.data || null,
      },
    };
  } catch (err) {
    return { ok: false, help: false, error: err instanceof Error ? err.message : String(err) };
  }
}
