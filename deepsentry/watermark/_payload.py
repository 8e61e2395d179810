"""Payload: a 32-bit watermark id carried as two 32-bit words, and the list decoder that checks them.

Word A is the id XOR a fixed whitening mask; word B is a keyed 4-round Feistel permutation of the id.
A reader that sees both words can check one against the other.

The check is a list decoder on the 64 soft votes (:func:`match`, the *cost list*): the cost of a set
of bits is the sum of their |vote|, and an id is accepted when the bits its two words disagree with
are the cheapest such set and among the ``COST_LIST`` (2^16) cheapest of all 2^64 sets. The list is
fixed by the votes alone; on unmarked media the other word of any candidate is a fixed pseudo-random
function of it, so a false match has probability at most COST_LIST / 2^32 = 1.5e-5 per vote checked
(:func:`false_match_probability`), whatever the decoder does on unmarked content.

It replaces two lists with more than twice that bound (3.6e-5): a *reliability list* (any errors
among the 16 least reliable bits) and a *distance list* (3 weak bits of one word flipped, 3 wrong
bits anywhere in the other). The cost list spends its 2^16 sets on those a reader is likeliest to
meet: many weak errors or a few middling ones. Saved decoder scores, decided by both readers the way
``_core.decide`` does (2026-11-29): on the bench's 40 clips x 5 lossy attacks plus 12 re-embeds of the
two hardest clips x 4, it recovered 3 more clip-attacks and lost 1 (CRF 35); on 28 stills x 15 attacks
2 more and 1 fewer (crop 60 %); on 1,736 harder reads (votes over 1-3 random frames) 1,121 against
1,072. A list of 2^17 recovered more (1,140; on the bench CRF 28 + 0.5x 38/40) but matched 2 of the
bench's 1,550 unmarked frames (0.13 %, over the 0.1 % target); 2^16 matches none of those.

:func:`reliability_match` with a wider set (``_core.SCREEN_BITS``) remains the reader's screen for
"looks marked, read more frames", which accepts nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

WATERMARK_BITS = 32                  # bits of id
ID_MAX = (1 << WATERMARK_BITS) - 1
_KEY = b"deepsentry/watermark/v1"
WHITEN = int.from_bytes(hashlib.blake2b(_KEY + b"/whiten", digest_size=4).digest(), "big")

# Reliability list: both words agree with the votes outside the given number of least reliable of the
# 64 bits. The reader uses it only as its screen, with _core.SCREEN_BITS; 16 is the size it had when
# it accepted ids.
WEAK_BITS = 16
# Cost list: accept the id whose words disagree with the votes on the cheapest set of bits when that
# set is among the COST_LIST cheapest of the 2^64 disagreement patterns (counted on a COST_GRID grid).
COST_LIST = 1 << 16
COST_GRID = 4096


def _round_fn(half: int, r: int) -> int:
    digest = hashlib.blake2b(_KEY + bytes([r]) + half.to_bytes(2, "big"), digest_size=2).digest()
    return int.from_bytes(digest, "big")


_TABLES: np.ndarray | None = None


def _tables() -> np.ndarray:
    """The 4 round functions as lookup tables (4 x 65536, uint32) for vectorised permutation."""
    global _TABLES
    if _TABLES is None:
        t = np.empty((4, 1 << 16), np.uint32)
        for r in range(4):
            pre = _KEY + bytes([r])
            t[r] = [int.from_bytes(hashlib.blake2b(pre + h.to_bytes(2, "big"), digest_size=2).digest(), "big")
                    for h in range(1 << 16)]
        _TABLES = t
    return _TABLES


def permute_many(x: np.ndarray) -> np.ndarray:
    """:func:`permute` on an array of uint32 words."""
    t = _tables()
    x = np.asarray(x, np.uint32)
    left, right = x >> 16, x & 0xFFFF
    for r in range(4):
        left, right = right, left ^ t[r][right]
    return (left << 16) | right


def unpermute_many(y: np.ndarray) -> np.ndarray:
    t = _tables()
    y = np.asarray(y, np.uint32)
    left, right = y >> 16, y & 0xFFFF
    for r in reversed(range(4)):
        left, right = right ^ t[r][left], left
    return (left << 16) | right


def permute(x: int) -> int:
    """Keyed bijection on 32-bit ints (4-round Feistel network)."""
    left, right = x >> 16, x & 0xFFFF
    for r in range(4):
        left, right = right, left ^ _round_fn(right, r)
    return (left << 16) | right


def unpermute(y: int) -> int:
    left, right = y >> 16, y & 0xFFFF
    for r in reversed(range(4)):
        left, right = right ^ _round_fn(left, r), left
    return (left << 16) | right


def to_bits(x: int) -> np.ndarray:
    return np.array([(x >> (31 - i)) & 1 for i in range(32)], dtype=np.float32)


def from_bits(bits: np.ndarray) -> int:
    out = 0
    for b in bits:
        out = (out << 1) | int(b)
    return out


def words_for(wm_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The two 32-bit words (as 0/1 float arrays) embedded for ``wm_id``."""
    if not 0 <= wm_id <= ID_MAX:
        raise ValueError(f"watermark id must be in [0, {ID_MAX}]")
    return to_bits(wm_id ^ WHITEN), to_bits(permute(wm_id))


