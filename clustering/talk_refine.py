"""Attribution of a window of posts together: what later posts say shows what earlier ones were about.

One post rarely shares a word with its talk's title; the posts of one talk share vocabulary with each
other. So the window is attributed jointly:

1. each post is pooled with its neighbours (posts that share words with it and a running talk);
2. expectation-maximisation: every candidate talk's profile is its schedule text plus the posts
   currently attributed to it, each post weighs its candidate talks against the hallway (text fit plus
   the time prior), repeated until the profiles settle;
3. the posts a talk won split into groups (chains of similar posts); the group that shares most with the
   talk's schedule text claims it, and another group keeps it only with a comparable share (or when it
   names the talk): a coherent group that rode in on a generic word — typically the posts of a talk
   missing from the schedule — goes back to the hallway, as do posts that share nothing with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.sparse.csgraph import connected_components
from sklearn.preprocessing import normalize


@dataclass(frozen=True, slots=True)
class RefineParams:
    neighbour_similarity: float = 0.05  # cosine above which two posts pool their words
    neighbour_weight: float = 1.0
    schedule_weight: float = 1.0  # schedule text against the posts in a talk's profile
    iterations: int = 10
    w_text: float = 20.0
    w_time: float = 2.0
    hallway_bias: float = 3.0
    chain_similarity: float = 0.12  # cosine for two posts of a talk to be linked in its group
    min_confidence: float = 0.5
    claim_ratio: float = 0.1  # a group keeps its talk with this share of the best group's schedule fit


def refine(
    X: sp.csr_matrix,
    T: sp.csr_matrix,
    candidates: np.ndarray,
    time_score: np.ndarray,
    anchors: np.ndarray,
    params: RefineParams = RefineParams(),
) -> tuple[np.ndarray, np.ndarray]:
    """Talk index per post (-1 = hallway) and its confidence.

    ``X``: posts x features (L2-normalised tf-idf); ``T``: talks x features (schedule profiles, L2);
    ``candidates``: posts x talks, True where the talk's time window holds the post; ``time_score``: the
    time prior there; ``anchors``: talk index a post names explicitly (reference, reply, chosen), else -1.
    """
    n, k = candidates.shape
    if n == 0 or k == 0:
        return np.full(n, -1), np.ones(n)
    X, T = _window_columns(sp.csr_matrix(X), sp.csr_matrix(T))
    # post x post similarities as pairs in row order, without a post's own (a few percent of all pairs
    # are nonzero, so the dense n x n matrix is never built)
    S = sp.coo_matrix((X @ X.T).tocsr().sorted_indices())
    off = S.row != S.col
    s_row, s_col, s_val = S.row[off], S.col[off], S.data[off]
    # neighbours: similar pairs that share a running talk
    pick = np.flatnonzero(s_val >= params.neighbour_similarity)
    pick = pick[(candidates[s_row[pick]] & candidates[s_col[pick]]).any(axis=1)]
    W = sp.csr_matrix((s_val[pick], (s_row[pick], s_col[pick])), shape=(n, n))
    V = normalize(sp.csr_matrix(X + params.neighbour_weight * (W @ X)))
    # a post is scored only against its candidate talks (about 6 of the window's 90): the product is
    # taken on those pairs only, in the order scipy's sparse product sums (the same values)
    pair_rows, pair_talks = np.nonzero(candidates)
    pair_ptr = np.concatenate([[0], np.cumsum(np.bincount(pair_rows, minlength=n))])
    v_ptr, v_ind, v_val = V.indptr.astype(np.int64), V.indices.astype(np.int64), V.data.astype(np.float64)
    x_ptr, x_ind, x_val = X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data.astype(np.float64)
    anchored = anchors >= 0
    A = np.zeros((n, k))
    A[np.flatnonzero(anchored), anchors[anchored]] = 1.0
    Td = params.schedule_weight * T.toarray()
    M = Td
    R = np.zeros((n, k + 1))
    for _ in range(params.iterations):
        Mn = np.ascontiguousarray(M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12))
        sim = np.zeros((n, k))
        _pair_products(v_ptr, v_ind, v_val, Mn, pair_rows, pair_talks, sim)
        score = np.where(candidates, params.w_text * sim + params.w_time * time_score, -np.inf)
        score = np.concatenate([score, np.full((n, 1), params.hallway_bias)], axis=1)
        score -= score.max(axis=1, keepdims=True)
        R = np.exp(score)
        R /= R.sum(axis=1, keepdims=True)
        R[anchored, :k] = A[anchored]
        R[anchored, k] = 0.0
        # a post adds its words only to its candidate talks (its responsibility is 0 for the others)
        learned = np.zeros_like(Td)
        _candidate_sums(x_ptr, x_ind, x_val, R, pair_ptr, pair_talks, learned)
        M = Td + learned
    best = R[:, :k].argmax(axis=1)
    conf = R[:, :k].max(axis=1)
    best = np.where(conf >= params.min_confidence, best, -1)
    # Every talk's groups at once: chains link only posts won by the same talk, so the components of the
    # whole window are the groups of each talk (one graph instead of one per talk).
    won = best >= 0
    chained = s_val >= params.chain_similarity
    ii, jj = s_row[chained], s_col[chained]
    same = won[ii] & (best[ii] == best[jj])
    links = sp.csr_matrix((np.ones(int(same.sum())), (ii[same], jj[same])), shape=(n, n))
    _, comp = connected_components(links, directed=False)
    title_fit = (X @ T.T).toarray()
    # a group's evidence for its talk: how much its posts share with the schedule text, in sum
    mass = np.bincount(comp, weights=np.where(won, title_fit[np.arange(n), np.maximum(best, 0)], 0.0))
    named = np.bincount(comp, weights=(won & (anchors == best)).astype(float)) > 0
    best_mass = np.zeros(k)
    np.maximum.at(best_mass, best[won], mass[comp[won]])  # the talk's best group
    claim = best_mass[np.maximum(best, 0)]
    keep = won & (named[comp] | ((mass[comp] > 0) & (mass[comp] >= params.claim_ratio * claim)))
    out = np.where(keep, best, -1)
    confidence = np.minimum(np.where(out >= 0, conf, 1.0 - conf), 0.999)
    return out, confidence


def _compiled(fn: Callable[..., Any]) -> Any:
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # Numba finds no writable cache location
        return njit(nogil=True)(fn)


@_compiled
def _pair_products(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    dense: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``out[r, c] = sparse row r . dense row c`` for each pair (r, c), summed in the row's stored order."""
    for p in range(rows.size):
        r = rows[p]
        c = cols[p]
        acc = 0.0
        for j in range(indptr[r], indptr[r + 1]):
            acc += data[j] * dense[c, indices[j]]
        out[r, c] = acc


