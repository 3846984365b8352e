"""One service's Kubernetes directory: its resources, pods, containers and their peers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from deploy_checks.core import Json, Manifest, Report, Service, rel
from deploy_checks.settings_env import check_env, effective

WORKLOAD_KINDS = {"Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob"}
REQUIRED_KINDS = (
    "ConfigMap",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Job",
    "Cluster",
)
MIN_REPLICAS = 2


def check_service_manifests(
    report: Report,
    directory: Path,
    service: Service,
    manifests: list[Manifest],
    services: Mapping[str, Service],
) -> None:
    """The resources a service needs, labelled as its own, and each workload's containers."""
    if not directory.is_dir():
        report.add(directory, f"missing: every service needs its manifests ({service.name})")
        return
    by_kind: dict[str, list[Manifest]] = {}
    for m in manifests:
        by_kind.setdefault(m.kind, []).append(m)
        label = ((m.body.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name")
        if label != f"jiesu-{service.name}":
            report.add(
                m.path,
                f"{m.kind}/{m.name}: label app.kubernetes.io/name must be jiesu-{service.name}",
            )
    for kind in REQUIRED_KINDS:
        if service.stateless and kind in ("Job", "Cluster"):
            if kind in by_kind:
                report.add(directory, f"{service.name} has no database: no {kind} belongs here")
            continue
        if kind not in by_kind:
            report.add(directory, f"no {kind} for service {service.name!r}")
    config_maps = {m.name: m.body.get("data") or {} for m in by_kind.get("ConfigMap", [])}
    for m in by_kind.get("ConfigMap", []):
        where = f"{rel(report.root, m.path)} ConfigMap/{m.name}"
        check_env(report, where, config_maps[m.name], service, services)
    clusters = {m.name: m.body for m in by_kind.get("Cluster", [])}
    for m in manifests:
        if m.kind in WORKLOAD_KINDS:
            _check_workload(report, m, service, services, config_maps, clusters)
    for deployment in by_kind.get("Deployment", []):
        _check_deployment_peers(report, deployment, by_kind)


def pod_spec(m: Manifest) -> Json:
    """The pod spec of a workload (Deployment, Job, CronJob ...)."""
    spec = m.body.get("spec") or {}
    if m.kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def _check_workload(
    report: Report,
    m: Manifest,
    service: Service,
    services: Mapping[str, Service],
    config_maps: Mapping[str, Json],
    clusters: Mapping[str, Json],
) -> None:
    where = f"{rel(report.root, m.path)} {m.kind}/{m.name}"
    pod = pod_spec(m)
    if pod.get("enableServiceLinks") is not False:
        report.add(
            where,
            "enableServiceLinks must be false (Service env vars clash with the settings' prefix)",
        )
    if pod.get("automountServiceAccountToken") is not False:
        report.add(where, "automountServiceAccountToken must be false")
    for container in pod.get("containers") or []:
        cwhere = f"{where} container {container.get('name')}"
        env = container_env(report, cwhere, container, config_maps)
        own = {item["name"]: item.get("value") for item in container.get("env") or []}
        check_env(report, cwhere, own, service, services)  # the ConfigMaps are checked once
        _check_container(report, cwhere, m.kind, container, pod, service, env)
        if not service.stateless:
            _check_database_url(report, cwhere, service, env, clusters)


def container_env(
    report: Report, where: str, container: Json, config_maps: Mapping[str, Json]
) -> dict[str, str | None]:
    """A container's environment: ConfigMaps through envFrom, then env (None = from a secret).

    Reports envFrom naming an unknown ConfigMap and $(VAR) references to later variables.
    """
    env: dict[str, str | None] = {}
    for source in container.get("envFrom") or []:
        ref = (source.get("configMapRef") or {}).get("name")
        if ref is None:
            continue
        if ref not in config_maps:
            report.add(where, f"envFrom names ConfigMap {ref!r}, which is not in its directory")
        env.update({k: str(v) for k, v in (config_maps.get(ref) or {}).items()})
    for item in container.get("env") or []:
        value = item.get("value")
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(value or "")):
            if ref not in env:
                report.add(where, f"{item['name']} refers to $({ref}), not defined before it")
        env[item["name"]] = None if value is None else str(value)
    return env


def _check_container(
    report: Report,
    where: str,
    kind: str,
    container: Json,
    pod: Json,
    service: Service,
    env: Mapping[str, str | None],
) -> None:
    image = str(container.get("image", ""))
    if re.split(r"[:@]", image)[0] != f"jiesu/{service.name}":
        report.add(where, f"image {image!r} is not jiesu/{service.name}")
    command = "serve" if kind == "Deployment" else "migrate"
    if container.get("args", ["serve"]) != [command]:
        report.add(where, f'args must be ["{command}"]')
    if kind == "Deployment":
        _check_probes(report, where, container, effective(service, env, "port"))
    resources = container.get("resources") or {}
    for part, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
        for key in keys:
            if key not in (resources.get(part) or {}):
                report.add(where, f"resources.{part}.{key} is missing")
    sc = container.get("securityContext") or {}
    pod_sc = pod.get("securityContext") or {}
    if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
        report.add(where, "must run as non-root (securityContext.runAsNonRoot: true)")
    if sc.get("readOnlyRootFilesystem") is not True:
        report.add(where, "securityContext.readOnlyRootFilesystem must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        report.add(where, "securityContext.allowPrivilegeEscalation must be false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        report.add(where, "securityContext.capabilities.drop must include ALL")


def _check_probes(report: Report, where: str, container: Json, port: int) -> None:
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    if ports.get("http") != port:
        report.add(where, f"needs a port named http on {port}, the service's port setting")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (container.get(probe) or {}).get("httpGet")
        if get is None:
            report.add(where, f"{probe} is missing (an HTTP GET of {path})")
        elif get.get("path") != path or get.get("port") not in ("http", port):
            report.add(where, f"{probe} must GET {path} on the http port")


def _check_database_url(
    report: Report,
    where: str,
    service: Service,
    env: Mapping[str, str | None],
    clusters: Mapping[str, Json],
) -> None:
    url = env.get(f"{service.prefix}DATABASE__URL")
    match = re.search(r"@([^:/]+)(?::\d+)?/([^/?]+)$", url or "")
    if match is None:
        report.add(where, f"{service.prefix}DATABASE__URL must name a host and a database")
        return
    host, database = match.groups()
    cluster = clusters.get(host.removesuffix("-rw"))
    initdb = ((((cluster or {}).get("spec") or {}).get("bootstrap")) or {}).get("initdb") or {}
    if not host.endswith("-rw") or cluster is None or initdb.get("database") != database:
        report.add(
            where,
            f"database {host}/{database} is not the read-write service and "
            "database of a CloudNativePG Cluster in its directory",
        )


def _check_deployment_peers(
    report: Report, deployment: Manifest, by_kind: Mapping[str, list[Manifest]]
) -> None:
    where = f"{rel(report.root, deployment.path)} Deployment/{deployment.name}"
    spec = deployment.body.get("spec") or {}
    if int(spec.get("replicas") or 1) < MIN_REPLICAS:
        report.add(where, f"replicas must be at least {MIN_REPLICAS}")
    pod_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    for kind in ("Service", "PodDisruptionBudget"):
        for peer in by_kind.get(kind, []):
            selector = _selector(peer)
            if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
                report.add(peer.path, f"{kind}/{peer.name} does not select {where}'s pods")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        hspec = hpa.body.get("spec") or {}
        target = hspec.get("scaleTargetRef") or {}
        if (target.get("kind"), target.get("name")) != ("Deployment", deployment.name):
            report.add(hpa.path, f"HorizontalPodAutoscaler/{hpa.name} does not scale {where}")
        if int(hspec.get("minReplicas") or 1) < MIN_REPLICAS:
            report.add(hpa.path, f"minReplicas must be at least {MIN_REPLICAS}")


def _selector(m: Manifest) -> Json:
    selector: Json = (m.body.get("spec") or {}).get("selector") or {}
    # A Service selects by plain labels; a PodDisruptionBudget by a label selector.
    return selector.get("matchLabels") or {} if m.kind == "PodDisruptionBudget" else selector
