/** DagDefinition (live, from an import) → SerializedDag (JSON, stored in a DAG version). */
import { UpdraftError } from "../errors/index.js";
import type { DagDefinition } from "../sdk/definition.js";
import { createTimetable, parseDate } from "../timetable/index.js";
import { effectiveWeights, topologicalOrder } from "./graph.js";
import { SERIALIZED_FORMAT, type SerializedDag } from "./model.js";

export function serializeDag(definition: DagDefinition, fileloc: string): SerializedDag {
  const o = definition.options;
  const timetable = createTimetable(o.schedule as never, o.timezone);
  const date = (value: string | number | null, what: string): number | null => {
    if (value === null) return null;
    try {
      return parseDate(value, timetable.timezone);
    } catch (error) {
      throw new UpdraftError("UPDRAFT_E_INVALID_DATE", `DAG '${definition.dagId}': ${what} ${JSON.stringify(value)} is not a date`, {
        hint: 'write "2026-01-01", "2026-01-01T03:00" (read in the DAG\'s timezone) or an ISO date with an offset',
        cause: error,
      });
    }
  };
  const ordered = topologicalOrder([...definition.tasks.values()]);
  const weights = effectiveWeights(
    ordered.map((t) => ({ taskId: t.taskId, upstream: [...t.upstream], priorityWeight: t.options.priorityWeight, weightRule: t.options.weightRule })),
  );
  return {
    format: SERIALIZED_FORMAT,
    dagId: definition.dagId,
    fileloc,
    schedule: timetable.normalized,
    scheduleDescription: timetable.describe(),
    timezone: timetable.timezone,
    startDate: date(o.startDate, "startDate"),
    endDate: date(o.endDate, "endDate"),
    catchup: o.catchup,
    maxActiveRuns: o.maxActiveRuns,
    maxActiveTasks: o.maxActiveTasks,
    params: o.params,
    tags: o.tags,
    description: o.description,
    docMd: o.docMd,
    owner: o.owner,
    access: o.access,
    tasks: ordered.map((t) => ({
      taskId: t.taskId,
      kind: t.kind,
      group: t.group,
      upstream: [...t.upstream].sort(),
      dataUpstream: [...t.dataUpstream].sort(),
      options: t.options,
      weight: weights.get(t.taskId)!,
      display: t.display,
    })),
    groups: [...definition.groups.values()].map((g) => ({ groupId: g.groupId, parent: g.parent })),
  };
}
