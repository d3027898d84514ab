/**
 * `ctx.variable` and `ctx.connection`. A value comes from the task's own environment first
 * (`UPDRAFT_VAR_<KEY>`, `UPDRAFT_CONN_<ID>`, the key upper-cased, as Airflow reads AIRFLOW_VAR_* /
 * AIRFLOW_CONN_* in the task's process), else from the metadata database through the executor and
 * the scheduler, which answer only for the try that asks. Every secret read goes into the try's
 * masker before the task sees it.
 */
import { ERROR_CODES, UpdraftError, type ErrorCode } from "../errors/index.js";
import type { Connection, TaskContext } from "../sdk/types.js";
import { formatConnectionUri, parseConnectionText, type ConnectionParts } from "../util/connection-uri.js";
import { isSensitiveKey } from "../util/sensitive.js";
import type { SecretMasker } from "./masker.js";
import type { Lookup, LookupError, StoredVariable } from "./protocol.js";

export interface SecretSources {
  env: NodeJS.ProcessEnv;
  readVariable(key: string): Promise<Lookup<StoredVariable>>;
  readConnection(connId: string): Promise<Lookup<ConnectionParts>>;
}

const ID_RE = /^[A-Za-z0-9_.-]{1,250}$/;

function checkId(id: unknown, what: "variable key" | "connection id"): string {
  if (typeof id !== "string" || !ID_RE.test(id)) {
    throw new UpdraftError("UPDRAFT_E_INVALID_ID", `${what} ${JSON.stringify(String(id).slice(0, 250))} is not valid`, { hint: 'use 1–250 letters, digits, "_", "." and "-"' });
  }
  return id;
}

function lookupFailed(error: LookupError): UpdraftError {
  const code = (error.code in ERROR_CODES ? error.code : "UPDRAFT_E_INTERNAL") as ErrorCode;
  return new UpdraftError(code, error.message, error.hint ? { hint: error.hint } : {});
}

async function answerOf<T>(lookup: Promise<Lookup<T>>): Promise<T | null> {
  const answer = await lookup;
  if ("error" in answer) throw lookupFailed(answer.error);
  return answer.value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

interface VariableOptions {
  default?: unknown;
  json?: boolean;
}

export function taskSecrets(sources: SecretSources, masker: SecretMasker): Pick<TaskContext, "variable" | "connection"> {
  async function variable(key: string, options: VariableOptions = {}): Promise<unknown> {
    checkId(key, "variable key");
    const name = `UPDRAFT_VAR_${key.toUpperCase()}`;
    const fromEnv = sources.env[name];
    const found = fromEnv !== undefined ? { value: fromEnv, secret: isSensitiveKey(key) } : await answerOf(sources.readVariable(key));
    if (found === null) {
      if (typeof options === "object" && options !== null && "default" in options) return options.default;
      throw new UpdraftError("UPDRAFT_E_VARIABLE_NOT_FOUND", `variable '${key}' is not set`, {
        hint: `set it (\`updraft variables set ${key} …\`, the UI's Variables page, or ${name} in the environment), or give a default: ctx.variable("${key}", { default: … })`,
      });
    }
    const secret = found.secret || isSensitiveKey(key);
    if (secret) masker.add(found.value);
    if (!options?.json) return found.value;
    let parsed: unknown;
    try {
      parsed = JSON.parse(found.value);
    } catch {
      // Never the value in the message: it may be secret.
      throw new UpdraftError("UPDRAFT_E_INVALID_JSON", `variable '${key}' is not valid JSON`, { hint: "store JSON text in it, or read it without { json: true }" });
    }
    if (secret) masker.addValues(parsed, true);
    return parsed;
  }

  async function connection(connId: string): Promise<Connection> {
    checkId(connId, "connection id");
    const name = `UPDRAFT_CONN_${connId.toUpperCase()}`;
    const fromEnv = sources.env[name];
    const parts = fromEnv !== undefined ? parseConnectionText(fromEnv, name) : await answerOf(sources.readConnection(connId));
    if (parts === null) {
      throw new UpdraftError("UPDRAFT_E_CONNECTION_NOT_FOUND", `connection '${connId}' is not defined`, {
        hint: `add it (\`updraft connections add ${connId} --conn-uri …\`, the UI's Connections page, or ${name} in the environment as a URI or JSON)`,
      });
    }
    if (parts.password !== null) masker.add(parts.password);
    if (parts.extra) masker.addValues(parts.extra);
    const extra = deepFreeze(structuredClone(parts.extra ?? {}));
    return Object.freeze({
      connId,
      connType: parts.connType,
      description: parts.description,
      host: parts.host,
      schema: parts.schema,
      login: parts.login,
      password: parts.password,
      port: parts.port,
      extra,
      uri: formatConnectionUri(parts),
    });
  }

  return { variable: variable as TaskContext["variable"], connection };
}
