"""Model artefacts: written with skops, read back only when every type in them is trusted.

A model's state is plain data (dicts, lists, strings, numbers, numeric and string numpy
arrays). The reader walks the skops schema first and refuses an artefact naming any other
type, before anything is built from it; arrays are read with ``allow_pickle=False``. The
serving process reads artefacts this way without importing scikit-learn (skops does).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import numpy as np

# (module, class, skops loader) of the only nodes a Jiesu model state may hold.
TRUSTED_NODES = {
    ("builtins", "dict", "DictNode"),
    ("builtins", "list", "ListNode"),
    ("builtins", "tuple", "TupleNode"),
    ("builtins", "str", "JsonNode"),
    ("builtins", "str", "TypeNode"),
    ("numpy", "ndarray", "NdArrayNode"),
}
LIBRARIES = ("scikit-learn", "scipy", "numpy", "jieba", "skops")


class UntrustedArtefact(ValueError):
    """The artefact names types outside the trusted set: it is not loaded."""

    def __init__(self, types: list[str]) -> None:
        super().__init__(f"untrusted types in model artefact: {', '.join(types)}")
        self.types = types


def dump(state: dict[str, Any]) -> bytes:
    """A model state as a skops artefact."""
    import skops.io

    return bytes(skops.io.dumps(state))


def untrusted_types(artefact: bytes) -> list[str]:
    """Every type the artefact names that is not in the trusted set (empty when safe)."""
    with zipfile.ZipFile(io.BytesIO(artefact)) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()
    for node in _nodes(schema):
        ident = (node.get("__module__"), node.get("__class__"), node.get("__loader__"))
        if ident not in TRUSTED_NODES or (
            ident[2] == "NdArrayNode" and node.get("type") != "numpy"
        ):
            found.add(f"{ident[0]}.{ident[1]}")
    return sorted(found)


def load(artefact: bytes) -> Any:
    """The state in an artefact, after checking it names trusted types only."""
    bad = untrusted_types(artefact)
    if bad:
        raise UntrustedArtefact(bad)
    with zipfile.ZipFile(io.BytesIO(artefact)) as archive:
        schema = json.loads(archive.read("schema.json"))
        return _build(schema, archive)


def _nodes(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, dict):
        if "__loader__" in node:
            yield node
        for key, value in node.items():
            if key != "__loader__":
                yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def _build(node: dict[str, Any], archive: zipfile.ZipFile) -> Any:
    loader = node["__loader__"]
    if loader == "JsonNode":
        return json.loads(node["content"])
    if loader == "NdArrayNode":
        return np.load(io.BytesIO(archive.read(node["file"])), allow_pickle=False)
    if loader in ("ListNode", "TupleNode"):
        items = [_build(n, archive) for n in node["content"]]
        return items if loader == "ListNode" else tuple(items)
    if loader == "DictNode":
        return {key: _build(value, archive) for key, value in node["content"].items()}
    raise UntrustedArtefact([loader])  # unreachable after the check; kept as a guard


def library_versions() -> dict[str, str]:
    """The versions of the libraries a model was trained with."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def fingerprint(rows: Iterable[Iterable[Any]], params: dict[str, Any], kind: str) -> str:
    """A digest of the training data (in a stable order), the parameters and the kind: the
    same fingerprint means retraining would build the same model."""
    lines = sorted(json.dumps(list(r), ensure_ascii=False, default=str) for r in rows)
    digest = hashlib.sha256()
    digest.update(json.dumps({"kind": kind, "params": params}, sort_keys=True).encode())
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()
