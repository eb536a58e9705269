"""Text shared by every stage: sentences, question cleaning, follow-up questions, terms, file
names, JSONL lines.

See docs/ARCHITECTURE.md for the data flow and what belongs where."""
