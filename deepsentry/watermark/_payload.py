"""Payload: a 32-bit watermark id carried as two 32-bit words, and the list decoder that checks them.

Word A is the id XOR a fixed whitening mask; word B is a keyed 4-round Feistel permutation of the id.
A reader that sees both words can check one against the other. A false match on unmarked media
needs 32 bits of a pseudo-random word to line up, so its probability can be computed exactly
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

# List decoding: per side, try every flip of the FLIP_BITS least reliable bits; accept the best
# candidate whose other word is within MAX_DISTANCE bits.
FLIP_BITS = 4
MAX_DISTANCE = 3
HYPOTHESES_PER_TEST = 2 * (1 << FLIP_BITS)   # candidates tried per geometric hypothesis


def _round_fn(half: int, r: int) -> int:
    digest = hashlib.blake2b(_KEY + bytes([r]) + half.to_bytes(2, "big"), digest_size=2).digest()
    return int.from_bytes(digest, "big")


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


SEGMENT_FRAMES = 5           # video: frames per polarity segment


def polarity(segment: int) -> int:
    """Keyed pseudo-random polarity (0: words as is, 1: both words inverted) of a video segment."""
    digest = hashlib.blake2b(_KEY + b"/polarity" + int(segment).to_bytes(8, "big"), digest_size=1).digest()
    return digest[0] & 1


def tail(distance: int) -> float:
    """P(a uniformly random 32-bit word is within ``distance`` bits of a given word)."""
    return sum(comb(32, k) for k in range(distance + 1)) / 2.0 ** 32


def false_match_probability(distance: int, tests: int = 1) -> float:
    """Upper bound on a false match at ``distance`` when ``tests`` geometric hypotheses were tried."""
    return min(1.0, tests * HYPOTHESES_PER_TEST * tail(distance))


@dataclass(frozen=True)
class Match:
    wm_id: int
    distance: int            # bits of the checking word that disagree
    flipped: int             # bits of the carrying word flipped by the list decoder
    agreement: float         # fraction of the 64 voted bits that agree with (A, B) of wm_id


def _candidates(soft: np.ndarray):
    hard = (soft > 0).astype(np.uint8)
    weak = np.argsort(np.abs(soft))[:FLIP_BITS]
    for n in range(FLIP_BITS + 1):
        for subset in combinations(weak, n):
            bits = hard.copy()
            bits[list(subset)] ^= 1
            yield n, from_bits(bits)


def match(soft_a: np.ndarray, soft_b: np.ndarray) -> Match | None:
    """Find the id whose two words best explain the soft votes; None when no id passes the check."""
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
    return Match(wm_id, d, n, float(agree))
