#!/usr/bin/python3
"""Checks deploy/compose/compose.yaml without running any container.

- The file parses, uses only Compose Specification keys (a misspelt key is an error, not ignored),
  and has the services basin, prometheus and grafana.
- Every path it references exists: the build context and Dockerfile, every bind-mount source;
  every named volume is declared (and every declared one used); depends_on names services.
- Ports are published on loopback only, host ports are unique, and each container port is one the
  service listens on (basin's --listen/--metrics_listen, Prometheus' --web.listen-address,
  Grafana's 3000).
- Every service has a health check with sane timings; basin's probes the port it listens on.
- basin's stop_grace_period is longer than its --drain_grace (default 20s), so a stop never ends
  in SIGKILL while the server drains.
- It agrees with deploy/prometheus and deploy/grafana as mounted: Prometheus' --config.file and
  its rule files exist through the mounts, a scrape job targets basin's metrics port by service
  name; Grafana's datasource URL is the prometheus service and port, the dashboard provider's path
  is a mounted folder with dashboards, the home dashboard exists.

--self-test also breaks the file in memory in each of those ways and requires every break to be
reported. Standard library and PyYAML only (Debian's /usr/bin/python3 with python3-yaml).

  deploy/compose/check.py [--file deploy/compose/compose.yaml] [--self-test]
"""

import argparse
import copy
import glob
import os
import re
import sys

import yaml

REQUIRED_SERVICES = ("basin", "prometheus", "grafana")
BASIN_IMAGE = "localhost/basin:dev"
DEFAULT_DRAIN_GRACE = 20.0  # seconds: basin-server's --drain_grace default
DEFAULT_GRAFANA_PORT = 3000
LOOPBACK = {"127.0.0.1", "::1", "[::1]", "localhost"}

TOP_LEVEL_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets", "include"}
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset",
    "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules", "devices", "dns",
    "dns_opt", "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose",
    "extends", "external_links", "extra_hosts", "group_add", "healthcheck", "hostname", "image",
    "init", "ipc", "isolation", "labels", "links", "logging", "mac_address", "mem_limit",
    "mem_reservation", "mem_swappiness", "memswap_limit", "network_mode", "networks",
    "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports", "privileged",
    "profiles", "pull_policy", "read_only", "restart", "runtime", "scale", "secrets",
    "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt",
    "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode", "uts", "volumes", "volumes_from",
    "working_dir",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval",
                    "disable"}
BUILD_KEYS = {"context", "dockerfile", "dockerfile_inline", "args", "ssh", "cache_from",
              "cache_to", "additional_contexts", "extra_hosts", "isolation", "privileged",
              "labels", "no_cache", "pull", "network", "shm_size", "target", "secrets", "tags",
              "platforms"}

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text):
    """Seconds of a Go/Compose/Abseil duration such as '1m30s', '20s', '500ms'; None if invalid."""
    text = str(text).strip()
    if not text or _DURATION_PART.sub("", text) != "":
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def flag_value(args, name):
    """The value of --name=V / --name V in a command list, the last one when repeated (as absl
    and Prometheus' kingpin do); basin-server accepts - or _ in the name."""
    spellings = {"--" + name, "--" + name.replace("_", "-"), "-" + name}
    found = None
    for i, arg in enumerate(args):
        key, sep, value = str(arg).partition("=")
        if key in spellings:
            if sep:
                found = value
            elif i + 1 < len(args):
                found = str(args[i + 1])
    return found


def address_port(address):
    """The port of HOST:PORT (or URL), or None."""
    match = re.search(r":(\d+)(?:/.*)?$", str(address))
    return int(match.group(1)) if match else None


def command_list(service):
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(c) for c in command]


