// The dashboard is built into the admin function's package: every file flat under one
// folder (the function serves /admin/ui/{file}), relative URLs (a stage prefix works), no
// inline script or style (the Content-Security-Policy allows only 'self').
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  build: {
    outDir: "../functions/admin/chalicelib/ui",
    emptyOutDir: true,
    assetsDir: "",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});
