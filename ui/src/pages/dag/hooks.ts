/** Queries of one DAG's data, keyed so live events refresh them (see api/useLive.ts). */
import { useQuery } from "@tanstack/react-query";
import { get, seg } from "../../api/client";
import type { DagDetail, DagRun, Grid, Structure, TaskInstance } from "../../api/types";

export const runPath = (dagId: string, runId: string) => `/dags/${seg(dagId)}/dagRuns/${seg(runId)}`;
export const tiPath = (dagId: string, runId: string, taskId: string) => `${runPath(dagId, runId)}/taskInstances/${seg(taskId)}`;

export function useDag(dagId: string) {
  return useQuery({ queryKey: ["dag", dagId], queryFn: () => get<DagDetail>(`/dags/${seg(dagId)}`) });
}

export function useStructure(dagId: string, version?: number | null) {
  return useQuery({
    queryKey: ["structure", dagId, version ?? "latest"],
    queryFn: () => get<Structure>(`/dags/${seg(dagId)}/structure`, { version: version ?? undefined }),
  });
}

export function useGrid(dagId: string, limit = 25, filters: { run_type?: string; state?: string } = {}) {
  return useQuery({
    queryKey: ["grid", dagId, limit, filters],
    queryFn: () => get<Grid>(`/dags/${seg(dagId)}/grid`, { limit, ...filters }),
    placeholderData: (previous) => previous,
  });
}

export function useRun(dagId: string, runId: string | null) {
  return useQuery({ queryKey: ["run", dagId, runId], queryFn: () => get<DagRun>(runPath(dagId, runId!)), enabled: runId !== null });
}

export function useRunTis(dagId: string, runId: string | null) {
  return useQuery({
    queryKey: ["tis", dagId, runId],
    queryFn: () => get<{ task_instances: TaskInstance[]; total_entries: number }>(`${runPath(dagId, runId!)}/taskInstances`, { limit: 1000 }),
    enabled: runId !== null,
  });
}
