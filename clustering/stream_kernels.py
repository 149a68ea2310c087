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


# Words logged per slot. A slot that held more is cleared by a walk down its whole column, one cache miss
# per row of the table (~0.4 ms at 2**15 rows); at 96 a third of the clusters closed on Tweets-T took that
# walk (a cluster holds up to ~1,000 distinct words there). 1,024 int32 per slot: 2 MiB at 512 slots.
WORD_LOG = 1024


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
            if scope[z] != code or acc[z] <= 0.0:
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
def _logged_holders(
    CT: np.ndarray,
    cand: np.ndarray,
    words: np.ndarray,
    f: np.ndarray,
    wl: np.ndarray,
    wln: np.ndarray,
    hit: np.ndarray,
    val: np.ndarray,
    count: np.ndarray,
) -> int:
    """Every (window word, candidate) cell holding a count, candidate by candidate: found through the words
    each candidate logged (a superset of those it holds while its log has not run over; repeats skipped),
    else by reading the candidate's cell in every window word's row. Into ``hit`` (word position x K +
    candidate position) and ``val`` (the count); ``count[u + 1]`` counts word ``u``'s. Returns how many."""
    U = words.shape[0]
    K = cand.shape[0]
    width = wl.shape[1]
    at = np.full(CT.shape[0], -1, np.int32)  # row -> its position among the window's words
    for u in range(U):
        at[words[u]] = u
    seen = np.full(U, -1, np.int64)  # the candidate a word was last met for (a log may hold it twice)
    h = 0
    for k in range(K):
        z = cand[k]
        m = wln[z]
        if m <= width:
            for i in range(m):
                w = wl[z, i]
                u = at[w]
                if u < 0 or seen[u] == k:
                    continue
                seen[u] = k
                if f[u] > 0.0:
                    v = CT[w, z]
                    if v > 0.0:
                        hit[h] = u * K + k
                        val[h] = v
                        count[u + 1] += 1
                        h += 1
        else:
            for u in range(U):
                if f[u] > 0.0:
                    v = CT[words[u], z]
                    if v > 0.0:
                        hit[h] = u * K + k
                        val[h] = v
                        count[u + 1] += 1
                        h += 1
    return h


@_compiled
def window_overlap(
    CT: np.ndarray,  # float32 words x slots
    cand: np.ndarray,  # int64 candidate slots
    indptr: np.ndarray,
    inv: np.ndarray,  # per entry: its word's position in ``words``
    data: np.ndarray,
    words: np.ndarray,  # the window's distinct word ids
    f: np.ndarray,  # float64 per distinct word: icf / beta
    wl: np.ndarray,  # int32 slots x WORD_LOG: the words each slot logged
    wln: np.ndarray,  # int32 per slot: how many (WORD_LOG + 1: more than the log holds)
) -> np.ndarray:
    """``sum_w c_w * log1p(CT[w, z] * f_w)`` for every window post (rows) and candidate slot (columns).

    The posts of a window share most of their words: each distinct word's holders among the candidates are
    found and their ``log1p`` taken once, then every post holding the word adds them (in entry order, so the
    sums are the same to the bit as one term per entry and candidate). The holders are found through the
    candidates' word logs: reading every window word's row at every candidate (~2,000 x ~80 cells of the
    table, ~4% of them nonzero, mostly from memory) was most of a refinement's time."""
    U = words.shape[0]
    K = cand.shape[0]
    width = wl.shape[1]
    cap = 0
    for k in range(K):
        m = wln[cand[k]]
        cap += m if m <= width else U
    hit = np.empty(cap, np.int64)
    val = np.empty(cap)
    start = np.zeros(U + 1, np.int64)
    h = _logged_holders(CT, cand, words, f, wl, wln, hit, val, start)
    for u in range(U):
        start[u + 1] += start[u]
    # each word's holders in candidate order, as a walk along its row would list them
    fill = start[:U].copy()
    held = np.empty(h, np.int64)
    terms = np.empty(h)
    for r in range(h):
        u = hit[r] // K
        q = fill[u]
        fill[u] = q + 1
        held[q] = hit[r] - u * K
        terms[q] = math.log1p(val[r] * f[u])
    B = indptr.shape[0] - 1
    S = np.zeros((B, K))
    for i in range(B):
        for j in range(indptr[i], indptr[i + 1]):
            u = inv[j]
            cj = data[j]
            for q in range(start[u], start[u + 1]):
                S[i, held[q]] += cj * terms[q]
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


