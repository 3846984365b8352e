"""Open311 GeoReport v2 documents, field for field and in the spec's order.

The same models give the JSON answers, the XML answers (element per field) and the
OpenAPI response schemas that Schemathesis checks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ServiceOut(BaseModel):
    """One service (a Jiesu category) of GET services."""

    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="true when the service has attributes to answer")
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str = Field(description="comma-separated")
    group: str


class AttributeValueOut(BaseModel):
    """A choice of a list attribute."""

    key: str
    name: str


class AttributeOut(BaseModel):
    """One question of a service definition."""

    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str | None
    order: int = Field(ge=1)
    description: str
    values: list[AttributeValueOut] | None = None


class ServiceDefinitionOut(BaseModel):
    """GET services/{service_code}: the service's attributes."""

    service_code: str
    attributes: list[AttributeOut]


class RequestOut(BaseModel):
    """One service request (a complaint) as Open311 shows it."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str | None
    service_code: str | None
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class RequestCreatedOut(BaseModel):
    """The answer to POST requests: Jiesu is realtime, so an id and never a token."""

    service_request_id: str
    service_notice: str | None
    account_id: str | None


class TokenOut(BaseModel):
    """GET tokens/{token}: the request a token stands for."""

    service_request_id: str
    token: str


class EndpointOut(BaseModel):
    """One endpoint of the discovery document."""

    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class DiscoveryOut(BaseModel):
    """The Service Discovery document."""

    changeset: str
    contact: str
    key_service: str
    endpoints: list[EndpointOut]


class ErrorOut(BaseModel):
    """One entry of the errors document."""

    code: int
    description: str


class RequestUpdateOut(BaseModel):
    """One entry of FixMyStreet's servicerequestupdates feed."""

    update_id: str
    service_request_id: str
    status: str = Field(description="FixMyStreet's extended status, e.g. IN_PROGRESS, FIXED")
    updated_datetime: datetime
    description: str
    media_url: str | None
    external_status_code: str = Field(description="Jiesu's own status, e.g. in_progress")


class UpdateCreatedOut(BaseModel):
    """The answer to POST servicerequestupdates."""

    update_id: str


# --- form bodies, for the OpenAPI document ---------------------------------------------


class RequestForm(BaseModel):
    """POST requests: a form body; ``attribute[code]=value`` answers the service's questions."""

    api_key: str
    jurisdiction_id: str | None = None
    service_code: str
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = None
    address_id: str | None = None
    email: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    description: str | None = Field(default=None, max_length=4000)
    media_url: list[str] | None = Field(default=None, description="may be repeated")


class UpdateForm(BaseModel):
    """POST servicerequestupdates (FixMyStreet): a resident's update of a request."""

    api_key: str
    jurisdiction_id: str | None = None
    service_request_id: str
    update_id: str | None = None
    status: str = Field(description="FixMyStreet's status: OPEN, FIXED, CLOSED, REOPEN, ...")
    description: str | None = None
    updated_datetime: str | None = None
    media_url: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
