/**
 * Version information: the version from deno.json, and the commit and build date that
 * `make build` records in build/build_info.json (embedded in the compiled binary); a plain
 * `deno run` from a checkout reads the commit from .git instead.
 *
 * @module
 */

import manifest from "../deno.json" with { type: "json" };

/** What `--version` prints. */
export interface BuildInfo {
  /** Release version. */
  version: string;
  /** Git commit the binary was built from (`unknown` when not known). */
  commit: string;
  /** ISO 8601 build time, or `null` for a run from source. */
  buildDate: string | null;
  /** Deno version running it. */
  deno: string;
}

/** Reads the build information (never throws). */
export async function buildInfo(): Promise<BuildInfo> {
  const base = { version: manifest.version, deno: Deno.version.deno };
  try {
    const url = new URL("../build/build_info.json", import.meta.url);
    const info = (await import(url.href, { with: { type: "json" } })).default;
    return { ...base, commit: String(info.commit), buildDate: String(info.date) };
  } catch {
    return { ...base, commit: commitFromCheckout() ?? "unknown", buildDate: null };
  }
}

/** The commit checked out next to the sources, if they are a git checkout. */
function commitFromCheckout(): string | null {
  try {
    const git = new URL("../.git/", import.meta.url);
    const head = Deno.readTextFileSync(new URL("HEAD", git)).trim();
    const ref = /^ref: (.+)$/.exec(head);
    if (ref === null) return head.slice(0, 12);
    return Deno.readTextFileSync(new URL(ref[1], git)).trim().slice(0, 12);
  } catch {
    return null;
  }
}

/** The one-line `--version` text. */
export function versionLine(info: BuildInfo): string {
  const built = info.buildDate === null ? "run from source" : `built ${info.buildDate}`;
  return `btblocker ${info.version} (commit ${info.commit}, ${built}, deno ${info.deno})`;
}
