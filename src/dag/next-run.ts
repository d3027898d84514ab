/** When a DAG's next scheduled run is due: the timetable, bounded by the DAG's dates. */
import { restoreTimetable, type DagRunInfo, type DataInterval } from "../timetable/index.js";
import type { SerializedDag } from "./model.js";

/**
 * The next scheduled run after `last` (the data interval of the DAG's latest scheduled run).
 * Without a startDate, a catchup DAG reaches back no further than when Updraft first saw it.
 */
export function nextScheduledRun(dag: SerializedDag, last: DataInterval | null, firstSeenAt: number, now: number): DagRunInfo | null {
  if (dag.schedule === null) return null;
  const timetable = restoreTimetable(dag.schedule, dag.timezone);
  const startDate = dag.startDate ?? (dag.catchup ? firstSeenAt : null);
  return timetable.nextRun(last, { startDate, endDate: dag.endDate, catchup: dag.catchup }, now);
}
