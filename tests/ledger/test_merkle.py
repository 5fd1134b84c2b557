"""The Merkle tree of the ledger: RFC 6962/9162 vectors, proofs from stored nodes, pymerkle.

Proofs are built the way the service builds them: every complete subtree that
:meth:`Frontier.append` reports is stored in a dict keyed ``(level, index)``, and a proof
reads only the nodes :func:`inclusion_nodes` / :func:`consistency_nodes` name. A
from-scratch implementation of the RFC's recursive definitions (``MTH``, ``PATH``,
``PROOF``) is the oracle beyond the published vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.ledger import merkle
from xinyong.ledger.merkle import (
    EMPTY_ROOT,
    Frontier,
    NodeKey,
    complete_root,
    consistency_nodes,
    consistency_proof,
    frontier_nodes,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_nodes,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# RFC 6962 / RFC 9162 test data (certificate-transparency's merkle_tree_test).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def _hashes(*values: str) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


INCLUSION_VECTORS: list[tuple[int, int, list[bytes]]] = [
    (0, 1, []),
    (
        0,
        8,
        _hashes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _hashes(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _hashes("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _hashes(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

CONSISTENCY_VECTORS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        _hashes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        2,
        8,
        _hashes(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _hashes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

EXHAUSTIVE = 40  # every (index, size) and (first, second) up to this many leaves


# --- helpers ------------------------------------------------------------------------------------


def store(data: Sequence[bytes]) -> tuple[dict[NodeKey, bytes], list[bytes]]:
    """Append ``data`` as the service does; the stored nodes and the root after each leaf."""
    nodes: dict[NodeKey, bytes] = {}
    roots = [EMPTY_ROOT]
    tree = Frontier()
    for value in data:
        for level, index, digest in tree.append(leaf_hash(value)):
            assert (level, index) not in nodes, "a node is written twice"
            nodes[(level, index)] = digest
        roots.append(tree.root())
    return nodes, roots


def only(nodes: Mapping[NodeKey, bytes], keys: set[NodeKey]) -> dict[NodeKey, bytes]:
    """The nodes a proof says it needs, and no others (as :func:`fetch_nodes` returns)."""
    return {key: nodes[key] for key in keys}


def mth(hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.1, on leaf hashes, recursively."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = merkle.split_point(n)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def rfc_path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    n = len(hashes)
    if n == 1:
        return []
    k = merkle.split_point(n)
    if m < k:
        return [*rfc_path(m, hashes[:k]), mth(hashes[k:])]
    return [*rfc_path(m - k, hashes[k:]), mth(hashes[:k])]


def rfc_proof(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(m, D[n])."""

    def subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if complete else [mth(d)]
        k = merkle.split_point(n)
        if m <= k:
            return [*subproof(m, d[:k], complete), mth(d[k:])]
        return [*subproof(m - k, d[k:], False), mth(d[:k])]

    return subproof(m, hashes, True) if 0 < m < len(hashes) else []


def flipped(value: bytes, position: int = 0) -> bytes:
    return value[:position] + bytes([value[position] ^ 1]) + value[position + 1 :]


def sides(index: int, size: int) -> list[bool]:
    """For each proof element, leaf upwards: is the sibling on the left?"""
    result = []
    start, end = 0, size
    while end - start > 1:
        k = merkle.split_point(end - start)
        if index < start + k:
            result.append(False)
            end = start + k
        else:
            result.append(True)
            start += k
    return result[::-1]


DATA = [f"leaf {i}".encode() for i in range(EXHAUSTIVE)]
NODES, ROOTS_OF_DATA = store(DATA)
HASHES = [leaf_hash(d) for d in DATA]


# --- published vectors ------------------------------------------------------------------------


