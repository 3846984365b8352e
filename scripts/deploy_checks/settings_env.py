"""Environment variables against the settings classes they configure."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from deploy_checks.core import Report, Service


def setting_type(settings: type[BaseModel], key: str) -> Any:
    """The type of the setting an env var (prefix removed) sets, or None when there is none.

    Walks nested models on ``__`` like pydantic-settings; in a ``dict`` field the next part
    is a key of the mapping.
    """
    return _field_type(settings, key.lower().split("__"))


def _field_type(model: type[BaseModel], parts: list[str]) -> Any:
    info = model.model_fields.get(parts[0])
    if info is None:
        return None
    return info.annotation if len(parts) == 1 else _inner_type(info.annotation, parts[1:])


def _inner_type(annotation: Any, parts: list[str]) -> Any:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return _field_type(annotation, parts)
    if get_origin(annotation) is dict:
        value_type = get_args(annotation)[1]
        return value_type if len(parts) == 1 else _inner_type(value_type, parts[1:])
    return None


def value_problem(annotation: Any, value: str) -> str | None:
    """Why a literal env value does not fit the setting's type (None when it does)."""
    if "$(" in value or "${" in value:
        return None  # filled in at deploy time
    complex_type = get_origin(annotation) in (dict, list) or (
        inspect.isclass(annotation) and issubclass(annotation, BaseModel)
    )
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        if complex_type:
            adapter.validate_json(value)
        else:
            adapter.validate_python(value)
    except ValidationError as exc:
        return exc.errors()[0]["msg"]
    return None


def check_env(
    report: Report,
    where: Path | str,
    env: Mapping[str, str | None],
    owner: Service | None,
    services: Mapping[str, Service],
) -> None:
    """Every ``JIESU_*`` variable must be a setting of the service it is given to."""
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith("JIESU_"):
            continue
        report.checked_vars += 1
        service = owner or next((s for s in services.values() if upper.startswith(s.prefix)), None)
        if service is None:
            report.add(where, f"{name}: names a service that does not exist (no such prefix)")
            continue
        if not upper.startswith(service.prefix):
            report.add(
                where, f"{name}: not a setting of service {service.name!r} ({service.prefix}...)"
            )
            continue
        annotation = setting_type(service.settings, upper.removeprefix(service.prefix))
        if annotation is None:
            report.add(where, f"{name}: {service.settings.__name__} has no such setting")
        elif value is not None and (problem := value_problem(annotation, str(value))):
            report.add(where, f"{name}={value!r}: {problem}")


def effective(service: Service, env: Mapping[str, str | None], path: str) -> Any:
    """A setting's value in an environment: the variable when set literally, else the default."""
    raw = env.get(service.prefix + path.upper().replace(".", "__"))
    if raw is None or "$(" in raw or "${" in raw:
        return service.default(path)
    annotation = setting_type(service.settings, path.replace(".", "__"))
    try:
        return TypeAdapter(annotation).validate_python(raw)
    except ValidationError:  # check_env reports it
        return service.default(path)
