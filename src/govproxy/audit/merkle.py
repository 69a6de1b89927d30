"""RFC 6962 / RFC 9162 Merkle tree: hashes, an append-only tree, inclusion and consistency proofs.

Two shapes of the same tree:

* :class:`MerkleTree` keeps every *complete* subtree hash, level by level, in flat
  ``bytearray`` s (about 64 bytes per leaf), so any root, inclusion or consistency proof is
  O(log n). Export and verification use it: they need proofs for arbitrary leaves.
* :class:`CompactRange` keeps only the O(log n) maximal complete subtrees that cover a
  range of leaves. That is all the live writer needs: the root of the whole tree (the
  range ``[0, n)``) and the consistency proof from the last signed checkpoint ``m`` (built
  from the ranges ``[0, m)`` and ``[m, n)``, see :func:`consistency_proof_from_ranges`).
  A long-running writer's memory then stays flat instead of growing 64 bytes per record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from govproxy.audit.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA256(0x00 ‖ data): the record hash that ``prev`` and the tree both use."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 6962 tree over leaf hashes."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        for h in leaves:
            self.append(h)

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        levels = self._levels
        levels[0] += leaf
        self._size += 1
        index, level = self._size - 1, 0
        while index & 1:  # a right child completed a pair: build its parent
            row = levels[level]
            parent = node_hash(
                bytes(row[(index - 1) * 32 : index * 32]),
                bytes(row[index * 32 : (index + 1) * 32]),
            )
            level += 1
            if len(levels) == level:
                levels.append(bytearray())
            levels[level] += parent
            index >>= 1

    def truncate_to(self, size: int) -> None:
        """Drop leaves after ``size`` (used when a grouped commit fails and is rolled back)."""
        if size > self._size:
            raise ValueError("cannot grow by truncation")
        for level, row in enumerate(self._levels):
            del row[(size >> level) * 32 :]
        self._size = size

    def leaf(self, index: int) -> bytes:
        return bytes(self._levels[0][index * 32 : (index + 1) * 32])

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); uses stored complete subtrees where aligned."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            i = start >> level
            return bytes(self._levels[level][i * 32 : (i + 1) * 32])
        k = _split(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        size = self._size if size is None else size
        if not 0 <= size <= self._size:
            raise ValueError(f"tree has {self._size} leaves, not {size}")
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size])."""
        size = self._size if size is None else size
        if not 0 <= index < size <= self._size:
            raise ValueError("leaf index must be < tree size ≤ stored size")
        proof: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(size1, D[0:size2]); empty when size1 is 0 or equals size2."""
        size2 = self._size if size2 is None else size2
        if not 0 <= size1 <= size2 <= self._size:
            raise ValueError("need 0 ≤ size1 ≤ size2 ≤ stored size")
        return [self._subtree(start, end) for start, end, _ in _consistency_nodes(size1, size2)]


class CompactRange:
    """The maximal complete subtrees covering leaves ``[begin, end)``, left to right.

    Appending a leaf merges it with the last node while they are siblings inside the range,
    so there are at most two nodes per tree level (one when ``begin`` is 0: the "frontier").
    """

    __slots__ = ("begin", "end", "nodes")

    def __init__(
        self, begin: int = 0, end: int | None = None, nodes: Sequence[bytes] = ()
    ) -> None:
        self.begin = begin
        self.end = begin if end is None else end
        self.nodes: list[bytes] = list(nodes)

    @property
    def size(self) -> int:
        """Leaves in the range (for ``begin == 0``: the tree size)."""
        return self.end - self.begin

    def copy(self) -> CompactRange:
        return CompactRange(self.begin, self.end, self.nodes)

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        nodes, node, index, level = self.nodes, leaf, self.end, 0
        # A right child whose left sibling starts inside the range completes a pair.
        while index & 1 and (index - 1) << level >= self.begin:
            node = node_hash(nodes.pop(), node)
            index >>= 1
            level += 1
        nodes.append(node)
        self.end += 1

    def extended(self, leaves: Iterable[bytes]) -> CompactRange:
        """A copy with ``leaves`` appended; ``self`` is unchanged."""
        out = self.copy()
        for leaf in leaves:
            out.append(leaf)
        return out

    def spans(self) -> list[tuple[int, int, bytes]]:
        """``(start, end, hash)`` of each node, left to right."""
        out: list[tuple[int, int, bytes]] = []
        start, end = self.begin, self.end
        sizes: list[int] = []
        # Left part: blocks grow while ``start`` is aligned to them; right part: they shrink.
        while start < end:
            size = start & -start if start else 1 << ((end - start).bit_length() - 1)
            while start + size > end:
                size >>= 1
            sizes.append(size)
            start += size
        start = self.begin
        if len(sizes) != len(self.nodes):  # pragma: no cover - an internal invariant
            raise AssertionError("compact range nodes do not match its bounds")
        for size, node in zip(sizes, self.nodes, strict=True):
            out.append((start, start + size, node))
            start += size
        return out

    def root(self) -> bytes:
        """MTH of the range's leaves: for ``begin == 0`` the tree root at ``end``."""
        if not self.nodes:
            return EMPTY_ROOT
        node = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            node = node_hash(left, node)
        return node


