// Imported first by main.ts, so it runs before any other module of the
// contributor loads: every thread that exists now goes to nice 19, and the
// threads started later inherit it from the thread that starts them.
import { niceEveryThread } from "./nice.ts";

niceEveryThread();
