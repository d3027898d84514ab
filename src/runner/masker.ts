/**
 * The secrets masker (Airflow's): every secret value a try has read (a connection's password, the
 * values of sensitive names in its extra, a secret variable) is replaced by "***" in the try's log
 * lines and error before they leave the runner. One masker per try: a runner runs many tries, and
 * one try's secrets say nothing about another's log.
 *
 * It masks the value as it is and in the forms an author easily prints it in: JSON-escaped (a
 * value inside JSON.stringify), as util.inspect quotes it (console.log of an object), and
 * percent-encoded (inside a URI, a connection's `uri` included); a multi-line value also line by
 * line, since logs are split into lines. It cannot catch other transformations (base64, a slice,
 * one character per line), and values shorter than MIN_MASKED_LENGTH are left alone: masking
 * every "ab" would mangle the log while the gaps would still give the value away.
 */
import { inspect } from "node:util";
import { quote, quotePlus } from "../util/connection-uri.js";
import { isSensitiveKey, MASK } from "../util/sensitive.js";

export const MIN_MASKED_LENGTH = 4;

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export class SecretMasker {
  readonly #secrets = new Set<string>();
  #pattern: RegExp | null = null;

  /** Whether anything is masked; a try that read no secret pays nothing per line. */
  get active(): boolean {
    return this.#secrets.size > 0;
  }

  /** Masks `value` from now on, with its usual encodings. */
  add(value: string): void {
    const forms = [value, JSON.stringify(value).slice(1, -1), inspect(value).slice(1, -1), quote(value), quotePlus(value), encodeURIComponent(value)];
    if (/[\r\n]/.test(value)) forms.push(...value.split(/\r?\n|\r/).map((line) => line.trim()));
    for (const form of forms) {
      if (form.length >= MIN_MASKED_LENGTH && !this.#secrets.has(form)) {
        this.#secrets.add(form);
        this.#pattern = null;
      }
    }
  }

  /**
   * Masks the values of sensitive names (password, token, api_key, …) anywhere in a JSON value,
   * or every value in it when `all` (a secret variable read as JSON).
   */
  addValues(value: unknown, all = false): void {
    if (typeof value === "string") {
      if (all) this.add(value);
    } else if (typeof value === "number" || typeof value === "bigint") {
      if (all) this.add(String(value));
    } else if (Array.isArray(value)) {
      for (const item of value) this.addValues(item, all);
    } else if (typeof value === "object" && value !== null) {
      for (const [key, item] of Object.entries(value)) this.addValues(item, all || isSensitiveKey(key));
    }
  }

  mask(text: string): string {
    if (this.#secrets.size === 0) return text;
    // Longest first, so that a secret containing another is masked whole.
    this.#pattern ??= new RegExp([...this.#secrets].sort((a, b) => b.length - a.length).map(escapeRe).join("|"), "g");
    return text.replace(this.#pattern, MASK);
  }
}
