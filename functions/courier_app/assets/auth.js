// Sign-in: authorization code with PKCE (S256) against the couriers' hosted UI. Tokens stay in this
// tab's sessionStorage (gone when the tab closes), never in localStorage, IndexedDB or cookies.
const TOKENS = "courier.tokens";
const FLOW = "courier.signin";

const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

export async function signIn(config) {
  const verifier = random(48);
  const state = random(16);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(FLOW, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: config.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  location.assign(`${config.authorize_url}?${query}`);
}

async function tokenRequest(config, fields) {
  const answer = await fetch(config.token_url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.client_id, ...fields }),
  });
  if (!answer.ok) return null;
  const body = await answer.json();
  const kept = JSON.parse(sessionStorage.getItem(TOKENS) || "{}");
  const tokens = {
    access_token: body.access_token,
    refresh_token: body.refresh_token || kept.refresh_token,
    expires_at: Date.now() + (body.expires_in - 60) * 1000,
  };
  sessionStorage.setItem(TOKENS, JSON.stringify(tokens));
  return tokens;
}

// Back from the hosted UI with ?code=&state=: exchange the code once, then clean the address bar.
export async function completeSignIn(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has("code")) return;
  const flow = JSON.parse(sessionStorage.getItem(FLOW) || "{}");
  sessionStorage.removeItem(FLOW);
  history.replaceState(null, "", location.pathname);
  if (!flow.verifier || params.get("state") !== flow.state) return;
  await tokenRequest(config, {
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: config.redirect_uri,
    code_verifier: flow.verifier,
  });
}

// The access token, refreshed when it is about to run out (a refresh token lasts a shift).
export async function accessToken(config, { refresh = false } = {}) {
  const tokens = JSON.parse(sessionStorage.getItem(TOKENS) || "null");
  if (!tokens) return null;
  if (!refresh && Date.now() < tokens.expires_at) return tokens.access_token;
  if (!tokens.refresh_token) return null;
  const renewed = await tokenRequest(config, { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
  return renewed ? renewed.access_token : null;
}

export const signedIn = () => sessionStorage.getItem(TOKENS) !== null;
export const signOut = () => sessionStorage.removeItem(TOKENS);
