"""Cheap language detection for posts that do not say their language (py3langid, bundled model)."""

from __future__ import annotations

from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

MIN_CHARS = 20
MIN_CONFIDENCE = 0.9


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    # Loaded on first use, not at import: it takes about half a second.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code when the text is long enough to tell with confidence, else None."""
    if len(text) < MIN_CHARS:
        return None
    lang, confidence = _identifier().classify(text)
    return str(lang) if confidence >= MIN_CONFIDENCE else None
