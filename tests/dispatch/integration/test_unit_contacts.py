"""Units' contacts in dispatch's directory: seeded, in clear only for metrics, edited by admins."""

import httpx
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.settings import AuthSettings

from .conftest import SECRET, bearer


def service(name: str) -> dict[str, str]:
    auth = AuthSettings(jwt_secret=SecretStr(SECRET))
    return {"Authorization": f"Bearer {mint_token(auth, role='service', service=name)}"}


async def test_metrics_reads_a_units_seeded_contacts_in_clear_and_people_see_them_masked(
    dispatch: httpx.AsyncClient,
) -> None:
    internal = await dispatch.get("/v1/units/dept-jt/contacts", headers=service("metrics"))
    assert internal.status_code == 200, internal.text
    by_role = {c["role"]: c for c in internal.json()["contacts"]}
    assert set(by_role) == {"duty", "head", "district_supervisor"}
    duty = by_role["duty"]
    assert duty["name"] == "临江市交通委员会值班室"
    assert duty["phone"].isdigit() and len(duty["phone"]) == 11
    admin = await dispatch.get("/v1/units/dept-jt/contacts", headers=bearer("admin"))
    masked = {c["role"]: c for c in admin.json()["contacts"]}
    assert masked["duty"]["phone"] == f"{duty['phone'][:3]}****{duty['phone'][-4:]}"
    assert duty["phone"] not in admin.text and duty["email"] not in admin.text


async def test_only_admins_supervisors_and_metrics_may_read_contacts(
    dispatch: httpx.AsyncClient,
) -> None:
    for headers in (bearer("dispatcher"), bearer("unit_staff", "dept-jt"), service("department")):
        answer = await dispatch.get("/v1/units/dept-jt/contacts", headers=headers)
        assert answer.status_code == 403, answer.text
    assert (await dispatch.get("/v1/units/dept-jt/contacts")).status_code == 401
    unknown = await dispatch.get("/v1/units/no-such-unit/contacts", headers=bearer("supervisor"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_an_admin_replaces_a_units_contacts_and_bad_ones_change_nothing(
    dispatch: httpx.AsyncClient,
) -> None:
    bad = await dispatch.put(
        "/v1/units/dept-hj/contacts",
        headers=bearer("admin"),
        json={"contacts": [{"role": "duty", "name": "甲"}, {"role": "duty", "name": "乙"}]},
    )
    assert bad.status_code == 422
    put = await dispatch.put(
        "/v1/units/dept-hj/contacts",
        headers=bearer("admin"),
        json={"contacts": [{"role": "duty", "name": "环保局夜班", "phone": "13700001111"}]},
    )
    assert put.status_code == 200, put.text
    assert put.json()["contacts"][0]["phone"] == "137****1111"
    read = await dispatch.get("/v1/units/dept-hj/contacts", headers=service("metrics"))
    assert [(c["role"], c["name"], c["phone"]) for c in read.json()["contacts"]] == [
        ("duty", "环保局夜班", "13700001111")
    ]
    refused = await dispatch.put(
        "/v1/units/dept-hj/contacts", headers=bearer("supervisor"), json={"contacts": []}
    )
    assert refused.status_code == 403
