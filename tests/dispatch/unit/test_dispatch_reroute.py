"""Re-routing after an approved return never goes back to a unit that returned it."""

from jiesu_dispatch.directory import Directory
from jiesu_dispatch.routing import RouteDecision, Unroutable, reroute, rules_from_seed
from jiesu_dispatch.seed import load_seed

SEED = load_seed()
DIRECTORY = Directory.from_seed(SEED)
RULES = rules_from_seed(SEED)


def located(street: str) -> object:
    return DIRECTORY.locate(address=next(s["name"] for s in SEED["streets"] if s["code"] == street))


def test_the_next_matching_rule_leads_when_the_narrowest_ones_lead_returned() -> None:
    where = located("S0102")  # CITY-GARBAGE: street rule → dept-cg-d01, "*" rule → street office
    decision = reroute(
        category_code="CITY-GARBAGE",
        jurisdiction=where,  # type: ignore[arg-type]
        rules=RULES,
        directory=DIRECTORY,
        exclude=frozenset({"dept-cg-d01"}),
    )
    assert isinstance(decision, RouteDecision)
    assert decision.lead_unit_id == "street-s0102"
    assert "dept-cg-d01" not in decision.co_unit_ids


def test_the_district_government_takes_it_when_every_rule_is_exhausted() -> None:
    where = located("S0201")
    decision = reroute(
        category_code="ROAD-DAMAGE",
        jurisdiction=where,  # type: ignore[arg-type]
        rules=RULES,
        directory=DIRECTORY,
        exclude=frozenset({"dept-jt"}),
    )
    assert isinstance(decision, RouteDecision)
    assert decision.lead_unit_id == "gov-d02"
    assert decision.rule.scope == "fallback"


def test_a_human_decides_when_the_fallback_returned_it_too() -> None:
    where = located("S0201")
    decision = reroute(
        category_code="ROAD-DAMAGE",
        jurisdiction=where,  # type: ignore[arg-type]
        rules=RULES,
        directory=DIRECTORY,
        exclude=frozenset({"dept-jt", "gov-d02"}),
    )
    assert isinstance(decision, Unroutable)
