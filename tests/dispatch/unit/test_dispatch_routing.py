"""Routing complaints to a lead unit and co-units by category and location."""

import pytest

from jiesu_dispatch.directory import Directory, Jurisdiction
from jiesu_dispatch.routing import (
    Contested,
    RouteDecision,
    RoutingRule,
    Unroutable,
    route,
    rule_from_dict,
    rules_from_seed,
    validate_rules,
)
from jiesu_dispatch.seed import load_seed

NOWHERE = Jurisdiction(None, None, None, None, None)
IN_S0101 = Jurisdiction("G01010101", "C010101", "S0101", "D01", "grid_code")
IN_S0201 = Jurisdiction("G02010101", "C020101", "S0201", "D02", "grid_code")
ONLY_D02 = Jurisdiction(None, None, None, "D02", "address")


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.from_seed(load_seed())


def _route(
    directory: Directory, category: str, where: Jurisdiction, rules: list[RoutingRule]
) -> RouteDecision | Contested | Unroutable:
    return route(category_code=category, jurisdiction=where, rules=rules, directory=directory)


def test_wildcard_rule_routes_to_its_unit(directory: Directory) -> None:
    rules = [RoutingRule("UTIL-HEATING", "*", "util-heat")]
    decision = _route(directory, "UTIL-HEATING", IN_S0101, rules)
    assert decision == RouteDecision("util-heat", (), rules[0])


def _lead(
    directory: Directory, category: str, where: Jurisdiction, rules: list[RoutingRule]
) -> str:
    decision = _route(directory, category, where, rules)
    assert isinstance(decision, RouteDecision), decision
    return decision.lead_unit_id


def test_street_rule_beats_district_rule_beats_wildcard(directory: Directory) -> None:
    rules = [
        RoutingRule("ENV-NOISE", "street:S0201", "dept-cg-d02"),
        RoutingRule("ENV-NOISE", "*", "dept-hj"),
        RoutingRule("ENV-NOISE", "district:D02", "gov-d02"),
    ]
    in_other_street = Jurisdiction(None, None, "S0202", "D02", "address")
    assert _lead(directory, "ENV-NOISE", IN_S0201, rules) == "dept-cg-d02"
    assert _lead(directory, "ENV-NOISE", in_other_street, rules) == "gov-d02"
    assert _lead(directory, "ENV-NOISE", IN_S0101, rules) == "dept-hj"


def test_placeholders_resolve_to_the_local_street_office_and_district(
    directory: Directory,
) -> None:
    rules = [RoutingRule("CITY-GARBAGE", "*", "@street", ("@district",))]
    decision = _route(directory, "CITY-GARBAGE", IN_S0201, rules)
    assert decision == RouteDecision("street-s0201", ("gov-d02",), rules[0])


def test_co_units_drop_the_lead_and_duplicates_keeping_order(directory: Directory) -> None:
    rules = [
        RoutingRule(
            "ENV-NOISE", "*", "street-s0101", ("dept-hj", "@street", "dept-cg-d01", "dept-hj")
        )
    ]
    decision = _route(directory, "ENV-NOISE", IN_S0101, rules)
    assert isinstance(decision, RouteDecision)
    assert decision.co_unit_ids == ("dept-hj", "dept-cg-d01")


def test_unknown_category_is_unroutable(directory: Directory) -> None:
    rules = [RoutingRule("NOPE", "*", "dept-hj")]
    assert _route(directory, "NOPE", IN_S0101, rules) == Unroutable("unknown_category")


def test_category_without_rules_is_unroutable(directory: Directory) -> None:
    rules = rules_from_seed(load_seed())
    assert _route(directory, "OTHER", IN_S0101, rules) == Unroutable("no_rule")


def test_rules_for_other_places_only_mean_no_rule(directory: Directory) -> None:
    rules = [RoutingRule("EDU-ENROLMENT", "district:D01", "dept-jy-d01")]
    assert _route(directory, "EDU-ENROLMENT", IN_S0201, rules) == Unroutable("no_rule")


def test_placeholder_lead_without_a_location_is_unlocated(directory: Directory) -> None:
    rules = [RoutingRule("CITY-GARBAGE", "*", "@street")]
    assert _route(directory, "CITY-GARBAGE", NOWHERE, rules) == Unroutable("unlocated")


def test_street_placeholder_with_only_a_district_known_is_unlocated(
    directory: Directory,
) -> None:
    rules = [RoutingRule("CITY-GARBAGE", "*", "@street")]
    assert _route(directory, "CITY-GARBAGE", ONLY_D02, rules) == Unroutable("unlocated")


def test_district_scoped_rules_without_a_location_are_unlocated(directory: Directory) -> None:
    rules = [RoutingRule("EDU-ENROLMENT", "district:D01", "dept-jy-d01")]
    assert _route(directory, "EDU-ENROLMENT", NOWHERE, rules) == Unroutable("unlocated")


