"""Intake's rows and dispatch's catalog, shown as Open311 documents.

Contact data (name, phone, e-mail) never appears. The description, photos, address and
exact position, and the units' own words are details only the filing app sees; everybody
else gets the status, the service, the dates, the agency and a position to ~100 m.
"""

from __future__ import annotations

from typing import Any

from jiesu_common.contracts.events import ComplaintStatus
from jiesu_intake.catalog import Catalog, Category
from jiesu_intake.open311 import rules
from jiesu_intake.open311.schemas import (
    AttributeOut,
    AttributeValueOut,
    RequestOut,
    RequestUpdateOut,
    ServiceDefinitionOut,
    ServiceOut,
)
from jiesu_intake.status_view import STATUS_OF

PUBLIC_DECIMALS = 3  # ~100 m
# The status each entry of the updates feed sets.
FEED_STATUS = {**STATUS_OF, "jiesu.complaint.merged.v1": ComplaintStatus.merged}


def service(category: Category) -> ServiceOut:
    """A category as an Open311 service."""
    return ServiceOut(
        service_code=category.code,
        service_name=category.name,
        description=category.description,
        metadata=bool(category.attributes),
        type="realtime",
        keywords=", ".join(category.keywords),
        group=category.group,
    )


def service_definition(category: Category) -> ServiceDefinitionOut:
    """A category's extra questions as Open311 attributes."""
    return ServiceDefinitionOut(
        service_code=category.code,
        attributes=[
            AttributeOut(
                variable=a.variable,
                code=a.code,
                datatype=a.datatype,
                required=a.required,
                datatype_description=a.datatype_description,
                order=a.order,
                description=a.description,
                values=[AttributeValueOut(key=v.key, name=v.name) for v in a.values]
                if a.datatype.endswith("valuelist")
                else None,
            )
            for a in category.attributes
        ],
    )


def request(row: Any, catalog: Catalog, *, viewer: str | None, tz: str) -> RequestOut:
    """A complaint as an Open311 service request, with details for its own app only."""
    own = viewer is not None and row.app_id == viewer
    code = row.category_code or row.category_resolved
    category = catalog.categories.get(code) if code else None
    unit = catalog.unit_name(row.lead_unit_id)
    lat, lon = row.lat, row.lon
    if not own and lat is not None and lon is not None:
        lat, lon = round(lat, PUBLIC_DECIMALS), round(lon, PUBLIC_DECIMALS)
    return RequestOut(
        service_request_id=row.ticket_no,
        status=rules.open311_status(row.status),
        status_notes=rules.status_notes(
            row.status,
            round_no=row.status_round,
            unit=unit,
            detail=row.status_detail,
            with_detail=own,
        ),
        service_name=category.name if category else None,
        service_code=code,
        description=row.content if own else None,
        agency_responsible=unit,
        service_notice=rules.service_notice(category),
        requested_datetime=rules.local(row.created_at, tz=tz),
        updated_datetime=rules.local(row.updated_at, tz=tz),
        expected_datetime=rules.local_or_none(row.resolve_by, tz=tz),
        address=row.address if own else None,
        address_id=_text(row.attributes.get("address_id")) if own else None,
        zipcode=None,
        lat=lat,
        long=lon,
        media_url=(row.attachments[0] if row.attachments else None) if own else None,
    )


def update(
    entry: Any, catalog: Catalog, *, review_resolved: bool | None, tz: str
) -> RequestUpdateOut:
    """A status-moving timeline entry as one of FixMyStreet's request updates."""
    status = FEED_STATUS[entry.event_type]
    unit = catalog.unit_name(entry.detail.get("lead_unit_id") or entry.detail.get("unit_id"))
    return RequestUpdateOut(
        update_id=str(entry.event_id),
        service_request_id=entry.ticket_no,
        status=rules.fms_status(status, review_resolved=review_resolved),
        updated_datetime=rules.local(entry.at, tz=tz),
        description=rules.update_description(
            entry.event_type, entry.detail, round_no=entry.round, unit=unit
        ),
        media_url=None,
        external_status_code=status.value,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
