/**
 * Running the API server: keys and certificates from the configuration (or, in standalone,
 * made once and kept in UPDRAFT_HOME), the listener, and the optional HTTP → HTTPS redirect.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { Config, ConfigKey, ConfigSource } from "../config/index.js";
import { UpdraftError } from "../errors/index.js";
import { createKeyring, generateKey, parseKeyring, type Keyring } from "../security/secrets.js";
import { generateSigningKey, parseSigningKey } from "../security/tokens.js";
import type { Store } from "../store/connect.js";
import { ensureBuiltinRoles } from "../store/users.js";
import type { Logger } from "../util/logger.js";
import { describePortHolder, findPortHolder } from "../util/port-holder.js";
import { checkKeyring } from "../store/secrets.js";
import { buildApi, type Api } from "./server.js";

/** Reads a key file of UPDRAFT_HOME, making it (readable by its owner only) if it is missing. */
export function homeSecret(home: string, name: string, make: () => string): string {
  const file = join(home, name);
  if (!existsSync(file)) {
    mkdirSync(home, { recursive: true });
    writeFileSync(file, `${make()}\n`, { mode: 0o600, flag: "wx" });
  }
  chmodSync(file, 0o600);
  return readFileSync(file, "utf8").trim();
}

export interface ApiKeys {
  signingKey: Uint8Array;
  keyring: Keyring;
}

/**
 * The signing key and the secrets keyring. `standalone` may make them in UPDRAFT_HOME; any other
 * server refuses to start without them.
 */
export function loadKeys(config: Config, options: { standalone: boolean }): ApiKeys {
  const jwt = config.jwtSecret ?? (options.standalone ? homeSecret(config.home, "jwt_secret", generateSigningKey) : null);
  const secret = config.secretKey ?? (options.standalone ? homeSecret(config.home, "secret_key", () => `k1:${generateKey()}`) : null);
  if (!secret) {
    throw new UpdraftError("UPDRAFT_E_SECRET_KEY", "UPDRAFT_SECRET_KEY is not set: the API server needs it to encrypt and read secrets at rest", {
      hint: 'set it to "k1:$(openssl rand -base64 32)" (standalone makes one in UPDRAFT_HOME)',
    });
  }
  return { signingKey: parseSigningKey(jwt), keyring: createKeyring(parseKeyring(secret)) };
}

export interface RunningApi {
  app: Api;
  url: string;
  close(): Promise<void>;
}

export async function startApi(options: { store: Store; config: Config; log: Logger; keys: ApiKeys; port?: number; configSources?: Record<ConfigKey, ConfigSource> }): Promise<RunningApi> {
  const { store, config, log, keys } = options;
  await checkKeyring(store.db, keys.keyring);
  await ensureBuiltinRoles(store.db);
  const tls = config.tlsCert || config.tlsKey ? readTls(config) : undefined;
  const app = await buildApi({
    store,
    config,
    log,
    keyring: keys.keyring,
    ...(options.configSources ? { configSources: options.configSources } : {}),
    auth: { signingKey: keys.signingKey, accessTtlMs: config.accessTokenTtlMs, refreshTtlMs: config.refreshTokenTtlMs },
    ...(tls ? { https: tls } : {}),
  });
  const port = options.port ?? config.port;
  try {
    await app.listen({ host: config.host, port });
  } catch (error) {
    await app.close().catch(() => undefined);
    throw listenError(error, config.host, port, `--port ${port < 65535 ? port + 1 : port - 1} (or UPDRAFT_PORT)`);
  }
  const address = app.server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  const scheme = tls ? "https" : "http";
  const url = `${scheme}://${config.host === "0.0.0.0" ? "localhost" : config.host}:${bound}`;
  let redirect: Server | null = null;
  if (tls && config.httpsRedirectPort) {
    redirect = createServer((req, res) => {
      const host = (req.headers.host ?? "localhost").replace(/:\d+$/, "");
      res.writeHead(301, { location: `https://${host}:${bound}${req.url ?? "/"}` }).end();
    });
    const redirectPort = config.httpsRedirectPort;
    await new Promise<void>((resolve, reject) => {
      redirect!.once("error", reject);
      redirect!.listen(redirectPort, config.host, () => {
        redirect!.off("error", reject);
        resolve();
      });
    }).catch(async (error: unknown) => {
      await app.close().catch(() => undefined);
      throw listenError(error, config.host, redirectPort, "another UPDRAFT_HTTPS_REDIRECT_PORT");
    });
  }
  log.info({ url }, "API server listening");
  return {
    app,
    url,
    async close() {
      redirect?.close();
      await app.close();
    },
  };
}

/**
 * A port already in use becomes UPDRAFT_E_PORT_IN_USE naming the process that holds it, when it
 * can be found, and the setting to change; any other error is left as it is.
 */
function listenError(error: unknown, host: string, port: number, otherPort: string): unknown {
  if ((error as { code?: unknown } | null)?.code !== "EADDRINUSE") return error;
  const holder = describePortHolder(findPortHolder(port));
  return new UpdraftError("UPDRAFT_E_PORT_IN_USE", `port ${port} on ${host} is already in use${holder ? ` (by ${holder})` : ""}`, {
    hint: `stop ${holder ? "that process" : "the process that listens on it"}, or choose another port: ${otherPort}`,
    cause: error,
  });
}

function readTls(config: Config): { key: Buffer; cert: Buffer } {
  if (!config.tlsCert || !config.tlsKey) {
    throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", "HTTPS needs both UPDRAFT_TLS_CERT and UPDRAFT_TLS_KEY", { hint: "set both to PEM files, or neither" });
  }
  try {
    return { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) };
  } catch (error) {
    throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", `cannot read the TLS certificate or key: ${(error as Error).message}`);
  }
}