def test_hashing_primitives_are_the_rfc_ones() -> None:
    assert EMPTY_ROOT == ROOTS[0] == hashlib.sha256(b"").digest()
    assert leaf_hash(b"") == ROOTS[1]
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    )
    assert [merkle.split_point(n) for n in range(2, 10)] == [1, 2, 2, 4, 4, 4, 4, 8]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_the_published_vectors(size: int) -> None:
    nodes, roots = store(LEAVES)
    assert roots[size] == ROOTS[size]  # the frontier's running root
    assert root(size, nodes) == ROOTS[size]  # from stored nodes
    assert root(size, only(nodes, root_nodes(size))) == ROOTS[size]
    assert root_of([leaf_hash(d) for d in LEAVES[:size]]) == ROOTS[size]
    assert mth([leaf_hash(d) for d in LEAVES[:size]]) == ROOTS[size]
    if size and size & (size - 1) == 0:  # a complete tree
        assert complete_root([leaf_hash(d) for d in LEAVES[:size]]) == ROOTS[size]


@pytest.mark.parametrize("count", [0, 3, 5, 6, 7, 12])
def test_a_complete_root_needs_a_power_of_two_of_leaves(count: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        complete_root([leaf_hash(bytes([i])) for i in range(count)])


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_the_published_vectors(
    index: int, size: int, expected: list[bytes]
) -> None:
    nodes, _ = store(LEAVES)
    proof = inclusion_proof(index, size, only(nodes, inclusion_nodes(index, size)))
    assert proof == expected
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_the_published_vectors(
    first: int, second: int, expected: list[bytes]
) -> None:
    nodes, _ = store(LEAVES)
    proof = consistency_proof(first, second, only(nodes, consistency_nodes(first, second)))
    assert proof == expected
    assert verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)


# --- stored nodes -------------------------------------------------------------------------------


def test_the_frontier_stores_every_complete_subtree_once() -> None:
    expected = {
        (level, index)
        for level in range(EXHAUSTIVE.bit_length())
        for index in range(EXHAUSTIVE >> level)
    }
    assert set(NODES) == expected
    for (level, index), digest in NODES.items():
        assert digest == mth(HASHES[index << level : (index + 1) << level])


@pytest.mark.parametrize("split", [0, 1, 2, 3, 7, 8, 13, 31, 32, 39])
def test_a_loaded_frontier_continues_where_it_stopped(split: int) -> None:
    tree = Frontier.load(split, only(NODES, set(frontier_nodes(split))))
    assert tree.size == split
    assert tree.root() == ROOTS_OF_DATA[split]
    for i in range(split, EXHAUSTIVE):
        written = tree.append(HASHES[i])
        assert all(NODES[(level, index)] == digest for level, index, digest in written)
        assert tree.root() == ROOTS_OF_DATA[i + 1]


def test_frontier_nodes_cover_the_tree_largest_first() -> None:
    assert frontier_nodes(0) == []
    assert frontier_nodes(1) == [(0, 0)]
    assert frontier_nodes(6) == [(2, 0), (1, 2)]
    assert frontier_nodes(13) == [(3, 0), (2, 2), (0, 12)]
    for size in range(1, EXHAUSTIVE + 1):
        covered = [
            i
            for level, index in frontier_nodes(size)
            for i in range(index << level, (index + 1) << level)
        ]
        assert covered == list(range(size))


def test_roots_of_every_size_equal_the_rfc_definition() -> None:
    for size in range(EXHAUSTIVE + 1):
        expected = mth(HASHES[:size])
        assert ROOTS_OF_DATA[size] == expected
        assert root(size, only(NODES, root_nodes(size))) == expected


def test_every_inclusion_proof_verifies_and_equals_the_rfc_path() -> None:
    for size in range(1, EXHAUSTIVE + 1):
        for index in range(size):
            proof = inclusion_proof(index, size, only(NODES, inclusion_nodes(index, size)))
            assert proof == rfc_path(index, HASHES[:size]), (index, size)
            assert verify_inclusion(HASHES[index], index, size, proof, ROOTS_OF_DATA[size])


def test_every_consistency_proof_verifies_and_equals_the_rfc_proof() -> None:
    for second in range(1, EXHAUSTIVE + 1):
        for first in range(1, second + 1):
            proof = consistency_proof(first, second, only(NODES, consistency_nodes(first, second)))
            assert proof == rfc_proof(first, HASHES[:second]), (first, second)
            assert verify_consistency(
                first, second, ROOTS_OF_DATA[first], ROOTS_OF_DATA[second], proof
            )


