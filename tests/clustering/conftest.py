"""Small streams shared by the clustering tests."""

from __future__ import annotations

import random

import pytest

TOPICS = {
    "rust": "rust borrow checker lifetimes cargo crates async tokio compiler memory safety",
    "mesh": "mesh network routers batman wifi antenna nodes freifunk firmware openwrt",
    "vote": "voting machines election audit ballots paper trail certification tamper",
    "bees": "bees hive honey pollen beekeeping swarm queen sensors temperature",
}


def make_stream(n: int = 400, seed: int = 0, blocks: bool = True) -> tuple[list[str], list[str]]:
    """Posts of a few topics; with ``blocks`` each topic is live for its own stretch of the stream."""
    rng = random.Random(seed)
    names = sorted(TOPICS)
    texts, labels = [], []
    for i in range(n):
        topic = names[(i * len(names)) // n] if blocks else rng.choice(names)
        words = TOPICS[topic].split()
        k = rng.randint(3, 6)
        texts.append(" ".join(rng.sample(words, k)))
        labels.append(topic)
    return texts, labels


@pytest.fixture
def stream() -> tuple[list[str], list[str]]:
    return make_stream()
