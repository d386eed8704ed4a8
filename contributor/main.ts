// The headless contributor's command: `npm run contribute -- --server URL ...`.
// Every thread goes to nice 19 first (the import below runs before any other
// module of the contributor is loaded, so before node-datachannel or a VM
// thread exists). Where Linux groups the CPU by session (autogroup), it starts
// again in a session of its own at nice 19 (session.ts). Then it joins, hosts,
// and on SIGINT/SIGTERM hands its VMs over.
import "./nice-first.ts";
import { errorMessage } from "../core/util/errors.ts";
import { type ContributorOptions, parseCommandLine, USAGE } from "./cli-options.ts";
import { keepNice, LOWEST_PRIORITY, threadIds, threadNice } from "./nice.ts";
import { niceAutogroup, parentGone, runInOwnSession, sessionPlan } from "./session.ts";

/** How long a stop waits for the owners to move the VMs before leaving anyway. */
const HAND_OVER_WAIT_MS = 20_000;
const NICE_CHECK_INTERVAL_MS = 2000;

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);

function describeNice(autogroupNice: number | null): string {
  const tids = threadIds();
  const above = tids?.filter((t) => (threadNice(t) ?? LOWEST_PRIORITY) < LOWEST_PRIORITY).length ?? 0;
  const threads = tids
    ? `all ${tids.length} threads${above ? ` (${above} still above: check permissions)` : ""}`
    : "the process";
  const group = autogroupNice === null ? "" : `, in its own session (autogroup nice ${autogroupNice})`;
  return `running at nice ${LOWEST_PRIORITY} on ${threads}${group}`;
}

/** Hosts until a signal (or the parent going away); returns the exit code. */
async function contribute(options: ContributorOptions, autogroupNice: number | null): Promise<number> {
  log(describeNice(autogroupNice));
  const stopNiceCheck = keepNice(NICE_CHECK_INTERVAL_MS, (n) =>
    log(`set ${n} new thread(s) to nice ${LOWEST_PRIORITY}`),
  );
  const [{ CannotReachServer, startContributor }, { serveGuestFiles }] = await Promise.all([
    import("./contributor.ts"),
    import("./guest-files.ts"),
  ]);
  // A stop asked for while joining ends the join too.
  const stopAsked = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
    void parentGone().then(() => resolve("the parent process went away"));
  });
  const files = await serveGuestFiles();
  let contributor: Awaited<ReturnType<typeof startContributor>>;
  try {
    const started = await Promise.race([startContributor(options, files, log), stopAsked]);
    if (typeof started === "string") {
      log(`${started} before joining: leaving`);
      return 0;
    }
    contributor = started;
  } catch (err) {
    stopNiceCheck();
    await files.close();
    const message = err instanceof CannotReachServer ? err.message : `could not start: ${errorMessage(err)}`;
    process.stderr.write(`spare-cycles-contribute: ${message}\n`);
    return 69;
  }
  const reason = await stopAsked;
  log(`${reason}: handing over and leaving (a second signal leaves at once)`);
  const force = () => {
    log("leaving without waiting");
    process.exit(130);
  };
  process.once("SIGINT", force);
  process.once("SIGTERM", force);
  const { handedOver, left } = await contributor.stop(HAND_OVER_WAIT_MS);
  stopNiceCheck();
  await files.close();
  log(
    `stopped: ${handedOver} VM(s) handed over${left ? `, ${left} not moved in time (their owners restore the last checkpoint)` : ""}`,
  );
  return 0;
}

async function main(): Promise<number> {
  const parsed = parseCommandLine(process.argv.slice(2));
  if (!parsed.ok) {
    if (parsed.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    process.stderr.write(`spare-cycles-contribute: ${parsed.error}\n\n${USAGE}`);
    return 64;
  }
  const plan = sessionPlan();
  if (plan === "start-own") return runInOwnSession();
  return contribute(parsed.options, plan === "own" ? niceAutogroup() : null);
}

main().then(
  (code) => {
    process.exitCode = code;
    // Lingering handles (a data channel closing) must not keep a stopped contributor alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err) => {
    process.stderr.write(`spare-cycles-contribute: ${errorMessage(err)}\n`);
    process.exit(70);
  },
);
