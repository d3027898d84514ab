export function AdminRoutes() {
  return <div className="empty">Admin pages: in progress</div>;
}
