"""Real PostgreSQL and broker fixtures for every test (see jiesu_common.testing.plugin)."""

pytest_plugins = ["jiesu_common.testing.plugin"]
