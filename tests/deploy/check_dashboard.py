#!/usr/bin/python3
"""Lints deploy/grafana without a Grafana (Debian packages none):

- every dashboard in deploy/grafana/dashboards: uid, title, schemaVersion; every panel has an id
  (unique), a type, a title and a gridPos inside the 24-column grid, not overlapping another
  panel; every query panel has a datasource and targets, each with a unique refId and an expr;
  datasources resolve to the provisioned uid or the dashboard's `datasource` variable; every
  variable used is defined (or a Grafana built-in), multi-valued ones only inside =~ / !~
  matchers; every expr and variable query parses with promtool after substitution and selects
  only metrics of docs/metrics.md (or `up`, or a recording rule of deploy/prometheus);
- the provisioning files parse, the datasource's uid is the one the dashboards default to and its
  timeInterval is Prometheus' scrape_interval, and the dashboard provider's path is where
  deploy/grafana/README.md mounts deploy/grafana/dashboards.

usage: check_dashboard.py [--repo DIR] [--promtool PATH]
Prints every problem, naming the file and panel, and exits 1 if there is any.
"""

import argparse
import os
import re
import sys
import urllib.parse

import yaml

import deploylib

GRAFANA_DIR = os.path.join("deploy", "grafana")
DATASOURCES_FILE = os.path.join(GRAFANA_DIR, "provisioning", "datasources", "prometheus.yml")
DASHBOARD_PROVIDERS_FILE = os.path.join(GRAFANA_DIR, "provisioning", "dashboards", "basin.yml")
README = os.path.join(GRAFANA_DIR, "README.md")
# Where Grafana reads provisioning files (its default paths.provisioning).
GRAFANA_PROVISIONING_PATH = "/etc/grafana/provisioning"
MIN_SCHEMA_VERSION = 36  # Grafana 9: datasources referenced by {type, uid} objects
GRID_COLUMNS = 24
PANELS_WITHOUT_QUERIES = {"row", "text", "dashlist", "news", "annolist"}

# A volume line of the compose snippet in the README: "- ./deploy/grafana/x:/container/path[:ro]".
_MOUNT = re.compile(r"^\s*-\s*\./(?P<host>deploy/grafana/[^:\s]*?)/?:(?P<container>/[^:\s]*?)/?(?::ro)?\s*$")


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def panel_name(file, panel):
    return f"{file}: panel {panel.get('title')!r} (id {panel.get('id')})"


def load_yaml(repo, path, problems):
    try:
        with open(os.path.join(repo, path), encoding="utf-8") as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        problems.add(path, f"cannot read: {e}")
        return None


def check_datasource_ref(ref, where, variables, provisioned_uids, problems):
    if not isinstance(ref, dict):
        problems.add(where, f"datasource must be a {{type, uid}} object, got {ref!r}")
        return
    if ref.get("type") != "prometheus":
        problems.add(where, f"datasource type must be prometheus, got {ref.get('type')!r}")
    uid = ref.get("uid")
    names = [name for name, _, _ in deploylib.variables_in(uid or "")]
    if names:
        if len(names) != 1 or names[0] not in variables or variables[names[0]].get("type") != "datasource":
            problems.add(where, f"datasource uid {uid!r} is not a datasource variable of this dashboard")
    elif uid not in provisioned_uids:
        problems.add(where, f"datasource uid {uid!r} is neither provisioned ({sorted(provisioned_uids)}) nor a variable")


def check_variable_references(text, where, variables, problems, defined_before=None):
    for name, _, _ in deploylib.variables_in(text):
        if name in deploylib.BUILTIN_VARIABLES:
            continue
        if name not in variables:
            problems.add(where, f"uses undefined variable ${name}")
        elif defined_before is not None and name not in defined_before:
            problems.add(where, f"uses variable ${name}, which is defined after it")


def check_metric_names(expr, where, known_series, problems):
    unknown = sorted(deploylib.metric_names(expr) - known_series)
    if unknown:
        problems.add(where, f"selects metrics not in {deploylib.METRICS_DOC}: {', '.join(unknown)}")


