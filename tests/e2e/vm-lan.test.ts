// The owner's private network in Chromium: two contributors each run one of
// the owner's VMs; from the shell of one, the other answers `ping` and serves
// its page to `wget` at its virtual address (and by its name), with the packets crossing the
// mesh between the two contributors' browsers.
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { virtualAddressOf } from "../../core/guest/virtual-address.ts";
import { type App, Shell, startApp } from "./harness.ts";
import { contribute, createVm, openInRoom, waitForContributors } from "./remote-steps.ts";

let app: App;
const ROOM = "e2e-lan";

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  await app?.close();
});

const open = (context: BrowserContext, page: string): Promise<Page> =>
  openInRoom(context, app.url, ROOM, page);

/** A contributor with one VM slot, so the owner's two VMs run on two machines. */
async function oneSlotContributor(context: BrowserContext): Promise<Page> {
  const page = await open(context, "contribute");
  // Contributing first: the page has loaded its settings by then, so they cannot overwrite the new limit.
  await contribute(page);
  await page.getByLabel("VM slots").fill("1");
  await page.getByLabel("VM slots").press("Enter");
  // The limit is saved and offered before any VM is placed.
  await page.locator("#contribute-status", { hasText: "of up to 1 VMs" }).waitFor();
  return page;
}

const rows = (owner: Page) => owner.locator("#my-vms-list tr");

async function shellOf(page: Page, name: string): Promise<Shell> {
  // The list is drawn again as its VMs' meters tick: click the button as it is now.
  await page.getByRole("button", { name: `Open shell ${name}` }).dispatchEvent("click");
  const shell = new Shell(page, "#remote-shell", "Remote VM shell");
  await shell.waitForText("root@spare:~#", 60_000);
  return shell;
}

describe("the owner's private network", () => {
  it("lets two of the owner's VMs on different contributors ping and fetch each other by address", async () => {
    const [ownerCtx, aCtx, bCtx] = [
      await app.browser.newContext(),
      await app.browser.newContext(),
      await app.browser.newContext(),
    ];
    await oneSlotContributor(aCtx);
    await oneSlotContributor(bCtx);
    const owner = await open(ownerCtx, "vms");
    await waitForContributors(owner, 2);
    await createVm(owner, "one", 90_000);
    await owner.getByLabel("VM name").fill("two");
    await owner.getByRole("button", { name: "Create VM" }).click();
    await owner.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLElement>("#my-vms-list tr")].filter(
          (r) => r.dataset.state === "running",
        ).length === 2,
      null,
      { timeout: 90_000 },
    );
    const vms = await rows(owner).evaluateAll((trs) =>
      trs.map((tr) => ({
        name: tr.querySelector("th")?.textContent ?? "",
        vmId: (tr as HTMLElement).dataset.vmId!,
        host: (tr as HTMLElement).dataset.host!,
      })),
    );
    const two = vms.find((v) => v.name.includes("two"))!;
    const one = vms.find((v) => v.name.includes("one"))!;
    expect(one.host).not.toBe(two.host);
    const address = virtualAddressOf(two.vmId);

    // The second VM serves a page, from its shell in a second tab of the owner.
    const ownerTab2 = await open(ownerCtx, "vms");
    const shellTwo = await shellOf(ownerTab2, "two");
    await shellTwo.run("mkdir -p /www && echo lan-page-$((6*7)) > /www/index.html && httpd -p 80 -h /www");

    const shellOne = await shellOf(owner, "one");
    await shellOne.run(`ping -c 1 -W 5 ${address} && echo ping-ok`, 30_000);
    expect(await shellOne.text()).toContain("ping-ok");
    await shellOne.run(`wget -q -O - http://${address}/`, 30_000);
    expect(await shellOne.text()).toContain("lan-page-42");
    // And by its name: the host answers the guest's DNS question for "two".
    await shellOne.run("clear; wget -q -O - http://two/", 30_000);
    expect(await shellOne.text()).toContain("lan-page-42");

    for (const c of [ownerCtx, aCtx, bCtx]) await c.close();
  });
});
