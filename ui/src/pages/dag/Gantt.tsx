import type { Selection } from "./DagPage";
export function GanttTab(_props: { dagId: string; selection: Selection }) {
  return <div className="empty">Gantt: in progress</div>;
}
