"""Keyword classification of complaint texts."""

import pytest

from jiesu_dispatch.classifier import classify
from jiesu_dispatch.directory import Category, Directory
from jiesu_dispatch.seed import load_seed


@pytest.fixture(scope="module")
def categories() -> list[Category]:
    return list(Directory.from_seed(load_seed()).categories.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("小区楼下烧烤店每天半夜噪音很大", "ENV-NOISE"),
        ("已经停水两天了", "UTIL-WATER-OUTAGE"),
        ("闻到很浓的煤气味，怀疑燃气泄漏", "UTIL-GAS-LEAK"),
        ("家里暖气不热，室温只有十五度", "UTIL-HEATING"),
        ("公司拖欠工资三个月了，老板不接电话", "LABOR-WAGE"),
        ("物业公司不管电梯维修，物业费照收", "HOUSE-PROPERTY"),
        ("小区里有人私搭乱建，楼顶加盖", "CITY-ILLEGAL-BUILD"),
        ("门口的下水道堵塞，污水外溢", "SEWER-BLOCK"),
        ("这个路口的红绿灯坏了", "TRAFFIC-SIGNAL"),
        ("工地渣土车经过时尘土飞扬", "ENV-DUST"),
        ("路灯不亮好几天了", "CITY-STREETLIGHT"),
    ],
)
def test_realistic_complaints_get_their_category(
    categories: list[Category], text: str, expected: str
) -> None:
    result = classify(text, categories)
    assert result.category_code == expected
    assert result.confidence >= 0.5
    assert result.candidates[0][0] == expected


def test_gibberish_is_left_for_a_human(categories: list[Category]) -> None:
    result = classify("asdf qwer 啊啊啊", categories)
    assert result.category_code is None
    assert result.confidence == 0.0
    assert result.candidates == ()


def test_two_equally_strong_categories_are_left_for_a_human(categories: list[Category]) -> None:
    result = classify("停水停电", categories)
    assert result.category_code is None
    assert result.confidence == 0.0
    assert {code for code, _ in result.candidates} == {"UTIL-WATER-OUTAGE", "UTIL-POWER-OUTAGE"}


def test_close_runner_up_lowers_confidence(categories: list[Category]) -> None:
    clear = classify("已经停水两天了", categories)
    contested = classify("楼下有人摆摊还乱停车", categories)
    assert contested.category_code is None
    assert contested.confidence < clear.confidence


def test_more_evidence_raises_confidence(categories: list[Category]) -> None:
    weak = classify("停水", categories)
    strong = classify("停水了，水龙头不出水，自来水公司电话打不通", categories)
    assert strong.confidence > weak.confidence


def test_min_confidence_decides_whether_a_guess_is_made(categories: list[Category]) -> None:
    text = "已经停水两天了"
    assert classify(text, categories, min_confidence=0.9).category_code is None
    assert classify(text, categories, min_confidence=0.1).category_code == "UTIL-WATER-OUTAGE"


def test_candidates_are_at_most_three_best_first(categories: list[Category]) -> None:
    result = classify("物业不管楼下乱停车、摆摊和垃圾堆放，还乱收费", categories)
    shares = [share for _, share in result.candidates]
    assert 1 <= len(result.candidates) <= 3
    assert shares == sorted(shares, reverse=True)
    assert all(0.0 < share <= 1.0 for share in shares)


def test_full_width_and_spaced_text_still_matches(categories: list[Category]) -> None:
    assert classify("停 水 了！！", categories).category_code == "UTIL-WATER-OUTAGE"


def test_category_name_itself_counts_as_a_keyword() -> None:
    only = Category("X-1", "井盖缺失", "城市管理", "general", ("无关词",), "")
    assert classify("路口井盖缺失很危险", [only]).category_code == "X-1"


def test_longer_keyword_outweighs_a_shorter_one() -> None:
    short = Category("SHORT", "甲", "g", "general", ("漏水",), "")
    long = Category("LONG", "乙", "g", "general", ("屋顶漏雨严重",), "")
    result = classify("屋顶漏雨严重，厨房也漏水", [short, long])
    assert result.candidates[0][0] == "LONG"


def test_classification_is_deterministic(categories: list[Category]) -> None:
    text = "楼下有人摆摊还乱停车"
    assert classify(text, categories) == classify(text, list(reversed(categories)))
