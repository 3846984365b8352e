"""Units' webhooks end to end: real processes, a real receiver on loopback.

A unit subscribes; a complaint is filed, dispatch assigns it to the unit, and the
receiver gets the case, signed per Standard Webhooks (checked with the ``standardwebhooks``
package); failures are retried with the same ``webhook-id`` until it is delivered once;
department killed with SIGKILL in the middle of a delivery sends it again after its
restart; another unit can neither see nor delete the subscription.
"""

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from jiesu_common.devstack import SERVICES, DevStack, wait_ready
from tests.department.webhook_receiver import Received, Receiver
from tests.e2e.workflow import Platform

OWNER, OTHER = "dept-jt", "dept-hj"
DEPARTMENT = next(s for s in SERVICES if s.name == "department")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


async def subscribe(p: Platform, url: str) -> dict[str, Any]:
    answer = await p.call(
        "POST",
        "department",
        "/v1/subscriptions",
        f"unit:{OWNER}",
        body={"url": url, "event_types": ["case.assigned"], "description": "工单系统对接"},
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def unsubscribe(p: Platform, sub: dict[str, Any]) -> None:
    path = f"/v1/subscriptions/{sub['subscription_id']}"
    assert (await p.call("DELETE", "department", path, f"unit:{OWNER}")).status_code == 204


def of_complaint(receiver: Receiver, complaint_id: str) -> list[Received]:
    return [r for r in receiver.received if complaint_id in r.body.decode()]


async def arrived(receiver: Receiver, complaint_id: str, n: int, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(of_complaint(receiver, complaint_id)) < n:
        assert asyncio.get_running_loop().time() < deadline, (
            f"{n} request(s) for {complaint_id} not received in {timeout}s"
        )
        await asyncio.sleep(0.05)


async def log_entry(p: Platform, sub: dict[str, Any], webhook_id: str) -> dict[str, Any]:
    answer = await p.call(
        "GET", "department", f"/v1/subscriptions/{sub['subscription_id']}/deliveries", "admin"
    )
    assert answer.status_code == 200, answer.text
    [entry] = [d for d in answer.json()["items"] if d["webhook_id"] == webhook_id]
    return dict(entry)


async def test_a_subscribed_unit_gets_its_assigned_complaint_signed_within_seconds(
    stack: DevStack, tokens: dict[str, Any], receiver: Receiver
) -> None:
    p = Platform(stack, tokens)
    sub = await subscribe(p, receiver.url)
    try:
        filed = await p.file_road_damage(
            "推送测试：解放路路灯不亮", phone="13300001111", grid="G01010101"
        )
        await arrived(receiver, filed["complaint_id"], 1, timeout=10)
        [request] = of_complaint(receiver, filed["complaint_id"])
        event = request.verified(sub["secret"])
        assert event["type"] == "case.assigned"
        assert event["data"]["complaint_id"] == filed["complaint_id"]
        assert event["data"]["unit_id"] == OWNER and event["data"]["status"] == "assigned"
        assert event["data"]["ticket_no"] == filed["ticket_no"]
        # The phone number never leaves in a webhook.
        assert "13300001111" not in request.body.decode()
    finally:
        await unsubscribe(p, sub)


async def test_a_failing_receiver_gets_the_event_again_with_the_same_id_until_delivered(
    stack: DevStack, tokens: dict[str, Any], receiver: Receiver
) -> None:
    receiver.fail_times = 3
    p = Platform(stack, tokens)
    sub = await subscribe(p, receiver.url)
    try:
        filed = await p.file_road_damage(
            "重试测试：和平路下水道堵塞", phone="13300002222", grid="G01010102"
        )
        await arrived(receiver, filed["complaint_id"], 4, timeout=30)
        requests = of_complaint(receiver, filed["complaint_id"])
        assert [r.answered for r in requests] == [500, 500, 500, 200]
        [webhook_id] = {r.headers["webhook-id"] for r in requests}
        assert all(r.verified(sub["secret"])["type"] == "case.assigned" for r in requests)
        await asyncio.sleep(2.0)
        assert len(of_complaint(receiver, filed["complaint_id"])) == 4  # delivered once
        entry = await log_entry(p, sub, webhook_id)
        assert entry["status"] == "delivered" and entry["attempts"] == 4
        assert [a["status_code"] for a in entry["attempt_log"]] == [500, 500, 500, 200]
    finally:
        await unsubscribe(p, sub)


async def test_a_delivery_interrupted_by_sigkill_arrives_after_the_restart(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    receiver = Receiver(hold_first=True).start()
    p = Platform(stack, tokens)
    sub = await subscribe(p, receiver.url)
    try:
        filed = await p.file_road_damage(
            "断电测试：人民路井盖松动", phone="13300003333", grid="G01010101"
        )
        assert await asyncio.to_thread(receiver.holding.wait, 30), "no delivery started"
        # The receiver holds the request: department dies in the middle of the delivery.
        process = stack.processes["department"]
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
        receiver.release()  # its answer reaches nobody
        stack.restart("department")
        await asyncio.to_thread(wait_ready, stack.url_of(DEPARTMENT), 90)
        await arrived(receiver, filed["complaint_id"], 2, timeout=60)
        first, again = of_complaint(receiver, filed["complaint_id"])[:2]
        assert again.headers["webhook-id"] == first.headers["webhook-id"]
        assert again.verified(sub["secret"])["data"]["complaint_id"] == filed["complaint_id"]

        async def delivered() -> bool:
            entry = await log_entry(p, sub, first.headers["webhook-id"])
            return bool(entry["status"] == "delivered")

        await p.until(delivered, timeout=30, what="the delivery marked delivered")
    finally:
        receiver.stop()
        await unsubscribe(p, sub)


async def test_another_unit_can_neither_see_nor_delete_the_subscription(
    stack: DevStack, tokens: dict[str, Any], receiver: Receiver
) -> None:
    p = Platform(stack, tokens)
    sub = await subscribe(p, receiver.url)
    path = f"/v1/subscriptions/{sub['subscription_id']}"
    intruder = f"unit:{OTHER}"
    for method, where in (("GET", path), ("DELETE", path), ("GET", f"{path}/deliveries")):
        answer = await p.call(method, "department", where, intruder)
        assert answer.status_code == 404, (method, where, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    listed = await p.call("GET", "department", "/v1/subscriptions", intruder)
    assert sub["subscription_id"] not in json.dumps(listed.json())
    owner = await p.call("GET", "department", path, f"unit:{OWNER}")
    assert owner.status_code == 200 and owner.json()["status"] == "active"
    assert "secret" not in owner.json()
    await unsubscribe(p, sub)
