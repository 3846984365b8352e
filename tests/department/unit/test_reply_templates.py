"""Reply templates: placeholders checked when saved and filled from the case."""

from types import SimpleNamespace

import pytest

from jiesu_department.replies import case_values, fill, unknown_placeholders


def test_a_template_names_only_what_a_case_can_fill() -> None:
    assert unknown_placeholders("您反映的{title}（{ticket_no}）已处理") == []
    assert unknown_placeholders("{phone} {ticket_no} {phone}") == ["phone"]
    with pytest.raises(ValueError):
        unknown_placeholders("未闭合 {ticket_no")


def test_a_draft_is_the_template_filled_from_the_case() -> None:
    case = SimpleNamespace(
        ticket_no="20261202-0001",
        category_code="ROAD-DAMAGE",
        unit_id="dept-jt",
        summary={
            "title": "路面塌陷",
            "content": "建设路路面塌陷",
            "location": {"address": "建设路12号"},
            "received_at": "2026-12-01T17:30:00+00:00",
        },
    )
    values = case_values(case)
    assert values["received_date"] == "2026年12月02日"  # Beijing time
    text = fill("您于{received_date}反映的{address}{title}问题（{ticket_no}）已修复。{x}", values)
    assert text == "您于2026年12月02日反映的建设路12号路面塌陷问题（20261202-0001）已修复。{x}"
