"""Session-summary exports: summary records in, Markdown / HTML / PDF / JSON / CSV / ZIP bytes out."""

from __future__ import annotations
