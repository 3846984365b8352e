"""Chinese words for the article search: jieba's search-mode segmentation, as exact lexemes.

The embedded PostgreSQL has no pg_trgm and runs with the C locale, whose text-search
parser sees a run of Chinese characters as one word. So intake segments the text itself
and stores the words as lexemes (``array_to_tsvector``); a query is the OR of its words
as a ``tsquery`` literal, ranked by ``ts_rank`` (title words weigh more than body words).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

# Words that say nothing about what is asked (how, what, please, need, …).
STOP_WORDS = frozenset(
    [
        "请问",
        "请教",
        "咨询",
        "您好",
        "你好",
        "谢谢",
        "怎么",
        "怎么办",
        "怎样",
        "如何",
        "什么",
        "为什么",
        "哪些",
        "哪里",
        "哪个",
        "多少",
        "是否",
        "能否",
        "可以",
        "可否",
        "需要",
        "我们",
        "你们",
        "他们",
        "自己",
        "一下",
        "这个",
        "那个",
        "这些",
        "那些",
        "没有",
        "还是",
        "或者",
        "以及",
        "就是",
        "但是",
        "因为",
        "所以",
        "如果",
        "已经",
        "现在",
        "目前",
        "的话",
        "一个",
    ]
)
# jieba's own dictionary (349,046 words) costs a process about 100 MB once loaded. The words
# seen fewer than this many times in its corpus are mostly rare names and idioms; without
# them (138,313 words stay) the segmenter takes a few MB and still splits the hotline's
# vocabulary (公积金, 消防通道, 共享单车 …) as the full dictionary does.
MIN_WORD_FREQ = 5
# No word is longer; a run of digits or letters past it is noise, and PostgreSQL refuses a
# lexeme over 2 KB.
MAX_WORD_CHARS = 32
_lock = threading.Lock()
_tokenizer: Any = None


def _segmenter() -> Any:
    """A jieba tokenizer on the common part of its dictionary, built once."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            with warnings.catch_warnings():  # jieba 0.42's regexes use invalid escapes
                warnings.simplefilter("ignore", DeprecationWarning)
                import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer(str(_common_dictionary(jieba)))
            tokenizer.initialize()
            _tokenizer = tokenizer
    return _tokenizer


def _common_dictionary(jieba: Any) -> Path:
    """jieba's dictionary without its rare words (single characters all kept), written once
    per jieba version to the temporary directory (jieba caches its parsed form there too)."""
    version = getattr(jieba, "__version__", "0")
    path = Path(tempfile.gettempdir()) / f"jiesu-jieba-{version}-min{MIN_WORD_FREQ}.txt"
    if path.exists():
        return path
    source = Path(jieba.__file__).with_name("dict.txt")
    kept = []
    with source.open(encoding="utf-8") as lines:
        for line in lines:
            word, freq, *_ = line.split()
            if len(word) == 1 or int(freq) >= MIN_WORD_FREQ:
                kept.append(line)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text("".join(kept), encoding="utf-8")
    partial.replace(path)  # atomic: a concurrent process reads a whole file or none
    return path


def warm_up() -> None:
    """Load the dictionary ahead of the first suggestion (run in a background thread)."""
    _segmenter()


def words(text: str) -> list[str]:
    """The distinct searchable words of ``text``, in order: two to ``MAX_WORD_CHARS``
    characters, no punctuation, no stop words; Latin letters lower-cased."""
    seen: dict[str, None] = {}
    for word in _segmenter().cut_for_search(text.lower()):
        word = word.strip()
        if (
            2 <= len(word) <= MAX_WORD_CHARS
            and any(ch.isalnum() for ch in word)
            and word not in STOP_WORDS
        ):
            seen.setdefault(word, None)
    return list(seen)


def tsquery_literal(found: list[str]) -> str:
    """The OR of ``found`` as a ``tsquery`` literal of quoted lexemes (no parsing, no stemming)."""
    return " | ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in found)


def excerpt(body: str, limit: int = 120) -> str:
    """The start of an article's body, for a suggestion list."""
    flat = " ".join(body.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