class Checker:
    """Collects problems; `files` maps an absolute path to parsed YAML to use instead of reading
    that file (the self-test's way to break a referenced file)."""

    def __init__(self, compose_path, doc, files=None):
        self.path = os.path.abspath(compose_path)
        self.dir = os.path.dirname(self.path)
        self.doc = doc
        self.files = files or {}
        self.problems = []

    def problem(self, where, text):
        self.problems.append(f"{where}: {text}")

    def load_yaml(self, path):
        path = os.path.abspath(path)
        if path in self.files:
            return self.files[path]
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)

    def host_path(self, relative):
        return os.path.normpath(os.path.join(self.dir, relative))

    # ---- structure -------------------------------------------------------------------------
    def run(self):
        doc = self.doc
        if not isinstance(doc, dict):
            self.problem("compose", "not a mapping")
            return self.problems
        for key in doc:
            if key == "version":
                self.problem("compose", "'version' is obsolete in the Compose Specification")
            elif key not in TOP_LEVEL_KEYS and not str(key).startswith("x-"):
                self.problem("compose", f"unknown top-level key '{key}'")
        services = doc.get("services")
        if not isinstance(services, dict) or not services:
            self.problem("compose", "no services")
            return self.problems
        for name in REQUIRED_SERVICES:
            if name not in services:
                self.problem("services", f"service '{name}' is missing")
        declared_volumes = set((doc.get("volumes") or {}).keys())
        used_volumes = set()
        host_ports = {}
        for name, service in services.items():
            where = f"services.{name}"
            if not isinstance(service, dict):
                self.problem(where, "not a mapping")
                continue
            for key in service:
                if key not in SERVICE_KEYS and not str(key).startswith("x-"):
                    self.problem(where, f"unknown key '{key}'")
            self.check_image_and_build(where, name, service)
            used_volumes |= self.check_volumes(where, service, declared_volumes)
            self.check_ports(where, name, service, host_ports)
            self.check_healthcheck(where, service)
            for dependency in self.depends_on(service):
                if dependency not in services:
                    self.problem(where, f"depends_on names no service: '{dependency}'")
            if "stop_grace_period" in service and parse_duration(service["stop_grace_period"]) is None:
                self.problem(where, f"stop_grace_period '{service['stop_grace_period']}' is no duration")
        for volume in sorted(declared_volumes - used_volumes):
            self.problem("volumes", f"volume '{volume}' is declared but no service mounts it")
        if "basin" in services:
            self.check_basin(services["basin"])
        if "prometheus" in services and "basin" in services:
            self.check_prometheus(services["prometheus"], services)
        if "grafana" in services and "prometheus" in services:
            self.check_grafana(services["grafana"], services)
        return self.problems

    @staticmethod
    def depends_on(service):
        deps = service.get("depends_on") or []
        return list(deps.keys()) if isinstance(deps, dict) else list(deps)

    def check_image_and_build(self, where, name, service):
        image = service.get("image")
        if not image:
            self.problem(where, "no image")
        elif name != "basin":
            # Registry images must be pinned: a tag that is not 'latest' (or a digest).
            tail = str(image).rsplit("/", 1)[-1]
            if "@sha256:" not in str(image) and (":" not in tail or tail.endswith(":latest")):
                self.problem(where, f"image '{image}' is not pinned to a version")
        build = service.get("build")
        if build is None:
            return
        if isinstance(build, str):
            build = {"context": build}
        for key in build:
            if key not in BUILD_KEYS:
                self.problem(f"{where}.build", f"unknown key '{key}'")
        context = self.host_path(str(build.get("context", ".")))
        if not os.path.isdir(context):
            self.problem(f"{where}.build", f"context '{build.get('context')}' is not a directory")
            return
        dockerfile = os.path.join(context, str(build.get("dockerfile", "Dockerfile")))
        if not os.path.isfile(dockerfile):
            self.problem(f"{where}.build", f"no Dockerfile at {os.path.relpath(dockerfile, self.dir)}")

    def mounts(self, service):
        """[(kind, source, target, read_only)] of the service's volumes (short or long syntax)."""
        result = []
        for entry in service.get("volumes") or []:
            if isinstance(entry, dict):
                kind = entry.get("type", "volume")
                result.append((kind, entry.get("source"), entry.get("target"),
                               bool(entry.get("read_only"))))
                continue
            parts = str(entry).split(":")
            if len(parts) == 1:
                result.append(("volume", None, parts[0], False))  # anonymous volume
                continue
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            result.append((kind, source, target, read_only))
        return result

    def check_volumes(self, where, service, declared):
        used = set()
        for kind, source, target, _ in self.mounts(service):
            if not target or not str(target).startswith("/"):
                self.problem(where, f"mount target '{target}' is not an absolute path")
            if kind == "bind":
                if not os.path.exists(self.host_path(str(source))):
                    self.problem(where, f"bind-mount source '{source}' does not exist")
            elif kind == "volume" and source is not None:
                used.add(source)
                if source not in declared:
                    self.problem(where, f"named volume '{source}' is not declared under volumes")
        return used

    def container_path(self, service, path):
        """The host path behind `path` in the container through the service's bind mounts
        (the deepest mount wins), or None."""
        best = None
        for kind, source, target, _ in self.mounts(service):
            if kind != "bind" or not target:
                continue
            target = str(target).rstrip("/")
            if path == target or path.startswith(target + "/"):
                if best is None or len(target) > len(best[1]):
                    best = (str(source), target)
        if best is None:
            return None
        return os.path.normpath(os.path.join(self.host_path(best[0]), os.path.relpath(path, best[1])))

    def listen_ports(self, name, service):
        """Container ports the service listens on, from its command or known defaults."""
        args = command_list(service)
        if name == "basin":
            ports = {address_port(flag_value(args, "listen") or "127.0.0.1:50051"),
                     address_port(flag_value(args, "metrics_listen") or "127.0.0.1:9464")}
        elif name == "prometheus":
            ports = {address_port(flag_value(args, "web.listen-address") or ":9090")}
        elif name == "grafana":
            env = service.get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) for e in env if "=" in e)
            ports = {int(env.get("GF_SERVER_HTTP_PORT", DEFAULT_GRAFANA_PORT))}
        else:
            return None
        return {p for p in ports if p is not None}

    def check_ports(self, where, name, service, host_ports):
        listening = self.listen_ports(name, service)
        for entry in service.get("ports") or []:
            if isinstance(entry, dict):
                ip = str(entry.get("host_ip", ""))
                host = entry.get("published")
                container = entry.get("target")
            else:
                text = str(entry).split("/")[0]
                match = re.fullmatch(r"(?:(\[[0-9a-fA-F:]+\]|[^:\[\]]+):)?(?:(\d+)?:)?(\d+)", text)
                if not match:
                    self.problem(where, f"port '{entry}' is not IP:HOST:CONTAINER")
                    continue
                ip, host, container = match.group(1) or "", match.group(2), match.group(3)
            if ip not in LOOPBACK:
                self.problem(where, f"port '{entry}' is published beyond loopback (host IP '{ip or 'all'}')")
            if host:
                if str(host) in host_ports:
                    self.problem(where, f"host port {host} is also published by {host_ports[str(host)]}")
                host_ports[str(host)] = name
            if listening is not None and int(container) not in listening:
                self.problem(where, f"port '{entry}': the service listens on {sorted(listening)}, "
                                    f"not {container}")

    def check_healthcheck(self, where, service):
        check = service.get("healthcheck")
        if not isinstance(check, dict) or check.get("disable"):
            self.problem(where, "no healthcheck")
            return
        for key in check:
            if key not in HEALTHCHECK_KEYS:
                self.problem(f"{where}.healthcheck", f"unknown key '{key}'")
        test = check.get("test")
        if not (isinstance(test, list) and len(test) >= 2 and test[0] in ("CMD", "CMD-SHELL")):
            self.problem(f"{where}.healthcheck", "test must be a list [CMD, ...] or [CMD-SHELL, ...]")
        seconds = {}
        for key, default in (("interval", "30s"), ("timeout", "30s"), ("start_period", "0s")):
            value = parse_duration(check.get(key, default))
            if value is None:
                self.problem(f"{where}.healthcheck", f"{key} '{check.get(key)}' is no duration")
            seconds[key] = value
        if seconds["interval"] is not None and seconds["timeout"] is not None:
            if not 0 < seconds["timeout"] < seconds["interval"]:
                self.problem(f"{where}.healthcheck", "timeout must be positive and shorter than interval")
        retries = check.get("retries", 3)
        if not isinstance(retries, int) or retries < 1:
            self.problem(f"{where}.healthcheck", f"retries '{retries}' must be an integer >= 1")

    # ---- basin -------------------------------------------------------------------------------
    def check_basin(self, basin):
        where = "services.basin"
        if basin.get("image") != BASIN_IMAGE:
            self.problem(where, f"image is '{basin.get('image')}', not {BASIN_IMAGE}")
        if "build" not in basin:
            self.problem(where, "no build section (context ../.. and the Dockerfile)")
        args = command_list(basin)
        listen = flag_value(args, "listen") or "127.0.0.1:50051"
        listen_port = address_port(listen)
        if listen.startswith("127.") or listen.startswith("localhost"):
            self.problem(where, f"--listen={listen} is not reachable through published ports")
        metrics = flag_value(args, "metrics_listen") or "127.0.0.1:9464"
        if metrics == "none" or metrics.startswith("127.") or metrics.startswith("localhost"):
            self.problem(where, f"--metrics_listen={metrics}: Prometheus cannot scrape it")
        test = (basin.get("healthcheck") or {}).get("test") or []
        target = flag_value([str(t) for t in test], "target")
        if "health" not in test or target is None or address_port(target) != listen_port:
            self.problem(f"{where}.healthcheck",
                         f"must run 'basin --target=127.0.0.1:{listen_port} health' (got {test})")
        drain_text = flag_value(args, "drain_grace")
        drain = DEFAULT_DRAIN_GRACE if drain_text is None else parse_duration(drain_text)
        if drain is None:
            self.problem(where, f"--drain_grace={drain_text} is no duration")
        grace = parse_duration(basin.get("stop_grace_period", "10s"))
        if drain is not None and grace is not None and not grace > drain:
            self.problem(where, f"stop_grace_period ({grace:g}s) must exceed --drain_grace ({drain:g}s), "
                                "or a draining server is killed")
        if basin.get("stop_signal", "SIGTERM") not in ("SIGTERM", "TERM", 15):
            self.problem(where, "stop_signal must be SIGTERM (basin-server drains on it)")
        if not any(target == "/var/lib/basin" for _, _, target, _ in self.mounts(basin)):
            self.problem(where, "no volume at /var/lib/basin (the server's data directory)")
        if basin.get("read_only") is not True:
            self.problem(where, "read_only must be true")
        if "ALL" not in (basin.get("cap_drop") or []):
            self.problem(where, "cap_drop must contain ALL")

    # ---- prometheus and grafana, as mounted --------------------------------------------------
    def check_prometheus(self, prometheus, services):
        where = "services.prometheus"
        config = flag_value(command_list(prometheus), "config.file") or "/etc/prometheus/prometheus.yml"
        host_config = self.container_path(prometheus, config)
        if host_config is None or not os.path.isfile(host_config):
            self.problem(where, f"--config.file {config} is not a file mounted from the host")
            return
        try:
            data = self.load_yaml(host_config) or {}
        except (OSError, yaml.YAMLError) as error:
            self.problem(where, f"{config}: {error}")
            return
        for rule_file in data.get("rule_files") or []:
            pattern = os.path.join(os.path.dirname(host_config), rule_file)
            if not glob.glob(pattern):
                self.problem(where, f"rule file '{rule_file}' of {config} does not exist")
        basin_metrics_port = address_port(
            flag_value(command_list(services["basin"]), "metrics_listen") or ":9464")
        scraped = False
        for job in data.get("scrape_configs") or []:
            for static in job.get("static_configs") or []:
                for target in static.get("targets") or []:
                    host, _, port = str(target).rpartition(":")
                    if host in services and host != "prometheus":
                        if host == "basin" and port.isdigit() and int(port) == basin_metrics_port:
                            scraped = True
                        elif host == "basin":
                            self.problem(where, f"scrape target {target}: basin's metrics port is {basin_metrics_port}")
        if not scraped:
            self.problem(where, f"no scrape job targets basin:{basin_metrics_port}")

    def check_grafana(self, grafana, services):
        where = "services.grafana"
        provisioning = self.container_path(grafana, "/etc/grafana/provisioning")
        if provisioning is None or not os.path.isdir(provisioning):
            self.problem(where, "no provisioning folder mounted at /etc/grafana/provisioning")
            return
        prometheus_port = next(iter(self.listen_ports("prometheus", services["prometheus"])), None)
        datasource_urls = []
        for path in sorted(glob.glob(os.path.join(provisioning, "datasources", "*.y*ml"))):
            for source in (self.load_yaml(path) or {}).get("datasources") or []:
                datasource_urls.append(str(source.get("url", "")))
        wanted = f"http://prometheus:{prometheus_port}"
        if not any(url.rstrip("/") == wanted for url in datasource_urls):
            self.problem(where, f"no provisioned datasource with url {wanted} (found {datasource_urls})")
        providers = []
        for path in sorted(glob.glob(os.path.join(provisioning, "dashboards", "*.y*ml"))):
            providers += (self.load_yaml(path) or {}).get("providers") or []
        if not providers:
            self.problem(where, "no dashboard provider under provisioning/dashboards")
        for provider in providers:
            path = str((provider.get("options") or {}).get("path", ""))
            host = self.container_path(grafana, path) if path else None
            if host is None or not glob.glob(os.path.join(host, "*.json")):
                self.problem(where, f"dashboard provider path '{path}' is no mounted folder of dashboards")
        env = grafana.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env if "=" in e)
        home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
        if home:
            host = self.container_path(grafana, str(home))
            if host is None or not os.path.isfile(host):
                self.problem(where, f"home dashboard {home} is not a mounted file")
        if str(env.get("GF_AUTH_ANONYMOUS_ENABLED", "false")).lower() == "true":
            if env.get("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer") != "Viewer":
                self.problem(where, "anonymous users must be Viewers")


