// What every benchmark section shares: the built app served by the real server,
// and one Debian Chromium whose processes can be found in /proc.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { chromiumLaunchOptions } from "../../tests/e2e/browser.ts";
import { PRESSURE_STAND_IN } from "../../tests/e2e/harness.ts";

export const root = fileURLToPath(new URL("../..", import.meta.url));

export interface BenchContext {
  server: SignalingServer;
  url: string;
  browser: Browser;
  /** A command-line switch only this browser's processes carry. */
  browserMarker: string;
  /**
   * A fresh page (own context) on `path` of the app, under nominal CPU pressure:
   * the machine's load (the bench's own browsers among it) would otherwise make
   * contributors back off, down to pausing their VMs, and the section would
   * time the back-off, not what it measures. The `nice` section drives pressure
   * itself.
   */
  newPage(path?: string): Promise<Page>;
  close(): Promise<void>;
}

export async function createBenchContext(): Promise<BenchContext> {
  const server = createSignalingServer({ port: 0, staticDir: `${root}/dist` });
  await server.ready;
  const browserMarker = `--spare-bench=${randomUUID()}`;
  const browser = await chromium.launch(chromiumLaunchOptions([browserMarker]));
  const url = `${server.address().url}/`;
  return {
    server,
    url,
    browser,
    browserMarker,
    async newPage(path = "") {
      const context = await browser.newContext();
      await context.addInitScript(PRESSURE_STAND_IN);
      const page = await context.newPage();
      await page.goto(url + path);
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const round = (n: number, digits = 0) => Number(n.toFixed(digits));

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Calls `globalThis[api][method](...args)` in the page (the bench page's test APIs). */
export function callPage<T>(page: Page, api: string, method: string, args: unknown[]): Promise<T> {
  return page.evaluate(
    ([a, m, x]) => {
      const target = (globalThis as unknown as Record<string, Record<string, (...y: unknown[]) => unknown>>)[
        a
      ]!;
      return target[m]!(...x);
    },
    [api, method, args] as const,
  ) as Promise<T>;
}
