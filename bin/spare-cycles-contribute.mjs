#!/usr/bin/env node
// `npx spare-cycles-contribute --server URL ...` from a checkout: loads the
// TypeScript sources through tsx (as `npm start` does) and runs the headless
// contributor (contributor/main.ts).
import { register } from "tsx/esm/api";

register();
await import("../contributor/main.ts");
