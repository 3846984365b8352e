"""The learning loop's pure parts: features, the text model, back-off, fingerprints,
artefact safety, the evaluation report."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from jiesu_dispatch.learning import artefacts, cli
from jiesu_dispatch.learning.evaluation import calibration, report, stratified_folds
from jiesu_dispatch.learning.text_model import (
    Document,
    TextModel,
    TextParams,
    char_ngrams,
    train_text_model,
)
from jiesu_dispatch.learning.unit_model import (
    Place,
    UnitExample,
    UnitModel,
    UnitParams,
    overturned_rules,
)
from tests.dispatch.learning_data import complaints


@pytest.fixture(scope="module")
def text_model() -> TextModel:
    rows = complaints(160)
    return train_text_model([Document(t, c) for t, c, _ in rows], [k for _, _, k in rows])


def test_character_ngrams_cover_every_length_in_the_range() -> None:
    assert char_ngrams("路灯坏", 1, 2) == ["路", "灯", "坏", "路灯", "灯坏"]


def test_text_model_names_the_category_of_unseen_complaints(text_model: TextModel) -> None:
    held_out = complaints(40, seed=99)
    right = sum(text_model.predict_proba(Document(t, c))[0][0] == k for t, c, k in held_out)
    assert right >= 38
    ranked = text_model.predict_proba(Document("", "晚上路灯不亮"))
    assert ranked[0][0] == "CITY-STREETLIGHT"
    assert sum(p for _, p in ranked) == pytest.approx(1.0)
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)


def test_a_category_seen_once_is_left_out_of_the_fit_not_fatal() -> None:
    rows = complaints(60)
    docs = [Document(t, c) for t, c, _ in rows] + [Document("", "井盖被偷了一个")]
    model = train_text_model(docs, [k for _, _, k in rows] + ["ONCE-ONLY"])
    assert "ONCE-ONLY" not in model.classes
    assert set(model.classes) == {k for _, _, k in rows}


@pytest.mark.parametrize("n_categories", [4, 2])
@pytest.mark.parametrize("classifier", ["nbsvm", "svm+nbsvm"])
def test_the_naive_bayes_scaled_svm_is_served_as_one_linear_model(
    n_categories: int, classifier: str
) -> None:
    rows = [
        r
        for r in complaints(160)
        if r[2] in sorted({k for _, _, k in complaints(40)})[:n_categories]
    ]
    params = TextParams(classifier=classifier)
    model = train_text_model([Document(t, c) for t, c, _ in rows], [k for _, _, k in rows], params)
    members = classifier.count("+") + 1
    per_model = 1 if n_categories == 2 else n_categories
    assert model.coef.shape[1] == members * per_model == len(model.calibration_a)
    held_out = [r for r in complaints(40, seed=99) if r[2] in model.classes]
    right = sum(model.predict_proba(Document(t, c))[0][0] == k for t, c, k in held_out)
    assert right >= len(held_out) - 2
    again = TextModel.from_state(artefacts.load(artefacts.dump(model.to_state())))
    doc = Document(*held_out[0][:2])
    before, after = model.predict_proba(doc), again.predict_proba(doc)
    assert [c for c, _ in after] == [c for c, _ in before] and before[0][0] == held_out[0][2]
    assert [p for _, p in after] == pytest.approx([p for _, p in before])
    assert sum(p for _, p in before) == pytest.approx(1.0)
    if members == 2:  # the ensemble's probabilities: the mean of its two members'
        state = model.to_state()
        alone = []
        for name, cols in (("svm", slice(0, per_model)), ("nbsvm", slice(per_model, None))):
            member = {
                **state,
                "params": {**state["params"], "classifier": name},
                "coef": state["coef"][:, cols],
                **{k: state[k][cols] for k in ("intercept", "calibration_a", "calibration_b")},
            }
            alone.append(dict(TextModel.from_state(member).predict_proba(doc)))
        assert dict(before) == pytest.approx({c: (alone[0][c] + alone[1][c]) / 2 for c in alone[0]})


def test_title_words_come_from_jieba_and_count_more(text_model: TextModel) -> None:
    words = text_model.analyzers.segmenter.words("路灯坏了晚上一片漆黑")
    assert "路灯" in words and "漆黑" in words
    title = [b for b in text_model.blocks if b.field == "title"]
    assert title and all(b.weight == TextParams().title_weight for b in title)


def test_a_model_survives_the_artefact_round_trip(text_model: TextModel) -> None:
    blob = artefacts.dump(text_model.to_state())
    assert artefacts.untrusted_types(blob) == []
    again = TextModel.from_state(artefacts.load(blob))
    doc = Document("停水", "整栋楼停水两天了")
    before, after = text_model.predict_proba(doc), again.predict_proba(doc)
    assert [c for c, _ in after] == [c for c, _ in before]
    assert [p for _, p in after] == pytest.approx([p for _, p in before])


def test_an_artefact_naming_an_untrusted_type_is_refused_before_loading() -> None:
    from sklearn.linear_model import LogisticRegression

    blob = artefacts.dump({"model": LogisticRegression(), "weights": np.zeros(2)})
    with pytest.raises(artefacts.UntrustedArtefact) as refused:
        artefacts.load(blob)
    assert "sklearn.linear_model._logistic.LogisticRegression" in refused.value.types


def test_a_forged_schema_calling_a_function_is_refused() -> None:
    schema = {
        "__class__": "system",
        "__module__": "os",
        "__loader__": "FunctionNode",
        "content": {"module_path": "os", "function": "system"},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    with pytest.raises(artefacts.UntrustedArtefact, match=r"os\.system"):
        artefacts.load(buffer.getvalue())


def test_fingerprint_ignores_row_order_and_follows_data_and_parameters() -> None:
    rows = [("a", "x", "K1"), ("b", "y", "K2")]
    same = artefacts.fingerprint(rows, {"c": 1}, "category")
    assert artefacts.fingerprint(list(reversed(rows)), {"c": 1}, "category") == same
    assert artefacts.fingerprint(rows, {"c": 2}, "category") != same
    assert artefacts.fingerprint([*rows, ("c", "z", "K1")], {"c": 1}, "category") != same


def _unit(category: str, unit: str, **place: str) -> UnitExample:
    return UnitExample(category, Place(**place), "phone", unit)


def test_unit_model_backs_off_from_a_thin_grid_to_the_street_then_the_city() -> None:
    history = [
        *[_unit("ENV-NOISE", "street-a", grid="G1", street="S1", district="D1")] * 3,
        _unit("ENV-NOISE", "dept-x", grid="G2", street="S1", district="D1"),
        *[_unit("ENV-NOISE", "street-b", grid="G9", street="S2", district="D1")] * 5,
    ]
    model = UnitModel.fit(history, UnitParams(min_support=3))
    assert model.suggest("ENV-NOISE", Place(grid="G1", street="S1"), "phone").level == "grid"
    thin = model.suggest("ENV-NOISE", Place(grid="G2", street="S1", district="D1"), "phone")
    assert thin is not None and (thin.unit, thin.level, thin.support) == ("street-a", "street", 4)
    nowhere = model.suggest("ENV-NOISE", Place(), None)
    assert nowhere is not None and (nowhere.unit, nowhere.level) == ("street-b", "city")
    assert model.suggest("ROAD-DAMAGE", Place(grid="G1"), None) is None
    again = UnitModel.from_state(artefacts.load(artefacts.dump(model.to_state())))
    assert again.suggest("ENV-NOISE", Place(grid="G2", street="S1"), "web") == model.suggest(
        "ENV-NOISE", Place(grid="G2", street="S1"), "web"
    )


def test_a_rule_history_keeps_overturning_is_flagged() -> None:
    rule = {"category": "ENV-NOISE", "scope": "*", "lead": "@street"}
    kept = {"category": "ROAD-DAMAGE", "scope": "*", "lead": "dept-jt"}
    rows = [(rule, "street-a", "dept-x")] * 4 + [(rule, "street-a", "street-a")]
    rows += [(kept, "dept-jt", "dept-jt")] * 5 + [(None, "u", "v")]
    [flagged] = overturned_rules(rows, min_cases=5, min_rate=0.5)
    assert (flagged.category, flagged.assigned, flagged.overturned) == ("ENV-NOISE", 5, 4)
    assert flagged.finished_by == "dept-x"


def test_report_gives_per_class_scores_confusion_and_calibration() -> None:
    truth = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", "b"]
    rep = report(truth, predicted, [0.9, 0.4, 0.8, 0.95])
    assert rep["accuracy"] == 0.75
    assert rep["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert rep["confusion"] == [[1, 1], [0, 2]]
    assert rep["macro_f1"] == pytest.approx((0.6667 + 0.8) / 2, abs=1e-4)
    at_08 = next(
        r for r in calibration(truth, predicted, [0.9, 0.4, 0.8, 0.95]) if r["threshold"] == 0.8
    )
    assert (at_08["n"], at_08["accuracy"], at_08["coverage"]) == (3, 1.0, 0.75)


def test_stratified_folds_spread_every_class() -> None:
    labels = ["a"] * 10 + ["b"] * 5
    folds = stratified_folds(labels, 5)
    assert sorted(i for f in folds for i in f) == list(range(15))
    assert all(sum(labels[i] == "b" for i in f) == 1 for f in folds)


def test_model_parameters_read_from_the_command_line_and_checked() -> None:
    assert cli._param("classifier=svm+nbsvm") == ("classifier", "svm+nbsvm")
    assert cli._param("c=0.5") == ("c", 0.5)
    assert cli._param("class_weight=null") == ("class_weight", None)
    with pytest.raises(ValueError, match="classifier must be one of"):
        TextParams(classifier="forest")
