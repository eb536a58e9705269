"""HTML for the web chat: replies and the source viewer. Every piece of corpus text goes
through :func:`html.escape`; markup is only ever added around escaped text, and the only
attributes that carry corpus data (a button's ``value``: the chunk id, or the article and
sentence it opens; its ``title``; ``href``) are escaped with ``quote=True``. The chat's sanitiser
(DOMPurify) drops ``data-*`` attributes and inline handlers but keeps ``value``, so that is where
a citation keeps what it opens."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence

from qa.types import UNSURE_TEXT, Answer, Article, Chunk, Corroboration, Hit, Result

ABSTAIN_TEXT = "The corpus does not answer this."
RETRIEVERS = {"dense": "dense", "bm25": "BM25"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def marked(text: str, offset: int, spans: Sequence[tuple[int, int, str]]) -> str:
    """``text`` (which starts at ``offset`` in its article) escaped, with each ``(start, end,
    css_class)`` span (article offsets) wrapped in ``<mark class=css_class>``. Spans may nest
    or overlap: the text is cut at every span boundary and each piece is wrapped in the marks
    that cover it, outermost (earliest listed) first."""
    spans = [(max(s - offset, 0), min(e - offset, len(text)), c) for s, e, c in spans]
    spans = [(s, e, c) for s, e, c in spans if s < e]
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    out = []
    for left, right in zip(cuts, cuts[1:]):
        piece = escape(text[left:right])
        for start, end, css in reversed(spans):
            if start <= left and right <= end:
                piece = f'<mark class="{css}">{piece}</mark>'
        out.append(piece)
    return "".join(out)


def highlighted(text: str, offset: int, start: int, end: int) -> str:
    """``text`` (which starts at ``offset`` in its article) with ``[start, end)`` in <mark>."""
    return marked(text, offset, [(start, end, "qa-answer")])


def found_by_text(found_by: Mapping[str, int]) -> str:
    """"dense #1, BM25 #3": the rank each retriever gave a passage."""
    return ", ".join(f"{RETRIEVERS.get(leg, leg)} #{rank}" for leg, rank in sorted(found_by.items())) or "—"


def human_date(iso: str) -> str:
    """``2024-03-07`` -> ``7 March 2024``; any other text as it is."""
    try:
        day = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def when_who(source: str | None, date: str | None) -> str:
    """"Galway Daily · 7 March 2024" (escaped), the date in a ``<time>``; "" when neither is known."""
    parts = [f'<span class="qa-outlet">{escape(source)}</span>'] if source else []
    if date:
        parts.append(f'<time datetime="{escape(date)}">{escape(human_date(date))}</time>')
    return " · ".join(parts)


def source_line(article: Article | None, hit: Hit | None = None) -> str:
    """Where an article comes from: its source and date, a link to its URL (http and https
    only, so a ``javascript:`` URL in the corpus is shown as text), then its file. Without the
    article, what the passage (``hit``) carries."""
    holder: Article | Hit
    if article is not None:
        holder, where = article, article.path or article.id
    elif hit is not None:
        holder, where = hit, hit.chunk.article_id
    else:
        return ""
    parts = [when_who(holder.source, holder.date)] if holder.source or holder.date else []
    url = holder.url or ""
    if url.startswith(("https://", "http://")):
        parts.append(f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer nofollow">{escape(url)}</a>')
    elif url:
        parts.append(escape(url))
    parts.append(escape(where))
    return " · ".join(parts)


def passage_html(hit: Hit, result: Result, articles: Mapping[str, Article] | None = None, *, card: bool = False) -> str:
    """One passage: title, source, rank, score, the retrievers that found it and a button
    that opens it in the source viewer; the answer sentence marked if it is in it. As a card
    (``card=True``) it is a closed ``<details>`` whose summary says the same in one line."""
    body = passage_body(hit, result.answer)
    article = (articles or {}).get(hit.chunk.article_id)
    meta = (
        f'<span class="qa-cite">#{hit.rank} · score {hit.score:.3f} · found by {found_by_text(hit.found_by)}'
        f" · {escape(hit.chunk.id)}</span>"
    )
    source = source_line(article, hit)
    when = when_who(article.source, article.date) if article is not None else when_who(hit.source, hit.date)
    open_button = (
        f'<button class="qa-open" type="button" value="{escape(hit.chunk.id)}">Show in article</button>'
    )
    if card:
        return (
            f'<details class="qa-card"><summary>{meta}<span class="qa-title">{escape(hit.title)}</span>'
            + (f'<span class="qa-when">{when}</span>' if when else "")
            + "</summary>"
            + (f'<div class="qa-from">{source}</div>' if source else "")
            + f'<p class="qa-text">{body}</p>{open_button}</details>'
        )
    return (
        f'<div class="qa-passage"><div class="qa-source"><span class="qa-title">{escape(hit.title)}</span> {meta}</div>'
        + (f'<div class="qa-from">{source}</div>' if source else "")
        + f'<p class="qa-text">{body}</p>{open_button}</div>'
    )


def answer_sentence_html(answer: Answer) -> str:
    """The answer sentence, escaped, with the exact answer (``answer.span``) in bold inside it."""
    text = answer.text
    if answer.span is None:
        return escape(text)
    left, right = answer.span.start - answer.start, answer.span.end - answer.start
    if not 0 <= left < right <= len(text):
        return escape(text)
    return f'{escape(text[:left])}<strong class="qa-span">{escape(text[left:right])}</strong>{escape(text[right:])}'


def passage_body(hit: Hit, answer: Answer | None) -> str:
    """The passage's text, escaped, with the answer sentence in one ``<mark>`` (the exact answer
    bold inside it) when the answer was taken from this passage."""
    chunk = hit.chunk
    if answer is None or answer.chunk_id != chunk.id:
        return escape(chunk.text)
    left, right = answer.start - chunk.start, answer.end - chunk.start
    if not (0 <= left < right <= len(chunk.text) and chunk.text[left:right] == answer.text):
        return marked(chunk.text, chunk.start, [(answer.start, answer.end, "qa-answer")])
    return (
        f'{escape(chunk.text[:left])}<mark class="qa-answer">{answer_sentence_html(answer)}</mark>'
        f"{escape(chunk.text[right:])}"
    )


def answer_line(answer: Answer) -> str:
    """The answer sentence above its passage: bold, or, when the reader found the exact answer
    in it, with that answer in bold."""
    if answer.span is None:
        return f'<p class="qa-answer-line"><strong>{escape(answer.text)}</strong></p>'
    return f'<p class="qa-answer-line">{answer_sentence_html(answer)}</p>'


def result_html(result: Result, articles: Mapping[str, Article] | None = None) -> str:
    """The chat reply: the answer sentence, its passage with the sentence marked, then the
    other passages as cards. An abstention says so and shows the closest passages as cards.
    ``articles`` (by id) add each passage's source; without them the file id is shown."""
    if not result.hits:
        return (
            '<p class="qa-empty">The index is empty: add articles in the Corpus tab (or run <code>qa index</code>).</p>'
        )
    if result.abstained or result.answer is None:
        reason = f" {escape(result.reason)}" if result.reason else ""
        parts = [f'<p class="qa-abstain"><strong>{ABSTAIN_TEXT}</strong>{reason} The closest passages:</p>']
        parts += [passage_html(hit, result, articles, card=True) for hit in result.hits]
        return '<div class="qa-reply">' + "\n".join(parts) + "</div>"
    first = answer_hit(result)
    parts = [
        f'<p class="qa-unsure">{escape(UNSURE_TEXT)}</p>' if result.unsure else "",
        answer_line(result.answer),
        reported_html("Also reported by", result.answer.also_in, "qa-also"),
        reported_html("Reported differently by", result.answer.differs, "qa-differs"),
        passage_html(first, result, articles),
    ]
    parts = [part for part in parts if part]
    others = [hit for hit in result.hits if hit is not first]
    if others:
        parts.append('<p class="qa-more">More passages:</p>')
        parts += [passage_html(hit, result, articles, card=True) for hit in others]
    return '<div class="qa-reply">' + "\n".join(parts) + "</div>"


