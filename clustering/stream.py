"""An online Dirichlet-multinomial mixture for short texts, in one pass over the stream.

Each post is scored against the live clusters it may join and against a new cluster, as in MStream
(Yin et al., KDD 2018)::

    score(z) = log m_z + sum_w c_w * log(n_zw * icf_w + beta) - L * log(n_z + V*beta + (L-1)/2)
    score(new) = log(alpha * D) + L * log(beta) - L * log(V*beta + (L-1)/2)

with the changes that matter on streams whose topics come and go:

* ``m_z`` is the cluster's *recent* mass (each post counts ``2 ** (-age / halflife)``), ``D`` the total
  recent mass of the scope; a cluster whose recent mass falls under ``min_weight`` can no longer take
  posts and is dropped, so a dormant topic is never revived by an unrelated one that shares a word.
* word counts are weighted by the inverse cluster frequency ``icf_w = log(K / K_w)`` (as in OSDM, Kumar
  et al. ACL 2020) so words shared by many topics ("news", "today") decide little.
* a post joins only a cluster it shares a (weighted) word with: while a cluster is young its length
  penalty is small, and the prior alone (``m_z`` against ``alpha * D``) drew posts with nothing in
  common into it, so a small event's first subjects all landed in one topic.
* every ``refine_window`` posts the window is revisited with a few parallel (Jacobi) reassignment sweeps,
  which repairs the order effects of the single pass; posts it moves are reported in ``moves_``.
* before those sweeps a cluster whose window posts form two groups with (almost) no word in common is
  split in two: two topics that met in an early post otherwise keep feeding one cluster;
* after them, two of the window's clusters whose word counts point the same way (cosine ``>=
  merge_min_cos``) and whose joint likelihood is not much worse than apart are merged: a topic the
  single pass opened twice. The merged cluster's last posts (up to 16,384 back) are relabelled.

Features are hashed to a fixed width (``n_features``), so the stream never refits and the state is
bounded: at most ``max_clusters`` live clusters of ``n_features`` float32 counts each.

Clusters live in "scopes" (e.g. a talk, or the hallway): a post only joins clusters of its own scope.
Cluster ids are integers that are never reused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_array, check_is_fitted, check_non_negative

from clustering.features import DEFAULT_N_FEATURES, hash_token_lists, tokenize
from clustering.stream_kernels import (
    NEEDS_NEW,
    WORD_LOG,
    clear_slot,
    log_words,
    merge_gains,
    place_run,
    split_window,
    window_overlap,
)

_LOG2 = math.log(2.0)
_RENORM = 60.0  # renormalise the recency weights when they grow past 2**60
_RECENT = 1 << 14  # posts whose cluster id is remembered, so that a merge can relabel them
_MERGED_KEPT = 4096  # merged-away cluster ids remembered before the closed ones are pruned
_SPLIT_SWEEPS = 3
_MERGE_MIN_POSTS = 2  # window posts a cluster needs to be merged (fewer candidates: a faster pass)


def _is_text(X: Any) -> bool:
    if isinstance(X, str):
        raise ValueError("expected a sequence of texts, got a single string")
    if sp.issparse(X) or isinstance(X, np.ndarray):
        return X.dtype.kind in "OUS"
    if isinstance(X, Sequence) and len(X) and all(isinstance(x, str) for x in X):
        return True
    return False


class StreamClusterer(ClusterMixin, BaseEstimator):
    """Online short-text clustering (one pass, bounded memory, stable never-reused cluster ids).

    Parameters
    ----------
    alpha : float
        Concentration: how readily a post opens a new cluster.
    beta : float
        Word smoothing; small values make clusters sharper.
    vocab_size : float
        The ``V`` of the model (an assumed active vocabulary, not the hash width).
    halflife : float
        Posts after which a cluster's recent mass halves.
    min_weight : float
        Recent mass under which a cluster is closed and dropped.
    max_clusters : int
        Cap on live clusters; at the cap the one with the least recent mass is dropped.
    n_features : int
        Hash width for text input (ignored for numeric input, whose width is used as is).
    refine_window : int
        Posts revisited together by the refinement sweeps (0 disables refinement).
    refine_iter : int
        Parallel reassignment sweeps per refinement.
    icf_min_clusters : int
        Inverse cluster frequency is used once this many clusters have existed.
    split_min_posts : int
        Window posts a cluster needs before a split is tried (0 disables splits).
    split_max_cos : float
        A split is made only when the cosine of the two sides' word counts is at most this.
    merge_min_cos : float
        Two clusters are merged only when the cosine of their word counts is at least this (above 1
        disables merges).
    merge_min_gain : float
        ... and when the collapsed log-likelihood of the two as one, less that of the two apart, per word,
        is above this (slightly negative: the cosine already vouches for them).
    random_state : int or None
        Seed of the refinement sweeps (which half of the posts may move in each sweep).
    """

    def __init__(
        self,
        *,
        alpha: float = 0.2,
        beta: float = 0.01,
        vocab_size: float = 7000.0,
        halflife: float = 300.0,
        min_weight: float = 0.05,
        max_clusters: int = 256,
        n_features: int = DEFAULT_N_FEATURES,
        refine_window: int = 1000,
        refine_iter: int = 4,
        icf_min_clusters: int = 20,
        split_min_posts: int = 10,
        split_max_cos: float = 0.05,
        merge_min_cos: float = 0.6,
        merge_min_gain: float = -0.25,
        random_state: int | None = 0,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.vocab_size = vocab_size
        self.halflife = halflife
        self.min_weight = min_weight
        self.max_clusters = max_clusters
        self.n_features = n_features
        self.refine_window = refine_window
        self.refine_iter = refine_iter
        self.icf_min_clusters = icf_min_clusters
        self.split_min_posts = split_min_posts
        self.split_max_cos = split_max_cos
        self.merge_min_cos = merge_min_cos
        self.merge_min_gain = merge_min_gain
        self.random_state = random_state

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any = None, scopes: Sequence[Any] | None = None) -> StreamClusterer:
        """Forget everything, then run the stream ``X`` through ``partial_fit``; ``labels_`` covers all of X."""
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, attr)
        self.partial_fit(X, scopes=scopes)
        return self

    def partial_fit(self, X: Any, y: Any = None, scopes: Sequence[Any] | None = None) -> StreamClusterer:
        """Take the next posts of the stream (texts, or a non-negative count matrix) in order.

        ``labels_`` holds their cluster ids at the end of the call; ``moves_`` the posts of earlier
        calls that a refinement moved, as ``(stream_index, new_id)`` pairs; ``first_index_`` the stream
        index of the first row.
        """
        Xc = self._validate(X, reset=not hasattr(self, "CT_"))
        if not hasattr(self, "CT_"):
            self._init_state(Xc.shape[1])
        codes = self._scope_codes(scopes, Xc.shape[0])
        self.first_index_ = self.t_
        labels, moves = self._add_many(Xc.indptr, Xc.indices, Xc.data, codes)
        self.labels_ = labels
        self.moves_ = moves
        return self

    def learn_batch(
        self, X: sp.csr_matrix, scopes: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Learn the hashed rows of ``X`` (sorted indices, float32 counts) in order, as ``learn_one`` would
        one by one. Returns their cluster ids (after any refinement) and the ``(stream_index, new_id)``
        moves of earlier posts. Row ``r`` gets stream index ``t_ - X.shape[0] + r`` (rows without features
        included)."""
        if not hasattr(self, "CT_"):
            self.n_features_in_ = self.n_features
            self._init_state(self.n_features)
        codes = self._scope_codes(scopes, X.shape[0])
        return self._add_many(X.indptr, X.indices, np.asarray(X.data, np.float32), codes)

    def learn_one(
        self, indices: np.ndarray, counts: np.ndarray, scope: Any = None
    ) -> tuple[int, list[tuple[int, int]]]:
        """Learn one post given as hashed feature indices (sorted, unique) and counts (float32).

        Returns its cluster id (-1 for a post without features; already after a refinement it triggered)
        and the ``(stream_index, new_id)`` moves of earlier posts. Its stream index is ``t_ - 1`` after.
        """
        if not hasattr(self, "CT_"):
            self.n_features_in_ = self.n_features
            self._init_state(self.n_features)
        code = self.scope_codes_.get(scope)
        if code is None:
            code = int(self._scope_codes([scope], 1)[0])
        idx = np.asarray(indices, np.int32)
        indptr = np.array([0, len(idx)], np.int64)
        labels, moves = self._add_many(indptr, idx, np.asarray(counts, np.float32), np.array([code], np.int64))
        return int(labels[0]), moves

    def learn_into(
        self, indices: np.ndarray, counts: np.ndarray, cluster_id: int, scope: Any = None
    ) -> tuple[int, list[tuple[int, int]]]:
        """Learn one post into the cluster ``cluster_id`` (or the one it was merged into), chosen by the
        caller: an answer goes where its question is. The post stays out of the refinement window, so no
        sweep moves it on its own words; when that cluster is closed or of another scope it is learned as
        ``learn_one`` would."""
        if hasattr(self, "CT_") and len(indices):
            z = self._slot_of(self._merged_target(cluster_id))
            if z >= 0 and self.scope_names_[int(self.scope_[z])] == scope:
                self._advance()  # no drop of closed clusters here: it could close the one chosen
                self._put(z, np.asarray(indices, np.int32), np.asarray(counts, np.float32), self._gain())
                return int(self.ids_[z]), []
        return self.learn_one(indices, counts, scope)

    def forget_one(self, cluster_id: int, indices: np.ndarray, counts: np.ndarray, stream_index: int) -> None:
        """Take a post (deleted, hidden) back out of its cluster and out of the refinement window."""
        if not hasattr(self, "CT_"):
            return
        if stream_index in self.win_seq_:
            self.win_slot_[self.win_seq_.index(stream_index)] = -1
        self._recent()
        if self.recent_seq_[stream_index % _RECENT] == stream_index:
            self.recent_id_[stream_index % _RECENT] = -1
        z = self._slot_of(self._merged_target(cluster_id))
        if z < 0:
            return
        mass = 2.0 ** ((stream_index + 1.0 - self.origin_) / self.halflife)
        self._take(z, np.asarray(indices), np.asarray(counts, np.float32), mass)
        if self.n_[z] <= 1e-6:
            self._kill(z)

    def _maybe_refine(self) -> list[tuple[int, int]]:
        if not self.refine_window or len(self.win_seq_) < self.refine_window:
            return []
        # merges happen only here: the window's posts are remembered now, with the clusters they are in
        seqs = np.asarray(self.win_seq_, np.int64)
        slots = self.win_slot_[: len(seqs)]
        self.recent_seq_[seqs % _RECENT] = seqs
        self.recent_id_[seqs % _RECENT] = np.where(slots >= 0, self.ids_[np.maximum(slots, 0)], -1)
        # the window's posts as one CSR block, for the split and merge passes
        indptr = np.zeros(len(self.win_idx_) + 1, np.int64)
        np.cumsum([len(a) for a in self.win_idx_], out=indptr[1:])
        words = np.concatenate(self.win_idx_)
        counts = np.concatenate(self.win_cnt_)
        moves = self._split(seqs, indptr, words, counts)
        refined = self._refine(indptr, words, counts)
        if refined:
            moved = np.asarray(refined, np.int64)
            self.recent_id_[moved[:, 0] % _RECENT] = moved[:, 1]
        moves += refined
        moves += self._merge(words)
        self._clear_window()
        return moves

    def predict(self, X: Any, scopes: Sequence[Any] | None = None) -> np.ndarray:
        """Best live cluster id of each post without learning from it; -1 where a new cluster would win."""
        check_is_fitted(self, "CT_")
        Xc = self._validate(X, reset=False)
        codes = self._scope_codes(scopes, Xc.shape[0], create=False)
        out = np.full(Xc.shape[0], -1, np.int64)
        for r in range(Xc.shape[0]):
            a, b = Xc.indptr[r], Xc.indptr[r + 1]
            slot, _, _ = self._best(Xc.indices[a:b], Xc.data[a:b], int(codes[r]))
            if slot >= 0:
                out[r] = self.ids_[slot]
        return out

    def fit_predict(self, X: Any, y: Any = None, scopes: Sequence[Any] | None = None) -> np.ndarray:
        return self.fit(X, scopes=scopes).labels_

    def score_scopes(
        self, indices: np.ndarray, counts: np.ndarray, scopes: Sequence[Any] | None = None
    ) -> dict[Any, float]:
        """For one hashed post: per scope (all, or those in ``scopes``), how much better its best open
        cluster fits than a new cluster of that scope would (a log-likelihood ratio). Scopes without an
        open cluster are absent."""
        if not hasattr(self, "CT_") or self.n_live_ == 0 or len(indices) == 0:
            return {}
        hi = self.hi_
        codes = self.scope_[:hi]
        if scopes is None:
            wanted = np.unique(codes[self.ids_[:hi] >= 0]).tolist()
        else:
            wanted = [c for s in scopes if (c := self.scope_codes_.get(s)) is not None]
        if not wanted:
            return {}
        sc, new = self._scores(indices, counts)
        mass = np.bincount(codes[codes >= 0], weights=self.w_[:hi][codes >= 0], minlength=len(self.scope_names_))
        gain = self._gain()
        out: dict[Any, float] = {}
        for code in wanted:
            mask = codes == code
            if not mask.any():
                continue
            best = float(sc[mask].max())
            if best > -np.inf:
                out[self.scope_names_[code]] = best - new - math.log(max(float(mass[code]), gain))
        return out

    @property
    def n_clusters_(self) -> int:
        """Open clusters."""
        check_is_fitted(self, "CT_")
        return int(self.n_live_)

    @property
    def cluster_ids_(self) -> np.ndarray:
        """Ids of the open clusters."""
        check_is_fitted(self, "CT_")
        ids = self.ids_[: self.hi_]
        return np.sort(ids[ids >= 0])

    def cluster_scope(self, cluster_id: int) -> Any:
        """Scope of an open cluster (None also when the cluster is closed)."""
        slot = self._slot_of(cluster_id)
        return None if slot < 0 else self.scope_names_[int(self.scope_[slot])]

    def __getstate__(self) -> dict[str, Any]:
        # the count table is mostly zeros (a cluster holds a few dozen of the hashed words): saved as its
        # nonzero entries, a checkpoint is ~100x smaller than the dense table
        state = dict(super().__getstate__())
        CT = state.pop("CT_", None)
        if CT is not None:
            rows, cols = np.nonzero(CT[:, : self.hi_])
            state["CT_nonzero_"] = (CT.shape, rows.astype(np.int32), cols.astype(np.int32), CT[rows, cols])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        nonzero = state.pop("CT_nonzero_", None)
        super().__setstate__(state)
        if nonzero is not None:
            shape, rows, cols, vals = nonzero
            CT = np.zeros(shape, np.float32)
            CT[rows, cols] = vals
            self.CT_ = CT

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ input
    def _validate(self, X: Any, *, reset: bool) -> sp.csr_matrix:
        if _is_text(X):
            width = self.n_features
            Xc = hash_token_lists([tokenize(str(x)) for x in X], width)
        else:
            arr = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
            check_non_negative(arr, "StreamClusterer")
            Xc = sp.csr_matrix(arr, dtype=np.float32, copy=True)
            Xc.eliminate_zeros()
            Xc.sort_indices()
        if reset:
            self.n_features_in_ = Xc.shape[1]
        elif Xc.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {Xc.shape[1]} features, but StreamClusterer is expecting {self.n_features_in_} features"
                " as input"
            )
        return Xc

    def _scope_codes(self, scopes: Sequence[Any] | None, n: int, create: bool = True) -> np.ndarray:
        if scopes is None:
            scopes = [None] * n
        if len(scopes) != n:
            raise ValueError(f"scopes has {len(scopes)} entries for {n} rows")
        codes = np.empty(n, np.int64)
        for i, s in enumerate(scopes):
            code = self.scope_codes_.get(s)
            if code is None:
                if not create:
                    codes[i] = -1
                    continue
                code = len(self.scope_names_)
                self.scope_codes_[s] = code
                self.scope_names_.append(s)
            codes[i] = code
        return codes

    # ------------------------------------------------------------------ state
    def _init_state(self, width: int) -> None:
        cap0 = min(64, self.max_clusters)
        self.CT_ = np.zeros((width, cap0), np.float32)  # word x slot counts
        self.wl_ = np.zeros((cap0, WORD_LOG), np.int32)  # words each slot holds (to clear it fast)
        self.wln_ = np.zeros(cap0, np.int32)
        self.n_ = np.zeros(cap0)  # words per slot
        self.w_ = np.zeros(cap0)  # recent mass, scaled by 2**((t - origin)/halflife)
        self.logw_ = np.full(cap0, -np.inf)  # log w_, -inf for a free slot
        self.ids_ = np.full(cap0, -1, np.int64)  # cluster id per slot, -1 for a free slot
        self.scope_ = np.full(cap0, -1, np.int64)
        self.hi_ = 0  # slots in use lie in 0..hi_-1
        self.free_: list[int] = []  # freed slots below hi_
        self.n_live_ = 0
        self.t_ = 0  # posts seen
        self.origin_ = 0.0
        self.kw_ = np.zeros(width, np.float32)  # how many clusters ever held each word
        self.logkw_ = np.zeros(width, np.float32)  # log(max(kw_, 1))
        self.k_total_ = 0  # clusters ever opened
        self.next_id_ = 0
        self.scope_codes_: dict[Any, int] = {}
        self.scope_names_: list[Any] = []
        self.rng_ = np.random.default_rng(self.random_state)
        self._clear_window()
        self._recent()

    def _clear_window(self) -> None:
        self.win_seq_: list[int] = []
        self.win_idx_: list[np.ndarray] = []
        self.win_cnt_: list[np.ndarray] = []
        self.win_slot_ = np.full(max(self.refine_window, 1), -1, np.int64)

    def _recent(self) -> None:
        if not hasattr(self, "recent_id_"):  # also for a state saved before merges existed
            self.recent_seq_ = np.full(_RECENT, -1, np.int64)  # the stream index kept at seq % _RECENT
            self.recent_id_ = np.full(_RECENT, -1, np.int64)  # its cluster id

    def _gain(self) -> float:
        return 2.0 ** ((self.t_ - self.origin_) / self.halflife)

    def _renormalise(self) -> None:
        f = self._gain()
        self.w_ /= f
        with np.errstate(divide="ignore"):
            self.logw_ = np.where(self.ids_ >= 0, np.log(self.w_), -np.inf)
        self.origin_ = float(self.t_)

    def _slot_of(self, cluster_id: int) -> int:
        hits = np.flatnonzero(self.ids_[: self.hi_] == cluster_id)
        return int(hits[0]) if len(hits) else -1

    def _icf(self, indices: np.ndarray) -> np.ndarray:
        if self.k_total_ < self.icf_min_clusters:
            return np.ones(len(indices), np.float32)
        return np.maximum(math.log(self.k_total_) - self.logkw_[indices], 0.0)

    def _vb(self) -> float:
        return self.vocab_size * self.beta

    def _scores(self, indices: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, float]:
        """Scores of one post against every slot (-inf for free slots; no scope mask) and the new-cluster
        score without its ``log D`` term; in the scaled units (only differences within one post matter)."""
        hi = self.hi_
        L = float(counts.sum())
        c = self._vb() + (L - 1.0) / 2.0
        new = math.log(self.alpha) - L * math.log(c)
        if hi == 0:
            return np.zeros(0), new
        sub = self.CT_[indices, :hi]  # l x hi
        sub *= (self._icf(indices) * (1.0 / self.beta))[:, None]
        ov = counts @ np.log1p(sub, out=sub)
        sc = ov + self.logw_[:hi] - L * np.log(self.n_[:hi] + c)
        sc[ov <= 0.0] = -np.inf
        return sc, new

    def _scope_mass(self, mask: np.ndarray | None) -> float:
        w = self.w_[: self.hi_]
        return max(float(w.sum() if mask is None else w[mask].sum()), self._gain())

    def _best(self, indices: np.ndarray, counts: np.ndarray, code: int) -> tuple[int, float, float]:
        """Best open slot of the post's scope (or -1 when a new cluster wins), its score, new score."""
        sc, new = self._scores(indices, counts)
        if self.n_live_ == 0 or code < 0:
            return -1, -np.inf, new + math.log(self._gain())
        if len(self.scope_names_) > 1:
            in_scope = self.scope_[: self.hi_] == code
            new += math.log(self._scope_mass(in_scope))
            sc = np.where(in_scope, sc, -np.inf)
        else:
            new += math.log(self._scope_mass(None))
        z = int(sc.argmax())
        return (z if sc[z] > new else -1), float(sc[z]), new

    def _add_many(
        self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Posts in order: runs of posts that join existing clusters go through the compiled loop; posts
        that open a cluster, close clusters (every 32 posts) or renormalise go through ``_add_one``.
        Returns the posts' final ids and the moves of earlier posts."""
        n = len(indptr) - 1
        first = self.t_
        labels = np.empty(n, np.int64)
        moved: dict[int, int] = {}
        slots = np.empty(n, np.int64)
        indptr = np.asarray(indptr, np.int64)
        indices = np.asarray(indices, np.int32)
        data = np.asarray(data, np.float32)
        codes = np.asarray(codes, np.int64)
        lim = _RENORM * self.halflife
        self._word_log()
        self._recent()
        r = 0
        while r < n:
            t = self.t_
            if t - self.origin_ >= lim or self.hi_ == 0:
                self._one(r, indptr, indices, data, codes, labels, moved)
                r += 1
                continue
            if (t + 1) % 32 == 0:
                # every 32nd post first closes the faded clusters (as _add_one does)
                self._drop_closed(2.0 ** ((t + 1 - self.origin_) / self.halflife))
                r1 = min(n, r + 32, r + int(lim - (t - self.origin_)))
            else:
                r1 = min(n, r + (31 - t % 32), r + int(lim - (t - self.origin_)))
            if self.hi_ == 0:
                continue
            room = self.refine_window - len(self.win_seq_) if self.refine_window else -1
            hi = self.hi_
            live = self.ids_[:hi] >= 0
            mass = np.bincount(self.scope_[:hi][live], weights=self.w_[:hi][live], minlength=len(self.scope_names_))
            stop, status = place_run(
                self.CT_, self.n_, self.w_, self.logw_, self.scope_, hi, self.kw_, self.logkw_, self.wl_, self.wln_,
                self.k_total_ >= self.icf_min_clusters, math.log(max(self.k_total_, 1)), 1.0 / self.beta,
                self._vb(), math.log(self.alpha), indptr, indices, data, codes, r, r1, t, self.origin_,
                float(self.halflife), mass, room, slots,
            )  # fmt: skip
            if stop > r:
                got = slots[r:stop]
                ids = np.where(got >= 0, self.ids_[np.maximum(got, 0)], -1)
                labels[r:stop] = ids
                self.t_ += stop - r
                if self.refine_window:
                    self._remember_run(first + r, r, got, indptr, indices, data)
                    self._refine_into(moved)
            r = stop
            if status == NEEDS_NEW:
                self._open_for(r, indptr, indices, data, codes, labels, moved)
                r += 1
        moves = []
        for seq, new_id in moved.items():
            if seq >= first:
                labels[seq - first] = new_id
            else:
                moves.append((seq, new_id))
        return labels, moves

    def _one(
        self,
        r: int,
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        codes: np.ndarray,
        labels: np.ndarray,
        moved: dict[int, int],
    ) -> None:
        a, b = indptr[r], indptr[r + 1]
        labels[r] = self._add_one(indices[a:b], data[a:b], int(codes[r]))
        self._refine_into(moved)

    def _open_for(
        self,
        r: int,
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        codes: np.ndarray,
        labels: np.ndarray,
        moved: dict[int, int],
    ) -> None:
        """Post ``r``, which the compiled loop found a new cluster fits best, opens one."""
        a, b = indptr[r], indptr[r + 1]
        self.t_ += 1
        z = self._open(int(codes[r]))
        self._put(z, indices[a:b], data[a:b], self._gain())
        if self.refine_window:
            self._remember(self.t_ - 1, r, z, indptr, indices, data)
        labels[r] = self.ids_[z]
        self._refine_into(moved)

    def _remember(self, seq: int, r: int, z: int, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> None:
        a, b = indptr[r], indptr[r + 1]
        self.win_slot_[len(self.win_seq_)] = z
        self.win_seq_.append(seq)
        self.win_idx_.append(indices[a:b])
        self.win_cnt_.append(data[a:b])

    def _remember_run(
        self, seq0: int, r: int, got: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray
    ) -> None:
        """``_remember`` for the posts ``r, r + 1, ...`` of a placed run (``got``: their slots; -1, a post
        without words, is not remembered), the slices cut in C rather than one call per post."""
        qs = np.flatnonzero(got >= 0)
        if not len(qs):
            return
        n0 = len(self.win_seq_)
        self.win_slot_[n0 : n0 + len(qs)] = got[qs]
        self.win_seq_ += (seq0 + qs).tolist()
        lo, hi = indptr[r + qs].tolist(), indptr[r + qs + 1].tolist()
        self.win_idx_ += map(indices.__getitem__, map(slice, lo, hi))
        self.win_cnt_ += map(data.__getitem__, map(slice, lo, hi))

    def _refine_into(self, moved: dict[int, int]) -> None:
        for seq, new_id in self._maybe_refine():
            moved[seq] = new_id

    def _advance(self) -> None:
        """One post more in the stream, the recency weights renormalised when due."""
        if (self.t_ - self.origin_) / self.halflife > _RENORM:
            self._renormalise()
        self.t_ += 1

    def _add_one(self, indices: np.ndarray, counts: np.ndarray, code: int) -> int:
        self._advance()
        if self.t_ % 32 == 0:
            self._drop_closed()
        if len(indices) == 0:
            return -1  # nothing to cluster on: no cluster
        z, _, _ = self._best(indices, counts, code)
        if z < 0:
            z = self._open(code)
        self._put(z, indices, counts, self._gain())
        if self.refine_window:
            self.win_slot_[len(self.win_seq_)] = z
            self.win_seq_.append(self.t_ - 1)
            self.win_idx_.append(indices)
            self.win_cnt_.append(counts)
        return int(self.ids_[z])

    def _put(self, z: int, indices: np.ndarray, counts: np.ndarray, mass: float) -> None:
        col = self.CT_[indices, z]
        fresh = indices[col == 0]
        if len(fresh):
            self.kw_[fresh] += 1.0
            self.logkw_[fresh] = np.log(self.kw_[fresh])
            self._word_log()
            log_words(self.wl_, self.wln_, np.full(len(fresh), z, np.int64), fresh.astype(np.int64))
        self.CT_[indices, z] = col + counts
        self.n_[z] += float(counts.sum())
        self.w_[z] += mass
        self.logw_[z] = math.log(self.w_[z]) if self.w_[z] > 0 else -np.inf

    def _take(self, z: int, indices: np.ndarray, counts: np.ndarray, mass: float) -> None:
        self.CT_[indices, z] = np.maximum(self.CT_[indices, z] - counts, 0.0)
        self.n_[z] = max(self.n_[z] - float(counts.sum()), 0.0)
        self.w_[z] = max(self.w_[z] - mass, 0.0)
        self.logw_[z] = math.log(self.w_[z]) if self.w_[z] > 0 else -np.inf

    def _open(self, code: int) -> int:
        self._drop_closed()
        if self.free_:
            z = self.free_.pop()
        else:
            cap = self.CT_.shape[1]
            if self.hi_ >= cap:
                if cap < self.max_clusters:
                    self._grow(min(cap * 2, self.max_clusters))
                else:
                    self._kill(int(np.argmin(np.where(self.ids_ >= 0, self.w_, np.inf))))
                    return self._open(code)
            z = self.hi_
            self.hi_ += 1
        self.n_[z] = 0.0
        self.w_[z] = 0.0
        self.logw_[z] = -np.inf
        self.ids_[z] = self.next_id_
        self.scope_[z] = code
        self.next_id_ += 1
        self.k_total_ += 1
        self.n_live_ += 1
        return z

    def _grow(self, cap: int) -> None:
        old = self.CT_.shape[1]
        CT = np.zeros((self.CT_.shape[0], cap), np.float32)
        CT[:, :old] = self.CT_
        self.CT_ = CT
        self._word_log()
        wl = np.zeros((cap, self.wl_.shape[1]), np.int32)  # a state saved with shorter logs keeps them
        wl[:old] = self.wl_
        self.wl_ = wl
        wln = np.zeros(cap, np.int32)
        wln[:old] = self.wln_
        self.wln_ = wln
        for name, fill, dtype in (
            ("n_", 0.0, np.float64),
            ("w_", 0.0, np.float64),
            ("logw_", -np.inf, np.float64),
            ("ids_", -1, np.int64),
            ("scope_", -1, np.int64),
        ):
            arr = np.full(cap, fill, dtype)
            arr[:old] = getattr(self, name)
            setattr(self, name, arr)

    def _drop_closed(self, gain: float | None = None) -> None:
        """Close clusters whose recent mass fell under ``min_weight``: they can never take a post again."""
        hi = self.hi_
        if hi == 0:
            return
        gain = self._gain() if gain is None else gain
        closed = np.flatnonzero((self.ids_[:hi] >= 0) & (self.w_[:hi] < self.min_weight * gain))
        for z in closed.tolist():
            self._kill(z)

    def _word_log(self) -> None:
        if not hasattr(self, "wl_"):  # a state saved before slots logged their words: clear by full walks
            cap = self.CT_.shape[1]
            self.wl_ = np.zeros((cap, WORD_LOG), np.int32)
            self.wln_ = np.full(cap, WORD_LOG + 1, np.int32)

    def _kill(self, z: int) -> None:
        self._word_log()
        clear_slot(self.CT_, self.wl_, self.wln_, z)
        self.ids_[z] = -1
        self.scope_[z] = -1
        self.n_[z] = 0.0
        self.w_[z] = 0.0
        self.logw_[z] = -np.inf
        self.n_live_ -= 1
        if z == self.hi_ - 1:
            self.hi_ -= 1
            while self.hi_ and self.ids_[self.hi_ - 1] < 0:
                self.hi_ -= 1
            self.free_ = [f for f in self.free_ if f < self.hi_]
        else:
            self.free_.append(z)
        # posts in the refinement window keep their label but leave the refinement
        self.win_slot_[self.win_slot_ == z] = -1

    # ------------------------------------------------------------------ refinement
    def _refine(self, win_indptr: np.ndarray, win_words: np.ndarray, win_counts: np.ndarray) -> list[tuple[int, int]]:
        """Parallel reassignment sweeps over the window (given as one CSR block, row per window post); returns
        ``(stream_index, new_id)`` of moved posts."""
        nwin = len(self.win_seq_)
        slots = self.win_slot_[:nwin].copy()
        keep = np.flatnonzero(slots >= 0)
        if len(keep) < 2 or self.n_live_ < 2 or self.refine_iter <= 0:
            return []
        # the rows of the posts still in a cluster, cut from the window's block (not joined again post by post)
        win_lens = np.diff(win_indptr)
        lens = win_lens[keep]
        indptr = np.concatenate([[0], np.cumsum(lens)])
        held = np.repeat(slots >= 0, win_lens)
        ind = win_words[held]
        dat = win_counts[held].astype(np.float64)
        B = len(keep)
        slots = slots[keep]
        seqs = np.asarray(self.win_seq_, np.int64)[keep]
        rows = np.repeat(np.arange(B), lens)
        cols, inv = np.unique(ind, return_inverse=True)
        L = np.bincount(rows, weights=dat, minlength=B)
        c = self._vb() + (L - 1.0) / 2.0
        # ``c`` depends on the post's length only: the length term ``logw_z - L * log(n_z + c)`` is made once
        # per distinct length and candidate, then gathered per post (a log per cell of the B x |E| block was
        # most of a refinement's own time; the product and difference per cell too were a tenth of it). Each
        # cell is the same arithmetic on the same operands as per post, so the same floats.
        L_of, L_row = np.unique(L, return_inverse=True)
        c_of = self._vb() + (L_of - 1.0) / 2.0
        gain = self._gain()
        wdoc = 2.0 ** ((seqs + 1.0 - self.origin_) / self.halflife)  # each post's scaled mass
        icf = np.asarray(self._icf(cols), np.float64)
        codes = self.scope_[slots]
        ar = np.arange(B)
        original = slots.copy()
        f_word = icf / self.beta
        self._word_log()  # a state saved before slots logged their words: every slot's log has run over
        for _ in range(self.refine_iter):
            hi = self.hi_
            # candidates: the clusters the window's posts are in (a post rarely belongs with a topic that
            # got none of the last refine_window posts, and scoring every cluster would cost ~10x)
            E = np.unique(slots)
            if len(E) < 2:
                break
            S = window_overlap(self.CT_, E, indptr, inv, dat, cols, f_word, self.wl_, self.wln_)  # B x |E|
            S += (self.logw_[E][None, :] - L_of[:, None] * np.log(self.n_[E][None, :] + c_of[:, None]))[L_row]
            if len(self.scope_names_) > 1:
                S[codes[:, None] != self.scope_[E][None, :]] = -np.inf
            # each post's own cluster, scored without the post
            pos = np.searchsorted(E, slots)
            own_c = self.CT_[ind, slots[rows]].astype(np.float64)
            selfw = np.bincount(
                rows, weights=dat * np.log1p(np.maximum(own_c - dat, 0.0) * icf[inv] / self.beta), minlength=B
            )
            w_own = self.w_[slots] - wdoc
            n_own = np.maximum(self.n_[slots] - L, 0.0)
            live = np.flatnonzero(self.ids_[:hi] >= 0)
            scope_mass = np.bincount(self.scope_[live], weights=self.w_[live], minlength=len(self.scope_names_))
            new = np.log(self.alpha * np.maximum(scope_mass[codes] - wdoc, gain)) - L * np.log(c)
            alone = w_own <= 1e-9 * gain
            own = np.log(np.where(alone, 1.0, w_own)) + selfw - L * np.log(n_own + c)
            S[ar, pos] = np.where(alone, new, own)
            prop = E[S.argmax(1)]
            move = (prop != slots) & (self.rng_.random(B) < 0.5)
            if not move.any():
                break
            md = np.flatnonzero(move)
            T, tinv = np.unique(np.concatenate([slots[md], prop[md]]), return_inverse=True)
            nm = len(md)
            # Each moved post takes its counts out of one touched slot and into another. The sums below run
            # post by post (a post's -1 and +1 side by side, its words in order): per slot and word they add
            # in the order the sparse product over the moved posts did, so the floats are the same.
            sides = np.empty(2 * nm, np.int64)
            sides[0::2], sides[1::2] = tinv[:nm], tinv[nm:]
            sign = np.tile(np.array([-1.0, 1.0]), nm)
            lens_m = lens[md]
            ent = np.repeat(indptr[md] - np.cumsum(lens_m) + lens_m, lens_m) + np.arange(int(lens_m.sum()))
            post_of = np.repeat(np.arange(nm), lens_m)
            mc, word_of = np.unique(inv[ent], return_inverse=True)
            keys = np.empty(2 * len(ent), np.int64)
            keys[0::2] = word_of * len(T) + tinv[:nm][post_of]
            keys[1::2] = word_of * len(T) + tinv[nm:][post_of]
            vals = np.repeat(dat[ent], 2) * np.tile(np.array([-1.0, 1.0]), len(ent))
            delta = np.bincount(keys, weights=vals, minlength=len(mc) * len(T))
            delta = delta.reshape(len(mc), len(T)).astype(np.float32)  # moved words x touched slots
            rows_c = cols[mc]
            block = self.CT_[np.ix_(rows_c, T)]
            after = np.maximum(block + delta, 0.0)
            fresh = (block == 0) & (after > 0)
            if fresh.any():
                fi, ft = np.nonzero(fresh)
                self._word_log()
                log_words(self.wl_, self.wln_, T[ft].astype(np.int64), rows_c[fi].astype(np.int64))
            newly = fresh.sum(1)
            if newly.any():
                f = rows_c[newly > 0]
                self.kw_[f] += newly[newly > 0]
                self.logkw_[f] = np.log(self.kw_[f])
            self.CT_[np.ix_(rows_c, T)] = after
            dn = np.bincount(sides, weights=sign * np.repeat(L[md], 2), minlength=len(T))
            self.n_[T] = np.maximum(self.n_[T] + dn, 0.0)
            dw = np.bincount(sides, weights=sign * np.repeat(wdoc[md], 2), minlength=len(T))
            self.w_[T] = np.maximum(self.w_[T] + dw, 0.0)
            with np.errstate(divide="ignore"):
                self.logw_[T] = np.log(self.w_[T])
            slots[md] = prop[md]
            # a cluster the moves emptied closes for good
            for z in np.flatnonzero((self.ids_[: self.hi_] >= 0) & (self.n_[: self.hi_] <= 1e-6)).tolist():
                self._kill(z)
        out = []
        for d in np.flatnonzero(slots != original).tolist():
            out.append((int(seqs[d]), int(self.ids_[slots[d]])))
        return out

    def _merge(self, words: np.ndarray) -> list[tuple[int, int]]:
        """Merge pairs of the window's clusters whose word counts point the same way and whose collapsed
        likelihood together is not much below apart: a topic the single pass opened twice stays split
        otherwise. The smaller goes into the larger; its recent posts are relabelled. Returns their
        ``(stream_index, new_id)``."""
        if self.merge_min_cos > 1.0 or self.n_live_ < 2:
            return []
        slots = self.win_slot_[: len(self.win_seq_)]
        cand, counts = np.unique(slots[slots >= 0], return_counts=True)
        cand = cand[(counts >= _MERGE_MIN_POSTS) & (self.ids_[cand] >= 0)]
        if len(cand) < 2:
            return []
        # compared on the words at least two window posts hold: what the clusters are about now (all of a
        # cluster's words would mean a walk over the whole table per refinement; rarer words decide little)
        rows = np.flatnonzero(np.bincount(words, minlength=self.CT_.shape[0]) >= 2)
        G, C = merge_gains(self.CT_, rows, cand, float(self.beta), float(self.merge_min_cos))
        i, j = np.nonzero(np.triu(C >= self.merge_min_cos, 1))
        if len(self.scope_names_) > 1:
            same = self.scope_[cand[i]] == self.scope_[cand[j]]
            i, j = i[same], j[same]
        vb = self._vb()
        na, nb = self.n_[cand[i]], self.n_[cand[j]]
        gain = G[i, j] - (gammaln(na + nb + vb) - gammaln(na + vb) - gammaln(nb + vb) + gammaln(vb))
        gain /= np.maximum(na + nb, 1e-9)
        taken = np.zeros(len(cand), bool)
        out: list[tuple[int, int]] = []
        for p in np.argsort(-gain, kind="stable").tolist():
            if not gain[p] > self.merge_min_gain:
                break
            if taken[i[p]] or taken[j[p]]:
                continue
            taken[i[p]] = taken[j[p]] = True
            keep, gone = int(cand[i[p]]), int(cand[j[p]])
            if self.n_[gone] > self.n_[keep]:
                keep, gone = gone, keep
            out += self._absorb(keep, gone)
        return out

    def _merged_target(self, cluster_id: int) -> int:
        """The cluster a merged-away cluster's counts live in now (itself when it was never merged)."""
        merged: dict[int, int] = getattr(self, "merged_into_", {})  # states saved before merges lack it
        while cluster_id in merged:
            cluster_id = merged[cluster_id]
        return cluster_id

    def _remember_merge(self, old: int, new: int) -> None:
        # Posts older than the relabelled window still name ``old``: forgetting one (a delete) must take
        # its counts out of ``new``. Kept small: entries whose final cluster has closed are dropped.
        merged: dict[int, int] = getattr(self, "merged_into_", {})
        merged[old] = new
        if len(merged) > _MERGED_KEPT:
            live = set(self.ids_[: self.hi_][self.ids_[: self.hi_] >= 0].tolist())
            final = {k: self._merged_target(k) for k in list(merged)}
            merged = {k: target for k, target in final.items() if target in live}
        self.merged_into_ = merged

    def _absorb(self, keep: int, gone: int) -> list[tuple[int, int]]:
        k = int(self.wln_[gone])
        if k <= self.wl_.shape[1]:  # the words it logged are all it holds (some may have dropped to zero since)
            rows = np.unique(self.wl_[gone, :k])
            rows = rows[self.CT_[rows, gone] > 0]
        else:
            rows = np.flatnonzero(self.CT_[:, gone])
        col = self.CT_[rows, keep]
        fresh = rows[col == 0]
        if len(fresh):
            self.kw_[fresh] += 1.0
            self.logkw_[fresh] = np.log(self.kw_[fresh])
            log_words(self.wl_, self.wln_, np.full(len(fresh), keep, np.int64), fresh.astype(np.int64))
        self.CT_[rows, keep] = col + self.CT_[rows, gone]
        self.n_[keep] += self.n_[gone]
        self.w_[keep] += self.w_[gone]
        self.logw_[keep] = math.log(self.w_[keep]) if self.w_[keep] > 0 else -np.inf
        old, new = int(self.ids_[gone]), int(self.ids_[keep])
        self._kill(gone)
        self._remember_merge(old, new)
        hit = np.flatnonzero(self.recent_id_ == old)
        self.recent_id_[hit] = new
        return [(int(s), new) for s in self.recent_seq_[hit].tolist()]

    def _split(
        self, seq_of: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray
    ) -> list[tuple[int, int]]:
        """Split each cluster whose window posts fit two clusters better than one and whose two sides share
        (almost) no words: two topics that met in an early post otherwise keep feeding one cluster. The
        larger side keeps the id; the other side's window posts open a new cluster (its older posts stay:
        their words are no longer known). Returns the moved posts' ``(stream_index, new_id)``."""
        if not self.split_min_posts:
            return []
        slots = self.win_slot_[: len(self.win_seq_)]
        zs, sizes = np.unique(slots[slots >= 0], return_counts=True)
        cand = zs[(sizes >= self.split_min_posts) & (self.ids_[zs] >= 0)]
        if not len(cand):
            return []
        side_all, gains, coss = split_window(
            indptr, indices, data, slots, cand, self.CT_.shape[0], float(self.beta), self._vb(),
            math.log(self.alpha), _SPLIT_SWEEPS, float(self.split_max_cos),
        )  # fmt: skip
        out: list[tuple[int, int]] = []
        for c, z in enumerate(cand.tolist()):
            if not gains[c] > 0.0 or coss[c] > self.split_max_cos:
                continue
            if not self.free_ and self.hi_ >= self.CT_.shape[1]:
                break  # opening would grow the table (or, at max_clusters, drop a cluster)
            members = np.flatnonzero(slots == z)
            side = side_all[members]
            ones = int(side.sum())
            if min(ones, len(side) - ones) < 2:
                continue
            go = members[side == (1 if 2 * ones <= len(side) else 0)]
            code = int(self.scope_[z])
            nz = self._open(code)
            new_id = int(self.ids_[nz])
            # the moved posts' counts and masses, summed, leave the cluster and open the new one
            moved = np.zeros(len(slots), bool)
            moved[go] = True
            entries = np.repeat(moved, np.diff(indptr))
            words, inv = np.unique(indices[entries], return_inverse=True)
            counts = np.bincount(inv, weights=data[entries]).astype(np.float32)
            seqs = seq_of[go]
            mass = float((2.0 ** ((seqs + 1.0 - self.origin_) / self.halflife)).sum())
            self._take(z, words, counts, mass)
            self._put(nz, words, counts, mass)
            self.win_slot_[go] = nz
            self.recent_id_[seqs % _RECENT] = new_id
            out += [(seq, new_id) for seq in seqs.tolist()]
        return out
