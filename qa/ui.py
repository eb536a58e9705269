"""The web chat (Gradio). A thin shell over :class:`qa.search.Searcher`.

It makes no request beyond the machine: analytics are off and the theme uses the system's
fonts, not a font CDN. All corpus text is escaped in :mod:`qa.render`.
"""

from __future__ import annotations

import os
from typing import Any

from qa.config import Settings
from qa.render import result_html
from qa.search import Searcher, open_searcher

EXAMPLES = [
    "Who is the chief of staff of the Iranian armed forces?",
    "Where will the joint naval exercises be held?",
    "How long did the visit to Pakistan last?",
]
CSS = """
.qa-answer { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 2px; }
.qa-source { font-weight: 600; margin-top: .5em; }
.qa-cite { font-weight: 400; opacity: .7; font-size: .9em; }
"""


def build_app(searcher: Searcher, k: int = 5):
    import gradio as gr

    def ask(question: str, history: list[str] | None = None) -> dict[str, Any]:
        """Answer a question (``history``: the previous questions, oldest first); returns the
        same JSON object as `qa ask --json`."""
        turns = [turn for turn in history if isinstance(turn, str)] if isinstance(history, list) else []
        return searcher.ask(question, k, history=turns).to_json()

    def respond(question: str, messages: list[dict[str, Any]]):
        question = (question or "").strip()
        if not question:
            return "", messages
        previous = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
        result = searcher.ask(question, k, history=previous)
        messages = messages + [
            {"role": "user", "content": question},
            {"role": "assistant", "content": result_html(result)},
        ]
        return "", messages

    with gr.Blocks(title="qa", analytics_enabled=False) as app:
        gr.Markdown("## qa: ask the news corpus")
        chat = gr.Chatbot(label="Conversation", height=520, sanitize_html=True, render_markdown=False)
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question about the articles", show_label=False, scale=8)
            send = gr.Button("Ask", variant="primary", scale=1)
        gr.Examples(EXAMPLES, inputs=box)
        box.submit(respond, [box, chat], [box, chat], api_visibility="private")
        send.click(respond, [box, chat], [box, chat], api_visibility="private")
        question_in = gr.Textbox(visible=False)
        history_in = gr.JSON(visible=False)
        answer_out = gr.JSON(visible=False)
        question_in.submit(ask, [question_in, history_in], answer_out, api_name="ask")
    return app


def message_text(content: Any) -> str:
    """A chat message's text: Gradio gives a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def launch_options() -> dict[str, Any]:
    """Options for ``app.launch``: a theme on the system's fonts (the default theme loads
    fonts from a CDN) and the chat's CSS."""
    import gradio as gr

    theme = gr.themes.Default(
        font=[gr.themes.Font("system-ui"), "sans-serif"],
        font_mono=[gr.themes.Font("ui-monospace"), "monospace"],
    )
    return {"theme": theme, "css": CSS, "footer_links": ["api"], "show_error": False}


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    app = build_app(open_searcher(settings), settings.k)
    print(f"qa chat on http://{host}:{port}", flush=True)
    app.launch(server_name=host, server_port=port, **launch_options())
