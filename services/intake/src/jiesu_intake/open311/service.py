"""The Open311 routes' service layer: filing and updating go through intake's handlers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jiesu_common.auth import Principal
from jiesu_common.http import Problem
from jiesu_intake import api_keys, handlers
from jiesu_intake.catalog import Catalog, CatalogUnavailable
from jiesu_intake.handlers import FileComplaint, SupplementComplaint
from jiesu_intake.open311 import forms, rules, views
from jiesu_intake.open311.forms import Form, bad_request
from jiesu_intake.open311.queries import RequestQuery
from jiesu_intake.open311.schemas import (
    RequestCreatedOut,
    RequestOut,
    RequestUpdateOut,
    TokenOut,
    UpdateCreatedOut,
)
from jiesu_intake.state import IntakeState

MAX_UPDATE_TEXT = 4000


async def catalog_of(state: IntakeState) -> Catalog:
    """Dispatch's catalog, or a 503 when it cannot be read and nothing is cached."""
    try:
        return await state.catalog.get()
    except CatalogUnavailable as exc:
        raise Problem(
            503,
            "catalog-unavailable",
            "服务目录暂不可用 / Service catalog unavailable",
            "暂时无法读取派单中心的诉求分类，请稍后重试 / "
            "dispatch's categories cannot be read just now; retry shortly",
            headers={"Retry-After": "30"},
        ) from exc


def check_jurisdiction(state: IntakeState, jurisdiction_id: str | None) -> None:
    """One jurisdiction per endpoint: a configured id must match when one is given."""
    ours = state.settings.open311.jurisdiction_id
    if ours and jurisdiction_id and jurisdiction_id.strip() != ours:
        raise Problem.not_found(f"jurisdiction_id {jurisdiction_id}")


async def admit(state: IntakeState, key: str | None, *, required: bool) -> Principal | None:
    """The app behind an api_key (rate-limited); 403 when required and missing."""
    if not key:
        if required:
            raise Problem.forbidden("缺少 api_key / api_key is required")
        return None
    async with state.uow() as uow:
        return await api_keys.admit_app(
            key, uow=uow, default_rate=state.settings.api_keys.default_rate_per_minute
        )


async def file_request(
    state: IntakeState, form: Form, *, principal: Principal, idempotency_header: str | None
) -> RequestCreatedOut:
    """POST requests: the same filing path as an operator's complaint."""
    service_code = form.get("service_code")
    if not service_code:
        raise bad_request("service_code 必填 / service_code is required")
    catalog = await catalog_of(state)
    category = catalog.categories.get(service_code)
    if category is None:
        raise Problem.not_found(f"service_code {service_code}")
    body = forms.complaint_from_form(form, category, tz=state.settings.timezone)
    async with state.uow() as uow:
        filed = await handlers.file_complaint(
            FileComplaint(
                body=body,
                principal=principal,
                idempotency_key=forms.idempotency_key(form, idempotency_header),
            ),
            uow=uow,
            vault=state.vault,
            settings=state.settings,
        )
    notice = rules.service_notice(category)
    if filed.answer.duplicate_of is not None:
        async with state.uow() as uow:
            master = await uow.open311.ticket_of(filed.answer.duplicate_of)
        notice = rules.duplicate_notice(master or str(filed.answer.duplicate_of))
    return RequestCreatedOut(
        service_request_id=filed.answer.ticket_no,
        service_notice=notice,
        account_id=form.get("account_id"),
    )


@dataclass(frozen=True)
class RequestFilters:
    """GET requests' arguments as given (all optional)."""

    service_request_id: str | None = None
    service_code: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    status: str | None = None


async def find_requests(
    state: IntakeState, filters: RequestFilters, *, viewer: str | None
) -> list[RequestOut]:
    """GET requests: by ids (overriding the rest), else a window of at most 90 days."""
    settings = state.settings.open311
    catalog = await catalog_of(state)
    async with state.uow() as uow:
        if filters.service_request_id:
            ids = _comma_list(filters.service_request_id)[: settings.max_requests]
            rows = await uow.open311.by_tickets(ids, viewer=viewer)
        else:
            rows = await uow.open311.search(_request_query(state, filters), viewer=viewer)
    tz = state.settings.timezone
    return [views.request(r, catalog, viewer=viewer, tz=tz) for r in rows]


async def find_request(state: IntakeState, ticket_no: str, *, viewer: str | None) -> RequestOut:
    """GET requests/{id}: one request, or 404."""
    catalog = await catalog_of(state)
    async with state.uow() as uow:
        rows = await uow.open311.by_tickets([ticket_no], viewer=viewer)
    if not rows:
        raise Problem.not_found(f"service_request_id {ticket_no}")
    return views.request(rows[0], catalog, viewer=viewer, tz=state.settings.timezone)


