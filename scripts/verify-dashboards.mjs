#!/usr/bin/env node
// Runs every Grafana panel query (grafana/dashboards/*.json) against a live
// Prometheus and reports the health of its alert rules.
//
//   node scripts/verify-dashboards.mjs [PROMETHEUS_URL] [--strict]
//   PROMETHEUS_URL=http://127.0.0.1:9090 node scripts/verify-dashboards.mjs
//
// Each panel target's expr has its Grafana variables replaced ($__rate_interval,
// $__interval and $__range by 1m; a template variable such as $service by its
// default value, `.*` when that is "All") and runs as an instant query via
// /api/v1/query. One line per query:
//
//   OK    <dashboard> / <panel title> [refId]: N series
//   EMPTY ... 0 series, followed by hints: which metric names have no series
//         at all in Prometheus, which label matchers match nothing (with the
//         values that do exist), so that a wrong name is told apart from an
//         event that has not happened yet.
//   ERROR ... Prometheus rejected the query (bad PromQL): the message.
//
// Then every rule from /api/v1/rules: health (ok expected) and state, and
// the alerts currently pending or firing.
//
// Exit status: 0 when every query ran and no rule is unhealthy (EMPTY queries
// are reported but allowed, unless --strict); 1 on an ERROR query, a rule
// whose health is "err", or (with --strict) an EMPTY query; 2 when Prometheus
// cannot be reached or there are no dashboards. Plain Node >= 18, no deps.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
/* global AbortSignal */
import { URLSearchParams, fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const strict = args.includes('--strict');
const positional = args.filter((a) => !a.startsWith('--'));
const promUrl = (positional[0] ?? process.env.PROMETHEUS_URL ?? 'http://127.0.0.1:9090').replace(/\/+$/, '');
const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const dashboardsDir = process.env.DASHBOARDS_DIR ?? join(repo, 'grafana', 'dashboards');
const RANGE = '1m';

// ------------------------------------------------------------ prometheus api
async function api(path, params) {
  const body = params ? new URLSearchParams(params) : undefined;
  let res;
  try {
    res = await fetch(`${promUrl}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
      body,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    const e = new Error(`cannot reach Prometheus at ${promUrl}: ${err.cause?.message ?? err.message}`);
    e.unreachable = true;
    throw e;
  }
  let json;
  try {
    json = await res.json();
  } catch {
    throw new Error(`${path}: HTTP ${res.status}, not a Prometheus API answer`);
  }
  return json; // {status: 'success'|'error', data?, errorType?, error?, warnings?}
}

const query = (q) => api('/api/v1/query', { query: q });

async function countOf(q) {
  const r = await query(q);
  if (r.status !== 'success') return null;
  const v = r.data.result[0]?.value?.[1];
  return v === undefined ? 0 : Number(v);
}

// ------------------------------------------------------------ grafana variables
function variableDefaults(dashboard) {
  const vars = new Map();
  for (const v of dashboard.templating?.list ?? []) {
    const cur = v.current?.value;
    const values = Array.isArray(cur) ? cur : cur === undefined || cur === '' ? [] : [cur];
    let value;
    if (values.length === 0 || values.includes('$__all')) {
      value = v.allValue || (v.type === 'constant' || v.type === 'textbox' ? String(v.query ?? '') : '.*');
    } else if (values.length === 1) {
      value = String(values[0]);
    } else {
      value = `(${values.join('|')})`;
    }
    vars.set(v.name, value);
  }
  return vars;
}

function expand(expr, vars) {
  return expr
    .replace(/\$\{?__(rate_interval|interval|range)\}?/g, RANGE)
    .replace(/\$\{?__interval_ms\}?/g, '60000')
    .replace(/\$\{?__range_s\}?/g, '60')
    .replace(/\$\{([A-Za-z0-9_]+)(?::[A-Za-z]+)?\}|\[\[([A-Za-z0-9_]+)\]\]|\$([A-Za-z0-9_]+)/g, (m, a, b, c) => {
      const name = a ?? b ?? c;
      return vars.has(name) ? vars.get(name) : '.*';
    });
}

// ------------------------------------------------------------ hints for EMPTY
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan', 'atan2']);

/** Selectors in an expr: [{metric, matchers: [{label, op, value}]}]. A heuristic, good enough for hints. */
function selectors(expr) {
  const blank = (m) => ' '.repeat(m.length);
  // Same-length masking keeps offsets into expr valid: strings, label lists of
  // by/without/on/ignoring/group_x (...), and range/subquery brackets.
  const masked = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, (m) => m[0] + '_'.repeat(m.length - 2) + m[0])
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, blank)
    .replace(/\[[^\]]*\]/g, blank);
  const out = [];
  for (const m of masked.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)?\s*(\{[^}]*\})|[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const end = m.index + m[0].length;
    let metric = m[2] ? m[1] : m[0];
    if (!m[2]) {
      if (/[0-9.]/.test(masked[m.index - 1] ?? '')) continue; // 10m, 1e3
      if (/^\s*\(/.test(masked.slice(end))) continue; // a function call
      if (KEYWORDS.has(metric.toLowerCase())) continue;
    }
    const matchers = m[2]
      ? [...expr.slice(end - m[2].length, end).matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => ({
          label: x[1],
          op: x[2],
          value: x[3],
        }))
      : [];
    metric ??= matchers.find((x) => x.label === '__name__' && x.op === '=')?.value;
    if (metric) out.push({ metric, matchers: matchers.filter((x) => x.label !== '__name__') });
  }
  return out;
}

/** How many series match a selector anywhere in Prometheus' retained history (not just now). */
async function seriesEver(selector) {
  const r = await api(`/api/v1/series?${new URLSearchParams({ 'match[]': selector })}`);
  return r.status === 'success' ? r.data.length : 0;
}

const sel = (metric, extra = '') => `{__name__=${JSON.stringify(metric)}${extra ? `,${extra}` : ''}}`;

/**
 * Checks each selector of expr on its own: does the metric exist, does each
 * label matcher match a series. Returns {problems, fine}: problems name a
 * metric with no series, a label no series has, or a value nothing has (with
 * the values present); fine says which selectors match.
 */
async function checkSelectors(expr) {
  const problems = [];
  const fine = [];
  const seen = new Set();
  for (const { metric, matchers } of selectors(expr)) {
    const key = metric + JSON.stringify(matchers);
    if (seen.has(key)) continue;
    seen.add(key);
    const n = await countOf(`count(${sel(metric)})`);
    if (n === 0) {
      const ever = await seriesEver(sel(metric));
      problems.push(
        ever
          ? `metric ${metric}: no live series now, but ${ever} in Prometheus' history (the name is right; its processes restarted or stopped exporting it)`
          : `metric ${metric}: no series at all in Prometheus (wrong name, or never incremented/exported yet)`,
      );
      continue;
    }
    let allMatch = true;
    for (const { label, op, value } of matchers) {
      if (op === '!=' || op === '!~') continue; // a negative matcher matching nothing is not a naming problem
      const exists = (await countOf(`count(${sel(metric, `${label}=~".+"`)})`)) || (await seriesEver(sel(metric, `${label}=~".+"`)));
      if (exists === 0) {
        problems.push(`metric ${metric}: no series has a label "${label}" (wrong label name?)`);
        allMatch = false;
        continue;
      }
      const hit = await countOf(`count(${sel(metric, `${label}${op}${JSON.stringify(value)}`)})`);
      if (hit === 0) {
        const matcher = `${label}${op}${JSON.stringify(value)}`;
        const ever = await seriesEver(sel(metric, matcher));
        if (ever) {
          problems.push(
            `metric ${metric}: no live series with ${label}${op}"${value}" now, but ${ever} in Prometheus' history (the value is right; it has not happened since a restart)`,
          );
        } else {
          const lv = await api(`/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': sel(metric) })}`);
          const values = lv.status === 'success' ? lv.data : [];
          problems.push(
            `metric ${metric}: no series ever with ${label}${op}"${value}"; values seen: ${values.map((v) => JSON.stringify(v)).join(', ') || '(none)'} (not happened yet, or a wrong value)`,
          );
        }
        allMatch = false;
      }
    }
    if (allMatch) fine.push(`metric ${metric}: ${n} series${matchers.length ? ', its matchers match' : ''}`);
  }
  return { problems, fine };
}

