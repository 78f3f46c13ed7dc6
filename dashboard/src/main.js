// The Lomas admin dashboard: users, datasets, grants, archives, budget use and jobs, over
// the admin API. Preact renders it (htm: templates without a JSX step).
import { h, render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import YAML from "yaml";

import { api, openapi, queryText, seg, signIn, signOut } from "./api.js";
import { cumulative, draw } from "./chart.js";
import { finishSignIn, startSignIn } from "./oidc.js";
import "./style.css";

const html = htm.bind(h);

const PAGES = [
  ["users", "Users"], ["datasets", "Datasets"], ["grants", "Grants"],
  ["archives", "Archives"], ["usage", "Budget use"], ["jobs", "Jobs"],
];

const round = (x) => (x === 0 ? "0" : Number(x.toPrecision(4)).toString());
const when = (iso) => new Date(iso).toLocaleString();

/** data, error and a reload for one admin API read. */
function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const [turn, setTurn] = useState(0);
  useEffect(() => {
    let live = true;
    load().then((data) => live && setState({ data, error: null }),
                (error) => live && setState({ data: null, error }));
    return () => { live = false; };
  }, [...deps, turn]);
  return [state.data, state.error, () => setTurn((t) => t + 1)];
}

function Problem({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.type ? `${error.type}: ` : ""}${error.message}</p>`;
}

function Said({ text }) {
  return html`<p class="notice" role="status" aria-live="polite">${text ?? ""}</p>`;
}

/** Runs an action, says what it did or what went wrong. */
function useAction() {
  const [said, setSaid] = useState(null);
  const [error, setError] = useState(null);
  const run = async (action, done) => {
    setError(null);
    try {
      const result = await action();
      setSaid(typeof done === "function" ? done(result) : done);
      return result;
    } catch (err) {
      setSaid(null);
      setError(err);
      return undefined;
    }
  };
  const view = html`${said && html`<${Said} text=${said} />`}<${Problem} error=${error} />`;
  return [run, view];
}

const form = (event) => {
  event.preventDefault();
  return Object.fromEntries(new FormData(event.currentTarget));
};

// ------------------------------------------------------------------------- users
function Users() {
  const [data, error, reload] = useLoad(() => api("GET", "users"), []);
  const [issued, setIssued] = useState(null);
  const [run, outcome] = useAction();
  const add = async (event) => {
    const target = event.currentTarget;
    const f = form(event);
    const made = await run(() => api("POST", "users", {
      user_name: f.user_name, is_admin: f.is_admin === "on",
    }), (t) => `User ${t.user_name} created.`);
    if (made) { setIssued(made); target.reset(); reload(); }
  };
  const allow = (user, may) => run(
    () => api("PATCH", `users/${seg(user)}`, { may_query: may }),
    `${user} ${may ? "may query again" : "may no longer query"}.`).then(reload);
  const rotate = async (user) => {
    const made = await run(() => api("POST", `users/${seg(user)}/token`),
                           `${user} has a new token; the old one no longer works.`);
    if (made) setIssued(made);
  };
  return html`
    <h2>Users</h2>
    <form class="inline" onSubmit=${add} aria-label="Add a user">
      <label>Name <input name="user_name" required pattern="[A-Za-z_][A-Za-z0-9_]{0,62}" /></label>
      <label class="check"><input type="checkbox" name="is_admin" /> admin</label>
      <button type="submit">Add user</button>
    </form>
    ${outcome}
    ${issued && html`<div class="notice" role="status">
      <p>The token of <strong>${issued.user_name}</strong>, shown once: give it to them now.</p>
      <p class="token" data-testid="token">${issued.token}</p>
      <button class="secondary" onClick=${() => setIssued(null)}>I have copied it</button></div>`}
    <${Problem} error=${error} />
    ${data && html`<table><caption class="muted">${data.users.length} users</caption>
      <thead><tr><th scope="col">user</th><th scope="col">admin</th>
        <th scope="col">may query</th><th scope="col">actions</th></tr></thead>
      <tbody>${data.users.map((u) => html`<tr key=${u.user_name}>
        <td>${u.user_name}</td><td>${u.is_admin ? "yes" : "no"}</td>
        <td>${u.may_query ? "yes" : "no"}</td>
        <td><button class="secondary" onClick=${() => allow(u.user_name, !u.may_query)}
              aria-label=${`${u.may_query ? "Disable" : "Enable"} ${u.user_name}`}>
              ${u.may_query ? "Disable" : "Enable"}</button>${" "}
          <button class="secondary" onClick=${() => rotate(u.user_name)}
              aria-label=${`Rotate token of ${u.user_name}`}>Rotate token</button></td>
      </tr>`)}</tbody></table>`}`;
}

// ---------------------------------------------------------------------- datasets
/** Each source kind's fields, from the server's own OpenAPI document. */
async function sourceKinds() {
  const doc = await openapi();
  const schemas = doc.components.schemas;
  const mapping = schemas.CreateDatasetRequest.properties.dataset_access.discriminator.mapping;
  return Object.entries(mapping).map(([kind, ref]) => {
    const schema = schemas[ref.split("/").pop()];
    const required = new Set(schema.required ?? []);
    const fields = Object.entries(schema.properties)
      .filter(([name]) => name !== "type")
      .map(([name, spec]) => ({
        name, required: required.has(name), description: spec.description ?? "",
        options: spec.enum ?? spec.anyOf?.find((s) => s.enum)?.enum ?? null,
      }));
    return { kind, description: schema.description ?? "", fields };
  });
}

function CheckResult({ check }) {
  const problems = (column) => check.problems.filter((p) => p.column === column);
  const whole = check.problems.filter((p) => p.column === null);
  return html`<section aria-label=${`Check of ${check.dataset_name}`}>
    <h3>Check of ${check.dataset_name}: ${check.rows} rows</h3>
    ${whole.map((p) => html`<p class="problem">${p.problem}</p>`)}
    ${check.warnings.map((w) => html`<p class="problem">${w}</p>`)}
    <table><thead><tr><th scope="col">column</th><th scope="col">status</th></tr></thead>
      <tbody>${check.columns.map((c) => html`<tr key=${c}><td>${c}</td>
        <td>${problems(c).length === 0 ? html`<span class="ok">matches its metadata</span>`
          : problems(c).map((p) => html`<div class="problem">${p.problem}${
              p.rows ? ` (${p.rows} rows)` : ""}</div>`)}</td></tr>`)}</tbody></table>
  </section>`;
}

function Datasets() {
  const [data, error, reload] = useLoad(async () => {
    const names = (await api("GET", "datasets")).datasets;
    return Promise.all(names.map((n) => api("GET", `datasets/${seg(n)}`)));
  }, []);
  const [kinds] = useLoad(sourceKinds, []);
  const [kind, setKind] = useState("local");
  const [check, setCheck] = useState(null);
  const [run, outcome] = useAction();
  const chosen = kinds?.find((k) => k.kind === kind);
  const register = async (event) => {
    const target = event.currentTarget;
    const f = form(event);
    const access = { type: kind };
    for (const field of chosen.fields) if (f[`access_${field.name}`]) access[field.name] = f[`access_${field.name}`];
    const made = await run(() => {
      let metadata;
      try { metadata = YAML.parse(f.metadata); } catch (err) {
        throw new Error(`The metadata is not valid YAML: ${err.message}`);
      }
      return api("POST", "datasets", { dataset_name: f.dataset_name, dataset_access: access, metadata });
    }, (d) => `Dataset ${d.dataset_name} registered.`);
    if (made) { target.reset(); reload(); }
  };
  const checkOne = async (name) => {
    setCheck(null);
    const found = await run(() => api("POST", `datasets/${seg(name)}/check`),
                            (c) => `${c.dataset_name}: ${c.problems.length} problems.`);
    if (found) setCheck(found);
  };
  return html`
    <h2>Datasets</h2>
    <${Problem} error=${error} />
    ${data && html`<table><caption class="muted">${data.length} active datasets</caption>
      <thead><tr><th scope="col">dataset</th><th scope="col">source</th>
        <th scope="col">columns</th><th scope="col">actions</th></tr></thead>
      <tbody>${data.map((d) => html`<tr key=${d.dataset_name}><td>${d.dataset_name}</td>
        <td>${d.dataset_access.type}</td><td>${Object.keys(d.metadata.columns).length}</td>
        <td><button class="secondary" onClick=${() => checkOne(d.dataset_name)}
          aria-label=${`Check ${d.dataset_name} against its metadata`}>Check</button></td>
      </tr>`)}</tbody></table>`}
    ${outcome}
    ${check && html`<${CheckResult} check=${check} />`}
    <h3>Register a dataset</h3>
    ${kinds && html`<form class="stack" onSubmit=${register} aria-label="Register a dataset">
      <label>Name <input name="dataset_name" required pattern="[A-Za-z_][A-Za-z0-9_]{0,62}" /></label>
      <label>Where its rows are
        <select name="kind" value=${kind} onChange=${(e) => setKind(e.currentTarget.value)}>
          ${kinds.map((k) => html`<option value=${k.kind}>${k.kind}: ${k.description}</option>`)}
        </select></label>
      ${chosen?.fields.map((field) => html`<label key=${`${kind}-${field.name}`}>
        ${field.name}${field.required ? " (required)" : ""}
        ${field.options
          ? html`<select name=${`access_${field.name}`}><option value="">(default)</option>
              ${field.options.map((o) => html`<option value=${o}>${o}</option>`)}</select>`
          : html`<input name=${`access_${field.name}`} required=${field.required} />`}
        ${field.description && html`<span class="muted">${field.description}</span>`}</label>`)}
      <label>Metadata (YAML or JSON: the columns, their types and public bounds)
        <textarea name="metadata" rows="10" required
          placeholder=${"max_ids: 1\ncolumns:\n  age: {type: int, lower: 0, upper: 120}"}></textarea></label>
      <div><button type="submit">Register</button></div>
    </form>`}`;
}

// ------------------------------------------------------------------------ grants
function Grants() {
  const [data, error, reload] = useLoad(async () => {
    const [grants, users, datasets] = await Promise.all(
      [api("GET", "grants"), api("GET", "users"), api("GET", "datasets")]);
    return { grants: grants.grants, users: users.users, datasets: datasets.datasets };
  }, []);
  const [run, outcome] = useAction();
  const set = async (event) => {
    const f = form(event);
    await run(() => api("PUT", `grants/${seg(f.user_name)}/${seg(f.dataset_name)}`, {
      initial_epsilon: Number(f.epsilon), initial_delta: Number(f.delta),
    }), (g) => `Granted ${g.user_name} ε ${round(g.initial_epsilon)}, δ ${round(g.initial_delta)} on ${g.dataset_name}.`);
    reload();
  };
  const topUp = async (event, g) => {
    const target = event.currentTarget;
    const f = form(event);
    const done = await run(() => api("POST", `grants/${seg(g.user_name)}/${seg(g.dataset_name)}/top_up`, {
      add_epsilon: Number(f.add_epsilon || 0), add_delta: Number(f.add_delta || 0),
    }), (n) => `Topped up ${n.user_name} on ${n.dataset_name}: ε ${round(n.remaining_epsilon)} left.`);
    if (done) { target.reset(); reload(); }
  };
  return html`
    <h2>Grants</h2>
    <${Problem} error=${error} />
    ${data && html`<form class="inline" onSubmit=${set} aria-label="Set a grant">
      <label>User <select name="user_name" required>
        ${data.users.map((u) => html`<option>${u.user_name}</option>`)}</select></label>
      <label>Dataset <select name="dataset_name" required>
        ${data.datasets.map((d) => html`<option>${d}</option>`)}</select></label>
      <label>Initial ε <input name="epsilon" type="number" min="0" step="any" required /></label>
      <label>Initial δ <input name="delta" type="number" min="0" max="1" step="any" required value="0.0001" /></label>
      <button type="submit">Set grant</button>
    </form>`}
    <p class="muted">Setting a grant sets its initial budget (never below what is spent); a
      top-up adds to it.</p>
    ${outcome}
    ${data && html`<table><caption class="muted">${data.grants.length} grants</caption>
      <thead><tr><th scope="col">user</th><th scope="col">dataset</th>
        <th scope="col" class="num">ε</th><th scope="col" class="num">ε spent</th>
        <th scope="col" class="num">ε left</th><th scope="col" class="num">δ</th>
        <th scope="col" class="num">δ spent</th><th scope="col" class="num">δ left</th>
        <th scope="col">top up</th></tr></thead>
      <tbody>${data.grants.map((g) => html`<tr key=${`${g.user_name}/${g.dataset_name}`}
            data-grant=${`${g.user_name}/${g.dataset_name}`}>
        <td>${g.user_name}</td>
        <td>${g.dataset_name}${g.dataset_retired ? " (retired)" : ""}</td>
        <td class="num">${round(g.initial_epsilon)}</td><td class="num">${round(g.total_spent_epsilon)}</td>
        <td class="num" data-testid="remaining-epsilon">${round(g.remaining_epsilon)}</td>
        <td class="num">${round(g.initial_delta)}</td><td class="num">${round(g.total_spent_delta)}</td>
        <td class="num">${round(g.remaining_delta)}</td>
        <td><form class="inline" onSubmit=${(e) => topUp(e, g)}
              aria-label=${`Top up ${g.user_name} on ${g.dataset_name}`}>
          <label>add ε <input name="add_epsilon" type="number" min="0" step="any" size="6" /></label>
          <label>add δ <input name="add_delta" type="number" min="0" max="1" step="any" size="6" /></label>
          <button type="submit" aria-label=${`Top up ${g.user_name} on ${g.dataset_name}`}>Top up</button>
        </form></td></tr>`)}</tbody></table>`}`;
}

// ---------------------------------------------------------------------- archives
const CSV_COLUMNS = ["timestamp", "user_name", "dataset_name", "engine", "query", "epsilon",
                     "delta", "status"];

/** RFC 4180 quoting; a cell a spreadsheet would run as a formula is quoted with a '. */
function csv(rows) {
  const cell = (value) => {
    let text = String(value ?? "");
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [CSV_COLUMNS, ...rows.map((r) => CSV_COLUMNS.map((c) => r[c]))]
    .map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function Archives() {
  const [data, error] = useLoad(() => api("GET", "archives"), []);
  const [filter, setFilter] = useState({ user: "", dataset: "", text: "", outcome: "" });
  const rows = (data?.archives ?? [])
    .map((a) => ({ ...a, query: queryText(a.request) }))
    .filter((a) => (!filter.user || a.user_name === filter.user)
      && (!filter.dataset || a.dataset_name === filter.dataset)
      && (!filter.outcome || a.status === filter.outcome)
      && (!filter.text || a.query.toLowerCase().includes(filter.text.toLowerCase())))
    .sort((a, b) => b.timestamp.localeCompare(a.timestamp));
  const values = (key) => [...new Set((data?.archives ?? []).map((a) => a[key]))].sort();
  const pick = (key) => (e) => setFilter({ ...filter, [key]: e.currentTarget.value });
  return html`
    <h2>Archives</h2>
    <${Problem} error=${error} />
    <form class="inline" aria-label="Filter the archives" onSubmit=${(e) => e.preventDefault()}>
      <label>User <select name="user" onChange=${pick("user")}><option value="">all</option>
        ${values("user_name").map((v) => html`<option>${v}</option>`)}</select></label>
      <label>Dataset <select name="dataset" onChange=${pick("dataset")}><option value="">all</option>
        ${values("dataset_name").map((v) => html`<option>${v}</option>`)}</select></label>
      <label>Outcome <select name="outcome" onChange=${pick("outcome")}><option value="">all</option>
        ${values("status").map((v) => html`<option>${v}</option>`)}</select></label>
      <label>Query contains <input name="text" type="search" onInput=${pick("text")} /></label>
      <button type="button" onClick=${() => download("lomas-archives.csv", csv(rows))}>
        Export ${rows.length} as CSV</button>
    </form>
    <table><caption class="muted">${rows.length} queries</caption>
      <thead><tr><th scope="col">time</th><th scope="col">user</th><th scope="col">dataset</th>
        <th scope="col">engine</th><th scope="col">query</th><th scope="col" class="num">ε</th>
        <th scope="col" class="num">δ</th><th scope="col">outcome</th></tr></thead>
      <tbody>${rows.map((a) => html`<tr key=${`${a.user_name}/${a.idempotency_key}`}>
        <td>${when(a.timestamp)}</td><td>${a.user_name}</td><td>${a.dataset_name}</td>
        <td>${a.engine}</td><td class="query">${a.query}</td>
        <td class="num">${round(a.epsilon)}</td><td class="num">${round(a.delta)}</td>
        <td>${a.status}${a.error ? html`: <span class="problem">${a.error.type}</span>` : ""}</td>
      </tr>`)}</tbody></table>`;
}

// -------------------------------------------------------------------- budget use
function Chart({ lines, title, label }) {
  const canvas = useRef(null);
  useEffect(() => {
    const chart = draw(canvas.current, lines, title);
    return () => chart.destroy();
  }, [lines]);
  const totals = [...lines.entries()].map(([name, points]) => ({
    name, queries: points.length - 1, epsilon: points[points.length - 1].y,
    delta: points.reduce((s, p) => s + p.delta, 0),
  }));
  return html`<figure>
    <div class="chart"><canvas ref=${canvas} role="img" aria-label=${label}></canvas></div>
    <figcaption><table data-testid=${label}><caption class="muted">${label}</caption>
      <thead><tr><th scope="col">series</th>
        <th scope="col" class="num">queries</th><th scope="col" class="num">ε spent</th>
        <th scope="col" class="num">δ spent</th></tr></thead>
      <tbody>${totals.map((t) => html`<tr key=${t.name}><td>${t.name}</td>
        <td class="num">${t.queries}</td><td class="num">${round(t.epsilon)}</td>
        <td class="num">${round(t.delta)}</td></tr>`)}</tbody></table></figcaption>
  </figure>`;
}

function Usage() {
  const [data, error] = useLoad(() => api("GET", "archives"), []);
  if (error) return html`<h2>Budget use</h2><${Problem} error=${error} />`;
  if (!data) return html`<h2>Budget use</h2><p>Loading…</p>`;
  const perGrant = cumulative(data.archives, (a) => `${a.user_name} on ${a.dataset_name}`);
  const perDataset = cumulative(data.archives, (a) => a.dataset_name);
  if (perGrant.size === 0) return html`<h2>Budget use</h2><p>No query has been charged yet.</p>`;
  return html`<h2>Budget use</h2>
    <p class="muted">ε spent so far, query after query (from the archives).</p>
    <h3>Per grant</h3>
    <${Chart} lines=${perGrant} title="ε spent" label="Epsilon spent per grant" />
    <h3>Per dataset</h3>
    <${Chart} lines=${perDataset} title="ε spent" label="Epsilon spent per dataset" />`;
}

// -------------------------------------------------------------------------- jobs
function Jobs() {
  const [data, error, reload] = useLoad(() => api("GET", "jobs"), []);
  useEffect(() => {
    const timer = setInterval(reload, 5000);
    return () => clearInterval(timer);
  }, []);
  return html`<h2>Jobs in progress</h2>
    <p class="muted">Background queries not finished yet; this list refreshes every 5 s.
      <button class="secondary" onClick=${reload}>Refresh now</button></p>
    <${Problem} error=${error} />
    ${data && (data.jobs.length === 0 ? html`<p>No job in progress.</p>` : html`<table>
      <thead><tr><th scope="col">job</th><th scope="col">user</th><th scope="col">dataset</th>
        <th scope="col">engine</th><th scope="col">kind</th><th scope="col" class="num">ε</th>
        <th scope="col" class="num">δ</th><th scope="col">started</th>
        <th scope="col">lease until</th></tr></thead>
      <tbody>${data.jobs.map((j) => html`<tr key=${j.uid}><td>${j.uid}</td>
        <td>${j.user_name}</td><td>${j.dataset_name}</td><td>${j.engine}</td><td>${j.kind}</td>
        <td class="num">${round(j.epsilon)}</td><td class="num">${round(j.delta)}</td>
        <td>${j.started ? "yes" : "waiting"}</td><td>${when(j.lease_until)}</td></tr>`)}</tbody>
    </table>`)}`;
}

// ---------------------------------------------------------------- sign-in, shell
function SignIn({ config, onSignedIn, error }) {
  const [problem, setProblem] = useState(error);
  const submit = async (event) => {
    const f = form(event);
    signIn(f.token.trim());
    try {
      await api("GET", "users");
      onSignedIn();
    } catch (err) {
      signOut();
      setProblem(err.status === 401 || err.status === 403
        ? { type: err.type, message: `${err.message} Give an admin's API token.` } : err);
    }
  };
  return html`<main><h2>Sign in</h2>
    <${Problem} error=${problem} />
    <form class="stack" onSubmit=${submit} aria-label="Sign in with a token">
      <label>Admin API token
        <input name="token" type="password" autocomplete="off" required /></label>
      <div><button type="submit">Sign in</button></div>
    </form>
    <p class="muted">The token stays in this page's memory: reloading signs you out.</p>
    ${config?.oidc && html`<p><button class="secondary" onClick=${() =>
      startSignIn(config.oidc).catch(setProblem)}>Sign in with ${new URL(config.oidc.issuer).host}</button></p>`}
  </main>`;
}

