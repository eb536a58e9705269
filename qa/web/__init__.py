"""The chat: the service behind it, the Gradio app, HTML rendering and its static CSS and JS.

See docs/ARCHITECTURE.md for the data flow and what belongs where."""
