"""RFC 6962 tree and proofs: golden vectors from transparency-dev/merkle plus derived cases."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from govproxy.audit.errors import ProofError
from govproxy.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    consistency_proof_from_ranges,
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

VECTORS = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "vectors"
    / "transparency-dev-merkle"
    / "testdata"
)


def _vector_files(kind: str) -> list[Path]:
    if not VECTORS.is_dir():
        return []
    return sorted(p for p in (VECTORS / kind).rglob("*.json"))


def _b64(v):
    return base64.b64decode(v) if v else b""


def _skip_if_absent():
    if not VECTORS.is_dir():
        pytest.skip(
            f"golden vectors not present at {VECTORS} (outside the shared workplace)"
        )


@pytest.mark.parametrize(
    "path",
    _vector_files("inclusion") or [None],
    ids=lambda p: p and "/".join(p.parts[-2:]),
)
def test_inclusion_golden_vectors(path):
    _skip_if_absent()
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    args = (
        case["leafIdx"],
        case["treeSize"],
        _b64(case["leafHash"]),
        proof,
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize(
    "path",
    _vector_files("consistency") or [None],
    ids=lambda p: p and "/".join(p.parts[-2:]),
)
def test_consistency_golden_vectors(path):
    _skip_if_absent()
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    args = (
        case["size1"],
        case["size2"],
        proof,
        _b64(case["root1"]),
        _b64(case["root2"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vectors_exercise_both_outcomes():
    _skip_if_absent()
    cases = [
        json.loads(p.read_text())
        for p in _vector_files("inclusion") + _vector_files("consistency")
    ]
    assert (
        sum(c["wantErr"] for c in cases) > 50
        and sum(not c["wantErr"] for c in cases) > 5
    )


def test_hashes_follow_rfc6962():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    # RFC 6962 test leaves: the 8-leaf reference root used across CT implementations
    leaves = [
        bytes.fromhex(x)
        for x in [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
    ]
    root = root_from_leaves([leaf_hash(x) for x in leaves])
    assert (
        root.hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


def _recursive_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH written as the definition, to check the optimised tree against."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_recursive_root(leaves[:k]), _recursive_root(leaves[k:]))


def test_tree_roots_and_proofs_for_every_size_up_to_40():
    leaves = [leaf_hash(os.urandom(8)) for _ in range(40)]
    tree = MerkleTree(leaves)
    for n in range(41):
        assert (
            tree.root(n) == _recursive_root(leaves[:n]) == root_from_leaves(leaves[:n])
        )
        for i in range(n):
            verify_inclusion(i, n, leaves[i], tree.inclusion_proof(i, n), tree.root(n))
        for m in range(1, n + 1):
            verify_consistency(
                m, n, tree.consistency_proof(m, n), tree.root(m), tree.root(n)
            )


def test_derived_proofs_reject_wrong_leaf_index_root_and_extra_elements():
    leaves = [leaf_hash(bytes([i])) for i in range(13)]
    tree = MerkleTree(leaves)
    proof = tree.inclusion_proof(5, 13)
    with pytest.raises(ProofError):
        verify_inclusion(6, 13, leaves[5], proof, tree.root())
    with pytest.raises(ProofError):
        verify_inclusion(5, 13, leaves[4], proof, tree.root())
    with pytest.raises(ProofError):
        verify_inclusion(5, 13, leaves[5], proof + [leaves[0]], tree.root())
    cons = tree.consistency_proof(7, 13)
    with pytest.raises(ProofError):
        verify_consistency(7, 13, cons, tree.root(6), tree.root())
    with pytest.raises(ProofError):
        verify_consistency(7, 13, cons[:-1], tree.root(7), tree.root())
    other = MerkleTree(leaves[:7] + [leaf_hash(b"forged")] + leaves[8:])
    with pytest.raises(ProofError):
        verify_consistency(
            7, 13, tree.consistency_proof(7, 13), tree.root(7), other.root()
        )


def test_truncate_restores_earlier_state():
    leaves = [leaf_hash(bytes([i])) for i in range(21)]
    tree = MerkleTree(leaves)
    tree.truncate_to(9)
    assert tree.size == 9 and tree.root() == root_from_leaves(leaves[:9])
    for h in leaves[9:]:
        tree.append(h)
    assert tree.root() == root_from_leaves(leaves)


def _range(leaves, begin, end):
    r = CompactRange(begin)
    for h in leaves[begin:end]:
        r.append(h)
    return r


def test_compact_range_root_matches_the_full_tree_and_stays_logarithmic():
    leaves = [leaf_hash(os.urandom(8)) for _ in range(300)]
    tree = MerkleTree(leaves)
    frontier = CompactRange()
    assert frontier.root() == EMPTY_ROOT
    for n, h in enumerate(leaves, 1):
        frontier.append(h)
        assert frontier.size == n and frontier.root() == tree.root(n)
        assert len(frontier.nodes) == n.bit_count()  # one node per set bit of n


def test_compact_range_nodes_are_the_maximal_aligned_subtrees():
    leaves = [leaf_hash(bytes([i])) for i in range(64)]
    tree = MerkleTree(leaves)
    for begin in range(40):
        for end in range(begin, 64):
            spans = _range(leaves, begin, end).spans()
            assert [s for s, _, _ in spans] == sorted(s for s, _, _ in spans)
            assert sum(e - s for s, e, _ in spans) == end - begin
            for s, e, h in spans:
                size = e - s
                assert size & (size - 1) == 0 and s % size == 0  # complete, aligned
                assert h == tree._subtree(s, e)
                parent = 2 * size
                ps = s - s % parent
                assert ps < begin or ps + parent > end  # maximal within [begin, end)


def test_consistency_proof_from_ranges_equals_the_full_tree_proof():
    """Every 1 <= m <= n <= 70, and random pairs up to 5,000: byte-identical proofs."""
    import random

    rng = random.Random(7)
    leaves = [leaf_hash(os.urandom(8)) for _ in range(5000)]
    tree = MerkleTree(leaves)
    pairs = [(m, n) for n in range(1, 71) for m in range(1, n + 1)]
    pairs += [tuple(sorted(rng.sample(range(1, 5001), 2))) for _ in range(300)]
    for m, n in pairs:
        proof = consistency_proof_from_ranges(
            _range(leaves, 0, m), _range(leaves, m, n)
        )
        assert proof == tree.consistency_proof(m, n), (m, n)
        verify_consistency(m, n, proof, tree.root(m), tree.root(n))


def test_consistency_from_ranges_catches_a_rewritten_past():
    leaves = [leaf_hash(bytes([i])) for i in range(40)]
    forged = leaves[:5] + [leaf_hash(b"forged")] + leaves[6:]
    old_root = MerkleTree(leaves).root(13)
    old, new = _range(forged, 0, 13), _range(forged, 13, 40)
    proof = consistency_proof_from_ranges(old, new)
    with pytest.raises(ProofError):
        verify_consistency(13, 40, proof, old_root, _range(forged, 0, 40).root())
    with pytest.raises(ProofError):  # ranges that do not meet cannot prove anything
        consistency_proof_from_ranges(_range(leaves, 0, 12), _range(leaves, 13, 40))


def test_extended_leaves_the_original_untouched():
    leaves = [leaf_hash(bytes([i])) for i in range(11)]
    base = _range(leaves, 0, 6)
    before = (base.end, list(base.nodes))
    grown = base.extended(leaves[6:])
    assert (base.end, base.nodes) == before
    assert grown.root() == root_from_leaves(leaves)
