// The operator console: plain ES module, no build step. Reads the operator API's console door
// (/api/console/*: people only, a principal required), knows the user and polls while a run moves.
// The service decides what a user may do (core/kernel/authz.py); the page only hides what would be refused.
//
// Two ways to be somebody (console/config.json decides):
// - locally (no clientId): devstack/console.py plays Static Web Apps; /.auth/me names the user and the
//   same-origin /api/console/* calls carry its session cookie, which the proxy turns into a principal.
// - on Azure (clientId, authority, scope, apiBase): MSAL for the browser signs the user in to the
//   Entra registration and gets an access token for the Function App's scope, sent as
//   `Authorization: Bearer` to apiBase (the Function App); App Service Authentication validates it and
//   hands the app x-ms-client-principal with the token's app roles.

const view = document.getElementById("view");
const state = { me: null, roles: [], config: { apiBase: "", pollSeconds: 2 }, charts: {}, timer: null, route: "", msal: null };
const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#9a6700", "#57606a"];

// ------------------------------------------------------------------ helpers

const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const badge = (v) => `<span class="badge ${esc(v)}">${esc(v ?? "-")}</span>`;
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "-");
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "-");
const num = (v, d = 3) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(d)) : esc(v ?? "-"));
const isOperator = () => state.roles.includes("operator");

