"""The simulated people: units that act on their SSE stream, a dispatcher, a reviewer.

They go through the public HTTP API with their own tokens, as real staff would, with no
think time. Every latency they note is on the bench's clock (``time.time()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from jiesu_bench.workload import ASSIGN_ONLY, REOPEN, RETURN

log = logging.getLogger(__name__)


@dataclass
class Filed:
    """One complaint the bench filed."""

    index: int
    plan: str
    scheduled: float  # when it was due to be sent (the open-loop origin of every latency)
    answered: float = 0.0
    complaint_id: str | None = None


@dataclass
class Ledger:
    """Everything the bench filed and every time it saw something happen."""

    filed: dict[str, Filed] = field(default_factory=dict)  # by complaint id
    on_stream: dict[tuple[str, int], float] = field(default_factory=dict)
    in_queue: dict[tuple[str, int], float] = field(default_factory=dict)
    resolved: dict[tuple[str, int], float] = field(default_factory=dict)
    review_seen: dict[tuple[str, int], float] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    handled_cases: set[str] = field(default_factory=set)
    handled_reviews: set[str] = field(default_factory=set)
    handled_returns: set[str] = field(default_factory=set)
    # The last time anything was seen to happen to each complaint (stuck-complaint check).
    last_progress: dict[str, float] = field(default_factory=dict)

    def progressed(self, complaint_id: str) -> None:
        """Something happened to the complaint just now."""
        self.last_progress[complaint_id] = time.time()

    def plan_of(self, complaint_id: str) -> str | None:
        """The story chosen for a complaint this run filed (None for anyone else's)."""
        filed = self.filed.get(complaint_id)
        return filed.plan if filed else None


# What a request can fail with before any answer: the service is away or the socket died.
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


@dataclass
class Answer:
    """A service's answer, read whole (the connection goes back to the pool at once)."""

    status_code: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


async def request(
    client: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Answer:
    """One request, its answer read whole."""
    async with client.request(method, url, json=body, headers=headers, params=params) as r:
        return Answer(r.status, await r.read())


def bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


# 500 too: during chaos a request can die with its database connection; every action is
# either idempotent (filing has an Idempotency-Key) or re-checked against the state on 409.
RETRY_STATUSES = (429, 500, 502, 503, 504)


async def call(
    client: aiohttp.ClientSession,
    ledger: Ledger,
    what: str,
    method: str,
    url: str,
    *,
    token: str,
    body: dict[str, Any] | None = None,
    ok: tuple[int, ...] = (200, 201, 202),
    headers: dict[str, str] | None = None,
    give_up_after_s: float = 180.0,
) -> Answer | None:
    """One API call, retried while the service is away (a killed process comes back).

    Connection errors and 429/500/502/503/504 are retried with backoff until ``give_up_after_s``;
    any other refusal is counted under ``what`` and returned as None. A 409 is returned
    to the caller, which checks whether an earlier attempt already took effect.
    """
    deadline = time.monotonic() + give_up_after_s
    delay = 0.1
    while True:
        try:
            response: Answer | None = await request(
                client, method, url, body=body, headers={**bearer(token), **(headers or {})}
            )
        except TRANSPORT_ERRORS as exc:
            ledger.errors[f"{what}: {type(exc).__name__} (retried)"] += 1
            response = None
        if response is not None and response.status_code not in RETRY_STATUSES:
            if response.status_code in ok or response.status_code == 409:
                return response
            ledger.errors[f"{what}: HTTP {response.status_code}"] += 1
            return None
        if response is not None:
            ledger.errors[f"{what}: HTTP {response.status_code} (retried)"] += 1
        if time.monotonic() > deadline:
            ledger.errors[f"{what}: gave up"] += 1
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


class Units:
    """One SSE connection per unit; each new case is worked through at once."""

    def __init__(
        self, client: aiohttp.ClientSession, base: str, tokens: dict[str, str], ledger: Ledger
    ) -> None:
        self._client, self._base, self._tokens, self._ledger = client, base, tokens, ledger
        self._streams: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._work: set[asyncio.Task[None]] = set()
        self._orphans: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.connected = 0
        self._all_connected = asyncio.Event()

    async def start(self) -> None:
        """Open every unit's stream; returns once all are connected."""
        # The streams' own pool, unbounded, so they never wait for the actions' connections;
        # no read timeout, since a quiet unit's stream says nothing for a long time.
        self._streams = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._tasks = [asyncio.create_task(self._follow(u)) for u in self._tokens]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_connected.wait(), 30)

    async def _follow(self, unit: str) -> None:
        streams = self._streams
        assert streams is not None  # opened by start()
        last_id: str | None = None
        first = True
        while True:
            headers = bearer(self._tokens[unit])
            if last_id:
                headers["Last-Event-ID"] = last_id
            try:
                async with streams.get(f"{self._base}/v1/cases/stream", headers=headers) as r:
                    if r.status != 200:
                        self._ledger.errors[f"sse: HTTP {r.status} (retried)"] += 1
                        await asyncio.sleep(0.5)
                        continue
                    if first:
                        self.connected += 1
                        first = False
                        if self.connected == len(self._tokens):
                            self._all_connected.set()
                    event: dict[str, str] = {}
                    async for raw in r.content:  # line by line
                        line = raw.decode().rstrip("\r\n")
                        if line:
                            name, _, value = line.partition(":")
                            event[name] = value.strip()
                            continue
                        last_id = event.get("id", last_id)
                        if event.get("event") == "case":
                            self._on_case(unit, json.loads(event["data"]))
                        event = {}
                await asyncio.sleep(0.2)  # the stream ended (the service is stopping)
            except TRANSPORT_ERRORS:
                self._ledger.errors["sse: reconnect"] += 1
                await asyncio.sleep(0.2)

    def _on_case(self, unit: str, case: dict[str, Any]) -> None:
        key = (case["complaint_id"], int(case["round"]))
        if case["status"] != "assigned" or case["case_id"] in self._ledger.handled_cases:
            return
        plan = self._ledger.plan_of(case["complaint_id"])
        if plan is None:
            # Under load a case can reach its unit before the filing answer reaches the
            # bench: keep it until the complaint is known (or forever, if it is not ours).
            self._orphans.setdefault(case["complaint_id"], []).append((unit, case))
            return
        self._ledger.handled_cases.add(case["case_id"])
        self._ledger.progressed(case["complaint_id"])
        if case["role"] == "lead":
            self._ledger.on_stream.setdefault(key, time.time())
        if plan == ASSIGN_ONLY:
            return  # `--until assigned`: the unit only receives it
        task = asyncio.create_task(self._work_case(unit, case, plan))
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    def adopt(self, complaint_id: str) -> None:
        """Work the cases that arrived before the bench knew the complaint was its own."""
        for unit, case in self._orphans.pop(complaint_id, []):
            self._on_case(unit, case)

    async def _work_case(self, unit: str, case: dict[str, Any], plan: str) -> None:
        """Take the case from wherever it stands to replied (or returned), step by step.

        Each step is chosen from the case's status, so an answer lost to a killed service
        (the action took effect, the 201 never arrived) is picked up where it left off.
        """
        path = f"{self._base}/v1/cases/{case['case_id']}"
        token = self._tokens[unit]
        c, ledger = self._client, self._ledger
        key = (case["complaint_id"], int(case["round"]))
        returning = case["role"] == "lead" and plan == RETURN and key[1] == 1
        for _ in range(12):
            step = _next_step(case, returning)
            if step is None:
                if case["status"] == "resolved":
                    ledger.resolved.setdefault(key, time.time())
                    ledger.progressed(case["complaint_id"])
                return
            action, body = step
            answer = await call(
                c, ledger, action, "POST", f"{path}/{action}", token=token, body=body
            )
            if answer is not None and answer.status_code != 409:
                case = answer.json()
                continue
            # Refused, or it already happened: look at the case as it stands.
            shown = await call(c, ledger, "case", "GET", path, token=token)
            if shown is None:
                return
            case = shown.json()
        ledger.errors["case: no progress"] += 1

    async def stop(self) -> None:
        """Close the streams and wait for work in hand."""
        if self._work:
            await asyncio.wait(self._work, timeout=30)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._streams is not None:
            await self._streams.close()

    @property
    def busy(self) -> int:
        """Cases being worked on right now."""
        return len(self._work)


def _next_step(case: dict[str, Any], returning: bool) -> tuple[str, dict[str, Any]] | None:
    """The unit's next action on a case, or None when it has nothing more to do."""
    status = case["status"]
    if status in ("resolved", "returned", "withdrawn"):
        return None
    if returning:
        return ("return", {"reason": "不属于本单位职责 (bench)"}) if status == "assigned" else None
    if case["role"] != "lead":
        return ("accept", {}) if status == "assigned" else None
    if status == "assigned":
        return "accept", {}
    if case.get("contacted_at") is None:
        return "contact", {"method": "phone"}
    return "resolve", {"reply": "已处理完毕 (bench)", "result": "solved"}


# How often the dispatcher and the reviewer list what is pending. The console's desks
# refresh every 3 and 5 s; the bench looks ten times as often, so a step's latencies stay
# short, but not every 0.1 s: each look is a list request whatever the rate, and at that
# pace the two lists alone cost dispatch and callback-review about 1.5 CPU-ms per closed
# complaint each at 10/s.
DESK_POLL_S = 0.5


class Poller:
    """A loop that lists pending items and acts on each once: the dispatcher and the reviewer."""

    def __init__(
        self, client: aiohttp.ClientSession, base: str, token: str, ledger: Ledger
    ) -> None:
        self._client, self._base, self._token, self._ledger = client, base, token, ledger
        self._interval = DESK_POLL_S
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin polling."""
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            # A service away (killed, restarting) answers errors or nothing: try again.
            with contextlib.suppress(*TRANSPORT_ERRORS, KeyError, ValueError):
                await self.poll_once()
            await asyncio.sleep(self._interval)

    async def poll_once(self) -> None:
        """One sweep (subclasses)."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def pending_pages(
    client: aiohttp.ClientSession, url: str, token: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every item of a paged list."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await request(client, "GET", url, params=query, headers=bearer(token))).json()
        items.extend(page["items"])
        cursor = page.get("next")
        if not cursor:
            return items


class Dispatcher(Poller):
    """Approves every pending return this run's complaints got (the centre agrees)."""

    async def poll_once(self) -> None:
        """Approve what is pending."""
        returns = await pending_pages(
            self._client, f"{self._base}/v1/returns", self._token, {"status": "pending"}
        )
        todo = [
            r
            for r in returns
            if r["return_id"] not in self._ledger.handled_returns
            and self._ledger.plan_of(r["complaint_id"]) is not None
        ]
        for r in todo:
            self._ledger.handled_returns.add(r["return_id"])
        await asyncio.gather(*(self._approve(r) for r in todo))

    async def _approve(self, item: dict[str, Any]) -> None:
        answer = await call(
            self._client,
            self._ledger,
            "return decision",
            "POST",
            f"{self._base}/v1/returns/{item['return_id']}/decision",
            token=self._token,
            body={"decision": "approve", "note": "同意退回 (bench)"},
        )
        if answer is None:
            self._ledger.handled_returns.discard(item["return_id"])  # the next poll retries
        else:
            self._ledger.progressed(item["complaint_id"])


class Reviewer(Poller):
    """Calls every resident back: dissatisfied once for a reopen story, satisfied otherwise."""

    async def poll_once(self) -> None:
        """Complete what is pending."""
        reviews = await pending_pages(
            self._client, f"{self._base}/v1/reviews", self._token, {"status": "pending"}
        )
        now = time.time()
        todo = []
        for review in reviews:
            if review["review_id"] in self._ledger.handled_reviews:
                continue
            if self._ledger.plan_of(review["complaint_id"]) is None:
                continue
            self._ledger.handled_reviews.add(review["review_id"])
            self._ledger.review_seen.setdefault((review["complaint_id"], review["round"]), now)
            self._ledger.progressed(review["complaint_id"])
            todo.append(review)
        await asyncio.gather(*(self._complete(r) for r in todo))

    async def _complete(self, review: dict[str, Any]) -> None:
        unhappy = self._ledger.plan_of(review["complaint_id"]) == REOPEN and review["round"] == 1
        answers = {
            "contacted": True,
            "resolved": not unhappy,
            "satisfaction": "dissatisfied" if unhappy else "satisfied",
        }
        answer = await call(
            self._client,
            self._ledger,
            "review",
            "POST",
            f"{self._base}/v1/reviews/{review['review_id']}",
            token=self._token,
            body=answers,
        )
        if answer is None:
            self._ledger.handled_reviews.discard(review["review_id"])  # the next poll retries
        else:
            self._ledger.progressed(review["complaint_id"])


class QueueProbe:
    """Polls a sample of complaints in their lead unit's queue until each shows there."""

    def __init__(
        self, client: aiohttp.ClientSession, base: str, tokens: dict[str, str], ledger: Ledger
    ) -> None:
        self._client, self._base, self._tokens, self._ledger = client, base, tokens, ledger
        self._tasks: set[asyncio.Task[None]] = set()

    def watch(self, complaint_id: str, lead: str) -> None:
        """Start polling for one complaint's round-1 case."""
        task = asyncio.create_task(self._until_listed(complaint_id, lead))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _until_listed(self, complaint_id: str, lead: str) -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            with contextlib.suppress(*TRANSPORT_ERRORS, KeyError, ValueError):
                page = await request(
                    self._client,
                    "GET",
                    f"{self._base}/v1/cases",
                    params={"complaint_id": complaint_id},
                    headers=bearer(self._tokens[lead]),
                )
                if page.json()["items"]:
                    self._ledger.in_queue[(complaint_id, 1)] = time.time()
                    return
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop polling."""
        for task in list(self._tasks):
            task.cancel()
