"""Joint re-attribution: later posts settle what earlier ones were about, and a coherent conversation
about something that is not in the schedule stays in the hallway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from clustering.model import HALLWAY, EventModel, PostDoc
from clustering.talk_refine import _candidate_sums, _cut, _nearest, _pair_products
from ingest.schedules.records import ScheduledPerson, ScheduledTalk

T0 = datetime(2025, 12, 28, 14, 0, tzinfo=UTC)


def talk(guid: str, title: str, room: str) -> ScheduledTalk:
    return ScheduledTalk(
        guid=guid,
        title=title,
        start=T0,
        end=T0 + timedelta(minutes=60),
        room=room,
        speakers=(ScheduledPerson(name="Someone"),),
    )


TALKS = [
    talk("t-sat", "Hacking satellite ground stations", "Saal 1"),
    talk("t-bike", "Repairing cargo bikes", "Saal 2"),
    talk("t-glass", "Glass blowing for beginners", "Saal 3"),
]


def post(pid: str, text: str, minute: float, **kw: object) -> PostDoc:
    return PostDoc(id=pid, text=text, created_at=T0 + timedelta(minutes=minute), **kw)


def model() -> EventModel:
    m = EventModel(refine_every=4)
    m.set_schedule(TALKS)
    return m


def test_an_early_post_moves_to_its_talk_once_later_posts_show_what_it_was_about() -> None:
    m = model()
    # no word of any title: at arrival nobody can tell which of the three talks this is about
    [first] = m.observe([post("p0", "the downlink uses an unencrypted transponder", 5)])
    assert first.talk is None
    m.drain_changes()
    m.observe(
        [
            post("p1", "satellite transponder downlink captured with a cheap dish", 12),
            post("p2", "ground stations trust every downlink from the transponder", 15),
            post("p3", "satellite ground stations with default passwords, wow", 18),
            post("p4", "cargo bikes need better brakes", 20),
        ]
    )
    moved = {r.id: r for r in m.drain_changes().moved}
    assert moved["p0"].talk == "t-sat"
    assert m.result("p0").talk == "t-sat"  # type: ignore[union-attr]
    assert m.result("p4").talk == "t-bike"  # type: ignore[union-attr]


def test_a_conversation_about_a_talk_missing_from_the_schedule_stays_in_the_hallway() -> None:
    m = model()
    # a fourth talk (on sourdough) runs but is not in the schedule; its conversation touches a scheduled
    # title through one generic word ("beginners"), far less than that talk's own conversation does
    m.observe(
        [
            post("g1", "glass blowing furnace temperature explained", 3),
            post("s1", "sourdough starter needs feeding twice a day", 5),
            post("g2", "blowing glass at the furnace looks so hard", 7),
            post("s2", "rye flour makes the sourdough starter livelier", 9),
            post("g3", "glass blowing: the pipe keeps turning", 12),
            post("s3", "sourdough for beginners: keep the starter warm", 14),
            post("g4", "coloured glass rods melted in the furnace", 17),
            post("s4", "rye sourdough crumb shots, livelier starter indeed", 20),
            post("g5", "glass blowing pipe and furnace safety", 25),
            post("g6", "blowing glass bubbles with a turning pipe", 28),
            post("b1", "repairing cargo bikes on stage", 31),
        ]
    )
    for pid in ("s1", "s2", "s3", "s4"):
        assert m.result(pid).talk is None, pid  # type: ignore[union-attr]
    for pid in ("g1", "g2", "g3", "g5", "g6"):
        assert m.result(pid).talk == "t-glass", pid  # type: ignore[union-attr]


def test_a_talk_chosen_by_the_poster_is_never_revised() -> None:
    m = model()
    m.observe(
        [
            post("c", "satellite ground stations downlink", 10, talk_ref="t-bike"),
            post("x1", "satellite ground stations downlink transponder", 11),
            post("x2", "satellite transponder downlink dish", 12),
            post("x3", "ground stations downlink passwords", 13),
        ]
    )
    assert m.result("c").talk == "t-bike"  # type: ignore[union-attr]
    assert m.result("x1").talk == "t-sat"  # type: ignore[union-attr]


def test_a_post_put_in_the_hallway_stays_there_whatever_its_words_and_time_say() -> None:
    m = model()
    [first] = m.observe([post("c", "satellite ground stations downlink transponder", 10)])
    assert first.talk == "t-sat"  # what the words and time say
    # an organizer puts it in the hallway (it was about the satellite fair in the lobby): taken in again
    [filed] = m.observe([post("c", "satellite ground stations downlink transponder", 10, talk_ref=HALLWAY)])
    assert (filed.talk, filed.confidence) == (None, 1.0)
    m.observe([post(f"x{i}", "satellite ground stations downlink transponder dish", 11 + i) for i in range(8)])
    assert m.result("x7").talk == "t-sat"  # type: ignore[union-attr]
    assert m.result("c").talk is None  # the joint steps since left it be
    restored = EventModel.loads(m.dumps())
    restored.observe([post(f"y{i}", "satellite downlink transponder ground stations", 20 + i) for i in range(8)])
    assert restored.result("c").talk is None  # type: ignore[union-attr]
    # filed on a talk after all: no longer held in the hallway
    [moved] = restored.observe([post("c", "satellite ground stations downlink transponder", 10, talk_ref="t-sat")])
    assert (moved.talk, moved.confidence) == ("t-sat", 1.0)


def test_a_question_asked_again_goes_where_its_copies_were_filed_despite_a_busy_hallway() -> None:
    m = EventModel(refine_every=60)
    m.set_schedule(TALKS)
    chatter = ["where do you keep the spare cables?", "how long is the queue for coffee?", "who has a charger?"]
    docs = [post(f"h{i}", chatter[i % 3], 1 + i / 2) for i in range(45)]
    docs += [post(f"q{i}", "How long do you keep the logs?", 2 + i, talk_ref="t-glass") for i in range(5)]
    docs += [post("again", "How long do you keep the logs?", 9)]
    bikes = [f"cargo bike number {i} needs better brakes" for i in range(9)]
    docs += [post(f"b{i}", text, 10 + i / 4, talk_ref="t-bike") for i, text in enumerate(bikes)]
    m.observe(docs)
    assert m.result("again").talk == "t-glass"  # type: ignore[union-attr]
    assert m.result("h0").talk is None  # type: ignore[union-attr]


DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "schedules" / "schedule.xml").exists(), reason="shared data not present")
def test_final_attribution_floor_on_31c3() -> None:
    """What the code measurably reaches (bench.cluster prints the table); the issue's target is 0.90."""
    from bench.cluster import build_attribution_set, score_attribution_both

    arrival, final = score_attribution_both(build_attribution_set(DATA / "schedules" / "schedule.xml"))
    assert arrival.right >= 0.60 and arrival.unassigned >= 0.78
    assert final.right >= 0.72 and final.right > arrival.right + 0.10
    assert final.wrong <= 0.08
    assert final.unassigned >= 0.80