def test_proof_arguments_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_nodes(3, 3)
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_nodes(-1, 3)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_nodes(0, 3)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_nodes(4, 3)
    with pytest.raises(ValueError, match="empty range"):
        merkle.range_hash(2, 2, NODES)
    with pytest.raises(KeyError):  # a missing stored node is not silently recomputed
        inclusion_proof(0, 8, {})


# --- tampering ----------------------------------------------------------------------------------


def test_tampered_inclusion_proofs_fail() -> None:
    for size in range(1, EXHAUSTIVE + 1):
        good_root = ROOTS_OF_DATA[size]
        for index in range(size):
            leaf = HASHES[index]
            proof = inclusion_proof(index, size, NODES)
            for i in range(len(proof)):
                for position in (0, 31):
                    bad = list(proof)
                    bad[i] = flipped(bad[i], position)
                    assert not verify_inclusion(leaf, index, size, bad, good_root)
            assert not verify_inclusion(
                leaf, index, size, [*proof, proof[0] if proof else leaf], good_root
            )
            if proof:
                assert not verify_inclusion(leaf, index, size, proof[:-1], good_root)
                assert not verify_inclusion(leaf, index, size, proof[::-1], good_root) or (
                    proof == proof[::-1]
                )
                assert not verify_inclusion(leaf, index, size, [p[:31] for p in proof], good_root)
            assert not verify_inclusion(flipped(leaf), index, size, proof, good_root)
            assert not verify_inclusion(leaf, index, size, proof, flipped(good_root))
            if size > 1:
                assert not verify_inclusion(leaf, index, size, proof, ROOTS_OF_DATA[size - 1])
            # Another leaf's hash at this position, this leaf at another position.
            assert (
                not verify_inclusion(HASHES[(index + 1) % size], index, size, proof, good_root)
                or size == 1
            )
            for other in range(size):
                if other != index:
                    assert not verify_inclusion(leaf, other, size, proof, good_root)
            # Out of range.
            assert not verify_inclusion(leaf, size, size, proof, good_root)
            assert not verify_inclusion(leaf, -1, size, proof, good_root)
            assert not verify_inclusion(leaf, index, index, proof, good_root)


def test_a_proof_holds_for_another_size_only_where_the_path_is_the_same() -> None:
    """The size is bound by the checkpoint, not by the proof: a claimed size that gives the
    same shape of path computes the same root, any other fails."""
    for size in range(1, EXHAUSTIVE + 1):
        for index in range(size):
            proof = inclusion_proof(index, size, NODES)
            for claimed in range(index + 1, EXHAUSTIVE + 2):
                if claimed == size:
                    continue
                verified = verify_inclusion(
                    HASHES[index], index, claimed, proof, ROOTS_OF_DATA[size]
                )
                assert verified == (sides(index, claimed) == sides(index, size)), (
                    index,
                    size,
                    claimed,
                )


def test_tampered_consistency_proofs_fail() -> None:
    for second in range(2, EXHAUSTIVE + 1):
        for first in range(1, second):
            r1, r2 = ROOTS_OF_DATA[first], ROOTS_OF_DATA[second]
            proof = consistency_proof(first, second, NODES)
            assert proof
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = flipped(bad[i], i % 32)
                assert not verify_consistency(first, second, r1, r2, bad)
            assert not verify_consistency(first, second, r1, r2, proof[:-1])
            assert not verify_consistency(first, second, r1, r2, [*proof, proof[-1]])
            assert not verify_consistency(first, second, r1, r2, [])
            assert not verify_consistency(first, second, flipped(r1), r2, proof)
            assert not verify_consistency(first, second, r1, flipped(r2), proof)
            assert not verify_consistency(first, second, r2, r1, proof)
            assert not verify_consistency(second, first, r2, r1, proof)
            assert not verify_consistency(first, second, r1, r2, [p[:31] for p in proof])
            if first > 1:
                assert not verify_consistency(first - 1, second, r1, r2, proof)
                assert not verify_consistency(
                    first - 1, second, ROOTS_OF_DATA[first - 1], r2, proof
                )
            # A proof that the tree grew from an altered history.
            history = list(HASHES[:second])
            history[first - 1] = leaf_hash(b"rewritten")
            assert not verify_consistency(first, second, r1, mth(history), proof)


