"""Intake's caller reveal names its callers: department-response and callback-review only."""

import httpx
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.settings import AuthSettings

from .conftest import SECRET, bearer
from .test_filing import BODY, OPERATOR


def service(name: str) -> dict[str, str]:
    auth = AuthSettings(jwt_secret=SecretStr(SECRET))
    return {"Authorization": f"Bearer {mint_token(auth, role='service', service=name)}"}


async def test_only_department_and_review_may_read_a_residents_number(
    intake: httpx.AsyncClient,
) -> None:
    filed = (await intake.post("/v1/complaints", json=BODY, headers=OPERATOR)).json()
    path = f"/internal/v1/complaints/{filed['complaint_id']}/caller"
    for allowed in ("department", "review"):
        answer = await intake.get(path, headers={**service(allowed), "X-Jiesu-Purpose": "test"})
        assert answer.status_code == 200 and answer.json()["phone"] == "13812345678"
    for refused in (service("metrics"), service("dispatch"), bearer("admin"), bearer("operator")):
        answer = await intake.get(path, headers=refused)
        assert answer.status_code == 403 and "1381234" not in answer.text
    assert (await intake.get(path)).status_code == 401
