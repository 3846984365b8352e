"""Open311's pure rules: rate limiting, status mapping, notices, forms, XML, the catalog cache."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from jiesu_common.contracts.events import ComplaintStatus
from jiesu_common.http import Problem
from jiesu_intake.catalog import (
    Attribute,
    AttributeValue,
    CachedCatalog,
    Catalog,
    CatalogUnavailable,
    Category,
    Clocks,
    catalog_from_json,
)
from jiesu_intake.domain import supplement_outcome, throttle
from jiesu_intake.open311 import forms, rules
from jiesu_intake.open311.render import document
from jiesu_intake.open311.schemas import ErrorOut, ServiceOut

S = ComplaintStatus
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NOISE = Category(
    code="ENV-NOISE",
    name="噪声扰民",
    group="生态环境",
    description="噪声",
    sla_class="general",
    clocks=Clocks(120, 1440, 7 * 1440, 7),
    attributes=(
        Attribute(
            "noise_source",
            "singlevaluelist",
            True,
            1,
            "噪声来源",
            values=(AttributeValue("shop", "商铺"), AttributeValue("traffic", "交通")),
        ),
        Attribute("level", "number", False, 2, "分贝"),
        Attribute("since", "datetime", False, 3, "开始时间"),
        Attribute("note", "string", False, 4, "备注"),
    ),
)


def test_a_key_may_burst_a_minutes_worth_then_waits_for_its_rate() -> None:
    tat = None
    for _ in range(60):
        decision = throttle(tat=tat, now=T0, per_minute=60)
        assert decision.allowed
        tat = decision.tat
    refused = throttle(tat=tat, now=T0, per_minute=60)
    assert not refused.allowed and refused.retry_after_s == 1 and refused.tat == tat
    later = throttle(tat=tat, now=T0 + timedelta(seconds=1), per_minute=60)
    assert later.allowed


def test_a_slow_key_is_told_how_long_to_wait() -> None:
    first = throttle(tat=None, now=T0, per_minute=1)
    second = throttle(tat=first.tat, now=T0 + timedelta(seconds=10), per_minute=1)
    assert first.allowed and not second.allowed and second.retry_after_s == 50
    idle = throttle(tat=first.tat, now=T0 + timedelta(hours=1), per_minute=1)
    assert idle.allowed and idle.tat == T0 + timedelta(hours=1, minutes=1)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.received, "open"),
        (S.queued, "open"),
        (S.assigned, "open"),
        (S.in_progress, "open"),
        (S.resolved, "open"),
        (S.closed, "closed"),
        (S.withdrawn, "closed"),
        (S.answered, "closed"),
        (S.merged, "closed"),
    ],
)
def test_open311_has_only_open_and_closed(status: ComplaintStatus, expected: str) -> None:
    assert rules.open311_status(status.value) == expected


def test_status_filter_maps_back_onto_every_internal_status() -> None:
    both = rules.internal_statuses({"open", "closed"})
    assert both == {s.value for s in ComplaintStatus}
    assert rules.internal_statuses({"closed"}) == {"closed", "withdrawn", "answered", "merged"}


def test_status_notes_name_the_unit_and_keep_free_text_for_the_owner() -> None:
    notes = rules.status_notes(
        "resolved", round_no=1, unit="柳荫街道办事处", detail="已劝导商户", with_detail=False
    )
    assert notes.startswith("柳荫街道办事处已办结") and "已劝导商户" not in notes
    own = rules.status_notes(
        "resolved", round_no=1, unit="柳荫街道办事处", detail="已劝导商户", with_detail=True
    )
    assert own.endswith("：已劝导商户")
    again = rules.status_notes("assigned", round_no=2, unit="区政府", detail=None, with_detail=True)
    assert "第 2 轮" in again


def test_service_notice_states_the_expected_time_from_the_clocks() -> None:
    assert "7 个工作日" in (rules.service_notice(NOISE) or "")
    gas = Category("UTIL-GAS-LEAK", "燃气泄漏", "水电气热", "", "emergency", Clocks(15, 30, 120))
    assert "2 小时" in (rules.service_notice(gas) or "")
    calendar = Category("X", "x", "g", "", "complex", Clocks(120, 1440, 15 * 1440))
    assert "15 天" in (rules.service_notice(calendar) or "")
    assert rules.service_notice(None) is None


def test_fixmystreet_statuses_follow_jiesus_states() -> None:
    assert rules.fms_status(S.in_progress) == "IN_PROGRESS"
    assert rules.fms_status(S.assigned) == "ACTION_SCHEDULED"
    assert rules.fms_status(S.resolved) == "FIXED"
    assert rules.fms_status(S.closed, review_resolved=True) == "FIXED"
    assert rules.fms_status(S.closed, review_resolved=False) == "CLOSED"
    assert rules.fms_status(S.merged) == "DUPLICATE"
    assert set(rules.FMS_STATUS) == set(ComplaintStatus)
    assert rules.fms_update_effect("fixed") == "ends_matter"
    assert rules.fms_update_effect("NOT_COUNCILS_RESPONSIBILITY") == "ends_matter"
    assert rules.fms_update_effect("REOPEN") == "wants_reopen"
    assert rules.fms_update_effect("in progress") == "comment"
    assert rules.fms_update_effect("EXPLODED") is None


@pytest.mark.parametrize(
    ("status", "ends", "reopen", "outcome"),
    [
        (S.assigned, True, False, "withdraw"),
        (S.in_progress, True, False, "withdraw"),
        (S.resolved, True, False, "confirms_fixed"),
        (S.closed, True, False, "comment"),
        (S.resolved, False, True, "requests_reopen"),
        (S.closed, False, True, "requests_reopen"),
        (S.assigned, False, True, "comment"),
        (S.withdrawn, True, False, "comment"),
        (S.received, False, False, "comment"),
    ],
)
def test_what_a_residents_later_word_does(
    status: ComplaintStatus, ends: bool, reopen: bool, outcome: str
) -> None:
    assert supplement_outcome(status, ends_matter=ends, wants_reopen=reopen) == outcome


def test_w3_dates_need_no_zone_and_render_with_one() -> None:
    tz = "Asia/Shanghai"
    assert rules.parse_w3("2010-01-01T00:00:00Z", tz=tz) == datetime(2010, 1, 1, tzinfo=UTC)
    local = rules.parse_w3("2010-01-01", tz=tz)
    assert local.utcoffset() == timedelta(hours=8)
    assert rules.parse_w3("2010-01-01", tz=tz, end_of_day=True).hour == 23
    for bad in ("", "yesterday", "2010-13-01", "x" * 50):
        with pytest.raises(ValueError):
            rules.parse_w3(bad, tz=tz)
    shown = rules.local(datetime(2026, 1, 1, 1, 2, 3, 456, tzinfo=UTC), tz=tz)
    assert shown.isoformat() == "2026-01-01T09:02:03+08:00"


def test_form_attributes_take_single_and_list_values() -> None:
    form = forms.parse_form(
        b"attribute%5Ba%5D=1&attribute[b][]=x&attribute[b][]=y&attribute[c]=p&attribute[c]=q"
        b"&attribute[d]=&attribute[bad=1&media_url=u1&media_url=u2&media_url=",
        "application/x-www-form-urlencoded; charset=utf-8",
    )
    assert form.attributes() == {"a": "1", "b": ["x", "y"], "c": ["p", "q"]}
    assert form.all("media_url") == ["u1", "u2"]
    assert form.get("missing") is None


def test_form_bodies_must_be_url_encoded_utf8() -> None:
    for body, content_type in ((b"{}", "application/json"), (b"a=\xff", None)):
        with pytest.raises(Problem) as caught:
            forms.parse_form(body, content_type)
        assert caught.value.status == 400


def test_chinese_names_put_the_family_name_first() -> None:
    assert forms.join_name("三", "张") == "张三"
    assert forms.join_name("张三", "") == "张三"
    assert forms.join_name("John", "Smith") == "John Smith"
    assert forms.join_name(None, None) is None


def test_answers_are_checked_against_the_category_questions() -> None:
    tz = "Asia/Shanghai"
    assert forms.attribute_errors(NOISE, {"noise_source": "shop", "extra": "kept"}, tz=tz) == []
    problems = forms.attribute_errors(
        NOISE,
        {"level": "loud", "since": "soon", "note": "a\nb"},
        tz=tz,
    )
    assert len(problems) == 4
    assert "noise_source" in problems[0] and "必填" in problems[0]
    wrong = forms.attribute_errors(NOISE, {"noise_source": ["shop", "traffic"]}, tz=tz)
    assert wrong and "一个值" in wrong[0]


def test_a_service_request_becomes_an_open311_complaint() -> None:
    form = forms.Form(
        (
            ("service_code", "ENV-NOISE"),
            ("lat", "39.9"),
            ("long", "116.4"),
            ("description", "半夜施工"),
            ("first_name", "三"),
            ("last_name", "张"),
            ("attribute[noise_source]", "shop"),
            ("attribute[fixmystreet_id]", "77"),
            ("attribute[title]", "噪声"),
            ("address_id", "#NOTPINPOINTED#"),
        )
    )
    body = forms.complaint_from_form(form, NOISE, tz="Asia/Shanghai")
    assert (body.channel, body.kind, body.category_code) == ("open311", "complaint", "ENV-NOISE")
    assert body.caller.name == "张三" and body.location.lat == 39.9
    assert body.external_ref == "77" and body.title == "噪声"
    assert body.attributes["address_id"] == "#NOTPINPOINTED#"
    assert forms.idempotency_key(form, None) == "fixmystreet:77"
    assert forms.idempotency_key(form, "mine") == "mine"


def test_xml_documents_carry_the_declaration_and_drop_characters_xml_cannot_hold() -> None:
    service = ServiceOut(
        service_code="A",
        service_name="坏\x00名",
        description="",
        metadata=False,
        type="realtime",
        keywords="",
        group="g",
    )
    answer = document("xml", [service], root="services", item="service")
    assert answer.body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<services>')
    parsed = ET.fromstring(answer.body)
    assert parsed.findtext("service/service_name") == "坏名"
    assert parsed.findtext("service/metadata") == "false"
    errors = document("json", [ErrorOut(code=400, description="x")], root="errors", item="error")
    assert errors.body == b'[{"code": 400, "description": "x"}]'
    assert errors.headers["content-type"] == "application/json; charset=utf-8"


def test_the_catalog_reads_dispatchs_items() -> None:
    catalog = catalog_from_json(
        [
            {
                "code": "A",
                "name": "甲",
                "group": "g",
                "description": "d",
                "sla_class": "general",
                "keywords": ["k"],
                "clocks": {
                    "accept_minutes": 1,
                    "contact_minutes": 2,
                    "resolve_minutes": 3,
                    "resolve_working_days": None,
                },
                "attributes": [
                    {
                        "code": "q2",
                        "datatype": "string",
                        "required": False,
                        "order": 2,
                        "description": "",
                    },
                    {
                        "code": "q1",
                        "datatype": "text",
                        "required": True,
                        "order": 1,
                        "description": "",
                    },
                ],
            }
        ],
        [{"unit_id": "u1", "name": "一号单位"}],
    )
    assert [a.code for a in catalog.categories["A"].attributes] == ["q1", "q2"]
    assert catalog.unit_name("u1") == "一号单位" and catalog.unit_name("u9") == "u9"
    assert catalog.unit_name(None) is None


class FakeDispatch:
    """Hand-written stand-in for dispatch's catalog endpoint."""

    def __init__(self) -> None:
        self.calls = 0
        self.up = True

    async def __call__(self) -> Catalog:
        self.calls += 1
        if not self.up:
            raise ConnectionError("dispatch is down")
        return Catalog(categories={"A": NOISE}, unit_names={})


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_catalog_cache_refreshes_serves_stale_and_fails_clearly() -> None:
    dispatch, clock = FakeDispatch(), FakeClock()
    cache = CachedCatalog(dispatch, ttl_s=60, retry_s=5, clock=clock)
    first = await cache.get()
    await cache.get()
    assert dispatch.calls == 1
    dispatch.up = False
    clock.now = 61
    assert await cache.get() is first  # stale beats nothing
    assert dispatch.calls == 2
    clock.now = 62
    await cache.get()
    assert dispatch.calls == 2  # not asked again before retry_s

    empty = CachedCatalog(dispatch, ttl_s=60, retry_s=5, clock=clock)
    with pytest.raises(CatalogUnavailable):
        await empty.get()
    with pytest.raises(CatalogUnavailable):
        await empty.get()
    assert dispatch.calls == 3
    dispatch.up = True
    clock.now = 70
    assert (await empty.get()).categories["A"] is NOISE


def test_an_overlong_description_is_refused_not_cut_short() -> None:
    form = forms.Form(
        (
            ("service_code", "CITY-GARBAGE"),
            ("address_string", "杏林路"),
            ("description", "臭" * 5001),
        )
    )
    garbage = Category("CITY-GARBAGE", "垃圾清运", "城市管理", "", "general", Clocks(1, 2, 3))
    with pytest.raises(Problem) as caught:
        forms.complaint_from_form(form, garbage, tz="Asia/Shanghai")
    assert caught.value.status == 400 and "description" in str(caught.value.detail)