@_compiled
def _candidate_sums(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    weights: np.ndarray,
    cand_ptr: np.ndarray,
    cand_cols: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``out[c] += weights[r, c] * sparse row r`` for each row r and its columns c, rows in order (the sums
    of ``(X.T @ weights).T`` where ``weights`` is 0 off those columns)."""
    for r in range(cand_ptr.size - 1):
        for q in range(cand_ptr[r], cand_ptr[r + 1]):
            c = cand_cols[q]
            w = weights[r, c]
            for j in range(indptr[r], indptr[r + 1]):
                out[c, indices[j]] += data[j] * w


def _window_columns(X: sp.csr_matrix, T: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Only the features the window's posts use, plus one column holding the rest of each talk profile's
    norm: every similarity and norm stays exact while the arrays shrink from the hashed width."""
    cols = np.unique(X.indices)
    Tw = T[:, cols]
    rest = np.sqrt(
        np.maximum(np.asarray(T.multiply(T).sum(axis=1)).ravel() - np.asarray(Tw.multiply(Tw).sum(axis=1)).ravel(), 0.0)
    )
    Xw = sp.hstack([X[:, cols], sp.csr_matrix((X.shape[0], 1))], format="csr")
    Tw = sp.hstack([Tw, sp.csr_matrix(rest[:, None])], format="csr")
    return Xw, Tw
