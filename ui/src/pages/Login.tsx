import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { login } from "../api/client";
import { ErrorBox } from "../components/common";

/** Only a page of this site: never an address someone put in the link. */
function safeNext(next: string | null): string {
  if (!next) return "/dags";
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? `${url.pathname}${url.search}` : "/dags";
  } catch {
    return "/dags";
  }
}

export function Login() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const next = params.get("next");

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
      navigate(safeNext(next), { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login">
      <form className="card pad" onSubmit={submit}>
        <div className="brand">
          <img src="/favicon.svg" alt="" width={28} height={28} /> Updraft
        </div>
        <label>
          <span className="label">Username</span>
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required style={{ width: "100%" }} />
        </label>
        <label>
          <span className="label">Password</span>
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required style={{ width: "100%" }} />
        </label>
        <ErrorBox error={error} title="Could not log in" />
        <button className="primary" type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
        <p className="muted" style={{ margin: 0, fontSize: 12 }}>
          With <code>updraft standalone</code>, the password of <code>admin</code> is in <code>$UPDRAFT_HOME/standalone_admin_password.txt</code>.
        </p>
      </form>
    </div>
  );
}
