"""``deploy/docker-compose.yml`` and ``deploy/prometheus/prometheus.yml``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import jsonschema

from deploy_checks.auth import check_shared_secret, compose_source, jwt_variable
from deploy_checks.core import (
    Json,
    Report,
    Service,
    compare_topics,
    json_file,
    json_path,
    load_yaml,
    rel,
)
from deploy_checks.settings_env import check_env, effective


def check_compose(root: Path, services: Mapping[str, Service], report: Report) -> None:
    """The compose file against the Compose spec, the settings and the services."""
    path = root / "deploy" / "docker-compose.yml"
    compose = load_yaml(path, report)
    if not isinstance(compose, dict):
        return
    schema = json_file(root / "deploy" / "schemas" / "compose-spec" / "compose-spec.json")
    for error in jsonschema.Draft7Validator(schema).iter_errors(compose):
        report.add(path, f"compose spec: {json_path(error)}: {error.message}")
    entries: dict[str, Json] = compose.get("services") or {}
    for name, entry in entries.items():
        owner_name = _compose_owner(entry)
        if owner_name is not None and owner_name not in services:
            report.add(path, f"services.{name} names a service that does not exist: {owner_name}")
            continue
        owner = services.get(owner_name) if owner_name else None
        check_env(report, f"{rel(root, path)} services.{name}", _env_of(entry), owner, services)
    for service in services.values():
        _check_compose_service(path, entries, service, report)
    sources = {
        s.name: compose_source(_env_of(entries[s.name]).get(jwt_variable(s)))
        for s in services.values()
        if s.name in entries
    }
    check_shared_secret(report, f"{rel(root, path)} services", services, sources)
    _check_compose_topics(path, entries, services, report)
    _check_compose_databases(path, entries, services, report)
    _check_prometheus(root, services, report)


def _compose_owner(entry: Json) -> str | None:
    if service := _build_args(entry).get("SERVICE"):
        return service
    if match := re.match(r"jiesu/([^:/]+)", str(entry.get("image", ""))):
        return match.group(1)
    return None


def _build_args(entry: Json) -> dict[str, str]:
    build = entry.get("build")
    args = (build.get("args") or {}) if isinstance(build, dict) else {}
    if isinstance(args, list):
        return {k: v for k, _, v in (str(item).partition("=") for item in args)}
    return {str(k): str(v) for k, v in args.items()}


def _check_build(path: Path, name: str, entry: Json, service: Service, report: Report) -> None:
    """Built from the one shared Dockerfile, with the service's name and its port."""
    build = entry.get("build")
    if build is None:
        return
    if not isinstance(build, dict) or build.get("dockerfile") != "Dockerfile":
        report.add(path, f"services.{name}.build must use the shared Dockerfile (Dockerfile)")
        return
    port = str(effective(service, _env_of(entry), "port"))
    if _build_args(entry).get("PORT") != port:
        report.add(path, f"services.{name}.build.args.PORT must be {port}, the port it serves on")


def _env_of(entry: Json) -> dict[str, str | None]:
    env = entry.get("environment") or {}
    if isinstance(env, list):
        return {k: v for k, _, v in (item.partition("=") for item in env)}
    return {k: None if v is None else str(v) for k, v in env.items()}


def _check_compose_service(
    path: Path, entries: Mapping[str, Json], service: Service, report: Report
) -> None:
    name, migrate = service.name, f"{service.name}-migrate"
    if service.stateless:
        _check_stateless_compose_service(path, entries, service, report)
        return
    for entry_name in (name, migrate):
        entry = entries.get(entry_name)
        if entry is None:
            report.add(path, f"services.{entry_name} missing for service {service.name!r}")
        elif _compose_owner(entry) != service.name:
            report.add(path, f"services.{entry_name} must run the image of {service.name!r}")
        else:
            _check_build(path, entry_name, entry, service, report)
    if name not in entries or migrate not in entries:
        return
    if entries[migrate].get("command") != ["migrate"]:
        report.add(path, f'services.{migrate}.command must be ["migrate"]')
    entry = entries[name]
    if entry.get("command", ["serve"]) != ["serve"]:
        report.add(path, f"services.{name} must run the image's default command, serve")
    depends = entry.get("depends_on") or {}
    for needed in (migrate, "kafka-topics"):
        condition = depends.get(needed, {}) if isinstance(depends, dict) else {}
        if condition.get("condition") != "service_completed_successfully":
            report.add(path, f"services.{name} must wait for {needed} to complete successfully")
    health = entry.get("healthcheck") or {}
    if health.get("disable") or "/readyz" not in " ".join(health.get("test") or []):
        report.add(path, f"services.{name}.healthcheck must probe /readyz")
    port = effective(service, _env_of(entry), "port")
    if not any(str(p).endswith(f":{port}") for p in entry.get("ports") or []):
        report.add(path, f"services.{name}.ports must publish its port {port}")


