"""Cheap language detection for posts that do not say their language (py3langid, bundled model)."""

from __future__ import annotations

import threading
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

MIN_CHARS = 20
MIN_CONFIDENCE = 0.9

# One load at a time: ``lru_cache`` lets callers that arrive while the first load runs load it again. The
# web process warms the model up in a thread at start; the first note long enough to identify, arriving
# meanwhile, made a second load on the event loop (0.6-1 s of unpickling, every note and frame waiting), a
# cost the benchmarks' first notes paid too. Now it waits for the load already under way.
_LOADING = threading.Lock()


@lru_cache(maxsize=1)
def _load() -> LanguageIdentifier:
    # Loaded on first use, not at import: it takes about half a second.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _identifier() -> LanguageIdentifier:
    with _LOADING:
        return _load()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code when the text is long enough to tell with confidence, else None."""
    if len(text) < MIN_CHARS:
        return None
    lang, confidence = _identifier().classify(text)
    return str(lang) if confidence >= MIN_CONFIDENCE else None
