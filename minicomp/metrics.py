r"""Measurements of a model: accuracy, parameter counts, and THE byte count.

:func:`storage_bytes` is the one size function of the library: every
report (pruning, quantization, deployment, the tour) counts bytes of a real
storage format through it, never "nonzeros x 4" alone. For a Dense layer
with ``n = out * in`` weights and ``out`` biases:

=============  ==========================================================
``dense``      ``n * itemsize`` + the bias in the same dtype (float32: 4)
``csr``        ``nnz * itemsize + nnz * b_idx + (out + 1) * b_ptr`` + a
               float32 bias; ``b_idx`` / ``b_ptr`` are the bytes of the
               narrowest unsigned type holding ``in - 1`` / ``nnz``
               (:func:`~minicomp.kernels.reference.index_dtype`)
``int``        ``ceil(n * bits / 8)`` packed codes + a float32 scale per
               tensor / channel / group + a ``ceil(bits / 8)``-byte zero
               point per scale when affine + a 4-byte bias (int32 or
               float32); ``bits = 32`` keeps the layer in float32
``integer``    the integer-only int8 layer (Jacob et al.): ``n`` int8
               weights + int32 bias + int32 ``m0`` and ``shift`` per output
               channel (``M = m0 * 2^-shift``) + one byte each for
               ``Z_x`` and ``Z_y``
``codebook``   ``ceil(n * bits / 8)`` packed indices + a float32 codebook
               of ``2^bits`` entries + a float32 bias
``huffman``    the Huffman-coded indices
               (:func:`~minicomp.quant.huffman.huffman_bytes`) + the
               codebook + the bias
=============  ==========================================================

Packing ``b``-bit codes densely is what a file format would do; the int8
kernel keeps one byte per weight, so at 8 bits both agree.

References
----------
Han, S., Mao, H. & Dally, W. J. (2016). Deep Compression. ICLR.
arXiv:1510.00149 (CSR with relative indices, codebooks, Huffman coding).
Jacob, B. et al. (2018). arXiv:1712.05877 (the integer-only model).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import validate as check
from .blocks import dense_blocks
from .kernels.reference import index_dtype
from .nn import Module
from .tensor import Tensor

FORMATS = ("dense", "csr", "int", "integer", "codebook", "huffman")
GRANULARITIES = ("tensor", "channel", "group")
SCHEMES = ("symmetric", "affine")


def accuracy(y_hat, y) -> float:
    """Fraction of correct predictions.

    Parameters
    ----------
    y_hat : ndarray or Tensor, shape (N, C) scores or (N,) predicted labels
        Scores may be ``-inf`` (a masked class), not NaN; the prediction is the argmax.
    y : ndarray, shape (N,) integer labels (in ``0..C-1`` for scores)

    Raises
    ------
    TypeError, ValueError
        Not arrays of numbers, empty, not 1-D/2-D, NaN scores, labels that
        are not whole numbers or out of range, or different numbers of
        predictions and labels.

    Examples
    --------
    >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), [1, 1])
    0.5
    """
    y_hat = check.array(y_hat.data if isinstance(y_hat, Tensor) else y_hat, "y_hat",
                        ndim=(1, 2), finite=False, where="accuracy")
    if y_hat.dtype.kind == "f" and np.isnan(y_hat).any():       # inf is a score, NaN is not
        at = [int(i) for i in np.argwhere(np.isnan(y_hat))[0]]
        raise ValueError(f"accuracy: y_hat contains nan at {at}; expected scores or labels "
                         "(-inf is fine, e.g. a masked class)")
    if y_hat.ndim == 2:
        pred, C = y_hat.argmax(axis=1), y_hat.shape[1]                # (N, C) -> (N,)
    else:
        pred, C = check.labels(y_hat, "y_hat", where="accuracy"), None
    y = check.labels(y, "y", num_classes=C, where="accuracy")
    if len(pred) != len(y):
        raise ValueError(f"accuracy: y_hat has {len(pred)} predictions (shape {y_hat.shape}) "
                         f"but y has {len(y)} labels; expected one label per prediction")
    return float((pred == y).mean())


def count_parameters(net) -> int:
    """Number of scalars in all parameters (zeros included)."""
    check.module(net, where="count_parameters")
    return int(sum(p.size for p in net.parameters()))


class _Layer(NamedTuple):
    """What the size of one weight matrix depends on."""

    shape: tuple               # (out, in)
    W: np.ndarray | None       # weights (dense, csr) or codebook indices; None: a shape only
    n_bias: int                # bias entries (0: no bias)
    k: int | None = None       # codebook entries (a SharedDense)


def storage_bytes(x, fmt: str = "dense", *, bits=None, granularity: str | None = None,
                  scheme: str | None = None, group_size: int | None = None,
                  bias: bool = True) -> int:
    r"""Bytes of ``x`` stored in the format ``fmt`` (see the module docstring).

    Parameters
    ----------
    x : Module, array, CSR or shape
        A net (its Dense layers through :func:`minicomp.blocks.dense_blocks`;
        ``"csr"`` keeps the entries that are nonzero and not masked), one
        Dense, a k-means net or :class:`~minicomp.quant.kmeans.SharedDense`
        (``"codebook"``, ``"huffman"``), a weight matrix ``W`` (out, in)
        (codebook indices for ``"huffman"``), a
        :class:`~minicomp.kernels.reference.CSR`, or a shape ``(out, in)``
        (two positive ints). With ``fmt="dense"`` any Module counts all its
        parameters. A :class:`~minicomp.quant.ptq.QuantizedMLP` is counted
        with ``fmt="int"`` only, at its own bits, scheme and granularity.
    fmt : {"dense", "csr", "int", "integer", "codebook", "huffman"}
    bits : int or sequence of int, one per Dense layer
        Code width for ``"int"`` (1-16, 2-16 symmetric; 32 keeps a layer in
        float32) and ``"codebook"``/``"huffman"`` of arrays and shapes
        (1-16); ``"integer"`` is 8 bits; ``"dense"`` and ``"csr"`` have none.
    granularity : {"tensor", "channel", "group"}, optional
        ``"int"`` only (default ``"channel"``): one scale per tensor, output
        channel or group.
    scheme : {"symmetric", "affine"}, optional
        ``"int"`` only (default ``"symmetric"``): affine codes store a zero
        point per scale.
    group_size : int dividing ``in``, for ``granularity="group"`` only
    bias : bool
        Count the bias: a Module's own (if it has one); ``out`` entries for
        an array, a CSR or a shape.

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        An unknown format, an ``x`` the format cannot be computed from (a
        shape has no nonzeros), bad bits, granularity, scheme or group size,
        or one of them given to a format (or granularity) that has none.

    Examples
    --------
    Dense: 2x3 float32 weights and 2 biases; a float64 matrix without bias.

    >>> storage_bytes((2, 3)), storage_bytes(np.zeros((2, 3)), bias=False)
    (32, 48)

    CSR of 3 nonzeros in a (2, 3) matrix: 3 values * 4 + 3 uint8 column
    indices + 3 uint8 row pointers; then + 2 float32 biases.

    >>> W = np.array([[0., 1., 0.], [2., 0., 3.]], np.float32)
    >>> storage_bytes(W, "csr", bias=False), storage_bytes(W, "csr")
    (18, 26)

    int8 per channel of a 64x64 layer: 4096 codes + 64 scales * 4 + 64
    biases * 4; int4 per tensor, affine, no bias: 2048 + one scale (4) +
    one zero point (1).

    >>> storage_bytes((64, 64), "int", bits=8)
    4608
    >>> storage_bytes((64, 64), "int", bits=4, granularity="tensor",
    ...               scheme="affine", bias=False)
    2053

    Integer-only int8 layer (10, 20): 200 + (bias, m0, shift) 3 * 4 * 10 + 2.

    >>> storage_bytes((10, 20), "integer")
    322

    2-bit codebook of a (10, 20) layer: 200 * 2 / 8 = 50 + 4 centroids * 4
    + 10 biases * 4. Huffman-coded instead, indices with 180 zeros (code
    length 1), ten 3s (2) and five 1s and 2s (3 each): 180 + 20 + 30 =
    230 bits = 29 bytes + 4 code-length bytes, + 16 + 40.

    >>> storage_bytes((10, 20), "codebook", bits=2)
    106
    >>> index = np.array([[0] * 18 + [1, 2]] * 5 + [[0] * 18 + [3, 3]] * 5)
    >>> storage_bytes(index, "huffman", bits=2)
    89
    """
    where = "storage_bytes"
    fmt = check.choice(fmt, "fmt", FORMATS, where=where)
    bias = check.flag(bias, "bias", where=where)
    options = {"bits": bits, "granularity": granularity, "scheme": scheme,
               "group_size": group_size}
    from .quant.ptq import QuantizedMLP                  # lazily: quant sits above metrics
    if isinstance(x, QuantizedMLP):
        return _quantized_bytes(x, fmt, options, bias, where)
    granularity, scheme, group_size = _options(fmt, options, where)
    if fmt == "dense" and isinstance(x, Module):          # any Module: all its parameters
        return int(sum(p.data.nbytes for name, p in x.named_parameters()
                       if bias or not name.endswith("bias")))
    layers = _layers(x, fmt, bias, where)
    bits = _bits(bits, layers, fmt, scheme, where)
    return int(sum(_layer_bytes(L, fmt, b, granularity, scheme, group_size, where)
                   for L, b in zip(layers, bits)))


def _options(fmt, options: dict, where):
    """``(granularity, scheme, group_size)``, checked; an option ``fmt`` lacks is refused."""
    for k, names in (("granularity", GRANULARITIES), ("scheme", SCHEMES)):   # whatever fmt is
        if options[k] is not None:
            options[k] = check.choice(options[k], k, names, where=where)
    for k in (("bits",) if fmt in ("dense", "csr") else ()) + (
            ("granularity", "scheme", "group_size") if fmt != "int" else ()):
        if options[k] is not None:
            raise ValueError(f"{where}: {k}={options[k]!r} with fmt={fmt!r}; expected None ("
                             + ("the format has no width to choose)" if k == "bits" else
                                f"only fmt='int' has a {k})"))
    granularity, group_size = options["granularity"] or "channel", options["group_size"]
    if group_size is not None and granularity != "group":
        raise ValueError(f"{where}: group_size={group_size!r} with granularity={granularity!r}"
                         "; expected None (group_size is for granularity='group')")
    if granularity == "group":                           # divides in: checked per layer
        group_size = check.integer(group_size, "group_size", low=1,
                                   where=f"{where}: granularity='group'")
    return granularity, options["scheme"] or "symmetric", group_size


def _quantized_bytes(qnet, fmt, options: dict, bias: bool, where) -> int:
    """A QuantizedMLP's codes at their bits, scales, zero points and biases (fmt 'int')."""
    given = "".join(f", {k}={v!r}" for k, v in options.items() if v is not None)
    if fmt != "int" or given:
        raise ValueError(f"{where}: x is a QuantizedMLP and fmt={fmt!r}{given}; expected "
                         "fmt='int' alone: its codes count at their own bits, scheme and "
                         "granularity (or pass the float net)")
    return int(sum(_layer_bytes(_Layer(L.W.q.shape, None, L.b_hat.size if bias else 0), "int",
                                L.W.bits, L.W.granularity, L.W.scheme, L.W.group_size, where)
                   for L in qnet.qlayers))