def test_trivial_consistency() -> None:
    r = ROOTS_OF_DATA[5]
    assert verify_consistency(5, 5, r, r, [])
    assert not verify_consistency(5, 5, r, flipped(r), [])
    assert not verify_consistency(5, 5, r, r, [r])
    assert verify_consistency(0, 5, EMPTY_ROOT, r, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, r, [r])
    assert not verify_consistency(6, 5, r, r, [])
    assert consistency_proof(5, 5, {}) == []


# --- properties ---------------------------------------------------------------------------------

leaf_lists = st.lists(st.binary(max_size=24), min_size=1, max_size=150)


@settings(max_examples=150, deadline=None)
@given(data=leaf_lists, pick=st.data())
def test_property_inclusion(data: list[bytes], pick: st.DataObject) -> None:
    nodes, roots = store(data)
    size = pick.draw(st.integers(1, len(data)), label="size")
    index = pick.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, size, only(nodes, inclusion_nodes(index, size)))
    hashes = [leaf_hash(d) for d in data]
    assert roots[size] == mth(hashes[:size])
    assert proof == rfc_path(index, hashes[:size])
    assert verify_inclusion(hashes[index], index, size, proof, roots[size])
    assert len(proof) <= max(1, size - 1).bit_length()
    if proof:
        position = pick.draw(st.integers(0, len(proof) - 1), label="tampered element")
        bad = list(proof)
        bad[position] = flipped(bad[position], pick.draw(st.integers(0, 31)))
        assert not verify_inclusion(hashes[index], index, size, bad, roots[size])


@settings(max_examples=150, deadline=None)
@given(data=leaf_lists, pick=st.data())
def test_property_consistency(data: list[bytes], pick: st.DataObject) -> None:
    nodes, roots = store(data)
    second = pick.draw(st.integers(1, len(data)), label="second")
    first = pick.draw(st.integers(1, second), label="first")
    proof = consistency_proof(first, second, only(nodes, consistency_nodes(first, second)))
    assert proof == rfc_proof(first, [leaf_hash(d) for d in data[:second]])
    assert verify_consistency(first, second, roots[first], roots[second], proof)
    if proof:
        position = pick.draw(st.integers(0, len(proof) - 1), label="tampered element")
        bad = list(proof)
        bad[position] = flipped(bad[position])
        assert not verify_consistency(first, second, roots[first], roots[second], bad)


@settings(max_examples=100, deadline=None)
@given(data=leaf_lists, pick=st.data())
def test_property_resuming_from_stored_nodes_gives_the_same_tree(
    data: list[bytes], pick: st.DataObject
) -> None:
    nodes, roots = store(data)
    split = pick.draw(st.integers(0, len(data)), label="split")
    tree = Frontier.load(split, only(nodes, set(frontier_nodes(split))))
    resumed: dict[NodeKey, bytes] = {}
    for value in data[split:]:
        for level, index, digest in tree.append(leaf_hash(value)):
            resumed[(level, index)] = digest
    assert tree.root() == roots[-1] == root_of([leaf_hash(d) for d in data])
    assert all(nodes[key] == digest for key, digest in resumed.items())
    assert set(resumed) == {key for key in nodes if key not in _nodes_before(split)}


def _nodes_before(size: int) -> set[NodeKey]:
    return {
        (level, index)
        for level in range(max(size, 1).bit_length())
        for index in range(size >> level)
    }


# --- interoperability with pymerkle (GPL, a development dependency only) --------------------------


def test_roots_and_leaf_hashes_equal_pymerkle() -> None:
    pymerkle = pytest.importorskip("pymerkle")
    data = [f"record event {i}".encode() for i in range(130)] + LEAVES
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    for value in data:
        tree.append_entry(value)
    nodes, roots = store(data)
    assert tree.get_size() == len(data)
    for size in range(1, len(data) + 1):
        assert tree.get_leaf(size) == leaf_hash(data[size - 1])  # pymerkle counts from 1
        assert tree.get_root(size) == roots[size] == root(size, nodes), size
    assert tree.get_root() == roots[-1]
