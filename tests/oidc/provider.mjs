// A real OpenID Connect provider for the single sign-on tests: panva's oidc-provider (the
// certified Node.js implementation) with its development sign-in pages, one client, and
// people read from a JSON file at each sign-in and each token refresh
// ({"name": {"groups": [...], "email": "...", "disabled": true}}), so a test can change
// someone's groups, or disable them, between two sign-ins or refreshes.
//
//   PORT=9400 REDIRECT_URI=http://localhost:8000/accounts/oidc/sso/login/callback/ \
//   ACCOUNTS_FILE=people.json node provider.mjs
import fs from "node:fs";
import Provider from "oidc-provider";

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const people = () => JSON.parse(fs.readFileSync(process.env.ACCOUNTS_FILE, "utf8"));

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID || "assistgov",
      client_secret: process.env.CLIENT_SECRET || "assistgov-test-secret",
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
  ],
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username", "groups"],
    email: ["email"],
  },
  features: { devInteractions: { enabled: true } },
  // A refresh token for every sign-in of a client allowed them (offline_access asked).
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed("refresh_token");
  },
  cookies: { keys: ["tests-only-cookie-key"] },
  async findAccount(ctx, id) {
    if ((people()[id] || {}).disabled) return undefined; // a refresh then fails
    return {
      accountId: id,
      async claims() {
        const person = people()[id] || {};
        return {
          sub: id,
          preferred_username: id,
          name: person.name || id,
          email: person.email || `${id}@example.test`,
          groups: person.groups || [],
        };
      },
    };
  },
});

provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc-provider listening at ${issuer}`);
});