def check_templating(file, dashboard, variables, provisioned_uids, known_series, exprs, problems):
    seen = set()
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        name = variable.get("name")
        where = f"{file}: variable {name!r}"
        if not name or name in seen:
            problems.add(where, "variables need a unique name")
        kind = variable.get("type")
        if kind == "datasource":
            if variable.get("query") != "prometheus":
                problems.add(where, f"a datasource variable must list prometheus datasources, got {variable.get('query')!r}")
            current = (variable.get("current") or {}).get("value")
            if current not in provisioned_uids:
                problems.add(where, f"default {current!r} is not the provisioned datasource uid {sorted(provisioned_uids)}")
        elif kind == "query":
            check_datasource_ref(variable.get("datasource"), where, variables, provisioned_uids, problems)
            query = deploylib.variable_query(variable)
            definition = variable.get("definition")
            if definition is not None and definition != query:
                problems.add(where, f"definition {definition!r} differs from query {query!r}")
            parsed = deploylib.parse_label_values(query)
            if not parsed:
                problems.add(where, f"query must be label_values([selector,] label), got {query!r}")
            elif parsed[0]:
                selector = parsed[0]
                # A chained variable comes after those it uses, which also rules out self-reference.
                check_variable_references(selector, where, variables, problems, defined_before=seen)
                for bad in deploylib.misplaced_multi_variables(selector, variables):
                    problems.add(where, f"multi-valued ${bad} may only stand in a =~ or !~ matcher")
                try:
                    substituted = deploylib.substitute(selector, variables)
                except KeyError:
                    pass  # reported above
                else:
                    exprs[where] = substituted
                    check_metric_names(substituted, where, known_series, problems)
            if variable.get("includeAll") and variable.get("allValue") != ".*":
                # Without it Grafana sends "All" as an alternation of every value it has loaded.
                problems.add(where, 'includeAll needs allValue ".*"')
        elif kind not in ("custom", "constant", "interval", "textbox", "adhoc"):
            problems.add(where, f"unknown variable type {kind!r}")
        seen.add(name)


def check_grid(file, panels, problems):
    placed = []
    for panel in panels:
        grid = panel.get("gridPos")
        where = panel_name(file, panel)
        if not isinstance(grid, dict) or not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
            problems.add(where, f"gridPos needs integer h, w, x, y; got {grid!r}")
            continue
        if grid["w"] <= 0 or grid["h"] <= 0 or grid["x"] < 0 or grid["y"] < 0 or grid["x"] + grid["w"] > GRID_COLUMNS:
            problems.add(where, f"gridPos {grid} is outside the {GRID_COLUMNS}-column grid")
            continue
        for other, g in placed:
            if (grid["x"] < g["x"] + g["w"] and g["x"] < grid["x"] + grid["w"]
                    and grid["y"] < g["y"] + g["h"] and g["y"] < grid["y"] + grid["h"]):
                problems.add(where, f"overlaps panel {other.get('title')!r} (id {other.get('id')})")
        placed.append((panel, grid))


def check_dashboard(file, dashboard, provisioned_uids, known_series, exprs, problems):
    if not dashboard.get("uid"):
        problems.add(file, "has no uid")
    if file == "basin.json" and dashboard.get("uid") != "basin":
        problems.add(file, f"uid must be 'basin' (links and the provisioning use it), got {dashboard.get('uid')!r}")
    if not isinstance(dashboard.get("title"), str) or not dashboard["title"].strip():
        problems.add(file, "has no title")
    schema = dashboard.get("schemaVersion")
    if not isinstance(schema, int) or schema < MIN_SCHEMA_VERSION:
        problems.add(file, f"schemaVersion must be an integer >= {MIN_SCHEMA_VERSION}, got {schema!r}")

    variables = deploylib.template_variables(dashboard)
    check_templating(file, dashboard, variables, provisioned_uids, known_series, exprs, problems)

    panels = list(deploylib.walk_panels(dashboard.get("panels")))
    if not panels:
        problems.add(file, "has no panels")
    ids = {}
    for panel in panels:
        where = panel_name(file, panel)
        pid = panel.get("id")
        if not isinstance(pid, int):
            problems.add(where, "needs an integer id")
        elif pid in ids:
            problems.add(where, f"id {pid} is also the id of panel {ids[pid]!r}")
        else:
            ids[pid] = panel.get("title")
        if not isinstance(panel.get("type"), str) or not panel["type"]:
            problems.add(where, "has no type")
        if not isinstance(panel.get("title"), str) or not panel["title"].strip():
            problems.add(where, "has no title")
        check_variable_references(panel.get("title") or "", where, variables, problems)
        if panel.get("type") in PANELS_WITHOUT_QUERIES:
            continue
        check_datasource_ref(panel.get("datasource"), where + " datasource", variables, provisioned_uids, problems)
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.add(where, "has no targets")
            continue
        ref_ids = set()
        for target in targets:
            ref = target.get("refId")
            twhere = f"{where}, target {ref}"
            if not ref or ref in ref_ids:
                problems.add(twhere, "needs a refId unique in its panel")
            ref_ids.add(ref)
            if "datasource" in target:
                check_datasource_ref(target["datasource"], twhere + " datasource", variables, provisioned_uids, problems)
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.add(twhere, "has no expr")
                continue
            check_variable_references(expr, twhere, variables, problems)
            for bad in deploylib.misplaced_multi_variables(expr, variables):
                problems.add(twhere, f"multi-valued ${bad} may only stand in a =~ or !~ matcher")
            try:
                substituted = deploylib.substitute(expr, variables)
            except KeyError:
                continue  # reported above
            exprs[twhere] = substituted
            check_metric_names(substituted, twhere, known_series, problems)
    check_grid(file, panels, problems)
    return len(panels)


