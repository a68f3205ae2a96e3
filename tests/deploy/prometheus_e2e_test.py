#!/usr/bin/python3
"""deploy/prometheus and deploy/grafana against a real basin-server and a real Prometheus.

1. promtool: the repo's prometheus.yml passes `check config` as it is, rules_test.yml passes
   `test rules`, and every alert expr ends in one top-level `<signal> OP <number>`.
2. basin-server on loopback (free ports); its /metrics passes `promtool check metrics` with no
   warning, before and after traffic, and every metric family it exposes is documented in
   docs/metrics.md with the same type.
3. Prometheus on loopback scrapes it every second with the repo's rule files, while
   basin-drive-traffic and `basin run` drive every path the metrics describe.
4. Through Prometheus' HTTP API: the target is up, every rule's health is "ok", every metric of
   docs/metrics.md has samples (histograms and summaries as <name>_count), the optimizer label
   has exactly the five optimizers, `basin run`'s sessions show as runs e2e-<optimizer> at their
   last step, and every recording-rule expr and recorded series, every alert expr
   (as `(<signal>) OP bool <number>`, so it returns a sample whether or not it fires), every
   dashboard query and every dashboard variable query returns data. Prometheus needs a few
   scrapes and rule evaluations before that can hold, so step 4 is retried for up to 60 s.

usage: prometheus_e2e_test.py --server BIN --cli BIN --traffic BIN --repo DIR
                              [--promtool PATH] [--prometheus PATH]
Prints every failure and exits 1 if there is any; everything is bounded to 150 s and every
process it starts is killed on exit.
"""

import argparse
import contextlib
import datetime
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

import deploylib

TOTAL_TIMEOUT_S = 150
SETTLE_TIMEOUT_S = 60
STARTUP_TIMEOUT_S = 20
SCRAPE_INTERVAL = "1s"
OPTIMIZERS = ("sgd", "sgld", "sam", "entropy_sgd", "emcmc")
CLI_STEPS = 20

_SERVER_GRPC_LINE = re.compile(r"^basin-server listening on (\S+)$", re.MULTILINE)
_SERVER_METRICS_LINE = re.compile(r"^basin-server metrics on (http://\S+/metrics)$", re.MULTILINE)
_COMPARISON = re.compile(r"==|!=|>=|<=|>|<")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)


class OverallTimeout(Exception):
    pass


def to_bool_comparison(expr):
    """'<signal> OP <number>' -> '(<signal>) OP bool <number>'. Raises ValueError unless expr has
    exactly one comparison outside brackets and strings, followed by a number and nothing else."""
    found = []
    depth, quote, i = 0, None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            m = _COMPARISON.match(expr, i)
            if m:
                found.append(m)
                i = m.end()
                continue
        i += 1
    if len(found) != 1:
        raise ValueError(f"has {len(found)} top-level comparisons, needs exactly one")
    m = found[0]
    threshold = expr[m.end():].strip()
    if not _NUMBER.match(threshold):
        raise ValueError(f"the top-level comparison must end the expr with a number, not {threshold!r}")
    return f"({expr[:m.start()].strip()}) {m.group()} bool {threshold}"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