def test_wildcard_rule_with_a_concrete_unit_routes_when_unlocated(directory: Directory) -> None:
    rules = [RoutingRule("UTIL-GAS-LEAK", "*", "util-gas", ("@street", "dept-ga"))]
    decision = _route(directory, "UTIL-GAS-LEAK", NOWHERE, rules)
    # The unresolvable @street co-unit is dropped rather than blocking an emergency.
    assert decision == RouteDecision("util-gas", ("dept-ga",), rules[0])


def test_seed_rules_send_a_gas_leak_to_the_gas_company_with_the_street(
    directory: Directory,
) -> None:
    decision = _route(directory, "UTIL-GAS-LEAK", IN_S0201, rules_from_seed(load_seed()))
    assert isinstance(decision, RouteDecision)
    assert (decision.lead_unit_id, decision.co_unit_ids) == ("util-gas", ("street-s0201",))


def test_rule_from_dict_reads_the_json_shape() -> None:
    rule = rule_from_dict({"category": "X", "scope": "street:S0101", "lead": "@street"})
    assert rule == RoutingRule("X", "street:S0101", "@street", ())


def test_valid_rules_have_no_problems(directory: Directory) -> None:
    rules = [RoutingRule("ENV-NOISE", "street:S0101", "@street", ("dept-hj", "@district"))]
    assert validate_rules(rules, directory) == []


def test_validation_reports_unknown_category_unit_and_scope(directory: Directory) -> None:
    rules = [
        RoutingRule("NOPE", "*", "dept-hj"),
        RoutingRule("ENV-NOISE", "*", "dept-missing", ("@nowhere",)),
        RoutingRule("ENV-NOISE", "province:P1", "dept-hj"),
        RoutingRule("ENV-NOISE", "street:S9999", "dept-hj"),
    ]
    problems = validate_rules(rules, directory)
    assert len(problems) == 5
    assert "rule 0" in problems[0] and "unknown category 'NOPE'" in problems[0]
    assert any("unknown unit 'dept-missing'" in p for p in problems)
    assert any("unknown unit '@nowhere'" in p for p in problems)
    assert any("unknown scope 'province:P1'" in p for p in problems)
    assert any("unknown street 'S9999'" in p for p in problems)


def test_validation_reports_duplicate_scopes_and_lead_as_co_unit(directory: Directory) -> None:
    rules = [
        RoutingRule("ENV-NOISE", "*", "dept-hj"),
        RoutingRule("ENV-NOISE", "*", "dept-hj", ("dept-hj",)),
    ]
    problems = validate_rules(rules, directory)
    assert len(problems) == 2
    assert all(p.startswith("rule 1") for p in problems)


def test_two_leads_at_the_narrowest_scope_are_contested(directory: Directory) -> None:
    rules = [
        RoutingRule("ENV-SMOKE", "*", "dept-hj"),
        RoutingRule("ENV-SMOKE", "street:S0101", "dept-cg-d01", ("@street",)),
        RoutingRule("ENV-SMOKE", "street:S0101", "dept-hj"),
    ]
    decision = _route(directory, "ENV-SMOKE", IN_S0101, rules)
    assert decision == Contested(("dept-cg-d01", "dept-hj"), (rules[1], rules[2]))


def test_a_tie_at_a_wider_scope_does_not_count_when_a_narrower_rule_matches(
    directory: Directory,
) -> None:
    rules = [
        RoutingRule("ENV-SMOKE", "*", "dept-hj"),
        RoutingRule("ENV-SMOKE", "*", "dept-cg-d01"),
        RoutingRule("ENV-SMOKE", "district:D01", "dept-cg-d01"),
    ]
    assert _lead(directory, "ENV-SMOKE", IN_S0101, rules) == "dept-cg-d01"
    assert isinstance(_route(directory, "ENV-SMOKE", IN_S0201, rules), Contested)


def test_rules_whose_leads_resolve_to_the_same_unit_are_no_tie(directory: Directory) -> None:
    rules = [
        RoutingRule("CITY-GARBAGE", "street:S0101", "@street"),
        RoutingRule("CITY-GARBAGE", "street:S0101", "street-s0101", ("dept-cg-d01",)),
    ]
    decision = _route(directory, "CITY-GARBAGE", IN_S0101, rules)
    assert decision == RouteDecision("street-s0101", (), rules[0])


def test_an_unresolvable_placeholder_does_not_make_a_tie(directory: Directory) -> None:
    rules = [
        RoutingRule("ENV-SMOKE", "*", "@street"),
        RoutingRule("ENV-SMOKE", "*", "dept-hj"),
    ]
    decision = _route(directory, "ENV-SMOKE", ONLY_D02, rules)
    assert decision == RouteDecision("dept-hj", (), rules[1])


def test_validation_accepts_two_leads_for_one_scope_but_not_the_same_lead_twice(
    directory: Directory,
) -> None:
    shared = [
        RoutingRule("ENV-SMOKE", "street:S0101", "dept-cg-d01"),
        RoutingRule("ENV-SMOKE", "street:S0101", "dept-hj"),
    ]
    assert validate_rules(shared, directory) == []
    assert len(validate_rules([*shared, shared[1]], directory)) == 1
