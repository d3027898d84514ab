/** A schedule as DAG authors write it: a cron expression or preset, `{ every: "15m" }`, or null (manual only). */
export type ScheduleSpec = string | { every: string | number } | null;

/** The normalized schedule stored in the database (`every` in milliseconds). */
export type NormalizedSchedule = string | { every: number } | null;

/** A data interval [start, end), epoch milliseconds. */
export interface DataInterval {
  start: number;
  end: number;
}

/** A run to create: its data interval, and the instant at which it may be created. */
export interface DagRunInfo {
  interval: DataInterval;
  /** interval.end for cron and interval schedules; interval.start for @once. */
  runAfter: number;
}

export interface ScheduleBounds {
  startDate: number | null;
  endDate: number | null;
  catchup: boolean;
}

export interface Timetable {
  readonly kind: "cron" | "interval" | "once" | "none";
  /** Normalized form stored in the database: cron string (presets expanded, except "@once"), "@once", { every: ms } or null. */
  readonly normalized: NormalizedSchedule;
  readonly timezone: string;
  /**
   * The next scheduled run after the latest scheduled one (Airflow's next_dagrun_info). null = no more
   * runs. With catchup false it skips to the most recent complete interval at `now`. The returned
   * runAfter may lie in the future: the scheduler waits until then.
   */
  nextRun(last: DataInterval | null, bounds: ScheduleBounds, now: number): DagRunInfo | null;
  /** Data interval for a manual run with this logical date (Airflow's infer_manual_data_interval). */
  manualInterval(logicalDate: number, bounds: ScheduleBounds): DataInterval;
  /** English for people: "every day at 03:00 (Europe/Berlin)", "every 15 minutes", "manually only". */
  describe(): string;
}
