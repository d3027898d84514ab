/** Finding the process that listens on a port (for the hint of a port in use). */
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { describePortHolder, findPortHolder } from "../../src/util/port-holder.js";

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

function listen(host: string): Promise<number> {
  server = createServer();
  return new Promise((resolve, reject) => {
    server!.once("error", reject);
    server!.listen(0, host, () => resolve((server!.address() as { port: number }).port));
  });
}

describe.skipIf(process.platform !== "linux")("findPortHolder (Linux)", () => {
  it("names this process for a port it listens on (IPv4 and IPv6), and nothing for a free port", async () => {
    const port = await listen("127.0.0.1");
    const holder = findPortHolder(port);
    expect(holder).toMatchObject({ pid: process.pid });
    expect(holder!.command).toContain(process.argv0.split("/").pop());
    expect(describePortHolder(holder)).toMatch(new RegExp(`^pid ${process.pid}: `));
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(findPortHolder(port)).toBeNull();
    expect(describePortHolder(null)).toBeNull();

    const v6 = await listen("::").catch(() => null);
    if (v6 !== null) expect(findPortHolder(v6)).toMatchObject({ pid: process.pid });
  });
});
