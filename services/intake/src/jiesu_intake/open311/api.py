"""Open311 GeoReport v2 under ``/open311/v2/``, in XML and JSON, plus FixMyStreet's
``servicerequestupdates`` extension. Routes stay thin: ``service`` does the work."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel

from jiesu_common.http import Problem
from jiesu_intake.api import State, refuse_nul
from jiesu_intake.open311 import forms, service, views
from jiesu_intake.open311.forms import FORM, bad_request
from jiesu_intake.open311.render import FORMATS, Format, JSONDocument, XMLResponse, document
from jiesu_intake.open311.schemas import (
    DiscoveryOut,
    EndpointOut,
    ErrorOut,
    RequestCreatedOut,
    RequestForm,
    RequestOut,
    RequestUpdateOut,
    ServiceDefinitionOut,
    ServiceOut,
    TokenOut,
    UpdateCreatedOut,
    UpdateForm,
)

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_BODY = 256 * 1024
TAGS = ["open311"]

router = APIRouter(dependencies=[Depends(refuse_nul)])

Jurisdiction = Annotated[
    str | None, Query(description="only checked when the server is configured with one")
]
ApiKeyParam = Annotated[
    str | None, Query(description="a third-party app's key: its own requests show details")
]

_ERRORS: dict[int | str, str] = {
    400: "请求无效 / invalid request",
    403: "api_key 缺失或无效 / missing or invalid api_key",
    404: "不存在 / not found",
    429: "请求过于频繁 / rate limit exceeded (see Retry-After)",
    503: "服务目录暂不可用 / the service catalog is unavailable (see Retry-After)",
    "4XX": "其他请求错误 / other client errors",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def _docs(fmt: Format, model: Any, *, ok: int = 200) -> dict[str, Any]:
    """The response documentation of one route in one format (errors included)."""
    responses: dict[int | str, dict[str, Any]] = {}
    documented: dict[int | str, str] = {ok: "OK", **_ERRORS}
    for code, text in documented.items():
        entry: dict[str, Any] = {"description": text}
        if fmt == "json":
            entry["model"] = model if code == ok else list[ErrorOut]
        else:
            entry["content"] = {"text/xml": {"schema": {"type": "string"}}}
        if code in (429, 503):
            entry["headers"] = _RETRY_AFTER
        responses[code] = entry
    response_class = JSONDocument if fmt == "json" else XMLResponse
    return {"responses": responses, "response_class": response_class, "tags": TAGS}


def _form_body(model: type[BaseModel]) -> dict[str, Any]:
    """A form body's OpenAPI description (form fields cannot be null)."""
    schema = copy.deepcopy(model.model_json_schema())
    for prop in schema["properties"].values():
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if options:
            prop.update(options[0])
        prop.pop("default", None)
    body = {"required": True, "content": {FORM: {"schema": schema}}}
    return {"requestBody": body}


def _route(
    path: str,
    method: str,
    model: Any,
    make: Callable[[Format], Any],
    *,
    ok: int = 200,
    **extra: Any,
) -> None:
    for fmt in FORMATS:
        endpoint = make(fmt)
        router.add_api_route(
            f"{PREFIX}/{path}.{fmt}",
            endpoint,
            methods=[method],
            status_code=ok,
            summary=f"{(endpoint.__doc__ or path).splitlines()[0].rstrip('.')} ({fmt.upper()})",
            name=f"open311_{method.lower()}_{_slug(path)}_{fmt}",
            **_docs(fmt, model, ok=ok),
            **extra,
        )


def _slug(path: str) -> str:
    return path.replace("/{", "_by_").replace("}", "").replace("/", "_")


async def _form(request: Request) -> forms.Form:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise bad_request(f"请求体超过 {MAX_BODY // 1024} KiB / the body is too large")
    return forms.parse_form(body, request.headers.get("content-type"))


def _discovery(fmt: Format) -> Any:
    async def discovery(request: Request, state: State) -> Response:
        """Service Discovery: where the GeoReport v2 endpoint is and what it speaks."""
        settings = state.settings.open311
        base = settings.public_url or str(request.base_url).rstrip("/")
        endpoint = EndpointOut(
            specification=SPECIFICATION,
            url=f"{base}{PREFIX}",
            changeset=settings.changeset,
            type="production",
            formats=["text/xml", "application/json"],
        )
        doc = DiscoveryOut(
            changeset=settings.changeset,
            contact=settings.contact,
            key_service=settings.key_service,
            endpoints=[endpoint],
        )
        return document(fmt, doc, root="discovery")

    return discovery


def _services(fmt: Format) -> Any:
    async def services(state: State, jurisdiction_id: Jurisdiction = None) -> Response:
        """GET Service List: Jiesu's complaint categories."""
        service.check_jurisdiction(state, jurisdiction_id)
        catalog = await service.catalog_of(state)
        listed = [views.service(c) for c in catalog.categories.values()]
        return document(fmt, listed, root="services", item="service")

    return services


def _service_definition(fmt: Format) -> Any:
    async def service_definition(
        service_code: str, state: State, jurisdiction_id: Jurisdiction = None
    ) -> Response:
        """GET Service Definition: a category's extra questions."""
        service.check_jurisdiction(state, jurisdiction_id)
        catalog = await service.catalog_of(state)
        category = catalog.categories.get(service_code)
        if category is None:
            raise Problem.not_found(f"service_code {service_code}")
        return document(fmt, views.service_definition(category), root="service_definition")

    return service_definition


