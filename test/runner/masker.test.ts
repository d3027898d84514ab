/** The secrets masker of a try: the value and its usual encodings become "***" in log lines. */
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { LogCapture } from "../../src/runner/capture.js";
import { SecretMasker } from "../../src/runner/masker.js";
import type { LogLine } from "../../src/runner/protocol.js";
import { formatConnectionUri } from "../../src/util/connection-uri.js";

describe("SecretMasker", () => {
  it("masks a value as printed, JSON-escaped, inspected and percent-encoded, and masks nothing before it is added", () => {
    const masker = new SecretMasker();
    const secret = `p@ss "w'ord"/+ ü`;
    expect(masker.active).toBe(false);
    expect(masker.mask(`plain ${secret}`)).toBe(`plain ${secret}`);
    masker.add(secret);
    expect(masker.active).toBe(true);
    const printed = [
      `the password is ${secret}.`,
      JSON.stringify({ password: secret }),
      inspect({ password: secret }),
      `postgres://etl:${encodeURIComponent(secret)}@db/x`,
      formatConnectionUri({ connType: "postgres", login: "etl", password: secret, host: "db", port: 5432, schema: "wh", extra: null }),
      `?token=${new URLSearchParams({ t: secret }).toString().slice(2)}`,
    ];
    for (const line of printed) {
      const masked = masker.mask(line);
      expect(masked, line).toContain("***");
      expect(masked, line).not.toContain("ss \"w'o");
      expect(masked, line).not.toContain("p%40ss");
      expect(masked, line).not.toContain("p@ss");
    }
  });

  it("masks a multi-line value line by line, a longer secret whole, and leaves values under 4 characters alone", () => {
    const masker = new SecretMasker();
    masker.add("-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----");
    masker.add("abc");
    masker.add("token-1");
    masker.add("token-12345");
    expect(masker.mask("line MIIEvQIBADANBgkq end")).toBe("line *** end");
    expect(masker.mask("abc token-12345 token-1")).toBe("abc *** ***");
  });

  it("masks the values of sensitive names in an extra (any depth), or every value of a secret JSON variable", () => {
    const masker = new SecretMasker();
    masker.addValues({ region: "eu-west-1", api_key: "key-123456", nested: [{ refresh_token: "rt-abcdef", port: 5432 }], Authorization: { header: "Bearer xyz123" } });
    expect(masker.mask("eu-west-1 key-123456 rt-abcdef 5432 Bearer xyz123")).toBe("eu-west-1 *** *** 5432 ***");
    const all = new SecretMasker();
    all.addValues({ user: "admin-user", pin: 987654, list: ["first-one"] }, true);
    expect(all.mask("admin-user 987654 first-one")).toBe("*** *** ***");
  });
});

describe("LogCapture with a masker", () => {
  it("masks every line before it is kept or cut, stdout split across chunks included", () => {
    const sent: LogLine[] = [];
    const capture = new LogCapture((lines) => sent.push(...lines));
    capture.masker.add("hunter2-secret");
    capture.log("info", ["ctx.log", { password: "hunter2-secret" }]);
    capture.write("stdout", "printed hunter2-");
    capture.write("stdout", "secret across chunks\n");
    capture.write("stderr", `${"x".repeat(64 * 1024 - 5)}hunter2-secret\n`);
    capture.flush(true);
    expect(sent).toHaveLength(3);
    expect(sent.map((l) => l.message.slice(0, 40))).toEqual(["ctx.log { password: '***' }", "printed *** across chunks", "x".repeat(40)]);
    expect(sent[2]!.message).toContain("***");
    for (const line of sent) expect(line.message).not.toContain("hunter2");
  });
});
