import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { svelteTesting } from "@testing-library/svelte/vite";

// The desktop shell embeds ui/dist (see src-tauri/tauri.conf.json: build.frontendDist).
// `npm run dev` is only for working on the UI in a browser; it never talks to Tauri.
export default defineConfig({
  plugins: [svelte(), svelteTesting()],
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
    setupFiles: ["./vitest-setup.ts"],
    // A limit, not a measurement: the Log screen's 2,000-line test took 5.03 s on a CI machine
    // whose two cores were busy, past vitest's 5 s default.
    testTimeout: 30_000,
  },
});
