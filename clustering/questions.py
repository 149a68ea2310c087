"""Which questions of a talk are the same question asked again.

People ask the same thing in several words and from several places ("What is a sane alert threshold?" on
the web form, "what's a sane threshold for alerts??" from Mastodon). The takeaways already count such
copies, but only among the posts of one topic; the Q&A panel and the exports list questions one by one, so
they need the link itself: every question of a talk (or of the hallway) is grouped with the same
near-duplicate rules as takeaways (``TopicGroups``), and each group asked more than once is one question
with its copies' votes summed.
"""

from __future__ import annotations

from dataclasses import dataclass

from clustering.takeaways import Member, TopicGroups

# Per talk: the most engaged groups are kept (a group asked often outranks a one-off), so a copy of a
# question nobody else asked may stay apart once a talk has had hundreds of distinct questions.
MAX_GROUPS = 200


@dataclass(frozen=True, slots=True)
class RepeatedQuestion:
    """One question asked ``count`` times: ``post_ids[0]`` says it best (the most upvoted copy, then the
    shortest, then the first); the rest are its copies, in the order they were asked."""

    post_ids: tuple[str, ...]
    count: int
    votes: int


class SameQuestions:
    """The questions of each talk, grouped into ones asked again (bounded: ``MAX_GROUPS`` per talk)."""

    def __init__(self, max_groups: int = MAX_GROUPS) -> None:
        self.max_groups = max_groups
        self._talks: dict[str | None, TopicGroups] = {}
        self._talk_of: dict[str, str | None] = {}  # question id -> the talk it is grouped under
        self._cache: dict[str | None, tuple[RepeatedQuestion, ...]] = {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        for groups in self._talks.values():
            groups.keep_latest = True  # saved before question groups named their newest copies

    def add(self, talk: str | None, member: Member) -> tuple[bool, str | None]:
        """A question joins ``talk``'s questions; (whether it was held before, the talk it left)."""
        left = self.remove(member.id)
        groups = self._talks.get(talk)
        if groups is None:
            groups = self._talks[talk] = TopicGroups(max_groups=self.max_groups, keep_latest=True)
        groups.add(member)
        self._talk_of[member.id] = talk
        self._cache.pop(talk, None)
        return left

    def remove(self, post_id: str) -> tuple[bool, str | None]:
        """Forget a question; (whether it was held, the talk it was under)."""
        if post_id not in self._talk_of:
            return False, None
        talk = self._talk_of.pop(post_id)
        groups = self._talks.get(talk)
        if groups is not None:
            groups.remove(post_id)
        self._cache.pop(talk, None)
        return True, talk

    def engage(self, post_id: str, *, upvotes: int, boosts: int, replies: int) -> tuple[bool, str | None]:
        """New counts for a held question (its group's votes, and which copy speaks for it, may change)."""
        if post_id not in self._talk_of:
            return False, None
        talk = self._talk_of[post_id]
        groups = self._talks.get(talk)
        member = groups.find(post_id) if groups is not None else None
        if member is None:
            return False, talk
        member.upvotes, member.boosts, member.replies = upvotes, boosts, replies
        self._cache.pop(talk, None)
        return True, talk

    def repeated(self, talk: str | None) -> tuple[RepeatedQuestion, ...]:
        """The questions of ``talk`` asked more than once, most asked first (then most voted, then oldest)."""
        cached = self._cache.get(talk)
        if cached is not None:
            return cached
        groups = self._talks.get(talk)
        ranked: list[tuple[int, int, int, RepeatedQuestion]] = []
        for g in groups.groups if groups is not None else ():
            if len(g.members) < 2 or g.kind != "question":
                continue
            rep = g.representative
            others = sorted((m for m in g.members.values() if m.id != rep.id), key=lambda m: m.seq)
            asked = RepeatedQuestion((rep.id, *(m.id for m in others)), len(g.members) + g.extra, g.votes)
            ranked.append((-asked.count, -asked.votes, g.first_seq, asked))
        ranked.sort(key=lambda r: r[:3])
        result = self._cache[talk] = tuple(r[3] for r in ranked)
        return result
