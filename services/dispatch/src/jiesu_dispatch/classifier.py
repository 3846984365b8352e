"""Keyword classifier for complaints that arrive without a category.

A deliberately simple, explainable baseline: dispatchers must be able to see why a
complaint was routed, and a low-confidence guess goes to the human dispatch queue.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from jiesu_dispatch.directory import Category

MAX_CANDIDATES = 3
# Score at which strength reaches 1 - 1/e (~0.63); one two-character hit gives ~0.55.
STRENGTH_SCALE = 2.5


@dataclass(frozen=True)
class Classification:
    category_code: str | None
    confidence: float
    candidates: tuple[tuple[str, float], ...]  # (code, share of the total score), best first


def classify(
    text: str, categories: Iterable[Category], *, min_confidence: float = 0.5
) -> Classification:
    """Guess the category of a complaint text; category_code is None when unsure."""
    normalized = normalize(text)
    scored = [(cat.code, score_category(normalized, cat)) for cat in categories]
    ranked = sorted((s for s in scored if s[1] > 0), key=lambda s: (-s[1], s[0]))
    if not ranked:
        return Classification(None, 0.0, ())
    best = ranked[0][1]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = round(_confidence(best, runner_up), 3)
    total = sum(score for _, score in ranked)
    candidates = tuple((code, round(score / total, 3)) for code, score in ranked[:MAX_CANDIDATES])
    chosen = ranked[0][0] if confidence >= min_confidence else None
    return Classification(chosen, confidence, candidates)


def score_category(normalized_text: str, category: Category) -> float:
    """Sum of the lengths of the category's keywords (and its name) found in the text."""
    # Longer keywords are more specific, so they weigh more; each keyword counts once.
    terms = {normalize(k) for k in (*category.keywords, category.name)}
    return float(sum(len(term) for term in terms if term and term in normalized_text))


def normalize(text: str) -> str:
    """Fold full-width forms and case, and drop whitespace, so keyword matching is robust."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(folded.split())


def _confidence(best: float, runner_up: float) -> float:
    # Strength grows with evidence; margin punishes a close runner-up (a tie gives 0).
    strength = 1.0 - math.exp(-best / STRENGTH_SCALE)
    margin = (best - runner_up) / best
    return strength * margin
