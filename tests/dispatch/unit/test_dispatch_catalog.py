"""The category catalog dispatch publishes over HTTP (read by intake's Open311 server)."""

import httpx
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.settings import AuthSettings
from jiesu_dispatch.main import create_app
from jiesu_dispatch.settings import DispatchSettings

SECRET = "dispatch-catalog-secret-0123456789abcdef"


async def _categories(settings: DispatchSettings) -> dict[str, dict[str, object]]:
    token = mint_token(AuthSettings(jwt_secret=SecretStr(SECRET)), role="operator")
    # The catalog is the in-memory directory: no database or broker is touched.
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as client:
        answer = await client.get("/v1/categories", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    return {c["code"]: c for c in answer.json()["items"]}


async def test_categories_carry_their_questions_and_effective_clocks() -> None:
    settings = DispatchSettings(
        auth={"jwt_secret": SECRET}, clocks={"ENV-NOISE": {"resolve_working_days": 5}}
    )
    categories = await _categories(settings)
    noise = categories["ENV-NOISE"]
    assert [a["code"] for a in noise["attributes"]] == ["noise_source", "time_of_day"]
    assert noise["attributes"][0]["values"][0] == {
        "key": "construction",
        "name": "建筑施工 / construction",
    }
    assert noise["clocks"] == {
        "accept_minutes": 120,
        "contact_minutes": 1440,
        "resolve_minutes": 7 * 1440,
        "resolve_working_days": 5,
    }
    assert categories["UTIL-GAS-LEAK"]["clocks"]["resolve_minutes"] == 120
    assert categories["UTIL-GAS-LEAK"]["clocks"]["resolve_working_days"] is None
    assert categories["CITY-GARBAGE"]["attributes"] == []


async def test_calendar_day_clocks_publish_no_working_day_count() -> None:
    categories = await _categories(
        DispatchSettings(auth={"jwt_secret": SECRET}, working_days=False)
    )
    assert categories["HOUSE-PROPERTY"]["clocks"]["resolve_working_days"] is None
    assert categories["HOUSE-PROPERTY"]["clocks"]["resolve_minutes"] == 15 * 1440
