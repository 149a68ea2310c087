"""Language detection's model: loaded once, however many callers want it first."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from py3langid.langid import LanguageIdentifier

from ingest import language


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    made: list[str] = []
    real = LanguageIdentifier.from_model_file

    def slow_load(*args: object, **kwargs: object) -> LanguageIdentifier:
        made.append(threading.current_thread().name)
        time.sleep(0.2)  # long enough for the other caller to arrive meanwhile
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LanguageIdentifier, "from_model_file", slow_load)
    language._load.cache_clear()
    yield made
    language._load.cache_clear()


def test_a_caller_arriving_during_the_warm_up_load_waits_for_it_instead_of_loading_again(loads: list[str]) -> None:
    # As in the web process: the model warms up in a thread while the first note (on the event loop) needs it.
    warm = threading.Thread(target=language.detect_language, args=("warming up the identifier before any post",))
    warm.start()
    while not loads:
        time.sleep(0.001)
    assert language.detect_language("the first note long enough to be identified") == "en"
    warm.join()
    assert len(loads) == 1