SEGMENT_FRAMES = 5           # video: frames per polarity segment (at most one encoder pass each)


def polarity(segment: int) -> int:
    """Keyed pseudo-random polarity (0: words as is, 1: both words inverted) of a video segment."""
    digest = hashlib.blake2b(_KEY + b"/polarity" + int(segment).to_bytes(8, "big"), digest_size=1).digest()
    return digest[0] & 1


def false_match_probability(tests: int = 1) -> float:
    """Upper bound on a false match when ``tests`` votes were checked (see :func:`cost_match`)."""
    return min(1.0, tests * COST_LIST / 2.0 ** 32)


@dataclass(frozen=True)
class Match:
    wm_id: int
    distance: int            # of the 64 voted bits, how many disagree with (A, B) of wm_id
    flipped: int             # how deep into the reliability order the disagreements go (1 = weakest bit)
    agreement: float         # fraction of the 64 voted bits that agree with (A, B) of wm_id
    decoder: str = "cost"


def _word(bits: np.ndarray) -> int:
    return from_bits((np.asarray(bits) > 0).astype(np.uint8))


def _mask(positions) -> int:
    m = 0
    for p in positions:
        m |= 1 << (31 - int(p))
    return m


def _subsets(positions) -> np.ndarray:
    """Every XOR pattern over the given bit positions (uint32 array of 2^len)."""
    out = np.zeros(1, np.uint32)
    for p in positions:
        out = np.concatenate([out, out ^ np.uint32(1 << (31 - int(p)))])
    return out


def reliability_match(soft_a: np.ndarray, soft_b: np.ndarray, weak_bits: int = WEAK_BITS) -> Match | None:
    """The id whose words agree with the votes outside the ``weak_bits`` least reliable of the 64 bits."""
    soft = np.concatenate([np.asarray(soft_a, np.float64), np.asarray(soft_b, np.float64)])
    weak = np.argsort(np.abs(soft), kind="stable")[:weak_bits]
    weak_a = [int(i) for i in weak if i < 32]
    weak_b = [int(i) - 32 for i in weak if i >= 32]
    hard_a, hard_b = _word(soft_a), _word(soft_b)
    keep_a = np.uint32(~_mask(weak_a) & ID_MAX)
    keep_b = np.uint32(~_mask(weak_b) & ID_MAX)
    if len(weak_a) <= len(weak_b):
        words_a = np.uint32(hard_a) ^ _subsets(weak_a)
        ids = words_a ^ np.uint32(WHITEN)
        ok = ((permute_many(ids) ^ np.uint32(hard_b)) & keep_b) == 0
    else:
        ids = unpermute_many(np.uint32(hard_b) ^ _subsets(weak_b))
        ok = (((ids ^ np.uint32(WHITEN)) ^ np.uint32(hard_a)) & keep_a) == 0
    ids = ids[ok]
    if ids.size == 0:
        return None
    # the cheapest of the compatible ids (cost: the summed |vote| of the bits it disagrees with)
    w = np.abs(soft)
    cost = (_weighted_popcount(ids ^ np.uint32(WHITEN) ^ np.uint32(hard_a), w[:32])
            + _weighted_popcount(permute_many(ids) ^ np.uint32(hard_b), w[32:]))
    return _explain(int(ids[int(np.argmin(cost))]), soft, "reliability")


