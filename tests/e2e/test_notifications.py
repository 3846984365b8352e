"""End to end, on real processes: the escalation ladder's messages reach the unit's contacts
through the development notifier, recorded by metrics with the number masked; a resident's
self-review link closes the review once, and bad links are refused and change nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.contracts import TOPICS
from jiesu_common.devstack import DevStack
from jiesu_common.settings import AuthSettings
from jiesu_review.links import derive_secret, sign
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


async def _review_events(stack: DevStack, complaint_id: str) -> list[dict[str, Any]]:
    """Every review.completed event about the complaint, read from the start of the topic."""
    consumer = AIOKafkaConsumer(
        TOPICS["review"],
        bootstrap_servers=stack.broker.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        found: list[dict[str, Any]] = []
        for records in (await consumer.getmany(timeout_ms=3000)).values():
            for record in records:
                event = json.loads(record.value)
                if event["subject"] == complaint_id and event["type"].startswith(
                    "jiesu.review.completed"
                ):
                    found.append(event)
        return found
    finally:
        await consumer.stop()


async def _link_sent(p: Platform, review_id: str, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        sent = [
            m
            for m in messages(p.stack)
            if m["kind"] == "review.self_link" and m["data"]["review_id"] == review_id
        ]
        return sent if len(sent) >= count else None

    found: list[dict[str, Any]] = await p.until(probe, what="the self-review link's SMS")
    return found


async def test_a_residents_link_closes_the_review_once_and_bad_links_change_nothing(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    phone, name = "13677778888", "李自评"
    filed = await p.file_road_damage(
        "自评测试：解放路井盖缺失，夜里很危险", phone=phone, grid="G01010101", name=name
    )
    cid = filed["complaint_id"]
    case = await p.case_of(cid, "dept-jt", round_no=1)
    await p.handle(case, "已补装井盖并设置警示")
    review = await p.review_of(cid, 1)
    rid = review["review_id"]

    def issue() -> Any:
        return p.call("POST", "review", f"/v1/reviews/{rid}/self-review-links", "reviewer")

    first = await issue()
    assert first.status_code == 201, first.text
    assert first.json()["sent"] == {
        "status": "sent",
        "channel": "file",
        "recipient": "136****8888",
        "error": None,
    }
    assert "/r/" not in first.text  # the link goes only to the resident
    second = await issue()  # issued again: the first link stops working
    assert second.status_code == 201, second.text
    old_sms, sms = await _link_sent(p, rid, 2)
    assert sms["to"] == "136****8888" and filed["ticket_no"] in sms["body"]
    assert phone not in stack.notifications_file.read_text()
    url, old_url = sms["data"]["url"], old_sms["data"]["url"]
    assert url.startswith(p.url("review") + "/r/") and url in sms["body"]

    shown = await p.client.get(url)
    assert shown.status_code == 200, shown.text
    assert shown.headers["content-type"].startswith("text/html")
    assert filed["ticket_no"] in shown.text and "是否已解决" in shown.text
    assert phone not in shown.text and name not in shown.text and "李*" not in shown.text
    assert "script-src" not in shown.headers["content-security-policy"]

    # Refused links: each a clear page with its status, and nothing changes.
    token = url.rsplit("/", 1)[1]
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    secret = derive_secret("", stack.secrets["jwt_secret"])
    second_link = uuid.UUID(second.json()["link_id"])
    expired = sign(second_link, datetime.now(UTC) - timedelta(minutes=1), secret)
    base = url.rsplit("/", 1)[0]
    answers = {"contacted": "yes", "resolved": "yes", "satisfaction": "satisfied"}
    for bad_url, status, heading in (
        (f"{base}/{flipped}", 404, "链接无效"),
        (f"{base}/{expired}", 410, "链接已过期"),
        (old_url, 410, "链接已失效"),
    ):
        for answer in (await p.client.get(bad_url), await p.client.post(bad_url, data=answers)):
            assert answer.status_code == status, (bad_url, answer.text)
            assert heading in answer.text and answer.headers["content-type"].startswith("text/")
    pending = await p.call("GET", "review", f"/v1/reviews/{rid}", "reviewer")
    assert pending.json()["status"] == "pending"

    # An incomplete answer is shown again and spends nothing.
    partial = await p.client.post(url, data={"contacted": "yes"})
    assert partial.status_code == 422 and "请回答前三个问题" in partial.text

    done = await p.client.post(url, data={**answers, "comment": "修得很快，谢谢"})
    assert done.status_code == 200, done.text
    assert "提交成功" in done.text

    async def closed() -> dict[str, Any] | None:
        shown = await p.complaint(cid)
        return shown if shown["status"] == "closed" else None

    await p.until(closed, what="the complaint closed by the resident's answer")
    completed = (await p.call("GET", "review", f"/v1/reviews/{rid}", "reviewer")).json()
    assert completed["status"] == "completed" and completed["outcome"] == "closed"
    assert completed["self_reported"] is True and completed["reviewer"] == "resident:self-review"
    assert completed["comment"] == "修得很快，谢谢"

    # The link is spent: a second use changes nothing.
    again = await p.client.post(url, data={**answers, "satisfaction": "dissatisfied"})
    assert again.status_code == 410 and "链接已使用" in again.text
    assert (await p.client.get(url)).status_code == 410
    after = (await p.call("GET", "review", f"/v1/reviews/{rid}", "reviewer")).json()
    assert after == completed
    links = await p.call("GET", "review", f"/v1/reviews/{rid}/self-review-links", "reviewer")
    used = {item["link_id"]: item for item in links.json()["items"]}
    assert used[str(second_link)]["used_at"] is not None
    assert used[first.json()["link_id"]]["revoked_at"] is not None

    [event] = await _review_events(stack, cid)
    assert event["data"]["self_reported"] is True and event["data"]["satisfaction"] == "satisfied"
