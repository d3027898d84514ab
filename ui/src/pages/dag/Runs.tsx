import type { Selection } from "./DagPage";
export function RunsTab(_props: { dagId: string; selection: Selection }) {
  return <div className="empty">Runs: in progress</div>;
}
