"""Routing: category x location -> lead unit and co-units, by the most specific matching rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jiesu_dispatch.directory import Directory, Jurisdiction

WILDCARD_SCOPE = "*"
STREET_PLACEHOLDER = "@street"
DISTRICT_PLACEHOLDER = "@district"
PLACEHOLDERS = (STREET_PLACEHOLDER, DISTRICT_PLACEHOLDER)

# Stable machine codes carried by Unroutable.reason (and by complaint.queued).
NO_RULE = "no_rule"
UNLOCATED = "unlocated"
UNKNOWN_CATEGORY = "unknown_category"


@dataclass(frozen=True)
class RoutingRule:
    category: str
    scope: str  # "*", "district:<code>" or "street:<code>"
    lead: str  # a unit id or a placeholder
    co_units: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteDecision:
    lead_unit_id: str
    co_unit_ids: tuple[str, ...]
    rule: RoutingRule


@dataclass(frozen=True)
class Contested:
    """Rules of the same, narrowest scope name different leads: the units decide together (会商)."""

    leads: tuple[str, ...]
    rules: tuple[RoutingRule, ...]


@dataclass(frozen=True)
class Unroutable:
    reason: str  # NO_RULE | UNLOCATED | UNKNOWN_CATEGORY


def route(
    *,
    category_code: str,
    jurisdiction: Jurisdiction,
    rules: Iterable[RoutingRule],
    directory: Directory,
) -> RouteDecision | Contested | Unroutable:
    """Pick the lead unit and co-units for a complaint, or say why it needs a human.

    When the narrowest matching rules name different leads, nobody is picked: the
    complaint goes to a joint consultation of those leads (``Contested``).
    """
    if category_code not in directory.categories:
        return Unroutable(UNKNOWN_CATEGORY)
    own_rules = [r for r in rules if r.category == category_code]
    if not own_rules:
        return Unroutable(NO_RULE)
    narrowest = narrowest_rules(own_rules, jurisdiction)
    if not narrowest:
        # Rules exist but all are scoped to places: without a location none can apply.
        return Unroutable(NO_RULE if jurisdiction.is_located else UNLOCATED)
    resolved = [(r, resolve_unit(r.lead, jurisdiction, directory)) for r in narrowest]
    usable = [(r, lead) for r, lead in resolved if lead is not None]
    if not usable:
        return Unroutable(UNLOCATED)
    leads = tuple(dict.fromkeys(lead for _, lead in usable))
    if len(leads) > 1:
        return Contested(leads, tuple(r for r, _ in usable))
    rule, lead = usable[0]
    return RouteDecision(lead, _co_units(rule, lead, jurisdiction, directory), rule)


def narrowest_rules(rules: Iterable[RoutingRule], jurisdiction: Jurisdiction) -> list[RoutingRule]:
    """The matching rules of the narrowest scope (street > district > "*"), in rule order."""
    ranked = [(rank, r) for r in rules if (rank := scope_rank(r.scope, jurisdiction)) is not None]
    if not ranked:
        return []
    top = max(rank for rank, _ in ranked)
    return [r for rank, r in ranked if rank == top]


def most_specific_rule(
    rules: Iterable[RoutingRule], jurisdiction: Jurisdiction
) -> RoutingRule | None:
    """The first matching rule of the narrowest scope."""
    narrowest = narrowest_rules(rules, jurisdiction)
    return narrowest[0] if narrowest else None


def scope_rank(scope: str, jurisdiction: Jurisdiction) -> int | None:
    """How specific a scope is when it covers the jurisdiction (higher is narrower), else None."""
    if scope == WILDCARD_SCOPE:
        return 0
    level, _, code = scope.partition(":")
    if level == "district" and code == jurisdiction.district_code:
        return 1
    if level == "street" and code == jurisdiction.street_code:
        return 2
    return None


def resolve_unit(ref: str, jurisdiction: Jurisdiction, directory: Directory) -> str | None:
    """A concrete unit id for a unit id or placeholder; None when the location is too vague."""
    if ref == STREET_PLACEHOLDER:
        code = jurisdiction.street_code
        return directory.street_office(code).unit_id if code else None
    if ref == DISTRICT_PLACEHOLDER:
        code = jurisdiction.district_code
        return directory.district_government(code).unit_id if code else None
    return ref


def _co_units(
    rule: RoutingRule, lead: str, jurisdiction: Jurisdiction, directory: Directory
) -> tuple[str, ...]:
    # A co-unit placeholder that cannot be resolved is dropped: the lead can still act,
    # and the dispatcher may add co-units later.
    resolved = (resolve_unit(ref, jurisdiction, directory) for ref in rule.co_units)
    unique = dict.fromkeys(u for u in resolved if u is not None and u != lead)
    return tuple(unique)


def rules_from_seed(seed: Mapping[str, Any]) -> list[RoutingRule]:
    """The routing rules of a seed-shaped dict (also the body shape of PUT /v1/routing-rules)."""
    return [rule_from_dict(r) for r in seed["routing_rules"]]


def rule_from_dict(data: Mapping[str, Any]) -> RoutingRule:
    """One rule from its JSON form."""
    return RoutingRule(
        category=data["category"],
        scope=data.get("scope", WILDCARD_SCOPE),
        lead=data["lead"],
        co_units=tuple(data.get("co_units", ())),
    )


def validate_rules(rules: Iterable[RoutingRule], directory: Directory) -> list[str]:
    """Human-readable problems with a rule set; empty when it can be saved."""
    problems: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for index, rule in enumerate(rules):
        label = f"rule {index} ({rule.category} @ {rule.scope})"
        problems += [f"{label}: {p}" for p in _rule_problems(rule, directory)]
        # Two leads for one category and scope is allowed on purpose: shared ownership,
        # settled case by case in a consultation. The same lead twice is a mistake.
        key = (rule.category, rule.scope, rule.lead)
        if key in seen:
            problems.append(f"{label}: duplicates an earlier rule for this category and scope")
        seen.add(key)
    return problems


def _rule_problems(rule: RoutingRule, directory: Directory) -> list[str]:
    problems: list[str] = []
    if rule.category not in directory.categories:
        problems.append(f"unknown category {rule.category!r}")
    scope_problem = _scope_problem(rule.scope, directory)
    if scope_problem:
        problems.append(scope_problem)
    for ref in (rule.lead, *rule.co_units):
        if ref not in directory.units and ref not in PLACEHOLDERS:
            problems.append(f"unknown unit {ref!r}")
    if rule.lead in rule.co_units:
        problems.append(f"lead {rule.lead!r} is also listed as a co-unit")
    return problems


def _scope_problem(scope: str, directory: Directory) -> str | None:
    if scope == WILDCARD_SCOPE:
        return None
    level, _, code = scope.partition(":")
    known = {"district": set(directory.districts), "street": set(directory.streets)}.get(level)
    if known is None:
        return f"unknown scope {scope!r} (expected '*', 'district:<code>' or 'street:<code>')"
    if code not in known:
        return f"unknown {level} {code!r} in scope {scope!r}"
    return None


FALLBACK_SCOPE = "fallback"


def reroute(
    *,
    category_code: str,
    jurisdiction: Jurisdiction,
    rules: Iterable[RoutingRule],
    directory: Directory,
    exclude: frozenset[str],
) -> RouteDecision | Unroutable:
    """Route again without the units that gave the complaint back (approved returns).

    The matching rules are tried from the narrowest scope out; when each one's lead is
    excluded, the district government takes the case (兜底).
    """
    matching = [
        (rank, r)
        for r in rules
        if r.category == category_code and (rank := scope_rank(r.scope, jurisdiction)) is not None
    ]
    for _, rule in sorted(matching, key=lambda pair: -pair[0]):
        lead = resolve_unit(rule.lead, jurisdiction, directory)
        if lead is not None and lead not in exclude:
            co_units = tuple(
                u for u in _co_units(rule, lead, jurisdiction, directory) if u not in exclude
            )
            return RouteDecision(lead, co_units, rule)
    district = jurisdiction.district_code
    if district is None:
        return Unroutable(UNLOCATED)
    fallback = directory.district_government(district).unit_id
    if fallback in exclude:
        return Unroutable(NO_RULE)
    rule = RoutingRule(category=category_code, scope=FALLBACK_SCOPE, lead=DISTRICT_PLACEHOLDER)
    return RouteDecision(fallback, (), rule)
