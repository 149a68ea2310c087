"""The online clusterer: stable ids, determinism, pickling mid-stream, bounded state, scopes."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from clustering.stream import StreamClusterer
from tests.clustering.conftest import TOPICS, make_stream


def run(model: StreamClusterer, texts: list[str], batch: int = 50) -> np.ndarray:
    labels = np.empty(len(texts), np.int64)
    for i in range(0, len(texts), batch):
        model.partial_fit(texts[i : i + batch])
        labels[i : i + len(model.labels_)] = model.labels_
        for seq, new in model.moves_:
            labels[seq] = new
    return labels


def test_finds_the_topics(stream: tuple[list[str], list[str]]) -> None:
    texts, truth = stream
    labels = run(StreamClusterer(refine_window=100), texts)
    assert adjusted_rand_score(truth, labels) > 0.9


def test_fixed_seed_is_deterministic(stream: tuple[list[str], list[str]]) -> None:
    texts, _ = make_stream(blocks=False, seed=3)
    a = run(StreamClusterer(refine_window=64, random_state=7), texts)
    b = run(StreamClusterer(refine_window=64, random_state=7), texts)
    assert a.tolist() == b.tolist()


def test_input_is_not_mutated() -> None:
    texts, _ = make_stream(100)
    before = list(texts)
    StreamClusterer().partial_fit(texts)
    assert texts == before
    X = np.abs(np.random.default_rng(0).normal(size=(30, 8)))
    X_copy = X.copy()
    model = StreamClusterer().partial_fit(X)
    model.predict(X)
    assert np.array_equal(X, X_copy)


def test_pickle_round_trip_mid_stream_gives_identical_results() -> None:
    texts, _ = make_stream(600, blocks=False, seed=1)
    model = StreamClusterer(refine_window=100)
    model.partial_fit(texts[:250])
    clone = pickle.loads(pickle.dumps(model))
    probe = texts[::7]
    assert model.predict(probe).tolist() == clone.predict(probe).tolist()
    model.partial_fit(texts[250:])
    clone.partial_fit(texts[250:])
    assert model.labels_.tolist() == clone.labels_.tolist()
    assert model.moves_ == clone.moves_
    assert model.predict(probe).tolist() == clone.predict(probe).tolist()


def test_predict_does_not_learn() -> None:
    texts, _ = make_stream(200)
    model = StreamClusterer().partial_fit(texts)
    state = pickle.dumps(model)
    model.predict(["rust cargo crates", "completely unrelated words here"])
    assert pickle.dumps(model) == state


def test_ids_are_stable_and_never_reused() -> None:
    # topics come and go; a closed cluster's id must never come back for another topic
    texts, truth = make_stream(800, blocks=True)
    model = StreamClusterer(halflife=40, refine_window=0)
    seen_topic_of_id: dict[int, str] = {}
    for i in range(0, len(texts), 20):
        model.partial_fit(texts[i : i + 20])
        for label, topic in zip(model.labels_.tolist(), truth[i : i + 20], strict=True):
            if label >= 0:
                seen_topic_of_id.setdefault(label, topic)
    # ids are handed out in increasing order and each names one topic
    assert sorted(seen_topic_of_id) == list(seen_topic_of_id)
    assert len(set(seen_topic_of_id.values())) == 4
    assert model.next_id_ > max(seen_topic_of_id)


def test_an_id_keeps_its_cluster_while_it_lives() -> None:
    texts, _ = make_stream(300, blocks=False)
    model = StreamClusterer(refine_window=0).partial_fit(texts)
    before = model.predict(["rust borrow checker cargo"])[0]
    model.partial_fit(["rust tokio async compiler"] * 5)
    assert model.predict(["rust borrow checker cargo"])[0] == before


def test_state_is_bounded() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choice(words, 5)) for _ in range(3000)]
    model = StreamClusterer(max_clusters=32, refine_window=200)
    model.partial_fit(texts)
    assert model.n_clusters_ <= 32
    assert model.CT_.shape[1] <= 32
    assert len(model.win_seq_) <= 200


@pytest.mark.parametrize("log_width", [None, 8])
def test_a_closed_cluster_leaves_nothing_behind_for_the_next_one(log_width: int | None) -> None:
    # slots are reused: a new topic must not start with the words of the cluster that held its slot,
    # neither for small clusters (cleared word by word) nor for ones with many words (cleared in full:
    # with 8-word logs, as a state saved with shorter logs has, most clusters hold more than their log)
    texts, truth = make_stream(1500, blocks=True)
    rng = np.random.default_rng(1)
    wide = [" ".join(f"x{int(i)}" for i in rng.integers(0, 400, 12)) for _ in range(300)]
    model = StreamClusterer(halflife=30, max_clusters=16, refine_window=100)
    same = StreamClusterer(halflife=30, max_clusters=16, refine_window=100)
    stream = wide + texts
    most = 0
    for i in range(0, len(stream), 50):
        model.partial_fit(stream[i : i + 50])
        if log_width and i == 0:
            model.wl_ = model.wl_[:, :log_width].copy()
            model.wln_ = np.minimum(model.wln_, log_width + 1)
        free = np.flatnonzero(model.ids_ < 0)
        assert not model.CT_[:, free].any()
        live = np.flatnonzero(model.ids_ >= 0)
        assert np.allclose(model.CT_[:, live].sum(0), model.n_[live], rtol=1e-4)
        most = max(most, model.hi_)
        # the logs only make clearing cheaper: a model with full logs learns the same
        same.partial_fit(stream[i : i + 50])
        assert np.array_equal(model.labels_, same.labels_) and model.moves_ == same.moves_
    assert model.next_id_ > most  # slots were reused


def test_a_state_saved_with_shorter_word_logs_grows_and_learns_the_same() -> None:
    # 100 topics with words of their own: the table grows past its first 64 slots
    texts = [f"a{k} b{k} c{k} d{k}" for k in range(100) for _ in range(3)]
    short, full = StreamClusterer(refine_window=100), StreamClusterer(refine_window=100)
    for i in range(0, len(texts), 50):
        short.partial_fit(texts[i : i + 50])
        if i == 0:
            short.wl_ = short.wl_[:, :2].copy()
            short.wln_ = np.minimum(short.wln_, 3)
        full.partial_fit(texts[i : i + 50])
        assert np.array_equal(short.labels_, full.labels_) and short.moves_ == full.moves_
    assert short.CT_.shape[1] > 64 and short.wl_.shape[1] == 2
    assert np.array_equal(short.CT_, full.CT_)


def test_a_small_meetup_gets_one_topic_per_subject_from_its_first_posts() -> None:
    # a dozen posts on four subjects, each sharing no word with the others: long before any refinement a
    # young cluster must not take a post with nothing in common (it did while the cluster was small)
    subjects = [
        ["Rust borrow checker finally clicked", "borrow checker errors in Rust help", "lifetimes in Rust"],
        ["Kubernetes operators overkill", "replaced our Kubernetes cluster", "nodes in your Kubernetes cluster"],
        ["Coffee here is great", "Where is the coffee station?", "coffee queue is long"],
        ["Lunch is at noon in the main hall", "Is there vegan lunch?", "lunch was lovely"],
    ]
    texts = [subject[i] for i in range(3) for subject in subjects]
    truth = [s for _ in range(3) for s in range(4)]
    for batch in (1, len(texts)):
        labels = run(StreamClusterer(), texts, batch)
        assert adjusted_rand_score(truth, labels) == 1.0, labels


def test_a_cluster_two_topics_met_in_is_split() -> None:
    # the first post holds every word of both topics, so the single pass puts both topics into its cluster
    rng = random.Random(0)
    texts = [" ".join(TOPICS["rust"].split() + TOPICS["bees"].split())]
    truth = ["both"]
    for i in range(199):
        topic = "rust" if i % 2 else "bees"
        texts.append(" ".join(rng.sample(TOPICS[topic].split(), 4)))
        truth.append(topic)
    unsplit = run(StreamClusterer(refine_window=100, split_min_posts=0), texts)
    assert adjusted_rand_score(truth[1:], unsplit[1:]) < 0.1
    labels = run(StreamClusterer(refine_window=100), texts)
    assert adjusted_rand_score(truth[1:], labels[1:]) == 1.0


def test_a_topic_opened_twice_is_merged_and_its_posts_relabelled() -> None:
    # two halves of one vocabulary open two clusters; posts spanning both follow
    rng = random.Random(0)
    first, second = "rust borrow checker lifetimes".split(), "cargo crates tokio async".split()
    texts = [" ".join(first)] * 10 + [" ".join(second)] * 10
    texts += [" ".join(rng.sample(first + second, 6)) for _ in range(80)]
    apart = run(StreamClusterer(refine_window=100, merge_min_cos=2.0), texts)
    assert len(set(apart.tolist())) == 2
    model = StreamClusterer(refine_window=100)
    labels = run(model, texts)  # the posts of earlier calls are relabelled through moves_
    assert len(set(labels.tolist())) == 1
    assert model.n_clusters_ == 1


def test_scopes_keep_clusters_apart() -> None:
    texts = ["rust cargo crates borrow"] * 10
    model = StreamClusterer(refine_window=0)
    model.partial_fit(texts, scopes=["talk-a"] * 10)
    model.partial_fit(texts, scopes=["talk-b"] * 10)
    a, b = set(model.labels_.tolist()), set(model.partial_fit(texts[:1], scopes=["talk-a"]).labels_.tolist())
    assert a.isdisjoint(b)
    assert model.cluster_scope(next(iter(a))) == "talk-b"
    fit = model.score_scopes(*_hashed("rust cargo crates", model.n_features))
    assert set(fit) == {"talk-a", "talk-b"}


def test_post_without_words_gets_no_cluster() -> None:
    model = StreamClusterer().partial_fit(["the and of", "rust cargo"])
    assert model.labels_[0] == -1
    assert model.labels_[1] >= 0


def test_forget_one_takes_a_post_out() -> None:
    model = StreamClusterer(refine_window=0)
    idx, cnt = _hashed("rust cargo crates", model.n_features)
    label, _ = model.learn_one(idx, cnt)
    model.forget_one(label, idx, cnt, model.t_ - 1)
    assert model.n_clusters_ == 0


def test_rejects_negative_counts_and_wrong_width() -> None:
    with pytest.raises(ValueError, match="Negative"):
        StreamClusterer().partial_fit(np.array([[1.0, -1.0]]))
    model = StreamClusterer().partial_fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(np.ones((3, 5)))
    with pytest.raises(ValueError, match="single string"):
        StreamClusterer().partial_fit("just one string")


def _hashed(text: str, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    from clustering.features import hash_tokens, tokenize

    return hash_tokens(tokenize(text), n_features)


def test_loops_compile_where_numba_cannot_cache_them() -> None:
    # a read-only install (a container user owning no directory) leaves Numba no cache location; the
    # stage must still import and run, compiling once per process
    from clustering.stream_kernels import _compiled

    namespace: dict[str, object] = {}
    exec("def add_one(x):\n    return x + 1\n", namespace)  # no source file: no cache location
    assert _compiled(namespace["add_one"])(41) == 42


def test_forgetting_a_post_of_a_merged_away_topic_takes_it_out_of_the_topic_it_went_into() -> None:
    # a delete names the cluster the post joined; if that cluster was merged since, its counts live on in
    # the cluster it went into, and that is where the post must come out of
    rng = random.Random(0)
    first, second = "rust borrow checker lifetimes".split(), "cargo crates tokio async".split()
    texts = [" ".join(first)] * 10 + [" ".join(second)] * 10
    texts += [" ".join(rng.sample(first + second, 6)) for _ in range(80)]
    model = StreamClusterer(refine_window=100)
    opened = run(model, texts[:20], batch=20)  # the two halves, still apart
    assert len(set(opened.tolist())) == 2
    run(model, texts[20:])
    assert model.n_clusters_ == 1
    (survivor,) = {int(i) for i in model.ids_[: model.hi_] if i >= 0}
    gone = next(int(label) for label in opened.tolist() if label != survivor)
    before = float(model.n_[model._slot_of(survivor)])
    seq = opened.tolist().index(gone)
    idx, cnt = _hashed(texts[seq], model.n_features)
    model.forget_one(gone, idx, cnt, seq)
    assert float(model.n_[model._slot_of(survivor)]) < before


@pytest.mark.parametrize("density", [0.05, 1.0])
@pytest.mark.parametrize("logs", ["complete", "run over", "mixed"])
def test_window_overlap_sums_every_post_and_candidate_as_written(density: float, logs: str) -> None:
    # each cell is compared to the sum taken entry by entry, to the bit; the holders are found through the
    # slots' word logs (with repeats and words dropped to zero since, as logs hold them) or, for a slot whose
    # log ran over, through every window word's row
    from clustering.stream_kernels import WORD_LOG, window_overlap

    rng = np.random.default_rng(3)
    CT = np.where(rng.random((64, 40)) < density, rng.integers(1, 5, (64, 40)), 0).astype(np.float32)
    wl = np.zeros((40, WORD_LOG), np.int32)
    wln = np.zeros(40, np.int32)
    for z in range(40):
        held = np.flatnonzero(CT[:, z])
        logged = np.concatenate([held, rng.choice(64, 5), held[:3]])  # stale words and repeats too
        rng.shuffle(logged)
        wl[z, : len(logged)] = logged
        wln[z] = len(logged)
        if logs == "run over" or (logs == "mixed" and z % 3 == 0):
            wln[z] = WORD_LOG + 1
    cand = np.array(sorted(rng.choice(40, 30, replace=False)), np.int64)
    lens = rng.integers(1, 6, 25)
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    entries = rng.integers(0, 64, int(lens.sum()))
    words, inv = np.unique(entries, return_inverse=True)
    data = rng.integers(1, 3, len(entries)).astype(np.float64)
    f = rng.random(len(words)) * 3.0
    f[0] = 0.0  # a word of no weight adds nothing
    S = window_overlap(CT, cand, indptr, inv.astype(np.int64), data, words.astype(np.int64), f, wl, wln)
    want = np.zeros((len(lens), len(cand)))
    for i in range(len(lens)):
        for j in range(indptr[i], indptr[i + 1]):
            u = inv[j]
            if f[u] > 0.0:
                for k, z in enumerate(cand):
                    if CT[words[u], z] > 0.0:
                        want[i, k] += data[j] * math.log1p(float(CT[words[u], z]) * f[u])
    assert S.tobytes() == want.tobytes()
