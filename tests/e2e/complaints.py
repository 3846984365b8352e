"""Complaints to file in end-to-end tests, with the lead unit the seeded rules give them."""

import random
from typing import Any

from shapely.geometry import shape

from jiesu_dispatch.seed import load_seed

SEED = load_seed()


def expected_lead(category: str, street: str) -> str | None:
    """The seeded rules read independently: street scope beats district beats "*"."""
    district = next(s["district"] for s in SEED["streets"] if s["code"] == street)
    rules = [r for r in SEED["routing_rules"] if r["category"] == category]
    for scope in (f"street:{street}", f"district:{district}", "*"):
        for rule in rules:
            if rule["scope"] == scope:
                assert not is_shared(category, street), "a shared responsibility has no one lead"
                lead = rule["lead"]
                if lead == "@street":
                    return next(s["unit_id"] for s in SEED["streets"] if s["code"] == street)
                if lead == "@district":
                    return next(d["unit_id"] for d in SEED["districts"] if d["code"] == district)
                return str(lead)
    return None


def is_shared(category: str, street: str) -> bool:
    """Two rules of the same narrowest scope with different leads: a consultation decides."""
    district = next(s["district"] for s in SEED["streets"] if s["code"] == street)
    rules = [r for r in SEED["routing_rules"] if r["category"] == category]
    for scope in (f"street:{street}", f"district:{district}", "*"):
        leads = {r["lead"] for r in rules if r["scope"] == scope}
        if leads:
            return len(leads) > 1
    return False


def places(coordinates: bool = True) -> list[tuple[dict[str, Any], str]]:
    """(location body, street code) for every grid: by point, by grid code, by address."""
    street_of = {c["code"]: c["street"] for c in SEED["communities"]}
    found = []
    for n, feature in enumerate(SEED["grids"]["features"]):
        props = feature["properties"]
        point = shape(feature["geometry"]).representative_point()
        street = street_of[props["community"]]
        if n % 3 == 0 and coordinates:
            found.append(({"lat": point.y, "lon": point.x}, street))
        elif n % 3 in (0, 1):
            found.append(({"grid_code": props["grid_code"]}, street))
        else:
            community = next(c for c in SEED["communities"] if c["code"] == props["community"])
            found.append(({"address": community["addresses"][0] + "12号"}, street))
    return found


def plan(count: int, coordinates: bool = True) -> list[tuple[dict[str, Any], str | None]]:
    rng = random.Random(12345)
    spots = places(coordinates)
    categories = [c for c in SEED["categories"]]
    plan = []
    for n in range(count):
        location, street = spots[n % len(spots)]
        category = categories[n % len(categories)]
        if is_shared(category["code"], street):
            continue  # goes to a consultation: tests/e2e/test_collaboration.py follows those
        body = {
            "channel": rng.choice(["phone", "web", "app", "wechat"]),
            "kind": "complaint",
            "content": f"第{n}号诉求：{category['keywords'][0]}问题，{category['description']}",
            "category_code": category["code"],
            "caller": {"phone": f"139{n:08d}"},
            "location": location,
        }
        if n % 25 == 7:  # no category and nothing to recognise: needs a human
            body.pop("category_code")
            body["content"] = f"第{n}号：请尽快联系我，谢谢谢谢"
            plan.append((body, None))
        else:
            plan.append((body, expected_lead(category["code"], street)))
    return plan
