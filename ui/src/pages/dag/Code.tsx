/**
 * The DAG's source file as stored with each version, highlighted by Prism. Tokens are rendered as
 * React text nodes, so nothing in the file is ever interpreted as HTML.
 */
import { Highlight, themes } from "prism-react-renderer";
import { useState } from "react";
import type { DagVersion } from "../../api/types";
import { ErrorBox, Loading } from "../../components/common";
import { useFormatTime } from "../../components/time";
import type { Selection } from "./DagPage";
import { useAppTheme, useDagSource, useRun, useVersions } from "./hooks";
import "./tabs.css";

export function CodeTab({ dagId, selection }: { dagId: string; selection: Selection }) {
  const versions = useVersions(dagId);
  const run = useRun(dagId, selection.runId);
  const [picked, setPicked] = useState<number | null>(null);
  const list = versions.data?.versions ?? [];
  const latest = list[0]?.version_number ?? null;
  const runVersion = run.data?.dag_version ?? null;
  const waitingForRun = selection.runId !== null && run.isLoading;
  const shown = picked ?? runVersion ?? latest;
  const source = useDagSource(dagId, waitingForRun ? null : shown);
  const format = useFormatTime();

  if (versions.isLoading || waitingForRun) return <Loading what="the versions" />;
  if (versions.error) return <ErrorBox error={versions.error} title="Could not load the DAG's versions" />;
  if (list.length === 0) return <div className="empty">This DAG has no stored version yet.</div>;

  return (
    <div className="card code-card">
      <div className="toolbar tab-toolbar">
        <label className="run-picker">
          <span className="muted">Version</span>
          <select value={shown ?? ""} onChange={(e) => setPicked(Number(e.target.value))} aria-label="Version">
            {shown !== null && !list.some((v) => v.version_number === shown) && <option value={shown}>v{shown}</option>}
            {list.map((v) => (
              <option key={v.version_number} value={v.version_number}>
                {versionLabel(v, latest, runVersion, format)}
              </option>
            ))}
          </select>
        </label>
        {source.data && (
          <span className="mono muted code-file" title={source.data.fileloc}>
            {source.data.fileloc}
          </span>
        )}
        <span className="grow" />
        {source.data && <span className="muted">{lineCount(source.data.content)} lines</span>}
      </div>
      <ErrorBox error={source.error} title="Could not load the source" />
      {source.isLoading ? <Loading what="the source" /> : source.data && <SourceView code={source.data.content} />}
    </div>
  );
}

function versionLabel(v: DagVersion, latest: number | null, runVersion: number | null, format: (iso: string) => string): string {
  const notes = [v.version_number === latest ? "latest" : null, v.version_number === runVersion ? "this run's" : null].filter(Boolean);
  return `v${v.version_number} · ${format(v.created_at)}${notes.length ? ` (${notes.join(", ")})` : ""}`;
}

const lineCount = (code: string) => code.replace(/\n$/, "").split("\n").length;

function SourceView({ code }: { code: string }) {
  const theme = useAppTheme();
  return (
    <Highlight theme={theme === "dark" ? themes.vsDark : themes.github} code={code.replace(/\n$/, "")} language="tsx">
      {({ className, style, tokens, getLineProps, getTokenProps }) => (
        <pre className={`code-view ${className}`} style={style} data-testid="source">
          {tokens.map((line, i) => (
            <div key={i} {...getLineProps({ line })}>
              <span className="code-ln" aria-hidden="true">
                {i + 1}
              </span>
              <span className="code-line">
                {line.map((token, j) => (
                  <span key={j} {...getTokenProps({ token })} />
                ))}
              </span>
            </div>
          ))}
        </pre>
      )}
    </Highlight>
  );
}
