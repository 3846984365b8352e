"""``deploy/k8s``: schemas (Kubernetes and CRDs), kustomizations, topics, per-service sets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from deploy_checks.auth import check_production_identity
from deploy_checks.core import (
    YAML_LOADER,
    Json,
    Manifest,
    Report,
    Service,
    compare_topics,
    json_path,
    load_yaml,
    load_yaml_all,
    rel,
)
from deploy_checks.settings_env import effective
from deploy_checks.workloads import check_service_manifests, container_env, pod_spec

# The oldest Kubernetes minor the manifests support, and the newest the package knows.
KUBERNETES_VERSIONS = ("1.33", "1.37")
CRD_DIRS = ("strimzi", "cloudnative-pg")
PLATFORM_DIR = "platform"
TOPIC_REPLICAS = 3
TOPIC_MIN_INSYNC = 2

# kubernetes-validate re-reads its schema files (1.8 MB of definitions) on every call; they
# never change within a process, so read each once (validation time drops by ~80 %).
if hasattr(kubernetes_validate.utils, "schema_contents"):
    kubernetes_validate.utils.schema_contents = cache(kubernetes_validate.utils.schema_contents)


def check_kubernetes(root: Path, services: Mapping[str, Service], report: Report) -> None:
    """Schemas, inventory, settings and policy of every manifest under ``deploy/k8s``."""
    k8s = root / "deploy" / "k8s"
    crds = load_crd_schemas(root / "deploy" / "schemas")
    manifests: list[Manifest] = []
    for path in sorted(k8s.rglob("*.yaml")):
        for body in load_yaml_all(path, report):
            if body.get("kind") == "Kustomization":
                _check_kustomization(path, body, services, report)
                continue
            manifests.append(Manifest(path, body))
            validate_resource(report, path, body, crds)
    root_kustomization = load_yaml(k8s / "kustomization.yaml", report) or {}
    pinned = {str(i.get("name")) for i in root_kustomization.get("images") or []}
    for service in services.values():
        if f"jiesu/{service.name}" not in pinned:
            report.add(k8s / "kustomization.yaml", f"images must pin jiesu/{service.name}")
    for directory in sorted(p for p in k8s.iterdir() if p.is_dir()):
        if directory.name not in services and directory.name != PLATFORM_DIR:
            report.add(directory, "names a service that does not exist")
    for service in services.values():
        own = [m for m in manifests if m.path.parent == k8s / service.name]
        check_service_manifests(report, k8s / service.name, service, own, services)
    _check_kafka(report, manifests, services)
    _check_identity(report, manifests, services)


def validate_resource(report: Report, path: Path, body: Json, crds: Mapping[Any, Json]) -> None:
    """Validate one resource against Kubernetes' or its CRD's schema (strict)."""
    report.checked_resources += 1
    where = (
        f"{rel(report.root, path)} {body.get('kind')}/{(body.get('metadata') or {}).get('name')}"
    )
    crd = crds.get((body.get("apiVersion"), body.get("kind")))
    for version in KUBERNETES_VERSIONS:
        try:
            if crd is None:
                kubernetes_validate.validate(body, version, strict=True)
            else:  # custom resource: its metadata is still a Kubernetes ObjectMeta
                meta = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": body.get("metadata")}
                kubernetes_validate.validate(meta, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            report.add(where, f"Kubernetes {version} schema: {json_path(exc)}: {exc.message}")
            break  # one version's verdict is enough
        except kubernetes_validate.SchemaNotFoundError as exc:
            report.add(where, f"no schema: {exc.message}")
            return
    if crd is not None:
        for error in jsonschema.Draft7Validator(crd).iter_errors(body):
            report.add(where, f"CRD schema: {json_path(error)}: {error.message}")


def load_crd_schemas(schemas_dir: Path) -> dict[tuple[str, str], Json]:
    """``(apiVersion, kind)`` → the CRD's openAPIV3Schema with unknown fields forbidden."""
    schemas: dict[tuple[str, str], Json] = {}
    for sub in CRD_DIRS:
        for path in sorted((schemas_dir / sub).glob("*.yaml")):
            crd = _crd_file(path)
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = strict_schema(version["schema"]["openAPIV3Schema"])
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


@cache
def _crd_file(path: Path) -> Json:
    data: Json = yaml.load(path.read_text(), Loader=YAML_LOADER)
    return data


