#!/usr/bin/env node
// `npx spare-cycles-contribute --server URL ...` from a checkout: loads the
// TypeScript sources through tsx (as `npm start` does) and runs the headless
// contributor (contributor/main.ts).
//
// The main thread goes to nice 19 before tsx loads: tsx compiles through an
// esbuild service, a child process it starts from this thread before any of
// the contributor's code runs, and a child takes the nice of the thread that
// starts it (left at 0, it compiled at full priority beside the machine's own
// work). contributor/nice-first.ts then sets the rest of this process's threads.
import { setPriority } from "node:os";
import { register } from "tsx/esm/api";

try {
  setPriority(0, 19);
} catch {
  // not permitted here: nice-first.ts reports what every thread has
}
register();
await import("../contributor/main.ts");