def self_test(compose_path, doc):
    """Every break below must be reported; the file as it is must pass."""
    base = Checker(compose_path, doc).run()
    if base:
        print("self-test: the compose file itself fails:\n  " + "\n  ".join(base))
        return 1
    compose_dir = os.path.dirname(os.path.abspath(compose_path))
    prom_config = os.path.normpath(os.path.join(compose_dir, "../prometheus/prometheus.yml"))
    with open(prom_config, encoding="utf-8") as f:
        prom = yaml.safe_load(f)

    def prom_with(change):
        data = copy.deepcopy(prom)
        change(data)
        return {prom_config: data}

    def svc(name):
        return lambda d: d["services"][name]

    cases = [
        ("missing service", lambda d: d["services"].pop("grafana"), {}, "service 'grafana' is missing"),
        ("misspelt key", lambda d: d["services"]["basin"].update(healthchek={}), {}, "unknown key 'healthchek'"),
        ("obsolete version", lambda d: d.update(version="3.8"), {}, "'version' is obsolete"),
        ("port on all interfaces", lambda d: svc("basin")(d)["ports"].__setitem__(0, "50051:50051"), {},
         "beyond loopback"),
        ("port nobody listens on", lambda d: svc("basin")(d)["ports"].__setitem__(1, "127.0.0.1:9464:9465"), {},
         "listens on"),
        ("duplicate host port", lambda d: svc("grafana")(d)["ports"].__setitem__(0, "127.0.0.1:9090:3000"), {},
         "also published"),
        ("missing bind source", lambda d: svc("grafana")(d)["volumes"].__setitem__(
            0, "../grafana/provisionin:/etc/grafana/provisioning:ro"), {}, "does not exist"),
        ("undeclared volume", lambda d: d["volumes"].pop("grafana-data"), {}, "not declared"),
        ("unused volume", lambda d: d["volumes"].update(spare=None), {}, "no service mounts it"),
        ("missing build context", lambda d: svc("basin")(d)["build"].update(context="../../nowhere"), {},
         "not a directory"),
        ("missing Dockerfile", lambda d: svc("basin")(d)["build"].update(dockerfile="Containerfile"), {},
         "no Dockerfile"),
        ("grace below drain", lambda d: svc("basin")(d).update(stop_grace_period="15s"), {}, "must exceed"),
        ("drain above grace", lambda d: svc("basin")(d)["command"].append("--drain_grace=45s"), {},
         "must exceed"),
        ("no healthcheck", lambda d: svc("prometheus")(d).pop("healthcheck"), {}, "no healthcheck"),
        ("timeout above interval", lambda d: svc("basin")(d)["healthcheck"].update(timeout="20s"), {},
         "shorter than interval"),
        ("health probes another port", lambda d: svc("basin")(d)["healthcheck"].update(
            test=["CMD", "/usr/local/bin/basin", "--target=127.0.0.1:50052", "health"]), {}, "must run"),
        ("loopback-only server", lambda d: svc("basin")(d)["command"].__setitem__(0, "--listen=127.0.0.1:50051"),
         {}, "not reachable"),
        ("unknown depends_on", lambda d: svc("grafana")(d).update(depends_on=["prom"]), {}, "names no service"),
        ("unpinned image", lambda d: svc("grafana")(d).update(image="grafana/grafana"), {}, "not pinned"),
        ("config not mounted", lambda d: svc("prometheus")(d)["command"].__setitem__(
            0, "--config.file=/etc/prom/prometheus.yml"), {}, "not a file mounted"),
        ("missing rule file", lambda d: None, prom_with(lambda p: p["rule_files"].append("missing.yml")),
         "rule file 'missing.yml'"),
        ("scrape on the wrong port", lambda d: None,
         prom_with(lambda p: p["scrape_configs"][0]["static_configs"][0].update(targets=["basin:50051"])),
         "metrics port is 9464"),
        ("datasource elsewhere", lambda d: svc("prometheus")(d)["command"].__setitem__(
            3, "--web.listen-address=0.0.0.0:9091"), {}, "no provisioned datasource"),
        ("dashboards not mounted", lambda d: svc("grafana")(d)["volumes"].pop(1), {},
         "no mounted folder of dashboards"),
    ]
    failures = 0
    for name, mutate, files, expected in cases:
        broken = copy.deepcopy(doc)
        mutate(broken)
        problems = Checker(compose_path, broken, files).run()
        if any(expected in p for p in problems):
            print(f"self-test: {name}: reported")
        else:
            failures += 1
            print(f"self-test: {name}: NOT reported (wanted '{expected}', got {problems})")
    print(f"self-test: {len(cases) - failures}/{len(cases)} breaks reported")
    return 1 if failures else 0


def main():
    repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=os.path.join(repo, "deploy", "compose", "compose.yaml"))
    parser.add_argument("--self-test", action="store_true",
                        help="also require that each deliberately broken variant fails")
    args = parser.parse_args()
    try:
        with open(args.file, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as error:
        print(f"{args.file}: {error}")
        return 1
    problems = Checker(args.file, doc).run()
    for p in problems:
        print(f"{os.path.relpath(args.file)}: {p}")
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    services = ", ".join(doc["services"])
    print(f"{os.path.relpath(args.file)}: OK (services {services})")
    if args.self_test:
        return self_test(args.file, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
