/**
 * Browse: runs, task instances and XComs across every DAG the user may read (the API filters by
 * the DAGs' access before paging), with filters in the URL and pages of 100. A row leads to its
 * DAG's grid with the run or task instance selected. Times are in the zone of the top bar's switch
 * (UTC for "the DAG's zone": a list shows several DAGs).
 */
import { useQuery, type UseQueryResult } from "@tanstack/react-query";
import { Fragment, type ReactNode } from "react";
import { Link, Navigate, Route, Routes, useNavigate } from "react-router";
import { get, seg } from "../../api/client";
import type { DagRun, TaskInstance, XcomEntry } from "../../api/types";
import { Empty, JsonView, StateBadge, durationBetween, formatDuration, useOpenSet } from "../../components/common";
import { DagIdFilter, DateRangeFilter, SelectFilter, TextFilter, useDateBounds, useSearchState } from "../../components/filters";
import { Time } from "../../components/time";
import { AdminHead, ListCard } from "../admin/shared";
import { useNow } from "../dag/hooks";
import "./browse.css";

const PAGE = 100;
const RUN_STATES = ["queued", "running", "success", "failed"] as const;
const TI_STATES = ["none", "scheduled", "queued", "running", "success", "failed", "up_for_retry", "up_for_reschedule", "skipped", "upstream_failed", "deferred", "removed"] as const;

export function BrowseRoutes() {
  return (
    <Routes>
      <Route index element={<Navigate to="runs" replace />} />
      <Route path="runs" element={<RunsPage />} />
      <Route path="task-instances" element={<TaskInstancesPage />} />
      <Route path="xcoms" element={<XcomsPage />} />
      <Route path="*" element={<Empty>There is no such list. Browse has runs, task instances and XComs.</Empty>} />
    </Routes>
  );
}

const gridLink = (dagId: string, runId: string, taskId?: string) =>
  `/dags/${seg(dagId)}/grid?run=${encodeURIComponent(runId)}${taskId ? `&task=${encodeURIComponent(taskId)}` : ""}`;

/** The filters every list has: the DAG and the runs' logical dates; `children` adds the list's own. */
function useListFilters() {
  const search = useSearchState();
  const dagId = search.value("dag_id");
  const from = search.value("from");
  const to = search.value("to");
  const bounds = useDateBounds("logical_date", from, to);
  const bar = (children: ReactNode, extraFiltered: boolean) => {
    const filtered = extraFiltered || Boolean(dagId || from || to);
    return (
      <div className="toolbar browse-filters">
        <DagIdFilter value={dagId} onChange={(v) => search.set({ dag_id: v })} />
        {children}
        <DateRangeFilter from={from} to={to} onChange={(f, t) => search.set({ from: f, to: t })} />
        {filtered && (
          <button className="link" onClick={() => search.set(Object.fromEntries([...search.params.keys()].map((k) => [k, null])))}>
            Clear filters
          </button>
        )}
      </div>
    );
  };
  return { search, dagId, bounds, bar };
}

function useList<T>(key: string, path: string, query: Record<string, unknown>, offset: number) {
  const full = { ...query, limit: PAGE, offset };
  return useQuery({
    // Under ["browse"]: live events refresh these lists (api/useLive.ts).
    queryKey: ["browse", key, path, full],
    queryFn: () => get<T & { total_entries: number }>(path, full as never),
    placeholderData: (previous) => previous,
  });
}

function listState<T>(list: UseQueryResult<{ total_entries: number }>, items: T[] | undefined, offset: number, set: (c: Record<string, string | null>) => void) {
  return { list, items, offset, setOffset: (n: number) => set({ offset: String(n) }), limit: PAGE };
}

