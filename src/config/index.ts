/**
 * Configuration: defaults < $UPDRAFT_HOME/updraft.json < UPDRAFT_* environment variables < CLI
 * flags. Read once into a strict, fully-defaulted `Config`; nothing else reads the environment.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { UpdraftError, errorMessage } from "../errors/index.js";
import { parseDuration, parseSize } from "../util/duration.js";
import { redactUrl } from "../util/redact.js";

export interface Config {
  home: string;
  dagsFolder: string;
  databaseUrl: string;
  sqliteSynchronous: "NORMAL" | "FULL";
  parallelism: number;
  runners: number;
  warmRunners: number;
  runnerMemoryLimitMb: number;
  killGraceMs: number;
  importTimeoutMs: number;
  typeCheck: "off" | "warn" | "error";
  xcomMaxBytes: number;
  dagsArePausedAtCreation: boolean;
  dagRescanIntervalMs: number;
  dagReparseIntervalMs: number;
  schedulerPollIntervalMs: number;
  heartbeatIntervalMs: number;
  zombieThresholdMs: number;
  logLevel: "debug" | "info" | "warn" | "error";
  host: string;
  port: number;
  tlsCert: string | null;
  tlsKey: string | null;
  httpsRedirectPort: number | null;
  jwtSecret: string | null;
  secretKey: string | null;
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
  apiTokenTtlMs: number;
  loginLimitPerIp: number;
  loginLimitPerUser: number;
  requestLimitPerMinute: number;
  bodyLimitBytes: number;
  eventRetentionMs: number;
  trustProxy: boolean | number | string;
  executor: "local" | "redis" | "rabbitmq";
  brokerUrl: string | null;
  brokerPrefix: string;
  apiUrl: string | null;
  queues: string[];
  workerConcurrency: number;
  queuedTimeoutMs: number;
}

export type ConfigKey = keyof Config;
export type ConfigSource = "default" | "file" | "env" | "flag";

interface Option<K extends ConfigKey> {
  key: K;
  env: string;
  description: string;
  default: (partial: Partial<Config>) => Config[K];
  parse: (value: unknown) => Config[K];
  secret?: boolean;
}

const int = (min: number) => (value: unknown): number => {
  const n = typeof value === "number" ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < min) throw new Error(`expected an integer ≥ ${min}`);
  return n;
};
const duration = (value: unknown) => parseDuration(value as string | number);
const bool = (value: unknown): boolean => {
  if (typeof value === "boolean") return value;
  const s = String(value).trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off"].includes(s)) return false;
  throw new Error("expected true or false");
};
const oneOf = <T extends string>(...values: T[]) => (value: unknown): T => {
  const s = String(value).trim();
  const found = values.find((v) => v.toLowerCase() === s.toLowerCase());
  if (!found) throw new Error(`expected one of ${values.join(", ")}`);
  return found;
};
const port = (value: unknown): number => {
  const n = int(0)(value);
  if (n > 65535) throw new Error("expected a port number (0–65535; 0 picks a free one)");
  return n;
};
const str = (value: unknown): string => {
  if (typeof value !== "string" || value.trim() === "") throw new Error("expected a non-empty string");
  return value.trim();
};

const OPTIONS: { [K in ConfigKey]: Option<K> } = {
  home: { key: "home", env: "UPDRAFT_HOME", description: "Where Updraft keeps its state (SQLite database, caches)", default: () => resolve(".updraft"), parse: (v) => resolve(str(v)) },
  dagsFolder: { key: "dagsFolder", env: "UPDRAFT_DAGS_FOLDER", description: "Folder scanned for DAG files", default: () => resolve("dags"), parse: (v) => resolve(str(v)) },
  databaseUrl: {
    key: "databaseUrl", env: "UPDRAFT_DATABASE_URL", secret: true,
    description: "sqlite:///path/to/file.db (default: $UPDRAFT_HOME/updraft.db) or postgres://user@host/db[?schema=name]",
    default: (p) => `sqlite://${join(p.home ?? resolve(".updraft"), "updraft.db")}`, parse: str,
  },
  sqliteSynchronous: { key: "sqliteSynchronous", env: "UPDRAFT_SQLITE_SYNCHRONOUS", description: "SQLite durability: NORMAL survives a process crash, FULL also a power loss", default: () => "NORMAL", parse: oneOf("NORMAL", "FULL") },
  parallelism: { key: "parallelism", env: "UPDRAFT_PARALLELISM", description: "Task instances queued or running at once, per scheduler", default: () => 32, parse: int(1) },
  runners: { key: "runners", env: "UPDRAFT_RUNNERS", description: "Local executor: most runner processes (each runs one try at a time)", default: () => 16, parse: int(1) },
  warmRunners: { key: "warmRunners", env: "UPDRAFT_WARM_RUNNERS", description: "Local executor: runner processes kept warm when idle", default: () => 1, parse: int(0) },
  runnerMemoryLimitMb: {
    key: "runnerMemoryLimitMb", env: "UPDRAFT_RUNNER_MEMORY_LIMIT", description: "Memory limit of a runner process (e.g. 1GB); a try above it fails",
    default: () => 1024, parse: (v) => Math.max(64, Math.round(parseSize(v as string) / 1024 ** 2)),
  },
  killGraceMs: { key: "killGraceMs", env: "UPDRAFT_KILL_GRACE", description: "Time a timed-out try gets to stop after its signal fires, before its process is killed", default: () => 1000, parse: duration },
  importTimeoutMs: { key: "importTimeoutMs", env: "UPDRAFT_IMPORT_TIMEOUT", description: "Time a DAG file gets to import", default: () => 30_000, parse: duration },
  typeCheck: {
    key: "typeCheck", env: "UPDRAFT_TYPE_CHECK",
    description: "Type-check DAG files: off; warn (type errors are import warnings, the DAGs still register); error (type errors are import errors)",
    default: () => "warn", parse: oneOf("off", "warn", "error"),
  },
  xcomMaxBytes: { key: "xcomMaxBytes", env: "UPDRAFT_XCOM_MAX_SIZE", description: "Largest task output (XCom) stored, as JSON", default: () => 1024 * 1024, parse: (v) => parseSize(v as string) },
  dagsArePausedAtCreation: { key: "dagsArePausedAtCreation", env: "UPDRAFT_DAGS_PAUSED_AT_CREATION", description: "New DAGs start paused", default: () => true, parse: bool },
  dagRescanIntervalMs: { key: "dagRescanIntervalMs", env: "UPDRAFT_DAG_RESCAN_INTERVAL", description: "How often the DAGs folder is checked for changes (besides file-system events)", default: () => 1000, parse: duration },
  dagReparseIntervalMs: { key: "dagReparseIntervalMs", env: "UPDRAFT_DAG_REPARSE_INTERVAL", description: "How often an unchanged DAG file is bundled again anyway", default: () => 300_000, parse: duration },
  schedulerPollIntervalMs: { key: "schedulerPollIntervalMs", env: "UPDRAFT_SCHEDULER_POLL_INTERVAL", description: "Backstop: the scheduler looks at the database at least this often", default: () => 1000, parse: duration },
  heartbeatIntervalMs: { key: "heartbeatIntervalMs", env: "UPDRAFT_HEARTBEAT_INTERVAL", description: "How often a scheduler records that it is alive", default: () => 5000, parse: duration },
  zombieThresholdMs: { key: "zombieThresholdMs", env: "UPDRAFT_ZOMBIE_THRESHOLD", description: "A job silent this long is dead; its running tries fail (and may retry)", default: () => 60_000, parse: duration },
  logLevel: { key: "logLevel", env: "UPDRAFT_LOG_LEVEL", description: "Level of Updraft's own logs", default: () => "info", parse: oneOf("debug", "info", "warn", "error") },
  host: { key: "host", env: "UPDRAFT_HOST", description: "Address the API server listens on (0.0.0.0 for every interface)", default: () => "127.0.0.1", parse: str },
  port: { key: "port", env: "UPDRAFT_PORT", description: "Port of the API server and UI", default: () => 8080, parse: port },
  tlsCert: { key: "tlsCert", env: "UPDRAFT_TLS_CERT", description: "PEM certificate file: serve HTTPS (with HSTS)", default: () => null, parse: (v) => resolve(str(v)) },
  tlsKey: { key: "tlsKey", env: "UPDRAFT_TLS_KEY", description: "PEM private key file of the certificate", default: () => null, parse: (v) => resolve(str(v)) },
  httpsRedirectPort: { key: "httpsRedirectPort", env: "UPDRAFT_HTTPS_REDIRECT_PORT", description: "With TLS: also listen on this port over HTTP and redirect to HTTPS", default: () => null, parse: port },
  jwtSecret: {
    key: "jwtSecret", env: "UPDRAFT_JWT_SECRET", secret: true,
    description: "Key that signs access tokens, 32+ random bytes as base64 or hex (standalone keeps one in UPDRAFT_HOME)", default: () => null, parse: str,
  },
  secretKey: {
    key: "secretKey", env: "UPDRAFT_SECRET_KEY", secret: true,
    description: 'Keyring that encrypts secrets at rest: "id:key,…" (32-byte keys, base64 or hex; the first encrypts)', default: () => null, parse: str,
  },
  accessTokenTtlMs: { key: "accessTokenTtlMs", env: "UPDRAFT_ACCESS_TOKEN_TTL", description: "Lifetime of an access token", default: () => 15 * 60_000, parse: duration },
  refreshTokenTtlMs: { key: "refreshTokenTtlMs", env: "UPDRAFT_REFRESH_TOKEN_TTL", description: "Lifetime of a login session (its refresh token)", default: () => 12 * 3_600_000, parse: duration },
  apiTokenTtlMs: { key: "apiTokenTtlMs", env: "UPDRAFT_API_TOKEN_TTL", description: "Default lifetime of an API token", default: () => 90 * 86_400_000, parse: duration },
  loginLimitPerIp: { key: "loginLimitPerIp", env: "UPDRAFT_LOGIN_LIMIT_PER_IP", description: "Login attempts per minute from one address", default: () => 20, parse: int(1) },
  loginLimitPerUser: { key: "loginLimitPerUser", env: "UPDRAFT_LOGIN_LIMIT_PER_USER", description: "Failed login attempts per minute for one username", default: () => 5, parse: int(1) },
  requestLimitPerMinute: { key: "requestLimitPerMinute", env: "UPDRAFT_REQUEST_LIMIT", description: "API requests per minute per token (or address, before login)", default: () => 1200, parse: int(1) },
  bodyLimitBytes: { key: "bodyLimitBytes", env: "UPDRAFT_BODY_LIMIT", description: "Largest request body the API accepts", default: () => 1024 * 1024, parse: (v) => parseSize(v as string) },
  trustProxy: {
    key: "trustProxy", env: "UPDRAFT_TRUST_PROXY",
    description: "Behind a load balancer: trust X-Forwarded-For from it (true, a number of hops, or addresses/CIDRs, comma-separated)",
    default: () => false,
    parse: (v) => {
      const text = String(v).trim();
      if (/^(true|false)$/i.test(text)) return text.toLowerCase() === "true";
      if (/^\d+$/.test(text)) return Number(text);
      if (/^[0-9a-f.:/,\s]+$/i.test(text)) return text;
      throw new Error("expected true, false, a number of hops or addresses/CIDRs");
    },
  },
  executor: {
    key: "executor", env: "UPDRAFT_EXECUTOR",
    description: "Where tries run: local (runner processes of the scheduler), redis or rabbitmq (workers fed through the broker at brokerUrl)",
    default: () => "local", parse: oneOf("local", "redis", "rabbitmq"),
  },
  brokerUrl: {
    key: "brokerUrl", env: "UPDRAFT_BROKER_URL", secret: true,
    description: "The broker of the redis or rabbitmq executor and of workers: redis://host:port/db or amqp://user:pass@host:port/vhost", default: () => null, parse: str,
  },
  brokerPrefix: {
    key: "brokerPrefix", env: "UPDRAFT_BROKER_PREFIX",
    description: "Key prefix (Redis) or queue-name prefix (RabbitMQ) of this installation: installations sharing a broker never meet", default: () => "updraft",
    parse: (v) => {
      const text = str(v);
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(text)) throw new Error("expected 1–64 letters, digits, '_', '.' or '-'");
      return text;
    },
  },
  apiUrl: { key: "apiUrl", env: "UPDRAFT_API_URL", description: "Worker: the API server whose task-execution API it reports to (https://host:port)", default: () => null, parse: (v) => new URL(str(v)).origin },
  queues: {
    key: "queues", env: "UPDRAFT_QUEUES", description: "Worker: the queues it takes tries from (comma-separated; tasks choose theirs with the queue option)", default: () => ["default"],
    parse: (v) => {
      const list = (Array.isArray(v) ? v.map(String) : String(v).split(",")).map((q) => q.trim()).filter((q) => q.length > 0);
      if (list.length === 0 || list.some((q) => !/^[A-Za-z0-9_.-]{1,100}$/.test(q))) throw new Error("expected queue names of letters, digits, '_', '.' or '-', comma-separated");
      return [...new Set(list)];
    },
  },
  queuedTimeoutMs: {
    key: "queuedTimeoutMs", env: "UPDRAFT_QUEUED_TIMEOUT",
    description: "A try handed to a broker and not started by a worker this long is published again (its message may be lost)", default: () => 60_000, parse: duration,
  },
  workerConcurrency: { key: "workerConcurrency", env: "UPDRAFT_WORKER_CONCURRENCY", description: "Worker: tries it runs at once", default: () => 8, parse: int(1) },
  eventRetentionMs: { key: "eventRetentionMs", env: "UPDRAFT_EVENT_RETENTION", description: "How long state-change events are kept for live updates", default: () => 10 * 60_000, parse: duration },
};

export const CONFIG_KEYS = Object.keys(OPTIONS) as ConfigKey[];

export interface LoadedConfig {
  config: Config;
  sources: Record<ConfigKey, ConfigSource>;
}

/**
 * Reads the configuration. `flags` are values from the command line (already named by key);
 * `env` defaults to process.env.
 */
