/** `updraft standalone` and `updraft api-server` on a port already in use. */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/connect.js";
import { createCliEnv, type CliEnv, CLI_TEST_TIMEOUT_MS } from "./cli.js";

let env: CliEnv | undefined;
let server: Server | undefined;
afterEach(async () => {
  env?.cleanup();
  env = undefined;
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe("a server on a port in use", { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("exits 2 with UPDRAFT_E_PORT_IN_USE, the process that holds the port and --port, not a stack trace", async () => {
    // This test process holds the port.
    server = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(0, "127.0.0.1", () => resolve((server!.address() as { port: number }).port));
    });
    env = createCliEnv();
    const secrets = { UPDRAFT_JWT_SECRET: randomBytes(32).toString("base64"), UPDRAFT_SECRET_KEY: `k1:${randomBytes(32).toString("base64")}` };
    const [standalone, apiServer] = await Promise.all([
      env.run(["standalone", "--port", String(port)]),
      env.run(["--home", `${env.home}-api`, "api-server", "--port", String(port)], { env: secrets }),
    ]);
    for (const [name, res] of Object.entries({ standalone, apiServer })) {
      expect(res.code, `${name}: ${res.stderr}`).toBe(2);
      expect(res.stderr, name).toContain(`error [UPDRAFT_E_PORT_IN_USE]: port ${port} on 127.0.0.1 is already in use (by pid ${process.pid}: `);
      expect(res.stderr, name).toContain(`hint: stop that process, or choose another port: --port ${port + 1} (or UPDRAFT_PORT)`);
      expect(res.stderr, name).not.toContain("EADDRINUSE");
      expect(res.stderr, name).not.toMatch(/^\s+at /m);
    }
    // standalone made no admin account for a start that did not happen (the next start, that
    // serves, makes it and prints its password).
    const store = await openStore({ url: `sqlite://${join(env.home, "updraft.db")}` });
    try {
      expect(await store.db.selectFrom("app_user").select("username").execute()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
