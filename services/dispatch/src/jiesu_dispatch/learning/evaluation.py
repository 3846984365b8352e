"""Honest numbers for a model: stratified k-fold cross-validation and the report on any
labelled set (accuracy, macro-F1, per-class precision/recall/F1, confusion, calibration)."""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

CALIBRATION_THRESHOLDS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def report(
    truth: Sequence[str], predicted: Sequence[str], confidence: Sequence[float]
) -> dict[str, Any]:
    """The evaluation report of predictions against the truth (JSON-ready)."""
    labels = sorted(set(truth) | set(predicted))
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for t, p in zip(truth, predicted, strict=True):
        confusion[t][p] += 1
    per_class = {label: _scores(label, truth, predicted) for label in labels}
    present = [per_class[label] for label in labels if label in set(truth)]
    n = len(truth)
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    return {
        "n": n,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "macro_f1": round(statistics.fmean(c["f1"] for c in present), 4) if present else 0.0,
        "per_class": per_class,
        "labels": labels,
        "confusion": [[confusion[t][p] for p in labels] for t in labels],
        "calibration": calibration(truth, predicted, confidence),
    }


def _scores(label: str, truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
    predicted_n = sum(p == label for p in predicted)
    support = sum(t == label for t in truth)
    precision = tp / predicted_n if predicted_n else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "support": support,
    }


def calibration(
    truth: Sequence[str], predicted: Sequence[str], confidence: Sequence[float]
) -> list[dict[str, Any]]:
    """For each threshold t: how many predictions had confidence >= t, and how often they
    were right (what a city's low-confidence threshold trades)."""
    rows = []
    for threshold in CALIBRATION_THRESHOLDS:
        kept = [
            t == p for t, p, c in zip(truth, predicted, confidence, strict=True) if c >= threshold
        ]
        rows.append(
            {
                "threshold": threshold,
                "coverage": round(len(kept) / len(truth), 4) if truth else 0.0,
                "accuracy": round(sum(kept) / len(kept), 4) if kept else None,
                "n": len(kept),
            }
        )
    return rows


def stratified_folds(labels: Sequence[str], k: int, *, seed: int = 16) -> list[list[int]]:
    """Indices split into k folds, each class spread evenly over them (seeded shuffle)."""
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        for j, i in enumerate(members):
            folds[(start + j) % k].append(i)
        start += len(members)
    return [sorted(f) for f in folds]


def cross_validate(
    items: Sequence[T],
    labels: Sequence[str],
    fit_predict: Callable[[list[T], list[str], list[T]], list[tuple[str, float]]],
    *,
    k: int = 5,
) -> dict[str, Any]:
    """Stratified k-fold CV: the pooled report plus each fold's macro-F1 and their spread."""
    k = max(2, min(k, min(Counter(labels).values()))) if labels else k
    truth: list[str] = []
    predicted: list[str] = []
    confidence: list[float] = []
    fold_f1: list[float] = []
    for test in stratified_folds(labels, k):
        held = set(test)
        train = [i for i in range(len(items)) if i not in held]
        out = fit_predict(
            [items[i] for i in train], [labels[i] for i in train], [items[i] for i in test]
        )
        fold_truth = [labels[i] for i in test]
        fold_pred = [p for p, _ in out]
        fold_f1.append(report(fold_truth, fold_pred, [c for _, c in out])["macro_f1"])
        truth += fold_truth
        predicted += fold_pred
        confidence += [c for _, c in out]
    pooled = report(truth, predicted, confidence)
    pooled["cv"] = {
        "folds": k,
        "macro_f1_per_fold": fold_f1,
        "macro_f1_mean": round(statistics.fmean(fold_f1), 4),
        "macro_f1_std": round(statistics.pstdev(fold_f1), 4),
    }
    return pooled


def render(rep: dict[str, Any]) -> str:
    """The report as text for a terminal (Chinese labels first)."""
    lines = [
        f"样本数 / n: {rep['n']}",
        f"准确率 / accuracy: {rep['accuracy']:.4f}",
        f"宏平均F1 / macro-F1: {rep['macro_f1']:.4f}",
    ]
    if "cv" in rep:
        cv = rep["cv"]
        lines.append(
            f"{cv['folds']}折交叉验证 / {cv['folds']}-fold CV macro-F1: "
            f"{cv['macro_f1_mean']:.4f} ± {cv['macro_f1_std']:.4f}"
        )
    lines.append("类别 / class: precision recall f1 support")
    for label, s in rep["per_class"].items():
        lines.append(
            f"  {label}: {s['precision']:.3f} {s['recall']:.3f} {s['f1']:.3f} {s['support']}"
        )
    lines.append("混淆矩阵 / confusion (rows = truth): " + " | ".join(rep["labels"]))
    lines += ["  " + " ".join(f"{v:5d}" for v in row) for row in rep["confusion"]]
    lines.append("置信度校准 / calibration: threshold coverage accuracy")
    for row in rep["calibration"]:
        acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        lines.append(f"  ≥{row['threshold']:.2f}: {row['coverage']:.3f} {acc}")
    return "\n".join(lines)
