import type { Selection } from "./DagPage";
export function GraphTab(_props: { dagId: string; selection: Selection }) {
  return <div className="empty">Graph: in progress</div>;
}
