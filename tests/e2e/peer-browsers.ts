// One Chromium process per peer, as on separate machines: each can be killed
// outright (SIGKILL: no unload, no goodbye on any link), which one browser with
// several contexts cannot show.
import { type Browser, type BrowserContext, type BrowserServer, chromium } from "playwright-core";
import { chromiumLaunchOptions } from "./browser.ts";
import { PRESSURE_STAND_IN } from "./harness.ts";

export interface PeerBrowser {
  browser: Browser;
  context: BrowserContext;
  /** The browser's own process id. */
  pid: number;
  /** Kills the browser's process at once, as a crash would. */
  kill(): void;
  close(): Promise<void>;
}

export async function launchPeerBrowser(initScripts: string[] = []): Promise<PeerBrowser> {
  const server: BrowserServer = await chromium.launchServer(chromiumLaunchOptions());
  const browser = await chromium.connect(server.wsEndpoint());
  const context = await browser.newContext();
  await context.addInitScript(PRESSURE_STAND_IN);
  for (const script of initScripts) await context.addInitScript(script);
  const child = server.process();
  let killed = false;
  return {
    browser,
    context,
    pid: child.pid ?? -1,
    kill() {
      killed = true;
      // The whole process group (Playwright starts the browser as its leader): renderers too.
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    },
    async close() {
      if (!killed) await browser.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}
