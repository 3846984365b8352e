"""Chinese word segmentation with jieba, kept small enough for the serving process.

jieba's full dictionary costs about 70 MB once loaded. Training finds which of its words
occur in the training texts; the model keeps only those (with their frequencies) and
segments with a jieba tokenizer built on that short list, at training and serving alike,
so the words a model was trained on are cut the same way when it classifies.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import unicodedata
import warnings
from collections.abc import Iterable
from typing import Any

_lock = threading.Lock()
_SKIP = re.compile(r"^[\W_]+$")


def _jieba() -> Any:
    """jieba, imported once and quietly (it logs its dictionary loading at DEBUG)."""
    with _lock, warnings.catch_warnings():
        # jieba's regular expressions warn about escapes when compiled without bytecode.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        import jieba

        jieba.setLogLevel(logging.WARNING)
        return jieba


def normalize(text: str) -> str:
    """Fold full-width forms and case, collapse whitespace: what both analyzers see."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(folded.split())


class Segmenter:
    """A jieba tokenizer over a given word list (``word freq`` lines), no HMM."""

    def __init__(self, dictionary: str) -> None:
        jieba = _jieba()
        self.dictionary = dictionary
        self._tokenizer = jieba.Tokenizer()
        lines = io.BytesIO(dictionary.encode("utf-8"))
        freq, total = jieba.Tokenizer.gen_pfdict(lines)
        self._tokenizer.FREQ, self._tokenizer.total = freq, max(total, 1)
        self._tokenizer.initialized = True

    def words(self, text: str) -> list[str]:
        """The words of an already normalized text (punctuation and spaces dropped)."""
        return [w for w in self._tokenizer.cut(text, HMM=False) if not _SKIP.match(w)]


def corpus_dictionary(texts: Iterable[str], *, longest: int = 4) -> str:
    """jieba's words (two characters or more) that occur in the texts, as dictionary lines.

    Loads jieba's full dictionary: call it only where training runs, never while serving.
    """
    jieba = _jieba()
    full = jieba.Tokenizer()
    full.initialize()
    freq = full.FREQ
    seen: set[str] = set()
    for text in texts:
        n = len(text)
        seen.update(text[i : i + k] for k in range(2, longest + 1) for i in range(n - k + 1))
    found = sorted((w, freq[w]) for w in seen if freq.get(w))
    return "".join(f"{w} {f}\n" for w, f in found)