def test_pair_products_equal_the_sparse_product_on_the_pairs() -> None:
    rng = np.random.default_rng(0)
    V = sp.random(40, 30, density=0.2, format="csr", random_state=1)
    D = rng.random((5, 30))
    pairs = rng.random((40, 5)) < 0.3
    rows, cols = np.nonzero(pairs)
    out = np.zeros((40, 5))
    _pair_products(V.indptr.astype(np.int64), V.indices.astype(np.int64), V.data, D, rows, cols, out)
    assert np.array_equal(out[pairs], np.asarray(V @ D.T)[pairs])  # bit for bit: same order of sums
    assert not out[~pairs].any()


def test_candidate_sums_equal_the_sparse_product() -> None:
    rng = np.random.default_rng(0)
    X = sp.random(40, 30, density=0.2, format="csr", random_state=2)
    cand = rng.random((40, 5)) < 0.3
    R = np.where(cand, rng.random((40, 5)), 0.0)
    rows, cols = np.nonzero(cand)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=40))])
    out = np.zeros((5, 30))
    _candidate_sums(X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data, R, ptr, cols, out)
    assert np.array_equal(out, np.asarray(X.T @ R).T)  # bit for bit: rows summed in the same order


@pytest.mark.parametrize("seed", range(20))
def test_a_talks_posts_split_into_the_same_groups_as_scipys_flat_clusters(seed: int) -> None:
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 40))
    sims = rng.random((m, m)) ** 3  # mostly far apart, a few close pairs, as posts are
    dist = np.maximum(1.0 - (sims + sims.T) / 2, 0.0)
    dist[rng.random((m, m)) < 0.2] = 1.0  # ties at the largest distance
    dist = np.minimum(dist, dist.T)
    np.fill_diagonal(dist, 0.0)
    Z = linkage(squareform(dist, checks=False), "average")
    for t in (0.5, 0.9, 0.97, 1.0):
        ours, scipys = _cut(Z, t), fcluster(Z, t, "distance")
        # the same partition (the numbering may differ)
        assert len(set(zip(ours.tolist(), scipys.tolist(), strict=True))) == len(set(ours.tolist()))
        assert len(set(ours.tolist())) == len(set(scipys.tolist()))


