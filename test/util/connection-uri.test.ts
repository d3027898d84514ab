/** Airflow's connection URI and JSON forms: the cases of Airflow's own docs and tests, and round trips. */
import { describe, expect, it } from "vitest";
import { isUpdraftError } from "../../src/errors/index.js";
import { formatConnectionUri, parseConnectionJson, parseConnectionText, parseConnectionUri, type ConnectionParts } from "../../src/util/connection-uri.js";

const conn = (parts: Partial<ConnectionParts> & { connType: string }): ConnectionParts => ({
  description: null,
  host: null,
  schema: null,
  login: null,
  password: null,
  port: null,
  extra: null,
  ...parts,
});

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isUpdraftError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected an error");
}

describe("parseConnectionUri", () => {
  it("reads every part, percent-decoded, and the query as the extra", () => {
    expect(parseConnectionUri("my-conn-type://login:password@host:5432/schema?param1=val1&param2=val2")).toEqual(
      conn({ connType: "my_conn_type", login: "login", password: "password", host: "host", port: 5432, schema: "schema", extra: { param1: "val1", param2: "val2" } }),
    );
    expect(parseConnectionUri("postgresql://etl:p%40ss%3Aw%2Frd@db.internal/ware%2Fhouse")).toEqual(
      conn({ connType: "postgres", login: "etl", password: "p@ss:w/rd", host: "db.internal", schema: "ware/house" }),
    );
    expect(parseConnectionUri("http://")).toEqual(conn({ connType: "http" }));
    expect(parseConnectionUri("aws://?region_name=eu-west-1&role=a+b")).toEqual(conn({ connType: "aws", extra: { region_name: "eu-west-1", role: "a b" } }));
  });

  it("reads an extra given as JSON under __extra__, a host with its protocol, a bracketed IPv6 host and a port alone", () => {
    const extra = { retries: 3, nested: { on: true }, list: ["a"] };
    expect(parseConnectionUri(`http://host/?__extra__=${encodeURIComponent(JSON.stringify(extra))}`).extra).toEqual(extra);
    expect(parseConnectionUri("http://https://example.com:8443/api")).toEqual(conn({ connType: "http", host: "https://example.com", port: 8443, schema: "api" }));
    expect(parseConnectionUri("postgres://u@[::1]:5432/db")).toMatchObject({ host: "::1", port: 5432, login: "u", password: null });
    expect(parseConnectionUri("redis://@:6379")).toEqual(conn({ connType: "redis", port: 6379 }));
  });

  it("refuses what is not a URI, without quoting it (it may hold a password)", () => {
    for (const bad of ["hunter2-not-a-uri", "postgres://u:hunter2@db:notaport/x", "postgres://u:hunter2@db:70000/x", "a://b://c://d", "http://h/?__extra__=hunter2"]) {
      const { code, message } = failure(() => parseConnectionUri(bad));
      expect(code).toBe("UPDRAFT_E_VALIDATION");
      expect(message).not.toContain("hunter2");
    }
  });
});

describe("formatConnectionUri", () => {
  it("writes Airflow's URI: percent-encoded parts, string extras as a query, others as __extra__", () => {
    expect(formatConnectionUri(conn({ connType: "google_cloud_platform", login: "a b", password: "p@ss:w/rd!", host: "db.internal", port: 5432, schema: "warehouse" }))).toBe(
      "google-cloud-platform://a%20b:p%40ss%3Aw%2Frd%21@db.internal:5432/warehouse",
    );
    expect(formatConnectionUri(conn({ connType: "http", host: "https://example.com", extra: { a: "1 2", "b&": "=" } }))).toBe("http://https://example.com/?a=1+2&b%26=%3D");
    expect(formatConnectionUri(conn({ connType: "http", host: "h", schema: "s", extra: { n: 1 } }))).toBe("http://h/s?__extra__=%7B%22n%22%3A1%7D");
    expect(formatConnectionUri(conn({ connType: "redis", port: 6379 }))).toBe("redis://@:6379");
  });

  it("round-trips through parseConnectionUri, whatever the characters", () => {
    const cases = [
      conn({ connType: "postgres", login: "etl", password: "p@ss w:rd/%?#&=+ünï€", host: "db.internal", port: 5432, schema: "ware house" }),
      conn({ connType: "http", host: "https://api.example.com", password: "tok://en", extra: { header: "x=y&z", "key with space": "v" } }),
      conn({ connType: "aws", login: "AKIA", password: "secret", extra: { region: "eu", retries: 3, nested: { on: true } } }),
      conn({ connType: "generic", port: 1 }),
    ];
    for (const c of cases) expect(parseConnectionUri(formatConnectionUri(c))).toEqual(c);
  });
});

describe("parseConnectionJson and parseConnectionText", () => {
  it("reads Airflow's JSON form, the extra as an object or as JSON text, the port as a number or string", () => {
    const fields = { conn_type: "postgres", host: "db", login: "etl", password: "pw", schema: "wh", port: "5432", extra: '{"sslmode":"require"}', description: "the warehouse" };
    const expected = conn({ connType: "postgres", host: "db", login: "etl", password: "pw", schema: "wh", port: 5432, extra: { sslmode: "require" }, description: "the warehouse" });
    expect(parseConnectionJson(fields)).toEqual(expected);
    expect(parseConnectionText(`  ${JSON.stringify({ ...fields, port: 5432, extra: { sslmode: "require" } })}`, "UPDRAFT_CONN_X")).toEqual(expected);
    expect(parseConnectionText("postgres://etl:pw@db:5432/wh?sslmode=require", "UPDRAFT_CONN_X")).toEqual({ ...expected, description: null });
  });

  it("refuses unknown fields, a missing conn_type and a bad port, naming the source and never a value", () => {
    const cases = [
      ['{"conn_type": "x", "passwrd": "hunter2"}', /unknown field.*passwrd/],
      ['{"host": "db", "password": "hunter2"}', /conn_type is missing/],
      ['{"conn_type": "x", "port": "hunter2"}', /port/],
      ['{"conn_type": "x", "password": "hunter2"', /not valid JSON/],
      ['{"conn_type": "x", "extra": ["hunter2"]}', /the extra is not a JSON object/],
      ['["hunter2"]', /does not start with <conn-type>:\/\//],
    ] as const;
    for (const [text, pattern] of cases) {
      const { code, message } = failure(() => parseConnectionText(text, "UPDRAFT_CONN_WAREHOUSE"));
      expect(code).toBe("UPDRAFT_E_VALIDATION");
      expect(message).toMatch(/^UPDRAFT_CONN_WAREHOUSE: /);
      expect(message).toMatch(pattern);
      expect(message).not.toContain("hunter2");
    }
  });
});