def _layers(x, fmt, bias, where) -> list:
    """The :class:`_Layer` s of ``x``, refusing what ``fmt`` cannot be computed from."""
    if isinstance(x, Module):                         # k-means layers hold codebook[index]
        shared = [m for m in getattr(x, "layers", [x]) if hasattr(m, "codebook")]
        if shared and fmt in ("codebook", "huffman"):
            return [_Layer(m.index.shape, m.index, m.b.size if bias and m.b is not None else 0,
                           m.codebook.size) for m in shared]
        if shared:
            raise TypeError(f"{where}: x is a {type(x).__name__} of k-means layers and "
                            f"fmt={fmt!r}; expected fmt='codebook', 'huffman' or 'dense'")
        if fmt == "huffman":
            raise TypeError(f"{where}: x is a {type(x).__name__} without k-means layers and "
                            "fmt='huffman'; expected the net of kmeans_quantize (Huffman codes "
                            "its indices) or an index array")
        return [_Layer(b.dense.W.shape, _kept(b.dense.W),
                       b.dense.b.size if bias and b.dense.b is not None else 0)
                for b in dense_blocks(x, where)]
    if all(hasattr(x, a) for a in ("data", "indices", "indptr", "shape")):   # a CSR
        if fmt != "csr":
            raise TypeError(f"{where}: x is a CSR and fmt={fmt!r}; expected fmt='csr'")
        return [_Layer(tuple(x.shape), x, x.shape[0] if bias else 0)]
    if isinstance(x, tuple) and len(x) == 2 and all(np.isscalar(d) for d in x):   # a shape
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in x):
            kinds = ", ".join(type(d).__name__ for d in x)
            raise TypeError(f"{where}: x={x!r} is not a shape ({kinds}); expected two positive "
                            "ints (out, in), or an array")
        if min(x) < 1 or fmt in ("csr", "huffman"):
            raise ValueError(f"{where}: x is the shape {x} and fmt={fmt!r}; expected two "
                             "positive ints (out, in), and an array for 'csr' (the nonzeros)"
                             " and 'huffman' (the indices)")
        return [_Layer((int(x[0]), int(x[1])), None, int(x[0]) if bias else 0)]
    W = check.array(x.data if isinstance(x, Tensor) else x, "x", ndim=2, where=where)
    return [_Layer(W.shape, W, W.shape[0] if bias else 0)]


