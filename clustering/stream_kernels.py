"""The inner loops of ``StreamClusterer``, compiled with Numba.

A post touches a handful of words and each word is held by few clusters, so scoring walks the post's rows
of the word x cluster counts and skips the zeros: ``log1p`` runs only where a cluster holds the word.
Numpy would take the log of the whole ``words x clusters`` block per post, and pay a dozen calls' overhead
per post on top; here one call places a whole run of posts.

Compiled on first use and cached next to this file (or in Numba's user cache when that is read-only;
with neither writable, as in a container running as a user that owns no directory, compiled once per
process instead).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit


def _compiled(fn: Callable[..., Any]) -> Any:
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # Numba finds no writable cache location
        return njit(nogil=True)(fn)


NEEDS_NEW = 1  # status: the post at the returned index would open a cluster (the caller handles it)
RAN_OUT = 0  # status: every post up to ``r1`` (or the window room) was placed


WORD_LOG = 96


@_compiled
def log_word(wl: np.ndarray, wln: np.ndarray, z: int, word: int) -> None:
    k = wln[z]
    if k < wl.shape[1]:
        wl[z, k] = word
    if k <= wl.shape[1]:
        wln[z] = k + 1


@_compiled
def log_words(wl: np.ndarray, wln: np.ndarray, slots: np.ndarray, words: np.ndarray) -> None:
    for i in range(slots.shape[0]):
        log_word(wl, wln, slots[i], words[i])


@_compiled
def place_run(
    CT: np.ndarray,  # float32 words x slots
    n: np.ndarray,  # float64 words per slot
    w: np.ndarray,  # float64 recent mass per slot (scaled)
    logw: np.ndarray,
    scope: np.ndarray,  # int64 scope code per slot, -1 for a free slot
    hi: int,
    kw: np.ndarray,  # float32 clusters ever holding each word
    logkw: np.ndarray,
    wl: np.ndarray,  # int32 slots x WORD_LOG: the words each slot holds, for ``clear_slot``
    wln: np.ndarray,  # int32 per slot: words logged (past WORD_LOG: too many, not logged)
    icf_on: bool,
    log_k: float,  # log(clusters ever opened)
    inv_beta: float,
    vb: float,
    log_alpha: float,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    codes: np.ndarray,  # scope code per post
    r0: int,
    r1: int,
    t0: int,  # posts seen before post r0
    origin: float,
    halflife: float,
    scope_mass: np.ndarray,  # float64 recent mass per scope code
    room: int,  # posts the refinement window still takes (-1: no window)
    out_slot: np.ndarray,  # slot per post (-1: nothing to cluster on)
) -> tuple[int, int]:
    """Place posts ``r0..r1-1`` into existing clusters, in order, as ``StreamClusterer._add_one`` would.

    Stops early at a post that a new cluster would win (``NEEDS_NEW``, that post not consumed) or after the
    post that fills the refinement window. Returns (index of the next post to handle, status).
    """
    acc = np.zeros(hi)
    for r in range(r0, r1):
        a, b = indptr[r], indptr[r + 1]
        if a == b:
            out_slot[r] = -1
            continue
        t = t0 + (r - r0) + 1
        gain = 2.0 ** ((t - origin) / halflife)
        code = codes[r]
        L = 0.0
        for j in range(a, b):
            L += data[j]
        c = vb + (L - 1.0) / 2.0
        mass = scope_mass[code] if code < scope_mass.shape[0] else 0.0
        new = log_alpha - L * math.log(c) + math.log(max(mass, gain))
        acc[:] = 0.0
        for j in range(a, b):
            wd = indices[j]
            f = inv_beta
            if icf_on:
                f = max(log_k - logkw[wd], 0.0) * inv_beta
            if f <= 0.0:
                continue
            cj = data[j]
            row = CT[wd]
            for z in range(hi):
                v = row[z]
                if v > 0.0:
                    acc[z] += cj * math.log1p(v * f)
        best = -np.inf
        bz = -1
        for z in range(hi):
            if scope[z] != code:
                continue
            s = acc[z] + logw[z] - L * math.log(n[z] + c)
            if s > best:
                best = s
                bz = z
        if bz < 0 or not best > new:
            return r, NEEDS_NEW
        for j in range(a, b):
            wd = indices[j]
            if CT[wd, bz] == 0.0:
                kw[wd] += 1.0
                logkw[wd] = math.log(kw[wd])
                log_word(wl, wln, bz, wd)
            CT[wd, bz] += data[j]
        n[bz] += L
        w[bz] += gain
        logw[bz] = math.log(w[bz])
        scope_mass[code] += gain
        out_slot[r] = bz
        if room > 0:
            room -= 1
            if room == 0:
                return r + 1, RAN_OUT
    return r1, RAN_OUT


@_compiled
def window_overlap(
    CT: np.ndarray,  # float32 words x slots
    cand: np.ndarray,  # int64 candidate slots
    indptr: np.ndarray,
    indices: np.ndarray,  # global word ids
    data: np.ndarray,
    f: np.ndarray,  # float64 per entry: icf / beta of its word
) -> np.ndarray:
    """``sum_w c_w * log1p(CT[w, z] * f_w)`` for every window post (rows) and candidate slot (columns)."""
    B = indptr.shape[0] - 1
    K = cand.shape[0]
    S = np.zeros((B, K))
    for i in range(B):
        for j in range(indptr[i], indptr[i + 1]):
            fj = f[j]
            if fj <= 0.0:
                continue
            row = CT[indices[j]]
            cj = data[j]
            for k in range(K):
                v = row[cand[k]]
                if v > 0.0:
                    S[i, k] += cj * math.log1p(v * fj)
    return S


@_compiled
def clear_slot(CT: np.ndarray, wl: np.ndarray, wln: np.ndarray, z: int) -> None:
    """Empty a slot's column: only the logged words' rows, or (for a slot with many words) every row, a
    strided walk over the whole table."""
    k = wln[z]
    if k <= wl.shape[1]:
        for i in range(k):
            CT[wl[z, i], z] = 0.0
    else:
        for i in range(CT.shape[0]):
            if CT[i, z] != 0.0:
                CT[i, z] = 0.0
    wln[z] = 0