def article_request(article_id: str, start: int, end: int) -> str:
    """What a button that opens an article at a sentence carries: ``START END ARTICLE_ID``
    (the id last, so that it may hold spaces); :func:`parse_article_request` reads it back."""
    return f"{start} {end} {article_id}"


def parse_article_request(request: str) -> tuple[str, int, int] | None:
    """``(article_id, start, end)`` from :func:`article_request`'s text; None if it is not one."""
    start, _, rest = request.partition(" ")
    end, _, article_id = rest.partition(" ")
    if not (all(part.isascii() and part.isdigit() for part in (start, end)) and article_id):
        return None
    return article_id, int(start), int(end)


def reported_entry(entry: Corroboration) -> str:
    """One outlet of a "reported by" line: a button, "Connacht Tribune, 8 March 2024" (the
    title when the source is unknown; no date when that is), that opens the article in the
    source viewer with its sentence marked. Its tooltip is the sentence and the article's title."""
    name = escape(entry.source or entry.title or entry.article_id)
    if entry.date:
        name += f', <time datetime="{escape(entry.date)}">{escape(human_date(entry.date))}</time>'
    tip = escape(f"“{entry.text}” ({entry.title})" if entry.title else f"“{entry.text}”")
    return (
        f'<button class="qa-open-article" type="button" title="{tip}"'
        f' value="{escape(article_request(entry.article_id, entry.start, entry.end))}">{name}</button>'
    )


