/**
 * Loading a system shared library through `Deno.dlopen`, trying several file names and
 * turning failure into one line that names the package to install.
 *
 * @module
 */

/** A system library could not be loaded; the message says which package provides it. */
export class LibraryNotFoundError extends Error {
  /** @param message one line naming the library and the package to install */
  constructor(message: string) {
    super(message);
    this.name = "LibraryNotFoundError";
  }
}

/**
 * Opens the first of `names` that loads, binding `symbols`.
 *
 * @param names file names to try, in order (e.g. `libpcap.so.1`, `libpcap.so.0.8`)
 * @param symbols the FFI symbol definitions
 * @param hint what to install, e.g. `install libpcap (Debian/Ubuntu: apt install libpcap0.8)`
 * @throws {LibraryNotFoundError} when none loads
 * @throws {Deno.errors.NotCapable} when FFI permission is missing
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  names: readonly string[],
  symbols: S,
  hint: string,
): Deno.DynamicLibrary<S> {
  const failures: string[] = [];
  for (const name of names) {
    try {
      return Deno.dlopen(name, symbols);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) throw e;
      failures.push(`${name}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
    }
  }
  const missingSymbol = failures.find((f) => /symbol/i.test(f));
  const detail = missingSymbol ? ` (${missingSymbol})` : "";
  throw new LibraryNotFoundError(
    `cannot load ${names[0].replace(/\.so.*/, "")}${detail}: ${hint}`,
  );
}