@_compiled
def _held_by(row: np.ndarray, cand: np.ndarray, nz: np.ndarray, val: np.ndarray) -> int:
    """Which candidate slots hold this word: their positions in ``cand`` into ``nz``, counts into ``val``."""
    q = 0
    for k in range(cand.shape[0]):
        v = row[cand[k]]
        if v > 0.0:
            nz[q] = k
            val[q] = v
            q += 1
    return q


@_compiled
def merge_gains(
    CT: np.ndarray,  # float32 words x slots
    rows: np.ndarray,  # words to compare on
    cand: np.ndarray,  # int64 candidate slots
    beta: float,
    min_cos: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For candidate slots ``k < k2``, on the words ``rows``: the cosine of their counts and, where it is at
    least ``min_cos`` (elsewhere 0), the word part of the collapsed log-likelihood gain of merging them,
    ``sum_w lgamma(a+b+beta) - lgamma(a+beta) - lgamma(b+beta) + lgamma(beta)`` (a word only one of them
    holds adds nothing)."""
    K = cand.shape[0]
    G = np.zeros((K, K))
    C = np.zeros((K, K))
    norm = np.zeros(K)
    nz = np.empty(K, np.int64)
    val = np.empty(K)
    for r in range(rows.shape[0]):
        q = _held_by(CT[rows[r]], cand, nz, val)
        for x in range(q):
            norm[nz[x]] += val[x] * val[x]
        for x in range(q):
            for y in range(x + 1, q):
                C[nz[x], nz[y]] += val[x] * val[y]
    close = False
    for k in range(K):
        for k2 in range(k + 1, K):
            if norm[k] > 0.0 and norm[k2] > 0.0:
                C[k, k2] /= math.sqrt(norm[k] * norm[k2])
                close |= C[k, k2] >= min_cos
    if not close:
        return G, C
    # the likelihoods only for the pairs close enough to merge: few, and lgamma is the costly part
    lb = math.lgamma(beta)
    for r in range(rows.shape[0]):
        q = _held_by(CT[rows[r]], cand, nz, val)
        for x in range(q):
            for y in range(x + 1, q):
                if C[nz[x], nz[y]] >= min_cos:
                    a = val[x]
                    b = val[y]
                    G[nz[x], nz[y]] += math.lgamma(a + b + beta) - math.lgamma(a + beta) - math.lgamma(b + beta) + lb
    return G, C


@_compiled
def _lgamma_step(x: float, d: float) -> float:
    """``lgamma(x + d) - lgamma(x)``; one log for the commonest case, a word a post holds once."""
    if d == 1.0:
        return math.log(x)
    return math.lgamma(x + d) - math.lgamma(x)


@_compiled
def _dmm_ll(cnt: np.ndarray, tot: float, beta: float, vb: float) -> float:
    """Collapsed log-likelihood of a group of posts under one cluster (its word counts ``cnt``)."""
    lb = math.lgamma(beta)
    s = 0.0
    for w in range(cnt.shape[0]):
        if cnt[w] > 0.0:
            s += math.lgamma(cnt[w] + beta) - lb
    return s - (math.lgamma(tot + vb) - math.lgamma(vb))


@_compiled
def split_two(
    indptr: np.ndarray,  # the cluster's window posts, words renumbered 0..n_words-1
    words: np.ndarray,
    data: np.ndarray,
    n_words: int,
    beta: float,
    vb: float,
    log_alpha: float,
    sweeps: int,
    max_cos: float,
) -> tuple[np.ndarray, float, float]:
    """Best two-way split of one cluster's posts: iterated conditional modes on a two-cluster mixture.
    Returns each post's side (0/1), the log-probability gain of the split over keeping the posts together
    (mixture likelihood and prior; -inf when a side ends empty or the cosine of the two sides' counts is
    over ``max_cos``) and that cosine."""
    B = indptr.shape[0] - 1
    cnt = np.zeros((2, n_words))
    tot = np.zeros(2)
    m = np.zeros(2)
    allc = np.zeros(n_words)
    for j in range(words.shape[0]):
        allc[words[j]] += data[j]
    # start from the two topics' anchors: the most frequent word, and the most frequent word of the posts
    # without it; posts with neither (or both) are placed by the first sweep
    top = 0
    for w in range(n_words):
        if allc[w] > allc[top]:
            top = w
    has_top = np.zeros(B, np.bool_)
    other = np.zeros(n_words)
    for i in range(B):
        for j in range(indptr[i], indptr[i + 1]):
            if words[j] == top:
                has_top[i] = True
        if not has_top[i]:
            for j in range(indptr[i], indptr[i + 1]):
                other[words[j]] += data[j]
    second = 0
    for w in range(n_words):
        if other[w] > other[second]:
            second = w
    side = np.full(B, -1, np.int64)
    for i in range(B):
        has_second = False
        for j in range(indptr[i], indptr[i + 1]):
            if words[j] == second:
                has_second = True
        if has_top[i] == has_second:
            continue
        k = 0 if has_top[i] else 1
        side[i] = k
        for j in range(indptr[i], indptr[i + 1]):
            cnt[k, words[j]] += data[j]
            tot[k] += data[j]
        m[k] += 1.0
    for _ in range(sweeps):
        changed = 0
        for i in range(B):
            k = side[i]
            L = 0.0
            for j in range(indptr[i], indptr[i + 1]):
                L += data[j]
                if k >= 0:
                    cnt[k, words[j]] -= data[j]
                    tot[k] -= data[j]
            if k >= 0:
                m[k] -= 1.0
            best = -np.inf
            bk = k
            for q in range(2):
                s = math.log(m[q]) if m[q] > 0.0 else log_alpha
                for j in range(indptr[i], indptr[i + 1]):
                    s += _lgamma_step(cnt[q, words[j]] + beta, data[j])
                s -= _lgamma_step(tot[q] + vb, L)
                if s > best:
                    best = s
                    bk = q
            side[i] = bk
            changed += bk != k
            for j in range(indptr[i], indptr[i + 1]):
                cnt[bk, words[j]] += data[j]
                tot[bk] += data[j]
            m[bk] += 1.0
        if changed == 0:
            break
    if m[0] < 1.0 or m[1] < 1.0:
        return side, -np.inf, 1.0
    dot = n0 = n1 = 0.0
    for w in range(n_words):
        dot += cnt[0, w] * cnt[1, w]
        n0 += cnt[0, w] * cnt[0, w]
        n1 += cnt[1, w] * cnt[1, w]
    cos = dot / math.sqrt(n0 * n1)
    if cos > max_cos:  # not a split the caller makes: spare the likelihoods
        return side, -np.inf, cos
    gain = (
        _dmm_ll(cnt[0], tot[0], beta, vb) + _dmm_ll(cnt[1], tot[1], beta, vb) - _dmm_ll(allc, tot[0] + tot[1], beta, vb)
    )
    gain += log_alpha + math.lgamma(m[0]) + math.lgamma(m[1]) - math.lgamma(m[0] + m[1])
    return side, gain, cos


@_compiled
def split_window(
    indptr: np.ndarray,  # the window's posts (global word ids)
    indices: np.ndarray,
    data: np.ndarray,  # float32 counts
    slots: np.ndarray,  # int64 slot per window post (-1: none)
    cand: np.ndarray,  # int64 slots to try
    n_features: int,
    beta: float,
    vb: float,
    log_alpha: float,
    sweeps: int,
    max_cos: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``split_two`` on each candidate cluster's window posts. Returns each post's side (-1 when its
    cluster was not tried) and each candidate's gain and cosine."""
    B = indptr.shape[0] - 1
    side = np.full(B, -1, np.int64)
    gains = np.full(cand.shape[0], -np.inf)
    coss = np.ones(cand.shape[0])
    local = np.full(n_features, -1, np.int64)
    for c in range(cand.shape[0]):
        z = cand[c]
        nm = 0
        nnz = 0
        for i in range(B):
            if slots[i] == z:
                nm += 1
                nnz += indptr[i + 1] - indptr[i]
        members = np.empty(nm, np.int64)
        sub_ptr = np.zeros(nm + 1, np.int64)
        sub_words = np.empty(nnz, np.int64)
        sub_data = np.empty(nnz)
        seen = np.empty(nnz, np.int64)
        nw = 0
        q = 0
        for i in range(B):
            if slots[i] != z:
                continue
            members[q] = i
            for j in range(indptr[i], indptr[i + 1]):
                wd = indices[j]
                if local[wd] < 0:
                    local[wd] = nw
                    seen[nw] = wd
                    nw += 1
                k = sub_ptr[q] + (j - indptr[i])
                sub_words[k] = local[wd]
                sub_data[k] = data[j]
            sub_ptr[q + 1] = sub_ptr[q] + indptr[i + 1] - indptr[i]
            q += 1
        for x in range(nw):
            local[seen[x]] = -1
        got, gain, cos = split_two(sub_ptr, sub_words, sub_data, nw, beta, vb, log_alpha, sweeps, max_cos)
        gains[c] = gain
        coss[c] = cos
        for x in range(nm):
            side[members[x]] = got[x]
    return side, gains, coss
