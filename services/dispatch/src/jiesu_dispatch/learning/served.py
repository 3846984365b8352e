"""The models a dispatch process serves: loaded once, held in memory, switched on
announcement. Classifying a complaint touches no database."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jiesu_dispatch.learning import artefacts
from jiesu_dispatch.learning.text_model import Document, TextModel
from jiesu_dispatch.learning.unit_model import Place, UnitModel, UnitSuggestion

log = logging.getLogger(__name__)

SLOTS = (("category", "champion"), ("category", "challenger"), ("unit", "champion"))


@dataclass(frozen=True)
class Guess:
    """A model's answer for one complaint: its top labels with calibrated probabilities."""

    version: int | None
    ranked: tuple[tuple[str, float], ...]

    @property
    def label(self) -> str | None:
        """The most likely label."""
        return self.ranked[0][0] if self.ranked else None

    @property
    def confidence(self) -> float:
        """The most likely label's probability."""
        return self.ranked[0][1] if self.ranked else 0.0


@dataclass
class ServedModels:
    """Category champion and challenger, unit champion: (version, model) per slot."""

    slots: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def version(self, kind: str, alias: str) -> int | None:
        """The version served in a slot, if any."""
        held = self.slots.get((kind, alias))
        return held[0] if held else None

    def guess(self, alias: str, title: str, content: str, top: int = 3) -> Guess | None:
        """The category model's top labels, or None when no such model is served."""
        held = self.slots.get(("category", alias))
        if held is None:
            return None
        model: TextModel = held[1]
        return Guess(held[0], tuple(model.predict_proba(Document(title, content))[:top]))

    def suggest_unit(
        self, category: str, place: Place, channel: str | None
    ) -> UnitSuggestion | None:
        """The learned lead unit for a category at a place, if a unit model is served."""
        held = self.slots.get(("unit", "champion"))
        return held[1].suggest(category, place, channel) if held else None

    async def refresh(self, aliases: Mapping[tuple[str, str], int], fetch: Any) -> bool:
        """Serve what the aliases name now; ``fetch(version)`` reads an artefact. True when a
        slot changed."""
        async with self._lock:
            changed = False
            for slot in SLOTS:
                wanted = aliases.get(slot)
                if wanted == self.version(*slot):
                    continue
                changed = True
                if wanted is None:
                    self.slots.pop(slot, None)
                    continue
                # The champion and the challenger may be one version: held once.
                same = [m for (k, _), (v, m) in self.slots.items() if k == slot[0] and v == wanted]
                if same:
                    model = same[0]
                else:
                    data = await fetch(wanted)
                    model = await asyncio.to_thread(decode, slot[0], data)
                    _give_back_memory()
                self.slots[slot] = (wanted, model)
                log.info(
                    "model served", extra={"kind": slot[0], "alias": slot[1], "version": wanted}
                )
            return changed


def decode(kind: str, artefact: bytes) -> Any:
    """A model from its artefact (refused when the artefact names untrusted types)."""
    state = artefacts.load(artefact)
    return TextModel.from_state(state) if kind == "category" else UnitModel.from_state(state)


def _give_back_memory() -> None:
    """Return the decoding's scratch memory to the system (glibc keeps a worker thread's
    arena otherwise: ~60 MB of RSS for nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
