/** Keeps cached API data fresh from live events: the queries an event touches are refetched. */
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { live, type LiveEvent, type LiveStatus } from "./live";

/** Query keys an event makes stale (by prefix). */
function staleKeys(e: LiveEvent): unknown[][] {
  const dag = e.dag_id;
  switch (e.type) {
    case "run-state":
      return [["dags"], ["grid", dag], ["runs", dag], ["run", dag, e.dag_run_id], ["tis", dag, e.dag_run_id], ["browse"]];
    case "ti-state":
      return [["grid", dag], ["tis", dag, e.dag_run_id], ["ti", dag, e.dag_run_id, e.task_id], ["tries", dag, e.dag_run_id, e.task_id], ["xcom", dag, e.dag_run_id, e.task_id], ["browse"]];
    case "dag-version":
    case "dag-updated":
      return [["dags"], ["dagIndex"], ["dag", dag], ["structure", dag], ["grid", dag], ["versions", dag]];
    case "import-error":
    case "import-warning":
      return [["importErrors"], ["dags"]];
    default:
      return [];
  }
}

/** Refetches at most every 150 ms per key, so a burst of events costs one request. */
export function useLiveInvalidation(): void {
  const client = useQueryClient();
  useEffect(() => {
    const pending = new Map<string, unknown[]>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = (c: QueryClient) => {
      timer = undefined;
      const keys = [...pending.values()];
      pending.clear();
      for (const queryKey of keys) void c.invalidateQueries({ queryKey });
    };
    const off = live.on((e) => {
      // Back after a disconnection: what happened meanwhile was not sent, so everything is re-read.
      if (e.type === "hello" && live.connections > 1) void client.invalidateQueries();
      for (const key of staleKeys(e)) {
        while (key.length > 0 && key[key.length - 1] === undefined) key.pop();
        pending.set(JSON.stringify(key), key);
      }
      if (pending.size > 0 && timer === undefined) timer = setTimeout(() => flush(client), 150);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [client]);
}

export function useLiveStatus(): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>(live.status);
  useEffect(() => live.onStatus(setStatus), []);
  return status;
}

export function useLiveEvents(listener: (e: LiveEvent) => void, deps: unknown[]): void {
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => live.on(listener), deps);
}