const VIEWS = { users: Users, datasets: Datasets, grants: Grants, archives: Archives,
                usage: Usage, jobs: Jobs };

function currentPage() {
  const page = window.location.hash.slice(1);
  return VIEWS[page] ? page : "users";
}

function App({ config, signedIn: initially, error }) {
  const [signedIn, setSignedIn] = useState(initially);
  const [page, setPage] = useState(currentPage());
  const heading = useRef(null);
  useEffect(() => {
    const follow = () => { setPage(currentPage()); heading.current?.focus(); };
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  const View = VIEWS[page];
  return html`<header>
      <h1 tabindex="-1" ref=${heading}>Lomas admin</h1>
      ${signedIn && html`<nav aria-label="Pages"><ul>${PAGES.map(([id, label]) => html`
        <li key=${id}><a href=${`#${id}`} aria-current=${page === id ? "page" : undefined}>${label}</a></li>`)}
      </ul></nav>
      <button class="secondary" onClick=${() => { signOut(); setSignedIn(false); }}>Sign out</button>`}
    </header>
    ${signedIn ? html`<main><${View} key=${page} /></main>`
      : html`<${SignIn} config=${config} error=${error} onSignedIn=${() => setSignedIn(true)} />`}`;
}

async function start() {
  const config = await fetch("config.json").then((r) => r.json()).catch(() => ({ oidc: null }));
  let signedIn = false;
  let error = null;
  if (config.oidc) {
    try {
      const token = await finishSignIn(config.oidc);
      if (token) { signIn(token); signedIn = true; }
    } catch (err) {
      error = err;
    }
  }
  const root = document.getElementById("app");
  root.replaceChildren();  // the "Loading…" line
  render(html`<${App} config=${config} signedIn=${signedIn} error=${error} />`, root);
}

start();
