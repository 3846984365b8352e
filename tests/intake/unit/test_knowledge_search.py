"""The knowledge base's pure rules: words searched by, the tsquery literal, validity."""

from datetime import date

from jiesu_intake.knowledge import domain, search


def test_words_keep_meaningful_chinese_words_and_drop_stop_words_and_punctuation() -> None:
    found = search.words("请问，新生儿医保怎么办理？WiFi")
    assert "新生儿" in found and "医保" in found and "办理" in found and "wifi" in found
    assert not {"请问", "怎么", "，", "？"} & set(found)


def test_tsquery_literal_quotes_every_word() -> None:
    assert search.tsquery_literal(["医保", "it's"]) == "'医保' | 'it''s'"


def test_an_article_is_current_between_its_dates_inclusive() -> None:
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    assert domain.is_current(start, end, end) and domain.is_current(start, None, date(2030, 1, 1))
    assert not domain.is_current(start, end, date(2027, 1, 1))
    assert not domain.is_current(start, None, date(2025, 12, 31))


def test_excerpt_is_flattened_and_cut() -> None:
    assert search.excerpt("一\n二  三", limit=120) == "一 二 三"
    assert search.excerpt("长" * 200, limit=10) == "长" * 9 + "…"


def test_a_run_too_long_to_be_a_word_is_not_searched_for() -> None:
    found = search.words("公积金提取" + "0" * 5000)
    assert "公积金" in found
    assert all(len(w) <= search.MAX_WORD_CHARS for w in found)
