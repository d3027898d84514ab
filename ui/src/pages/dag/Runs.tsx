/** The DAG's runs as a filterable, paginated list; a click opens the run in the side panel. */
import { useState } from "react";
import type { DagRun } from "../../api/types";
import { ErrorBox, Loading, Pager, StateBadge, durationBetween, formatDuration } from "../../components/common";
import { DateRangeFilter, SelectFilter, useDateBounds } from "../../components/filters";
import { Time } from "../../components/time";
import type { Selection } from "./DagPage";
import { useNow, useRuns, type RunFilters } from "./hooks";
import "./tabs.css";

const PAGE = 25;
const RUN_STATES = ["queued", "running", "success", "failed"];
const RUN_TYPES = ["scheduled", "manual", "backfill", "test"];

export function RunsTab({ dagId, selection }: { dagId: string; selection: Selection }) {
  const [state, setState] = useState("");
  const [runType, setRunType] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [offset, setOffset] = useState(0);

  const filters: RunFilters = { state: state || undefined, run_type: runType || undefined, ...useDateBounds("logical_date", from, to) };
  const runs = useRuns(dagId, filters, PAGE, offset);
  const list = runs.data?.dag_runs ?? [];
  const now = useNow(list.some((r) => r.state === "running" || r.state === "queued"));
  const filtered = Boolean(state || runType || from || to);

  // Every filter change starts again at the first page.
  const change = (set: (v: string) => void) => (value: string) => {
    set(value);
    setOffset(0);
  };

  return (
    <div className="card runs-card">
      <div className="toolbar tab-toolbar runs-filters">
        <SelectFilter label="State" value={state} options={RUN_STATES} onChange={change(setState)} />
        <SelectFilter label="Type" value={runType} options={RUN_TYPES} onChange={change(setRunType)} />
        <DateRangeFilter
          from={from}
          to={to}
          onChange={(f, t) => {
            setFrom(f);
            setTo(t);
            setOffset(0);
          }}
        />
        {filtered && (
          <button
            className="link"
            onClick={() => {
              setState("");
              setRunType("");
              setFrom("");
              setTo("");
              setOffset(0);
            }}
          >
            Clear filters
          </button>
        )}
        <span className="grow" />
        {runs.data && (
          <span className="muted">
            {runs.data.total_entries === 1 ? "1 run" : `${runs.data.total_entries} runs`}
            {runs.isFetching ? " …" : ""}
          </span>
        )}
      </div>
      <ErrorBox error={runs.error} title="Could not load the runs" />
      {runs.isLoading ? (
        <Loading what="the runs" />
      ) : list.length === 0 ? (
        <div className="empty">{filtered ? "No run matches these filters." : "No runs yet."}</div>
      ) : (
        <div className="table-scroll">
          <table className="table runs-table" data-testid="runs">
            <thead>
              <tr>
                <th>State</th>
                <th>Run id</th>
                <th>Type</th>
                <th>Logical date</th>
                <th className="when">Started</th>
                <th className="when">Ended</th>
                <th>Duration</th>
                <th>Version</th>
                <th>Note</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <RunRow key={r.dag_run_id} run={r} now={now} selected={selection.runId === r.dag_run_id} onSelect={() => selection.select(r.dag_run_id)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {runs.data && <Pager total={runs.data.total_entries} limit={PAGE} offset={offset} onOffset={setOffset} />}
    </div>
  );
}

function RunRow({ run, now, selected, onSelect }: { run: DagRun; now: number; selected: boolean; onSelect(): void }) {
  return (
    <tr className={`clickable${selected ? " selected" : ""}`} onClick={onSelect}>
      <td>
        <StateBadge state={run.state} />
      </td>
      <td className="run-id">
        <button
          className="link mono"
          title={run.dag_run_id}
          onClick={(e) => {
            e.stopPropagation();
            onSelect();
          }}
        >
          {run.dag_run_id}
        </button>
      </td>
      <td>{run.run_type}</td>
      <td className="nowrap">
        <Time iso={run.logical_date} />
      </td>
      <td className="nowrap when">
        <Time iso={run.start_date} />
      </td>
      <td className="nowrap when">
        <Time iso={run.end_date} />
      </td>
      <td className="nowrap">{formatDuration(durationBetween(run.start_date, run.end_date, now))}</td>
      <td>{run.dag_version !== null ? `v${run.dag_version}` : "—"}</td>
      <td className="note" title={run.note ?? undefined}>
        {run.note ?? <span className="muted">—</span>}
      </td>
    </tr>
  );
}
