/**
 * Connections written as text, in Airflow's two forms: the URI
 * `conn-type://login:password@host:port/schema?key=value` (each part percent-encoded; an extra
 * whose values are not all strings travels as JSON under `__extra__`; a host that carries a
 * protocol, such as `https://example.com`, makes `conn-type://https://…`) and the JSON object
 * `{"conn_type": …, "host": …, "login": …, "password": …, "schema": …, "port": …, "extra": {…}}`.
 * Used by `UPDRAFT_CONN_<ID>` variables, a task's `conn.uri`, and the CLI.
 *
 * Error messages never quote the text: it may hold a password.
 */
import { UpdraftError } from "../errors/index.js";

/** The fields of a connection, with Airflow's meaning. Empty strings are null. */
export interface ConnectionParts {
  connType: string;
  description: string | null;
  host: string | null;
  /** The database, for most database types. */
  schema: string | null;
  login: string | null;
  password: string | null;
  port: number | null;
  extra: Record<string, unknown> | null;
}

const EXTRA_KEY = "__extra__";
const URI_HINT = "conn-type://login:password@host:port/schema?param=value, with each part percent-encoded";
const JSON_FIELDS = new Set(["conn_type", "description", "host", "login", "password", "schema", "port", "extra"]);

function invalid(what: string, problem: string, hint = URI_HINT): UpdraftError {
  return new UpdraftError("UPDRAFT_E_VALIDATION", `${what}: ${problem}`, { hint });
}

