"""The packaged demo city: jurisdictions, units, categories and routing rules."""

import json
from importlib.resources import files
from typing import Any

SEED_FILE = "demo_city.json"
CONTACTS_FILE = "unit_contacts.json"


def load_seed() -> dict[str, Any]:
    """Read the packaged demo-city seed; a fresh dict on every call, so callers may mutate it."""
    text = files(__name__).joinpath(SEED_FILE).read_text(encoding="utf-8")
    seed: dict[str, Any] = json.loads(text)
    return seed


def load_unit_contacts() -> list[dict[str, Any]]:
    """The demo units' contacts (duty, head, district supervisor; numbers are fictitious)."""
    text = files(__name__).joinpath(CONTACTS_FILE).read_text(encoding="utf-8")
    contacts: list[dict[str, Any]] = json.loads(text)["contacts"]
    return contacts
