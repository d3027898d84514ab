/**
 * Talking to the REST API: the session's tokens, one refresh when an access token has expired,
 * and errors as ApiError with the API's stable code, message and hint.
 */

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

interface Tokens {
  access_token: string;
  refresh_token: string;
}

const STORAGE_KEY = "updraft.session";
type SessionListener = (signedIn: boolean) => void;
const listeners = new Set<SessionListener>();

let tokens: Tokens | null = (() => {
  try {
    const text = localStorage.getItem(STORAGE_KEY);
    return text ? (JSON.parse(text) as Tokens) : null;
  } catch {
    return null;
  }
})();

function setTokens(next: Tokens | null): void {
  const was = tokens !== null;
  tokens = next;
  if (next) localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else localStorage.removeItem(STORAGE_KEY);
  if (was !== (next !== null)) for (const l of listeners) l(next !== null);
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
    const body = (await res.json()) as { code?: string; message?: string; hint?: string; details?: unknown };
    return new ApiError(res.status, body.code ?? `HTTP_${res.status}`, body.message ?? res.statusText, body.hint, body.details);
  } catch {
    return new ApiError(res.status, `HTTP_${res.status}`, res.statusText || "the server did not answer");
  }
}

export async function login(username: string, password: string): Promise<void> {
  const res = await fetch(`${API}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) });
  if (!res.ok) throw await errorOf(res);
  setTokens((await res.json()) as Tokens);
}

export async function logout(): Promise<void> {
  const current = tokens;
  setTokens(null);
  if (!current) return;
  await fetch(`${API}/auth/logout`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${current.access_token}` },
    body: JSON.stringify({ refresh_token: current.refresh_token }),
  }).catch(() => undefined);
}

let refreshing: Promise<boolean> | null = null;

/** Exchanges the refresh token once for everyone waiting; false: the session is over. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    const current = tokens;
    if (!current) return false;
    try {
      const res = await fetch(`${API}/auth/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: current.refresh_token }) });
      if (!res.ok) {
        if (res.status === 401) setTokens(null);
        return false;
      }
      setTokens((await res.json()) as Tokens);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
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
  let res = await send();
  if (res.status === 401 && tokens && (await refreshSession())) res = await send();
  if (res.status === 401) {
    const error = await errorOf(res);
    if (tokens) setTokens(null);
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
