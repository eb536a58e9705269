"""A question to an answer: retrieval, fusion, sentence scoring, answer types, the reader,
abstention; the fitted model files beside them.

See docs/ARCHITECTURE.md for the data flow and what belongs where."""
