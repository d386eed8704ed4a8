import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import { VitePWA } from "vite-plugin-pwa";

export const appName = "Spare Cycles";
const { version } = JSON.parse(readFileSync(new URL("package.json", import.meta.url), "utf8"));

export default defineConfig({
  root: "web",
  publicDir: "../public",
  base: "./",
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: {
        app: fileURLToPath(new URL("web/index.html", import.meta.url)),
        // Used by `npm run bench` only; never precached.
        bench: fileURLToPath(new URL("web/bench.html", import.meta.url)),
      },
    },
  },
  worker: { format: "es" },
  define: { __APP_VERSION__: JSON.stringify(version) },
  server: { port: 5173 },
  plugins: [
    VitePWA({
      registerType: "prompt",
      injectRegister: false,
      manifestFilename: "manifest.webmanifest",
      includeAssets: ["icons/*.svg", "icons/*.png"],
      manifest: {
        name: appName,
        short_name: "Spare Cycles",
        description: "Lend your idle CPU; own Linux VMs that other people's tabs run for you.",
        id: "./",
        start_url: "./",
        scope: "./",
        display: "standalone",
        background_color: "#0f1419",
        theme_color: "#0f1419",
        icons: [
          { src: "icons/icon-192.png", sizes: "192x192", type: "image/png", purpose: "any" },
          { src: "icons/icon-512.png", sizes: "512x512", type: "image/png", purpose: "any" },
          { src: "icons/maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
        ],
      },
      workbox: {
        // The app shell only; the guest (tens of MB) is cached when first used.
        globPatterns: ["**/*.{js,css,html,svg,png,webmanifest}"],
        globIgnores: ["guest/**", "bench.html", "assets/bench-*.js"],
        navigateFallback: "index.html",
        // The first install takes control of the open page at once, so the guest files
        // it fetches are cached; later versions wait for the user (registerType: prompt).
        clientsClaim: true,
        navigateFallbackDenylist: [/^\/(healthz|metrics|signal)/],
        cleanupOutdatedCaches: true,
        runtimeCaching: [
          {
            urlPattern: ({ url }) => url.pathname.includes("/guest/") || url.pathname.endsWith(".wasm"),
            handler: "CacheFirst",
            options: {
              cacheName: "spare-cycles-guest",
              expiration: { maxEntries: 32 },
              cacheableResponse: { statuses: [200] },
            },
          },
        ],
      },
    }),
  ],
});