def _explain(wm_id: int, soft: np.ndarray, decoder: str) -> Match:
    """The :class:`Match` of ``wm_id`` against the 64 soft votes."""
    a, b = words_for(wm_id)
    wrong = np.concatenate([a, b]) * 2 - 1 != np.sign(soft)
    rank = np.empty(64, int)
    rank[np.argsort(np.abs(soft), kind="stable")] = np.arange(64)
    n = int(wrong.sum())
    return Match(wm_id, n, int(rank[wrong].max()) + 1 if n else 0, (64 - n) / 64, decoder)


def _cost_threshold(w: np.ndarray, size: int) -> float:
    """A cost T such that at most ``size`` of the 2^64 disagreement patterns (subsets of the 64 bits)
    cost less than T, the cost of a pattern being the sum of its bits' weights ``w``. The weights are
    floored onto a grid of COST_GRID steps before counting (dynamic programming over the grid), so the
    count is an upper bound and the list may fall a little short of ``size``; 0 when even the patterns
    of weight-0 bits exceed it."""
    k = size.bit_length()                       # the subsets of the k + 1 lightest bits already exceed size
    top = float(np.sort(w)[:k + 1].sum())
    if top <= 0.0:
        return 0.0
    step = top / COST_GRID
    counts = np.zeros(COST_GRID + 1)
    counts[0] = 1.0
    for q in np.floor(w / step).astype(np.int64):
        if q == 0:
            counts *= 2.0
        elif q <= COST_GRID:
            counts[q:] += counts[:COST_GRID + 1 - q].copy()
    fits = np.flatnonzero(np.cumsum(counts) <= size)
    # a pattern of cost < (j + 1) * step has a floored cost <= j grid steps
    return 0.0 if fits.size == 0 else (int(fits[-1]) + 1) * step


def _cheap_flips(w: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Every flip pattern of one 32-bit word whose cost (sum of ``w`` over its bits) is below ``limit``:
    (uint32 XOR masks, costs)."""
    masks, costs = np.zeros(1, np.uint32), np.zeros(1)
    for p in np.argsort(w, kind="stable"):
        more = costs + w[p]
        keep = more < limit
        if not keep.any():
            break
        masks = np.concatenate([masks, masks[keep] ^ np.uint32(1 << (31 - int(p)))])
        costs = np.concatenate([costs, more[keep]])
    return masks, costs


_BYTE_BITS = ((np.arange(256)[:, None] >> np.arange(7, -1, -1)) & 1).astype(np.float64)


def _weighted_popcount(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """For each uint32 in ``x``: the sum of ``w`` (32 weights, most significant bit first) over its set bits."""
    out = np.zeros(x.shape)
    for j in range(4):
        table = _BYTE_BITS @ w[8 * j: 8 * j + 8]
        out += table[(x >> np.uint32(8 * (3 - j))) & np.uint32(0xFF)]
    return out


def cost_match(soft_a: np.ndarray, soft_b: np.ndarray, size: int = COST_LIST) -> Match | None:
    """Cost list: the id whose two words disagree with the votes on the cheapest set of bits (cost:
    the sum of those bits' |vote|), accepted when that set is among the ``size`` cheapest of all 2^64
    disagreement patterns (see :func:`_cost_threshold`). The candidates are enumerated from word A
    (every flip pattern of it cheaper than the threshold: every set under the threshold restricts to
    one of them) and checked against word B through the permutation."""
    soft = np.concatenate([np.asarray(soft_a, np.float64), np.asarray(soft_b, np.float64)])
    w = np.abs(soft)
    limit = _cost_threshold(w, size)
    if limit <= 0.0:
        return None
    flips, cost_a = _cheap_flips(w[:32], limit)
    ids = (np.uint32(_word(soft_a)) ^ flips) ^ np.uint32(WHITEN)
    cost = cost_a + _weighted_popcount(permute_many(ids) ^ np.uint32(_word(soft_b)), w[32:])
    best = int(np.argmin(cost))
    if cost[best] >= limit:
        return None
    return _explain(int(ids[best]), soft, "cost")


def match(soft_a: np.ndarray, soft_b: np.ndarray) -> Match | None:
    """The id whose two words best explain the soft votes (2 x 32); None when no id passes the check
    (the cost list, :func:`cost_match`)."""
    return cost_match(soft_a, soft_b)