async def find_token(state: IntakeState, token: str, *, viewer: str | None) -> TokenOut:
    """GET tokens/{token}. Jiesu answers in real time and issues no tokens, but a filed
    complaint's id serves as one, so token-minded clients still find their request."""
    try:
        complaint_id = uuid.UUID(token)
    except ValueError:
        raise Problem.not_found(f"token {token}") from None
    async with state.uow() as uow:
        row = await uow.open311.by_id(complaint_id, viewer=viewer)
    if row is None:
        raise Problem.not_found(f"token {token}")
    return TokenOut(service_request_id=row.ticket_no, token=str(row.id))


async def updates_feed(
    state: IntakeState, *, app_id: str, start_date: str | None, end_date: str | None
) -> list[RequestUpdateOut]:
    """FixMyStreet's GET servicerequestupdates: what happened to the app's own requests."""
    settings = state.settings.open311
    since, until = _window(
        state,
        start_date,
        end_date,
        default=timedelta(hours=settings.updates_window_hours),
        longest=timedelta(days=settings.window_days),
    )
    catalog = await catalog_of(state)
    async with state.uow() as uow:
        entries = await uow.open311.feed(
            app_id=app_id, since=since, until=until, limit=settings.max_requests
        )
        closed = [e.id for e in entries if e.event_type == "jiesu.complaint.closed.v1"]
        reviews = await uow.open311.review_results(closed) if closed else {}
    tz = state.settings.timezone
    return [
        views.update(e, catalog, review_resolved=reviews.get((e.id, e.round)), tz=tz)
        for e in entries
    ]


async def post_update(state: IntakeState, form: Form, *, principal: Principal) -> UpdateCreatedOut:
    """FixMyStreet's POST servicerequestupdates: a resident's word on their request."""
    ticket_no, status = form.get("service_request_id"), form.get("status")
    if not ticket_no or not status:
        raise bad_request("service_request_id 与 status 必填 / both are required")
    effect = rules.fms_update_effect(status)
    if effect is None:
        raise bad_request(f"status {status} 无法识别 / unknown status")
    async with state.uow() as uow:
        rows = await uow.open311.by_tickets([ticket_no], viewer=principal.app_id)
    if not rows or rows[0].app_id != principal.app_id:
        raise Problem.not_found(f"service_request_id {ticket_no}")
    note = (form.get("description") or "").strip()[:MAX_UPDATE_TEXT]
    update_id = form.get("update_id")
    async with state.uow() as uow:
        done = await handlers.supplement_complaint(
            SupplementComplaint(
                complaint_id=rows[0].id,
                principal=principal,
                note=note or _FMS_DEFAULT_NOTE[effect],
                attachments=tuple(form.all("media_url")),
                ends_matter=effect == "ends_matter",
                wants_reopen=effect == "wants_reopen",
                external_status=status.strip().upper(),
                idempotency_key=f"update:{update_id}" if update_id else None,
            ),
            uow=uow,
        )
    return UpdateCreatedOut(update_id=str(done.event_id))


_FMS_DEFAULT_NOTE = {
    "comment": "群众补充了信息 / the resident added information",
    "ends_matter": "群众反映问题已解决或不再需要办理 / the resident reports it fixed or no longer needed",
    "wants_reopen": "群众反映问题仍未解决 / the resident reports it is still not fixed",
}


def _request_query(state: IntakeState, filters: RequestFilters) -> RequestQuery:
    settings = state.settings.open311
    window = timedelta(days=settings.window_days)
    since, until = _window(
        state, filters.start_date, filters.end_date, default=window, longest=window
    )
    statuses = None
    if filters.status:
        wanted = {s.lower() for s in _comma_list(filters.status)}
        if not wanted <= {"open", "closed"}:
            raise bad_request("status 只能是 open 或 closed / status is open or closed")
        statuses = rules.internal_statuses(wanted)
    codes = set(_comma_list(filters.service_code)) if filters.service_code else None
    return RequestQuery(since, until, statuses, codes or None, settings.max_requests)


def _window(
    state: IntakeState,
    start: str | None,
    end: str | None,
    *,
    default: timedelta,
    longest: timedelta,
) -> tuple[datetime, datetime]:
    """[since, until] from W3C dates: a missing end is ``default`` after the start (or now),
    a missing start ``default`` before the end; no window may be longer than ``longest``."""
    tz = state.settings.timezone
    try:
        since = rules.parse_w3(start, tz=tz) if start else None
        until = rules.parse_w3(end, tz=tz, end_of_day=True) if end else None
    except ValueError:
        raise bad_request(
            "start_date/end_date 须为 W3C 时间，如 2010-01-01T00:00:00Z / "
            "dates must be W3C date-times, e.g. 2010-01-01T00:00:00Z"
        ) from None
    if since is None and until is None:
        until = datetime.now(UTC)
    try:
        if until is None:
            assert since is not None
            until = since + default
        if since is None:
            since = until - default
    except OverflowError:
        raise bad_request("start_date/end_date 超出范围 / dates out of range") from None
    if since > until:
        raise bad_request("start_date 晚于 end_date / start_date is after end_date")
    if until - since > longest:
        raise bad_request(
            f"时间跨度不能超过 {longest.days} 天 / the window may not exceed {longest.days} days"
        )
    return since, until


def _comma_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
