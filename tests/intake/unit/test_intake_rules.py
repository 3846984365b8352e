"""Intake's pure rules: tickets, masking, PII vault, duplicates, the status projection."""

import base64
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr

from jiesu_common.contracts.events import ComplaintStatus as S
from jiesu_intake.domain import (
    DuplicateCandidate,
    StatusPosition,
    advance,
    distance_m,
    find_duplicate,
)
from jiesu_intake.pii import PiiVault, mask_name, mask_phone
from jiesu_intake.settings import PiiSettings

KEY = base64.b64encode(b"k" * 32).decode()
VAULT = PiiVault(PiiSettings(encryption_key=SecretStr(KEY), hash_key=SecretStr(KEY)))


def test_phone_is_masked_to_first_three_and_last_four() -> None:
    assert mask_phone("138-1234-5678") == "138****5678"
    assert mask_phone("+86 13812345678") == "138****5678"
    assert mask_name("张三丰") == "张**"


def test_encrypted_phone_decrypts_only_with_its_complaint_context() -> None:
    a, b = uuid.uuid4().bytes, uuid.uuid4().bytes
    blob = VAULT.encrypt("13812345678", context=a)
    assert blob is not None and b"13812345678" not in blob
    assert VAULT.decrypt(blob, context=a) == "13812345678"
    with pytest.raises(InvalidTag):
        VAULT.decrypt(blob, context=b)


def test_phone_hash_ignores_formatting() -> None:
    assert VAULT.phone_hash("+86 138 1234 5678") == VAULT.phone_hash("13812345678")
    assert VAULT.phone_hash("13812345678") != VAULT.phone_hash("13812345679")


def _cand(**kw: object) -> DuplicateCandidate:
    base = dict(
        complaint_id=uuid.uuid4(),
        ticket_no="20261123000001",
        master_id=None,
        text="小区楼下烧烤店每天半夜噪音很大",
        phone_hash=None,
        category_code=None,
        lat=None,
        lon=None,
        created_at=datetime.now(UTC),
    )
    base.update(kw)
    return DuplicateCandidate(**base)  # type: ignore[arg-type]


def _find(cands: list[DuplicateCandidate], **kw: object):  # type: ignore[no-untyped-def]
    args = dict(
        text="楼下烧烤店半夜噪音很大，每天都这样",
        phone_hash=None,
        category_code=None,
        lat=None,
        lon=None,
        candidates=cands,
        radius_m=200.0,
        min_similarity=0.55,
    )
    args.update(kw)
    return find_duplicate(**args)  # type: ignore[arg-type]


def test_same_caller_with_similar_text_is_a_duplicate() -> None:
    cand = _cand(phone_hash="h1")
    match = _find([cand], phone_hash="h1")
    assert match is not None and match.master_id == cand.complaint_id
    assert match.reason == "same_caller"


def test_same_caller_with_a_different_problem_is_not_a_duplicate() -> None:
    assert _find([_cand(phone_hash="h1")], phone_hash="h1", text="孩子入学报名材料怎么准备") is None


def test_same_category_nearby_is_a_duplicate_but_far_away_is_not() -> None:
    near = _cand(category_code="ENV-NOISE", lat=39.9000, lon=116.4000)
    assert distance_m(39.9000, 116.4000, 39.9010, 116.4000) < 200
    match = _find([near], category_code="ENV-NOISE", lat=39.9010, lon=116.4000)
    assert match is not None and match.reason == "nearby_same_category"
    assert _find([near], category_code="ENV-NOISE", lat=39.9100, lon=116.4000) is None


def test_duplicate_of_a_duplicate_links_to_the_master() -> None:
    master = uuid.uuid4()
    match = _find([_cand(phone_hash="h", master_id=master)], phone_hash="h")
    assert match is not None and match.master_id == master


@pytest.mark.parametrize(
    ("events", "final"),
    [
        ([(S.assigned, 1), (S.accepted, 1), (S.resolved, 1)], (S.resolved, 1)),
        ([(S.resolved, 1), (S.assigned, 1), (S.accepted, 1)], (S.resolved, 1)),
        ([(S.closed, 1), (S.assigned, 2), (S.resolved, 1)], (S.assigned, 2)),
        ([(S.assigned, 2), (S.queued, 1), (S.withdrawn, 0)], (S.withdrawn, 0)),
        # 会商: shown while open; the decision's assignment of the same round moves past it
        ([(S.consultation, 1), (S.assigned, 1)], (S.assigned, 1)),
        ([(S.assigned, 1), (S.accepted, 1), (S.consultation, 2)], (S.consultation, 2)),
        ([(S.consultation, 2), (S.accepted, 1), (S.assigned, 2)], (S.assigned, 2)),
    ],
)
def test_status_projection_is_order_independent(events, final) -> None:  # type: ignore[no-untyped-def]
    pos = StatusPosition(S.received, 0)
    for status, rnd in events:
        pos = advance(pos, StatusPosition(status, rnd))
    assert (pos.status, pos.round) == final
    back = StatusPosition(S.received, 0)
    for status, rnd in reversed(events):
        back = advance(back, StatusPosition(status, rnd))
    assert back == pos
