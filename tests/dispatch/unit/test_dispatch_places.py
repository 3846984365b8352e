"""The GeoJSON dispatch serves for maps: every place of a level, each the union of its grids."""

from shapely.geometry import shape

from jiesu_dispatch.directory import Directory
from jiesu_dispatch.places import _collection
from jiesu_dispatch.seed import load_seed


def test_streets_are_the_union_of_their_grids_and_cover_the_city() -> None:
    directory = Directory.from_seed(load_seed())
    grids = _collection(directory, "grid")["features"]
    streets = _collection(directory, "street")["features"]
    assert len(grids) == len(directory.grids)
    assert {f["properties"]["code"] for f in streets} == set(directory.streets)
    assert streets[0]["properties"]["name"] == "柳荫街道"
    total = sum(shape(f["geometry"]).area for f in grids)
    assert abs(sum(shape(f["geometry"]).area for f in streets) - total) < 1e-9
    # Two grids side by side make one polygon, not two.
    assert all(shape(f["geometry"]).geom_type == "Polygon" for f in streets)
