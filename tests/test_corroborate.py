"""Also reported by (qa.search.corroborate): which other articles give the same answer, which
answer with other figures, and how `qa ask` prints them. Hand-made sentences for the rules; the
real model and reader over the synthetic news archive for the whole path."""

from __future__ import annotations

from qa.cli_ask import format_result
from qa.search.answer import ScoredSentence
from qa.search.corroborate import corroborations, figures, holds_words, normalize, same_answer
from qa.types import Answer, Article, Chunk, Corroboration, Hit, Result, Span

QUESTION = "How much did the council approve for the bridge?"
ANSWER_TEXT = "The council approved 9 million euros for the new bridge on Wednesday."


def article(article_id: str, text: str, date: str | None, source: str | None) -> Article:
    return Article(article_id, article_id.title(), text, "sha-" + article_id, date=date, source=source)


def hit(n: int, art: Article) -> Hit:
    chunk = Chunk(f"{art.id}#0", art.id, 0, 0, len(art.text), art.text, ((0, len(art.text)),))
    return Hit(n + 1, 1.0, chunk, art.title, date=art.date, source=art.source)


def sentence(passage: int, text: str, reader: float | None, coverage: float = 0.5) -> ScoredSentence:
    return ScoredSentence(passage, 0, len(text), text, 0.5, coverage, False, True, 1.0, reader=reader)


ARTICLES = [
    article("daily", ANSWER_TEXT, "2024-03-07", "Galway Daily"),
    article("tribune", "Councillors backed a budget of 9 million euros for the new bridge.", "2024-03-08", "Tribune"),
    article("herald", "The council approved 14 million euros for the new bridge.", "2024-03-12", "Herald"),
    article("copy", "Councillors backed a budget of 9 million euros for the new bridge.", "2024-03-09", "Copycat"),
    article("early", "A budget of 9 million euros for the new bridge was approved.", "2024-03-01", "Early Bird"),
    article("aside", "The new bridge will cost 9 million euros, councillors said.", None, "Undated News"),
    article("weak", "The council backed 9 million euros for the new bridge.", "2024-02-01", "Weak Reader"),
    article("other", "The council met on Wednesday for three hours.", "2024-03-07", "Other"),
    article("stray", "Councillors voted 14 to 4 after a debate.", "2024-03-07", "Stray"),
]
BY_ID = {a.id: a for a in ARTICLES}
HITS = [hit(n, a) for n, a in enumerate(ARTICLES)]
READER = {"daily": 4.0, "tribune": 1.5, "herald": 3.5, "copy": 1.2, "early": -0.4, "aside": -3.0, "weak": -3.6,
          "other": 2.0, "stray": 1.0}
COVERAGE = {"stray": 0.2}  # the share of the question's terms in it: it is not about the bridge
SENTENCES = [sentence(n, a.text, READER[a.id], COVERAGE.get(a.id, 0.5)) for n, a in enumerate(ARTICLES)]
ANSWER = Answer(ANSWER_TEXT, "daily#0", "daily", 0, len(ANSWER_TEXT), 1.0)


def test_normalisation_is_squads() -> None:
    assert normalize("The Eiffel Tower!") == ["eiffel", "tower"]
    assert holds_words("It cost 9 million euros, they said.", normalize("9 million euros"))
    assert not holds_words("It cost 19 million euros.", normalize("9 million euros"))
    assert not holds_words("anything", [])
    assert figures("4.2 million, then 1,000 and 2008") == {"4.2", "1000", "2008"}


def test_same_answer_rules_with_and_without_a_span() -> None:
    tribune, herald = BY_ID["tribune"].text, BY_ID["herald"].text
    assert same_answer(QUESTION, ANSWER, tribune)  # same figure, and 4 of the 5 terms the answer adds to the question
    assert not same_answer(QUESTION, ANSWER, herald)  # 14 million, not 9
    assert not same_answer(QUESTION, ANSWER, BY_ID["other"].text)  # states no figure at all
    spanned = Answer(ANSWER_TEXT, "daily#0", "daily", 0, len(ANSWER_TEXT), 1.0, Span("9 million euros", 21, 36))
    assert same_answer(QUESTION, spanned, "Officials put it at 9 million euros.")
    assert not same_answer(QUESTION, spanned, "Officials put it at 9 million dollars.")