def _check_stateless_compose_service(
    path: Path, entries: Mapping[str, Json], service: Service, report: Report
) -> None:
    """A front end: its serving container only, healthy on /readyz, its port published."""
    name = service.name
    entry = entries.get(name)
    if entry is None or _compose_owner(entry) != name:
        report.add(path, f"services.{name} missing or not running the image of {name!r}")
        return
    _check_build(path, name, entry, service, report)
    if f"{name}-migrate" in entries:
        report.add(path, f"services.{name}-migrate: {name} has no database to migrate")
    if entry.get("command", ["serve"]) != ["serve"]:
        report.add(path, f"services.{name} must run the image's default command, serve")
    health = entry.get("healthcheck") or {}
    if health.get("disable") or "/readyz" not in " ".join(health.get("test") or []):
        report.add(path, f"services.{name}.healthcheck must probe /readyz")
    port = effective(service, _env_of(entry), "port")
    if not any(str(p).endswith(f":{port}") for p in entry.get("ports") or []):
        report.add(path, f"services.{name}.ports must publish its port {port}")


def _check_compose_topics(
    path: Path, entries: Mapping[str, Json], services: Mapping[str, Service], report: Report
) -> None:
    env = _env_of(entries.get("kafka-topics") or {})
    declared = set((env.get("TOPICS") or "").split())
    compare_topics(report, f"{rel(report.root, path)} services.kafka-topics", declared, services)
    for service in (s for s in services.values() if not s.stateless):
        compose_env = _env_of(entries.get(service.name) or {})
        for setting, var in (
            ("kafka.partitions", "PARTITIONS"),
            ("kafka.replication_factor", "REPLICATION_FACTOR"),
        ):
            wanted = effective(service, compose_env, setting)
            if str(env.get(var)) != str(wanted):
                report.add(
                    path,
                    f"services.kafka-topics {var}={env.get(var)} but {service.name}'s "
                    f"{setting} is {wanted}",
                )


def _check_compose_databases(
    path: Path, entries: Mapping[str, Json], services: Mapping[str, Service], report: Report
) -> None:
    listed = set((_env_of(entries.get("postgres") or {}).get("SERVICE_DATABASES") or "").split())
    owners = {name for name, s in services.items() if not s.stateless}
    for name in sorted(listed - owners):
        report.add(
            path, f"services.postgres SERVICE_DATABASES names no service with a database: {name}"
        )
    for name in sorted(owners - listed):
        report.add(path, f"services.postgres SERVICE_DATABASES lacks {name}")


def _check_prometheus(root: Path, services: Mapping[str, Service], report: Report) -> None:
    path = root / "deploy" / "prometheus" / "prometheus.yml"
    config = load_yaml(path, report) or {}
    jobs = {job["job_name"]: job for job in config.get("scrape_configs") or []}
    for name in sorted(set(jobs) - set(services) - {"prometheus"}):
        report.add(path, f"job {name!r} names a service that does not exist")
    for service in services.values():
        job = jobs.get(service.name)
        sd = (job or {}).get("dns_sd_configs") or [{}]
        if job is None or sd[0].get("names") != [service.name]:
            report.add(path, f"no job discovering the replicas of {service.name!r}")
        elif sd[0].get("port") != service.default("port"):
            report.add(path, f"job {service.name!r} scrapes port {sd[0].get('port')}")