def _post_request(fmt: Format) -> Any:
    async def post_request(
        request: Request,
        state: State,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> Response:
        """POST Service Request: file a complaint for a third-party app (api_key required)."""
        form = await _form(request)
        service.check_jurisdiction(state, form.get("jurisdiction_id"))
        key = form.get("api_key") or request.headers.get("x-api-key")
        principal = await service.admit(state, key, required=True)
        assert principal is not None
        created = await service.file_request(
            state, form, principal=principal, idempotency_header=idempotency_key
        )
        return document(fmt, [created], root="service_requests", item="request", status_code=201)

    return post_request


def _get_requests(fmt: Format) -> Any:
    async def get_requests(
        state: State,
        service_request_id: Annotated[
            str | None, Query(description="comma-separated; overrides the other filters")
        ] = None,
        service_code: Annotated[str | None, Query(description="comma-separated")] = None,
        start_date: Annotated[str | None, Query(description="W3C date-time")] = None,
        end_date: Annotated[str | None, Query(description="W3C date-time")] = None,
        status: Annotated[str | None, Query(description="open, closed or open,closed")] = None,
        jurisdiction_id: Jurisdiction = None,
        api_key: ApiKeyParam = None,
    ) -> Response:
        """GET Service Requests: newest first, within 90 days, at most 1,000."""
        service.check_jurisdiction(state, jurisdiction_id)
        principal = await service.admit(state, api_key, required=False)
        filters = service.RequestFilters(
            service_request_id, service_code, start_date, end_date, status
        )
        found = await service.find_requests(
            state, filters, viewer=principal.app_id if principal else None
        )
        return document(fmt, found, root="service_requests", item="request")

    return get_requests


def _get_request(fmt: Format) -> Any:
    async def get_request(
        service_request_id: str,
        state: State,
        jurisdiction_id: Jurisdiction = None,
        api_key: ApiKeyParam = None,
    ) -> Response:
        """GET Service Request: one request by its id (the ticket number)."""
        service.check_jurisdiction(state, jurisdiction_id)
        principal = await service.admit(state, api_key, required=False)
        found = await service.find_request(
            state, service_request_id, viewer=principal.app_id if principal else None
        )
        return document(fmt, [found], root="service_requests", item="request")

    return get_request


def _get_token(fmt: Format) -> Any:
    async def get_token(
        token: str, state: State, jurisdiction_id: Jurisdiction = None, api_key: ApiKeyParam = None
    ) -> Response:
        """GET service_request_id from a token."""
        service.check_jurisdiction(state, jurisdiction_id)
        principal = await service.admit(state, api_key, required=False)
        found = await service.find_token(
            state, token, viewer=principal.app_id if principal else None
        )
        return document(fmt, [found], root="service_requests", item="request")

    return get_token


def _get_updates(fmt: Format) -> Any:
    async def get_updates(
        state: State,
        api_key: Annotated[str | None, Query(description="required: an app sees its own")] = None,
        start_date: Annotated[str | None, Query(description="W3C date-time")] = None,
        end_date: Annotated[str | None, Query(description="W3C date-time")] = None,
        jurisdiction_id: Jurisdiction = None,
    ) -> Response:
        """FixMyStreet's GET servicerequestupdates: status changes of the app's requests."""
        service.check_jurisdiction(state, jurisdiction_id)
        principal = await service.admit(state, api_key, required=True)
        assert principal is not None and principal.app_id is not None
        found = await service.updates_feed(
            state, app_id=principal.app_id, start_date=start_date, end_date=end_date
        )
        return document(fmt, found, root="service_request_updates", item="request_update")

    return get_updates


def _post_update(fmt: Format) -> Any:
    async def post_update(request: Request, state: State) -> Response:
        """FixMyStreet's POST servicerequestupdates: the resident's update of a request."""
        form = await _form(request)
        service.check_jurisdiction(state, form.get("jurisdiction_id"))
        key = form.get("api_key") or request.headers.get("x-api-key")
        principal = await service.admit(state, key, required=True)
        assert principal is not None
        created = await service.post_update(state, form, principal=principal)
        return document(
            fmt, [created], root="service_request_updates", item="request_update", status_code=201
        )

    return post_update


_route("discovery", "GET", DiscoveryOut, _discovery)
_route("services", "GET", list[ServiceOut], _services)
_route("services/{service_code}", "GET", ServiceDefinitionOut, _service_definition)
_route(
    "requests",
    "POST",
    list[RequestCreatedOut],
    _post_request,
    ok=201,
    openapi_extra=_form_body(RequestForm),
)
_route("requests", "GET", list[RequestOut], _get_requests)
_route("requests/{service_request_id}", "GET", list[RequestOut], _get_request)
_route("tokens/{token}", "GET", list[TokenOut], _get_token)
_route("servicerequestupdates", "GET", list[RequestUpdateOut], _get_updates)
_route(
    "servicerequestupdates",
    "POST",
    list[UpdateCreatedOut],
    _post_update,
    ok=201,
    openapi_extra=_form_body(UpdateForm),
)
