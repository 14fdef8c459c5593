import { defineConfig } from "vite";

// The build goes straight into the Go package that embeds it
// (server/internal/webui/dist), so `go build` never needs Node.
export default defineConfig({
  base: "/",
  build: {
    outDir: "../internal/webui/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    // No inline scripts: the Content-Security-Policy forbids them.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: "es2022",
    reportCompressedSize: false,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:7080" },
  },
});
