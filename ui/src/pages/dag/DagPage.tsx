import { lazy, Suspense, useState } from "react";
import { NavLink, useNavigate, useParams, useSearchParams } from "react-router";
import { del, seg } from "../../api/client";
import { Confirm, ErrorBox, Loading } from "../../components/common";
import { PauseSwitch, scheduleInWords } from "../DagList";
import { GridTab } from "./Grid";
import { useDag } from "./hooks";
import { RunPanel } from "./RunPanel";
import { RunsTab } from "./Runs";
import { TaskPanel } from "./TaskPanel";
import { Trigger } from "./Trigger";

// The graph library, the Markdown renderer and the highlighter load when their tab is first opened.
const GraphTab = lazy(() => import("./Graph").then((m) => ({ default: m.GraphTab })));
const GanttTab = lazy(() => import("./Gantt").then((m) => ({ default: m.GanttTab })));
const DetailsTab = lazy(() => import("./Details").then((m) => ({ default: m.DetailsTab })));
const CodeTab = lazy(() => import("./Code").then((m) => ({ default: m.CodeTab })));

const TABS = [
  ["grid", "Grid"],
  ["graph", "Graph"],
  ["gantt", "Gantt"],
  ["runs", "Runs"],
  ["details", "Details"],
  ["code", "Code"],
] as const;

export type Tab = (typeof TABS)[number][0];

/** What is selected on a DAG's page lives in the URL: ?run=<dag_run_id>&task=<task_id>. */
export interface Selection {
  runId: string | null;
  taskId: string | null;
  select(runId: string | null, taskId?: string | null): void;
}

export function DagPage() {
  const { dagId = "", tab = "grid" } = useParams();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const dag = useDag(dagId);
  const [trigger, setTrigger] = useState(false);
  const [deleting, setDeleting] = useState(false);

  const selection: Selection = {
    runId: params.get("run"),
    taskId: params.get("task"),
    select(runId, taskId = null) {
      const next = new URLSearchParams(params);
      if (runId) next.set("run", runId);
      else next.delete("run");
      if (taskId) next.set("task", taskId);
      else next.delete("task");
      setParams(next, { replace: true });
    },
  };

  if (dag.isLoading) return <Loading what="the DAG" />;
  if (!dag.data) return <ErrorBox error={dag.error ?? new Error("no such DAG")} title={`Could not load DAG ${dagId}`} />;
  const d = dag.data;
  const current = (TABS.find(([key]) => key === tab)?.[0] ?? "grid") as Tab;
  const keep = params.toString() ? `?${params.toString()}` : "";

  return (
    <div>
      <div className="page-head">
        <PauseSwitch dag={d} />
        <h1 className="mono">{d.dag_id}</h1>
        {d.tags.map((t) => (
          <span key={t} className="tag">
            {t}
          </span>
        ))}
        <span className="muted">{scheduleInWords(d)}</span>
        <span className="grow" />
        {d.my_access.trigger && (
          <button className="primary" onClick={() => setTrigger(true)} data-testid="trigger">
            ▶ Trigger
          </button>
        )}
        {d.my_access.delete && (
          <button className="danger" onClick={() => setDeleting(true)}>
            Delete
          </button>
        )}
      </div>
      {d.description && <p className="muted" style={{ marginTop: -8 }}>{d.description}</p>}
      <nav className="tabs">
        {TABS.map(([key, label]) => (
          <NavLink key={key} to={`/dags/${seg(d.dag_id)}/${key}${keep}`} className={key === current ? "active" : ""}>
            {label}
          </NavLink>
        ))}
      </nav>
      <div className="split">
        <div className="main">
          <Suspense fallback={<Loading />}>
            {current === "grid" && <GridTab dagId={d.dag_id} selection={selection} />}
            {current === "graph" && <GraphTab dagId={d.dag_id} selection={selection} />}
            {current === "gantt" && <GanttTab dagId={d.dag_id} selection={selection} />}
            {current === "runs" && <RunsTab dagId={d.dag_id} selection={selection} />}
            {current === "details" && <DetailsTab dag={d} />}
            {current === "code" && <CodeTab dagId={d.dag_id} selection={selection} />}
          </Suspense>
        </div>
        {current !== "details" && current !== "code" && selection.runId && (
          <aside className="card side-panel" data-testid="side-panel">
            {selection.taskId ? (
              <TaskPanel key={`${selection.runId}/${selection.taskId}`} dagId={d.dag_id} selection={selection} />
            ) : (
              <RunPanel key={selection.runId} dagId={d.dag_id} selection={selection} />
            )}
          </aside>
        )}
      </div>
      {trigger && <Trigger dagId={d.dag_id} onClose={() => setTrigger(false)} onTriggered={(runId) => selection.select(runId)} />}
      {deleting && (
        <Confirm
          title={`Delete ${d.dag_id}?`}
          confirmLabel="Delete the DAG and its history"
          danger
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await del(`/dags/${seg(d.dag_id)}`);
            navigate("/dags");
          }}
        >
          <p>
            Every run, task instance, log and XCom of <strong className="mono">{d.dag_id}</strong> is deleted. If its file is still in the DAGs folder, the DAG comes back on the next
            scan, without history.
          </p>
        </Confirm>
      )}
    </div>
  );
}
