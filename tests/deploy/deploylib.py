"""Shared by the deploy tests: the metrics table of docs/metrics.md, the Grafana dashboards'
queries with their variables substituted, PromQL metric names, and promtool.

Standard library and PyYAML only; runs with Debian's /usr/bin/python3.
"""

import json
import os
import re
import subprocess
import tempfile

import yaml

DASHBOARD_DIR = os.path.join("deploy", "grafana", "dashboards")
PROMETHEUS_DIR = os.path.join("deploy", "prometheus")
METRICS_DOC = os.path.join("docs", "metrics.md")

# Values for Grafana's built-in variables when a query is run outside Grafana. 1m of a 15s scrape
# interval is what Grafana's $__rate_interval (at least four scrapes) comes to.
BUILTIN_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# $name, ${name}, ${name:format} and the deprecated [[name]].
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
# A label matcher with its value, e.g. run=~"$run".
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"')


def read_metrics_doc(path):
    """Returns {metric name: type} from the rows "| `name` | type | ..." of the tables of
    docs/metrics.md whose header starts "| name | type |" (other tables there list refusals)."""
    metrics = {}
    in_metrics_table = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("|"):
                in_metrics_table = False
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[:2] == ["name", "type"]:
                in_metrics_table = True
            elif in_metrics_table and line.startswith("| `"):
                kind = cells[1].split()[0] if len(cells) > 1 and cells[1] else ""
                metrics[cells[0].strip("`")] = kind
    return metrics


def series_names(metrics):
    """Every series name the documented metrics expose (histograms and summaries have
    _bucket/_count/_sum series)."""
    names = set()
    for name, kind in metrics.items():
        names.add(name)
        if kind == "histogram":
            names.update({name + "_bucket", name + "_count", name + "_sum"})
        elif kind == "summary":
            names.update({name + "_count", name + "_sum"})
    return names


def load_dashboards(repo):
    """Returns [(file name, parsed JSON)] of every dashboard in deploy/grafana/dashboards."""
    directory = os.path.join(repo, DASHBOARD_DIR)
    out = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                try:
                    out.append((name, json.load(f)))
                except ValueError as e:
                    raise ValueError(f"{name} is not valid JSON: {e}") from e
    return out


def walk_panels(panels):
    """Every panel, including those nested in a collapsed row."""
    for panel in panels or []:
        yield panel
        if panel.get("type") == "row":
            yield from walk_panels(panel.get("panels"))


def dashboard_queries(dashboard):
    """Yields (panel, target) for every query target of every panel."""
    for panel in walk_panels(dashboard.get("panels")):
        for target in panel.get("targets") or []:
            yield panel, target


def template_variables(dashboard):
    return {v.get("name"): v for v in (dashboard.get("templating") or {}).get("list") or []}


def variable_query(variable):
    """The PromQL-ish query of a query variable, whether stored as a string or an object."""
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    return query


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>[A-Za-z_]\w*)\s*\)\s*$")


def parse_label_values(query):
    """(selector or None, label) of a "label_values([selector,] label)" variable query, or None."""
    m = _LABEL_VALUES.match(query or "")
    return (m.group("selector"), m.group("label")) if m else None


def variables_in(text):
    """(name, start, end) of each variable reference in text."""
    for m in _VARIABLE.finditer(text):
        yield next(g for g in m.groups() if g), m.start(), m.end()


def multi_valued(variable):
    return bool(variable.get("multi") or variable.get("includeAll"))


def substitute(expr, variables):
    """expr with every variable replaced as Grafana would for a test query: built-ins by
    BUILTIN_VARIABLES, multi-valued variables by ".*" (they may only stand in regex matchers),
    others by their current value. Raises KeyError naming an unknown variable."""
    def value(m):
        name = next(g for g in m.groups() if g)
        if name in BUILTIN_VARIABLES:
            return BUILTIN_VARIABLES[name]
        variable = variables[name]
        if multi_valued(variable):
            return ".*"
        current = (variable.get("current") or {}).get("value")
        if not isinstance(current, str):
            raise KeyError(f"{name} (no current value)")
        return current
    return _VARIABLE.sub(value, expr)


def misplaced_multi_variables(expr, variables):
    """Names of multi-valued variables that appear outside a =~ or !~ matcher value: Grafana
    substitutes them as a regex alternation, which means something else anywhere else."""
    regex_spans = [(m.start(3), m.end(3)) for m in _MATCHER.finditer(expr) if m.group(2) in ("=~", "!~")]
    bad = []
    for name, start, end in variables_in(expr):
        variable = variables.get(name)
        if variable is None or not multi_valued(variable):
            continue
        if not any(s <= start and end <= e for s, e in regex_spans):
            bad.append(name)
    return bad


# ---------------------------------------------------------------------------- PromQL names

_TOKEN = re.compile(r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<punct>[(){}\[\],])
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE)

# Words that are not metric names where a metric name could stand.
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
             "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
             "bottomk", "topk", "quantile"}
# Followed by a parenthesized list of label names.
_LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def metric_names(expr):
    """The metric names a PromQL expression selects (bare selectors, not {__name__=...})."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    names = set()
    braces = brackets = 0
    skip_label_list = False
    label_list_depth = None
    parens = 0
    for i, (kind, text) in enumerate(tokens):
        if kind == "punct":
            if text == "{":
                braces += 1
            elif text == "}":
                braces -= 1
            elif text == "[":
                brackets += 1
            elif text == "]":
                brackets -= 1
            elif text == "(":
                parens += 1
                if skip_label_list:
                    label_list_depth, skip_label_list = parens, False
            elif text == ")":
                if label_list_depth == parens:
                    label_list_depth = None
                parens -= 1
            continue
        if kind != "ident" or braces or brackets or label_list_depth is not None:
            continue
        word = text.lower()
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if word in _LABEL_LIST_KEYWORDS:
            skip_label_list = following == "("
            continue
        if word in _KEYWORDS or following == "(":
            continue
        names.add(text)
    return names


# ---------------------------------------------------------------------------- promtool


def promtool_parse_errors(exprs, promtool="promtool"):
    """Parses every expression with `promtool check rules` (as recording rules of one temporary
    file). exprs: {key: expr}. Returns {key: error text} for those that do not parse, or
    {None: output} when promtool failed without naming a rule."""
    if not exprs:
        return {}
    keys = list(exprs)
    record = {key: f"query_{i}" for i, key in enumerate(keys)}
    rules = {"groups": [{"name": "queries",
                         "rules": [{"record": record[k], "expr": exprs[k]} for k in keys]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="queries-", delete=False) as f:
        yaml.safe_dump(rules, f, sort_keys=False)
        path = f.name
    try:
        proc = subprocess.run([promtool, "check", "rules", "--lint=none", path],
                              capture_output=True, text=True, timeout=60, check=False)
    finally:
        os.unlink(path)
    if proc.returncode == 0:
        return {}
    output = proc.stdout + proc.stderr
    errors = {}
    for key in keys:
        marker = f'"{record[key]}": '
        lines = [ln.split(marker, 1)[-1].strip() for ln in output.splitlines() if marker in ln]
        if lines:
            errors[key] = f"{' '.join(lines)} in: {exprs[key]}"
    return errors or {None: output.strip()}
