"""No raw phone number or name anywhere but the audited reveals, across the five steps.

One complaint with a distinctive caller goes through filing, dispatch, the unit's work (its
number revealed once, audited), the review and closing. Then every place the platform
writes or shows is searched for the raw number and name: every event on the broker, every
row of every table of every service's database (outboxes, inboxes, read models), every
log line, every GET of every service's API with a caller it admits, and the console's pages.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from jiesu_common.devstack import SERVICES, DevStack
from tests.e2e.workflow import Platform

OWNER = "dept-jt"
API_SERVICES = [s for s in SERVICES if s.database]
CONSOLE = next(s for s in SERVICES if s.name == "console")
CONSOLE_PAGES = (
    "/dashboard",
    "/dashboard/kpis",
    "/dashboard/board",
    "/dashboard/complaints",
    "/dashboard/complaints?measure=filed",
    "/dashboard/hotspots",
)


def caller_of_this_run() -> tuple[str, str]:
    """A number and a name no other test uses."""
    digits = "".join(random.choice("0123456789") for _ in range(8))
    return f"137{digits}", "欧阳" + random.choice("璇瑾瑜琦") + random.choice("晗昕曦")


def leaks(text: str, phone: str, name: str) -> bool:
    return phone in text or name in text or phone in re.sub(r"\D", "", text)


async def five_steps(p: Platform, phone: str, name: str) -> dict[str, Any]:
    filed = await p.file(
        {
            "channel": "phone",
            "kind": "complaint",
            "content": "隐私检查：胜利路路灯不亮，行人看不清路",
            "category_code": "ROAD-DAMAGE",
            "caller": {"phone": phone, "name": name},
            "location": {"grid_code": "G01010101"},
        }
    )
    case = await p.case_of(filed["complaint_id"], OWNER, round_no=1)
    revealed = await p.call(
        "POST", "department", f"/v1/cases/{case['case_id']}/caller", f"unit:{OWNER}", body={}
    )
    assert revealed.json()["phone"] == phone  # the one audited place it may appear
    assert leaks(revealed.text, phone, name)  # (and the search does find it there)
    await p.handle(case, "已更换灯泡")
    review = await p.review_of(filed["complaint_id"], 1)
    await p.complete_review(
        review["review_id"], {"contacted": True, "resolved": True, "satisfaction": "satisfied"}
    )

    async def closed() -> bool:
        return (await p.complaint(filed["complaint_id"]))["status"] == "closed"

    await p.until(closed, what="closed")
    return {**filed, "case_id": case["case_id"], "review_id": review["review_id"]}


async def events_with(stack: DevStack, phone: str, name: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = [t for t in await consumer.topics() if t.startswith("jiesu.")]
        partitions = [
            TopicPartition(t, n) for t in topics for n in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[str] = []
        seen = 0

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for record in records:
                    seen += 1
                    text = (record.value or b"").decode("utf-8", "replace")
                    headers = " ".join(v.decode("utf-8", "replace") for _, v in record.headers)
                    if leaks(text + headers, phone, name):
                        found.append(f"{record.topic}@{record.offset}")
        assert seen > 0
        return found
    finally:
        await consumer.stop()


async def rows_with(stack: DevStack, phone: str, name: str) -> list[str]:
    found: list[str] = []
    for spec in API_SERVICES:
        dsn = stack.postgres.url_for(f"jiesu_{spec.name}").replace(
            "postgresql+asyncpg", "postgresql"
        )
        conn = await asyncpg.connect(dsn)
        try:
            tables = await conn.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
            for (table,) in tables:
                hits = await conn.fetchval(
                    f'SELECT count(*) FROM "{table}" t WHERE row_to_json(t)::text LIKE $1 '
                    f"OR row_to_json(t)::text LIKE $2",
                    f"%{phone}%",
                    f"%{name}%",
                )
                if hits:
                    found.append(f"{spec.name}.{table}: {hits}")
        finally:
            await conn.close()
    return found


def logs_with(stack: DevStack, phone: str, name: str) -> list[str]:
    return [
        f"{log.name}: {line[:200]}"
        for log in (stack.root / "logs").glob("*.log")
        for line in log.read_text(errors="replace").splitlines()
        if leaks(line, phone, name)
    ]


async def answers_with(
    p: Platform, ids: dict[str, Any], phone: str, name: str
) -> tuple[int, list[str]]:
    found: list[str] = []
    read = 0
    async with httpx.AsyncClient(timeout=30) as client:
        for spec in API_SERVICES:
            base = p.stack.url_of(spec)
            document = (await client.get(f"{base}/openapi.json")).json()
            for path, operations in document["paths"].items():
                policy = operations.get("get", {}).get("x-jiesu-access")
                if policy is None or path.endswith("/stream") or path == "/v1/live":
                    continue
                filled = path
                for key, value in ids.items():
                    filled = filled.replace("{" + key + "}", str(value))
                if "{" in filled:
                    continue
                for role in policy["roles"]:
                    who = f"unit:{OWNER}" if role == "unit_staff" else role
                    answer = await p.call("GET", spec.name, filled, who)
                    read += 1
                    if leaks(answer.text, phone, name):
                        found.append(f"{spec.name} GET {filled} as {role}")
    return read, found


async def pages_with(stack: DevStack, phone: str, name: str) -> list[str]:
    found: list[str] = []
    async with httpx.AsyncClient(base_url=stack.url_of(CONSOLE), timeout=30) as console:
        signed_in = await console.post("/login", data={"role": "supervisor"})
        assert signed_in.status_code == 303
        for page in CONSOLE_PAGES:
            shown = await console.get(page)
            assert shown.status_code == 200, page
            if leaks(shown.text, phone, name):
                found.append(page)
    return found


async def test_no_raw_phone_or_name_outside_the_audited_reveal(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    phone, name = caller_of_this_run()
    p = Platform(stack, tokens)
    done = await five_steps(p, phone, name)
    await asyncio.sleep(2.0)  # let the last events reach every consumer and log
    ids = {**done, "unit_id": OWNER, "key_id": uuid.uuid4()}
    read, in_answers = await answers_with(p, ids, phone, name)
    assert read >= 30
    assert in_answers == []
    assert await pages_with(stack, phone, name) == []
    assert await events_with(stack, phone, name) == []
    assert logs_with(stack, phone, name) == []
    # Intake keeps the number and name encrypted; the hash of the number is keyed.
    assert await rows_with(stack, phone, name) == []
