"""Payload: a 32-bit watermark id carried as two 32-bit words, and the list decoder that checks them.

Word A is the id XOR a fixed whitening mask; word B is a keyed 4-round Feistel permutation of the id.
A reader that sees both words can check one against the other. Two list decoders run on the 64 soft
votes, and a match from either is accepted:

* *reliability list*: take the ``WEAK_BITS`` least reliable of the 64 voted bits (smallest |vote|).
  An id is accepted when both its words agree with the hard votes everywhere outside that set. The
  candidates are enumerated from the side (A or B) with fewer weak bits: every flip pattern of its
  weak bits gives one id, whose other word is then checked (at most 2^8 candidates).
* *distance list*: flip any subset of the ``FLIP_BITS`` least reliable bits of one word and accept
  when the other word is within ``MAX_DISTANCE`` bits (this one tolerates a few confident errors).

On unmarked media the other word of any candidate is a fixed pseudo-random function of it, so a
false match has probability at most 2^WEAK_BITS / 2^32 (reliability list: that many word pairs are
compatible with the votes, each a codeword pair with probability 2^-32) plus
2 * 2^FLIP_BITS * P(a random word within MAX_DISTANCE) (distance list), per vote checked
(:func:`false_match_probability`); it does not depend on the decoder's behaviour on unmarked content.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

WATERMARK_BITS = 32                  # bits of id
ID_MAX = (1 << WATERMARK_BITS) - 1
_KEY = b"deepsentry/watermark/v1"
WHITEN = int.from_bytes(hashlib.blake2b(_KEY + b"/whiten", digest_size=4).digest(), "big")

# Reliability list: both words must agree with the votes outside the WEAK_BITS least reliable of 64.
WEAK_BITS = 16
# Distance list: per side, try every flip of the FLIP_BITS least reliable bits; accept the best
# candidate whose other word is within MAX_DISTANCE bits.
FLIP_BITS = 3
MAX_DISTANCE = 3
HYPOTHESES_PER_TEST = 2 * (1 << FLIP_BITS)   # candidates the distance list tries per vote


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


def tail(distance: int) -> float:
    """P(a uniformly random 32-bit word is within ``distance`` bits of a given word)."""
    return sum(comb(32, k) for k in range(distance + 1)) / 2.0 ** 32


def false_match_probability(tests: int = 1) -> float:
    """Upper bound on a false match when ``tests`` votes were checked (both list decoders)."""
    per_vote = 2.0 ** WEAK_BITS / 2.0 ** 32 + HYPOTHESES_PER_TEST * tail(MAX_DISTANCE)
    return min(1.0, tests * per_vote)


@dataclass(frozen=True)
class Match:
    wm_id: int
    distance: int            # of the 64 voted bits, how many disagree with (A, B) of wm_id
    flipped: int             # how deep into the reliability order the disagreements go (1 = weakest bit)
    agreement: float         # fraction of the 64 voted bits that agree with (A, B) of wm_id
    decoder: str = "reliability"


def _candidates(soft: np.ndarray):
    hard = (soft > 0).astype(np.uint8)
    weak = np.argsort(np.abs(soft))[:FLIP_BITS]
    for n in range(FLIP_BITS + 1):
        for subset in combinations(weak, n):
            bits = hard.copy()
            bits[list(subset)] ^= 1
            yield n, from_bits(bits)


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
    found = ids[ok]
    if found.size == 0:
        return None
    best = None
    for wm_id in (int(i) for i in found):
        a, b = words_for(wm_id)
        wrong = np.concatenate([a, b]) * 2 - 1 != np.sign(soft)
        cost = float(np.abs(soft)[wrong].sum())
        if best is None or cost < best[0]:
            best = (cost, wm_id, wrong)
    _, wm_id, wrong = best
    order = np.argsort(np.abs(soft), kind="stable")
    rank = np.empty(64, int)
    rank[order] = np.arange(64)
    depth = int(rank[wrong].max()) + 1 if wrong.any() else 0
    n = int(wrong.sum())
    return Match(wm_id, n, depth, (64 - n) / 64, "reliability")


def match(soft_a: np.ndarray, soft_b: np.ndarray) -> Match | None:
    """Find the id whose two words best explain the soft votes; None when no id passes the check
    (reliability list first, then the distance list)."""
    m = reliability_match(soft_a, soft_b)
    if m is not None:
        return m
    return distance_match(soft_a, soft_b)


def distance_match(soft_a: np.ndarray, soft_b: np.ndarray) -> Match | None:
    """Distance list: flip weak bits of one word, accept when the other is within MAX_DISTANCE bits."""
    hard_a = (soft_a > 0).astype(np.uint8)
    hard_b = (soft_b > 0).astype(np.uint8)
    best: tuple | None = None
    for n, word in _candidates(soft_a):
        wm_id = word ^ WHITEN
        d = int(np.count_nonzero(to_bits(permute(wm_id)).astype(np.uint8) != hard_b))
        key = (d + n, d, n, wm_id)
        if d <= MAX_DISTANCE and (best is None or key < best):
            best = key
    for n, word in _candidates(soft_b):
        wm_id = unpermute(word)
        d = int(np.count_nonzero(to_bits(wm_id ^ WHITEN).astype(np.uint8) != hard_a))
        key = (d + n, d, n, wm_id)
        if d <= MAX_DISTANCE and (best is None or key < best):
            best = key
    if best is None:
        return None
    _, d, n, wm_id = best
    a, b = words_for(wm_id)
    agree = (np.count_nonzero(a.astype(np.uint8) == hard_a) + np.count_nonzero(b.astype(np.uint8) == hard_b)) / 64
    return Match(wm_id, 64 - int(round(agree * 64)), n, float(agree), "distance")
