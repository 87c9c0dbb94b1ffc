/**
 * Resolves a name against one DNS server (everyday traffic of the lab) and prints the answers
 * as JSON; exits 1 when the query fails.
 *
 *     deno run --allow-net dns_query.ts NAME A|AAAA SERVER
 *
 * @module
 */

if (import.meta.main) {
  const [name, type, server] = Deno.args;
  if (!name || (type !== "A" && type !== "AAAA") || !server) {
    console.error("usage: dns_query.ts NAME A|AAAA SERVER");
    Deno.exit(2);
  }
  try {
    const answers = await Deno.resolveDns(name, type, {
      nameServer: { ipAddr: server, port: 53 },
    });
    console.log(JSON.stringify(answers));
  } catch (e) {
    console.error(`dns_query: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
