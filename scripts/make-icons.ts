// Renders public/icons/icon.svg into the PNG icons the web manifest lists, with
// Debian's Chromium (the same browser the tests use). The PNGs are committed;
// run this again only when the SVG changes: npx tsx scripts/make-icons.ts
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { chromiumLaunchOptions } from "../tests/e2e/browser.ts";

const svg = readFileSync("public/icons/icon.svg", "utf8");
const browser = await chromium.launch(chromiumLaunchOptions());
const page = await browser.newPage({ deviceScaleFactor: 1 });
const outputs = [
  { file: "icon-192.png", size: 192, safeZone: 1 },
  { file: "icon-512.png", size: 512, safeZone: 1 },
  // Maskable icons may be cropped to a circle of 80% diameter: keep the art inside it.
  { file: "maskable-512.png", size: 512, safeZone: 0.72 },
];
for (const { file, size, safeZone } of outputs) {
  await page.setViewportSize({ width: size, height: size });
  const inner = Math.round(size * safeZone);
  await page.setContent(
    `<body style="margin:0;background:#0f1419;display:grid;place-items:center;width:${size}px;height:${size}px">
       <img style="width:${inner}px;height:${inner}px" src="data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}">
     </body>`,
  );
  await page.screenshot({ path: `public/icons/${file}`, omitBackground: false });
  console.log(`public/icons/${file}`);
}
await browser.close();