@pytest.mark.parametrize("seed", range(10))
def test_a_post_pools_with_its_k_nearest_and_with_the_posts_it_is_nearest_to(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 30)), int(rng.integers(1, 6))
    sims = np.round(rng.random((n, n)), 1) * (rng.random((n, n)) < 0.4)  # rounded: ties, broken by column
    np.fill_diagonal(sims, 0.0)
    row, col = np.nonzero(sims)  # row order, as the window's pairs are
    W = _nearest(row, col, sims[row, col], n, k).toarray()
    top = np.zeros((n, n))
    for i in range(n):
        js = sorted(np.flatnonzero(sims[i]).tolist(), key=lambda j: (-sims[i, j], j))[:k]
        top[i, js] = sims[i, js]
    assert np.array_equal(W, np.maximum(top, top.T))


def test_a_stray_post_settles_with_the_talk_whose_posts_it_fits_once_its_answer_is_final() -> None:
    from clustering.talk_refine import RefineParams, Settle, _settle

    # words: 0-2 the talk's vocabulary, 3-4 a hallway conversation's, 5 a word of the stray post alone
    rows = [
        [1, 1, 0, 0, 0, 0],  # on the talk
        [0, 1, 1, 0, 0, 0],  # on the talk
        [1, 0, 1, 0, 0, 0],  # on the talk
        [1, 0, 0, 0, 0, 1],  # the stray: in the hallway, shares a word with the talk's posts, none with the chat
        [0, 0, 0, 1, 1, 0],  # hallway chat
        [0, 0, 0, 1, 1, 0],  # hallway chat
    ]
    X = sp.csr_matrix(np.array(rows, float) / np.linalg.norm(np.array(rows, float), axis=1, keepdims=True))
    out = np.array([0, 0, 0, -1, -1, -1])
    when = np.full(6, 1000.0)
    candidates = np.ones((6, 1), bool)
    during = np.ones((6, 1))
    no_title = np.zeros((6, 1))
    anchors = np.full(6, -1)
    final = Settle(np.ones(6, bool), X, when)
    settled = _settle(final, no_title, out, anchors, candidates, during, RefineParams())
    assert settled.tolist() == [0, 0, 0, 0, -1, -1]  # the stray joins its talk; the chat stays in the hallway
    # a post whose answer is not final yet (still in the window) is left for a later step
    not_yet = Settle(np.array([1, 1, 1, 0, 1, 1], bool), X, when)
    assert _settle(not_yet, no_title, out, anchors, candidates, during, RefineParams()).tolist() == out.tolist()
