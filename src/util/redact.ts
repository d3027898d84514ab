/** Secrets out of what is shown or logged. */

/** A connection URL with its password (in the authority or a `password=` parameter) replaced by ***. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    let changed = false;
    if (parsed.password) {
      parsed.password = "***";
      changed = true;
    }
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass(word)?|secret|token/i.test(key)) {
        parsed.searchParams.set(key, "***");
        changed = true;
      }
    }
    return changed ? parsed.toString().replace(/%2A%2A%2A/g, "***") : url;
  } catch {
    // Not a URL: hide anything between "//user:" and the last "@" before the host.
    return url.replace(/\/\/([^/:@]+):[^/]*@/, "//$1:***@");
  }
}