export function loadConfig(flags: Partial<Record<ConfigKey, unknown>> = {}, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const raw: Partial<Record<ConfigKey, { value: unknown; source: ConfigSource }>> = {};
  const set = (key: ConfigKey, value: unknown, source: ConfigSource) => {
    if (value !== undefined && value !== "") raw[key] = { value, source };
  };
  // The home decides where the config file is, so it is read first.
  set("home", env.UPDRAFT_HOME, "env");
  set("home", flags.home, "flag");
  const home = raw.home ? OPTIONS.home.parse(raw.home.value) : OPTIONS.home.default({});
  const file = join(home, "updraft.json");
  if (existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (error) {
      throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", `${file} is not valid JSON: ${errorMessage(error)}`, { hint: "fix or remove the file" });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", `${file} must hold a JSON object`, { hint: '{ "parallelism": 16 }' });
    }
    for (const [key, value] of Object.entries(parsed)) {
      if (!(key in OPTIONS)) {
        throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", `${file}: unknown setting '${key}'`, { hint: `known settings: ${CONFIG_KEYS.join(", ")}` });
      }
      if (key !== "home") set(key as ConfigKey, value, "file");
    }
  }
  for (const option of Object.values(OPTIONS)) if (option.key !== "home") set(option.key, env[option.env], "env");
  for (const [key, value] of Object.entries(flags)) if (key !== "home") set(key as ConfigKey, value, "flag");

  const config: Partial<Config> = { home };
  const sources = { home: raw.home?.source ?? "default" } as Record<ConfigKey, ConfigSource>;
  for (const option of Object.values(OPTIONS) as Option<ConfigKey>[]) {
    if (option.key === "home") continue;
    const given = raw[option.key];
    if (given) {
      try {
        (config as Record<string, unknown>)[option.key] = option.parse(given.value);
      } catch (error) {
        const from = given.source === "env" ? option.env : given.source === "file" ? `${option.key} in ${file}` : `--${option.key}`;
        throw new UpdraftError("UPDRAFT_E_CONFIG_INVALID", `${from} = ${JSON.stringify(given.value)} is not valid: ${errorMessage(error)}`, {
          hint: option.description,
        });
      }
      sources[option.key] = given.source;
    } else {
      (config as Record<string, unknown>)[option.key] = option.default(config);
      sources[option.key] = "default";
    }
  }
  return { config: config as Config, sources };
}

/** Rows for `updraft config list`, secrets redacted. */
export function describeConfig(loaded: LoadedConfig): Array<{ key: ConfigKey; env: string; value: string; source: ConfigSource; description: string }> {
  return CONFIG_KEYS.map((key) => {
    const option = OPTIONS[key] as Option<ConfigKey>;
    const value = loaded.config[key];
    let shown = typeof value === "string" ? value : JSON.stringify(value);
    if (option.secret) shown = key === "databaseUrl" || key === "brokerUrl" ? (value === null ? "null" : redactUrl(shown)) : value === null ? "null" : "***";
    return { key, env: option.env, value: shown, source: loaded.sources[key], description: option.description };
  });
}
