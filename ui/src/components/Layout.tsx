import { useState, type ReactNode } from "react";
import { NavLink, useLocation, useMatch, useNavigate } from "react-router";
import { logout } from "../api/client";
import { useLiveStatus } from "../api/useLive";
import { useAuth } from "../auth";
import { useDag } from "../pages/dag/hooks";
import { useTheme } from "../theme";
import { PageDagZoneProvider, ZoneSwitch } from "./time";

/** The lists across every DAG the user may read. */
export const BROWSE_PAGES = [
  { path: "runs", label: "Runs" },
  { path: "task-instances", label: "Task instances" },
  { path: "xcoms", label: "XComs" },
] as const;

/** The admin pages and the permission each needs to be shown. */
export const ADMIN_PAGES = [
  { path: "connections", label: "Connections", permission: "connections:read" },
  { path: "variables", label: "Variables", permission: "variables:read" },
  { path: "pools", label: "Pools", permission: "pools:read" },
  { path: "users", label: "Users", permission: "users:read" },
  { path: "roles", label: "Roles", permission: "roles:read" },
  { path: "tokens", label: "API tokens", permission: null },
  { path: "audit", label: "Audit log", permission: "audit:read" },
] as const;

export function Layout({ children }: { children: ReactNode }) {
  const { me, can } = useAuth();
  const [theme, toggleTheme] = useTheme();
  const [open, setOpen] = useState(false);
  const status = useLiveStatus();
  const navigate = useNavigate();
  const adminPages = ADMIN_PAGES.filter((p) => p.permission === null || can(p.permission));
  // On a DAG's pages, times follow the DAG's time zone (the same query the page reads).
  const dagId = useMatch("/dags/:dagId/*")?.params.dagId ?? null;
  const dag = useDag(dagId ?? "", dagId !== null);
  const dagZone = dagId !== null && dag.data?.dag_id === dagId ? dag.data.timezone : null;
  return (
    <PageDagZoneProvider zone={dagZone}>
      <div className="app">
        <header className="topbar">
          <NavLink to="/dags" className="brand">
            <img src="/favicon.svg" alt="" /> Updraft
          </NavLink>
          <nav>
            <NavLink to="/dags">DAGs</NavLink>
            <BrowseMenu />
            {adminPages.map((p) => (
              <NavLink key={p.path} to={`/admin/${p.path}`}>
                {p.label}
              </NavLink>
            ))}
          </nav>
          <ZoneSwitch />
          <span className="live" title={status === "open" ? "Live updates are on" : "Live updates are reconnecting"}>
            <span className={`dot ${status === "open" ? "state-success" : "state-up_for_retry"}`} /> {status === "open" ? "live" : "reconnecting"}
          </span>
          <button className="icon" onClick={toggleTheme} aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`} title="Theme">
            {theme === "dark" ? "☀" : "☾"}
          </button>
          <div className="user-menu">
            <button onClick={() => setOpen((o) => !o)} aria-haspopup="menu" aria-expanded={open} data-testid="user-menu">
              {me?.username ?? "…"} <span className="muted">({me?.roles.join(", ") || "no role"})</span> ▾
            </button>
            {open && (
              <div className="menu" role="menu" onMouseLeave={() => setOpen(false)}>
                <div className="muted">
                  Signed in as <strong>{me?.username}</strong>
                  <br />
                  Roles: {me?.roles.join(", ") || "none"}
                </div>
                <button role="menuitem" onClick={() => (setOpen(false), navigate("/admin/tokens"))}>
                  My API tokens
                </button>
                <button role="menuitem" onClick={() => void logout().then(() => navigate("/login"))}>
                  Log out
                </button>
              </div>
            )}
          </div>
        </header>
        <main>{children}</main>
      </div>
    </PageDagZoneProvider>
  );
}

function BrowseMenu() {
  const [open, setOpen] = useState(false);
  const active = useLocation().pathname.startsWith("/browse/");
  return (
    <div className="nav-menu" onMouseLeave={() => setOpen(false)} onKeyDown={(e) => e.key === "Escape" && setOpen(false)}>
      <button className={`nav-menu-button${active ? " active" : ""}`} onClick={() => setOpen((o) => !o)} aria-haspopup="menu" aria-expanded={open} data-testid="browse-menu">
        Browse ▾
      </button>
      {open && (
        <div className="menu" role="menu">
          {BROWSE_PAGES.map((p) => (
            <NavLink key={p.path} to={`/browse/${p.path}`} role="menuitem" onClick={() => setOpen(false)}>
              {p.label}
            </NavLink>
          ))}
        </div>
      )}
    </div>
  );
}
