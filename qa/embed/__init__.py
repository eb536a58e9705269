"""Texts to vectors: the Embedder protocol, model-directory metadata, the torch and ONNX backends.

See docs/ARCHITECTURE.md for the data flow and what belongs where."""
