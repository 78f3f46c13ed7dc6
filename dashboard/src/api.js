// The admin API, from the dashboard's page (/admin/ui/index.html): "../users" is
// /admin/users, under any stage prefix. The token lives in this module only (memory): a
// reload signs out.

let token = null;

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export const signIn = (value) => { token = value; };
export const signOut = () => { token = null; };

/** One path segment, percent-encoded (user and dataset names). */
export const seg = (value) => encodeURIComponent(value);

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(new URL(`../${path}`, window.location.href), {
      method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "ServerUnreachable", "The Lomas server did not answer; is it running?");
  }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    throw new ApiError(resp.status, data?.type ?? "Error", data?.message ?? resp.statusText);
  }
  return data;
}

/** The OpenAPI document of this server (the query app serves it at the root). */
export async function openapi() {
  const resp = await fetch(new URL("../../openapi.json", window.location.href));
  if (!resp.ok) throw new ApiError(resp.status, "NotFound", "No OpenAPI document.");
  return resp.json();
}

/** A query as a person reads it: its SQL, or its other fields as JSON (as lomas-admin). */
export function queryText(request) {
  if (typeof request?.query_str === "string") return request.query_str;
  const rest = Object.fromEntries(
    Object.entries(request ?? {}).filter(([k]) => k !== "dataset_name").sort());
  return JSON.stringify(rest);
}