function RunsPage() {
  const { search, dagId, bounds, bar } = useListFilters();
  const state = search.value("state");
  const navigate = useNavigate();
  const runs = useList<{ dag_runs: DagRun[] }>("runs", "/dagRuns", { dag_ids: dagId ? [dagId] : undefined, state: state || undefined, ...bounds, order_by: "-logical_date" }, search.offset);
  const items = runs.data?.dag_runs;
  const now = useNow((items ?? []).some((r) => r.state === "running" || r.state === "queued"));
  return (
    <div>
      <AdminHead title="Runs" count={runs.data?.total_entries} />
      {bar(<SelectFilter label="State" value={state} options={RUN_STATES} onChange={(v) => search.set({ state: v })} />, Boolean(state))}
      <ListCard state={listState(runs, items, search.offset, search.set)} noun="runs" empty="No run matches.">
        <div className="table-scroll">
          <table className="table browse-table" data-testid="browse-runs">
            <thead>
              <tr>
                <th>State</th>
                <th>DAG</th>
                <th>Run id</th>
                <th>Type</th>
                <th>Logical date</th>
                <th>Started</th>
                <th>Ended</th>
                <th>Duration</th>
              </tr>
            </thead>
            <tbody>
              {items?.map((r) => (
                <tr key={`${r.dag_id}/${r.dag_run_id}`} className="clickable" data-dag-id={r.dag_id} onClick={() => navigate(gridLink(r.dag_id, r.dag_run_id))}>
                  <td>
                    <StateBadge state={r.state} />
                  </td>
                  <td className="mono">{r.dag_id}</td>
                  <td className="mono clip" title={r.dag_run_id}>
                    <Link to={gridLink(r.dag_id, r.dag_run_id)} onClick={(e) => e.stopPropagation()}>
                      {r.dag_run_id}
                    </Link>
                  </td>
                  <td>{r.run_type}</td>
                  <td className="nowrap">
                    <Time iso={r.logical_date} />
                  </td>
                  <td className="nowrap">
                    <Time iso={r.start_date} />
                  </td>
                  <td className="nowrap">
                    <Time iso={r.end_date} />
                  </td>
                  <td className="nowrap">{formatDuration(durationBetween(r.start_date, r.end_date, now))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </ListCard>
    </div>
  );
}

function TaskInstancesPage() {
  const { search, dagId, bounds, bar } = useListFilters();
  const state = search.value("state");
  const taskId = search.value("task_id");
  const navigate = useNavigate();
  const query = { dag_ids: dagId ? [dagId] : undefined, task_ids: taskId ? [taskId] : undefined, state: state || undefined, ...bounds, order_by: "-id" };
  const tis = useList<{ task_instances: TaskInstance[] }>("tis", "/taskInstances", query, search.offset);
  const items = tis.data?.task_instances;
  const now = useNow((items ?? []).some((t) => t.state === "running"));
  return (
    <div>
      <AdminHead title="Task instances" count={tis.data?.total_entries} />
      {bar(
        <>
          <TextFilter label="Task id" placeholder="any task" value={taskId} onChange={(v) => search.set({ task_id: v })} />
          <SelectFilter label="State" value={state} options={TI_STATES} onChange={(v) => search.set({ state: v })} />
        </>,
        Boolean(state || taskId),
      )}
      <ListCard state={listState(tis, items, search.offset, search.set)} noun="task instances" empty="No task instance matches.">
        <div className="table-scroll">
          <table className="table browse-table" data-testid="browse-tis">
            <thead>
              <tr>
                <th>State</th>
                <th>DAG</th>
                <th>Task</th>
                <th>Run id</th>
                <th>Try</th>
                <th>Logical date</th>
                <th>Started</th>
                <th>Duration</th>
                <th>Operator</th>
              </tr>
            </thead>
            <tbody>
              {items?.map((t) => (
                <tr key={`${t.dag_id}/${t.dag_run_id}/${t.task_id}`} className="clickable" data-dag-id={t.dag_id} onClick={() => navigate(gridLink(t.dag_id, t.dag_run_id, t.task_id))}>
                  <td>
                    <StateBadge state={t.state} />
                  </td>
                  <td className="mono">{t.dag_id}</td>
                  <td className="mono clip" title={t.task_id}>
                    <Link to={gridLink(t.dag_id, t.dag_run_id, t.task_id)} onClick={(e) => e.stopPropagation()}>
                      {t.task_id}
                    </Link>
                  </td>
                  <td className="mono clip" title={t.dag_run_id}>
                    {t.dag_run_id}
                  </td>
                  <td className="nowrap">
                    {t.try_number} / {t.max_tries}
                  </td>
                  <td className="nowrap">
                    <Time iso={t.logical_date} />
                  </td>
                  <td className="nowrap">
                    <Time iso={t.start_date} />
                  </td>
                  <td className="nowrap">{formatDuration(t.duration_ms ?? durationBetween(t.start_date, t.end_date, now))}</td>
                  <td>{t.operator}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </ListCard>
    </div>
  );
}

/** A value as one line of JSON, cut short: the whole value opens below the row. */
const preview = (value: unknown) => {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
};

function XcomsPage() {
  const { search, dagId, bounds, bar } = useListFilters();
  const key = search.value("key");
  const taskId = search.value("task_id");
  const [open, toggle] = useOpenSet<string>();
  // The Airflow way: "~" for every DAG, run and task; a DAG filter names the DAG in the path.
  const path = `/dags/${dagId ? seg(dagId) : "~"}/dagRuns/~/taskInstances/${taskId ? seg(taskId) : "~"}/xcomEntries`;
  const xcoms = useList<{ xcom_entries: XcomEntry[] }>("xcoms", path, { xcom_key: key || undefined, ...bounds, order_by: "-timestamp" }, search.offset);
  const items = xcoms.data?.xcom_entries;
  return (
    <div>
      <AdminHead title="XComs" count={xcoms.data?.total_entries} />
      {bar(
        <>
          <TextFilter label="Task id" placeholder="any task" value={taskId} onChange={(v) => search.set({ task_id: v })} />
          <TextFilter label="XCom key" placeholder="any key" value={key} onChange={(v) => search.set({ key: v })} />
        </>,
        Boolean(key || taskId),
      )}
      <ListCard state={listState(xcoms, items, search.offset, search.set)} noun="XComs" empty="No XCom matches.">
        <div className="table-scroll">
          <table className="table browse-table" data-testid="browse-xcoms">
            <thead>
              <tr>
                <th style={{ width: 28 }}></th>
                <th>DAG</th>
                <th>Run id</th>
                <th>Task</th>
                <th>Key</th>
                <th>Value</th>
                <th>Written</th>
              </tr>
            </thead>
            <tbody>
              {items?.map((x) => {
                const id = `${x.dag_id}/${x.dag_run_id}/${x.task_id}/${x.key}`;
                const expanded = open.has(id);
                return (
                  <Fragment key={id}>
                    <tr data-dag-id={x.dag_id}>
                      <td>
                        <button className="icon expand" onClick={() => toggle(id)} aria-expanded={expanded} aria-label={expanded ? "Hide the value" : "Show the value"}>
                          {expanded ? "▾" : "▸"}
                        </button>
                      </td>
                      <td className="mono">{x.dag_id}</td>
                      <td className="mono clip" title={x.dag_run_id}>
                        <Link to={gridLink(x.dag_id, x.dag_run_id)}>{x.dag_run_id}</Link>
                      </td>
                      <td className="mono clip" title={x.task_id}>
                        <Link to={gridLink(x.dag_id, x.dag_run_id, x.task_id)}>{x.task_id}</Link>
                      </td>
                      <td className="mono">{x.key}</td>
                      <td className="value">
                        <code>{preview(x.value)}</code>
                      </td>
                      <td className="nowrap">
                        <Time iso={x.timestamp} />
                      </td>
                    </tr>
                    {expanded && (
                      <tr className="details-row">
                        <td></td>
                        <td colSpan={6}>
                          <JsonView value={x.value} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      </ListCard>
    </div>
  );
}