def test_also_in_lists_agreeing_articles_by_date_once_and_differs_apart() -> None:
    also_in, differs = corroborations(QUESTION, ANSWER, SENTENCES[0], SENTENCES, HITS, BY_ID)
    # "copy" repeats the tribune's text word for word: it counts once, as the tribune (read first);
    # "weak" agrees but the reader does not take it to answer (logit -3.6, below READER_ANSWERS
    # -3.5); "other" answers nothing the same; "stray" states other figures but is not about the
    # question (coverage 0.2 < COVERS), so it is not "reported differently"; the undated one comes last
    assert [c.article_id for c in also_in] == ["early", "tribune", "aside"]
    assert also_in[1] == Corroboration("tribune", "Tribune", "2024-03-08", "Tribune", BY_ID["tribune"].text, 0,
                                       len(BY_ID["tribune"].text))
    assert [c.article_id for c in differs] == ["herald"]


def test_nothing_is_listed_without_a_reader_or_from_the_answers_own_article() -> None:
    unread = [sentence(n, a.text, None) for n, a in enumerate(ARTICLES)]
    assert corroborations(QUESTION, ANSWER, unread[0], unread, HITS, BY_ID) == ((), ())
    only_own = [SENTENCES[0], sentence(0, "A second sentence with 9 million euros for the new bridge.", 3.0)]
    assert corroborations(QUESTION, ANSWER, SENTENCES[0], only_own, HITS, BY_ID) == ((), ())


def test_qa_ask_prints_the_span_first_then_the_sentence_and_who_else_reports_it() -> None:
    also = Corroboration("tribune", "Backed", "2024-03-08", "Tribune", "Backed 9 million euros.", 0, 23)
    differs = Corroboration("herald", "Cost", None, "Herald", "It cost 14 million euros.", 0, 25)
    answer = Answer(ANSWER_TEXT, "daily#0", "daily", 0, 70, 1.0, Span("9 million euros", 21, 36), (also,), (differs,))
    text = format_result(Result(QUESTION, answer, ()))
    assert text.splitlines()[:7] == [
        "Answer: 9 million euros",
        f"  in: {ANSWER_TEXT}",
        "  from daily#0",
        "Also reported by:",
        "  Backed — Tribune, 2024-03-08: Backed 9 million euros.",
        "Reported differently by:",
        "  Cost — Herald: It cost 14 million euros.",
    ]
    unsure = format_result(Result(QUESTION, answer, (), unsure=True))
    assert unsure.splitlines()[:2] == ["Not sure: the best sentence reads only weakly as an answer to it.",
                                       "Answer: 9 million euros"]



def test_the_bridge_figure_is_corroborated_by_one_outlet_and_contradicted_by_another(archive_index, embedder) -> None:
    from qa.indexing.stores import open_store
    from qa.search.reader import reader_for
    from qa.search.searcher import Searcher

    searcher = Searcher(open_store(archive_index.index_dir), embedder, reader=reader_for(archive_index))
    result = searcher.ask("How much did the council approve for the Salmon Weir bridge on Wednesday night?", k=5)
    assert result.answer is not None and result.answer.article_id == "galway-daily/salmon-weir-bridge.html"
    assert [(c.source, c.date) for c in result.answer.also_in] == [("Connacht Tribune", "2024-03-08")]
    assert "9 million euros" in result.answer.also_in[0].text
    assert [(c.source, c.date) for c in result.answer.differs] == [("Western Herald", "2024-03-12")]
    assert result.answer.span is not None and result.answer.span.text == "9 million euros"
    article = searcher.store.articles[result.answer.also_in[0].article_id]
    entry = result.answer.also_in[0]
    assert article.text[entry.start : entry.end] == entry.text
    as_json = result.to_dict()["answer"]
    assert [e["source"] for e in as_json["also_in"]] == ["Connacht Tribune"]
    assert [e["source"] for e in as_json["differs"]] == ["Western Herald"]
