import { VERSION } from "../../server/about";
import type { Command } from "../command";

export { VERSION };

export const version: Command = {
  spec: {
    name: "version",
    summary: "Print the version of warren and of the Bun runtime inside it.",
    usage: "warren version [--json]",
    flags: { json: { type: "boolean", help: "Print as JSON" } },
  },
  async run(flags) {
    const info = { version: VERSION, bun: Bun.version, platform: `${process.platform}-${process.arch}` };
    console.log(flags.json ? JSON.stringify(info) : `warren ${info.version} (bun ${info.bun}, ${info.platform})`);
    return 0;
  },
};
