"""The packaged demo city is internally consistent and fully routable (except OTHER)."""

from itertools import combinations
from typing import Any

import pytest
from shapely.geometry import box, shape
from shapely.ops import unary_union

from jiesu_dispatch.directory import Directory
from jiesu_dispatch.routing import (
    Contested,
    RouteDecision,
    Unroutable,
    route,
    rules_from_seed,
    validate_rules,
)
from jiesu_dispatch.seed import load_seed

CITY_BOX = box(116.30, 39.85, 116.50, 39.95)
DISTRICT_BOXES = {
    "D01": box(116.30, 39.85, 116.40, 39.95),
    "D02": box(116.40, 39.85, 116.50, 39.95),
}


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return load_seed()


@pytest.fixture(scope="module")
def directory(seed: dict[str, Any]) -> Directory:
    return Directory.from_seed(seed)


def test_seed_has_the_promised_size(seed: dict[str, Any]) -> None:
    assert seed["version"]
    assert len(seed["districts"]) == 2
    assert len(seed["streets"]) >= 4
    assert len(seed["communities"]) >= 8
    assert len(seed["grids"]["features"]) >= 16
    assert len(seed["units"]) >= 15
    assert len(seed["categories"]) >= 25


def test_load_seed_returns_an_independent_copy_each_time() -> None:
    first = load_seed()
    first["districts"].clear()
    assert len(load_seed()["districts"]) == 2


def test_categories_cover_every_sla_class_in_the_required_numbers(seed: dict[str, Any]) -> None:
    classes = [c["sla_class"] for c in seed["categories"]]
    assert classes.count("emergency") >= 2
    assert classes.count("utility") >= 4
    assert classes.count("complex") >= 2
    assert set(classes) <= {"emergency", "utility", "general", "complex"}
    assert all(5 <= len(c["keywords"]) <= 12 for c in seed["categories"])


def test_codes_and_unit_ids_are_unique(seed: dict[str, Any]) -> None:
    for key, field in [("units", "unit_id"), ("categories", "code"), ("streets", "code")]:
        values = [item[field] for item in seed[key]]
        assert len(values) == len(set(values)), key
    grid_codes = [f["properties"]["grid_code"] for f in seed["grids"]["features"]]
    assert len(grid_codes) == len(set(grid_codes))


def test_every_referenced_unit_and_place_exists(directory: Directory) -> None:
    for district in directory.districts.values():
        assert directory.district_government(district.code).kind == "district_government"
    for street in directory.streets.values():
        assert street.district in directory.districts
        assert directory.street_office(street.code).street == street.code
    for community in directory.communities.values():
        assert community.street in directory.streets
    for grid in directory.grids.values():
        assert grid.community in directory.communities


def test_community_addresses_are_unique_and_never_contain_each_other(seed: dict[str, Any]) -> None:
    names = [a for c in seed["communities"] for a in c["addresses"]]
    assert len(names) == len(set(names))
    for a, b in combinations(names, 2):
        assert a not in b and b not in a, (a, b)


def test_grids_tile_the_city_box_without_overlap(seed: dict[str, Any]) -> None:
    polygons = [shape(f["geometry"]) for f in seed["grids"]["features"]]
    assert all(p.is_valid and p.exterior.is_closed for p in polygons)
    assert unary_union(polygons).symmetric_difference(CITY_BOX).area < 1e-12
    assert sum(p.area for p in polygons) == pytest.approx(CITY_BOX.area)


def test_each_grid_lies_in_its_districts_half(seed: dict[str, Any], directory: Directory) -> None:
    for feature in seed["grids"]["features"]:
        where = directory.locate(grid_code=feature["properties"]["grid_code"])
        assert DISTRICT_BOXES[where.district_code or ""].covers(shape(feature["geometry"]))


def test_seed_rules_are_valid(seed: dict[str, Any], directory: Directory) -> None:
    assert validate_rules(rules_from_seed(seed), directory) == []


# The demo's one shared responsibility: restaurant smoke in 柳荫街道 (S0101) is claimed by
# both the district's city management and the city's environment bureau, case by case.
SHARED = ("ENV-SMOKE", "S0101")


def test_every_category_but_other_routes_in_every_grid(
    seed: dict[str, Any], directory: Directory
) -> None:
    rules = rules_from_seed(seed)
    for grid_code in directory.grids:
        where = directory.locate(grid_code=grid_code)
        for code in directory.categories:
            decision = route(
                category_code=code, jurisdiction=where, rules=rules, directory=directory
            )
            if code == "OTHER":
                assert decision == Unroutable("no_rule")
            elif (code, where.street_code) == SHARED:
                assert isinstance(decision, Contested)
                assert decision.leads == ("dept-cg-d01", "dept-hj")
            else:
                assert isinstance(decision, RouteDecision), (code, grid_code)
                assert decision.lead_unit_id in directory.units


def test_seed_has_street_overrides_and_co_units(seed: dict[str, Any]) -> None:
    rules = rules_from_seed(seed)
    assert sum(r.scope.startswith("street:") for r in rules) >= 2
    assert sum(bool(r.co_units) for r in rules) >= 3


ATTRIBUTE_DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


def test_category_questions_are_well_formed_open311_attributes(directory: Directory) -> None:
    asked = [c for c in directory.categories.values() if c.attributes]
    assert len(asked) >= 4
    for category in asked:
        codes = [a.code for a in category.attributes]
        orders = [a.order for a in category.attributes]
        assert len(codes) == len(set(codes)) and len(orders) == len(set(orders)), category.code
        for attribute in category.attributes:
            assert attribute.datatype in ATTRIBUTE_DATATYPES and attribute.order >= 1
            listed = attribute.datatype.endswith("valuelist")
            assert bool(attribute.values) == listed, (category.code, attribute.code)
            keys = [v.key for v in attribute.values]
            assert len(keys) == len(set(keys))
