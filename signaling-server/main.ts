// `npm start`: serves the built app and signaling on one port (PORT, or 8080).
// Signaling limits come from SIGNAL_* environment variables (PROTOCOL.md).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { trustedProxiesFromEnv } from "./client-address.ts";
import { clusterFromEnv } from "./cluster/cluster-env.ts";
import { LimitError, limitsFromEnv } from "./limits.ts";
import { createSignalingServer } from "./server.ts";
import { TurnSettingError, turnFromEnv } from "./turn-credentials.ts";

// Thousands of peers join with one message each and then stay: V8 sees every
// object from ws's frame parsing survive and starts allocating those straight
// into the old generation, where the same code's per-message garbage then piles
// up (measured with 10,000 peers: heap swinging between 40 and 120 MB under
// relay, flat at 40 MB with this off). The flag is read at each GC.
setFlagsFromString("--no-allocation-site-pretenuring");

const staticDir = fileURLToPath(new URL("../dist", import.meta.url));
if (!existsSync(staticDir)) {
  console.error("dist/ is missing: run `npm run build` first (npm start does this).");
  process.exit(1);
}

let limits: ReturnType<typeof limitsFromEnv>;
let trustedProxies: string[] | undefined;
let turn: ReturnType<typeof turnFromEnv>;
let cluster: ReturnType<typeof clusterFromEnv>;
try {
  limits = limitsFromEnv(process.env);
  trustedProxies = trustedProxiesFromEnv(process.env);
  turn = turnFromEnv(process.env);
  cluster = clusterFromEnv(process.env);
} catch (err) {
  if (!(err instanceof LimitError) && !(err instanceof TurnSettingError)) throw err;
  console.error(`bad setting: ${err.message}`);
  process.exit(1);
}

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? "127.0.0.1";
const server = createSignalingServer({
  ...limits,
  trustedProxies,
  port,
  host,
  staticDir,
  ...(turn ? { turn } : {}),
  // Several instances share rooms over this Redis (cluster/); unset: one instance alone.
  ...cluster,
});

server.ready.then(
  () => console.log(`Spare Cycles is running at ${server.address().url}/ (signaling on /signal)`),
  (err: Error) => {
    console.error(`could not listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  },
);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log("shutting down…");
    void server.close().then(() => process.exit(0));
  });
}
