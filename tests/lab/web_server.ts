/**
 * The lab's web server (everyday traffic): serves one file over HTTP (port 80) and HTTPS
 * (port 443, a self-signed certificate) on the given addresses, and prints `listening` when
 * every socket is bound. Runs until SIGTERM.
 *
 *     deno run --allow-net --allow-read=DIR web_server.ts --file F --cert C --key K ADDR...
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Serves `file` at `/file` (and a greeting at `/`) on every address, plain and TLS. */
export async function serveWeb(
  addresses: string[],
  file: string,
  cert: string,
  key: string,
): Promise<Deno.HttpServer[]> {
  const body = await Deno.readFile(file);
  const handler = (req: Request): Response => {
    const path = new URL(req.url).pathname;
    if (path === "/file") {
      return new Response(body, { headers: { "content-type": "application/octet-stream" } });
    }
    if (path === "/") return new Response("btblocker lab web server\n");
    return new Response("not found\n", { status: 404 });
  };
  const tls = { cert: await Deno.readTextFile(cert), key: await Deno.readTextFile(key) };
  const servers: Deno.HttpServer[] = [];
  const quiet = { onListen: () => {} };
  for (const hostname of addresses) {
    servers.push(Deno.serve({ hostname, port: 80, ...quiet }, handler));
    servers.push(Deno.serve({ hostname, port: 443, ...tls, ...quiet }, handler));
  }
  return servers;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { file: { type: "string" }, cert: { type: "string" }, key: { type: "string" } },
    allowPositionals: true,
  });
  if (!values.file || !values.cert || !values.key || positionals.length === 0) {
    console.error("usage: web_server.ts --file F --cert C --key K ADDRESS...");
    Deno.exit(2);
  }
  const servers = await serveWeb(positionals, values.file, values.cert, values.key);
  console.log(`listening on ${positionals.join(", ")} (80, 443)`);
  Deno.addSignalListener("SIGTERM", async () => {
    await Promise.all(servers.map((s) => s.shutdown()));
    Deno.exit(0);
  });
}
