/**
 * The web UI: the single-page app built into dist/ui, served at `/` by every API server. Files are
 * served as they are; the app's pages (/login, /dags…, /browse…, /admin…) answer index.html (the app routes itself).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";

/** Where the built UI is: next to the built server (dist/ui), or dist/ui when running from src/. */
export function uiRoot(): string | null {
  for (const candidate of ["../ui", "../../dist/ui"]) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(join(dir, "index.html"))) return dir;
  }
  return null;
}

/**
 * The page may load only its own scripts, styles, images and sockets: nothing from a DAG, a
 * param or a log line can run as script even if it ended up in the page.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // React and the graph library set style attributes; stylesheets still come from 'self' only.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The paths the app routes itself (see ui/src/App.tsx). */
const UI_PAGES = /^\/(login|dags|browse|admin)(\/|\?|$)/;

function securityHeaders(reply: FastifyReply): void {
  void reply.header("content-security-policy", UI_CSP);
  void reply.header("x-frame-options", "DENY");
  void reply.header("referrer-policy", "no-referrer");
}

export async function registerUi(app: FastifyInstance, root: string | null): Promise<void> {
  if (root === null) {
    app.get("/", { config: { access: "public" }, schema: { hide: true } }, async (_request, reply) =>
      reply.code(503).type("text/plain; charset=utf-8").send("The web UI is not built: run `npm run build`. The API is at /api/v1 (docs: /api/v1/docs).\n"),
    );
    return;
  }
  const index = readFileSync(join(root, "index.html"));
  await app.register(fastifyStatic, {
    root,
    prefix: "/",
    wildcard: false,
    index: false,
    serve: true,
    cacheControl: false,
    setHeaders: (res, path) => {
      // Vite names assets by content hash: they never change under a name.
      res.setHeader("cache-control", path.includes(`${join(root, "assets")}`) ? "public, max-age=31536000, immutable" : "no-cache");
      res.setHeader("content-security-policy", UI_CSP);
    },
  });
  const sendIndex = (reply: FastifyReply) => {
    securityHeaders(reply);
    return reply.type("text/html; charset=utf-8").header("cache-control", "no-cache").send(index);
  };
  app.get("/", { config: { access: "public" }, schema: { hide: true } }, async (_request, reply) => sendIndex(reply));
  // The app's own pages load its index; any other path is not found (an API error, as for /api).
  app.get("/*", { config: { access: "public" }, schema: { hide: true } }, async (request, reply) => {
    if (!UI_PAGES.test(request.url)) return reply.callNotFound();
    return sendIndex(reply);
  });
}
