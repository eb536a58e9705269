"""The web chat (Gradio): a thin shell over :class:`qa.web.service.ChatService`.

Three tabs: Chat (with the source viewer beside it), Corpus (upload, list, delete) and
Evaluate. It makes no request beyond the machine: analytics are off and the theme uses the
system's fonts, not a font CDN. All corpus text is escaped in :mod:`qa.web.render`.

Importing this module does not import Gradio; :func:`build_app` and :func:`launch` do.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qa.config import MODES, Settings, malloc_arenas_set, quiet_gradio
from qa.errors import ConfigError, QAError
from qa.ingest.readers import SUPPORTED_SUFFIXES
from qa.types import Rejected, Result
from qa.web import appcache
from qa.web.appcache import forget
from qa.web.hostguard import server_middleware
from qa.web.render import escape, parse_article_request, result_html, source_html
from qa.web.service import MAX_UPLOAD_MB, SHIPPED_QUESTIONS, ChatService, Update, chat_filter, corpus_folder
from qa.web.throttle import DEFAULT_ATTEMPTS, DEFAULT_LOCKOUT

EXAMPLES = [
    "Who is the chief of staff of the Iranian armed forces?",
    "Where will the joint naval exercises be held?",
    "How long did the visit to Pakistan last?",
    "Where can Tehran and Islamabad establish joint bases?",
]
STATIC = Path(__file__).with_name("static")  # package data: the chat's CSS and the page's scripts


def static_text(name: str) -> str:
    """One of the files in ``static/``, as Gradio takes CSS and JS: a string."""
    return (STATIC / name).read_text(encoding="utf-8")


SOURCE_PLACEHOLDER = '<p class="qa-hint">Ask a question: the article it is answered from opens here.</p>'
CSS = static_text("chat.css")
# Citations in the chat are plain buttons whose value is the chunk id (the chat's sanitiser
# drops inline handlers and data attributes), so one listener on the page hands a click to the hidden "open" box, whose
# change event asks the server for the article. The time stamp makes a repeated click count.
PAGE_JS = static_text("page.js")
# After an answer: the chat shows the question and the start of the reply (its answer line,
# not its last card; the chat's own autoscroll is off for that), and the source panel its marked sentence. Only
# those two boxes scroll; the page stays where it is.
SCROLL_PANEL_JS = static_text("scroll-panel.js")
# After a click on "Show in article": bring the marked sentence into view, page included.
SCROLL_INTO_VIEW_JS = static_text("scroll-into-view.js")


def build_app(service: ChatService, *, answers_at_once: int | None = None) -> Any:
    """The Gradio Blocks of the chat (returns a ``gr.Blocks``). ``answers_at_once``: how many
    questions (the chat's and the ``/ask`` API's together) are answered at the same time;
    default one per core."""
    import gradio as gr

    from qa.embed.export import cpu_count

    settings = service.settings
    # Gradio runs one call of each event at a time unless told otherwise, so 32 users asking
    # at once queued behind a single answer. Both question events share one limit: the
    # searcher is safe to call from several threads (tests/test_service.py) and the model runs
    # on its embedder's own threads. One per core answers most (docs/BENCHMARKS.md, "Figures behind the code").
    answering: dict[str, Any] = {"concurrency_limit": answers_at_once or cpu_count(), "concurrency_id": "answer"}

    def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Answer a question (``history``: the previous questions, oldest first); returns the
        same JSON object as `qa ask --json`."""
        turns = [turn for turn in history if isinstance(turn, str)] if isinstance(history, list) else []
        return service.ask(question, settings.k, history=turns).to_dict()

    def respond(question: str, messages: list[dict[str, Any]], k: float, mode: str, answers: dict[str, list[int]],
                since: str = "", until: str = "", sources: list[str] | None = None):
        question = (question or "").strip()
        if not question:
            return "", messages, gr.skip(), answers
        try:
            where = chat_filter(since, until, sources)  # every question, follow-ups included
        except ConfigError as error:
            reply = f'<div class="qa-reply"><p class="qa-abstain qa-notice">{escape(str(error))}</p></div>'
            return question, messages + [{"role": "assistant", "content": reply}], gr.skip(), answers
        previous = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
        result = service.ask(question, int(k), mode=mode, history=previous, where=where)
        articles = service.searcher.store.articles
        messages = messages + [
            {"role": "user", "content": question},
            {"role": "assistant", "content": with_notice(result, result_html(result, articles))},
        ]
        if result.answer is not None:
            answers = {**answers, result.answer.chunk_id: [result.answer.start, result.answer.end]}
            source = show(result.answer.chunk_id, answers)
        elif result.hits:
            source = show(result.hits[0].chunk.id, answers)
        else:
            source = SOURCE_PLACEHOLDER
        return "", messages, source, answers

    def show(chunk_id: str, answers: dict[str, list[int]]) -> str:
        """The whole article of a chunk, the chunk and (if it holds one) the answer marked."""
        store = service.searcher.store
        row = store.chunks.row_of(chunk_id)
        if row is None:
            return f'<p class="qa-hint">{escape(chunk_id)} is no longer in the index (its article was deleted).</p>'
        chunk, span = store.chunks[row], answers.get(chunk_id)
        return source_html(store.articles[chunk.article_id], chunk, (span[0], span[1]) if span else None)

    def open_chunk(request: str, answers: dict[str, list[int]]) -> str:
        chunk_id = (request or "").rpartition("|")[0]
        return show(chunk_id, answers) if chunk_id else gr.skip()

    def open_article(request: str) -> str:
        """An "also reported by" entry: its article, its sentence marked (``START END ID|time``)."""
        wanted = parse_article_request((request or "").rpartition("|")[0])
        if wanted is None:
            return gr.skip()
        article_id, start, end = wanted
        article = service.searcher.store.articles.get(article_id)
        if article is None:
            return f'<p class="qa-hint">{escape(article_id)} is no longer in the index (it was deleted).</p>'
        return source_html(article, None, (start, end) if start < end <= len(article.text) else None)

    def add_files(files: list[str] | None, progress: gr.Progress = gr.Progress(track_tqdm=True)):
        if not files:
            return status_html(error="Choose one or more files first."), *corpus_views(), gr.skip()
        progress(0.05, desc="Saving the files into the corpus folder")
        try:
            update = service.add([(Path(name).name, Path(name)) for name in files], progress=True)
        except QAError as error:
            return status_html(error=str(error)), *corpus_views(), None
        finally:
            forget(files)  # saved into the corpus or refused: Gradio's copy is not kept
        progress(1.0, desc="Indexed")
        return status_html(update), *corpus_views(), None

    def delete_article(article_id: str | None, progress: gr.Progress = gr.Progress(track_tqdm=True)):
        if not article_id:
            return status_html(error="Pick the article to delete first."), *corpus_views()
        progress(0.1, desc=f"Deleting {article_id}")
        try:
            update = service.delete(article_id, progress=True)
        except QAError as error:
            return status_html(error=str(error)), *corpus_views()
        return status_html(update), *corpus_views()

    def delete_refused(file_id: str | None, progress: gr.Progress = gr.Progress(track_tqdm=True)):
        if not file_id:
            return status_html(error="Pick the file to delete first."), *corpus_views()
        try:
            update = service.delete_file(file_id, progress=True)
        except QAError as error:
            return status_html(error=str(error)), *corpus_views()
        return status_html(update), *corpus_views()

    def corpus_views():
        rows, refused = service.articles(), service.not_indexed()
        return (
            gr.Dataframe(value=rows or [["", 0, "", ""]]),
            gr.Dropdown(choices=[row[0] for row in rows], value=None),
            gr.Dataframe(value=refused or [["", ""]]),
            gr.Dropdown(choices=[row[0] for row in refused], value=None),
            gr.Dropdown(choices=service.sources()),  # the Settings' source picker, its choice kept
        )

    def run_evaluation(upload: str | None, mode: str, progress: gr.Progress = gr.Progress(track_tqdm=True)):
        from qa.web import evalrun

        path = Path(upload) if upload else SHIPPED_QUESTIONS
        modes = list(MODES) if mode == "all" else [mode]
        progress(0, desc=f"Asking the questions of {path.name}")
        title = path.name
        return evalrun.run(service, path, modes, title, progress=True)  # escaped HTML (qa.web.report_html)

    with gr.Blocks(title="qa", analytics_enabled=False) as app:
        gr.Markdown("## qa · ask the news corpus", elem_id="qa-header")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        chat = gr.Chatbot(
                            label="Conversation", show_label=False, height=560, sanitize_html=True,
                            render_markdown=False, layout="panel", autoscroll=False,
                            elem_id="qa-chat",
                        )
                        with gr.Row():
                            box = gr.Textbox(
                                placeholder="Ask a question about the articles", show_label=False, scale=8,
                                elem_id="qa-question",
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                        gr.Examples(EXAMPLES, inputs=box, label="Example questions")
                        with gr.Accordion("Settings", open=False, elem_id="qa-settings"):
                            k = gr.Slider(1, 20, value=settings.k, step=1, label="Passages per answer (k)",
                                          elem_id="qa-k")
                            mode = gr.Radio(
                                list(MODES),
                                value=settings.search.mode,
                                label="Retrieval",
                                info="hybrid: dense and BM25 fused; dense: embeddings only; bm25: keywords only",
                                elem_id="qa-mode",
                            )
                            with gr.Row():  # the filter of every question (articles without a date fail a date)
                                since = gr.Textbox(label="From (YYYY-MM-DD)", placeholder="2024-01-01",
                                                   elem_id="qa-since")
                                until = gr.Textbox(label="To (YYYY-MM-DD)", placeholder="2024-12-31",
                                                   elem_id="qa-until")
                            sources = gr.Dropdown(choices=service.sources(), value=[], multiselect=True,
                                                  label="Sources", info="only articles from these outlets (none: all)",
                                                  elem_id="qa-sources")
                        clear = gr.Button("New conversation", size="sm")
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("**Source**")
                        source = gr.HTML(SOURCE_PLACEHOLDER, elem_id="qa-source", js_on_load=None)
                answers = gr.State({})
                chunk_request = gr.Textbox(visible="hidden", elem_id="qa-open-chunk")
                article_request = gr.Textbox(visible="hidden", elem_id="qa-open-article")
            with gr.Tab("Corpus", id="corpus"):
                gr.Markdown(corpus_intro(settings))
                files = gr.File(label="Articles to add", file_count="multiple", type="filepath", height=150,
                                elem_id="qa-upload")
                add = gr.Button("Add and index", variant="primary")
                status = gr.HTML("", elem_id="qa-corpus-status")
                rows = service.articles()
                table = gr.Dataframe(
                    value=rows or [["", 0, "", ""]], headers=["article", "chunks", "title", "file"],
                    datatype=["str", "number", "str", "str"], interactive=False, label="Indexed articles",
                    elem_id="qa-articles", wrap=True, column_widths=["220px", "80px", "480px", "200px"],
                )
                with gr.Row():
                    victim = gr.Dropdown(
                        choices=[row[0] for row in rows],
                        value=None,
                        label="Article to delete",
                        info="its file is removed from the corpus folder (a .jsonl or .csv file: all of its articles)",
                        scale=3,
                        elem_id="qa-delete-choice",
                    )
                    delete = gr.Button("Delete article", variant="stop", scale=1, min_width=120)
                refused = service.not_indexed()
                refused_table = gr.Dataframe(
                    value=refused or [["", ""]], headers=["file", "why it is not indexed"], datatype=["str", "str"],
                    interactive=False, label="Not indexed", elem_id="qa-not-indexed", wrap=True,
                )
                with gr.Row():
                    refused_choice = gr.Dropdown(choices=[row[0] for row in refused], value=None,
                                                 label="File to delete",
                                                 info="removed from the corpus folder (a link: the link only)",
                                                 scale=3, elem_id="qa-delete-file-choice")
                    delete_file = gr.Button("Delete file", variant="stop", scale=1, min_width=120)
            with gr.Tab("Evaluate", id="evaluate"):
                gr.Markdown(
                    "Score a question set against the current index, as `qa eval` does: the shipped"
                    f" `{SHIPPED_QUESTIONS.name}` (seed questions), or your own JSONL file"
                    " (one `{\"id\", \"question\", \"answers\"}` object per line; see the README)."
                )
                with gr.Row():
                    questions = gr.File(label="Question set (leave empty for the shipped one)", file_count="single",
                                        file_types=[".jsonl"], type="filepath", scale=2, elem_id="qa-eval-questions")
                    eval_mode = gr.Radio([*MODES, "all"], value=settings.search.mode, label="Retrieval", scale=1)
                run = gr.Button("Run evaluation", variant="primary")
                with gr.Row(equal_height=False):  # side by side on a laptop, one above the other on a phone
                    with gr.Column(scale=3, min_width=320):
                        report = gr.HTML(elem_id="qa-eval-report")
                    with gr.Column(scale=2, min_width=320):
                        plot = gr.Image(label="hit@k", type="filepath", interactive=False, elem_id="qa-eval-plot")
                downloads = gr.File(label="Results (report.md, results per mode, the plot)", file_count="multiple",
                                    interactive=False)

        for event in (box.submit, send.click):
            event(
                respond, [box, chat, k, mode, answers, since, until, sources], [box, chat, source, answers],
                api_visibility="private", **answering,
            ).then(
                None, js=SCROLL_PANEL_JS
            )
        clear.click(lambda: ([], SOURCE_PLACEHOLDER, {}), None, [chat, source, answers], api_visibility="private")
        chunk_request.change(open_chunk, [chunk_request, answers], source, api_visibility="private").then(
            None, js=SCROLL_INTO_VIEW_JS
        )
        article_request.change(open_article, article_request, source, api_visibility="private").then(
            None, js=SCROLL_INTO_VIEW_JS
        )
        views = [table, victim, refused_table, refused_choice, sources]
        add.click(add_files, files, [status, *views, files], api_visibility="private")
        delete.click(delete_article, victim, [status, *views], api_visibility="private")
        delete_file.click(delete_refused, refused_choice, [status, *views], api_visibility="private")
        run.click(run_evaluation, [questions, eval_mode], [report, plot, downloads], api_visibility="private")
        app.load(corpus_views, None, views, api_visibility="private")

        question_in = gr.Textbox(visible=False)
        history_in = gr.JSON(visible=False)
        answer_out = gr.JSON(visible=False)
        question_in.submit(ask, [question_in, history_in], answer_out, api_name="ask", **answering)
    return app


def with_notice(result: Result, reply: str) -> str:
    """The reply, led by what the filter left out (escaped): no article matches it, or a source
    no article has."""
    if not result.notice:
        return reply
    notice = f'<p class="qa-abstain qa-notice">{escape(result.notice)}</p>'
    return f'<div class="qa-reply">{notice}</div>' if not result.hits else notice + reply


def corpus_intro(settings: Settings) -> str:
    try:
        folder = f"`{corpus_folder(settings)}`"
    except ConfigError:
        folder = "the corpus folder (the chat was started without one: adding is not possible)"
    formats = " ".join(sorted(SUPPORTED_SUFFIXES))
    return (
        f"Add articles to {folder}: {formats}; several at once, at most {MAX_UPLOAD_MB} MB each."
        " They are indexed at once (only what is new or changed is embedded) and the chat answers from them."
    )


def status_html(update: Update | None = None, *, error: str | None = None) -> str:
    """What a corpus change did, as escaped HTML (file names come from the uploader)."""
    if error:
        return f'<div class="qa-status"><strong>{escape(error)}</strong></div>'
    assert update is not None
    parts = []
    if update.saved:
        parts.append(f"Added {escape(', '.join(update.saved))}.")
    if update.deleted:
        parts.append(f"Deleted {escape(', '.join(update.deleted))}.")
    if update.removed:
        parts.append(f"Not indexed, so removed again from the corpus folder: {escape(', '.join(update.removed))}.")
    report = update.report
    if report is not None:
        parts.append(
            f"The index holds {report.n_articles} articles in {report.n_chunks} chunks"
            f" ({report.embedded} embedded just now, {report.seconds:.1f} s)."
        )
    rejected: list[Rejected] = [*update.rejected, *(report.rejected if report else [])]
    html_parts = [f"<p>{' '.join(parts) or 'Nothing was added.'}</p>"]
    if rejected:
        items = "".join(f"<li>{escape(r.path)}: {escape(r.reason)}</li>" for r in rejected)
        html_parts.append(f"<p><strong>Rejected ({len(rejected)}):</strong></p><ul>{items}</ul>")
    warnings = report.warnings if report else []
    if warnings:
        items = "".join(f"<li>{escape(w.path)}: {escape(w.reason)}</li>" for w in warnings)
        html_parts.append(f"<p><strong>Indexed, with warnings ({len(warnings)}):</strong></p><ul>{items}</ul>")
    return '<div class="qa-status">' + "".join(html_parts) + "</div>"


def message_text(content: Any) -> str:
    """A chat message's text: Gradio gives a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def parse_credentials(text: str, where: str) -> tuple[str, str]:
    user, colon, password = text.strip().partition(":")
    if not colon or not user or not password:
        raise ConfigError(f"{where}: expected USER:PASSWORD with both parts non-empty")
    return user, password


def server_auth(host: str, auth: str | None = None, auth_file: Path | None = None) -> list[tuple[str, str]] | None:
    """The credentials to require, from ``--auth USER:PASSWORD`` and/or ``--auth-file FILE``
    (one USER:PASSWORD a line; blank lines and ``#`` comments skipped). Refuses to serve on
    an address other machines can reach without any."""
    credentials = []
    if auth:
        credentials.append(parse_credentials(auth, "--auth"))
    if auth_file:
        try:
            lines = Path(auth_file).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise ConfigError(f"cannot read the auth file {auth_file}: {error.strerror or error}") from error
        for number, line in enumerate(lines, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                credentials.append(parse_credentials(line, f"{auth_file}:{number}"))
        if not credentials:
            raise ConfigError(f"the auth file {auth_file} holds no USER:PASSWORD line")
    if not credentials and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without a password: other machines could reach the chat."
            " Add --auth USER:PASSWORD or --auth-file FILE, or listen on 127.0.0.1 (the default)"
        )
    return credentials or None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Let the threads of this process share ``arenas`` malloc heaps, as ``MALLOC_ARENA_MAX``
    does (which is left alone when set). glibc gives threads that allocate at once heaps of
    their own, up to 8 per core, and seldom gives their free space back; Gradio answers on a
    pool of up to 40 threads and serves on another, so a busy chat's memory rose in steps and
    swung by ~100 MB. Measured in docs/RELIABILITY.md ("Load"). True when set; a no-op off
    glibc."""
    if malloc_arenas_set():
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return mallopt(-8, arenas) == 1  # -8: M_ARENA_MAX in glibc's malloc.h


def launch_options() -> dict[str, Any]:
    """Options for ``app.launch``: a theme on the system's fonts (the default theme loads
    fonts from a CDN), the chat's CSS and page script, and the upload size limit."""
    import gradio as gr

    theme = gr.themes.Default(
        font=[gr.themes.Font("system-ui"), "sans-serif"],
        font_mono=[gr.themes.Font("ui-monospace"), "monospace"],
    )
    return {
        "theme": theme, "css": CSS, "js": PAGE_JS, "footer_links": ["api"], "show_error": False,
        "max_file_size": f"{MAX_UPLOAD_MB}mb",
        # Nothing served that the chat does not use: no Node server (SSR), MCP server, PWA
        # manifest or monitoring page; files only from the chat's own cache (qa.web.appcache).
        "ssr_mode": False, "mcp_server": False, "pwa": False, "enable_monitoring": False, "strict_cors": True,
    }


def launch(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    auth: Sequence[tuple[str, str]] | None = None,
    embedder: Any = None,
    started: float | None = None,
    notify: Callable[[str], None] = print,
    allowed_hosts: Sequence[str] = (),
    login_attempts: int = DEFAULT_ATTEMPTS,
    login_lockout: float = DEFAULT_LOCKOUT,
) -> None:
    """Load the index, serve the chat, and load the model in the background meanwhile.
    ``started``: ``time.perf_counter()`` when the command began, for the timing lines.
    ``allowed_hosts``: host names besides ``host`` that requests may name (qa.web.hostguard);
    ``login_attempts`` failures in a row lock a client out for ``login_lockout`` s (qa.web.throttle)."""
    quiet_gradio()
    appcache.start_sweeper(appcache.prepare())  # before Gradio is imported: it reads GRADIO_TEMP_DIR
    limit_malloc_arenas()
    started = time.perf_counter() if started is None else started

    def say(message: str) -> None:
        notify(f"qa: {message} ({time.perf_counter() - started:.1f} s after start)")

    service = ChatService(settings, embedder)
    store = service.searcher.store
    say(f"index loaded: {len(store.articles)} articles in {len(store)} chunks")
    # The model loads once the page is served, while the browser loads it and the user types.
    # Not sooner: on a small machine, importing sentence-transformers beside Gradio (one
    # interpreter lock) delayed the page by seconds and gave the first answer no sooner
    # (docs/BENCHMARKS.md). Questions that come first wait for it.
    page_up = threading.Event()
    service.warm_up(say, after=page_up)
    app = build_app(service)
    say("page built")
    middleware = server_middleware(host, allowed_hosts, login_attempts=login_attempts if auth else None,
                                   login_lockout=login_lockout)
    app.launch(
        server_name=host, server_port=port, auth=list(auth) if auth else None, prevent_thread_lock=True,
        app_kwargs={"middleware": middleware}, **launch_options(),
    )
    page_up.set()
    say(f"chat on http://{host}:{port}" + (" (password required)" if auth else ""))
    app.block_thread()