def readme_mounts(repo, problems):
    """{container path: repo path} from the compose volume lines of deploy/grafana/README.md."""
    try:
        with open(os.path.join(repo, README), encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        problems.add(README, f"cannot read: {e}")
        return {}
    return {m.group("container"): os.path.normpath(m.group("host")) for m in map(_MOUNT.match, text.splitlines()) if m}


def check_provisioning(repo, problems):
    """Checks the provisioning files; returns the provisioned Prometheus datasource uids."""
    uids = set()
    prometheus = load_yaml(repo, os.path.join(deploylib.PROMETHEUS_DIR, "prometheus.yml"), problems) or {}
    scrape_interval = (prometheus.get("global") or {}).get("scrape_interval")

    sources = load_yaml(repo, DATASOURCES_FILE, problems)
    if sources is not None:
        if sources.get("apiVersion") != 1:
            problems.add(DATASOURCES_FILE, "apiVersion must be 1")
        for source in sources.get("datasources") or []:
            where = f"{DATASOURCES_FILE}: datasource {source.get('name')!r}"
            if source.get("type") != "prometheus":
                continue
            if not source.get("uid"):
                problems.add(where, "needs a uid for the dashboards to refer to")
                continue
            uids.add(source["uid"])
            url = urllib.parse.urlparse(source.get("url") or "")
            if url.scheme not in ("http", "https") or not url.hostname:
                problems.add(where, f"url {source.get('url')!r} is not an http(s) URL")
            interval = (source.get("jsonData") or {}).get("timeInterval")
            if interval != scrape_interval:
                problems.add(where, f"jsonData.timeInterval {interval!r} must equal Prometheus' scrape_interval "
                                    f"{scrape_interval!r}, or $__rate_interval can span too few scrapes")
        if not uids:
            problems.add(DATASOURCES_FILE, "provisions no prometheus datasource with a uid")

    mounts = readme_mounts(repo, problems)
    provisioning_dir = mounts.get(GRAFANA_PROVISIONING_PATH)
    if provisioning_dir is None:
        problems.add(README, f"mounts nothing at {GRAFANA_PROVISIONING_PATH}")
    elif os.path.normpath(os.path.dirname(os.path.dirname(DATASOURCES_FILE))) != provisioning_dir:
        problems.add(README, f"mounts {provisioning_dir} at {GRAFANA_PROVISIONING_PATH}, "
                             f"but the provisioning files are in {os.path.dirname(os.path.dirname(DATASOURCES_FILE))}")

    providers = load_yaml(repo, DASHBOARD_PROVIDERS_FILE, problems)
    if providers is not None:
        if providers.get("apiVersion") != 1:
            problems.add(DASHBOARD_PROVIDERS_FILE, "apiVersion must be 1")
        if not providers.get("providers"):
            problems.add(DASHBOARD_PROVIDERS_FILE, "declares no provider")
        for provider in providers.get("providers") or []:
            where = f"{DASHBOARD_PROVIDERS_FILE}: provider {provider.get('name')!r}"
            if provider.get("type") != "file":
                problems.add(where, f"type must be file, got {provider.get('type')!r}")
                continue
            path = os.path.normpath((provider.get("options") or {}).get("path") or "")
            host = mounts.get(path)
            if host is None:
                problems.add(where, f"path {path!r} is not a mount of {README}")
            elif host != os.path.normpath(deploylib.DASHBOARD_DIR):
                problems.add(where, f"path {path!r} is mounted from {host}, not {deploylib.DASHBOARD_DIR}")
    return uids


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repo", default=os.path.dirname(os.path.dirname(here)), help="basin checkout")
    parser.add_argument("--promtool", default="promtool")
    args = parser.parse_args()

    problems = Problems()
    provisioned_uids = check_provisioning(args.repo, problems)

    known_series = {"up"}
    try:
        known_series |= deploylib.series_names(deploylib.read_metrics_doc(os.path.join(args.repo, deploylib.METRICS_DOC)))
    except OSError as e:
        problems.add(deploylib.METRICS_DOC, f"cannot read: {e}")
    recording = load_yaml(args.repo, os.path.join(deploylib.PROMETHEUS_DIR, "recording_rules.yml"), problems) or {}
    for group in recording.get("groups") or []:
        known_series |= {rule["record"] for rule in group.get("rules") or [] if "record" in rule}

    exprs = {}
    try:
        dashboards = deploylib.load_dashboards(args.repo)
    except (OSError, ValueError) as e:
        problems.add(deploylib.DASHBOARD_DIR, str(e))
        dashboards = []
    if not dashboards:
        problems.add(deploylib.DASHBOARD_DIR, "holds no dashboard")
    panels = 0
    for file, dashboard in dashboards:
        panels += check_dashboard(file, dashboard, provisioned_uids, known_series, exprs, problems)

    for where, error in deploylib.promtool_parse_errors(exprs, args.promtool).items():
        problems.add(where or "promtool", f"does not parse: {error}" if where else error)

    if problems.items:
        for item in problems.items:
            print(f"FAIL {item}")
        print(f"{len(problems.items)} problem(s) in deploy/grafana")
        return 1
    print(f"OK: {len(dashboards)} dashboard(s), {panels} panels, {len(exprs)} queries parsed by promtool; "
          f"provisioning consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