def strict_schema(schema: Any) -> Any:
    """Forbid properties a structural schema does not name, as the API server prunes them."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict_schema(value) for key, value in schema.items()}
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _check_kustomization(
    path: Path, body: Json, services: Mapping[str, Service], report: Report
) -> None:
    listed = [str(r) for r in body.get("resources") or []]
    for entry in listed:
        if not (path.parent / entry).exists():
            report.add(path, f"resources lists {entry!r}, which does not exist")
    siblings = {p.name for p in path.parent.glob("*.yaml")} - {path.name}
    subdirs = {p.name for p in path.parent.iterdir() if p.is_dir()}
    for orphan in sorted((siblings | subdirs) - set(listed)):
        report.add(path, f"resources does not list {orphan!r}: kubectl apply -k would skip it")
    for image in body.get("images") or []:
        match = re.fullmatch(r"jiesu/(.+)", str(image.get("name", "")))
        if match and match.group(1) not in services:
            report.add(path, f"images names a service that does not exist: {match.group(1)}")


def _check_kafka(
    report: Report, manifests: list[Manifest], services: Mapping[str, Service]
) -> None:
    clusters = {m.name for m in manifests if m.kind == "Kafka"}
    topics = [m for m in manifests if m.kind == "KafkaTopic"]
    for m in manifests:
        if m.kind in ("KafkaTopic", "KafkaNodePool"):
            label = ((m.body.get("metadata") or {}).get("labels") or {}).get("strimzi.io/cluster")
            if label not in clusters:
                report.add(m.path, f"{m.kind}/{m.name}: strimzi.io/cluster names no Kafka")
    names = {str((t.body.get("spec") or {}).get("topicName") or t.name): t for t in topics}
    where = f"{rel(report.root, report.root / 'deploy' / 'k8s')} KafkaTopics"
    compare_topics(report, where, set(names), services)
    k8s = report.root / "deploy" / "k8s"
    for service in (s for s in services.values() if not s.stateless):
        env = _k8s_env(manifests, k8s / service.name)
        partitions = effective(service, env, "kafka.partitions")
        replication = effective(service, env, "kafka.replication_factor")
        for topic in sorted(service.topics & set(names)):
            spec = names[topic].body.get("spec") or {}
            config = spec.get("config") or {}
            at = f"{rel(report.root, names[topic].path)} KafkaTopic/{topic}"
            if spec.get("partitions") != partitions:
                report.add(
                    at,
                    f"partitions {spec.get('partitions')}, but {service.name}'s "
                    f"kafka.partitions is {partitions}",
                )
            if spec.get("replicas") != replication or replication < TOPIC_REPLICAS:
                report.add(
                    at,
                    f"replicas {spec.get('replicas')}, but {service.name}'s "
                    f"kafka.replication_factor is {replication} (at least "
                    f"{TOPIC_REPLICAS} in production)",
                )
            if str(config.get("min.insync.replicas")) != str(TOPIC_MIN_INSYNC):
                report.add(at, f"config min.insync.replicas must be {TOPIC_MIN_INSYNC}")


def _k8s_env(manifests: list[Manifest], directory: Path) -> dict[str, str | None]:
    """The environment the service's Deployment gets (ConfigMaps first, then env)."""
    own = [m for m in manifests if m.path.parent == directory]
    config_maps = {m.name: m.body.get("data") or {} for m in own if m.kind == "ConfigMap"}
    env: dict[str, str | None] = {}
    for m in own:
        if m.kind == "Deployment":
            for container in pod_spec(m).get("containers") or []:
                # Problems in these containers are reported by the per-service checks.
                env.update(container_env(Report(root=Path("/")), "", container, config_maps))
    return env


def _check_identity(
    report: Report, manifests: list[Manifest], services: Mapping[str, Service]
) -> None:
    """Production identity: one issuer, no shared secret, an OAuth client per calling service."""
    k8s = report.root / "deploy" / "k8s"
    envs: dict[str, dict[str, str | None]] = {}
    secrets: dict[str, str | None] = {}
    for service in services.values():
        directory = k8s / service.name
        containers = [
            c
            for m in manifests
            if m.kind == "Deployment" and m.path.parent == directory
            for c in pod_spec(m).get("containers") or []
        ]
        if not containers:
            continue
        envs[service.name] = _k8s_env(manifests, directory)
        secrets[service.name] = _secret_source(
            containers[-1], f"{service.prefix}AUTH__CLIENT_SECRET"
        )
    check_production_identity(
        report, f"{rel(report.root, k8s)} Deployments", services, envs, secrets
    )


def _secret_source(container: Json, name: str) -> str | None:
    """Where a container's variable comes from: a Secret's key, else a literal (or None)."""
    for item in container.get("env") or []:
        if item.get("name") != name:
            continue
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None:
            return f"Secret {ref.get('name')} key {ref.get('key')}"
        return "a literal value" if "value" in item else "something other than a Secret"
    return None
