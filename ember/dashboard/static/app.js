// The dashboard's pages: the function list (#/), a function (#/functions/NAME) and the server
// (#/server). Every page reads through api.js; timers of the page left behind are stopped.
"use strict";

const REFRESH_MS = 5000;
const LOG_POLL_MS = 2000;
const CHART_WINDOW_S = 3600;
let timers = [];
let charts = [];

// ---- small helpers -------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(id, headers, rows) {
  return el("table", {id},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

function every(ms, work) {
  work();
  timers.push(setInterval(work, ms));
}

function showError(container, error) {
  container.replaceChildren(el("p", {class: "error"}, String(error.message || error)));
}

const fmt = {
  ms: (v) => (v === null || v === undefined ? "–" : `${v < 10 ? v.toFixed(2) : Math.round(v)} ms`),
  pct: (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`),
  age: (s) => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`),
  time: (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 23),
};

async function listFunctions() {
  const functions = [];
  let marker;
  do {
    const query = marker ? `?Marker=${encodeURIComponent(marker)}` : "";
    const page = await api.lambda("GET", `/2015-03-31/functions/${query}`);
    functions.push(...page.Functions);
    marker = page.NextMarker;
  } while (marker);
  return functions;
}

/** One GetMetricData call; queries: [{id, metric, stat, dimensions, period}] → {id: {timestamps, values}}. */
async function metricData(queries, windowS) {
  const end = Math.ceil(Date.now() / 60000) * 60;
  const result = await api.cloudwatch("GetMetricData", {
    StartTime: end - windowS, EndTime: end, ScanBy: "TimestampAscending",
    MetricDataQueries: queries.map((q) => ({
      Id: q.id,
      MetricStat: {
        Metric: {Namespace: "AWS/Lambda", MetricName: q.metric,
                 Dimensions: Object.entries(q.dimensions).map(([Name, Value]) => ({Name, Value}))},
        Period: q.period, Stat: q.stat,
      },
    })),
  });
  const byId = {};
  for (const r of result.MetricDataResults) byId[r.Id] = {timestamps: r.Timestamps, values: r.Values};
  return byId;
}

const sum = (series) => (series ? series.values.reduce((a, b) => a + b, 0) : 0);

// ---- the function list -----------------------------------------------------------------------

async function functionListPage(view) {
  const body = el("tbody");
  view.replaceChildren(el("h1", {}, "Functions"),
    el("p", {class: "muted"}, "Invocations, error rate and p99 duration over the last hour."),
    el("table", {id: "function-table"},
      el("thead", {}, el("tr", {}, ["Name", "Runtime", "Memory", "State", "Invocations (1 h)", "Error rate",
                                    "p99 duration"].map((h) => el("th", {}, h)))),
      body));
  every(REFRESH_MS, async () => {
    try {
      const functions = await listFunctions();
      const configs = await Promise.all(functions.map((f) =>
        api.lambda("GET", `/2015-03-31/functions/${encodeURIComponent(f.FunctionName)}/configuration`)
          .catch(() => f)));
      const queries = functions.flatMap((f, i) => {
        const dimensions = {FunctionName: f.FunctionName};
        return [{id: `i${i}`, metric: "Invocations", stat: "Sum", dimensions, period: CHART_WINDOW_S},
                {id: `e${i}`, metric: "Errors", stat: "Sum", dimensions, period: CHART_WINDOW_S},
                {id: `d${i}`, metric: "Duration", stat: "p99", dimensions, period: CHART_WINDOW_S}];
      });
      const data = queries.length ? await metricData(queries, CHART_WINDOW_S) : {};
      body.replaceChildren(...(functions.length ? configs.map((f, i) => {
        const invocations = sum(data[`i${i}`]);
        const errors = sum(data[`e${i}`]);
        const p99 = data[`d${i}`] && data[`d${i}`].values.length ? Math.max(...data[`d${i}`].values) : null;
        return el("tr", {"data-function": f.FunctionName},
          el("td", {}, el("a", {href: `#/functions/${encodeURIComponent(f.FunctionName)}`}, f.FunctionName)),
          el("td", {}, f.Runtime), el("td", {}, `${f.MemorySize} MB`),
          el("td", {class: `state state-${(f.State || "").toLowerCase()}`}, f.State || "–"),
          el("td", {class: "num"}, invocations), el("td", {class: "num"}, invocations ? fmt.pct(errors / invocations) : "–"),
          el("td", {class: "num"}, fmt.ms(p99)));
      }) : [el("tr", {}, el("td", {colspan: 7, class: "muted"},
        "No functions yet: create one with the aws CLI, boto3 or `ember deploy`."))]));
    } catch (error) {
      body.replaceChildren(el("tr", {}, el("td", {colspan: 7, class: "error"}, String(error.message))));
    }
  });
}

// ---- one function ----------------------------------------------------------------------------

async function functionPage(view, name) {
  const path = `/2015-03-31/functions/${encodeURIComponent(name)}`;
  const configBox = el("div", {id: "config"}, "Loading…");
  const versionsBox = el("div", {id: "versions"});
  const aliasesBox = el("div", {id: "aliases"});
  const envBox = el("div", {id: "environments"});
  const chartBox = el("div", {id: "charts", class: "charts"});
  const logView = el("pre", {id: "log-view", class: "log"});
  const payload = el("textarea", {id: "payload", rows: 5, spellcheck: "false"}, "{}");
  const result = el("pre", {id: "invoke-result", class: "result"});
  const invokeLog = el("pre", {id: "invoke-log", class: "log"});
  const invokeButton = el("button", {id: "invoke-button", type: "submit"}, "Invoke");
  const form = el("form", {id: "invoke-form", onsubmit: async (event) => {
    event.preventDefault();
    invokeButton.disabled = true;
    result.textContent = "…";
    result.className = "result";
    try {
      const outcome = await api.invoke(name, payload.value);
      result.textContent = outcome.payload;
      if (outcome.functionError) result.className = "result error";
      invokeLog.textContent = outcome.logTail;
    } catch (error) {
      result.textContent = String(error.message);
      result.className = "result error";
    } finally {
      invokeButton.disabled = false;
    }
  }}, el("label", {for: "payload"}, "Payload (JSON)"), payload, invokeButton);

  view.replaceChildren(
    el("h1", {id: "function-name"}, name),
    el("section", {}, el("h2", {}, "Configuration"), configBox),
    el("div", {class: "columns"},
      el("section", {}, el("h2", {}, "Versions"), versionsBox),
      el("section", {}, el("h2", {}, "Aliases"), aliasesBox)),
    el("section", {}, el("h2", {}, "Invoke"), form, el("h3", {}, "Result"), result, el("h3", {}, "Log tail"), invokeLog),
    el("section", {}, el("h2", {}, "Last hour"), chartBox),
    el("section", {}, el("h2", {}, "Execution environments"), envBox),
    el("section", {}, el("h2", {}, "Live log"), logView));

  try {
    const fn = await api.lambda("GET", path);
    const c = fn.Configuration;
    const variables = (c.Environment && c.Environment.Variables) || {};
    configBox.replaceChildren(el("dl", {},
      [["Runtime", c.Runtime], ["Handler", c.Handler], ["Memory", `${c.MemorySize} MB`],
       ["Timeout", `${c.Timeout} s`], ["State", c.State], ["Code size", `${c.CodeSize} bytes`],
       ["Last modified", c.LastModified], ["Role", c.Role],
       ["Environment", Object.keys(variables).length ? Object.entries(variables).map(([k, v]) => `${k}=${v}`).join(", ") : "–"],
      ].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v === undefined ? "–" : v)])));
  } catch (error) {
    showError(configBox, error);
    return;
  }
  api.lambda("GET", `${path}/versions`).then((page) => versionsBox.replaceChildren(table("version-table",
    ["Version", "Description", "Last modified"],
    page.Versions.map((v) => el("tr", {}, el("td", {}, v.Version), el("td", {}, v.Description || ""),
                                el("td", {}, v.LastModified)))))).catch((error) => showError(versionsBox, error));
  api.lambda("GET", `${path}/aliases`).then((page) => aliasesBox.replaceChildren(page.Aliases.length
    ? table("alias-table", ["Alias", "Version", "Weights"], page.Aliases.map((a) => el("tr", {},
        el("td", {}, a.Name), el("td", {}, a.FunctionVersion),
        el("td", {}, a.RoutingConfig ? JSON.stringify(a.RoutingConfig.AdditionalVersionWeights) : "–"))))
    : el("p", {class: "muted"}, "No aliases."))).catch((error) => showError(aliasesBox, error));

  every(REFRESH_MS, () => drawCharts(chartBox, name));
  every(REFRESH_MS / 2, async () => {
    try {
      const info = await api.ember(`functions/${encodeURIComponent(name)}/environments`);
      envBox.replaceChildren(info.environments.length ? table("environment-table",
        ["Environment", "Version", "State", "Age", "Memory", "Peak memory", "Invocations"],
        info.environments.map((e) => el("tr", {class: `env-${e.state}`},
          el("td", {class: "mono"}, e.environmentId.slice(0, 12)), el("td", {}, e.version),
          el("td", {}, e.state + (e.isProvisioned ? " (provisioned)" : "")), el("td", {}, fmt.age(e.ageS)),
          el("td", {}, `${e.memoryMb} MB`), el("td", {}, `${e.peakMemoryMb} MB`), el("td", {class: "num"}, e.invocations))))
        : el("p", {class: "muted"}, "No environments: the next invocation starts one."));
    } catch (error) {
      showError(envBox, error);
    }
  });
  followLog(logView, name);
}