def parse_time(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def tail(path, lines=30):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Prometheus:
    def __init__(self, base_url):
        self.base = base_url

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            body = http_get(url)
        except urllib.error.HTTPError as e:  # a bad query is a 400 with a JSON error
            body = e.read().decode("utf-8")
        reply = json.loads(body)
        if reply.get("status") != "success":
            raise RuntimeError(f"{reply.get('errorType')}: {reply.get('error')}")
        return reply["data"]

    def query(self, expr):
        """The instant vector of expr now. Raises RuntimeError on an error or a non-vector."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise RuntimeError(f"returns a {data['resultType']}, not an instant vector")
        return data["result"]


class E2E:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.repo = os.path.abspath(args.repo)
        self.prom_dir = os.path.join(self.repo, deploylib.PROMETHEUS_DIR)
        self.failures = []
        self.timings = []
        self.processes = []  # (name, Popen, log path)
        self.start = time.monotonic()

    # ------------------------------------------------------------------ helpers

    def fail(self, what):
        self.failures.append(what)

    @contextlib.contextmanager
    def step(self, name):
        began = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            yield
        finally:
            self.timings.append((name, time.monotonic() - began))

    def spawn(self, name, cmd):
        log = os.path.join(self.tmp, f"{name}.log")
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes.append((name, proc, log))
        return proc, log

    def stop_all(self):
        for _, proc, _ in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
        for _, proc, _ in reversed(self.processes):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def run(self, what, cmd, timeout, cwd=None, stdin=None):
        """Runs cmd to completion; a failure (non-zero exit) is recorded. Returns the process."""
        proc = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            self.fail(f"{what}: exit {proc.returncode}\n{(proc.stdout + proc.stderr).strip()}")
        return proc

    def check_metrics_text(self, when):
        body = http_get(self.metrics_url)
        proc = self.run(f"promtool check metrics ({when})", [self.args.promtool, "check", "metrics"],
                        timeout=30, stdin=body)
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode == 0 and output:
            self.fail(f"promtool check metrics ({when}) warns:\n{output}")
        return body

    def rule_files(self):
        with open(os.path.join(self.prom_dir, "prometheus.yml"), encoding="utf-8") as f:
            config = yaml.safe_load(f)
        return config, [os.path.join(self.prom_dir, p) for p in config.get("rule_files") or []]

    @functools.cached_property
    def rules(self):
        """(kind, name, expr) of every rule in the repo's rule files."""
        _, files = self.rule_files()
        out = []
        for path in files:
            with open(path, encoding="utf-8") as f:
                for group in yaml.safe_load(f).get("groups") or []:
                    for rule in group.get("rules") or []:
                        if "record" in rule:
                            out.append(("record", rule["record"], rule["expr"]))
                        else:
                            out.append(("alert", rule["alert"], rule["expr"]))
        return out

    # ------------------------------------------------------------------ steps

    def promtool_static(self):
        promtool = self.args.promtool
        self.run("promtool check config deploy/prometheus/prometheus.yml",
                 [promtool, "check", "config", "prometheus.yml"], timeout=30, cwd=self.prom_dir)
        self.run("promtool test rules deploy/prometheus/rules_test.yml",
                 [promtool, "test", "rules", "rules_test.yml"], timeout=60, cwd=self.prom_dir)
        for kind, name, expr in self.rules:
            if kind == "alert":
                try:
                    to_bool_comparison(expr)
                except ValueError as e:
                    self.fail(f"alert {name}: expr {e}: {expr}")

    def start_server(self):
        # Sessions persist (periodic, snapshotted every second), so the snapshot metrics have data.
        proc, log = self.spawn("basin-server", [self.args.server, "--listen=127.0.0.1:0",
                                                "--metrics_listen=127.0.0.1:0",
                                                f"--data_dir={os.path.join(self.tmp, 'basin-data')}",
                                                "--snapshot_interval=1s"])
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            text = tail(log, 1000)
            grpc, metrics = _SERVER_GRPC_LINE.search(text), _SERVER_METRICS_LINE.search(text)
            if grpc and metrics:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"basin-server did not print both of its addresses (exit {proc.poll()}):\n{text}")
            time.sleep(0.05)
        self.grpc_address, self.metrics_url = grpc.group(1), metrics.group(1)
        if not self.grpc_address.startswith("127.0.0.1:") or not self.metrics_url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"basin-server is not on loopback: {self.grpc_address}, {self.metrics_url}")
        print(f"   gRPC {self.grpc_address}, metrics {self.metrics_url}")

    def start_prometheus(self):
        config, files = self.rule_files()
        jobs = [job for job in config.get("scrape_configs") or [] if job.get("job_name") == "basin"]
        if len(jobs) != 1:
            raise RuntimeError(f"deploy/prometheus/prometheus.yml must have one scrape job 'basin', has {len(jobs)}")
        target = urllib.parse.urlparse(self.metrics_url)
        job = dict(jobs[0], scrape_interval=SCRAPE_INTERVAL, metrics_path=target.path,
                   static_configs=[{"targets": [target.netloc]}])
        config["global"] = dict(config.get("global") or {}, scrape_interval=SCRAPE_INTERVAL,
                                evaluation_interval=SCRAPE_INTERVAL)
        config["rule_files"] = files
        config["scrape_configs"] = [job]  # nothing but the loopback server
        config.pop("alerting", None)
        path = os.path.join(self.tmp, "prometheus.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f, sort_keys=False)

        address = f"127.0.0.1:{free_port()}"
        proc, log = self.spawn("prometheus", [
            self.args.prometheus, f"--config.file={path}", f"--storage.tsdb.path={os.path.join(self.tmp, 'data')}",
            f"--web.listen-address={address}", "--log.level=warn"])
        self.prometheus = Prometheus(f"http://{address}")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                if "Ready" in http_get(f"http://{address}/-/ready", timeout=1):
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus did not become ready (exit {proc.poll()}):\n{tail(log)}")
            time.sleep(0.2)
        print(f"   Prometheus on {address}")

    def drive_traffic(self):
        self.run("basin-drive-traffic", [self.args.traffic, f"--target={self.grpc_address}"], timeout=60)
        self.run("basin run", [self.args.cli, f"--target={self.grpc_address}", "run", f"--steps={CLI_STEPS}",
                               "--metrics_run=e2e", f"--optimizer={','.join(OPTIMIZERS)}"], timeout=60)
        self.traffic_done = time.time()

    def check_documented_families(self, body):
        documented = deploylib.read_metrics_doc(os.path.join(self.repo, deploylib.METRICS_DOC))
        for name, kind in _TYPE_LINE.findall(body):
            if name not in documented:
                self.fail(f"/metrics exposes {name} ({kind}), which {deploylib.METRICS_DOC} does not list")
            elif documented[name] != kind:
                self.fail(f"/metrics exposes {name} as a {kind}; {deploylib.METRICS_DOC} says {documented[name]}")

    def queries(self):
        """(what, expr, min_series, required labels) that must hold once Prometheus has settled."""
        checks = []
        for name, kind in deploylib.read_metrics_doc(os.path.join(self.repo, deploylib.METRICS_DOC)).items():
            series = f"{name}_count" if kind in ("histogram", "summary") else name
            checks.append((f"metric {name}", f'{series}{{job="basin"}}', 1, ()))
        # `basin run --metrics_run=e2e` labels its session of each optimizer e2e-<optimizer> and
        # keeps it once done.
        for optimizer in OPTIMIZERS:
            checks.append((f"basin run's session e2e-{optimizer} at step {CLI_STEPS}",
                           f'basin_run_step{{job="basin", run="e2e-{optimizer}", optimizer="{optimizer}"}} == {CLI_STEPS}',
                           1, ()))
        for kind, name, expr in self.rules:
            if kind == "record":
                checks.append((f"recording rule {name}: expr", expr, 1, ()))
                checks.append((f"recording rule {name}: recorded series", name, 1, ()))
            else:
                try:
                    checks.append((f"alert {name}", to_bool_comparison(expr), 1, ()))
                except ValueError:
                    pass  # reported by promtool_static
        for file, dashboard in deploylib.load_dashboards(self.repo):
            variables = deploylib.template_variables(dashboard)
            for panel, target in deploylib.dashboard_queries(dashboard):
                what = f"dashboard {file}: panel {panel.get('title')!r} (id {panel.get('id')}), target {target.get('refId')}"
                try:
                    checks.append((what, deploylib.substitute(target.get("expr") or "", variables), 1, ()))
                except KeyError as e:
                    self.fail(f"{what}: undefined variable {e} (see check_dashboard.py)")
            for name, variable in variables.items():
                parsed = deploylib.parse_label_values(deploylib.variable_query(variable))
                if variable.get("type") == "query" and parsed and parsed[0]:
                    selector, label = parsed
                    checks.append((f"dashboard {file}: variable {name!r}",
                                   deploylib.substitute(selector, variables), 1, (label,)))
        return checks

    def settled_problems(self, checks):
        """Everything that does not hold yet; empty once Prometheus has settled."""
        problems = []
        targets = self.prometheus.api("targets")["activeTargets"]
        if [t["health"] for t in targets] != ["up"]:
            problems.append(f"scrape target: {[(t['scrapeUrl'], t['health'], t.get('lastError')) for t in targets]}")
        elif parse_time(targets[0]["lastScrape"]) <= self.traffic_done:
            problems.append("scrape target: not scraped since the traffic ended")

        expected = len(self.rules)
        seen = 0
        for group in self.prometheus.api("rules")["groups"]:
            for rule in group["rules"]:
                seen += 1
                if rule["health"] != "ok":
                    problems.append(f"rule {rule['name']} (group {group['name']}): health {rule['health']!r} "
                                    f"{rule.get('lastError', '')}")
                elif parse_time(rule["lastEvaluation"]) <= self.traffic_done:
                    problems.append(f"rule {rule['name']}: not evaluated since the traffic ended")
        if seen != expected:
            problems.append(f"Prometheus loaded {seen} rules, the rule files hold {expected}")

        for what, expr, min_series, labels in checks:
            try:
                result = self.prometheus.query(expr)
            except RuntimeError as e:
                problems.append(f"{what}: query error {e}: {expr}")
                continue
            result = [r for r in result if all(r["metric"].get(label) for label in labels)]
            if len(result) < min_series:
                need = f"{min_series} series" + (f" with label {', '.join(labels)}" if labels else "")
                problems.append(f"{what}: {len(result)} series, needs {need}: {expr}")
        return problems

    def check_optimizer_labels(self):
        result = self.prometheus.query('count by (optimizer) (basin_ticks_total{job="basin"})')
        got = sorted(r["metric"].get("optimizer", "") for r in result)
        if got != sorted(OPTIMIZERS):
            self.fail(f"basin_ticks_total optimizer label values are {got}, expected {sorted(OPTIMIZERS)}")

    def main(self):
        with self.step("promtool: check config, test rules, alert expr convention"):
            self.promtool_static()
        with self.step("start basin-server"):
            self.start_server()
        with self.step("promtool check metrics (fresh server)"):
            self.check_metrics_text("fresh server")
        with self.step("start Prometheus"):
            self.start_prometheus()
        with self.step("drive traffic: basin-drive-traffic, basin run"):
            self.drive_traffic()
        with self.step("promtool check metrics (after traffic), documented families"):
            self.check_documented_families(self.check_metrics_text("after traffic"))
        checks = self.queries()
        with self.step(f"wait for Prometheus, then {len(checks)} queries through its API"):
            deadline = time.monotonic() + SETTLE_TIMEOUT_S
            attempts = 0
            while True:
                attempts += 1
                problems = self.settled_problems(checks)
                if not problems or time.monotonic() > deadline:
                    break
                time.sleep(1)
            print(f"   {attempts} attempt(s)")
            self.failures.extend(problems)
            self.check_optimizer_labels()
        return checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--server", required=True, help="basin-server binary")
    parser.add_argument("--cli", required=True, help="basin CLI binary")
    parser.add_argument("--traffic", required=True, help="basin-drive-traffic binary")
    parser.add_argument("--repo", required=True, help="basin checkout (deploy/, docs/metrics.md)")
    parser.add_argument("--promtool", default="promtool")
    parser.add_argument("--prometheus", default="prometheus")
    args = parser.parse_args()

    def on_alarm(signum, frame):
        raise OverallTimeout()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TOTAL_TIMEOUT_S)

    with tempfile.TemporaryDirectory(prefix="basin-prometheus-e2e-") as tmp:
        test = E2E(args, tmp)
        checks = []
        try:
            checks = test.main()
        except OverallTimeout:
            test.fail(f"the test did not finish within {TOTAL_TIMEOUT_S} s")
        except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired, yaml.YAMLError) as e:
            test.fail(f"aborted: {e}")
        finally:
            signal.alarm(0)
            test.stop_all()
        if test.failures:
            for name, _, log in test.processes:
                print(f"-- last lines of {name}'s log:\n{tail(log)}")

    print("timings:")
    for name, seconds in test.timings:
        print(f"  {seconds:6.1f} s  {name}")
    print(f"  {time.monotonic() - test.start:6.1f} s  total")
    if test.failures:
        for failure in test.failures:
            print(f"FAIL {failure}")
        print(f"{len(test.failures)} failure(s)")
        return 1
    print(f"OK: {len(checks)} queries returned data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
