"""The knowledge base on a real database: versions, ownership, Chinese suggestions, answers."""

from __future__ import annotations

import httpx

from tests.intake.integration.conftest import bearer

ADMIN = bearer("admin")
OPERATOR = bearer("operator")
UNIT = bearer("unit_staff", "dept-rsj")
OTHER_UNIT = bearer("unit_staff", "dept-jt")

NEWBORN = {
    "title": "新生儿参加城乡居民医保如何办理",
    "body": "新生儿出生后九十日内，由监护人持出生医学证明和户口簿到户籍所在街道社保所办理参保登记，"
    "自出生之日起享受医保待遇。",
    "category_code": "social.insurance",
    "valid_from": "2026-01-01",
}
PARKING = {
    "title": "居住区停车收费标准",
    "body": "居住区地面停车位按月收费，具体标准以物业公示为准；占道停车由交通管理部门负责。",
    "category_code": "traffic.parking",
    "valid_from": "2026-01-01",
}


async def _create(
    client: httpx.AsyncClient, body: dict[str, object], headers: dict[str, str]
) -> dict:
    created = await client.post("/v1/articles", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_inquiry_text_suggests_the_matching_current_article_first(
    intake: httpx.AsyncClient,
) -> None:
    newborn = await _create(intake, NEWBORN, UNIT)
    await _create(intake, PARKING, ADMIN)
    await _create(
        intake,
        {
            **NEWBORN,
            "title": "旧版新生儿医保办理",
            "valid_until": "2020-12-31",
            "valid_from": "2020-01-01",
        },
        ADMIN,
    )
    answer = await intake.post(
        "/v1/articles/suggestions",
        json={"text": "请问我家宝宝刚出生，新生儿医保怎么办理？"},
        headers=OPERATOR,
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["article_id"] for i in items] == [newborn["article_id"]]  # expired one left out
    assert items[0]["version"] == 1 and items[0]["owner_unit_id"] == "dept-rsj"
    assert "新生儿" in answer.json()["words"]


async def test_a_revision_is_a_new_version_and_a_stale_one_is_refused(
    intake: httpx.AsyncClient,
) -> None:
    article = await _create(intake, NEWBORN, UNIT)
    url = f"/v1/articles/{article['article_id']}"
    revised = {**NEWBORN, "body": NEWBORN["body"] + "可在线上办理。", "version": 1}
    assert (await intake.put(url, json=revised, headers=OTHER_UNIT)).status_code == 403
    changed = await intake.put(url, json=revised, headers=UNIT)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    stale = await intake.put(url, json=revised, headers=ADMIN)
    assert stale.status_code == 409
    assert stale.json()["type"].endswith("article-version-stale")
    read = (await intake.get(url, headers=OPERATOR)).json()
    assert [v["version"] for v in read["versions"]] == [2, 1]
    assert read["versions"][1]["body"] == NEWBORN["body"]


async def test_an_inquiry_answered_from_an_article_records_it_and_its_version(
    intake: httpx.AsyncClient,
) -> None:
    article = await _create(intake, NEWBORN, ADMIN)
    filing = {
        "channel": "phone",
        "kind": "inquiry",
        "content": "新生儿医保在哪里办理？",
        "article_id": article["article_id"],
        "article_version": 1,
    }
    filed = await intake.post("/v1/complaints", json=filing, headers=OPERATOR)
    assert filed.status_code == 201, filed.text
    assert filed.json()["status"] == "answered"
    read = (await intake.get(filed.headers["Location"], headers=OPERATOR)).json()
    assert (read["article_id"], read["article_version"]) == (article["article_id"], 1)
    assert read["timeline"][0]["detail"]["answer"] == NEWBORN["body"]
    stale = await intake.post(
        "/v1/complaints", json={**filing, "article_version": 2}, headers=OPERATOR
    )
    assert stale.status_code == 409
    not_inquiry = await intake.post(
        "/v1/complaints", json={**filing, "kind": "complaint"}, headers=OPERATOR
    )
    assert not_inquiry.status_code == 422