async function drawCharts(box, name) {
  const dimensions = {FunctionName: name};
  const specs = [
    {title: "Invocations", series: [{id: "inv", metric: "Invocations", stat: "Sum", label: "invocations"}]},
    {title: "Errors", series: [{id: "err", metric: "Errors", stat: "Sum", label: "errors"}]},
    {title: "Duration (ms)", series: [{id: "avg", metric: "Duration", stat: "Average", label: "average"},
                                      {id: "ptop", metric: "Duration", stat: "p99", label: "p99"}]},
    {title: "Concurrency", series: [{id: "conc", metric: "ConcurrentExecutions", stat: "Maximum", label: "max"}]},
  ];
  let data;
  try {
    data = await metricData(specs.flatMap((s) => s.series.map((q) => ({...q, dimensions, period: 60}))), CHART_WINDOW_S);
  } catch (error) {
    showError(box, error);
    return;
  }
  const end = Math.ceil(Date.now() / 60000) * 60;
  const minutes = [];
  for (let t = end - CHART_WINDOW_S; t < end; t += 60) minutes.push(t);
  charts.forEach((chart) => chart.destroy());
  charts = [];
  box.replaceChildren();
  const colours = ["#d9480f", "#1c7ed6"];
  for (const spec of specs) {
    const columns = spec.series.map((q) => {
      const byTime = new Map((data[q.id] ? data[q.id].timestamps : []).map((t, i) => [t, data[q.id].values[i]]));
      return minutes.map((t) => (byTime.has(t) ? byTime.get(t) : q.stat === "Sum" ? 0 : null));
    });
    const holder = el("div", {class: "chart", "data-metric": spec.title});
    box.append(holder);
    charts.push(new uPlot({
      title: spec.title, width: 460, height: 180,
      // Points shown: a minute with data between empty ones is otherwise an invisible line.
      series: [{}, ...spec.series.map((q, i) => ({label: q.label, stroke: colours[i], width: 2,
                                                  points: {show: true, size: 4},
                                                  fill: i === 0 ? "rgba(217,72,15,0.08)" : undefined}))],
      axes: [{}, {size: 50}],
      scales: {y: {range: (u, min, max) => [0, Math.max(1, max)]}},
    }, [minutes, ...columns], holder));
  }
}

