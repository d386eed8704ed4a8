// Shared e2e plumbing: the real server on a random loopback port serving the
// built app, Debian's Chromium, and a driver for the VM shell in a page.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { markCommand } from "../../core/guest/guest-console.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import type { TurnSettings } from "../../signaling-server/turn-credentials.ts";
import { chromiumLaunchOptions } from "./browser.ts";

export const distDir = fileURLToPath(new URL("../../dist", import.meta.url));

export interface App {
  server: SignalingServer;
  url: string;
  browser: Browser;
  close(): Promise<void>;
}

/**
 * The real Compute Pressure API reports this (busy, shared) machine's CPU, and
 * DevTools' override does not reach it here; pages get a stand-in that says
 * "nominal" until a test calls window.__setPressure(state).
 */
export const PRESSURE_STAND_IN = `(() => {
  const observers = new Set();
  let state = "nominal";
  const record = () => [{ source: "cpu", state, time: performance.now() }];
  class PressureObserver {
    constructor(callback) { this.callback = callback; }
    async observe() { observers.add(this); this.callback(record(), this); }
    disconnect() { observers.delete(this); }
    static get knownSources() { return ["cpu"]; }
  }
  Object.defineProperty(window, "PressureObserver", { value: PressureObserver, configurable: true });
  window.__setPressure = (next) => { state = next; for (const o of observers) o.callback(record(), o); };
})();`;

export async function startApp(
  options: { staticDir?: string; gatewayRoom?: string; turn?: TurnSettings; redisUrl?: string } = {},
): Promise<App> {
  const staticDir = options.staticDir ?? distDir;
  if (!existsSync(`${staticDir}/index.html`)) throw new Error(`${staticDir} has no build: run npm run build`);
  const server = createSignalingServer({
    port: 0,
    staticDir,
    ...(options.gatewayRoom && { gatewayRoom: options.gatewayRoom }),
    ...(options.turn && { turn: options.turn }),
    ...(options.redisUrl && { redisUrl: options.redisUrl, clusterLog: () => undefined }),
  });
  await server.ready;
  const browser = await chromium.launch(chromiumLaunchOptions());
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => {
    const context = await newContext(...args);
    await context.addInitScript(PRESSURE_STAND_IN);
    return context;
  };
  return {
    server,
    url: `${server.address().url}/`,
    browser,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

let nonce = 1;

/** Drives the "VM shell" terminal of a page the way a person would: by typing. */
export class Shell {
  constructor(
    private readonly page: Page,
    private readonly scope = "#local-vm",
    private readonly region = "VM shell",
  ) {}

  /** The text the terminal shows now. */
  text(): Promise<string> {
    return this.page
      .locator(`${this.scope} .xterm-rows`)
      .evaluate((el) => (el.textContent ?? "").replaceAll("\u00a0", " "));
  }

  async waitForText(needle: string, timeoutMs = 30_000): Promise<void> {
    await this.page.waitForFunction(
      ({ selector, needle }) =>
        (document.querySelector(selector)?.textContent ?? "").replaceAll("\u00a0", " ").includes(needle),
      { selector: `${this.scope} .xterm-rows`, needle },
      { timeout: timeoutMs, polling: 50 },
    );
  }

  async type(line: string): Promise<void> {
    await this.page.getByRole("region", { name: this.region, exact: true }).click();
    await this.page.keyboard.type(line, { delay: 5 });
    await this.page.keyboard.press("Enter");
  }

  /** Types a command and waits until the shell has run it. */
  async run(command: string, timeoutMs = 30_000): Promise<void> {
    const marked = markCommand(command, nonce++);
    await this.type(marked.line.replace(/\r$/, ""));
    await this.waitForText(marked.done, timeoutMs);
  }
}

export async function waitForVmState(page: Page, state: string, timeoutMs = 60_000): Promise<void> {
  await page.locator(`#local-vm[data-state="${state}"]`).waitFor({ timeout: timeoutMs });
}

/** Waits until the VM on this device runs again from its saved state (after a reload). */
export async function waitForResumed(page: Page): Promise<void> {
  await waitForVmState(page, "running");
  await page
    .getByRole("status")
    .filter({ hasText: /Resumed/ })
    .waitFor();
}

/** Waits until the VM on this device has been saved, with nothing left unsaved. */
export async function waitForSaved(page: Page): Promise<void> {
  await page.locator('#vm-save-state[data-saved="true"]').waitFor({ timeout: 30_000 });
}
