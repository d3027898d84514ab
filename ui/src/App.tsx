import { lazy, Suspense } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useLiveInvalidation } from "./api/useLive";
import { useAuth } from "./auth";
import { Layout } from "./components/Layout";
import { AdminRoutes } from "./pages/admin/AdminRoutes";
import { Loading } from "./components/common";
import { DagList } from "./pages/DagList";
import { DagPage } from "./pages/dag/DagPage";
import { Login } from "./pages/Login";

// The lists across DAGs load when first opened.
const BrowseRoutes = lazy(() => import("./pages/browse/Browse").then((m) => ({ default: m.BrowseRoutes })));

export function App() {
  const { signedIn } = useAuth();
  const location = useLocation();
  useLiveInvalidation();
  if (!signedIn) {
    if (location.pathname === "/login") return <Login />;
    const next = location.pathname + location.search;
    return <Navigate to={`/login${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`} replace />;
  }
  return (
    <Layout>
      <Routes>
        <Route path="/" element={<Navigate to="/dags" replace />} />
        <Route path="/login" element={<Navigate to="/dags" replace />} />
        <Route path="/dags" element={<DagList />} />
        <Route path="/dags/:dagId" element={<DagPage />} />
        <Route path="/dags/:dagId/:tab" element={<DagPage />} />
        <Route
          path="/browse/*"
          element={
            <Suspense fallback={<Loading />}>
              <BrowseRoutes />
            </Suspense>
          }
        />
        <Route path="/admin/*" element={<AdminRoutes />} />
        <Route path="*" element={<div className="empty">There is no page here. <a href="/dags">Back to the DAGs</a></div>} />
      </Routes>
    </Layout>
  );
}
