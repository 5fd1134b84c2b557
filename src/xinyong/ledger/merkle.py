"""RFC 9162 Merkle tree hashing, proofs and their verification.

The tree is the one Certificate Transparency uses (RFC 9162 section 2.1, unchanged from RFC
6962): a leaf hash is ``SHA-256(0x00 ‖ d)``, an interior node ``SHA-256(0x01 ‖ left ‖ right)``
and a tree of ``n`` leaves splits at the largest power of two smaller than ``n``.

Proofs are built from *complete* subtrees, addressed by ``(level, index)``: the node at
level ``L`` and index ``i`` covers leaves ``[i·2^L, (i+1)·2^L)``. Every range the RFC
recursion asks for is a handful of those, so an inclusion or consistency proof needs O(log
n) of them (the platform stores the large ones and hashes the small ones from their leaves).
Proof generation therefore comes in two steps: :func:`inclusion_nodes` /
:func:`consistency_nodes` say which subtrees are needed
(to fetch them in one query), and :func:`inclusion_proof` / :func:`consistency_proof` build
the proof from them. Verification needs no storage at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""``(level, index)`` of a complete subtree."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_complete(start: int, end: int) -> bool:
    size = end - start
    return size & (size - 1) == 0 and start % size == 0


def _node_key(start: int, end: int) -> NodeKey:
    level = (end - start).bit_length() - 1
    return (level, start >> level)


# Proofs of one tree size share most of their ranges (the right edge above all), and a proof
# asks for each of its ranges twice (which nodes, then their hashes): both are cached.
@lru_cache(maxsize=16384)
def range_nodes(start: int, end: int) -> tuple[NodeKey, ...]:
    """The stored complete subtrees whose hashes give ``MTH(D[start:end])``.

    ``start`` must be aligned as the RFC recursion aligns it (a multiple of the split of
    ``end - start``), which holds for every range a proof asks for.
    """
    keys: list[NodeKey] = []
    while not _is_complete(start, end):
        k = split_point(end - start)
        keys.append(_node_key(start, start + k))
        start += k
    keys.append(_node_key(start, end))
    return tuple(keys)


def range_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """``MTH(D[start:end])`` from stored complete-subtree hashes."""
    if end <= start:
        raise ValueError("empty range")
    keys = range_nodes(start, end)
    result = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        result = node_hash(nodes[key], result)
    return result


@lru_cache(maxsize=4096)
def _inclusion_ranges(index: int, size: int) -> tuple[tuple[int, int], ...]:
    """The sibling ranges of ``PATH(index, D[0:size])``, leaf upwards (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return tuple(ranges)


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The ranges of ``PROOF(first, D[0:second])`` in proof order (RFC 9162 2.1.4.1)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    ranges: list[tuple[int, int]] = []
    m, start, end, complete = first, 0, second, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            break
        k = split_point(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m -= k
            start += k
            complete = False
    ranges.reverse()
    return ranges


def _needed(ranges: Iterable[tuple[int, int]]) -> set[NodeKey]:
    return {key for start, end in ranges for key in range_nodes(start, end)}


def inclusion_nodes(index: int, size: int) -> set[NodeKey]:
    return _needed(_inclusion_ranges(index, size))


def consistency_nodes(first: int, second: int) -> set[NodeKey]:
    return _needed(_consistency_ranges(first, second))


def root_nodes(size: int) -> set[NodeKey]:
    return set(range_nodes(0, size)) if size else set()


def inclusion_proof(index: int, size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    return [range_hash(s, e, nodes) for s, e in _inclusion_ranges(index, size)]


def consistency_proof(first: int, second: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    if first == second:
        return []
    return [range_hash(s, e, nodes) for s, e in _consistency_ranges(first, second)]


def root(size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    return range_hash(0, size, nodes) if size else EMPTY_ROOT


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a list of leaf hashes, computed from scratch (for verification)."""
    tree = Frontier()
    for value in leaf_hashes:
        tree.append(value)
    return tree.root()


def complete_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a complete subtree: its leaf hashes (a power of two of them) paired level
    by level, as :func:`root_of` would, without keeping a frontier."""
    level = list(leaf_hashes)
    if not level or len(level) & (len(level) - 1):
        raise ValueError(f"a complete subtree has a power of two of leaves, not {len(level)}")
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


# --- appending ------------------------------------------------------------------------------


@dataclass
class Frontier:
    """The right edge of a tree: one complete subtree per set bit of its size.

    Appending a leaf hash returns the complete subtrees it finishes (the leaf itself, then
    each parent that became complete), which is everything a store needs to write.
    """

    size: int = 0
    # (level, hash), highest level first; levels strictly decrease.
    stack: list[tuple[int, bytes]] = field(default_factory=list)

    @classmethod
    def load(cls, size: int, nodes: Mapping[NodeKey, bytes]) -> Frontier:
        stack = [(key[0], nodes[key]) for key in frontier_nodes(size)]
        return cls(size, stack)

    def append(self, value: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the new complete subtrees as ``(level, index, hash)``."""
        written = [(0, self.size, value)]
        level, current = 0, value
        self.size += 1
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            current = node_hash(left, current)
            level += 1
            written.append((level, (self.size >> level) - 1, current))
        self.stack.append((level, current))
        return written

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        result = self.stack[-1][1]
        for _, value in reversed(self.stack[:-1]):
            result = node_hash(value, result)
        return result


def frontier_nodes(size: int) -> list[NodeKey]:
    """The complete subtrees that make up a tree of ``size`` leaves, largest first."""
    keys: list[NodeKey] = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, offset >> level))
            offset += 1 << level
    return keys


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ----------------------------------------------


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """Does ``proof`` show the leaf hash ``leaf`` at ``index`` in the tree with this root?"""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, result = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(p, result)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Is the tree of ``second`` leaves an append-only extension of the one of ``first``?"""
    if any(len(p) != HASH_SIZE for p in proof) or not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