/** Python's quote(s, safe=""): everything but letters, digits and "_.-~" percent-encoded. */
export function quote(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Python's quote_plus: as quote, with spaces as "+" (query strings). */
export function quotePlus(text: string): string {
  return quote(text).replace(/%20/g, "+");
}

/** Percent-decoding that, like Python's unquote, leaves a malformed sequence as it is. */
function unquote(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

const orNull = (text: string | null | undefined) => (text === null || text === undefined || text === "" ? null : text);

/** Airflow's normalization of a URI scheme into a conn_type. */
function connTypeOf(scheme: string): string {
  const lower = scheme.toLowerCase();
  return lower === "postgresql" ? "postgres" : lower.replaceAll("-", "_");
}

function parsePort(text: string, what: string): number | null {
  if (text === "") return null;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw invalid(what, "the port is not a number from 0 to 65535");
  return Number(text);
}

/** Parses Airflow's connection URI. */
export function parseConnectionUri(uri: string, what = "the connection URI"): ConnectionParts {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri);
  if (!scheme) throw invalid(what, "it does not start with <conn-type>://");
  let rest = uri.slice(scheme[0].length);
  const schemes = rest.split("://").length - 1;
  if (schemes > 1) throw invalid(what, 'it holds more than two "://"');
  let protocol: string | null = null;
  if (schemes === 1) {
    const [before, after] = [rest.slice(0, rest.indexOf("://")), rest.slice(rest.indexOf("://") + 3)];
    // A second "://" is the host's protocol (conn-type://https://host); anywhere else it must
    // be percent-encoded.
    if (!/^[A-Za-z][A-Za-z0-9+.-]*$/.test(before)) throw invalid(what, 'a "://" that is not the host\'s protocol: percent-encode the login, password and schema');
    protocol = before;
    rest = after;
  }
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf("?");
  const query = q >= 0 ? rest.slice(q + 1) : "";
  if (q >= 0) rest = rest.slice(0, q);
  const slash = rest.indexOf("/");
  const netloc = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : "";

  const at = netloc.lastIndexOf("@");
  const userinfo = at >= 0 ? netloc.slice(0, at) : null;
  const hostport = at >= 0 ? netloc.slice(at + 1) : netloc;
  let login: string | null = null;
  let password: string | null = null;
  if (userinfo !== null) {
    const colon = userinfo.indexOf(":");
    login = unquote(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
    password = colon >= 0 ? unquote(userinfo.slice(colon + 1)) : null;
  }
  let host: string;
  let port: number | null;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(hostport);
  if (bracketed) {
    host = bracketed[1]!;
    port = parsePort(bracketed[2] ?? "", what);
  } else {
    const colon = hostport.indexOf(":");
    host = unquote(colon >= 0 ? hostport.slice(0, colon) : hostport);
    port = parsePort(colon >= 0 ? hostport.slice(colon + 1) : "", what);
  }

  let extra: Record<string, unknown> | null = null;
  if (query !== "") {
    const pairs: Record<string, string> = {};
    for (const pair of query.split("&")) {
      if (pair === "") continue;
      const eq = pair.indexOf("=");
      const key = unquote((eq >= 0 ? pair.slice(0, eq) : pair).replaceAll("+", " "));
      pairs[key] = unquote((eq >= 0 ? pair.slice(eq + 1) : "").replaceAll("+", " "));
    }
    extra = EXTRA_KEY in pairs ? extraObject(pairs[EXTRA_KEY]!, what) : pairs;
  }
  return {
    connType: connTypeOf(scheme[1]!),
    description: null,
    host: orNull(host) === null ? null : protocol ? `${protocol}://${host}` : host,
    schema: orNull(unquote(path)),
    login: orNull(login),
    password: orNull(password),
    port,
    extra: extra && Object.keys(extra).length > 0 ? extra : null,
  };
}

function extraObject(json: string | unknown, what: string): Record<string, unknown> {
  let value = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch {
      throw invalid(what, "the extra is not valid JSON", 'a JSON object, e.g. {"region": "eu-west-1"}');
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(what, "the extra is not a JSON object", 'e.g. {"region": "eu-west-1"}');
  return value as Record<string, unknown>;
}

/** The connection as Airflow's URI (Airflow's `Connection.get_uri()`). */
export function formatConnectionUri(c: Omit<ConnectionParts, "description">): string {
  let uri = `${c.connType.toLowerCase().replaceAll("_", "-")}://`;
  let host = c.host;
  const sep = host?.indexOf("://") ?? -1;
  if (host && sep >= 0) {
    uri += `${host.slice(0, sep)}://`;
    host = host.slice(sep + 3);
  }
  let authority = "";
  if (c.login !== null) authority += quote(c.login);
  if (c.password !== null) authority += `:${quote(c.password)}`;
  if (authority !== "") uri += `${authority}@`;
  let hostBlock = host ? quote(host) : "";
  if (c.port !== null) hostBlock += hostBlock === "" && authority === "" ? `@:${c.port}` : `:${c.port}`;
  if (c.schema) hostBlock += `/${quote(c.schema)}`;
  uri += hostBlock;
  if (c.extra && Object.keys(c.extra).length > 0) {
    const entries = Object.entries(c.extra);
    const query = entries.every(([, v]) => typeof v === "string")
      ? entries.map(([k, v]) => `${quotePlus(k)}=${quotePlus(v as string)}`).join("&")
      : `${EXTRA_KEY}=${quotePlus(JSON.stringify(c.extra))}`;
    uri += `${c.schema ? "?" : "/?"}${query}`;
  }
  return uri;
}

/** Parses Airflow's JSON form of a connection (an object, or JSON text holding one). */
export function parseConnectionJson(json: string | Record<string, unknown>, what = "the connection JSON"): ConnectionParts {
  let value: unknown = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch {
      throw invalid(what, "it is not valid JSON", '{"conn_type": "postgres", "host": "db", "login": "etl", "password": "…", "port": 5432, "schema": "warehouse"}');
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(what, "it is not a JSON object", '{"conn_type": "postgres", "host": "db"}');
  const o = value as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !JSON_FIELDS.has(k));
  if (unknown.length > 0) throw invalid(what, `unknown field(s) ${unknown.map((k) => JSON.stringify(k.slice(0, 50))).join(", ")}`, `known fields: ${[...JSON_FIELDS].join(", ")}`);
  const text = (key: string): string | null => {
    const v = o[key];
    if (v === null || v === undefined) return null;
    if (typeof v !== "string") throw invalid(what, `${key} is not a string`, `give ${key} as a JSON string`);
    return orNull(v);
  };
  const connType = text("conn_type");
  if (connType === null) throw invalid(what, "conn_type is missing", '{"conn_type": "postgres", …}');
  let port: number | null = null;
  if (typeof o.port === "number") {
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw invalid(what, "the port is not a number from 0 to 65535", '"port": 5432');
    port = o.port;
  } else if (typeof o.port === "string") port = parsePort(o.port, what);
  else if (o.port !== null && o.port !== undefined) throw invalid(what, "the port is not a number", '"port": 5432');
  const extra = o.extra === null || o.extra === undefined || o.extra === "" ? null : extraObject(o.extra, what);
  return {
    connType: connTypeOf(connType),
    description: text("description"),
    host: text("host"),
    schema: text("schema"),
    login: text("login"),
    password: text("password"),
    port,
    extra: extra && Object.keys(extra).length > 0 ? extra : null,
  };
}

/** A connection given as text, as Airflow reads AIRFLOW_CONN_*: JSON when it starts with "{", else a URI. */
export function parseConnectionText(text: string, what: string): ConnectionParts {
  return text.trimStart().startsWith("{") ? parseConnectionJson(text, what) : parseConnectionUri(text.trim(), what);
}