def _kept(W) -> np.ndarray:
    """A weight Parameter's values with its pruning mask applied."""
    return W.data if W.mask is None else W.data * W.mask


def _bits(bits, layers, fmt, scheme, where) -> list:
    """One code width per layer (None where the format has none to choose)."""
    n = len(layers)
    if fmt in ("dense", "csr") or (fmt != "int" and all(L.k for L in layers)):
        if bits is not None:
            raise ValueError(f"{where}: bits={bits!r} with fmt={fmt!r}; expected None (the "
                             "format has no width to choose)")
        return [None] * n
    if fmt == "integer":
        if bits is not None and check.integer(bits, "bits", where=where) != 8:   # not 8.0
            raise ValueError(f"{where}: bits={bits!r} with fmt='integer'; expected 8 (the "
                             "int8 model) or None")
        return [8] * n
    if bits is None:
        raise TypeError(f"{where}: bits is None with fmt={fmt!r}; expected the code width")
    many = isinstance(bits, (list, tuple, np.ndarray))
    widths = list(bits) if many else [bits] * n
    if len(widths) != n:
        raise ValueError(f"{where}: bits has {len(widths)} widths; expected one int or one "
                         f"per Dense layer ({n})")
    low = 2 if fmt == "int" and scheme == "symmetric" else 1
    for k, b in enumerate(widths):
        name = f"bits[{k}]" if many else "bits"
        widths[k] = b = check.integer(b, name, where=where)       # 8.0 and True refused
        if not (low <= b <= 16 or (fmt == "int" and b == 32)):
            raise ValueError(f"{where}: {name}={b!r}; expected an int in [{low}, 16]"
                             + (", or 32 to keep the layer in float32" if fmt == "int" else ""))
    return widths


