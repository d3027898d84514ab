/** The admin pages under /admin/*, each behind the permission the nav shows it for. */
import type { ReactNode } from "react";
import { Navigate, Route, Routes } from "react-router";
import { useAuth } from "../../auth";
import { Empty, Loading } from "../../components/common";
import { ADMIN_PAGES } from "../../components/Layout";
import { AuditLog } from "./AuditLog";
import { Connections } from "./Connections";
import { Pools } from "./Pools";
import { Roles } from "./Roles";
import { Gate } from "./shared";
import { Tokens } from "./Tokens";
import { Users } from "./Users";
import { Variables } from "./Variables";
import "./admin.css";

const PAGES: Record<(typeof ADMIN_PAGES)[number]["path"], ReactNode> = {
  connections: <Connections />,
  variables: <Variables />,
  pools: <Pools />,
  users: <Users />,
  roles: <Roles />,
  tokens: <Tokens />,
  audit: <AuditLog />,
};

export function AdminRoutes() {
  return (
    <div className="admin">
      <Routes>
        <Route index element={<FirstAllowedPage />} />
        {ADMIN_PAGES.map((p) => (
          <Route key={p.path} path={p.path} element={<Gate permission={p.permission}>{PAGES[p.path]}</Gate>} />
        ))}
        <Route path="*" element={<Empty>There is no admin page here.</Empty>} />
      </Routes>
    </div>
  );
}

/** /admin itself: the first page the user's role may see (API tokens are everyone's). */
function FirstAllowedPage() {
  const { me, can } = useAuth();
  if (!me) return <Loading />;
  const first = ADMIN_PAGES.find((p) => p.permission === null || can(p.permission));
  return <Navigate to={first ? first.path : "tokens"} replace />;
}
