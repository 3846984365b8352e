"""The desks' pure logic: which clock a case must beat next, its light, the order of the
list, and how typed fields and a service's problem become a form's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request

from jiesu_console.forms import FormState, local_time, unit_id, units
from jiesu_console.main import same_origin
from jiesu_console.unit_desk import action_body, by_urgency, light
from jiesu_console.upstream import UpstreamError

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
NAMES = {"dept-jt": "临江市交通委员会", "gov-d01": "清河区人民政府"}


def case(
    assigned_hours_ago: float, *, accepted: bool = False, contacted: bool = False, **extra: Any
) -> dict[str, Any]:
    assigned = NOW - timedelta(hours=assigned_hours_ago)
    return {
        "status": "accepted" if accepted else "assigned",
        "assigned_at": assigned.isoformat(),
        "accepted_at": assigned.isoformat() if accepted else None,
        "contacted_at": assigned.isoformat() if contacted else None,
        "deadlines": {
            "accept_by": (assigned + timedelta(hours=2)).isoformat(),
            "contact_by": (assigned + timedelta(hours=24)).isoformat(),
            "resolve_by": (assigned + timedelta(days=7)).isoformat(),
            "return_by": (assigned + timedelta(hours=2)).isoformat(),
        },
        **extra,
    }


def test_the_next_clock_is_accept_then_contact_then_resolve() -> None:
    assert light(case(0.5), NOW)[2] == "accept"
    assert light(case(0.5, accepted=True), NOW)[2] == "contact"
    assert light(case(0.5, accepted=True, contacted=True), NOW)[2] == "resolve"
    summons = case(0.5, whistle_id="w", report_by=(NOW + timedelta(hours=1)).isoformat())
    assert light(summons, NOW)[2] == "report_in"
    assert light({**case(0.5), "status": "resolved"}, NOW)[0] == "none"


def test_lights_are_green_then_yellow_at_80_percent_then_red_past_the_deadline() -> None:
    assert light(case(1.0), NOW)[:2] == ("green", "正常")
    assert light(case(1.7), NOW)[:2] == ("yellow", "预警")  # 85 % of the 2 h accept clock
    assert light(case(2.5), NOW)[:2] == ("red", "超期")


def test_the_list_puts_the_nearest_deadline_first_and_closed_cases_last() -> None:
    fresh, late, done = case(0.1), case(3.0), {**case(5.0), "status": "resolved"}
    contacting = case(1.0, accepted=True)  # contact clock: 23 h left
    ordered = by_urgency([fresh, done, contacting, late], NOW)
    assert [c["assigned_at"] for c in ordered] == [
        late["assigned_at"],
        fresh["assigned_at"],
        contacting["assigned_at"],
        done["assigned_at"],
    ]


def test_units_are_read_by_id_name_or_as_the_search_list_offers_them() -> None:
    assert unit_id("临江市交通委员会（dept-jt）", NAMES) == "dept-jt"
    assert unit_id("清河区人民政府", NAMES) == "gov-d01"
    assert unit_id("dept-jt", NAMES) == "dept-jt"
    assert unit_id("no-such", NAMES) == "no-such"  # left for the service to refuse
    form = FormData([("co", "dept-jt"), ("co", "清河区人民政府，dept-jt")])
    assert units(form, "co", NAMES) == ["dept-jt", "gov-d01"]


def test_a_local_time_is_sent_as_that_moment_in_the_hotlines_zone() -> None:
    sent = local_time("2026-12-02T10:30", "Asia/Shanghai")
    assert sent is not None and datetime.fromisoformat(sent) == datetime(
        2026, 12, 2, 2, 30, tzinfo=UTC
    )
    assert local_time("tomorrow", "Asia/Shanghai") == "tomorrow"  # the API says what is wrong


def test_empty_fields_are_sent_so_that_the_api_refuses_them_and_optional_ones_are_left_out() -> (
    None
):
    body = action_body("return", FormData([("reason", "  "), ("evidence", "")]), "UTC", NAMES)
    assert body == {"reason": ""}
    body = action_body("extension-request", FormData([]), "UTC", NAMES)
    assert body == {"until": None, "reason": ""}


def test_a_problem_goes_beside_its_fields_in_chinese_or_above_the_form() -> None:
    invalid = UpstreamError(
        "department",
        422,
        "bad",
        {
            "title": "请求内容无效 / Invalid request",
            "errors": [
                {
                    "loc": ["body", "reason"],
                    "msg": "String should have at least 1 character",
                    "type": "string_too_short",
                },
                {
                    "loc": ["body", "until"],
                    "msg": "Input should be a valid datetime",
                    "type": "datetime_parsing",
                },
            ],
        },
    )
    form = FormState("return").failed(invalid)
    assert form.errors == {"reason": "不能为空", "until": "时间格式无效"}
    assert form.error is None
    conflict = UpstreamError(
        "department",
        409,
        "x",
        {"title": "状态冲突 / Conflict", "detail": "已过退单时限 / the return window has passed"},
    )
    form = FormState("return").failed(conflict)
    assert (
        form.errors == {} and form.error == "状态冲突：已过退单时限 / the return window has passed"
    )
    unknown = UpstreamError("dispatch", 422, "x", {"detail": "未知单位 / unknown unit(s): x"})
    form = FormState("assign").failed(unknown, {"单位": "lead_unit_id"})
    assert form.errors == {"lead_unit_id": "未知单位"}


def _post(**headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


def test_a_browsers_post_must_come_from_the_consoles_own_origin() -> None:
    assert same_origin(_post(host="console:8006", sec_fetch_site="same-origin"))
    assert not same_origin(_post(host="console:8006", sec_fetch_site="cross-site"))
    assert not same_origin(_post(host="console:8006", sec_fetch_site="same-site"))
    assert same_origin(_post(host="console:8006", origin="http://console:8006"))
    assert not same_origin(_post(host="console:8006", origin="https://evil.example"))
    assert not same_origin(_post(host="console:8006", origin="null"))
    # Behind a proxy the browser's origin is the proxy's host.
    assert same_origin(
        _post(
            host="console:8006", x_forwarded_host="jiesu.city.gov", origin="https://jiesu.city.gov"
        )
    )
    assert same_origin(_post(host="console:8006"))  # not a browser: no session rides on it


def test_where_no_rule_applies_the_desk_shows_the_unit_history_would_pick() -> None:
    from jiesu_console.views import TEMPLATES

    cell = TEMPLATES.env.from_string(
        '{% from "desks/_suggestions.html" import route_cell %}{{ route_cell(s, names) }}'
    )
    names = {"units": NAMES}
    learned = {"unit": "dept-jt", "share": 0.82, "support": 17, "level": "street"}
    html = cell.render(
        s={"outcome": "none", "reason": "无规则", "learned_unit": learned}, names=names
    )
    assert "历史建议主办：临江市交通委员会" in html
    assert "本街道同类 17 件中 82% 由其办结" in html
    unknown = cell.render(
        s={"outcome": "none", "reason": "无规则", "learned_unit": None}, names=names
    )
    assert "无适用规则（无规则）" in unknown and "历史建议" not in unknown
