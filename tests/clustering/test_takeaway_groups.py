"""Near-duplicate groups of a topic: a post joins the group a comparison with every group would pick, and
the picks are those of Maximal Marginal Relevance as written."""

from __future__ import annotations

import math
import random

from clustering.takeaways import KIND_WEIGHT, Group, Member, TopicGroups, jaccard, pick


class EveryGroupCompared(TopicGroups):
    """The rule in its plainest form: every group is compared with the post; of those similar enough (Jaccard,
    or the shorter's words nearly all in the longer's between two questions or two statements), the most
    similar, then the one sharing the most words, then the oldest."""

    __slots__ = ()

    def _similar(self, words: frozenset[str], kind: str) -> int | None:
        best: tuple[float, int, int] | None = None
        for gid, g in self._groups.items():
            inter = len(words & g.words)
            if not words or not inter:
                continue
            need = self.question_jaccard if (kind == "question" and g.kind == "question") else self.dup_jaccard
            sim = jaccard(words, g.words)
            if sim < need:
                short, long = sorted((len(words), len(g.words)))
                same_kind = (kind == "question") == (g.kind == "question")
                sim = inter / short if same_kind and short >= 4 and long <= 2.5 * short else 0.0
                if sim < 0.8:
                    continue
            if best is None or (sim, inter, -gid) > best:
                best = (sim, inter, -gid)
        return None if best is None else -best[2]


def _posts(n: int, seed: int) -> list[Member]:
    """Posts restating a few dozen points: words dropped, added or swapped, some asked as questions."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(60)]
    points = [rng.sample(vocab, rng.randint(3, 10)) for _ in range(40)]
    out = []
    for i in range(n):
        words = list(rng.choice(points))
        for _ in range(rng.randint(0, 3)):
            if words and rng.random() < 0.5:
                words.pop(rng.randrange(len(words)))
            else:
                words.append(rng.choice(vocab))
        kind = "question" if rng.random() < 0.3 else rng.choice(["other", "takeaway"])
        text = " ".join(words) + ("?" if kind == "question" else "") + f" {i}" * (i % 2)
        out.append(Member(f"p{i}", text, kind, frozenset(words), upvotes=rng.randint(0, 3), seq=i))
    return out


def test_a_post_joins_the_group_a_comparison_with_every_group_picks() -> None:
    for seed in range(4):
        posts = _posts(3_000, seed)
        fast, plain = TopicGroups(max_groups=40), EveryGroupCompared(max_groups=40)
        for m in posts:
            fast.add(m)
            plain.add(m)
        fast.groups, plain.groups  # noqa: B018  (reading the groups groups the queued posts)
        got = {gid: list(g.members) for gid, g in fast._groups.items()}
        want = {gid: list(g.members) for gid, g in plain._groups.items()}
        assert got == want
        # the streams exercise merging, both thresholds and eviction
        assert max(len(m) for m in got.values()) > 5
        assert fast._next > 200 and len(got) <= 60


def test_many_groups_and_posts_of_hundreds_of_words_join_the_group_a_comparison_picks() -> None:
    # a talk's questions keep up to 300 groups; a post of 128 words or more is counted group by group
    rng = random.Random(7)
    posts = _posts(2_000, seed=5)
    for i in range(0, len(posts), 50):
        m = posts[i]
        words = frozenset(m.words | {f"long{k}" for k in rng.sample(range(600), rng.choice([130, 300]))})
        posts[i] = Member(m.id, " ".join(sorted(words)), m.kind, words, m.upvotes, seq=m.seq)
        posts.insert(i + 1, Member(f"{m.id}-again", posts[i].text + " again", m.kind, words, seq=m.seq))
    fast, plain = TopicGroups(max_groups=200), EveryGroupCompared(max_groups=200)
    for m in posts:
        fast.add(m)
        plain.add(m)
    fast.groups, plain.groups  # noqa: B018
    got = {gid: list(g.members) for gid, g in fast._groups.items()}
    assert got == {gid: list(g.members) for gid, g in plain._groups.items()}
    assert any(len(g.words) >= 128 and len(g.members) > 1 for g in fast._groups.values())


def test_groups_saved_with_word_masks_load_and_keep_grouping_alike() -> None:
    posts = _posts(3_000, seed=9)
    fast, plain = TopicGroups(max_groups=40), EveryGroupCompared(max_groups=40)
    for m in posts[:1_500]:
        fast.add(m)
        plain.add(m)
    fast.groups, plain.groups  # noqa: B018
    # the state as saved before word -> holder lanes: a bit per word and each group's mask of them
    _, state = fast.__getstate__()
    for k in ("_holders", "_slot_of", "_gid_at"):
        del state[k]
    bits: dict[str, int] = {}
    for g in fast._groups.values():
        for w in g.words:
            bits.setdefault(w, 1 << len(bits))
    state["_bits"], state["_bits_cap"] = bits, 1024
    state["_masks"] = {gid: sum(bits[w] for w in g.words) for gid, g in fast._groups.items()}
    restored = TopicGroups.__new__(TopicGroups)
    restored.__setstate__((None, state))
    for m in posts[1_500:]:
        restored.add(m)
        plain.add(m)
    restored.groups, plain.groups  # noqa: B018
    got = {gid: list(g.members) for gid, g in restored._groups.items()}
    assert got == {gid: list(g.members) for gid, g in plain._groups.items()}


def _mmr_every_round(groups: list[Group], centroid: dict[str, float], top: int, lam: float = 0.7) -> list[int]:
    """Maximal Marginal Relevance as written: every round, each group's overlap with every pick so far."""
    norm = math.sqrt(sum(v * v for v in centroid.values()))
    rel = [
        (math.fsum(centroid.get(w, 0.0) for w in g.words) / (math.sqrt(len(g.words)) * norm) if g.words else 0.0)
        * (1.0 + math.log1p(g.engagement))
        * KIND_WEIGHT.get(g.shown_kind, 1.0)
        for g in groups
    ]
    hi = max(rel) or 1.0
    rel = [r / hi for r in rel]
    chosen: list[int] = []
    while len(chosen) < min(top, len(groups)):
        vals = {
            i: lam * rel[i]
            - (1.0 - lam) * max((jaccard(groups[i].words, groups[j].words) for j in chosen), default=0.0)
            for i in range(len(groups))
            if i not in chosen
        }
        chosen.append(max(vals, key=lambda i: (vals[i], -i)))
    return chosen


def test_takeaways_are_picked_by_relevance_less_overlap_with_the_picks_so_far() -> None:
    rng = random.Random(7)
    for seed in range(20):
        tg = TopicGroups(max_groups=40)
        for m in _posts(400, seed):
            tg.add(m)
        groups = tg.groups
        centroid = {f"w{i}": float(rng.randint(1, 9)) for i in range(60) if rng.random() < 0.7}
        for top in (1, 3, 5):
            want = _mmr_every_round(groups, centroid, top)
            got = pick(groups, centroid, top=top)
            assert [groups.index(p.group) for p in got] == want


def test_a_text_is_cleaned_to_its_word_runs_one_space_apart() -> None:
    """Every run of characters that are not word characters (punctuation, spaces of any script, emoji) is one
    space between words, and none at the ends, whatever the mix."""
    import re
    from itertools import product

    from clustering.takeaways import _clean

    other = re.compile(r"[^\w]+")
    for chars in product("a_1 \u00a0\u3000.-\n🎤é", repeat=5):
        text = "".join(chars)
        assert _clean(text) == other.sub(" ", text.lower()).strip(), text
