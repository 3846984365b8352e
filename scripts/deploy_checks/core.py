"""What the checks share: the workspace's services, the report, YAML and JSON loading."""

from __future__ import annotations

import importlib
import inspect
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from jiesu_common.messaging.kafka import dlq_topic
from jiesu_common.settings import ServiceSettings

Json = dict[str, Any]
# libyaml's parser when present: the CRDs are large.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Service:
    """A workspace service, as the deployment sees it."""

    name: str
    package: str
    settings: type[ServiceSettings]
    topics: frozenset[str]
    # A front end with no database and no topics (the console): no migrations to run, no
    # database to provision, nothing on the bus.
    stateless: bool = False

    @property
    def module(self) -> str:
        """Its Python package, run with ``python -m``."""
        return self.package.replace("-", "_")

    @property
    def prefix(self) -> str:
        """Its settings' environment prefix, e.g. ``JIESU_INTAKE_``."""
        return str(self.settings.model_config.get("env_prefix", "")).upper()

    def default(self, path: str) -> Any:
        """A setting's default value, by dotted path (``kafka.partitions``)."""
        value: Any = self.settings.model_construct()
        for part in path.split("."):
            value = getattr(value, part)
        return value


@dataclass
class Report:
    """Problems found, one line each, prefixed with where they were found."""

    root: Path
    problems: list[str] = field(default_factory=list)
    checked_vars: int = 0
    checked_resources: int = 0

    def add(self, where: Path | str, message: str) -> None:
        """Record one problem."""
        if isinstance(where, Path):
            where = where.relative_to(self.root).as_posix()
        self.problems.append(f"{where}: {message}")


# ---------------------------------------------------------------- the workspace's services


def discover_services(root: Path, report: Report) -> dict[str, Service]:
    """Every ``services/*/pyproject.toml``, with its settings class and its topics."""
    services: dict[str, Service] = {}
    for manifest in sorted((root / "services").glob("*/pyproject.toml")):
        name = manifest.parent.name
        package = tomllib.loads(manifest.read_text())["project"]["name"]
        if package != f"jiesu-{name}":
            report.add(manifest, f"package {package!r} should be named 'jiesu-{name}'")
            continue
        try:
            services[name] = _load_service(name, package)
        except Exception as exc:
            report.add(manifest, f"cannot load the settings and context of {package}: {exc!r}")
    return services


def _load_service(name: str, package: str) -> Service:
    module = package.replace("-", "_")
    settings_module = importlib.import_module(f"{module}.settings")
    [settings] = [
        cls
        for _, cls in inspect.getmembers(settings_module, inspect.isclass)
        if issubclass(cls, ServiceSettings) and cls.__module__ == settings_module.__name__
    ]
    main = importlib.import_module(f"{module}.main")
    if not hasattr(main, "create_context"):  # no process context: no database, no consumers
        return Service(name, package, settings, frozenset(), stateless=True)
    context = main.create_context(settings.model_construct())
    topics = set(context.produces)
    for spec in context.consumers:
        topics.update(spec.topics)
        topics.update(dlq_topic(t, spec.dlq_name) for t in spec.topics)
    return Service(name=name, package=package, settings=settings, topics=frozenset(topics))


def needed_topics(services: Mapping[str, Service]) -> set[str]:
    """Every topic some service produces, consumes or dead-letters to."""
    return {topic for service in services.values() for topic in service.topics}


def compare_topics(
    report: Report, where: str, declared: set[str], services: Mapping[str, Service]
) -> None:
    """The declared topics must be exactly the needed ones."""
    needed = needed_topics(services)
    for topic in sorted(needed - declared):
        report.add(where, f"topic {topic} is missing")
    for topic in sorted(declared - needed):
        report.add(where, f"topic {topic} is used by no service")


def rel(root: Path, path: Path) -> str:
    """``path`` relative to ``root``, for messages."""
    return path.relative_to(root).as_posix()


def json_path(error: jsonschema.ValidationError) -> str:
    """Where in the document a schema error is, dotted."""
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def json_file(path: Path) -> Json:
    """A JSON object from a file."""
    data: Json = json.loads(path.read_text())
    return data


def load_yaml(path: Path, report: Report) -> Any:
    """One YAML document, or None (and a problem) when missing or malformed."""
    if not path.is_file():
        report.add(path, "missing")
        return None
    try:
        return yaml.load(path.read_text(), Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        report.add(path, f"not YAML: {exc}")
        return None


def load_yaml_all(path: Path, report: Report) -> Iterator[Json]:
    """Every mapping in a multi-document YAML file."""
    try:
        docs = list(yaml.load_all(path.read_text(), Loader=YAML_LOADER))
    except yaml.YAMLError as exc:
        report.add(path, f"not YAML: {exc}")
        return
    for doc in docs:
        if isinstance(doc, dict):
            yield doc
        elif doc is not None:
            report.add(path, "every YAML document must be a mapping")


@dataclass
class Manifest:
    """One resource of ``deploy/k8s`` and the file it came from."""

    path: Path
    body: Json

    @property
    def kind(self) -> str:
        """Its kind."""
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        """Its metadata.name."""
        return str((self.body.get("metadata") or {}).get("name", ""))