def joined(items: Sequence[str]) -> str:
    """"A", "A and B", "A; B and C": an entry holds a comma ("Galway Daily, 7 March 2024"), so
    a longer list is kept apart by semicolons."""
    if len(items) <= 2:
        return " and ".join(items)
    return "; ".join(items[:-1]) + " and " + items[-1]


def reported_html(lead: str, entries: Sequence[Corroboration], css: str) -> str:
    """``<p>``: ``lead`` ("Also reported by") then the entries in their order (by date), each
    a button opening its article; "" without entries."""
    if not entries:
        return ""
    return f'<p class="qa-reported {css}">{escape(lead)} {joined([reported_entry(entry) for entry in entries])}</p>'


def answer_hit(result: Result) -> Hit:
    """The passage the answer sentence was taken from (it may not be the first one)."""
    chunk_id = result.answer.chunk_id if result.answer else None
    return next((hit for hit in result.hits if hit.chunk.id == chunk_id), result.hits[0])


def source_html(article: Article, chunk: Chunk | None = None, answer: tuple[int, int] | None = None) -> str:
    """The whole article for the source viewer: the passage (``chunk``) and the answer sentence
    (``answer``: article offsets) marked. The answer's first mark (else the passage's) has the id
    the page scrolls to."""
    spans = []
    if chunk is not None:
        spans.append((chunk.start, chunk.end, "qa-in-passage"))
    if answer is not None:
        spans.append((answer[0], answer[1], "qa-answer"))
    target = f'<mark class="{spans[-1][2]}"' if spans else "<mark"
    body = marked(article.text, 0, spans).replace(target, target.replace("<mark", '<mark id="qa-scroll-target"'), 1)
    where = f' <span class="qa-cite">{escape(chunk.id)}</span>' if chunk is not None else ""
    return (
        f'<article class="qa-article"><h3 class="qa-title">{escape(article.title)}</h3>'
        f'<div class="qa-from">{source_line(article)}{where}</div>'
        f'<div class="qa-article-text">{body}</div></article>'
    )
