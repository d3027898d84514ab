import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

// The UI is built into dist/ui, which the API server serves at "/". `npm run ui:dev` serves it
// with hot reload and sends /api (REST and WebSocket) to a running `updraft standalone`.
export default defineConfig({
  root,
  base: "/",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../dist/ui", import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: { "/api": { target: process.env.UPDRAFT_URL ?? "http://127.0.0.1:8080", ws: true } },
  },
});
