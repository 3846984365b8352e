"""Open311's wire formats: XML (the required one) and JSON, and the errors document.

XML is built with the standard library, element per field in the spec's names, with the
declaration the spec asks for. JSON answers are top-level arrays (a service definition
and the discovery document are objects, as in the spec's examples).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from jiesu_common.http import Problem
from jiesu_intake.open311.schemas import ErrorOut

Format = Literal["xml", "json"]
FORMATS: tuple[Format, ...] = ("xml", "json")
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
# List fields and the element each item gets.
ITEM_NAMES = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class XMLResponse(Response):
    """``text/xml; charset=utf-8``."""

    media_type = "text/xml"
    charset = "utf-8"


class JSONDocument(JSONResponse):
    """``application/json; charset=utf-8``, from a body already encoded."""

    def render(self, content: Any) -> bytes:
        """Pass encoded bodies through."""
        return content if isinstance(content, bytes) else super().render(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Name the charset, as the spec's content type does."""
        super().init_headers(headers)
        self.headers["content-type"] = "application/json; charset=utf-8"


def document(
    fmt: Format,
    payload: BaseModel | Sequence[BaseModel],
    *,
    root: str,
    item: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One answer: a list under ``root`` (each as ``item``), or a single object as ``root``."""
    if isinstance(payload, BaseModel):
        data: Any = payload.model_dump(mode="json")
    else:
        data = [p.model_dump(mode="json") for p in payload]
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False).encode()
        return JSONDocument(body, status_code=status_code, headers=headers)
    element = ET.Element(root)
    if isinstance(data, list):
        for entry in data:
            _fill(ET.SubElement(element, item or "item"), entry)
    else:
        _fill(element, data)
    ET.indent(element, space="  ")
    body = DECLARATION + ET.tostring(element, encoding="unicode").encode()
    return XMLResponse(body, status_code=status_code, headers=headers)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            _fill(ET.SubElement(element, name), child)
    elif isinstance(value, list):
        for child in value:
            _fill(ET.SubElement(element, ITEM_NAMES.get(element.tag, "item")), child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("", str(value))


def format_of(path: str) -> Format:
    """The format a path asks for by its suffix; XML (the spec's required one) otherwise."""
    return "json" if path.endswith(".json") else "xml"


# HTTP status of a problem → Open311's: a missing or bad key is 403, any other refusal 400.
_OPEN311_STATUS = {401: 403, 409: 400, 413: 400, 415: 400, 422: 400}


def errors_response(problem: Problem, request: Request) -> Response:
    """A problem as Open311's ``errors`` document, in the format the path asks for."""
    status = _OPEN311_STATUS.get(problem.status, problem.status)
    messages = [e.get("msg", "") for e in problem.extensions.get("errors", []) if e.get("msg")]
    if not messages:
        messages = [f"{problem.title}: {problem.detail}" if problem.detail else problem.title]
    errors = [ErrorOut(code=status, description=m) for m in messages]
    return document(
        format_of(request.url.path),
        errors,
        root="errors",
        item="error",
        status_code=status,
        headers={k: v for k, v in problem.headers.items() if k.lower() != "www-authenticate"},
    )
