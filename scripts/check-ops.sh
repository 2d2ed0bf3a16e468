#!/usr/bin/env bash
# Validates the ops configuration: docker-compose, Prometheus config, alert
# rules and their unit tests, Alertmanager config, Grafana provisioning and
# dashboards (JSON structure, and every panel query through promtool).
#
#   scripts/check-ops.sh
#   PROMETHEUS_URL=http://127.0.0.1:9090 scripts/check-ops.sh   # + live queries
#
# With PROMETHEUS_URL set, it also runs scripts/verify-dashboards.mjs: every
# dashboard query and the alert rules' health against that live Prometheus.
# A check whose tool is not installed is skipped with a message (CI machines
# may lack docker-compose, promtool or amtool); any check that runs and fails
# makes the script exit 1. Tools: docker-compose (or `docker compose`),
# promtool (Debian: prometheus), amtool (Debian: prometheus-alertmanager),
# node or jq, python3 with PyYAML (optional, for the Grafana YAML files).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

passed=0
failed=0
skipped=0
failures=()

tmp="$(mktemp -d "${TMPDIR:-/tmp}/check-ops.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

have() { command -v "$1" >/dev/null 2>&1; }

# run_check NAME CMD...: runs CMD, shows its output indented, records the result.
run_check() {
  local name="$1"; shift
  echo "==> ${name}"
  echo "    \$ $*"
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [ -n "$out" ]; then printf '%s\n' "$out" | sed 's/^/    /'; fi
  if [ "$rc" -eq 0 ]; then
    echo "    PASS: ${name}"
    passed=$((passed + 1))
  else
    echo "    FAIL: ${name} (exit ${rc})"
    failed=$((failed + 1))
    failures+=("$name")
  fi
  echo
}

skip() {
  echo "==> $1"
  echo "    SKIP: $2"
  echo
  skipped=$((skipped + 1))
}

# ---------------------------------------------------------------- compose
compose=()
if have docker-compose; then
  compose=(docker-compose)
elif have docker && docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
fi
if [ "${#compose[@]}" -gt 0 ]; then
  run_check "docker-compose.yml is valid" "${compose[@]}" -f docker-compose.yml config -q
else
  skip "docker-compose.yml is valid" "neither docker-compose nor 'docker compose' is installed"
fi

