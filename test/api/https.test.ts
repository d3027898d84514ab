/**
 * HTTPS: a self-signed certificate made in the test with openssl, the API started with startApi
 * on it: HSTS on every answer, the HTTP → HTTPS redirect, and no data over plain HTTP on the TLS
 * port. Without openssl the test skips (and fails under UPDRAFT_REQUIRE_SERVICES=1, as CI runs).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startApi, type RunningApi } from "../../src/api/start.js";
import { createKeyring, generateKey, parseKeyring } from "../../src/security/secrets.js";
import { generateSigningKey, parseSigningKey } from "../../src/security/tokens.js";
import { silentLogger } from "../../src/util/logger.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { REQUIRE_SERVICES } from "../helpers/services.js";

const OPENSSL = spawnSync("openssl", ["version"], { encoding: "utf8" });
const HAVE_OPENSSL = OPENSSL.status === 0;
if (!HAVE_OPENSSL) {
  const reason = `openssl is not available (${OPENSSL.error?.message ?? OPENSSL.stderr})`;
  if (REQUIRE_SERVICES) throw new Error(`${reason} (UPDRAFT_REQUIRE_SERVICES=1)`);
  console.warn(`skipping the HTTPS test: ${reason}`);
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request, no keep-alive (so closing the servers is not held up by idle sockets). */
function request(module: typeof http | typeof https, options: https.RequestOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = module.request({ agent: false, timeout: 10_000, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let env: TestEnv | undefined;
let running: RunningApi | undefined;
let certDir: string | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  await env?.cleanup();
  env = undefined;
  if (certDir) rmSync(certDir, { recursive: true, force: true });
  certDir = undefined;
});

describe.skipIf(!HAVE_OPENSSL)("HTTPS", () => {
  it("serves the API over TLS with HSTS, redirects plain HTTP, and gives no data over HTTP on the TLS port", async () => {
    certDir = mkdtempSync(join(tmpdir(), "updraft-tls-"));
    const keyFile = join(certDir, "key.pem");
    const certFile = join(certDir, "cert.pem");
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", keyFile, "-out", certFile], { encoding: "utf8" });
    expect(made.status, made.stderr).toBe(0);
    const ca = readFileSync(certFile);

    const redirectPort = await freePort();
    env = await createTestEnv({ config: { host: "127.0.0.1", tlsCert: certFile, tlsKey: keyFile, httpsRedirectPort: redirectPort } });
    running = await startApi({
      store: env.store,
      config: env.config,
      log: silentLogger(),
      keys: { signingKey: parseSigningKey(generateSigningKey()), keyring: createKeyring(parseKeyring(`k1:${generateKey()}`)) },
      port: 0,
    });
    expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(running.url).port);
    expect(port).toBeGreaterThan(0);

    // HTTPS, trusting the test's certificate (and checking it is the one served, for "localhost").
    const health = await request(https, { host: "127.0.0.1", servername: "localhost", port, path: "/api/v1/health", ca });
    expect(health.status, health.body).toBe(200);
    expect(health.headers["strict-transport-security"]).toMatch(/max-age=\d{6,}/);
    expect(JSON.parse(health.body)).toMatchObject({ metadatabase: { status: "healthy" } });
    // HSTS on errors as well.
    const denied = await request(https, { host: "127.0.0.1", servername: "localhost", port, path: "/api/v1/dags", ca });
    expect(denied.status).toBe(401);
    expect(denied.headers["strict-transport-security"]).toMatch(/max-age=\d{6,}/);

    // A client that does not trust the certificate refuses the connection.
    await expect(request(https, { host: "127.0.0.1", servername: "localhost", port, path: "/api/v1/health" })).rejects.toThrow(/self[- ]signed|certificate/i);

    // Plain HTTP on the redirect port: 301 to the same path over HTTPS.
    const redirect = await request(http, { host: "127.0.0.1", port: redirectPort, path: "/api/v1/health?x=1" });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://127.0.0.1:${port}/api/v1/health?x=1`);
    expect(redirect.body).not.toContain("metadatabase");
    const target = new URL(redirect.headers.location!);
    const followed = await request(https, { host: target.hostname, servername: "localhost", port: Number(target.port), path: `${target.pathname}${target.search}`, ca });
    expect(followed.status).toBe(200);

    // Plain HTTP on the TLS port: no JSON data (the connection fails, or an error that is not the API's answer).
    let plain: Answer | Error;
    try {
      plain = await request(http, { host: "127.0.0.1", port, path: "/api/v1/health" });
    } catch (error) {
      plain = error as Error;
    }
    if (!(plain instanceof Error)) {
      expect(plain.status).not.toBe(200);
      expect(plain.body).not.toContain("metadatabase");
    }
  });
});
