/** Queries of one DAG's data, keyed so live events refresh them (see api/useLive.ts). */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState, useSyncExternalStore } from "react";
import { get, seg } from "../../api/client";
import type { DagDetail, DagRun, DagVersion, Grid, Structure, StructureTask, TaskInstance } from "../../api/types";

export const runPath = (dagId: string, runId: string) => `/dags/${seg(dagId)}/dagRuns/${seg(runId)}`;
export const tiPath = (dagId: string, runId: string, taskId: string) => `${runPath(dagId, runId)}/taskInstances/${seg(taskId)}`;

export function useDag(dagId: string, enabled = true) {
  return useQuery({ queryKey: ["dag", dagId], queryFn: () => get<DagDetail>(`/dags/${seg(dagId)}`), enabled });
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
    // Every task instance of the run, page by page (a page holds at most 1,000).
    queryFn: async () => {
      const all: TaskInstance[] = [];
      for (;;) {
        const page = await get<{ task_instances: TaskInstance[]; total_entries: number }>(`${runPath(dagId, runId!)}/taskInstances`, { limit: 1000, offset: all.length });
        all.push(...page.task_instances);
        if (page.task_instances.length === 0 || all.length >= page.total_entries) return { task_instances: all, total_entries: page.total_entries };
      }
    },
    enabled: runId !== null,
  });
}

// ── Graph, Gantt, Runs, Details and Code tabs ──────────────────────────────────────────────────

/** The run a view shows: the selected one, else the newest; `runs` are the recent ones for a picker. */
export function useShownRun(dagId: string, selectedRunId: string | null) {
  const recent = useGrid(dagId);
  const runs = recent.data?.runs ?? [];
  const runId = selectedRunId ?? runs[0]?.dag_run_id ?? null;
  return { runId, runs, isLoading: recent.isLoading, error: recent.error };
}

/** The current time, ticking every `everyMs` while `active`. */
export function useNow(active: boolean, everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const tick = () => setNow(Date.now());
    const first = setTimeout(tick, 0);
    const timer = setInterval(tick, everyMs);
    return () => {
      clearTimeout(first);
      clearInterval(timer);
    };
  }, [active, everyMs]);
  return now;
}

const subscribeToTheme = (onChange: () => void) => {
  const observer = new MutationObserver(onChange);
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
  return () => observer.disconnect();
};

/** The app's theme, following the theme switch (it sets <html data-theme>). */
export function useAppTheme(): "light" | "dark" {
  return useSyncExternalStore(subscribeToTheme, () => (document.documentElement.dataset.theme === "dark" ? "dark" : "light"));
}

export function useVersions(dagId: string) {
  return useQuery({
    queryKey: ["versions", dagId],
    queryFn: () => get<{ versions: DagVersion[]; total_entries: number }>(`/dags/${seg(dagId)}/versions`, { limit: 1000 }),
  });
}

/** The tasks of the DAG's latest version (under the "structure" key: a new version refreshes them). */
export function useDagTasks(dagId: string) {
  return useQuery({
    queryKey: ["structure", dagId, "tasks"],
    queryFn: () => get<{ tasks: StructureTask[]; total_entries: number }>(`/dags/${seg(dagId)}/tasks`),
  });
}

export interface DagSource {
  dag_id: string;
  version_number: number;
  fileloc: string;
  content: string;
}

/** A version's source never changes once stored. */
export function useDagSource(dagId: string, version: number | null) {
  return useQuery({
    queryKey: ["source", dagId, version],
    queryFn: () => get<DagSource>(`/dags/${seg(dagId)}/source`, { version: version ?? undefined }),
    enabled: version !== null,
    staleTime: Infinity,
  });
}

export interface RunFilters {
  state?: string;
  run_type?: string;
  logical_date_gte?: string;
  logical_date_lte?: string;
}

export function useRuns(dagId: string, filters: RunFilters, limit: number, offset: number) {
  return useQuery({
    queryKey: ["runs", dagId, filters, limit, offset],
    queryFn: () => get<{ dag_runs: DagRun[]; total_entries: number }>(`/dags/${seg(dagId)}/dagRuns`, { ...filters, limit, offset }),
    placeholderData: (previous) => previous,
  });
}
