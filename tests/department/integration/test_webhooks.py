"""Units' webhooks on a real database, with the delivery worker and a real receiver on
loopback: signed per Standard Webhooks, retried with the same webhook-id, dead and
disabled, redelivered; a unit manages only its own; bad targets are refused."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from jiesu_common.auth import mint_token
from jiesu_common.contracts import make_event
from jiesu_common.db.engine import raw_connection
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.issuer import LoopbackIssuer
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_department import handlers
from jiesu_department.main import MIGRATIONS, create_app
from jiesu_department.settings import DepartmentSettings, WebhookSettings
from jiesu_department.webhooks import repository as queue
from jiesu_department.webhooks.worker import DeliveryWorker
from tests.department.webhook_receiver import Receiver
from tests.metrics.scenario import assigned

SECRET = "department-webhook-tests-secret-0123456789"
OWNER, OTHER = "dept-jt", "dept-hj"
FAST = {"retry_base_s": 0.2, "retry_factor": 2.0, "timeout_s": 2.0, "lease_s": 3.0}


def bearer(unit: str | None = None, role: str = "unit_staff") -> dict[str, str]:
    auth = AuthSettings(jwt_secret=SecretStr(SECRET))
    return {"Authorization": f"Bearer {mint_token(auth, role=role, unit_id=unit)}"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
async def department(new_database: DatabaseFactory) -> AsyncIterator[httpx.AsyncClient]:
    url = await new_database("department")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    settings = DepartmentSettings(
        database={"url": url, "pool_size": 5}, auth={"jwt_secret": SECRET}
    )
    app = create_app(settings)
    await app.state.department.context.start(background=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://department"
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await app.state.department.context.engine.dispose()


WorkerFactory = Callable[..., Awaitable[DeliveryWorker]]


@pytest.fixture
async def start_worker(department: httpx.AsyncClient) -> AsyncIterator[WorkerFactory]:
    running: list[tuple[DeliveryWorker, asyncio.Task[None]]] = []

    async def start(development: bool = True, **overrides: Any) -> DeliveryWorker:
        engine = department.app.state.department.context.engine  # type: ignore[attr-defined]
        worker = DeliveryWorker(
            engine=engine, settings=WebhookSettings(**(FAST | overrides)), development=development
        )
        running.append((worker, asyncio.create_task(worker.run())))
        return worker

    yield start
    for worker, task in running:
        await worker.stop()
        await asyncio.wait_for(task, 10)


async def subscribe(
    client: httpx.AsyncClient, url: str, unit: str = OWNER, types: list[str] | None = None
) -> dict[str, Any]:
    answer = await client.post(
        "/v1/subscriptions",
        json={"url": url, "event_types": types or ["case.assigned", "case.accepted"]},
        headers=bearer(unit),
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def assign(client: httpx.AsyncClient, unit: str = OWNER) -> uuid.UUID:
    """Dispatch's assignment event handled by department's consumer code: opens a case."""
    payload = assigned(uuid.uuid4(), 1, 1, unit, (), 0)
    state = client.app.state.department  # type: ignore[attr-defined]
    async with state.uow() as uow:
        await handlers.open_cases(payload, make_event(payload), uow)
        await uow.commit()
    return payload.complaint_id


async def until(probe: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def log_of(client: httpx.AsyncClient, sub: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await client.get(
        f"/v1/subscriptions/{sub['subscription_id']}/deliveries", headers=bearer(sub["unit_id"])
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def settled_log(client: httpx.AsyncClient, sub: dict[str, Any]) -> list[dict[str, Any]]:
    """The delivery log once no delivery is pending (the receiver answers before the
    worker records the answer)."""
    for _ in range(100):
        log = await log_of(client, sub)
        if all(d["status"] != "pending" for d in log):
            return log
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries still pending: {log}")


async def count(client: httpx.AsyncClient, table: str) -> int:
    engine = client.app.state.department.context.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


def problem(answer: httpx.Response, status: int, type_end: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith(type_end), answer.json()


async def test_a_subscribed_unit_receives_its_new_case_signed_within_seconds(
    department: httpx.AsyncClient, receiver: Receiver, start_worker: WorkerFactory
) -> None:
    await start_worker()
    sub = await subscribe(department, receiver.url)
    assert sub["secret"].startswith("whsec_") and sub["status"] == "active"
    shown = await department.get(
        f"/v1/subscriptions/{sub['subscription_id']}", headers=bearer(OWNER)
    )
    assert "secret" not in shown.json()  # shown once, on creation only
    await assign(department, OTHER)  # not subscribed: nothing is sent for it
    complaint_id = await assign(department)
    await until(lambda: len(receiver.received) == 1, timeout=5)
    event = receiver.received[0].verified(sub["secret"])
    assert event["type"] == "case.assigned"
    assert event["data"]["complaint_id"] == str(complaint_id)
    assert event["data"]["unit_id"] == OWNER and event["data"]["status"] == "assigned"
    [delivery] = await settled_log(department, sub)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert delivery["webhook_id"] == receiver.received[0].headers["webhook-id"]
    assert [a["status_code"] for a in delivery["attempt_log"]] == [200]
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 1


async def test_failed_attempts_are_retried_with_the_same_webhook_id_until_delivered(
    department: httpx.AsyncClient, receiver: Receiver, start_worker: WorkerFactory
) -> None:
    receiver.answers = [500, 503, 500]
    await start_worker()
    sub = await subscribe(department, receiver.url)
    await assign(department)
    await until(lambda: len(receiver.received) == 4)
    assert [r.answered for r in receiver.received] == [500, 503, 500, 200]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    for request in receiver.received:  # every attempt is signed afresh and verifies
        assert request.verified(sub["secret"])["type"] == "case.assigned"
    await asyncio.sleep(1.0)
    [delivery] = await settled_log(department, sub)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 503, 500, 200]
    assert len(receiver.received) == 4  # delivered once: never sent again


async def test_dead_deliveries_disable_the_subscription_and_a_redelivery_revives_it(
    department: httpx.AsyncClient, receiver: Receiver, start_worker: WorkerFactory
) -> None:
    receiver.answers = [500] * 4
    await start_worker(max_attempts=2, disable_after_dead=2)
    sub = await subscribe(department, receiver.url)
    await assign(department)
    await assign(department)
    await until(lambda: len(receiver.received) == 4)
    path = f"/v1/subscriptions/{sub['subscription_id']}"

    async def disabled() -> bool:
        shown = await department.get(path, headers=bearer(OWNER))
        return bool(shown.json()["status"] == "disabled")

    for _ in range(100):
        if await disabled():
            break
        await asyncio.sleep(0.05)
    shown = (await department.get(path, headers=bearer(OWNER))).json()
    assert shown["status"] == "disabled" and shown["consecutive_dead"] == 2
    log = await settled_log(department, sub)
    assert [d["status"] for d in log] == ["dead", "dead"]
    await assign(department)  # a disabled subscription queues nothing
    assert len(await log_of(department, sub)) == 2

    dead = log[0]
    again = await department.post(
        f"{path}/deliveries/{dead['delivery_id']}/redeliver", headers=bearer(OWNER)
    )
    assert again.status_code == 202, again.text
    await until(lambda: len(receiver.received) == 5)
    assert receiver.received[-1].answered == 200
    assert receiver.received[-1].headers["webhook-id"] == dead["webhook_id"]
    log = await settled_log(department, sub)
    assert {d["delivery_id"]: d["status"] for d in log}[dead["delivery_id"]] == "delivered"
    shown = (await department.get(path, headers=bearer(OWNER))).json()
    assert shown["status"] == "active" and shown["consecutive_dead"] == 0


async def test_another_unit_can_neither_see_nor_touch_the_subscription(
    department: httpx.AsyncClient, receiver: Receiver, start_worker: WorkerFactory
) -> None:
    await start_worker()
    sub = await subscribe(department, receiver.url)
    await assign(department)
    await until(lambda: len(receiver.received) == 1)
    [delivery] = await settled_log(department, sub)
    path = f"/v1/subscriptions/{sub['subscription_id']}"
    intruder = bearer(OTHER)
    for answer in (
        await department.get(path, headers=intruder),
        await department.delete(path, headers=intruder),
        await department.get(f"{path}/deliveries", headers=intruder),
        await department.post(
            f"{path}/deliveries/{delivery['delivery_id']}/redeliver", headers=intruder
        ),
    ):
        problem(answer, 404, "not-found")
    listed = await department.get("/v1/subscriptions", headers=intruder)
    assert listed.json()["items"] == []
    # Nothing the intruder tried changed anything: still there, nothing sent again.
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 1
    assert (await department.get(path, headers=bearer(OWNER))).status_code == 200
    # An admin sees every unit's; the owner deletes its own.
    every = await department.get("/v1/subscriptions", headers=bearer(role="admin"))
    assert [s["subscription_id"] for s in every.json()["items"]] == [sub["subscription_id"]]
    assert (await department.delete(path, headers=bearer(OWNER))).status_code == 204
    assert (await department.get(path, headers=bearer(OWNER))).status_code == 404
    assert await count(department, "webhook_deliveries") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://127.0.0.1/hook", "event_types": ["case.assigned"]},
        {"url": "http://example.com/hook", "event_types": ["case.assigned"]},
        {"url": "http://127.0.0.1:9/hook", "event_types": []},
        {"url": "http://127.0.0.1:9/hook", "event_types": ["case.exploded"]},
        {"url": "http://127.0.0.1:9/hook", "event_types": ["case.assigned"], "extra": 1},
        {"url": "http://127.0.0.1:9/hook", "event_types": ["case.assigned"], "unit_id": OTHER},
        {"event_types": ["case.assigned"]},
    ],
)
async def test_bad_subscriptions_are_refused_as_problems_and_change_nothing(
    department: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    answer = await department.post("/v1/subscriptions", json=body, headers=bearer(OWNER))
    assert answer.status_code in (403, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await count(department, "webhook_subscriptions") == 0


async def test_a_name_that_now_resolves_to_loopback_is_not_sent_to_outside_development(
    department: httpx.AsyncClient, receiver: Receiver, start_worker: WorkerFactory
) -> None:
    """DNS rebinding: the target is resolved and checked again at every attempt."""
    worker = await start_worker(development=False)
    port = receiver.url.split(":")[2].split("/")[0]
    claimed = queue.Claimed(
        delivery_id=uuid.uuid4(),
        webhook_id="msg_rebinding",
        subscription_id=uuid.uuid4(),
        body="{}",
        attempt=1,
        url=f"https://localhost:{port}/hook",
        secret="whsec_" + "A" * 43,
    )
    outcome = await worker.attempt(claimed)
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error is not None and "loopback" in outcome.error
    assert receiver.received == []


async def test_a_claim_left_by_a_killed_process_is_sent_again_after_its_lease(
    department: httpx.AsyncClient, receiver: Receiver, start_worker: WorkerFactory
) -> None:
    sub = await subscribe(department, receiver.url)
    await assign(department)
    engine = department.app.state.department.context.engine  # type: ignore[attr-defined]
    async with raw_connection(engine) as conn:  # a process that claimed it, then died
        [lost] = await queue.claim_due(conn, 10, 1.5)
    await start_worker()
    await asyncio.sleep(0.8)
    assert receiver.received == []  # still leased to the dead process
    await until(lambda: len(receiver.received) == 1, timeout=5)
    assert receiver.received[0].headers["webhook-id"] == lost.webhook_id
    [delivery] = await settled_log(department, sub)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2


async def test_a_clean_stop_gives_unsent_claims_back_at_once(
    department: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    slow = Receiver(hold_first=True).start()
    try:
        first = await start_worker(timeout_s=1.0, lease_s=30.0)
        await subscribe(department, slow.url)
        await assign(department)
        await asyncio.to_thread(slow.holding.wait, 5)
        await first.stop()  # waits at most timeout_s, then hands the claim back
        engine = department.app.state.department.context.engine  # type: ignore[attr-defined]
        async with raw_connection(engine) as conn:
            leased = await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' "
                "AND lease_until > now()"
            )
        assert leased == 0
        slow.release()
    finally:
        slow.stop()


async def test_private_targets_are_refused_outside_development(
    new_database: DatabaseFactory,
) -> None:
    with LoopbackIssuer() as issuer:
        url = await new_database("department")
        await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
        settings = DepartmentSettings(
            database={"url": url, "pool_size": 2},
            auth={
                "mode": "production",
                "oidc_issuer": issuer.url,
                "role_claim": "realm_access.roles",
            },
        )
        app = create_app(settings)
        token = issuer.token(role="unit_staff", unit_id=OWNER)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://department"
        ) as client:
            for target in (
                "https://10.0.0.5/hook",
                "https://192.168.1.20/hook",
                "https://169.254.169.254/latest/meta-data",
                "https://127.0.0.1/hook",
                "https://[::1]/hook",
                "https://[::ffff:10.0.0.5]/hook",
                "https://localhost/hook",
                "http://127.0.0.1:9000/hook",  # http: refused outside development
            ):
                answer = await client.post(
                    "/v1/subscriptions",
                    json={"url": target, "event_types": ["case.assigned"]},
                    headers={"Authorization": f"Bearer {token}"},
                )
                problem(answer, 422, "webhook-target-refused")
            async with app.state.department.context.engine.connect() as conn:
                rows = await conn.execute(text("SELECT count(*) FROM webhook_subscriptions"))
                assert rows.scalar_one() == 0
        await app.state.department.context.engine.dispose()


async def test_each_case_action_goes_out_as_its_own_event_type_to_those_who_asked(
    department: httpx.AsyncClient, receiver: Receiver, start_worker: WorkerFactory
) -> None:
    await start_worker()
    sub = await subscribe(department, receiver.url, types=["case.accepted", "case.contacted"])
    complaint_id = await assign(department)  # case.assigned: not asked for
    listed = await department.get(
        "/v1/cases", params={"complaint_id": str(complaint_id)}, headers=bearer(OWNER)
    )
    [case] = listed.json()["items"]
    for action, body in (("accept", {}), ("contact", {"method": "phone"})):
        answer = await department.post(
            f"/v1/cases/{case['case_id']}/{action}", json=body, headers=bearer(OWNER)
        )
        assert answer.status_code == 200, answer.text
    await until(lambda: len(receiver.received) == 2)
    events = [r.verified(sub["secret"]) for r in receiver.received]
    assert sorted(e["type"] for e in events) == ["case.accepted", "case.contacted"]
    assert {e["data"]["case_id"] for e in events} == {case["case_id"]}
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 2


async def test_unsubscribing_while_a_delivery_is_in_flight_sends_nothing_more(
    department: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    slow = Receiver(hold_first=True).start()
    try:
        await start_worker()
        sub = await subscribe(department, slow.url)
        await assign(department)
        await asyncio.to_thread(slow.holding.wait, 5)
        path = f"/v1/subscriptions/{sub['subscription_id']}"
        assert (await department.delete(path, headers=bearer(OWNER))).status_code == 204
        slow.answers = [500]  # the held attempt fails: there is nothing left to retry
        slow.release()
        await until(lambda: len(slow.received) == 1)
        await asyncio.sleep(1.0)
        assert len(slow.received) == 1
        assert await count(department, "webhook_deliveries") == 0
        assert await count(department, "webhook_attempts") == 0
    finally:
        slow.stop()
