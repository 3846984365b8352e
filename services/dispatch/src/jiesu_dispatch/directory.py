"""The directory: units, categories and jurisdictions (district > street > community > grid).

Pure and in-memory: built once from a seed-shaped dict, then asked where a complaint is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

UNIT_KINDS = ("district_government", "street_office", "department", "utility")


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    kind: str
    district: str | None
    street: str | None


@dataclass(frozen=True)
class AttributeValue:
    key: str
    name: str


@dataclass(frozen=True)
class CategoryAttribute:
    """An extra question a category asks (an Open311 service attribute)."""

    code: str
    datatype: str  # string | number | datetime | text | singlevaluelist | multivaluelist
    required: bool
    order: int
    description: str
    datatype_description: str | None = None
    variable: bool = True
    values: tuple[AttributeValue, ...] = ()


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    group: str
    sla_class: str
    keywords: tuple[str, ...]
    description: str
    attributes: tuple[CategoryAttribute, ...] = ()


@dataclass(frozen=True)
class District:
    code: str
    name: str
    unit_id: str


@dataclass(frozen=True)
class Street:
    code: str
    name: str
    district: str
    unit_id: str


@dataclass(frozen=True)
class Community:
    code: str
    name: str
    street: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Grid:
    grid_code: str
    name: str
    community: str


@dataclass(frozen=True)
class Jurisdiction:
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    district_code: str | None
    method: str | None  # "point" | "grid_code" | "address" | None (unlocated)

    @property
    def is_located(self) -> bool:
        """True when at least the district is known."""
        return self.district_code is not None


UNLOCATED = Jurisdiction(None, None, None, None, None)


class Directory:
    """Units, categories and jurisdictions of one city, with location look-up."""

    def __init__(
        self,
        *,
        version: str,
        districts: Iterable[District],
        streets: Iterable[Street],
        communities: Iterable[Community],
        grids: Iterable[tuple[Grid, BaseGeometry]],
        units: Iterable[Unit],
        categories: Iterable[Category],
    ) -> None:
        self.version = version
        self.districts = {d.code: d for d in districts}
        self.streets = {s.code: s for s in streets}
        self.communities = {c.code: c for c in communities}
        self.units = {u.unit_id: u for u in units}
        self.categories = {c.code: c for c in categories}
        # Sorted by code so that a point on a shared edge resolves the same way every time.
        grid_list = sorted(grids, key=lambda pair: pair[0].grid_code)
        self.grids = {g.grid_code: g for g, _ in grid_list}
        self._grid_order = [g for g, _ in grid_list]
        self._grid_tree = STRtree([geom for _, geom in grid_list])
        self._place_names = self._build_place_names()

    @classmethod
    def from_seed(cls, seed: Mapping[str, Any]) -> Directory:
        """Build a directory from a seed-shaped dict (see seed/demo_city.json)."""
        return cls(
            version=str(seed.get("version", "")),
            districts=[District(d["code"], d["name"], d["unit_id"]) for d in seed["districts"]],
            streets=[
                Street(s["code"], s["name"], s["district"], s["unit_id"]) for s in seed["streets"]
            ],
            communities=[
                Community(c["code"], c["name"], c["street"], tuple(c["addresses"]))
                for c in seed["communities"]
            ],
            grids=[_grid_from_feature(f) for f in seed["grids"]["features"]],
            units=[_unit_from_dict(u) for u in seed["units"]],
            categories=[_category_from_dict(c) for c in seed["categories"]],
        )

    def locate(
        self,
        *,
        lat: float | None = None,
        lon: float | None = None,
        grid_code: str | None = None,
        address: str | None = None,
    ) -> Jurisdiction:
        """Where a complaint is: by known grid code, else the grid under the point, else address."""
        if grid_code is not None and grid_code in self.grids:
            return self._from_grid(grid_code, "grid_code")
        if lat is not None and lon is not None:
            found = self._grid_at(lat=lat, lon=lon)
            if found is not None:
                return self._from_grid(found, "point")
        if address:
            return self._from_address(address)
        return UNLOCATED

    def grid_shapes(self) -> list[tuple[Grid, BaseGeometry]]:
        """Every grid with its polygon, by grid code (for maps)."""
        return list(zip(self._grid_order, self._grid_tree.geometries, strict=True))

    def district_government(self, district_code: str) -> Unit:
        """The district government (the fallback unit) of a district; KeyError if unknown."""
        return self.units[self.districts[district_code].unit_id]

    def street_office(self, street_code: str) -> Unit:
        """The street office of a street; KeyError if unknown."""
        return self.units[self.streets[street_code].unit_id]

    def _grid_at(self, *, lat: float, lon: float) -> str | None:
        # "intersects" rather than "contains" so points on a grid edge are not lost.
        hits = self._grid_tree.query(Point(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        return self._grid_order[int(min(hits))].grid_code

    def _from_grid(self, grid_code: str, method: str) -> Jurisdiction:
        community = self.communities[self.grids[grid_code].community]
        street = self.streets[community.street]
        return Jurisdiction(grid_code, community.code, street.code, street.district, method)

    def _from_address(self, address: str) -> Jurisdiction:
        # Most specific level first; within a level the longest name wins (the most precise one).
        for names in self._place_names:
            matches = [(name, j) for name, j in names if name in address]
            if matches:
                return max(matches, key=lambda m: len(m[0]))[1]
        return UNLOCATED

    def _build_place_names(self) -> list[list[tuple[str, Jurisdiction]]]:
        """Names to search in free-text addresses, grouped by level, most specific first."""
        community_level: list[tuple[str, Jurisdiction]] = []
        for community in sorted(self.communities.values(), key=lambda c: c.code):
            street = self.streets[community.street]
            where = Jurisdiction(None, community.code, street.code, street.district, "address")
            community_level += [(name, where) for name in (*community.addresses, community.name)]
        street_level = [
            (s.name, Jurisdiction(None, None, s.code, s.district, "address"))
            for s in sorted(self.streets.values(), key=lambda s: s.code)
        ]
        district_level = [
            (d.name, Jurisdiction(None, None, None, d.code, "address"))
            for d in sorted(self.districts.values(), key=lambda d: d.code)
        ]
        return [community_level, street_level, district_level]


def _grid_from_feature(feature: Mapping[str, Any]) -> tuple[Grid, BaseGeometry]:
    props = feature["properties"]
    grid = Grid(props["grid_code"], props.get("name", props["grid_code"]), props["community"])
    return grid, shape(feature["geometry"])


def _unit_from_dict(data: Mapping[str, Any]) -> Unit:
    return Unit(
        unit_id=data["unit_id"],
        name=data["name"],
        kind=data["kind"],
        district=data.get("district"),
        street=data.get("street"),
    )


def _category_from_dict(data: Mapping[str, Any]) -> Category:
    return Category(
        code=data["code"],
        name=data["name"],
        group=data["group"],
        sla_class=data["sla_class"],
        keywords=tuple(data.get("keywords", ())),
        description=data.get("description", ""),
        attributes=tuple(_attribute_from_dict(a) for a in data.get("attributes", ())),
    )


def _attribute_from_dict(data: Mapping[str, Any]) -> CategoryAttribute:
    return CategoryAttribute(
        code=data["code"],
        datatype=data["datatype"],
        required=bool(data.get("required", False)),
        order=int(data["order"]),
        description=data["description"],
        datatype_description=data.get("datatype_description"),
        variable=bool(data.get("variable", True)),
        values=tuple(AttributeValue(v["key"], v["name"]) for v in data.get("values", ())),
    )