def _range_hash(spans: Sequence[tuple[int, int, bytes]], start: int, end: int) -> bytes:
    """MTH(D[start:end]) from compact-range nodes that tile exactly ``[start, end)``."""
    inner = [h for s, e, h in spans if start <= s and e <= end]
    covered = sum(e - s for s, e, _ in spans if start <= s and e <= end)
    if covered != end - start or not inner:
        raise ProofError(f"no compact-range nodes tile the leaves [{start}, {end})")
    node = inner[-1]
    for left in reversed(inner[:-1]):
        node = node_hash(left, node)
    return node


def consistency_proof_from_ranges(old: CompactRange, new: CompactRange) -> list[bytes]:
    """RFC 6962 PROOF(m, D[0:n]) from the ranges ``[0, m)`` and ``[m, n)`` alone.

    Every node of the proof is a complete subtree left of ``m`` (a node of ``old``: the path
    to leaf m-1 only ever steps right past blocks that lie inside ``[0, m)`` and are maximal
    there) or a subtree right of ``m`` whose start is aligned beyond every block that
    straddles ``m`` (so ``new`` 's nodes tile it). No leaf needs to be kept in memory.
    """
    if old.begin != 0 or new.begin != old.end:
        raise ProofError("need the ranges [0, m) and [m, n)")
    size1, size2 = old.end, new.end
    left, right = old.spans(), new.spans()
    return [_range_hash(right if beyond else left, start, end) for start, end, beyond in _consistency_nodes(size1, size2)]


def _consistency_nodes(size1: int, size2: int) -> list[tuple[int, int, bool]]:
    """The subtrees ``[start, end)`` of RFC 6962 PROOF(size1, D[0:size2]), in proof order.

    ``beyond`` is True for a subtree right of ``size1``. One walk serves the in-memory tree
    and the compact ranges, which differ only in where a subtree's hash comes from.
    """
    if size1 == 0 or size1 == size2:
        return []
    nodes: list[tuple[int, int, bool]] = []
    start, end, m, complete = 0, size2, size1, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                nodes.append((start, end, False))
            break
        k = _split(n)
        if m <= k:
            nodes.append((start + k, end, True))
            end = start + k
        else:
            nodes.append((start, start + k, False))
            start += k
            m -= k
            complete = False
    nodes.reverse()
    return nodes


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH over a list of leaf hashes without keeping the tree."""
    stack: list[
        tuple[int, bytes]
    ] = []  # (height, hash) of complete subtrees, left to right
    for h in leaves:
        height, node = 0, h
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            node = node_hash(left, node)
            height += 1
        stack.append((height, node))
    if not stack:
        return EMPTY_ROOT
    node = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        node = node_hash(left, node)
    return node


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """RFC 9162 §2.1.3.2: the root implied by an inclusion proof."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} not below tree size {size}")
    _check_hash(leaf, "leaf hash")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hash(p, "proof element")
        if sn == 0:
            raise ProofError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 §2.1.4.2, with the edge cases of transparency-dev/merkle (size1 = 0 is refused)."""
    if size2 < size1:
        raise ProofError(f"size2 {size2} < size1 {size1}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        return
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    if not proof:
        raise ProofError("empty consistency proof")
    for p in proof:
        _check_hash(p, "proof element")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof too short")
    if fr != root1:
        raise ProofError("consistency proof does not match the first root")
    if sr != root2:
        raise ProofError("consistency proof does not match the second root")