function kv(obj) {
  const rows = Object.entries(obj || {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  if (!rows.length) return `<p class="muted">none</p>`;
  return `<dl class="kv">${rows
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${typeof v === "object" ? `<pre>${esc(JSON.stringify(v, null, 1))}</pre>` : esc(v)}</dd>`)
    .join("")}</dl>`;
}

async function bearer() {
  // Azure: a fresh access token for the Function App (MSAL caches and renews it silently)
  const request = { scopes: [state.config.scope], account: state.msal.getActiveAccount() };
  try {
    return (await state.msal.acquireTokenSilent(request)).accessToken;
  } catch (e) {
    if (e instanceof window.msal.InteractionRequiredAuthError) await state.msal.acquireTokenRedirect(request);
    throw e;
  }
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
  if (state.msal) headers.Authorization = `Bearer ${await bearer()}`;
  const response = await fetch(`${state.config.apiBase}/api/console/${path}`, {
    ...options,
    headers,
    // locally the session cookie is the identity; on Azure the token is, and no cookie crosses origins
    credentials: state.msal ? "omit" : "same-origin",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

async function act(path, what, body) {
  if (!window.confirm(`${what}?`)) return;
  try {
    const answer = await api(path, { method: "POST", body: JSON.stringify(body || {}) });
    flash(`${what}: ${answer.status || "accepted"}`);
  } catch (e) {
    flash(`${what} refused: ${e.message}`, true);
  }
  refresh();
}

function flash(message, bad = false) {
  const el = document.getElementById("flash");
  if (el) {
    el.textContent = message;
    el.className = bad ? "fail" : "pass";
  }
}

function chart(id, config) {
  const canvas = document.getElementById(id);
  if (!canvas) return;
  const existing = state.charts[id];
  if (existing && existing.canvas === canvas) {
    existing.data = config.data;
    existing.options = config.options;
    existing.update("none");
    return;
  }
  if (existing) existing.destroy();
  state.charts[id] = new window.Chart(canvas, { ...config, options: { animation: false, maintainAspectRatio: false, ...config.options } });
}

// Re-render only when the HTML changed, so charts and inputs survive a poll that changed nothing.
function render(html) {
  if (view.dataset.html === html) return false;
  const reason = document.getElementById("retrain-reason");
  const kept = reason ? reason.value : null;
  view.innerHTML = html;
  view.dataset.html = html;
  const again = document.getElementById("retrain-reason");
  if (again && kept !== null) again.value = kept;
  for (const [id, c] of Object.entries(state.charts)) if (!document.getElementById(id)) (c.destroy(), delete state.charts[id]);
  return true;
}

// ------------------------------------------------------------------ pages

async function modelsPage() {
  const { models } = await api("models");
  const details = await Promise.all(models.map((m) => api(`models/${encodeURIComponent(m)}`)));
  const cards = details.map((d) => {
    const champion = d.champion && !d.champion.unavailable ? d.champion : null;
    const lineage = (champion && champion.lineage) || {};
    const metric = Object.entries(lineage).find(([k]) => k.startsWith("metric") || k === "auc");
    const endpoint = d.endpoint && !d.endpoint.unavailable ? d.endpoint : null;
    const running = d.recent_lifecycles.find((r) => !["rejected", "kept", "promoted", "rolled_back", "failed", "aborted"].includes(r.status));
    const runs = d.recent_lifecycles
      .map((r) => `<tr><td><a href="#/lifecycles/${esc(r.id)}">${esc(r.id)}</a></td><td>${badge(r.status)}</td><td>${esc(r.stage)}</td><td>${esc(r.challenger_version || "-")}</td><td>${when(r.created_at)}</td></tr>`)
      .join("");
    const pending = d.pending_requests
      .map((p) => `<tr><td>${esc(p.source)}</td><td>${when(p.received_at)}</td><td>${esc(p.held_reason || "debounce")}</td></tr>`)
      .join("");
    return `<section class="model" data-model="${esc(d.model)}">
      <h2>${esc(d.model)} ${running ? `· running <a href="#/lifecycles/${esc(running.id)}" id="running-${esc(d.model)}">${esc(running.id)}</a> ${badge(running.stage)}` : ""}</h2>
      <div class="grid">
        <div><h3>Champion</h3>${champion ? kv({ version: champion.version, [metric ? metric[0] : "metric"]: metric ? metric[1] : "-", since: when(champion.created_at) }) : `<p class="muted">no champion yet</p>`}</div>
        ${onlineFeatures(d.online_features)}
        <div><h3>Live split</h3>${endpoint ? kv(Object.fromEntries(Object.entries(endpoint.traffic).map(([dep, pct]) => [`${dep} (v${(endpoint.deployments[dep] || {}).version || "?"})`, `${pct}%`]))) : `<p class="muted">no endpoint</p>`}</div>
      </div>
      <h3>Requests waiting</h3>${pending ? `<table><tr><th>source</th><th>received</th><th>held for</th></tr>${pending}</table>` : `<p class="muted">none</p>`}
      ${d.last_hold ? `<p class="muted">last hold: ${esc(d.last_hold.held || JSON.stringify(d.last_hold))}</p>` : ""}
      <h3>Recent runs</h3><table><tr><th>lifecycle</th><th>outcome</th><th>stage</th><th>challenger</th><th>started</th></tr>${runs}</table>
      ${driftSection(d)}
      ${isOperator() ? `<div class="actions"><input id="retrain-reason" placeholder="reason (optional)" maxlength="1000"><button id="retrain" data-model="${esc(d.model)}">Retrain ${esc(d.model)}</button></div>` : ""}
    </section>`;
  });
  render(`<h1>Models</h1><p id="flash"></p>${cards.join("")}`);
  for (const d of details) if (d.drift && !d.drift.unavailable && d.drift.checks.length) driftChart(d);
}

// The drift monitor: the latest check per column against its thresholds, and which lifecycle each alert started.
function driftSection(d) {
  const drift = d.drift;
  if (!drift) return "";
  if (drift.unavailable) return `<h3>Drift</h3><p class="muted">${esc(drift.unavailable)}</p>`;
  const latest = drift.checks[drift.checks.length - 1];
  const columns = latest
    ? Object.keys(latest.psi)
        .map((c) => `<tr><td>${esc(c)}</td><td>${latest.psi[c].toFixed(3)}</td><td>${latest.p_value[c].toExponential(1)}</td><td>${latest.drifted.includes(c) ? badge("drift") : ""}</td></tr>`)
        .join("")
    : "";
  const alerts = drift.alerts
    .map((a) => `<tr><td>${esc(a.alert_rule)}</td><td>${when(a.received_at)}</td><td>${a.lifecycle ? `<a href="#/lifecycles/${esc(a.lifecycle)}">${esc(a.lifecycle)}</a>` : "waiting"}</td></tr>`)
    .join("");
  return `<h3>Drift</h3>
    ${latest ? `<p id="drift-${esc(d.model)}">last check ${time(latest.at)}: ${badge(latest.verdict)} on ${latest.rows} rows vs v${esc(latest.reference_version)}'s training data; a column drifts at p &lt; ${latest.level.toExponential(1)} with PSI ≥ ${drift.min_psi} (budget ${drift.false_alarms_per_30_days} false alarm / 30 days)</p>
    <div class="chart"><canvas id="chart-drift-${esc(d.model)}"></canvas></div>
    <table><tr><th>column</th><th>PSI</th><th>p</th><th></th></tr>${columns}</table>` : `<p class="muted">no check yet</p>`}
    <h4>Alerts and the lifecycles they started</h4>${alerts ? `<table><tr><th>rule</th><th>received</th><th>lifecycle</th></tr>${alerts}</table>` : `<p class="muted">none</p>`}`;
}

function driftChart(d) {
  const checks = d.drift.checks;
  const columns = Object.keys(checks[checks.length - 1].psi);
  chart(`chart-drift-${d.model}`, {
    type: "line",
    data: {
      labels: checks.map((c) => time(c.at)),
      datasets: [
        ...columns.map((c, i) => ({ label: c, data: checks.map((k) => k.psi[c] ?? null), borderColor: COLORS[i % COLORS.length], pointRadius: checks.map((k) => (k.drifted.includes(c) ? 5 : 1)) })),
        { label: "min PSI", data: checks.map(() => d.drift.min_psi), borderColor: "#888", borderDash: [6, 4], pointRadius: 0 },
      ],
    },
    options: { scales: { y: { min: 0, title: { display: true, text: "PSI vs the champion's training data" } } } },
  });
}

function onlineFeatures(f) {
  if (!f) return "";
  if (f.unavailable) return `<div><h3>Online features</h3><p class="muted">unavailable: ${esc(f.unavailable)}</p></div>`;
  const age = f.freshness_seconds == null ? "-" : f.freshness_seconds < 3600 ? `${Math.round(f.freshness_seconds / 60)} min ago` : `${(f.freshness_seconds / 3600).toFixed(1)} h ago`;
  return `<div id="online-features"><h3>Online features</h3>${kv({ "feature set": f.feature_set, serving: f.serving_version || "-", latest: f.latest_version ? `${f.latest_version} (${f.latest_entities} entities)` : "none yet", materialized: age, "champion on latest": f.serving_is_latest ? "yes" : "no" })}</div>`;
}

function approvalBox(detail) {
  const a = detail.approval;
  if (!a) return "";
  const left = Math.max(0, Math.round((new Date(a.deadline) - Date.now()) / 1000));
  const buttons = isOperator()
    ? `<button class="primary" id="approve">Approve</button><button class="danger" id="reject">Reject</button>`
    : `<span class="muted" id="read-only">read-only: an operator approves</span>`;
  return `<section id="approval"><h2>Waiting for approval</h2><p>${esc(a.reason)}. The timeout rejects in <strong id="time-left" data-deadline="${esc(a.deadline)}">${left}</strong> s (at ${time(a.deadline)}).</p><div class="actions">${buttons}</div></section>`;
}

function timeline(d) {
  const rows = [
    ...d.steps.map((e) => ({ at: e.at, what: `step: ${e.stage || e.step || ""}`, detail: e.phase !== undefined ? `phase ${e.phase}` : e.reason || e.job_name || "" })),
    ...d.decisions.map((e) => ({ at: e.at, what: `decision: ${e.verdict || e.operator || e.answer || e.stage || ""}`, detail: [e.reason, e.actor && `by ${e.actor}`, e.answer].filter(Boolean).join(" · ") })),
    ...d.errors.map((e) => ({ at: e.at, what: "error", detail: e.error || e.reason || JSON.stringify(e) })),
    ...d.events.map((e) => ({ at: e.at, what: `event: ${e.kind || e.type || ""}`, detail: "" })),
  ].sort((a, b) => (a.at < b.at ? -1 : 1));
  return rows.map((r) => `<tr><td>${time(r.at)}</td><td>${badge(r.what.split(": ")[1] || r.what)} ${esc(r.what.split(":")[0])}</td><td>${esc(r.detail)}</td></tr>`).join("");
}

function gateLooks(gates) {
  // one row per metric test per look: the statistic against its threshold, with n
  const looks = [];
  gates.forEach((g, i) => {
    for (const t of g.tests || []) {
      looks.push({ look: i + 1, at: g.at, percent: g.percent, verdict: g.verdict, metric: t.metric, n: t.green_n, blue_n: t.blue_n, green_rate: t.green_rate, blue_rate: t.blue_rate, stat: t.fail_e_value, threshold: t.fail_threshold, pass_stat: t.pass_e_value, pass_threshold: t.pass_threshold, outcome: t.outcome, reasons: g.reasons });
    }
    if (!(g.tests || []).length) looks.push({ look: i + 1, at: g.at, percent: g.percent, verdict: g.verdict, metric: "-", n: g.green_requests, reasons: g.reasons });
  });
  return looks;
}

function lifecycleCharts(d, live) {
  const green = (d.steps.find((s) => s.green) || {}).green;
  const blue = d.gates[0]?.blue || live.blue;
  const roles = { green: live.green || green, blue: live.blue || blue };
  // traffic split over time (stepped), one line per deployment
  const deployments = [...new Set(d.traffic.flatMap((t) => Object.keys(t.traffic || {})))];
  chart("chart-traffic", {
    type: "line",
    data: {
      labels: d.traffic.map((t) => time(t.at)),
      datasets: deployments.map((dep, i) => ({ label: named(dep, roles), data: d.traffic.map((t) => (t.traffic || {})[dep] ?? 0), stepped: true, borderColor: COLORS[i % COLORS.length] })),
    },
    options: { scales: { y: { min: 0, max: 100, title: { display: true, text: "% of live traffic" } } } },
  });
  // requests and errors by deployment, per gate look (cumulative over the step's window)
  const labels = d.gates.map((g, i) => `look ${i + 1} (${g.percent}%)`);
  const errorTest = (g) => (g.tests || []).find((t) => t.metric === "error_rate") || {};
  chart("chart-requests", {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: `challenger ${green || ""} requests`, data: d.gates.map((g) => g.green_requests), borderColor: COLORS[0] },
        { label: `champion ${blue || ""} requests`, data: d.gates.map((g) => g.blue_requests), borderColor: COLORS[5] },
        { label: `challenger ${green || ""} errors`, data: d.gates.map((g) => errorTest(g).green_events ?? 0), borderColor: COLORS[1] },
        { label: `champion ${blue || ""} errors`, data: d.gates.map((g) => errorTest(g).blue_events ?? 0), borderColor: COLORS[4] },
      ],
    },
    options: { scales: { y: { min: 0, title: { display: true, text: "requests in the gate window" } } } },
  });
  // the gate statistic vs its threshold, look by look (log scale: e-values grow exponentially)
  const metrics = [...new Set(d.gates.flatMap((g) => (g.tests || []).map((t) => t.metric)))];
  const datasets = [];
  metrics.forEach((m, i) => {
    const of = (g) => (g.tests || []).find((t) => t.metric === m) || {};
    datasets.push({ label: `${m}: evidence green is worse`, data: d.gates.map((g) => Math.max(of(g).fail_e_value ?? NaN, 1e-3)), borderColor: COLORS[i % COLORS.length] });
    datasets.push({ label: `${m}: fail threshold`, data: d.gates.map((g) => of(g).fail_threshold ?? null), borderColor: COLORS[i % COLORS.length], borderDash: [6, 4], pointRadius: 0 });
  });
  chart("chart-gates", {
    type: "line",
    data: { labels: d.gates.map((g, i) => `look ${i + 1} n=${g.green_requests}`), datasets },
    options: { scales: { y: { type: "logarithmic", title: { display: true, text: "mSPRT e-value (fail at threshold)" } } } },
  });
}

function lineage(d) {
  const l = d.lineage || {};
  const nodes = [
    ["trigger", (d.requests || []).map((r) => r.source).join(" + ") || (d.trigger || {}).source],
    ["data", d.data_version || l.data_version],
    ["jobs", [d.job_name || l.train_job, l.evaluation_job].filter(Boolean).join(", ")],
    ["model", d.challenger_version ? `${d.model} v${d.challenger_version}` : null],
    ["challenger deployment", (d.steps.find((s) => s.green) || {}).green],
    ["traffic", d.traffic.length ? JSON.stringify(d.traffic[d.traffic.length - 1].traffic) : null],
  ];
  return `<div class="lineage" id="lineage">${nodes.map(([k, v]) => `<span class="node"><span class="muted">${k}</span> ${esc(v || "-")}</span>`).join("→")}</div>${Object.keys(l).length ? `<details><summary>all lineage fields</summary>${kv(l)}</details>` : ""}`;
}

// Deployment names swap every rollout (the champion keeps its colour): say which role each plays.
function roleWords(version, deployment) {
  if (!version) return null;
  return deployment ? `v${version} on deployment ${deployment}` : `v${version}`;
}

// The role a deployment plays in this rollout: the challenger (green), the champion (blue), or neither.
function roleOf(name, live) {
  return name === live.green ? "challenger" : name === live.blue ? "champion" : "other";
}

const named = (name, live) => (name ? `${roleOf(name, live)} ${name}` : roleOf(name, live));

function splitWords(split, live) {
  if (!split) return null;
  return Object.entries(split).filter(([, v]) => v > 0).map(([k, v]) => `${named(k, live)} ${v}%`).join(" · ") || "none";
}

// What decided the run, in words: while it runs, the ramp's last move (core/rollout/ramp.py next_move);
// once it ended, the rollout's reason, else the champion/challenger verdict's.
function decidingReason(d, live, running) {
  if (running) return live.move || (live.gate ? `last gate ${live.gate.verdict}: ${(live.gate.reasons || []).join("; ")}` : "");
  const lifecycle = (d.orchestration && d.orchestration.custom_status) || {};
  return ((lifecycle.rollout || {}).reasons || [])[0] || live.reason || live.move || ((d.decision || {}).reasons || [])[0] || "";
}

// The evidence plans the rollout shows: labels of the online accuracy gate, mirrored pairs of the shadow gate.
function plans(live) {
  return [
    live.labels_plan ? `<p id="labels-plan">Labels: ${esc(live.labels_plan)}</p>` : "",
    live.pairs_plan ? `<p id="pairs-plan">Pairs: ${esc(live.pairs_plan)}</p>` : "",
  ].join("");
}

async function lifecyclePage(id) {
  const d = await api(`lifecycles/${encodeURIComponent(id)}`);
  const rollout = await api(`lifecycles/${encodeURIComponent(id)}-rollout`).catch(() => null);
  const live = (rollout && rollout.orchestration && rollout.orchestration.custom_status) || {};
  const running = ["Running", "Pending", "Suspended", "ContinuedAsNew"].includes((d.orchestration || {}).runtime_status);
  const rejected = d.decisions.find((e) => e.verdict === "rejected");
  const smoke = d.steps.find((s) => s.stage === "smoke");
  const rollback = d.decisions.find((e) => e.verdict === "rollback");
  const failed = d.gates.filter((g) => g.verdict === "fail");
  const looks = gateLooks(d.gates);
  const actions = running && isOperator()
    ? `<section><h2>Actions</h2><div class="actions"><button class="danger" id="rollback">Roll back</button><button id="abort">Abort</button><span id="flash"></span></div></section>`
    : `<p id="flash"></p>`;
  const html = `<h1>Lifecycle ${esc(d.id)} ${badge(running ? "running" : d.status)}</h1>
    <section id="summary">${kv({ model: d.model, stage: live.stage ? `${d.stage} / rollout: ${live.stage}` : d.stage, "traffic now": splitWords(live.split, live), challenger: roleWords(d.challenger_version, live.green), champion: roleWords(d.champion_version, live.blue), started: when(d.created_at), updated: when(d.updated_at) })}</section>
    ${approvalBox(d)}${actions}
    <section id="outcome"><h2>Outcome</h2><p>${badge(running ? "running" : d.status)} ${running ? esc(d.status) : ""} <span id="deciding-reason">${esc(decidingReason(d, live, running))}</span></p>${plans(live)}
      ${rollback ? `<p id="rollback-note">Rolled back at ${time(rollback.at)}: ${esc(rollback.reason)}; restored ${esc(JSON.stringify((rollback.restored || {}).traffic))}, deleted ${esc(rollback.deleted)}</p>` : ""}
      ${failed.length ? `<p id="failing-gate">Failing gate (look ${d.gates.indexOf(failed[0]) + 1}, ${failed[0].percent}%): ${esc((failed[0].reasons || []).join("; "))}</p>` : ""}
    </section>
    <div class="grid">
      <section><h2>Traffic split over time</h2><div class="chart"><canvas id="chart-traffic"></canvas></div></section>
      <section><h2>Requests and errors by deployment</h2><div class="chart"><canvas id="chart-requests"></canvas></div></section>
    </div>
    <section><h2>Gate evidence, look by look</h2><div class="chart"><canvas id="chart-gates"></canvas></div>
      <table id="gate-table"><tr><th>look</th><th>time</th><th>step</th><th>metric</th><th>n (challenger / champion)</th><th>rate challenger / champion</th><th>statistic</th><th>threshold</th><th>verdict</th></tr>
      ${looks.map((l) => `<tr class="look ${esc(l.verdict)}"><td>${l.look}</td><td>${time(l.at)}</td><td>${esc(l.percent)}%</td><td>${esc(l.metric)}</td><td>${num(l.n)} / ${num(l.blue_n)}</td><td>${num(l.green_rate)} / ${num(l.blue_rate)}</td><td>${num(l.stat)}</td><td>${num(l.threshold)}</td><td>${badge(l.verdict)}</td></tr>`).join("")}</table>
    </section>
    <div class="grid">
      <section><h2>Timeline</h2><table id="timeline">${timeline(d)}</table></section>
      <section><h2>Trigger requests consumed</h2><table>${(d.requests || []).map((r) => `<tr><td>${esc(r.source)}</td><td>${when(r.received_at)}</td><td>${esc(r.dedupe_key)}</td></tr>`).join("") || "<tr><td class=muted>none</td></tr>"}</table></section>
      <section><h2>Data</h2>${kv({ "data version": d.data_version, ...(d.metrics || {}) })}${rejected ? `<h3 class="rejected">Contract report (batch rejected)</h3>${kv(rejected)}` : ""}</section>
      <section><h2>Jobs</h2>${kv({ training: d.job_name, ...Object.fromEntries(d.steps.filter((s) => s.job || s.job_name).map((s) => [s.stage, s.job || s.job_name])) })}</section>
      <section><h2>Promotion decision</h2>${kv(d.decision)}</section>
      <section><h2>Smoke test</h2>${smoke ? kv({ ok: smoke.ok, rows: smoke.rows, error: smoke.error }) : `<p class="muted">not yet</p>`}</section>
    </div>
    <section><h2>Lineage</h2>${lineage(d)}</section>`;
  render(html);
  lifecycleCharts(d, live);
}

async function approvalsPage() {
  const { lifecycles } = await api("lifecycles?limit=100");
  const open = lifecycles.filter((l) => !["rejected", "kept", "promoted", "rolled_back", "failed", "aborted"].includes(l.status));
  const details = await Promise.all(open.map((l) => api(`lifecycles/${encodeURIComponent(l.id)}`)));
  const waiting = details.filter((d) => d.approval);
  render(`<h1>Approvals</h1><p id="flash"></p>${waiting.length ? waiting.map((d) => `<section><h2><a href="#/lifecycles/${esc(d.id)}">${esc(d.id)}</a> · ${esc(d.model)} v${esc(d.challenger_version)}</h2>${approvalBox(d).replace(/id="(approve|reject)"/g, `id="$1-${esc(d.id)}" data-run="${esc(d.id)}" data-action="$1"`)}</section>`).join("") : `<p class="muted">Nothing waits for approval.</p>`}`);
}

// ------------------------------------------------------------------ routing, polling, events

async function refresh() {
  clearTimeout(state.timer);
  const [page, ...rest] = (location.hash.replace(/^#\/?/, "") || "models").split("/");
  try {
    if (page === "lifecycles" && rest.length) await lifecyclePage(decodeURIComponent(rest.join("/")));
    else if (page === "approvals") await approvalsPage();
    else await modelsPage();
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    render(`<p id="error">${esc(e.message)}</p>${e.status === 401 ? `<p><a href="/.auth/login/aad?post_login_redirect_uri=${esc(encodeURIComponent(location.pathname + location.hash))}">Sign in</a></p>` : ""}`);
  }
  state.timer = setTimeout(refresh, state.config.pollSeconds * 1000);
}

setInterval(() => {
  const el = document.getElementById("time-left");
  if (el) el.textContent = Math.max(0, Math.round((new Date(el.dataset.deadline) - Date.now()) / 1000));
}, 1000);

view.addEventListener("click", (event) => {
  const b = event.target.closest("button");
  if (!b) return;
  const id = decodeURIComponent(location.hash.split("/").slice(2).join("/"));
  if (b.dataset.run) return act(`lifecycles/${encodeURIComponent(b.dataset.run)}/${b.dataset.action}`, `${b.dataset.action} ${b.dataset.run}`);
  if (b.id === "approve") return act(`lifecycles/${encodeURIComponent(id)}/approve`, `Approve the next step of ${id}`);
  if (b.id === "reject") return act(`lifecycles/${encodeURIComponent(id)}/reject`, `Reject ${id} (rolls back)`);
  if (b.id === "rollback") return act(`lifecycles/${encodeURIComponent(id)}/rollback`, `Roll back ${id} to the split before it`);
  if (b.id === "abort") return act(`lifecycles/${encodeURIComponent(id)}/abort`, `Abort ${id}`);
  if (b.id === "retrain") {
    const reason = document.getElementById("retrain-reason").value.trim();
    return act(`models/${encodeURIComponent(b.dataset.model)}/retrain`, `Retrain ${b.dataset.model}${reason ? ` (${reason})` : ""}`, { reason });
  }
});

window.addEventListener("hashchange", () => {
  view.dataset.html = "";
  refresh();
});

// Azure: sign in with MSAL (redirect flow; console/auth-redirect.html hands the answer back) and take
// the user and app roles from the ID token of the same Entra registration.
async function signInWithEntra() {
  const { clientId, authority, scope } = state.config;
  const pca = await window.msal.createStandardPublicClientApplication({
    auth: { clientId, authority, redirectUri: `${location.origin}/auth-redirect.html` },
    cache: { cacheLocation: "sessionStorage" },
  });
  const answer = await pca.handleRedirectPromise();
  const account = (answer && answer.account) || pca.getActiveAccount() || pca.getAllAccounts()[0];
  if (!account) {
    await pca.loginRedirect({ scopes: [scope], redirectStartPage: location.href });
    return null;
  }
  pca.setActiveAccount(account);
  state.msal = pca;
  const claims = account.idTokenClaims || {};
  return { identityProvider: "aad", userId: claims.oid || account.localAccountId, userDetails: account.username, userRoles: claims.roles || [] };
}

async function whoAmI() {
  if (state.config.clientId) return signInWithEntra();
  const me = await fetch("/.auth/me").then((r) => r.json()).catch(() => ({}));
  return me.clientPrincipal;
}

async function start() {
  state.config = { ...state.config, ...(await fetch("/config.json").then((r) => (r.ok ? r.json() : {})).catch(() => ({}))) };
  document.getElementById("interval").textContent = state.config.pollSeconds;
  state.me = await whoAmI();
  state.roles = (state.me && state.me.userRoles) || [];
  const who = document.getElementById("who");
  const signOut = state.msal ? `<a href="#" id="sign-out">sign out</a>` : `<a href="/.auth/logout">sign out</a>`;
  who.innerHTML = state.me
    ? `<span id="user">${esc(state.me.userDetails)}</span> <span class="badge" id="role">${esc(state.roles.filter((r) => r === "reader" || r === "operator").join(", ") || "no role")}</span> ${signOut}`
    : `<a href="/.auth/login/aad?post_login_redirect_uri=${esc(encodeURIComponent(location.pathname + location.hash))}" id="sign-in">sign in</a>`;
  const out = document.getElementById("sign-out");
  if (out) out.addEventListener("click", (e) => (e.preventDefault(), state.msal.logoutRedirect({ postLogoutRedirectUri: "/.auth/logout" })));
  refresh();
}

start();
