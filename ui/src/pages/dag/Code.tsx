import type { Selection } from "./DagPage";
export function CodeTab(_props: { dagId: string; selection: Selection }) {
  return <div className="empty">Code view: in progress</div>;
}
