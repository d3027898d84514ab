/**
 * Which process listens on a TCP port, for the hint of a port already in use. Best effort and
 * never required: on Linux from /proc (the listening socket's inode in /proc/net/tcp{,6}, then the
 * process whose file descriptors hold it, which this user can see for its own processes, or all
 * as root); else from `ss -ltnp` when it is installed. Anything that fails just yields less.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface PortHolder {
  pid: number | null;
  /** The command line (or name) of the process, when it could be read. */
  command: string | null;
  /** The owner's user id, from /proc/net/tcp (known even when the process is not visible). */
  uid: number | null;
}

const LISTEN = "0A";

/** Inodes and owners of the sockets listening on `port`, from /proc/net/tcp and tcp6. */
function listeningSockets(port: number): Array<{ inode: string; uid: number }> {
  const found: Array<{ inode: string; uid: number }> = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== LISTEN) continue;
      const hexPort = f[1]!.split(":").pop()!;
      if (Number.parseInt(hexPort, 16) !== port || f[9] === "0") continue;
      found.push({ inode: f[9]!, uid: Number(f[7]) });
    }
  }
  return found;
}

function commandOf(pid: number): string | null {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
    if (cmdline) return cmdline.length > 200 ? `${cmdline.slice(0, 200)}…` : cmdline;
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() || null;
  } catch {
    return null;
  }
}

function fromProc(port: number): PortHolder | null {
  const sockets = listeningSockets(port);
  if (sockets.length === 0) return null;
  const wanted = new Set(sockets.map((s) => `socket:[${s.inode}]`));
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    pids = [];
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (wanted.has(target)) return { pid: Number(pid), command: commandOf(Number(pid)), uid: sockets[0]!.uid };
    }
  }
  return { pid: null, command: null, uid: sockets[0]!.uid };
}

function fromSs(port: number): PortHolder | null {
  let out: string;
  try {
    out = execFileSync("ss", ["-Hltnp", `sport = :${port}`], { encoding: "utf8", timeout: 2_000, stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return null;
  }
  // … users:(("node",pid=1234,fd=21))
  const match = /users:\(\("([^"]*)",pid=(\d+)/.exec(out);
  if (match) return { pid: Number(match[2]), command: match[1] ?? null, uid: null };
  return out.trim() ? { pid: null, command: null, uid: null } : null;
}

/** The process listening on `port` on this machine, as far as it can be found; null when nothing is known. */
export function findPortHolder(port: number): PortHolder | null {
  try {
    const proc = process.platform === "linux" ? fromProc(port) : null;
    if (proc?.pid) return proc;
    const ss = fromSs(port);
    return ss?.pid ? ss : (proc ?? ss);
  } catch {
    return null;
  }
}

/** "pid 1234: node server.js", "a process of uid 1000", or null. */
export function describePortHolder(holder: PortHolder | null): string | null {
  if (!holder) return null;
  if (holder.pid !== null) return `pid ${holder.pid}${holder.command ? `: ${holder.command}` : ""}`;
  if (holder.uid !== null) return `a process of uid ${holder.uid} that this user cannot see`;
  return null;
}
