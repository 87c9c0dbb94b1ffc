/**
 * A separate process for the XDP tests (ffi/xdp_test.ts), run as root inside a test
 * namespace:
 *
 * - `crash <pinDir> <ifname> <mode> <address>…`: opens the enforcer with pinned maps, bans the
 *   addresses for an hour (reason 5, banned at 1700000000), attaches to the interface, prints
 *   `{"programId":…,"mode":…}` and exits without cleaning up, the way a crashed run leaves the
 *   kernel (program attached, maps pinned);
 * - `open <pinDir>`: opens the enforcer with pinned maps and prints
 *   `{"notes":[…],"restored":…}`, then closes it, removing the pins.
 *
 * @module
 */

import { parseAddress } from "../dpi/address.ts";
import { XdpEnforcer, type XdpMode } from "./xdp.ts";

if (import.meta.main) {
  const [command, pinDir, ...rest] = Deno.args;
  if (command === "crash") {
    const [ifname, mode, ...addresses] = rest;
    const xdp = XdpEnforcer.open({ maxBans: 1000, pinDir, persist: true, flush: false });
    for (const text of addresses) {
      const address = new Uint32Array(4);
      const ipVersion = parseAddress(text, address);
      xdp.ban({
        address,
        ipVersion,
        bannedAt: 1700000000,
        expiresAt: Date.now() / 1000 + 3600,
        reason: 5,
      });
    }
    const attached = xdp.attach(ifname, mode as XdpMode);
    console.log(JSON.stringify({ programId: xdp.programId, mode: attached }));
    Deno.exit(0);
  } else if (command === "open") {
    const xdp = XdpEnforcer.open({ maxBans: 1000, pinDir, persist: true, flush: false });
    console.log(JSON.stringify({ notes: xdp.notes, restored: xdp.restored }));
    xdp.close(false);
  } else {
    console.error(
      "usage: xdp_fixture.ts crash <pinDir> <ifname> <mode> <address>… | open <pinDir>",
    );
    Deno.exit(2);
  }
}
