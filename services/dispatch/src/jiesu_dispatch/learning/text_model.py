"""Text → category: TF-IDF over character n-grams and jieba words, the title weighted
more, and by default two calibrated linear models on those features (a linear SVM and a
naive-Bayes-scaled one) whose probabilities are averaged.

Training uses scikit-learn; the fitted model is then reduced to plain arrays (vocabularies,
idf weights, coefficients, sigmoid calibration), which is what the registry stores and the
dispatch process serves from, so serving never imports scikit-learn.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from jiesu_dispatch.learning.segment import Segmenter, corpus_dictionary, normalize

CLASSIFIERS = ("svm", "nbsvm", "svm+nbsvm", "logreg")
FIELDS = ("title", "text")  # the title alone, and title + content
ANALYZERS = ("char", "word")


@dataclass(frozen=True)
class TextParams:
    """Hyper-parameters of the text model (stored with every version)."""

    char_min: int = 1
    char_max: int = 3
    title_weight: float = 0.6
    c: float = 0.5
    min_df: int = 2
    max_features: int = 150_000  # per block: bounds the model's memory
    max_chars: int = 1000  # of title + content: long letters say what they are about early
    calibration_folds: int = 3
    word_bigrams: bool = False  # pairs of neighbouring words as terms too
    # Words are cut from this many characters only (segmenting is the slow part of
    # serving); character n-grams read all of max_chars. None: as far as max_chars.
    max_word_chars: int | None = None
    # "svm": linear SVM with sigmoid calibration; "nbsvm": the same, each category's SVM
    # trained on features scaled by their naive-Bayes log-count ratio for it (Wang and
    # Manning, 2012), folded back into one coefficient matrix; "svm+nbsvm": both, their
    # calibrated probabilities averaged (one matrix product serves the two); "logreg":
    # multinomial logistic regression (probabilities of its own).
    classifier: str = "svm+nbsvm"
    nb_alpha: float = 0.5  # nbsvm: the count smoothing of the log-count ratios
    # "balanced": each category weighs the same in the fit however few its examples (what
    # macro-F1 rewards); None: every complaint weighs the same.
    class_weight: str | None = None

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError("class_weight must be null or balanced")

    @property
    def members(self) -> tuple[str, ...]:
        """The calibrated member models of a linear classifier, in column-block order."""
        return tuple(self.classifier.split("+"))

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class Document:
    """What the text model reads of a complaint."""

    title: str
    content: str

    def fields(self) -> dict[str, str]:
        """The normalized title, and title + content."""
        title = normalize(self.title)
        return {"title": title, "text": normalize(f"{self.title} {self.content}")}

    def clipped(self, max_chars: int) -> Document:
        """The document with its content cut so title + content fit max_chars."""
        room = max(0, max_chars - len(self.title))
        return self if len(self.content) <= room else Document(self.title, self.content[:room])


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """Every character n-gram of the text with low <= n <= high (spaces included)."""
    return [text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


class Analyzers:
    """The two analyzers of one model: character n-grams and dictionary words."""

    def __init__(self, params: TextParams, segmenter: Segmenter) -> None:
        self.params = params
        self.segmenter = segmenter

    def terms(self, analyzer: str, text: str) -> list[str]:
        """The terms ``analyzer`` finds in a normalized text."""
        if analyzer == "char":
            return char_ngrams(text, self.params.char_min, self.params.char_max)
        limit = self.params.max_word_chars
        words = self.segmenter.words(text if limit is None else text[:limit])
        if self.params.word_bigrams:
            return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        return words


@dataclass
class Block:
    """One TF-IDF block: a field read by an analyzer, l2-normalized, then weighted."""

    field: str
    analyzer: str
    terms: np.ndarray  # the block's terms, by column
    idf: np.ndarray
    weight: float
    offset: int  # where its columns start in the model's feature space

    def __post_init__(self) -> None:
        # Sorted 64-bit hashes of the terms and their columns: a few bytes a term, where a
        # dict costs ~100, and integer look-ups (a collision is ~1e-13 likely per document).
        hashes = np.fromiter(map(hash, self.terms.tolist()), dtype=np.int64, count=len(self.terms))
        self._order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[self._order]

    def __len__(self) -> int:
        return len(self.terms)

    def columns(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """The columns of the known terms and how often each occurs (None: none known)."""
        if not terms or not len(self._sorted):
            return None
        found = np.fromiter(map(hash, terms), dtype=np.int64, count=len(terms))
        pos = np.minimum(np.searchsorted(self._sorted, found), len(self._sorted) - 1)
        pos = pos[self._sorted[pos] == found]
        if not len(pos):
            return None
        cols, counts = np.unique(self._order[pos], return_counts=True)
        return cols, counts


class TextModel:
    """A fitted text model, served from plain arrays."""

    def __init__(
        self,
        *,
        params: TextParams,
        dictionary: str,
        blocks: list[Block],
        classes: list[str],
        coef: np.ndarray,  # (n_features, n_models): one column per binary model
        intercept: np.ndarray,
        calibration_a: np.ndarray,
        calibration_b: np.ndarray,
    ) -> None:
        self.params = params
        self.analyzers = Analyzers(params, Segmenter(dictionary))
        self.blocks = blocks
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self.calibration_a = calibration_a
        self.calibration_b = calibration_b
        # Calibrated member models, one block of columns each (two for "svm+nbsvm").
        self._members = len(params.members)

    def features(self, doc: Document) -> tuple[np.ndarray, np.ndarray]:
        """The document's sparse feature vector as (indices, values)."""
        fields = doc.clipped(self.params.max_chars).fields()
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for block in self.blocks:
            terms = self.analyzers.terms(block.analyzer, fields[block.field])
            found = block.columns(terms)
            if found is None:
                continue
            cols, vals = _weighted(found, block)
            indices.append(cols + block.offset)
            values.append(vals)
        if not indices:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(indices), np.concatenate(values)

    def predict_proba(self, doc: Document) -> list[tuple[str, float]]:
        """Every class with its calibrated probability, most likely first."""
        cols, vals = self.features(doc)
        scores = vals @ self.coef[cols] + self.intercept
        if self.params.classifier == "logreg":
            if len(self.classes) == 2:
                p = 1.0 / (1.0 + np.exp(-scores[0]))
                probs = np.array([1.0 - p, p])
            else:
                exp = np.exp(scores - scores.max())
                probs = exp / exp.sum()
            order = np.argsort(-probs, kind="stable")
            return [(self.classes[i], float(probs[i])) for i in order]
        calibrated = 1.0 / (1.0 + np.exp(self.calibration_a * scores + self.calibration_b))
        members = np.split(calibrated, self._members)  # their probabilities' mean
        probs = np.mean([self._normalized(m) for m in members], axis=0)
        order = np.argsort(-probs, kind="stable")
        return [(self.classes[i], float(probs[i])) for i in order]

    def _normalized(self, probs: np.ndarray) -> np.ndarray:
        """One calibrated model's per-category probabilities, summing to one."""
        if len(self.classes) == 2:
            return np.array([1.0 - probs[0], probs[0]])
        total = probs.sum()
        return probs / total if total > 0 else np.full(len(self.classes), 1 / len(self.classes))

    def to_state(self) -> dict[str, Any]:
        """Plain types and arrays only: what the registry stores (with skops)."""
        return {
            "format": 1,
            "params": self.params.as_dict(),
            "dictionary": self.analyzers.segmenter.dictionary,
            "classes": list(self.classes),
            "blocks": [
                {
                    "field": b.field,
                    "analyzer": b.analyzer,
                    "terms": b.terms,
                    "idf": b.idf,
                    "weight": b.weight,
                    "offset": b.offset,
                }
                for b in self.blocks
            ],
            "coef": self.coef,
            "intercept": self.intercept,
            "calibration_a": self.calibration_a,
            "calibration_b": self.calibration_b,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextModel:
        """The model of a stored state."""
        blocks = [
            Block(
                field=b["field"],
                analyzer=b["analyzer"],
                terms=np.asarray(b["terms"]),
                idf=np.asarray(b["idf"], dtype=np.float64),
                weight=float(b["weight"]),
                offset=int(b["offset"]),
            )
            for b in state["blocks"]
        ]
        return cls(
            params=TextParams(**state["params"]),
            dictionary=state["dictionary"],
            blocks=blocks,
            classes=[str(c) for c in state["classes"]],
            coef=np.asarray(state["coef"]),
            intercept=np.asarray(state["intercept"]),
            calibration_a=np.asarray(state["calibration_a"]),
            calibration_b=np.asarray(state["calibration_b"]),
        )


def train_text_model(
    docs: Sequence[Document], labels: Sequence[str], params: TextParams | None = None
) -> TextModel:
    """Fit the text model (scikit-learn is imported here, not in the serving path)."""
    params = params or TextParams()
    fields = [d.clipped(params.max_chars).fields() for d in docs]
    dictionary = corpus_dictionary(f["text"] for f in fields)
    analyzers = Analyzers(params, Segmenter(dictionary))
    matrix, blocks = _fit_blocks(fields, analyzers, params)
    return _fit_classifier(matrix, blocks, list(labels), params, dictionary)


def _fit_blocks(
    fields: list[dict[str, str]], analyzers: Analyzers, params: TextParams
) -> tuple[Any, list[Block]]:
    """Vocabularies (document frequency >= min_df, the most frequent first), idf and the
    weighted, l2-normalized TF-IDF matrix, computed exactly as ``TextModel.features`` does."""
    from scipy import sparse

    n_docs = len(fields)
    parts = []
    blocks: list[Block] = []
    offset = 0
    for field in FIELDS:
        for analyzer in ANALYZERS:
            docs_terms = [analyzers.terms(analyzer, f[field]) for f in fields]
            df: Counter[str] = Counter()
            for doc_terms in docs_terms:
                df.update(set(doc_terms))
            kept = [t for t, n in df.most_common(params.max_features) if n >= params.min_df]
            vocabulary = {t: i for i, t in enumerate(kept)}
            by_column = np.array(kept, dtype=str) if kept else np.array([], dtype="<U1")
            # Smooth idf, as scikit-learn's TfidfVectorizer computes it.
            idf = np.log((1 + n_docs) / (1 + np.array([df[t] for t in kept], dtype=np.float64))) + 1
            weight = params.title_weight if field == "title" else 1.0
            block = Block(field, analyzer, by_column, idf, weight, offset)
            parts.append(_block_matrix(docs_terms, block, vocabulary))
            blocks.append(block)
            offset += len(vocabulary)
    return sparse.hstack(parts).tocsr(), blocks


def _columns(terms: list[str], vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """The vocabulary columns of the terms and how often each occurs (None: no known term)."""
    hits = [i for i in map(vocabulary.get, terms) if i is not None]
    if not hits:
        return None
    cols, counts = np.unique(np.asarray(hits, dtype=np.int64), return_counts=True)
    return cols, counts


def _weighted(found: tuple[np.ndarray, np.ndarray], block: Block) -> tuple[np.ndarray, np.ndarray]:
    """Sublinear tf x idf, l2-normalized, times the block's weight."""
    cols, counts = found
    vals = (1.0 + np.log(counts)) * block.idf[cols]
    vals *= block.weight / float(np.sqrt(vals @ vals))
    return cols, vals


def _block_matrix(docs_terms: list[list[str]], block: Block, vocabulary: dict[str, int]) -> Any:
    from scipy import sparse

    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    total = 0
    for terms in docs_terms:
        found = _columns(terms, vocabulary)
        if found is not None:
            cols, vals = _weighted(found, block)
            indices.append(cols)
            data.append(vals)
            total += len(cols)
        indptr.append(total)
    shape = (len(docs_terms), len(block))
    flat_indices = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    flat_data = np.concatenate(data) if data else np.zeros(0)
    return sparse.csr_matrix((flat_data, flat_indices, indptr), shape=shape)


def _fit_classifier(
    matrix: Any, blocks: list[Block], labels: list[str], params: TextParams, dictionary: str
) -> TextModel:
    if params.classifier == "logreg":
        return _fit_logreg(matrix, blocks, labels, params, dictionary)
    from sklearn.svm import LinearSVC

    # Calibration splits every class: a category seen only once (a fold of cross-validation
    # can leave one so) cannot be calibrated, and is left out of this fit.
    counts = Counter(labels)
    keep = [i for i, label in enumerate(labels) if counts[label] >= 2]
    if len(keep) < len(labels):
        matrix, labels = matrix[keep], [labels[i] for i in keep]
        counts = Counter(labels)
    if len(counts) < 2:
        raise ValueError("need at least two categories with two examples each to train")
    folds = max(2, min(params.calibration_folds, min(counts.values())))
    bases = {
        "svm": lambda: LinearSVC(C=params.c, class_weight=params.class_weight),
        "nbsvm": lambda: _nb_svm(params),
    }
    fitted = [_calibrated(bases[name](), matrix, labels, folds) for name in params.members]
    return TextModel(
        params=params,
        dictionary=dictionary,
        blocks=blocks,
        classes=fitted[0].classes,
        coef=np.ascontiguousarray(np.hstack([f.coef for f in fitted]).astype(np.float32)),
        intercept=np.concatenate([f.intercept for f in fitted]),
        calibration_a=np.concatenate([f.calibration_a for f in fitted]),
        calibration_b=np.concatenate([f.calibration_b for f in fitted]),
    )


class _Member(NamedTuple):
    """One calibrated linear model of the ensemble."""

    classes: list[str]
    coef: np.ndarray  # (n_features, n_models)
    intercept: np.ndarray
    calibration_a: np.ndarray
    calibration_b: np.ndarray


def _calibrated(base: Any, matrix: Any, labels: list[str], folds: int) -> _Member:
    """A linear model fitted on everything and sigmoid-calibrated on ``folds`` folds."""
    from sklearn.calibration import CalibratedClassifierCV

    model = CalibratedClassifierCV(base, method="sigmoid", cv=folds, ensemble=False)
    model.fit(matrix, labels)
    calibrated = model.calibrated_classifiers_[0]
    svm = calibrated.estimator
    return _Member(
        [str(c) for c in model.classes_],
        svm.coef_.T,
        svm.intercept_.astype(np.float64),
        np.array([c.a_ for c in calibrated.calibrators], dtype=np.float64),
        np.array([c.b_ for c in calibrated.calibrators], dtype=np.float64),
    )


def _fit_logreg(
    matrix: Any, blocks: list[Block], labels: list[str], params: TextParams, dictionary: str
) -> TextModel:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=params.c, max_iter=1000, class_weight=params.class_weight)
    model.fit(matrix, labels)
    empty = np.zeros(0)
    return TextModel(
        params=params,
        dictionary=dictionary,
        blocks=blocks,
        classes=[str(c) for c in model.classes_],
        coef=np.ascontiguousarray(model.coef_.T.astype(np.float32)),
        intercept=model.intercept_.astype(np.float64),
        calibration_a=empty,
        calibration_b=empty,
    )


def _nb_svm(params: TextParams) -> Any:
    """A one-vs-rest linear SVM per category on features scaled by that category's
    naive-Bayes log-count ratio; its coefficients are the SVM's times the ratios, so it is
    served exactly as a linear SVM is (a scikit-learn estimator, for the calibration)."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.svm import LinearSVC

    class NBSVM(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
        def __init__(self, c: float = 0.5, alpha: float = 0.5, class_weight: Any = None):
            self.c, self.alpha, self.class_weight = c, alpha, class_weight

        def fit(self, x: Any, y: Any) -> NBSVM:
            y = np.asarray(y)
            self.classes_ = np.unique(y)
            present = (x > 0).astype(np.float64)
            targets = self.classes_[1:] if len(self.classes_) == 2 else self.classes_

            def one(label: Any) -> tuple[np.ndarray, float]:
                mine = y == label
                pos = np.asarray(present[mine].sum(axis=0)).ravel() + self.alpha
                neg = np.asarray(present[~mine].sum(axis=0)).ravel() + self.alpha
                ratio = np.log((pos / pos.sum()) / (neg / neg.sum()))
                svm = LinearSVC(C=self.c, class_weight=self.class_weight)
                svm.fit(x.multiply(ratio).tocsr(), mine.astype(int))
                return svm.coef_.ravel() * ratio, float(svm.intercept_[0])

            # liblinear lets go of the GIL: the categories' SVMs share the cores.
            with ThreadPoolExecutor(max_workers=min(len(targets), os.cpu_count() or 1)) as pool:
                fitted = list(pool.map(one, targets))
            self.coef_ = np.vstack([c for c, _ in fitted])
            self.intercept_ = np.asarray([i for _, i in fitted])
            return self

        def decision_function(self, x: Any) -> Any:
            scores = np.asarray(x @ self.coef_.T) + self.intercept_
            return scores.ravel() if len(self.classes_) == 2 else scores

        def predict(self, x: Any) -> Any:
            scores = self.decision_function(x)
            if len(self.classes_) == 2:
                return self.classes_[(scores > 0).astype(int)]
            return self.classes_[scores.argmax(axis=1)]

    return NBSVM(c=params.c, alpha=params.nb_alpha, class_weight=params.class_weight)
