// `npm run bench`: every benchmark in one run on this machine (so ratios compare
// like with like), progress on stderr, and one JSON object as the last line.
// BENCH_ONLY=foundation,echo,... runs a subset.
import { createBenchContext, log } from "./bench/context.ts";
import { datachannelBench } from "./bench/datachannel.ts";
import { echoBench } from "./bench/echo.ts";
import { filesBench } from "./bench/files.ts";
import { firstVisitBench } from "./bench/first-visit.ts";
import { foundationBench } from "./bench/foundation.ts";
import { guestDebianBench } from "./bench/guest-debian.ts";
import { ledgerBench } from "./bench/ledger.ts";
import { niceBench } from "./bench/nice.ts";
import { osNiceBench } from "./bench/os-nice.ts";
import { remoteBench } from "./bench/remote.ts";
import { scaleOutBench } from "./bench/scale-out.ts";
import { signalingBench } from "./bench/signaling.ts";
import { stateSyncBench } from "./bench/state-sync.ts";
import { turnBench } from "./bench/turn.ts";
import { webHostingBench } from "./bench/web-hosting.ts";

const sections: Record<
  string,
  (ctx: Awaited<ReturnType<typeof createBenchContext>>) => Promise<Record<string, unknown>>
> = {
  foundation: foundationBench,
  datachannel: datachannelBench,
  signaling: signalingBench,
  remote: remoteBench,
  state: stateSyncBench,
  echo: echoBench,
  ledger: ledgerBench,
  nice: niceBench,
  os_nice: osNiceBench,
  web_hosting: webHostingBench,
  first_visit: firstVisitBench,
  files: filesBench,
  turn: turnBench,
  scale_out: scaleOutBench,
  guest_debian: guestDebianBench,
};

const only = process.env.BENCH_ONLY?.split(",").filter(Boolean);
const results: Record<string, unknown> = {};
const ctx = await createBenchContext();
try {
  for (const [name, run] of Object.entries(sections)) {
    if (only && !only.includes(name)) continue;
    log(`== ${name}`);
    Object.assign(results, await run(ctx));
  }
} finally {
  await ctx.close();
}
console.log(JSON.stringify(results));
process.exit(0);
