/**
 * Talking to the REST API: the session's tokens, one refresh when an access token has expired,
 * and errors as ApiError with the API's stable code, message and hint.
 */
import type { ApiErrorBody, TokenPair } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** What the session keeps of a login's or a refresh's answer. */
type Tokens = Pick<TokenPair, "access_token" | "refresh_token">;

const STORAGE_KEY = "updraft.session";
type SessionListener = (signedIn: boolean) => void;
const listeners = new Set<SessionListener>();

let tokens: Tokens | null = storedTokens();

function setTokens(next: Tokens | null): Promise<void> {
  const was = tokens !== null;
  tokens = next;
  if (next) localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else localStorage.removeItem(STORAGE_KEY);
  if (was !== (next !== null)) for (const l of listeners) l(next !== null);
  return writeShared(next);
}

/**
 * The session as every tab sees it at once. localStorage reaches other tabs' processes a moment
 * later (Chromium caches it per process), which is enough for a second tab to spend a refresh
 * token already spent; IndexedDB transactions are consistent across tabs, so the refresh reads
 * and writes the tokens there, under a lock.
 */
function sharedStore<T>(mode: IDBTransactionMode, operate: (store: IDBObjectStore) => IDBRequest): Promise<T | undefined> {
  return new Promise((resolve) => {
    if (typeof indexedDB === "undefined") return resolve(undefined);
    const open = indexedDB.open("updraft", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("session");
    open.onerror = () => resolve(undefined);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction("session", mode);
      const request = operate(tx.objectStore("session"));
      tx.oncomplete = () => {
        db.close();
        resolve(request.result as T);
      };
      tx.onerror = tx.onabort = () => {
        db.close();
        resolve(undefined);
      };
    };
  });
}

async function writeShared(next: Tokens | null): Promise<void> {
  await sharedStore("readwrite", (store) => store.put(next, "tokens"));
}

/** undefined: nothing shared yet (or no IndexedDB); null: signed out. */
function readShared(): Promise<Tokens | null | undefined> {
  return sharedStore<Tokens | null>("readonly", (store) => store.get("tokens"));
}

// Another tab logged in or out.
window.addEventListener("storage", (e) => {
  if (e.key !== STORAGE_KEY) return;
  const was = tokens !== null;
  tokens = e.newValue ? (JSON.parse(e.newValue) as Tokens) : null;
  if (was !== (tokens !== null)) for (const l of listeners) l(tokens !== null);
});

export function onSessionChange(listener: SessionListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function isSignedIn(): boolean {
  return tokens !== null;
}

export function accessToken(): string | null {
  return tokens?.access_token ?? null;
}

export const API = "/api/v1";

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as Partial<ApiErrorBody>;
    return new ApiError(res.status, body.code ?? `HTTP_${res.status}`, body.message ?? res.statusText, body.hint, body.details);
  } catch {
    return new ApiError(res.status, `HTTP_${res.status}`, res.statusText || "the server did not answer");
  }
}

export async function login(username: string, password: string): Promise<void> {
  const res = await fetch(`${API}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) });
  if (!res.ok) throw await errorOf(res);
  await setTokens((await res.json()) as Tokens);
}

export async function logout(): Promise<void> {
  let current = tokens;
  if (!current) return;
  const send = (t: Tokens) =>
    fetch(`${API}/auth/logout`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.access_token}` },
      body: JSON.stringify({ refresh_token: t.refresh_token }),
    });
  try {
    // An expired access token is renewed first, so the session really ends on the server.
    if ((await send(current)).status === 401 && (await refreshSession()) === "ok" && tokens) {
      current = tokens;
      await send(current);
    }
  } catch {
    // offline: the tokens are forgotten here anyway
  }
  await setTokens(null);
}

export type RefreshResult = "ok" | "rejected" | "offline";

let refreshing: Promise<RefreshResult> | null = null;

/** Reads the session another tab may have stored meanwhile. */
function storedTokens(): Tokens | null {
  try {
    const text = localStorage.getItem(STORAGE_KEY);
    return text ? (JSON.parse(text) as Tokens) : null;
  } catch {
    return null;
  }
}

/**
 * Exchanges the refresh token once for every request waiting, and once across the browser's tabs:
 * a refresh token is good for one use (a second use ends the session), so the tabs take turns under
 * a lock and a tab that finds a newer token stored uses it. "rejected": the session is over;
 * "offline": the server could not be reached, the session may still be good.
 */
export function refreshSession(): Promise<RefreshResult> {
  if (!tokens) return Promise.resolve("rejected");
  const spent = tokens.refresh_token;
  const run = async (): Promise<RefreshResult> => {
    const shared = await readShared();
    const latest = shared === undefined ? (storedTokens() ?? tokens) : shared;
    if (!latest) {
      void setTokens(null);
      return "rejected";
    }
    if (latest.refresh_token !== spent) {
      void setTokens(latest);
      return "ok";
    }
    try {
      const res = await fetch(`${API}/auth/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: latest.refresh_token }) });
      if (res.status === 401) {
        await setTokens(null);
        return "rejected";
      }
      if (!res.ok) return "offline";
      // Stored for every tab before the lock is released.
      await setTokens((await res.json()) as Tokens);
      return "ok";
    } catch {
      return "offline";
    }
  };
  refreshing ??= (navigator.locks ? navigator.locks.request("updraft-refresh", run) : run()).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export type Query = Record<string, string | number | boolean | undefined | null | Array<string | number>>;

export function queryString(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
    else params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A path segment: ids are always encoded, never trusted to be URL-safe. */
export const seg = (value: string) => encodeURIComponent(value);

export async function api<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
  const send = () =>
    fetch(`${API}${path}${queryString(options.query)}`, {
      method,
      headers: {
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        ...(tokens ? { authorization: `Bearer ${tokens.access_token}` } : {}),
      },
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    });
  const sentWith = tokens?.access_token;
  let res = await send();
  if (res.status === 401 && tokens) {
    // Another request (or tab) may have renewed the token meanwhile; else renew it now.
    const renewed = tokens.access_token !== sentWith ? "ok" : await refreshSession();
    if (renewed === "offline") throw new ApiError(0, "UPDRAFT_E_OFFLINE", "the server could not be reached", "check the connection; the page retries");
    if (renewed === "ok") res = await send();
  }
  if (res.status === 401) {
    const error = await errorOf(res);
    if (tokens) await setTokens(null);
    throw error;
  }
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T>(path: string, query?: Query) => api<T>("GET", path, { query });
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, { body: body ?? {} });
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, { body });
export const del = <T = void>(path: string) => api<T>("DELETE", path);