# ---------------------------------------------------------------- mysql init scripts
mysql_scripts=(docker/mysql/*/*.sh)
if [ -e "${mysql_scripts[0]}" ]; then
  run_check "MySQL init scripts parse (bash -n)" bash -c 'for f in "$@"; do bash -n "$f" && echo "ok $f" || exit 1; done' _ "${mysql_scripts[@]}"
else
  run_check "MySQL init scripts exist" false
fi

# ---------------------------------------------------------------- prometheus
if have promtool; then
  run_check "promtool check config prometheus/prometheus.yml" promtool check config prometheus/prometheus.yml
  run_check "promtool check config prometheus/prometheus.local.yml" promtool check config prometheus/prometheus.local.yml
  run_check "promtool check rules prometheus/alerts.yml" promtool check rules prometheus/alerts.yml
  run_check "promtool test rules prometheus/alerts.test.yml" promtool test rules prometheus/alerts.test.yml
else
  skip "Prometheus config, rules and rule unit tests" "promtool is not installed (Debian package: prometheus)"
fi

# ---------------------------------------------------------------- alertmanager
if have amtool; then
  run_check "amtool check-config prometheus/alertmanager.yml" amtool check-config prometheus/alertmanager.yml
  # Every severity our rules use routes to the on-call Slack receiver (--verify.receivers fails otherwise).
  for sev in critical warning; do
    run_check "amtool: a ${sev} alert routes to Slack (slack-oncall)" \
      amtool config routes test --config.file=prometheus/alertmanager.yml --verify.receivers=slack-oncall "severity=${sev}" alertname=BazaarCheck
  done
else
  skip "Alertmanager config" "amtool is not installed (Debian package: prometheus-alertmanager)"
fi

# ---------------------------------------------------------------- grafana provisioning
check_grafana_yaml() {
  python3 - <<'PY'
import sys, yaml
ok = True
ds = yaml.safe_load(open("grafana/provisioning/datasources/prometheus.yml"))
uids = [d.get("uid") for d in ds.get("datasources", [])]
print("datasources:", ", ".join(f"{d.get('name')} (uid {d.get('uid')}, {d.get('url')})" for d in ds.get("datasources", [])))
if "prometheus" not in uids:
    print("no datasource with uid 'prometheus'"); ok = False
dp = yaml.safe_load(open("grafana/provisioning/dashboards/bazaar.yml"))
for p in dp.get("providers", []):
    print(f"dashboard provider {p.get('name')}: type {p.get('type')}, path {p.get('options', {}).get('path')}")
    if p.get("type") != "file" or not p.get("options", {}).get("path"):
        print("provider must be type file with options.path"); ok = False
if not dp.get("providers"):
    print("no dashboard provider"); ok = False
sys.exit(0 if ok else 1)
PY
}
if have python3 && python3 -c 'import yaml' >/dev/null 2>&1; then
  run_check "Grafana provisioning files" check_grafana_yaml
else
  skip "Grafana provisioning files" "python3 with PyYAML is not installed"
fi

# ---------------------------------------------------------------- dashboards
# Writes $tmp/dashboard-exprs.rules.yml: one recording rule per panel target,
# with Grafana's variables replaced ($__rate_interval etc. by 5m, template
# variables such as $service by .*, which only appear in =~ matchers).
dashboards=(grafana/dashboards/*.json)

check_dashboards_node() {
  node - "$tmp/dashboard-exprs.rules.yml" "${dashboards[@]}" <<'JS'
const fs = require('node:fs');
const [out, ...files] = process.argv.slice(2);
const problems = [];
const groups = [];
const uids = new Set();
const walk = (panels, acc) => {
  for (const p of panels ?? []) { acc.push(p); walk(p.panels, acc); }
  return acc;
};
const grafanaVars = (expr) => expr
  .replace(/\$\{?__(rate_interval|interval|range)\}?/g, '5m')
  .replace(/\$\{[A-Za-z0-9_]+(:[a-z]+)?\}|\$[A-Za-z0-9_]+|\[\[[A-Za-z0-9_]+\]\]/g, '.*');
for (const file of files) {
  let d;
  try { d = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { problems.push(`${file}: invalid JSON: ${e.message}`); continue; }
  const bad = (msg) => problems.push(`${file}: ${msg}`);
  if (!d.uid) bad('no uid'); else if (uids.has(d.uid)) bad(`duplicate uid ${d.uid}`); else uids.add(d.uid);
  if (!d.title) bad('no title');
  if (!(d.schemaVersion >= 39)) bad(`schemaVersion ${d.schemaVersion} < 39`);
  const panels = walk(d.panels, []);
  const ids = new Set();
  const rules = [];
  for (const p of panels) {
    if (ids.has(p.id)) bad(`duplicate panel id ${p.id}`); ids.add(p.id);
    if (!p.gridPos) bad(`panel ${p.id} "${p.title}" has no gridPos`);
    if (p.type === 'row') continue;
    if (p.datasource?.uid !== 'prometheus') bad(`panel ${p.id} "${p.title}" datasource uid is ${JSON.stringify(p.datasource?.uid)}, not "prometheus"`);
    if (!p.targets?.length) bad(`panel ${p.id} "${p.title}" has no targets`);
    for (const t of p.targets ?? []) {
      if (t.datasource && t.datasource.uid !== 'prometheus') bad(`panel ${p.id} target ${t.refId} datasource uid is ${JSON.stringify(t.datasource.uid)}`);
      if (!t.expr) { bad(`panel ${p.id} target ${t.refId} has no expr`); continue; }
      rules.push({ record: `dashboard:${d.uid.replace(/[^A-Za-z0-9_]/g, '_')}:panel_${p.id}_${t.refId}`, expr: grafanaVars(t.expr) });
    }
  }
  for (const v of d.templating?.list ?? []) {
    if (v.datasource && v.datasource.uid !== 'prometheus') bad(`variable ${v.name} datasource uid is ${JSON.stringify(v.datasource.uid)}`);
  }
  console.log(`${file}: "${d.title}" uid ${d.uid}, schemaVersion ${d.schemaVersion}, ${panels.filter((p) => p.type !== 'row').length} panels, ${rules.length} queries`);
  groups.push({ name: file, rules });
}
// JSON strings are valid YAML double-quoted scalars.
const yaml = ['groups:'];
for (const g of groups) {
  yaml.push(`  - name: ${JSON.stringify(g.name)}`, '    rules:');
  for (const r of g.rules) yaml.push(`      - record: ${r.record}`, `        expr: ${JSON.stringify(r.expr)}`);
}
fs.writeFileSync(out, yaml.join('\n') + '\n');
for (const p of problems) console.log(`problem: ${p}`);
process.exit(problems.length ? 1 : 0);
JS
}

check_dashboards_jq() {
  local f ok=0
  echo "groups:" > "$tmp/dashboard-exprs.rules.yml"
  for f in "${dashboards[@]}"; do
    if ! jq -e '(.schemaVersion >= 39) and (.uid | type == "string")' "$f" >/dev/null; then
      echo "problem: $f: invalid JSON, schemaVersion < 39 or no uid"; ok=1; continue
    fi
    if jq -e '[.. | objects | select(has("datasource")) | .datasource | objects | select(.type == "prometheus" and .uid != "prometheus")] | length > 0' "$f" >/dev/null; then
      echo "problem: $f: a prometheus datasource is not referenced by uid prometheus"; ok=1
    fi
    echo "$f: $(jq -r '"\"" + .title + "\" uid " + .uid + ", " + ([.. | objects | select(has("expr"))] | length | tostring) + " queries"' "$f")"
    jq -r --arg file "$f" '
      "  - name: " + ($file | tojson) + "\n    rules:",
      ([.. | objects | select(has("expr")) | .expr] | to_entries[]
        | "      - record: dashboard:" + ($file | gsub("[^A-Za-z0-9_]"; "_")) + ":expr_" + (.key | tostring)
          + "\n        expr: " + (.value
              | gsub("\\$\\{?__(rate_interval|interval|range)\\}?"; "5m")
              | gsub("\\$\\{[A-Za-z0-9_]+(:[a-z]+)?\\}|\\$[A-Za-z0-9_]+|\\[\\[[A-Za-z0-9_]+\\]\\]"; ".*")
              | tojson))' "$f" >> "$tmp/dashboard-exprs.rules.yml" || ok=1
  done
  return "$ok"
}

dash_parsed=0
if [ ! -e "${dashboards[0]}" ]; then
  run_check "Grafana dashboards exist" false
elif have node; then
  run_check "Grafana dashboards: JSON, schema, datasource uid" check_dashboards_node
  [ -s "$tmp/dashboard-exprs.rules.yml" ] && dash_parsed=1
elif have jq; then
  run_check "Grafana dashboards: JSON, schema, datasource uid (jq)" check_dashboards_jq
  [ -s "$tmp/dashboard-exprs.rules.yml" ] && dash_parsed=1
else
  skip "Grafana dashboards" "neither node nor jq is installed"
fi

if [ "$dash_parsed" -eq 1 ]; then
  if have promtool; then
    run_check "every dashboard query is valid PromQL (promtool check rules on generated file)" \
      promtool check rules "$tmp/dashboard-exprs.rules.yml"
  else
    skip "dashboard queries are valid PromQL" "promtool is not installed"
  fi
fi

# ---------------------------------------------------------------- live prometheus (optional)
# With PROMETHEUS_URL set (a Prometheus scraping a running fleet, with
# alerts.yml loaded), every dashboard query runs against it and every alert
# rule's health is checked: fails on invalid PromQL or an unhealthy rule;
# queries that return no series are listed with hints (an event that has not
# happened yet vs. a wrong metric/label name) but do not fail the check.
if [ -n "${PROMETHEUS_URL:-}" ]; then
  if have node; then
    run_check "dashboard queries and alert rules against ${PROMETHEUS_URL}" node scripts/verify-dashboards.mjs "$PROMETHEUS_URL"
  else
    skip "dashboard queries against ${PROMETHEUS_URL}" "node is not installed"
  fi
else
  skip "dashboard queries and alert rules against a live Prometheus" "PROMETHEUS_URL is not set"
fi

# ---------------------------------------------------------------- summary
if [ "$failed" -gt 0 ]; then
  echo "Failed checks:"
  for f in "${failures[@]}"; do echo "  - $f"; done
fi
echo "check-ops: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
