"""Locating complaints in the jurisdiction hierarchy."""

import pytest

from jiesu_dispatch.directory import Directory, Jurisdiction
from jiesu_dispatch.seed import load_seed


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.from_seed(load_seed())


def test_point_inside_a_grid_resolves_the_whole_hierarchy(directory: Directory) -> None:
    where = directory.locate(lat=39.86, lon=116.31)
    assert where == Jurisdiction("G01010101", "C010101", "S0101", "D01", "point")


def test_point_in_the_east_half_is_in_the_second_district(directory: Directory) -> None:
    where = directory.locate(lat=39.94, lon=116.49)
    assert (where.district_code, where.street_code, where.method) == ("D02", "S0202", "point")


def test_point_on_a_shared_edge_is_located_deterministically(directory: Directory) -> None:
    first = directory.locate(lat=39.90, lon=116.40)
    assert first.grid_code is not None
    assert all(directory.locate(lat=39.90, lon=116.40) == first for _ in range(5))


def test_point_outside_the_city_falls_back_to_the_address(directory: Directory) -> None:
    where = directory.locate(lat=31.23, lon=121.47, address="望湖区春晖街18号")
    assert (where.community_code, where.method) == ("C020202", "address")


def test_point_outside_the_city_without_address_is_unlocated(directory: Directory) -> None:
    where = directory.locate(lat=31.23, lon=121.47)
    assert where == Jurisdiction(None, None, None, None, None)
    assert not where.is_located


def test_valid_grid_code_beats_the_point(directory: Directory) -> None:
    where = directory.locate(grid_code="G01010102", lat=39.94, lon=116.49)
    assert where == Jurisdiction("G01010102", "C010101", "S0101", "D01", "grid_code")


def test_unknown_grid_code_is_ignored_in_favour_of_the_point(directory: Directory) -> None:
    where = directory.locate(grid_code="G99999999", lat=39.86, lon=116.31)
    assert (where.grid_code, where.method) == ("G01010101", "point")


def test_address_with_an_estate_name_finds_its_community(directory: Directory) -> None:
    where = directory.locate(address="清河区泉水路碧水湾小区3号楼2单元")
    assert where == Jurisdiction(None, "C010202", "S0102", "D01", "address")


def test_address_prefers_the_longest_community_name(directory: Directory) -> None:
    # "海棠湾小区" (C020202) is longer than "杏林路" (C010101), so it is the better match.
    where = directory.locate(address="杏林路口往东的海棠湾小区")
    assert where.community_code == "C020202"


def test_address_community_name_counts_as_a_community_match(directory: Directory) -> None:
    assert directory.locate(address="白鹭社区居委会旁").community_code == "C020201"


def test_address_with_only_a_street_name_locates_the_street(directory: Directory) -> None:
    where = directory.locate(address="石桥街道某胡同")
    assert where == Jurisdiction(None, None, "S0102", "D01", "address")


def test_address_with_only_a_district_name_locates_the_district(directory: Directory) -> None:
    where = directory.locate(address="望湖区某处")
    assert where == Jurisdiction(None, None, None, "D02", "address")
    assert where.is_located


def test_unknown_address_is_unlocated(directory: Directory) -> None:
    assert directory.locate(address="火星基地一号").method is None


def test_nothing_given_is_unlocated(directory: Directory) -> None:
    assert directory.locate() == Jurisdiction(None, None, None, None, None)


def test_fallback_units_are_found_by_code(directory: Directory) -> None:
    assert directory.district_government("D02").unit_id == "gov-d02"
    assert directory.street_office("S0201").unit_id == "street-s0201"
    with pytest.raises(KeyError):
        directory.street_office("S9999")


def test_categories_and_units_are_typed_records(directory: Directory) -> None:
    noise = directory.categories["ENV-NOISE"]
    assert noise.name == "噪声扰民"
    assert isinstance(noise.keywords, tuple)
    assert directory.units["util-water"].kind == "utility"
    assert directory.units["util-water"].district is None
