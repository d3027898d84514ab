/**
 * A try's log: read over REST page by page when the try is over, followed over the WebSocket while
 * it runs (every line from the start, then each new one). It opens full screen, and downloads as a
 * text file with every line of the try (all pages, through the continuation token).
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { get } from "../../api/client";
import { live } from "../../api/live";
import type { LogLine, LogPage } from "../../api/types";
import { ErrorBox, Modal } from "../../components/common";
import { formatTime, offsetLabel, useTimeZone } from "../../components/time";
import { tiPath } from "./hooks";

const PAGE = 1000;
/** The panel shows at most this many pages; the download has every line. */
const SHOWN_PAGES = 100;

interface TryRef {
  dagId: string;
  runId: string;
  taskId: string;
  tryNumber: number;
}

/** The try's lines from the start, page after page until a page is not full (or `maxPages`). */
export async function readLog(t: TryRef, options: { maxPages?: number; stopped?: () => boolean } = {}): Promise<{ lines: LogLine[]; complete: boolean }> {
  const lines: LogLine[] = [];
  let token: string | null = null;
  for (let page = 0; page < (options.maxPages ?? Infinity); page++) {
    if (options.stopped?.()) break;
    const res: LogPage = await get<LogPage>(`${tiPath(t.dagId, t.runId, t.taskId)}/logs/${t.tryNumber}`, { continuation_token: token ?? undefined, limit: PAGE });
    lines.push(...res.lines);
    token = res.continuation_token ?? token;
    if (res.lines.length < PAGE) return { lines, complete: true };
  }
  return { lines, complete: false };
}

/** As `updraft tasks logs` prints it: the time in UTC, the level (or stream), the message. */
export function logText(lines: LogLine[]): string {
  return lines.map((l) => `${l.ts} ${l.stream === "log" ? l.level.toUpperCase() : l.stream} ${l.message}\n`).join("");
}

const safe = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120);

function saveText(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function TryLog({ dagId, runId, taskId, tryNumber, running }: TryRef & { running: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [cut, setCut] = useState(false);
  const [full, setFull] = useState(false);
  const [saving, setSaving] = useState(false);
  const zone = useTimeZone();

  useEffect(() => {
    if (!running) return;
    const off = live.on((e) => {
      // The server answers a subscription (also the one re-sent after a reconnect) with "subscribed"
      // and then every line from the start: what was shown before is replaced, not added to.
      if (e.type === "subscribed" && e.dag_id === dagId && e.dag_run_id === runId && e.task_id === taskId) setLines([]);
      if (e.type === "log" && e.dag_id === dagId && e.dag_run_id === runId && e.task_id === taskId && e.try_number === tryNumber && e.lines) {
        const more = e.lines;
        setLines((old) => [...old, ...more]);
      }
    });
    const unsubscribe = live.subscribeLogs({ dag_id: dagId, dag_run_id: runId, task_id: taskId, try_number: tryNumber, from_start: true });
    return () => {
      off();
      unsubscribe();
    };
  }, [dagId, runId, taskId, tryNumber, running]);

  useEffect(() => {
    if (running) return;
    let stop = false;
    readLog({ dagId, runId, taskId, tryNumber }, { maxPages: SHOWN_PAGES, stopped: () => stop }).then(
      (result) => {
        if (stop) return;
        setLines(result.lines);
        setCut(!result.complete);
        setDone(true);
      },
      (e: unknown) => !stop && setError(e),
    );
    return () => {
      stop = true;
    };
  }, [dagId, runId, taskId, tryNumber, running]);

  async function download() {
    setSaving(true);
    setError(null);
    try {
      const all = await readLog({ dagId, runId, taskId, tryNumber });
      saveText(`${safe(dagId)}__${safe(runId)}__${safe(taskId)}__try-${tryNumber}.log`, logText(all.lines));
    } catch (e) {
      setError(e);
    } finally {
      setSaving(false);
    }
  }

  const empty = running ? "Waiting for log lines…" : done ? "No log lines." : "Loading…";
  const tools = (
    <>
      <button onClick={() => void download()} disabled={saving} data-testid="log-download" title="Every line of this try, as a text file (times in UTC)">
        {saving ? "Downloading…" : "⤓ Download"}
      </button>
      <span className="muted small">times {lines[0] ? offsetLabel(Date.parse(lines[0].ts), zone) : zone}</span>
    </>
  );

  return (
    <>
      <div className="toolbar log-tools">
        <button onClick={() => setFull(true)} data-testid="log-full-screen" title="Show the log full screen">
          ⤢ Full screen
        </button>
        {tools}
      </div>
      <ErrorBox error={error} title="Could not load the log" />
      <LogLines lines={lines} zone={zone} empty={empty} testId="log" />
      {cut && <div className="muted small">The first {lines.length.toLocaleString("en-US")} lines are shown; the download has them all.</div>}
      {running && <div className="muted small" style={{ marginTop: 4 }}>Following the log live.</div>}
      {full && (
        <Modal title={`${taskId} · try ${tryNumber} · ${runId}`} onClose={() => setFull(false)} full>
          <div className="toolbar log-tools">
            {tools}
            {running && <span className="muted small">Following the log live.</span>}
          </div>
          <LogLines lines={lines} zone={zone} empty={empty} testId="log-full" />
        </Modal>
      )}
    </>
  );
}

/** The lines, kept scrolled to the end while the reader is at the end. */
function LogLines({ lines, zone, empty, testId }: { lines: LogLine[]; zone: string; empty: string; testId: string }) {
  const box = useRef<HTMLPreElement>(null);
  const follow = useRef(true);

  useEffect(() => {
    const el = box.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const rendered = useMemo(
    () =>
      lines.map((l, i) => (
        <div key={i} className={`line stream-${l.stream} level-${l.level}`}>
          <span className="ts" title={l.ts}>
            {formatTime(l.ts, zone, { date: false, ms: true, zone: false })}
          </span>
          <span>{l.message}</span>
        </div>
      )),
    [lines, zone],
  );

  return (
    <pre
      className="log"
      ref={box}
      data-testid={testId}
      onScroll={(e) => {
        const el = e.currentTarget;
        follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 30;
      }}
    >
      {rendered}
      {lines.length === 0 && <div className="line muted">{empty}</div>}
    </pre>
  );
}