def _layer_bytes(L: _Layer, fmt, bits, granularity, scheme, group_size, where) -> int:
    """Bytes of one layer in ``fmt`` (the table of the module docstring)."""
    out, n_in = L.shape
    n = out * n_in
    if fmt == "dense":
        return (4 if L.W is None else L.W.dtype.itemsize) * (n + L.n_bias)
    if fmt == "csr":
        csr = not isinstance(L.W, np.ndarray)
        nnz = len(L.W.data) if csr else int(np.count_nonzero(L.W))
        value = L.W.data.dtype.itemsize if csr else 4                 # to_csr stores float32
        return (nnz * (value + index_dtype(max(n_in - 1, 0)).itemsize)
                + (out + 1) * index_dtype(nnz).itemsize + 4 * L.n_bias)
    if fmt == "integer":                              # int8 W, int32 bias, m0, shift; Z_x, Z_y
        return n + 4 * L.n_bias + 8 * out + 2
    if fmt == "int":
        if bits == 32:                                   # kept in float32 (mixed precision)
            return 4 * (n + L.n_bias)
        if granularity == "group" and (isinstance(group_size, bool) or not isinstance(
                group_size, (int, np.integer)) or group_size < 1 or n_in % group_size):
            raise ValueError(f"{where}: group_size={group_size!r}; expected a positive int "
                             f"dividing in_features={n_in}")
        scales = {"tensor": 1, "channel": out,
                  "group": out * (n_in // group_size) if group_size else 0}[granularity]
        zero_points = scales * math.ceil(bits / 8) if scheme == "affine" else 0
        return math.ceil(n * bits / 8) + 4 * scales + zero_points + 4 * L.n_bias
    k = L.k or 2**bits                                   # codebook entries
    if fmt == "codebook":
        index = math.ceil(n * (k.bit_length() - 1) / 8)  # log2(k)-bit packed indices
    else:
        from .quant.huffman import huffman_bytes
        index = huffman_bytes(L.W, k)
    return index + 4 * k + 4 * L.n_bias