// ------------------------------------------------------------ dashboards
function panelsOf(panels, acc = []) {
  for (const p of panels ?? []) {
    acc.push(p);
    panelsOf(p.panels, acc);
  }
  return acc;
}

function loadDashboards() {
  let files;
  try {
    files = readdirSync(dashboardsDir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch (err) {
    console.error(`cannot read ${dashboardsDir}: ${err.message}`);
    process.exit(2);
  }
  if (!files.length) {
    console.error(`no dashboards in ${dashboardsDir}`);
    process.exit(2);
  }
  const queries = [];
  for (const f of files) {
    const path = join(dashboardsDir, f);
    const d = JSON.parse(readFileSync(path, 'utf8'));
    const vars = variableDefaults(d);
    for (const p of panelsOf(d.panels)) {
      for (const t of p.targets ?? []) {
        if (!t.expr || t.hide) continue;
        queries.push({
          file: relative(process.cwd(), path),
          dashboard: d.uid ?? f,
          title: p.title ?? `panel ${p.id}`,
          refId: t.refId ?? '?',
          legend: t.legendFormat ?? '',
          expr: expand(t.expr, vars),
        });
      }
    }
  }
  return queries;
}

// ------------------------------------------------------------ main
async function main() {
  const queries = loadDashboards();
  try {
    const b = await api('/api/v1/status/buildinfo');
    console.log(`Prometheus ${promUrl} (version ${b.data?.version ?? '?'}); ${queries.length} dashboard queries; Grafana ranges -> ${RANGE}`);
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }

  const counts = { OK: 0, EMPTY: 0, ERROR: 0 };
  let notes = 0;
  for (const q of queries) {
    const label = `${q.dashboard} / "${q.title}" [${q.refId}]`;
    let r;
    try {
      r = await query(q.expr);
    } catch (err) {
      console.error(err.message);
      process.exit(2);
    }
    if (r.status !== 'success') {
      counts.ERROR++;
      console.log(`ERROR ${label}: ${r.errorType}: ${r.error}`);
      console.log(`      expr: ${q.expr}`);
      continue;
    }
    const { resultType, result } = r.data;
    const series = resultType === 'scalar' || resultType === 'string' ? 1 : result.length;
    const values = resultType === 'vector' ? result.map((s) => s.value[1]) : resultType === 'scalar' ? [result[1]] : [];
    if (series === 0) {
      counts.EMPTY++;
      console.log(`EMPTY ${label}: 0 series`);
      console.log(`      expr: ${q.expr}`);
      const { problems, fine } = await checkSelectors(q.expr);
      for (const h of problems) console.log(`      hint: ${h}`);
      for (const h of fine) console.log(`      hint: ${h} (so the names are right: empty because of the window or the expression)`);
      if (!problems.length && !fine.length) console.log('      hint: no metric selector recognised in the expression');
    } else {
      counts.OK++;
      const nan = values.length && values.every((v) => v === 'NaN') ? ' (all NaN: no observations in the window)' : '';
      console.log(`OK    ${label}: ${series} series${nan}`);
      // `or vector(0)` and the like hide a selector that matches nothing.
      const { problems } = await checkSelectors(q.expr);
      // A legend naming a label the result does not carry shows up blank in Grafana.
      if (resultType === 'vector' || resultType === 'matrix') {
        for (const [, name] of q.legend.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) {
          if (!result.some((r) => name in r.metric))
            problems.push(
              `legendFormat uses {{${name}}}, a label no result series has (labels: ${[...new Set(result.flatMap((r) => Object.keys(r.metric)))].join(', ') || 'none'})`,
            );
        }
      }
      for (const h of problems) console.log(`      note: ${h}`);
      if (problems.length) notes++;
    }
    for (const w of r.warnings ?? []) console.log(`      warning: ${w}`);
  }
  console.log(
    `queries: ${counts.OK} OK, ${counts.EMPTY} EMPTY, ${counts.ERROR} ERROR; ${notes} OK queries with a note (a selector matching nothing, or a legend label missing)`,
  );

  // ---------------------------------------------------------- rules and alerts
  console.log('');
  const rules = await api('/api/v1/rules');
  let unhealthy = 0;
  let alerting = 0;
  if (rules.status !== 'success') {
    console.log(`ERROR /api/v1/rules: ${rules.error}`);
    unhealthy++;
  } else {
    for (const g of rules.data.groups) {
      for (const rule of g.rules) {
        if (rule.type !== 'alerting') {
          if (rule.health === 'err') {
            unhealthy++;
            console.log(`RULE  health=err  record ${rule.name} (group ${g.name}): ${rule.lastError}`);
          }
          continue;
        }
        alerting++;
        if (rule.health === 'err') unhealthy++;
        const active = (rule.alerts ?? []).map(
          (a) =>
            `${a.state}{${Object.entries(a.labels)
              .filter(([k]) => k !== 'alertname' && k !== 'severity')
              .map(([k, v]) => `${k}="${v}"`)
              .join(',')}}`,
        );
        console.log(
          `RULE  health=${rule.health.padEnd(7)} state=${(rule.state ?? '?').padEnd(8)} ${rule.name} (group ${g.name})` +
            (rule.lastError ? `: ${rule.lastError}` : '') +
            (active.length ? ` active: ${active.join(' ')}` : ''),
        );
        // A rule over a selector that matches nothing is healthy but can never fire.
        for (const h of (await checkSelectors(rule.query)).problems) console.log(`      note: ${h}`);
      }
    }
    if (!alerting) console.log('no alerting rules loaded (is rule_files set in the Prometheus config?)');
  }
  const alerts = await api('/api/v1/alerts');
  const active = alerts.status === 'success' ? alerts.data.alerts : [];
  console.log(
    `alert rules: ${alerting}, unhealthy: ${unhealthy}; active alerts: ${active.length ? active.map((a) => `${a.labels.alertname}[${a.state}]`).join(', ') : 'none'}`,
  );

  const fail = counts.ERROR > 0 || unhealthy > 0 || (strict && counts.EMPTY > 0);
  process.exit(fail ? 1 : 0);
}

main().catch((err) => {
  console.error(err.stack ?? err.message);
  process.exit(2);
});
