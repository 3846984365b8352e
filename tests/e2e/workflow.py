"""A driver for the five steps over HTTP, as operators, units, dispatchers and reviewers do.

Every call survives a service being killed and restarted: transport errors and 503s are
retried, complaints are filed with an ``Idempotency-Key``, and an action that answers 409
on a retry is checked to have taken effect the first time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from jiesu_common.devstack import SERVICES, DevStack

URL_OF = {s.name: s for s in SERVICES}
RETRYABLE = (httpx.TransportError, httpx.TimeoutException)


@dataclass
class Platform:
    """The running stack as its users reach it."""

    stack: DevStack
    tokens: dict[str, Any]
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30))

    def url(self, service: str) -> str:
        return self.stack.url_of(URL_OF[service])

    def token(self, who: str) -> str:
        if who.startswith("unit:"):
            return str(self.tokens["units"][who.removeprefix("unit:")])
        return str(self.tokens[who])

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        who: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> httpx.Response:
        """One request, retried while the service is down or not ready (up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        all_headers = {"Authorization": f"Bearer {self.token(who)}", **(headers or {})}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.client.request(
                    method,
                    self.url(service) + path,
                    json=body,
                    params=params,
                    headers=all_headers,
                )
                if response.status_code != 503:
                    response.extensions["attempt"] = attempt
                    return response
            except RETRYABLE:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {service}{path} kept failing for {timeout}s")
            await asyncio.sleep(0.2)

    async def until(
        self, probe: Callable[[], Any], *, timeout: float = 120, what: str = "condition"
    ) -> Any:
        """Poll an async probe until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            found = await probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.1)

    # --- the steps ---------------------------------------------------------------------

    async def file(self, body: dict[str, Any]) -> dict[str, Any]:
        """Step 1–2: an operator files a complaint (idempotent across restarts)."""
        key = str(uuid.uuid4())
        answer = await self.call(
            "POST",
            "intake",
            "/v1/complaints",
            "operator",
            body=body,
            headers={"Idempotency-Key": key},
        )
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    async def file_road_damage(
        self, content: str, *, phone: str, grid: str, name: str | None = None
    ) -> dict[str, Any]:
        """A phoned-in road-damage complaint in a grid (routed to the transport bureau)."""
        caller = {"phone": phone} if name is None else {"phone": phone, "name": name}
        return await self.file(
            {
                "channel": "phone",
                "kind": "complaint",
                "content": content,
                "category_code": "ROAD-DAMAGE",
                "caller": caller,
                "location": {"grid_code": grid},
            }
        )

    async def complaint(self, complaint_id: str) -> dict[str, Any]:
        answer = await self.call("GET", "intake", f"/v1/complaints/{complaint_id}", "operator")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def case_of(
        self, complaint_id: str, unit_id: str, *, round_no: int, timeout: float = 120
    ) -> dict[str, Any]:
        """Step 4: the case as it shows in the unit's own queue."""

        async def probe() -> dict[str, Any] | None:
            answer = await self.call(
                "GET",
                "department",
                "/v1/cases",
                f"unit:{unit_id}",
                params={"complaint_id": complaint_id},
            )
            assert answer.status_code == 200, answer.text
            items = [
                c for c in answer.json()["items"] if c["round"] == round_no and c["role"] == "lead"
            ]
            return items[0] if items else None

        found: dict[str, Any] = await self.until(
            probe, timeout=timeout, what=f"round {round_no} case of {complaint_id} for {unit_id}"
        )
        return found

    async def act(self, case: dict[str, Any], action: str, body: dict[str, Any]) -> dict[str, Any]:
        """A unit's action on its case; a 409 on a retry means the first try went through."""
        who = f"unit:{case['unit_id']}"
        answer = await self.call(
            "POST", "department", f"/v1/cases/{case['case_id']}/{action}", who, body=body
        )
        if answer.status_code == 409 and answer.extensions.get("attempt", 1) > 1:
            shown = await self.call("GET", "department", f"/v1/cases/{case['case_id']}", who)
            assert any(h["action"] == action for h in shown.json()["history"]), answer.text
            return dict(shown.json())
        assert answer.status_code == 200, f"{action}: {answer.text}"
        return dict(answer.json())

    async def handle(self, case: dict[str, Any], reply: str) -> None:
        """Sign for, contact the resident, reply."""
        await self.act(case, "accept", {})
        await self.act(case, "contact", {"method": "phone", "note": "已电话联系"})
        await self.act(case, "resolve", {"reply": reply, "result": "solved"})

    async def pending_return(self, case_id: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            answer = await self.call(
                "GET", "dispatch", "/v1/returns", "dispatcher", params={"limit": 200}
            )
            return next((r for r in answer.json()["items"] if r["case_id"] == case_id), None)

        found: dict[str, Any] = await self.until(probe, what=f"return of case {case_id}")
        return found

    async def decide_return(self, return_id: str, decision: str) -> dict[str, Any]:
        answer = await self.call(
            "POST",
            "dispatch",
            f"/v1/returns/{return_id}/decision",
            "dispatcher",
            body={"decision": decision, "note": "核实属实"},
        )
        if answer.status_code == 409 and answer.extensions.get("attempt", 1) > 1:
            return {"return_id": return_id}
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def review_of(self, complaint_id: str, round_no: int) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            answer = await self.call(
                "GET",
                "review",
                "/v1/reviews",
                "reviewer",
                params={"complaint_id": complaint_id, "status": "pending"},
            )
            assert answer.status_code == 200, answer.text
            return next((r for r in answer.json()["items"] if r["round"] == round_no), None)

        found: dict[str, Any] = await self.until(probe, what=f"review {round_no} of {complaint_id}")
        return found

    async def complete_review(self, review_id: str, answers: dict[str, Any]) -> None:
        answer = await self.call(
            "POST", "review", f"/v1/reviews/{review_id}", "reviewer", body=answers
        )
        if answer.status_code == 409 and answer.extensions.get("attempt", 1) > 1:
            return
        assert answer.status_code == 200, answer.text

    async def scorecard(self, period: str) -> dict[str, dict[str, Any]]:
        answer = await self.call(
            "GET",
            "metrics",
            "/v1/scorecards",
            "supervisor",
            params={"period": period, "level": "unit"},
        )
        assert answer.status_code == 200, answer.text
        return {row["key"]: row for row in answer.json()["items"]}


class StreamWatcher:
    """Follows one unit's SSE stream, reconnecting with Last-Event-ID; notes when cases show."""

    def __init__(self, platform: Platform, unit_id: str) -> None:
        self.platform = platform
        self.unit_id = unit_id
        self.first_seen: dict[str, float] = {}
        self.consultations: dict[str, list[str]] = {}  # id → statuses, in the order seen
        self.last_event_id: str | None = None
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        url = self.platform.url("department") + "/v1/cases/stream"
        token = self.platform.token(f"unit:{self.unit_id}")
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=60)) as client:
            while True:
                headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
                if self.last_event_id:
                    headers["Last-Event-ID"] = self.last_event_id
                try:
                    async with client.stream("GET", url, headers=headers) as response:
                        if response.status_code != 200:
                            raise httpx.TransportError(f"stream answered {response.status_code}")
                        await self._read(response)
                except RETRYABLE:
                    pass
                self.reconnects += 1
                await asyncio.sleep(0.3)

    async def _read(self, response: httpx.Response) -> None:
        event: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line == "":
                if event.get("event") == "case":
                    case = json.loads(event["data"])
                    self.first_seen.setdefault(case["case_id"], time.monotonic())
                elif event.get("event") == "consultation":
                    talk = json.loads(event["data"])
                    seen = self.consultations.setdefault(talk["consultation_id"], [])
                    if not seen or seen[-1] != talk["status"]:
                        seen.append(talk["status"])
                if "id" in event:
                    self.last_event_id = event["id"]
                event = {}
                continue
            name, _, value = line.partition(":")
            if name:
                event[name] = value.removeprefix(" ")
