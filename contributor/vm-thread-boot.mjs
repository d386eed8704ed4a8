// A worker thread's first module: Node 20 does not give worker threads the
// TypeScript loader of the main thread, so this registers it and then loads
// the VM thread itself (vm-thread.ts).
import { register } from "tsx/esm/api";

register();
await import("./vm-thread.ts");
