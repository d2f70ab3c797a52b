// oidc-provider ships no types (DefinitelyTyped's lag its releases): what tests/oidc-helpers.ts uses of it.
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";
  interface Ctx {
    oidc: {
      client?: { clientId: string };
      session?: { accountId?: string };
      entities: Record<string, unknown>;
      provider: Provider;
    };
    response: { get(name: string): string | undefined };
  }
  class Grant {
    constructor(init: { clientId: string; accountId: string });
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  }
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown> & {
      loadExistingGrant?: (ctx: Ctx) => Promise<Grant | undefined>;
      findAccount?: (ctx: Ctx, id: string) => Promise<{ accountId: string; claims(): Promise<Record<string, unknown>> } | undefined>;
    });
    Grant: typeof Grant;
    on(event: string, listener: (ctx: Ctx) => void): void;
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  }
}
