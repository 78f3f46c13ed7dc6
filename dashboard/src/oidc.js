// OIDC sign-in: authorization code with PKCE (RFC 7636), for a public client. The
// verifier and state wait in sessionStorage during the round trip to the issuer, and are
// removed as soon as it returns; the token itself is held in memory only.

const KEY = "lomas.dashboard.pkce";

const b64url = (bytes) => btoa(String.fromCharCode(...bytes))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
const here = () => window.location.origin + window.location.pathname;

async function discovery(issuer) {
  const resp = await fetch(`${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`);
  if (!resp.ok) throw new Error(`The issuer's discovery document answered ${resp.status}.`);
  return resp.json();
}

export async function startSignIn(config) {
  const found = await discovery(config.issuer);
  const verifier = random(48);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = random(16);
  sessionStorage.setItem(KEY, JSON.stringify({ verifier, state, token: found.token_endpoint }));
  const url = new URL(found.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: config.client_id, redirect_uri: here(),
    scope: "openid profile", state, code_challenge: b64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.toString());
}

/** The token after the issuer sent the browser back here; null if it did not. */
export async function finishSignIn(config) {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("code") && !params.has("error")) return null;
  const saved = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
  sessionStorage.removeItem(KEY);
  window.history.replaceState(null, "", here());  // the code leaves the address bar
  if (params.has("error")) {
    throw new Error(`The issuer refused the sign-in: ${
      params.get("error_description") ?? params.get("error")}.`);
  }
  if (!saved || saved.state !== params.get("state")) {
    throw new Error("The issuer's answer does not match this sign-in (state); sign in again.");
  }
  const resp = await fetch(saved.token, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code: params.get("code"), redirect_uri: here(),
      client_id: config.client_id, code_verifier: saved.verifier,
    }),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok || !data.access_token) {
    throw new Error(`The issuer gave no token: ${data.error_description ?? data.error ?? resp.status}.`);
  }
  return data.access_token;
}
