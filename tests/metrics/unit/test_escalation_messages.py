"""The ladder's messages (pure): who is owed one, once, and what it says."""

import uuid

from jiesu_metrics.domain import escalation_text, notification_id_for

CID = uuid.UUID("6a1c2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")


def test_a_message_is_owed_once_per_complaint_round_unit_rung_and_recipient() -> None:
    key = notification_id_for(CID, 1, "dept-hj", "reminder", "duty")
    assert key == notification_id_for(CID, 1, "dept-hj", "reminder", "duty")
    others = {
        notification_id_for(CID, 2, "dept-hj", "reminder", "duty"),  # a reopened round
        notification_id_for(CID, 1, "dept-jt", "reminder", "duty"),  # a co-unit
        notification_id_for(CID, 1, "dept-hj", "supervision", "duty"),
        notification_id_for(CID, 1, "dept-hj", "reminder", "head"),
    }
    assert key not in others and len(others) == 4


def test_each_rung_names_the_ticket_the_unit_and_the_clock_in_chinese() -> None:
    subject, body = escalation_text(
        "reminder",
        ticket_no="20261202000001",
        unit_id="dept-hj",
        clock="accept",
        deadline="2026-12-02 12:00",
    )
    assert subject == "【12345催办】工单 20261202000001"
    assert "dept-hj" in body and "签收" in body and "2026-12-02 12:00" in body
    _, supervision = escalation_text(
        "supervision", ticket_no=None, unit_id="u", clock="resolve", deadline="—"
    )
    assert "督办" in supervision and "办结" in supervision and "编号待定" in supervision
    _, notice = escalation_text(
        "notice", ticket_no="1", unit_id="u", clock="report_in", deadline="—"
    )
    assert "通报" in notice and "报到" in notice
