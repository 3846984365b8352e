"""The city's places for people's maps: the jurisdiction tree and its GeoJSON by level."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from shapely import unary_union
from shapely.geometry import mapping

from jiesu_common.access import STAFF, GuardedRoute, access
from jiesu_common.auth import Staff
from jiesu_dispatch.directory import Directory
from jiesu_dispatch.state import DispatchState

router = APIRouter(route_class=GuardedRoute, tags=["directory"])
PLACES_ACCESS = access(*STAFF)
PlaceLevel = Literal["district", "street", "community", "grid"]


async def _directory(request: Request) -> Directory:
    state: DispatchState = request.app.state.dispatch
    return state.dispatcher.directory


Dir = Annotated[Directory, Depends(_directory)]


@router.get("/v1/places", openapi_extra=PLACES_ACCESS)
async def list_places(principal: Staff, directory: Dir) -> dict[str, Any]:
    """Districts, streets, communities and grids with their names and parents."""
    return {
        "districts": [
            {"code": d.code, "name": d.name, "unit_id": d.unit_id}
            for d in directory.districts.values()
        ],
        "streets": [
            {"code": s.code, "name": s.name, "district": s.district, "unit_id": s.unit_id}
            for s in directory.streets.values()
        ],
        "communities": [
            {"code": c.code, "name": c.name, "street": c.street}
            for c in directory.communities.values()
        ],
        "grids": [
            {"code": g.grid_code, "name": g.name, "community": g.community}
            for g in directory.grids.values()
        ],
    }


@router.get("/v1/places/geojson", openapi_extra=PLACES_ACCESS)
async def places_geojson(
    principal: Staff, directory: Dir, level: PlaceLevel = "street"
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of one level; coarser levels are unions of their grids."""
    return _collection(directory, level)


@lru_cache(maxsize=16)
def _collection(directory: Directory, level: str) -> dict[str, Any]:
    # The directory is built once per process and never changes: cache per instance and level.
    parts: dict[str, list[Any]] = {}
    for grid, shape in directory.grid_shapes():
        community = directory.communities[grid.community]
        street = directory.streets[community.street]
        code = {
            "grid": grid.grid_code,
            "community": community.code,
            "street": street.code,
            "district": street.district,
        }[level]
        parts.setdefault(code, []).append(shape)
    names = {
        "grid": {g.grid_code: g.name for g in directory.grids.values()},
        "community": {c.code: c.name for c in directory.communities.values()},
        "street": {s.code: s.name for s in directory.streets.values()},
        "district": {d.code: d.name for d in directory.districts.values()},
    }[level]
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "name": names.get(code, code), "level": level},
            "geometry": mapping(unary_union(shapes)),
        }
        for code, shapes in sorted(parts.items())
    ]
    return {"type": "FeatureCollection", "features": features}
