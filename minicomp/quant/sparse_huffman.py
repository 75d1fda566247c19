r"""Deep Compression's storage of a pruned, weight-shared layer: relative positions + Huffman.

A layer is an ``index`` matrix (out, in) into a ``codebook`` (k,); the
pruned weights are index 0 (``codebook[0] == 0`` after
:func:`~minicomp.quant.kmeans.kmeans_quantize` of a pruned net; any
``codebook[0]`` round-trips). In row-major order the nonzero indices at
flat positions :math:`p_1 < p_2 < \dots` are stored as *entries*
:math:`(g_j, i_j)`: the gap :math:`g_j = p_j - p_{j-1} - 1` (zeros skipped,
:math:`p_0 = -1`) and the codebook index. A gap is a ``w``-bit symbol;
one larger than :math:`G = 2^w - 1` is split by *filler* entries
:math:`(G, 0)` (each moves :math:`G + 1` positions onto a zero), so

.. math:: \text{entries} = \sum_j \Big(1 + \Big\lfloor \frac{g_j}{G + 1}
          \Big\rfloor\Big).

Both streams (gaps, indices) are Huffman-coded with a canonical code
(:func:`~minicomp.quant.huffman.canonical_code`, lengths at most 15 bits);
the width ``w`` in 1..8 is chosen per layer to minimise the bytes.

Byte layout (``Encoded.arrays``; ``nbytes`` is their sum)
-----------------------------------------------------------
``codebook``       float32 (k,)
``gap_lengths``    uint8: the code length of gap symbols ``0..gap_symbols-1``,
                   two 4-bit lengths per byte (first in the high nibble)
``index_lengths``  uint8: the same for index symbols ``0..index_symbols-1``
``gaps``           uint8: the gap codewords, bits packed MSB first, zero padded
``indices``        uint8: the index codewords, packed the same way
``bias``           int8 (out,) ``q`` with :math:`b = q \cdot 2^e`, when every
                   float32 bias is exactly such a value (:func:`quantize_bias`
                   makes it so: 1 byte per bias, 1/4 of float32); otherwise
                   float32 (out,); absent without a bias.

``Encoded.meta`` holds the scalars (rows, cols, entries, gap_bits,
gap_symbols, index_symbols, the two stream lengths in bits, the bias kind
and exponent ``e``): nine small ints and a word that a file header
stores, not counted in ``nbytes``. :func:`decode` is bit-exact: ``W = codebook[index]``.

References
----------
Han, S., Mao, H. & Dally, W. J. (2016). Deep Compression. ICLR.
arXiv:1510.00149, sections 2 (relative indices, filler zeros) and 4.
Deutsch, P. (1996). RFC 1951 (DEFLATE), section 3.2.2 (canonical codes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import validate
from .huffman import canonical_code, code_lengths, entropy_bits

MAX_LENGTH = 15                                  # a code length fits a 4-bit nibble
GAP_BITS = range(1, 9)                           # candidate gap widths w
KEYS = ("codebook", "gap_lengths", "index_lengths", "gaps", "indices")
META = ("rows", "cols", "entries", "gap_bits", "gap_symbols", "index_symbols",
        "gap_stream_bits", "index_stream_bits", "bias_exponent")


@dataclass
class Encoded:
    """One encoded layer: ``arrays`` (the payload), ``meta`` (scalars), ``report`` (sizes)."""

    arrays: dict
    meta: dict
    report: dict = field(default_factory=dict)   # bytes per part and entropies; not stored

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))


def _bias_code(b):
    """``(q, e)``: int8 ``q`` and the smallest exponent with ``|round(b / 2^e)| <= 127``."""
    m = float(np.abs(b).max()) if b.size else 0.0
    if m == 0.0:
        return np.zeros(b.shape, np.int8), 0
    e = max(math.floor(math.log2(m / 127)) - 1, -149)          # -149: float32's last bit
    while np.rint(math.ldexp(m, -e)) > 127:
        e += 1
    return np.rint(np.ldexp(b.astype(np.float64), -e)).astype(np.int8), e


def quantize_bias(b) -> np.ndarray:
    r"""Float32 bias ``b`` rounded to :math:`q \cdot 2^e`, int8 ``q``, as :func:`encode` keeps it.

    Idempotent; the error per entry is at most :math:`2^{e-1}` with
    :math:`2^e \approx \max|b| / 127`.

    Examples
    --------
    >>> quantize_bias([1.0, -0.3, 0.01]).tolist()      # e = -6: steps of 1/64
    [1.0, -0.296875, 0.015625]
    """
    b = validate.array(b, "b", ndim=1, where="quantize_bias").astype(np.float32)   # (out,)
    q, e = _bias_code(b)
    return np.ldexp(q.astype(np.float32), e).astype(np.float32)


def relative_entries(flat, w: int):
    """Gap and index symbols (entries,) of the flat ``index``, with filler entries (width ``w``)."""
    G = 2**w - 1
    pos = np.flatnonzero(flat)                                            # (nnz,)
    g = np.diff(pos, prepend=-1) - 1                                      # zeros skipped
    fill = g // (G + 1)                                                   # fillers before each
    reps = fill + 1
    last = np.cumsum(reps) - 1                                            # the real entries
    gaps = np.full(int(reps.sum()), G, np.int64)                          # (entries,)
    idx = np.zeros(gaps.size, np.int64)
    gaps[last], idx[last] = g - fill * (G + 1), flat[pos]
    return gaps, idx


def _pack(symbols, lengths):
    """Canonical codewords of ``symbols`` packed MSB first into uint8; and the bit count."""
    codes = canonical_code(lengths)
    L, C = lengths[symbols][:, None], codes[symbols][:, None]            # (n, 1)
    j = np.arange(MAX_LENGTH)                                             # (15,)
    bits = (C >> np.maximum(L - 1 - j, 0)) & 1                            # (n, 15)
    bits = bits[j < L].astype(np.uint8)                                   # (nbits,)
    return np.packbits(bits), int(bits.size)


def _nibbles(lengths) -> np.ndarray:
    x = np.zeros(2 * math.ceil(lengths.size / 2), np.uint8)
    x[:lengths.size] = lengths
    return (x[0::2] << 4 | x[1::2]).astype(np.uint8)


def _nbits(symbols, lengths) -> int:
    return int(lengths[symbols].sum()) if symbols.size else 0


def _code_for(symbols, num: int):
    """Code lengths (num,) of ``symbols``, trimmed after the last used symbol."""
    if not symbols.size:
        return np.zeros(0, np.int64)
    lengths = code_lengths(np.bincount(symbols, minlength=num), MAX_LENGTH)
    return lengths[:int(symbols.max()) + 1]


def encode(index, codebook, bias=None) -> Encoded:
    """Encode one layer (see the module docstring for the layout).

    Parameters
    ----------
    index : int array (out, in), entries in [0, k); 0 = pruned (not stored)
    codebook : float array (k,), 1 <= k <= 256, finite (stored as float32)
    bias : float array (out,), finite, optional

    Returns
    -------
    Encoded
        ``.arrays``, ``.meta``, ``.nbytes``; ``.report`` has the bytes of each
        part, ``nonzeros``, ``fillers`` and ``entropy_bytes``: the Shannon
        bound :math:`n (H_{gap} + H_{index}) / 8` of the stored entries (zero
        order, empirical), against ``stream_bytes``.

    Examples
    --------
    Nonzeros at flat positions 1 and 9: gaps 1 and 7. With ``w = 1`` the 7
    becomes three fillers (1, 0) and the entry (1, 1): gaps 1,1,1,1,1 (one
    symbol, code ``0``: 5 bits, 1 byte), indices 3,0,0,0,1 (codes 0 ``0``,
    1 ``10``, 3 ``11``: 7 bits, 1 byte); tables 1 + 2 bytes; codebook 16.

    >>> enc = encode([[0, 3, 0, 0, 0], [0, 0, 0, 0, 1]], [0.0, 0.5, -0.5, 1.0])
    >>> enc.meta["gap_bits"], enc.nbytes, enc.arrays["indices"].tolist()   # 0b11000100
    (1, 21, [196])
    """
    where = "sparse_huffman.encode"
    codebook = validate.array(codebook, "codebook", ndim=1, where=where).astype(np.float32)
    if not 1 <= codebook.size <= 256:
        raise ValueError(f"{where}: codebook has {codebook.size} entries; expected 1..256")
    index = validate.array(index, "index", ndim=2, where=where)           # (out, in)
    if index.dtype.kind not in "iu" or index.min() < 0 or index.max() >= codebook.size:
        raise ValueError(f"{where}: index ({index.dtype}, {index.min()}..{index.max()}); "
                         f"expected integers in [0, {codebook.size}), positions in codebook")
    flat = index.ravel().astype(np.int64)                                 # (out * in,)
    best = None
    for w in GAP_BITS:                                                    # the cheapest width
        gaps, idx = relative_entries(flat, w)
        Lg, Li = _code_for(gaps, 2**w), _code_for(idx, codebook.size)
        size = sum(-(-_nbits(s, L) // 8) + math.ceil(L.size / 2)
                   for s, L in ((gaps, Lg), (idx, Li)))
        if best is None or size < best[0]:
            best = (size, w, gaps, idx, Lg, Li)
    _, w, gaps, idx, Lg, Li = best
    (gap_stream, gap_bits), (idx_stream, idx_bits) = _pack(gaps, Lg), _pack(idx, Li)
    arrays = {"codebook": codebook, "gap_lengths": _nibbles(Lg), "index_lengths": _nibbles(Li),
              "gaps": gap_stream, "indices": idx_stream}
    meta = {"rows": int(index.shape[0]), "cols": int(index.shape[1]), "entries": int(gaps.size),
            "gap_bits": w, "gap_symbols": int(Lg.size), "index_symbols": int(Li.size),
            "gap_stream_bits": gap_bits, "index_stream_bits": idx_bits, "bias": "none",
            "bias_exponent": 0}
    if bias is not None:
        b = validate.array(bias, "bias", ndim=1, where=where).astype(np.float32)  # (out,)
        if b.shape != (index.shape[0],):
            raise ValueError(f"{where}: bias has shape {b.shape}; expected ({index.shape[0]},)")
        q, e = _bias_code(b)
        exact = np.array_equal(np.ldexp(q.astype(np.float32), e).astype(np.float32)
                               .view(np.uint32), b.view(np.uint32))
        arrays["bias"] = q if exact else b
        meta.update(bias="int8" if exact else "float32", bias_exponent=e if exact else 0)
    enc = Encoded(arrays, meta)
    nnz = int(np.count_nonzero(flat))
    H = sum(entropy_bits(s) * s.size for s in (gaps, idx) if s.size)
    enc.report = {"nonzeros": nnz, "fillers": int(gaps.size) - nnz,
                  "stream_bytes": gap_stream.nbytes + idx_stream.nbytes,
                  "entropy_bytes": H / 8, "table_bytes": arrays["gap_lengths"].nbytes +
                  arrays["index_lengths"].nbytes, "codebook_bytes": codebook.nbytes,
                  "bias_bytes": arrays["bias"].nbytes if bias is not None else 0}
    return enc


def _unpack(stream, nbits: int, lengths, n: int, name: str, where) -> np.ndarray:
    """``n`` symbols of a canonical code with ``lengths`` from exactly ``nbits`` of ``stream``."""
    if stream.size != -(-nbits // 8):
        raise ValueError(f"{where}: arrays[{name!r}] has {stream.size} bytes; expected "
                         f"{-(-nbits // 8)} for {nbits} bits")
    bits = np.unpackbits(stream)                                          # (8 * bytes,)
    if bits[nbits:].any():
        raise ValueError(f"{where}: arrays[{name!r}] has nonzero padding bits")
    if n == 0:
        if nbits:
            raise ValueError(f"{where}: {nbits} {name} bits for 0 entries")
        return np.zeros(0, np.int64)
    used = np.flatnonzero(lengths)
    kraft = int((1 << (MAX_LENGTH - lengths[used])).sum())               # sum 2^-L, scaled
    if not used.size or kraft > 1 << MAX_LENGTH or (used.size > 1 and kraft != 1 << MAX_LENGTH):
        raise ValueError(f"{where}: the {name} code lengths {lengths.tolist()} are not a "
                         "complete prefix code (Kraft sum != 1)")
    Lmax, codes = int(lengths.max()), canonical_code(lengths)
    tsym, tlen = np.zeros(1 << Lmax, np.int64), np.zeros(1 << Lmax, np.int64)   # lookup table
    for s in used:
        start = int(codes[s]) << (Lmax - int(lengths[s]))
        tsym[start:start + (1 << (Lmax - int(lengths[s])))] = s
        tlen[start:start + (1 << (Lmax - int(lengths[s])))] = lengths[s]
    padded = np.concatenate([bits[:nbits], np.zeros(Lmax, np.uint8)]).astype(np.int64)
    win = (np.lib.stride_tricks.sliding_window_view(padded, Lmax)[:nbits]
           @ (1 << np.arange(Lmax - 1, -1, -1))).tolist()                 # (nbits,) next Lmax
    tsym, tlen, out, pos = tsym.tolist(), tlen.tolist(), [0] * n, 0
    for k in range(n):
        if pos >= nbits or not tlen[win[pos]] or pos + tlen[win[pos]] > nbits:
            raise ValueError(f"{where}: arrays[{name!r}] is too short or corrupt: entry {k} of "
                             f"{n} does not decode at bit {pos} of {nbits}")
        out[k] = tsym[win[pos]]
        pos += tlen[win[pos]]
    if pos != nbits:
        raise ValueError(f"{where}: {name} stream has {nbits} bits but its {n} entries use "
                         f"{pos}; lengths inconsistent")
    return np.array(out, np.int64)


def _checked(arrays, meta, where) -> dict:
    """The meta scalars as ints, after checking keys, dtypes and ranges."""
    if not isinstance(arrays, dict) or not isinstance(meta, dict):
        raise TypeError(f"{where}: arrays and meta are {type(arrays).__name__}, "
                        f"{type(meta).__name__}; expected the dicts of encode")
    kind = meta.get("bias")
    if kind not in ("none", "int8", "float32"):
        raise ValueError(f"{where}: meta['bias']={kind!r}; expected 'none', 'int8' or 'float32'")
    keys = set(KEYS) | ({"bias"} if kind != "none" else set())
    if set(arrays) != keys:
        raise ValueError(f"{where}: arrays has keys {sorted(arrays)}; expected {sorted(keys)}")
    dtypes = {k: np.uint8 for k in KEYS} | {"codebook": np.float32, "bias": np.dtype(
        kind if kind != "none" else "int8")}
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype != dtypes[k]:
            raise ValueError(f"{where}: arrays[{k!r}] is {getattr(a, 'dtype', type(a))} "
                             f"{getattr(a, 'shape', '')}; expected 1-D {np.dtype(dtypes[k])}")
    m = {}
    for k in META:
        v = meta.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{where}: meta[{k!r}]={v!r}; expected an int")
        m[k] = int(v)
    k = arrays["codebook"].size
    limits = {"rows": (1, None), "cols": (1, None), "entries": (0, None), "gap_bits": (1, 8),
              "gap_symbols": (0, 2**m["gap_bits"]), "index_symbols": (0, k),
              "gap_stream_bits": (0, None), "index_stream_bits": (0, None),
              "bias_exponent": (-149, 127)}
    for name, (lo, hi) in limits.items():
        if m[name] < lo or (hi is not None and m[name] > hi):
            raise ValueError(f"{where}: meta[{name!r}]={m[name]}; expected in [{lo}, {hi}]")
    if not 1 <= k <= 256 or not np.isfinite(arrays["codebook"]).all():
        raise ValueError(f"{where}: codebook of {k} entries; expected 1..256 finite floats")
    for name, n in (("gap_lengths", m["gap_symbols"]), ("index_lengths", m["index_symbols"])):
        if arrays[name].size != math.ceil(n / 2):
            raise ValueError(f"{where}: arrays[{name!r}] has {arrays[name].size} bytes; "
                             f"expected {math.ceil(n / 2)} for {n} symbols")
    if kind != "none" and (arrays["bias"].size != m["rows"] or
                           not np.isfinite(arrays["bias"]).all()):
        raise ValueError(f"{where}: bias has {arrays['bias'].size} entries; expected "
                         f"{m['rows']} finite values")
    return m


def _lengths(packed, n: int) -> np.ndarray:
    return np.stack([packed >> 4, packed & 15], 1).ravel()[:n].astype(np.int64)   # (n,)


def decode_index(arrays, meta):
    """``(index (out, in) int64, codebook (k,) float32, bias (out,) float32 or None)``."""
    where = "sparse_huffman.decode"
    m = _checked(arrays, meta, where)
    n = m["entries"]
    gaps = _unpack(arrays["gaps"], m["gap_stream_bits"],
                   _lengths(arrays["gap_lengths"], m["gap_symbols"]), n, "gaps", where)
    idx = _unpack(arrays["indices"], m["index_stream_bits"],
                  _lengths(arrays["index_lengths"], m["index_symbols"]), n, "indices", where)
    pos = np.cumsum(gaps + 1) - 1                                        # (entries,) flat
    if n and pos[-1] >= m["rows"] * m["cols"]:
        raise ValueError(f"{where}: the gaps reach position {int(pos[-1])}; expected < "
                         f"{m['rows']} * {m['cols']}")
    flat = np.zeros(m["rows"] * m["cols"], np.int64)
    flat[pos] = idx
    b = arrays.get("bias")
    if b is not None and b.dtype == np.int8:
        b = np.ldexp(b.astype(np.float32), m["bias_exponent"]).astype(np.float32)
    return flat.reshape(m["rows"], m["cols"]), arrays["codebook"], \
        None if b is None else b.astype(np.float32, copy=True)


def decode(arrays, meta):
    """``(W (out, in) float32, b (out,) float32 or None)`` of :func:`encode`'s arrays and meta.

    Raises
    ------
    TypeError, ValueError
        Missing or extra keys, wrong dtypes, inconsistent lengths, a stream
        too short or too long, a code that is not a complete prefix code, or
        a symbol or position out of range.
    """
    index, codebook, b = decode_index(arrays, meta)
    return codebook[index], b                                             # (out, in)
