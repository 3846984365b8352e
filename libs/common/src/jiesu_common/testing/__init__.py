"""Test support: real PostgreSQL and broker fixtures (a pytest plugin)."""
