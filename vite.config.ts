import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";
import { VitePWA } from "vite-plugin-pwa";

export const appName = "Spare Cycles";
const CROSS_ORIGIN_ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};
const { version } = JSON.parse(readFileSync(new URL("package.json", import.meta.url), "utf8"));

/**
 * v86's libv86.mjs names Node built-ins (crypto, fs, fs/promises, perf_hooks) for
 * when it runs in Node, and reaches them only behind checks for Node (`typeof
 * require`, `process.versions.node`); in a browser or worker it uses WebCrypto,
 * fetch and `performance`. Vite would stub them out with a warning each; this says
 * so on purpose: for libv86.mjs alone they resolve to an empty module (what Vite's
 * stub holds in a build). A Node built-in wanted anywhere else still gets Vite's
 * warning.
 */
function v86NodeBuiltins(): Plugin {
  const builtins = /^(node:)?(crypto|fs|fs\/promises|perf_hooks)$/;
  const empty = "\0v86-unused-node-builtin";
  return {
    name: "spare-cycles:v86-node-builtins",
    enforce: "pre",
    resolveId(source, importer) {
      if (builtins.test(source) && importer?.replaceAll("\\", "/").includes("/node_modules/v86/"))
        return empty;
      return null;
    },
    load(id) {
      return id === empty ? "export default {};" : null;
    },
  };
}

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
  // v86 runs in the VM host worker. A build bundles workers with these plugins only;
  // the dev server pre-bundles v86 with optimizeDeps' and serves workers with the main ones.
  worker: { format: "es", plugins: () => [v86NodeBuiltins()] },
  optimizeDeps: { rolldownOptions: { plugins: [v86NodeBuiltins()] } },
  define: { __APP_VERSION__: JSON.stringify(version) },
  // Cross-origin isolated like the real server (signaling-server/static-files.ts): the local
  // shell shares memory with its VM worker.
  server: { port: 5173, headers: CROSS_ORIGIN_ISOLATION },
  preview: { headers: CROSS_ORIGIN_ISOLATION },
  plugins: [
    v86NodeBuiltins(),
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
      // Our own service worker (worker/sw.ts): workbox's precache, routes and caches, and the
      // web gateway for /vm/ addresses, which generated code cannot hold.
      strategies: "injectManifest",
      srcDir: "../worker",
      filename: "sw.ts",
      injectManifest: {
        // The app shell only; the guest (tens of MB) is cached when first used.
        globPatterns: ["**/*.{js,css,html,svg,png,webmanifest}"],
        globIgnores: ["guest/**", "bench.html", "assets/bench-*.js"],
        rollupFormat: "es",
      },
    }),
  ],
});
