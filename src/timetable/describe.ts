/*
 * English for schedules: a small formatter for the shapes people write most ("every day at 03:00",
 * "every 15 minutes", "at 09:00 on Monday through Friday"), and the raw cron for the rest. A library
 * such as cronstrue covers more, but words it differently ("At 03:00 AM") and adds a dependency.
 */

const DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTH_NAMES = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];
/** More values than this are not worth spelling out. */
const MAX_LISTED = 6;

type Field =
  | { kind: "any" }
  | { kind: "step"; step: number }
  | { kind: "values"; values: number[] }
  | { kind: "range"; from: number; to: number };

function parseField(text: string): Field | null {
  if (text === "*") return { kind: "any" };
  let match = /^\*\/(\d+)$/.exec(text);
  if (match) {
    const step = Number(match[1]);
    return step === 1 ? { kind: "any" } : { kind: "step", step };
  }
  match = /^(\d+)-(\d+)$/.exec(text);
  if (match) return { kind: "range", from: Number(match[1]), to: Number(match[2]) };
  if (/^\d+(,\d+)*$/.test(text)) {
    const values = [...new Set(text.split(",").map(Number))].sort((a, b) => a - b);
    return values.length <= MAX_LISTED ? { kind: "values", values } : null;
  }
  return null;
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

const pad = (n: number): string => String(n).padStart(2, "0");
const clock = (hour: number, minute: number): string => `${pad(hour)}:${pad(minute)}`;
const plural = (n: number, unit: string): string => (n === 1 ? unit : `${n} ${unit}s`);

/** The time-of-day part; `at` is true for "at HH:MM" phrases (which read "every day at …" alone). */
function describeTime(minute: Field, hour: Field): { text: string; at: boolean } | null {
  const minuteEvery = minute.kind === "any" ? 1 : minute.kind === "step" ? minute.step : null;
  if (hour.kind === "any") {
    if (minuteEvery !== null) return { text: `every ${plural(minuteEvery, "minute")}`, at: false };
    if (minute.kind !== "values") return null;
    if (minute.values.length === 1 && minute.values[0] === 0) return { text: "every hour", at: false };
    const label = minute.values.length === 1 ? "minute" : "minutes";
    return { text: `every hour at ${label} ${list(minute.values.map(String))}`, at: false };
  }
  if (hour.kind === "step") {
    if (minute.kind !== "values" || minute.values.length !== 1) return null;
    const m = minute.values[0]!;
    return { text: `every ${hour.step} hours${m === 0 ? "" : ` at minute ${m}`}`, at: false };
  }
  const hourRange = hour.kind === "range" ? hour : hour.values.length === 1 ? { from: hour.values[0]!, to: hour.values[0]! } : null;
  if (minute.kind === "values" && hour.kind === "values") {
    const times = hour.values.flatMap((h) => minute.values.map((m) => clock(h, m)));
    return times.length <= MAX_LISTED ? { text: `at ${list(times)}`, at: true } : null;
  }
  if (hourRange === null) return null;
  if (minute.kind === "values" && minute.values.length === 1) {
    const m = minute.values[0]!;
    return { text: `every hour from ${clock(hourRange.from, m)} to ${clock(hourRange.to, m)}`, at: false };
  }
  if (minuteEvery !== null) {
    const last = 60 - (60 % minuteEvery || minuteEvery);
    return {
      text: `every ${plural(minuteEvery, "minute")} from ${clock(hourRange.from, 0)} to ${clock(hourRange.to, last)}`,
      at: false,
    };
  }
  return null;
}

function dayName(n: number): string | null {
  return DAY_NAMES[n] ?? null;
}

/** The day part: "" for every day, null when the shape is not one we word. */
function describeDays(dom: Field, month: Field, dow: Field): string | null {
  if (dow.kind !== "any") {
    if (dom.kind !== "any" || month.kind !== "any") return null;
    if (dow.kind === "range") {
      const from = dayName(dow.from);
      const to = dayName(dow.to);
      return from && to && dow.from < dow.to ? `on ${from} through ${to}` : null;
    }
    if (dow.kind !== "values") return null;
    const names = dow.values.map(dayName);
    return names.every((n) => n !== null) ? `on ${list([...new Set(names as string[])])}` : null;
  }
  if (dom.kind === "any") return month.kind === "any" ? "" : null;
  if (dom.kind !== "values") return null;
  if (month.kind === "any") {
    return `on day${dom.values.length === 1 ? "" : "s"} ${list(dom.values.map(String))} of every month`;
  }
  if (month.kind === "values" && month.values.length === 1 && dom.values.length === 1) {
    const name = MONTH_NAMES[month.values[0]! - 1];
    return name ? `on ${name} ${dom.values[0]}` : null;
  }
  return null;
}

/** Describes a 5-field cron expression, naming the zone whenever hours or days depend on it. */
export function describeCron(expression: string, timezone: string): string {
  const fallback = `cron "${expression}" (${timezone})`;
  const fields = expression.split(" ").map(parseField);
  const [minute, hour, dom, month, dow] = fields;
  if (!minute || !hour || !dom || !month || !dow) return fallback;
  const time = describeTime(minute, hour);
  const days = describeDays(dom, month, dow);
  if (time === null || days === null) return fallback;
  const text = days === "" ? (time.at ? `every day ${time.text}` : time.text) : `${time.text} ${days}`;
  const dependsOnZone = hour.kind !== "any" || days !== "";
  return dependsOnZone ? `${text} (${timezone})` : text;
}

const UNITS: [number, string][] = [
  [86_400_000, "day"],
  [3_600_000, "hour"],
  [60_000, "minute"],
  [1_000, "second"],
  [1, "millisecond"],
];

/** "every 15 minutes", "every hour", "every 90 seconds": the largest unit that divides the period. */
export function describeEvery(ms: number): string {
  for (const [size, unit] of UNITS) {
    if (ms % size === 0) return `every ${plural(ms / size, unit)}`;
  }
  return `every ${ms} milliseconds`;
}
