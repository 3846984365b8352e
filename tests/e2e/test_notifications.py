"""End to end, on real processes: the escalation ladder's messages reach the unit's contacts
through the development notifier, and are recorded by metrics with the number masked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.devstack import DevStack
from jiesu_common.settings import AuthSettings
from tests.e2e.workflow import Platform


def messages(stack: DevStack) -> list[dict[str, Any]]:
    """Every message the development notifier wrote so far."""
    path = stack.notifications_file
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def _contacts_for_metrics(p: Platform, unit_id: str) -> dict[str, dict[str, Any]]:
    """The unit's contacts as metrics reads them (in clear, with its own identity)."""
    auth = AuthSettings(jwt_secret=SecretStr(p.stack.secrets["jwt_secret"]))
    token = mint_token(auth, role="service", service="metrics")
    answer = await p.client.get(
        f"{p.url('dispatch')}/v1/units/{unit_id}/contacts",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    return {c["role"]: c for c in answer.json()["contacts"]}


async def test_a_breached_clock_sends_a_reminder_to_the_units_duty_contact(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    filed = await p.file(
        {
            "channel": "phone",
            "kind": "complaint",
            "content": "通知测试：泉水路垃圾堆放点占道发臭",
            "category_code": "CITY-GARBAGE",
            "caller": {"phone": "13566667777"},
            "location": {"grid_code": "G01010201"},
        }
    )
    cid = filed["complaint_id"]
    street = await p.case_of(cid, "street-s0101", round_no=1)
    # A whistle whose report-in is due in five seconds: the summoned unit does not report.
    blown = await p.call(
        "POST",
        "department",
        f"/v1/cases/{street['case_id']}/whistle",
        "unit:street-s0101",
        body={
            "unit_ids": ["dept-jy-d01"],
            "ask": "请到现场处置",
            "report_by": (datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
        },
    )
    assert blown.status_code == 202, blown.text

    async def reminded() -> list[dict[str, Any]]:
        return [
            m
            for m in messages(stack)
            if m["kind"] == "escalation.reminder" and m["data"]["complaint_id"] == cid
        ]

    [sent] = await p.until(reminded, what="the reminder in the notifier's file", timeout=90)
    duty = (await _contacts_for_metrics(p, "dept-jy-d01"))["duty"]
    assert sent["to_role"] == "duty" and sent["to_name"] == duty["name"]
    assert sent["to"] == f"{duty['phone'][:3]}****{duty['phone'][-4:]}"
    assert sent["data"]["unit_id"] == "dept-jy-d01" and sent["data"]["clock"] == "report_in"
    assert filed["ticket_no"] in sent["body"] and "催办" in sent["body"]
    assert duty["phone"] not in stack.notifications_file.read_text()

    recorded = await p.call(
        "GET", "metrics", "/v1/notifications", "supervisor", params={"complaint_id": cid}
    )
    assert recorded.status_code == 200, recorded.text
    [row] = recorded.json()["items"]
    assert (row["kind"], row["status"], row["channel"]) == ("escalation.reminder", "sent", "file")
    assert row["recipient"] == sent["to"] and duty["phone"] not in recorded.text