function followLog(view, name) {
  const group = `/aws/lambda/${name}`;
  const seen = new Set();
  let since = Date.now() - 15 * 60 * 1000;
  view.textContent = "";
  every(LOG_POLL_MS, async () => {
    try {
      let token;
      do {
        const page = await api.logs("FilterLogEvents", {logGroupName: group, startTime: since, nextToken: token});
        for (const event of page.events) {
          if (seen.has(event.eventId)) continue;
          seen.add(event.eventId);
          since = Math.max(since, event.timestamp);
          const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 4;
          view.append(el("span", {class: "stamp"}, fmt.time(event.timestamp) + " "), event.message);
          if (atBottom) view.scrollTop = view.scrollHeight;
        }
        token = page.nextToken;
      } while (token);
      if (!view.textContent) view.textContent = "No log events in the last 15 minutes.";
    } catch (error) {
      if (error.code === "ResourceNotFoundException") view.textContent = "No logs yet: invoke the function.";
      else view.textContent = String(error.message);
    }
  });
}

// ---- the server ------------------------------------------------------------------------------

async function serverPage(view) {
  const box = el("div", {id: "server"}, "Loading…");
  view.replaceChildren(el("h1", {}, "Server"), box);
  every(REFRESH_MS, async () => {
    try {
      const health = await api.ember("health");
      const sandbox = health.sandbox;
      // replaceChildren, unlike el(), would show a null child as the text "null": skip absent parts
      box.replaceChildren(...[
        el("dl", {},
          [["Status", health.status], ["Version", health.version], ["Uptime", fmt.age(health.uptime_s)],
           ["Environments", health.environments]].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
        el("h2", {}, "Sandbox"),
        el("p", {}, el("strong", {id: "sandbox-level"}, sandbox.level), " — ", sandbox.description),
        sandbox.warning ? el("p", {class: "error"}, sandbox.warning) : null,
        el("h2", {}, "Runtimes"),
        table("runtime-table", ["Runtime", "Interpreter"], Object.entries(health.runtimes).map(([runtime, path]) =>
          el("tr", {}, el("td", {}, runtime), el("td", {class: "mono"}, path || "not on this host")))),
        el("p", {}, el("a", {href: "/metrics"}, "Prometheus metrics"))].filter((part) => part !== null));
    } catch (error) {
      showError(box, error);
    }
  });
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  charts.forEach((chart) => chart.destroy());
  charts = [];
  const view = document.getElementById("view");
  const hash = location.hash || "#/";
  const fn = hash.match(/^#\/functions\/(.+)$/);
  if (fn) await functionPage(view, decodeURIComponent(fn[1]));
  else if (hash === "#/server") await serverPage(view);
  else await functionListPage(view);
}

async function showSandboxBadge() {
  try {
    const health = await api.ember("health");
    const badge = document.getElementById("sandbox-badge");
    badge.textContent = `sandbox: ${health.sandbox.level}`;
    if (health.sandbox.warning) badge.classList.add("warn");
  } catch (_) { /* the pages show errors themselves */ }
}

function showSession(session) {
  if (!session.signedIn) return;  // open mode: nobody signs in
  const signOut = el("button", {id: "sign-out", type: "button", onclick: () => api.signOut()}, "Sign out");
  document.getElementById("session").replaceChildren(el("span", {id: "signed-in-as"}, session.arn), signOut);
}

async function start() {
  const session = await api.session();
  if (!session) return;  // on the way to the sign-in page
  showSession(session);
  window.addEventListener("hashchange", route);
  showSandboxBadge();
  route();
}

start();
