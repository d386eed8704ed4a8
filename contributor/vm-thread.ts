// Inside one worker thread: the same VM host the page runs in a Web Worker
// (worker/vm-host.ts), driven over comlink through Node's message port.
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";
import { VmHost } from "../worker/vm-host.ts";
import { niceEveryThread } from "./nice.ts";

// This thread and any it started were made by a thread at nice 19 and inherit it; set again in case.
niceEveryThread();
if (!parentPort) throw new Error("vm-thread.ts runs only as a worker thread");
Comlink.expose(new VmHost(), nodeEndpoint(parentPort));
