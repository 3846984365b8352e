"""Open311 GeoReport v2 (and FixMyStreet's updates extension) on top of intake."""
