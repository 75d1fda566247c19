r"""Huffman coding of codebook indices, for the size report (Deep Compression, stage 3).

k-means indices are far from uniform (most weights sit near 0), so a
prefix code with short words for frequent indices beats the fixed
``b`` bits per index. Huffman's construction: repeatedly merge the two
least frequent symbols; a symbol's code length is its depth in the tree.
The mean length :math:`\bar\ell` satisfies :math:`H \le \bar\ell < H + 1`
with :math:`H = -\sum_s p_s \log_2 p_s`.

The stored size counts the bit stream plus a table of one code length
byte per symbol (a canonical Huffman code is rebuilt from the lengths).

References
----------
Huffman, D. A. (1952). A Method for the Construction of Minimum-Redundancy
Codes. Proc. IRE 40(9).
Han, S., Mao, H. & Dally, W. J. (2016). arXiv:1510.00149, section 4.
"""
from __future__ import annotations

import heapq
import math

import numpy as np

from .. import validate


def _symbols(index, where, num_symbols=None) -> np.ndarray:
    """``index`` flattened: a non-empty array of non-negative integer symbols (< num_symbols)."""
    index = validate.array(index, "index", nonempty=False, where=where).ravel()
    if not index.size:
        return index.astype(np.int64)                              # [] is float64: no symbols
    if index.dtype.kind not in "iu":
        raise TypeError(f"{where}: index has dtype {index.dtype}; expected integer symbols "
                        "(e.g. the uint8 indices of kmeans_1d)")
    if index.size and index.min() < 0:
        raise ValueError(f"{where}: index contains the symbol {index.min()}; expected "
                         "symbols >= 0")
    if num_symbols is not None and index.size and index.max() >= num_symbols:
        raise ValueError(f"{where}: index contains the symbol {index.max()}; expected symbols "
                         f"< num_symbols={num_symbols}")
    return index


def huffman_code(counts) -> dict:
    """Prefix code ``{symbol: bit string}`` of symbols with ``counts`` (a dict or a 1-D array).

    Ties are broken by symbol order, so the code is deterministic. A
    single symbol gets the code "0".

    Examples
    --------
    >>> huffman_code({0: 5, 1: 2, 2: 1, 3: 1})
    {0: '0', 1: '11', 2: '101', 3: '100'}
    """
    where = "huffman_code"
    if not isinstance(counts, dict):
        counts = dict(enumerate(validate.array(counts, "counts", ndim=1, where=where).tolist()))
    for s, c in counts.items():
        if isinstance(c, bool) or not isinstance(c, (int, np.integer, float, np.floating)) or \
                not (c >= 0 and float(c).is_integer()):
            raise ValueError(f"{where}: counts[{s!r}]={c!r}; expected a count: an int >= 0")
    counts = {s: int(c) for s, c in counts.items() if c > 0}
    if not counts:
        raise ValueError(f"{where}: counts has no symbol with a positive count; nothing to "
                         "encode")
    if len(counts) == 1:
        return {next(iter(counts)): "0"}
    heap = [(c, i, {s: ""}) for i, (s, c) in enumerate(sorted(counts.items()))]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        c1, _, low = heapq.heappop(heap)                    # least frequent: prefix 1
        c2, _, high = heapq.heappop(heap)                   # next: prefix 0
        merged = {s: "0" + code for s, code in high.items()}
        merged.update({s: "1" + code for s, code in low.items()})
        heapq.heappush(heap, (c1 + c2, tie, merged))
        tie += 1
    return dict(sorted(heap[0][2].items()))


def huffman_encode(index) -> tuple[str, dict]:
    """Bit string of the flattened ``index`` and the code used.

    Raises
    ------
    TypeError, ValueError
        ``index`` is empty, or not of non-negative integer symbols.
    """
    index = _symbols(index, "huffman_encode")
    if not index.size:
        raise ValueError("huffman_encode: index is empty; expected at least one symbol to "
                         "encode")
    code = huffman_code(np.bincount(index))
    return "".join(code[int(s)] for s in index), code


