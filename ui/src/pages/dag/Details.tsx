import type { DagDetail } from "../../api/types";
export function DetailsTab(_props: { dag: DagDetail }) {
  return <div className="empty">Details: in progress</div>;
}