def huffman_decode(bits: str, code: dict, n: int) -> np.ndarray:
    """Inverse of :func:`huffman_encode`: the first ``n`` symbols of ``bits``.

    ``code`` must be a prefix code (no word the start of another, words
    distinct), or decoding would be ambiguous: it is refused otherwise.

    >>> bits, code = huffman_encode([0, 0, 1, 3, 0])
    >>> huffman_decode(bits, code, 5)
    array([0, 0, 1, 3, 0])
    """
    where = "huffman_decode"
    if not isinstance(bits, str):
        raise TypeError(f"{where}: bits is a {type(bits).__name__}; expected the str of '0' "
                        "and '1' of huffman_encode")
    if set(bits) - {"0", "1"}:
        raise ValueError(f"{where}: bits contains {sorted(set(bits) - {'0', '1'})}; expected "
                         "only '0' and '1'")
    if not isinstance(code, dict) or not code:
        raise TypeError(f"{where}: code is a {type(code).__name__}; expected the non-empty "
                        "dict {symbol: bit string} of huffman_encode")
    for s, w in code.items():
        if not isinstance(w, str) or not w or set(w) - {"0", "1"} or isinstance(s, bool) \
                or not isinstance(s, (int, np.integer)):
            raise ValueError(f"{where}: code[{s!r}]={w!r}; expected int symbols, each with a "
                             "non-empty str of '0' and '1'")
    words = sorted(((w, s) for s, w in code.items()), key=lambda t: t[0])   # a prefix sorts
    for (a, sa), (b, sb) in zip(words, words[1:]):              # just before its extensions
        if b.startswith(a):
            raise ValueError(f"{where}: code is not prefix-free: code[{sa!r}]={a!r} is a "
                             f"prefix of code[{sb!r}]={b!r}; expected a prefix code (e.g. "
                             "huffman_code's)")
    n = validate.integer(n, "n", low=0, where=where)
    inverse, out, word = {v: k for k, v in code.items()}, [], ""
    for b in bits:
        word += b
        if word in inverse:
            out.append(inverse[word])
            word = ""
            if len(out) == n:
                break
    if len(out) < n:
        raise ValueError(f"{where}: bits hold only {len(out)} symbols of this code"
                         f"{' and a partial word ' + repr(word) if word else ''}; expected n={n}")
    return np.array(out, dtype=np.int64)


def huffman_bytes(index, num_symbols: int) -> int:
    """Bytes of the Huffman-coded ``index``: the bit stream plus one length byte per symbol.

    Examples
    --------
    >>> huffman_bytes(np.array([0] * 90 + [1] * 6 + [2, 2, 3, 3]), 4)   # 90+12+6+6 bits
    19
    """
    num_symbols = validate.integer(num_symbols, "num_symbols", low=1, where="huffman_bytes")
    index = _symbols(index, "huffman_bytes", num_symbols)
    if index.size == 0:
        return num_symbols
    code = huffman_code(np.bincount(index, minlength=num_symbols))
    counts = np.bincount(index, minlength=num_symbols)
    nbits = sum(int(counts[s]) * len(w) for s, w in code.items())
    return math.ceil(nbits / 8) + num_symbols


def entropy_bits(index) -> float:
    """Shannon entropy ``H`` (bits per symbol) of the index distribution: Huffman's lower bound."""
    index = _symbols(index, "entropy_bits")
    if not index.size:
        raise ValueError("entropy_bits: index is empty; the entropy of no symbols is undefined")
    p = np.bincount(index) / index.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def code_lengths(counts, max_length: int | None = None) -> np.ndarray:
    """Huffman code length of each symbol of ``counts`` (0 for a symbol that never occurs).

    With ``max_length``, a code longer than that is avoided by halving the
    counts (rounding up, so no used symbol disappears) and rebuilding, as
    simple length-limited coders do; the mean length rises a little.

    Examples
    --------
    >>> code_lengths([5, 2, 1, 1, 0]).tolist()
    [1, 2, 3, 3, 0]
    >>> code_lengths([2**k for k in range(12)], max_length=8).max()
    np.int64(8)
    """
    where = "code_lengths"
    counts = validate.array(counts, "counts", ndim=1, where=where).astype(np.int64)   # (k,)
    if max_length is not None:
        max_length = validate.integer(max_length, "max_length", low=1, where=where)
        if np.count_nonzero(counts) > 2**max_length:
            raise ValueError(f"{where}: {np.count_nonzero(counts)} used symbols do not fit in "
                             f"codes of at most max_length={max_length} bits")
    while True:
        code = huffman_code(counts)
        lengths = np.zeros(counts.size, np.int64)                            # (k,)
        lengths[list(code)] = [len(w) for w in code.values()]
        if max_length is None or lengths.max() <= max_length:
            return lengths
        counts = np.where(counts > 0, (counts + 1) // 2, 0)                  # flatter


def canonical_code(lengths) -> np.ndarray:
    """Canonical Huffman codewords (as ints, ``lengths[s]`` bits each) from the code lengths.

    Symbols are ordered by (length, symbol); each codeword is the previous
    one plus 1, shifted left when the length grows (DEFLATE, RFC 1951
    section 3.2.2). Only the lengths need to be stored. Unused symbols
    (length 0) get 0.

    Examples
    --------
    >>> canonical_code([1, 2, 3, 3, 0]).tolist()      # 0, 10, 110, 111
    [0, 2, 6, 7, 0]
    """
    lengths = np.asarray(lengths, np.int64)                                  # (k,)
    codes, code, prev = np.zeros(lengths.size, np.int64), 0, 0
    for s in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[s]) - prev
        codes[s], prev = code, int(lengths[s])
        code += 1
    return codes
