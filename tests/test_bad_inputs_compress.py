"""Bad inputs to pruning, quantization, deployment and the kernels: a clear error, never a result.

Each case is a call, the exception it must raise and a regex its message must
match: the argument's name and, where there is one, the bad value (and
usually the public function, as a ``where:`` prefix). A few calls that look
odd but are fine (NumPy scalars, lists) are checked to be accepted.
"""
from __future__ import annotations

import numpy as np
import pytest

import minicomp.prune as P
import minicomp.quant as Q
from minicomp import MLP
from minicomp.bench.inference import inference_time
from minicomp.blocks import dense_blocks, numpy_forward
from minicomp.deploy import InferenceModel, Int8Dense, SparseDense, to_inference
from minicomp.kernels import int8 as K8
from minicomp.kernels import reference as R
from minicomp.kernels import sparse as KS
from minicomp.metrics import storage_bytes
from minicomp.quant.fixed_point import wrap_around
from minicomp.quant.huffman import entropy_bits, huffman_code
from minicomp.quant.integer import fixed_point_round
from minicomp.quant.kmeans import kmeans_1d
from minicomp.quant.mixed import choose_bits
from minicomp.quant.observers import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MSEObserver,
    PercentileObserver,
)
from minicomp.quant.uniform import check_bits
from minicomp.train import fit, predict

RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 4)).astype(np.float32)       # 24 samples, 4 features
Y = np.arange(24) % 3                                      # 3 classes
X_NAN = X.copy()
X_NAN[2, 1] = np.nan                                       # named as [2, 1] in messages
X_INF = X.copy()
X_INF[0, 3] = np.inf


def net():
    """A fresh 4 -> 5 -> 3 MLP (Dense layers 0 and 2)."""
    return MLP([4, 5, 3], seed=0)


def half_pruned():
    n = net()
    P.prune(n, "magnitude", 0.5)
    return n


QNET = Q.quantize_mlp(net(), X)                                     # 8-bit simulated model
INET = to_inference(QNET)                                            # its integer-only model
INT8 = {"w_q": np.ones((3, 4), np.int8), "bias_q": None, "S_x": 0.1, "Z_x": 0,
        "S_w": 0.01, "S_y": 0.2, "Z_y": 0}
INT8_2 = dict(INT8, w_q=np.ones((2, 3), np.int8), S_x=0.2)
SMALL = MLP([4, 3, 2], seed=0)                                       # Dense 0 (3, 4), 2 (2, 3)
MODEL_INT8 = to_inference(SMALL, int8=[INT8, INT8_2])
MODEL_SPARSE = to_inference(SMALL)
CSR3 = KS.to_csr(np.eye(3))
W24 = np.ones((2, 4))
SHARED = Q.kmeans_quantize(net(), bits=2)                            # SharedDense 4 -> 5 -> 3


def nan_at(layer, name="W", value=np.nan):
    """A fresh net with ``value`` in one entry of Dense ``layer``'s ``name`` (W or b)."""
    n = net()
    getattr(n[layer], name).data.flat[-1] = value
    return n


def with_weights(k, W, **options):
    """QNET's model with layer ``k``'s weights replaced by ``quantize_tensor(W, 8, ...)``."""
    qnet = Q.quantize_mlp(net(), X)
    qnet.qlayers[k].W = Q.quantize_tensor(W, 8, **options)
    return qnet


def affine(k=0, W=None, granularity="channel"):
    """QNET's model with affine 8-bit weights in layer ``k`` (uint8 codes, zero points)."""
    return with_weights(k, net()[2 * k].W.data if W is None else W, scheme="affine",
                        granularity=granularity)


def register_twice(name="qa_twice"):
    """Two lambdas of one scope under one name: they share a qualified name, not a function."""
    try:
        P.criterion(name, level="connection")(lambda net, X=None, y=None: [])
        P.criterion(name, level="connection")(lambda net, X=None, y=None: [1])
    finally:
        P.registry.CRITERIA.pop(name, None)


def prune_by(scores, level="neuron"):
    """Prune a fresh net by a criterion returning ``scores(dense layers)``, then unregister it."""
    P.criterion("qa_scores", level=level)(lambda net, X=None, y=None: scores(
        [b.dense for b in dense_blocks(net)]))
    try:
        return P.prune(net(), "qa_scores", 0.5)
    finally:
        del P.registry.CRITERIA["qa_scores"]



case = pytest.param
PRUNE = [
    # --- NaN / inf data in every entry that takes data --------------------
    case(lambda: P.prune(net(), "obs", 0.5, X_NAN), ValueError,
         r"prune: X contains nan at \[2, 1\]; expected finite", id="obs-nan-X"),
    case(lambda: P.obs.obs_prune(W24, X_NAN, 0.5), ValueError, r"obs_prune: X contains nan",
         id="obs_prune-nan"),
    case(lambda: P.prune(net(), "wanda", 0.5, X_INF), ValueError, r"X contains inf at \[0, 3\]",
         id="wanda-inf"),
    case(lambda: P.prune(net(), "taylor", 0.5, X_NAN, Y), ValueError, r"X contains nan",
         id="taylor-nan"),
    case(lambda: P.prune(net(), "obd", 0.5, X_NAN), ValueError, r"X contains nan", id="obd-nan"),
    case(lambda: P.prune(net(), "activation", 0.5, X_NAN), ValueError, r"X contains nan",
         id="R_i-nan"),
    case(lambda: P.activation_importance(W24, X_INF), ValueError,
         r"activation_importance: X contains inf", id="activation_importance-inf"),
    case(lambda: P.taylor.taylor_scores(net(), X, np.full(24, np.nan)), ValueError,
         r"taylor_scores: y contains nan", id="taylor-nan-y"),
    case(lambda: P.obd.obd_scores(net(), X_NAN), ValueError,
         r"obd_hessian_diagonal: X contains nan",
         id="obd_scores-nan"),
    case(lambda: P.sensitivity_scan(net(), X_NAN, Y), ValueError,
         r"sensitivity_scan: X_val contains nan", id="scan-nan"),
    case(lambda: P.one_shot(net(), X_INF, Y), ValueError, r"one_shot: X contains inf",
         id="one_shot-inf"),
    case(lambda: P.magnitude.magnitude_scores(np.array([[np.nan, 1.0]])), ValueError,
         r"layer_or_W contains nan at \[0, 0\]", id="nan-weights"),
    case(lambda: numpy_forward(net(), X_NAN, where="fwd"), ValueError, r"fwd: X contains nan",
         id="numpy_forward-nan"),
    # --- amounts -----------------------------------------------------------
    case(lambda: P.prune(net(), "magnitude", 1.0), ValueError,
         r"prune: layer 0: amount=1.0 removes 20 entries but only 19 may go.*min_keep",
         id="layer-scope-empties"),
    case(lambda: P.prune(net(), "magnitude", 1.0, scope="global"), ValueError,
         r"prune: amount=1.0 removes 35 entries but only \d+ may go.*min_keep",
         id="global-scope-empties"),
    case(lambda: P.prune(net(), "obs", 1.0, X), ValueError, r"layer 0: amount=1.0 .*min_keep",
         id="obs-empties"),
    case(lambda: P.prune(net(), "activation", 5, X), ValueError,
         r"layer 0: amount=5 removes 5 entries but only 4", id="neurons-empties"),
    case(lambda: P.prune(half_pruned(), "magnitude", 0.3), ValueError,
         r"layer 0 is already 50% sparse.*amount=0\.3.*can only remove more.*unpruned",
         id="less-than-current"),
    case(lambda: P.prune(half_pruned(), "magnitude", 0.3, scope="global"), ValueError,
         r"already \d+% sparse.*amount=0\.3", id="less-than-current-global"),
    case(lambda: P.prune(net(), "magnitude", None), TypeError, r"amount=None \(NoneType\)",
         id="amount-None"),
    case(lambda: P.prune(net(), "magnitude", True), TypeError, r"amount=True \(bool\)",
         id="amount-bool"),
    case(lambda: P.prune(net(), "magnitude", "0.5"), TypeError, r"amount='0\.5' \(str\)",
         id="amount-str"),
    case(lambda: P.prune(net(), "magnitude", -0.1), ValueError, r"amount=-0\.1 .*\[0, 1\]",
         id="amount-negative"),
    case(lambda: P.prune(net(), "magnitude", np.float64("nan")), ValueError, r"amount=nan",
         id="amount-nan"),
    case(lambda: P.prune(net(), "magnitude", 21), ValueError, r"amount=21 .*between 0 and",
         id="amount-count-too-big"),
    case(lambda: P.mask_from_scores([1.0, np.nan], 1), ValueError,
         r"mask_from_scores: scores contains NaN at \[1\]", id="scores-nan"),
    case(lambda: P.mask.global_masks(np.ones(3), 1), TypeError, r"scores_list is a ndarray",
         id="global_masks-array"),
    case(lambda: P.mask.global_masks([np.ones(3)], 1, min_keep=True), ValueError,
         r"min_keep=True",
         id="min_keep-bool"),
    # --- shapes, widths, labels, names ----------------------------------------
    case(lambda: P.prune(net(), "wanda", 0.5, X[:, :3]), ValueError,
         r"prune: X has 3 features \(shape \(24, 3\)\); expected 4", id="width"),
    case(lambda: P.prune(net(), "wanda", 0.5, X[0]), ValueError, r"X has shape \(4,\) \(1-D\)",
         id="X-1D"),
    case(lambda: P.prune(net(), "wanda", 0.5, X[:0]), ValueError, r"X is empty", id="X-empty"),
    case(lambda: P.prune(net(), "wanda", 0.5, X.astype(str)), TypeError, r"X has dtype <U",
         id="X-strings"),
    case(lambda: P.prune(net(), "taylor", 0.5, X, Y + 3), ValueError,
         r"y contains the label 5; expected labels in 0\.\.2", id="taylor-label-range"),
    case(lambda: P.prune(net(), "taylor", 0.5, X, Y[:5]), ValueError,
         r"y has 5 labels; expected 24", id="taylor-label-count"),
    case(lambda: P.prune(net(), "taylor", 0.5, X, Y + 0.5), ValueError,
         r"y holds non-integer values", id="taylor-label-float"),
    case(lambda: P.prune(net(), "size", 0.5), ValueError, r"criterion='size'; expected one of",
         id="criterion"),
    case(lambda: P.prune(net(), "magnitude", 0.5, scope="all"), ValueError, r"scope='all'",
         id="scope"),
    case(lambda: P.prune(net(), "magnitude", 0.5, layers=[0, 0]), ValueError,
         r"layers=\[0, 0\]; expected .*distinct", id="layers-duplicate"),
    case(lambda: P.prune(net(), "magnitude", 0.5, layers=[2]), ValueError,
         r"layers=\[2\]; expected .*\[0, 2\)", id="layers-range"),
    case(lambda: P.prune(None, "magnitude", 0.5), TypeError, r"prune: net is a NoneType",
         id="net-None"),
    case(lambda: P.prune(net(), "random", 0.5, seed=-1), TypeError, r"prune: seed=-1",
         id="seed-negative"),
    case(lambda: P.prune(net(), "wanda", 0.5), ValueError, r"needs calibration inputs X",
         id="X-missing"),
    case(lambda: P.mask.apply_mask(net()[0].W, np.full((5, 4), 0.5)), ValueError,
         r"apply_mask: mask contains 0\.5 at \[0, 0\]; expected only 0 and 1", id="mask-values"),
    case(lambda: P.mask.apply_mask(np.ones(3), np.ones(3)), TypeError, r"param is a ndarray",
         id="apply_mask-param"),
    case(lambda: P.norm.norm_scores(W24, True), ValueError, r"p=True; expected one of 1, 2",
         id="p-bool"),
    case(lambda: P.random.random_scores(-1), ValueError, r"shape=-1", id="random-shape"),
    case(lambda: P.mask.threshold_mask([1.0], float("nan")), ValueError, r"threshold=nan",
         id="threshold-nan"),
    case(lambda: P.obs.layer_hessian(X, damp=0), ValueError, r"damp=0\.0; expected .*> 0",
         id="damp"),
    case(lambda: P.obs.obs_scores(W24, X[:, :3]), ValueError, r"X has 3 columns .*W's 4 inputs",
         id="obs-width"),
    case(lambda: P.obs.reconstruction_error(W24, np.ones((2, 3)), X), ValueError,
         r"W_new has shape \(2, 3\)", id="reconstruction-shape"),
    # --- procedures and schedules ------------------------------------------------
    case(lambda: P.gradual(net(), X, Y, 1.0), ValueError, r"gradual: s_f=1\.0", id="s_f"),
    case(lambda: P.gradual(net(), X, Y, 0.5, n=0), ValueError, r"gradual: n=0", id="n"),
    case(lambda: P.iterative(net(), X, Y, sparsities=()), ValueError, r"sparsities=\(\)",
         id="sparsities-empty"),
    case(lambda: P.iterative(net(), X, Y, sparsities=(0.5, 1.5)), ValueError,
         r"sparsities\[1\]=1\.5", id="sparsities-range"),
    case(lambda: P.lottery_ticket(net(), X, Y, rounds=0), ValueError, r"rounds=0",
         id="rounds"),
    case(lambda: P.lottery_ticket(net(), X, Y, amount_per_round=0.9, rounds=50), ValueError,
         r"lottery_ticket: rounds=50 with amount_per_round=0\.9 .*layer 0", id="rounds-too-many"),
    case(lambda: P.gradual(net(), X, Y, 0.5, criterion="nope"), ValueError,
         r"gradual: criterion='nope'; expected one of", id="gradual-criterion"),
    case(lambda: P.gradual(net(), X, Y, 0.5, criterion="taylor", mod="x"), TypeError,
         r"gradual: criterion='taylor' has no option 'mod'", id="gradual-option"),
    case(lambda: P.FineTune(epochs=0), ValueError, r"FineTune: epochs=0", id="FineTune"),
    case(lambda: P.pick_sparsities({0: [0.9, 0.8]}, [0.5], 0.9), ValueError,
         r"scan\[0\]=\[0\.9, 0\.8\]; expected one accuracy per sparsity", id="pick"),
    case(lambda: P.cubic_sparsity(0, 0.5, dt=True), TypeError, r"dt=True \(bool\)",
         id="cubic-bool"),
    case(lambda: inference_time(net(), X, samples=0), ValueError, r"samples=0",
         id="samples"),
    case(lambda: P.prune(net(), "magnitude", 0.5, mode="abs"), TypeError,
         r"prune: criterion='magnitude' has no option 'mode'",
         id="criterion-option"),
    # --- layers and min_keep as arrays: accepted when ints, else refused clearly (QA #15)
    case(lambda: P.prune(net(), "magnitude", 0.5, min_keep=np.array([1, 1, 1])), ValueError,
         r"prune: min_keep=\[1, 1, 1\]; expected an int or one int per chosen layer \(2\)",
         id="min_keep-array-length"),
    case(lambda: P.prune(net(), "magnitude", 0.5, layers=np.array([0.5])), ValueError,
         r"prune: layers=\[0\.5\]; expected a non-empty sequence of distinct indices",
         id="layers-float-array"),
    case(lambda: P.prune(net(), "magnitude", 0.5, layers=np.array([0, 0])), ValueError,
         r"prune: layers=\[0, 0\]; expected a non-empty sequence of distinct", id="layers-twice"),
    case(lambda: P.mask.global_masks([np.ones(3)], 1, min_keep=np.array([4])), ValueError,
         r"min_keep=\[4\]; expected an int or one int per layer", id="global-min_keep-array"),
    case(lambda: P.norm.norm_scores(W24, np.int64(3)), ValueError,
         r"norm_scores: p=(np\.int64\()?3\)?; expected one of 1, 2", id="p-numpy-3"),
    # --- a name is registered once; scores are real numbers of the level's shape (QA #2)
    case(lambda: P.criterion("magnitude", level="connection")(lambda net, X=None, y=None: []),
         ValueError, r"criterion: name='magnitude' is already registered by "
         r"minicomp\.prune\.magnitude\.magnitude \(line \d+\), a function other than "
         r".*<lambda> \(line \d+\); expected a new name, or replace=True",
         id="criterion-taken"),
    case(register_twice, ValueError, r"name='qa_twice' is already registered by .*<locals>\."
         r"<lambda> \(line \d+\), a function other than .*<locals>\.<lambda> \(line \d+\)",
         id="criterion-two-lambdas"),
    case(lambda: P.criterion("qa", level="neuron", replace=1), TypeError,
         r"criterion: replace=1 \(int\); expected True or False", id="criterion-replace-int"),
    case(lambda: prune_by(lambda dense: [np.full(m.out_features, "1.0") for m in dense]),
         TypeError, r"prune: criterion 'qa_scores' scores\[0\] has dtype <U3; expected numbers",
         id="scores-strings"),
    case(lambda: prune_by(lambda dense: [np.ones(m.out_features) * 1j for m in dense]),
         TypeError, r"prune: criterion 'qa_scores' scores\[0\] has dtype complex128",
         id="scores-complex"),
    case(lambda: prune_by(lambda dense: [np.ones(m.out_features) for m in dense] + [[1.0]]),
         ValueError, r"prune: criterion 'qa_scores' returned 3 arrays; expected a list of one "
         r"score array per Dense layer \(2\)", id="scores-count"),
    case(lambda: prune_by(lambda dense: [np.ones(m.W.shape) for m in dense]), ValueError,
         r"criterion 'qa_scores' scored Dense layer 0 with shape \(5, 4\); expected \(5,\) "
         r"\(neuron level\)", id="scores-shape"),
    case(lambda: prune_by(lambda dense: np.ones((2, 5))), ValueError,
         r"criterion 'qa_scores' returned a ndarray; expected a list", id="scores-array"),
    case(lambda: prune_by(lambda dense: [[["a"]] * 5, np.ones(3)]), TypeError,
         r"criterion 'qa_scores' scores\[0\] has dtype <U1", id="scores-nested-strings"),
    # --- numpy_forward: a float dtype, a bool for inputs (QA #4) ----------------
    case(lambda: numpy_forward(net(), X, dtype=np.int32, where="fwd"), ValueError,
         r"fwd: dtype='int32'; expected a float dtype", id="numpy_forward-int-dtype"),
    case(lambda: numpy_forward(net(), X, dtype="foo", where="fwd"), TypeError,
         r"fwd: dtype='foo'; expected a float dtype", id="numpy_forward-dtype-name"),
    case(lambda: numpy_forward(net(), X, dtype=np.complex64), ValueError,
         r"^dtype='complex64'; expected a float dtype", id="numpy_forward-complex"),
    case(lambda: numpy_forward(net(), X, inputs=1, where="fwd"), TypeError,
         r"fwd: inputs=1 \(int\); expected True or False", id="numpy_forward-inputs-int"),
]

QUANT = [
    # --- bits, schemes, names ----------------------------------------------
    case(lambda: Q.quantize([1.0], 1.0, 0, 17), ValueError, r"bits=17; expected an int >= 1",
         id="bits-17"),
    case(lambda: Q.quantize([1.0], 1.0, 0, 0), ValueError, r"bits=0", id="bits-0"),
    case(lambda: Q.quantize_tensor(np.ones((2, 2)), True), TypeError, r"bits=True \(bool\)",
         id="bits-bool"),
    case(lambda: Q.quantize_tensor(np.ones((2, 2)), 8.0), TypeError, r"bits=8\.0 \(float\)",
         id="bits-float"),
    case(lambda: check_bits(8, "asym"), ValueError, r"scheme='asym'; expected one of",
         id="scheme"),
    case(lambda: Q.quantize_tensor(np.ones((2, 2)), 8, granularity="row"), ValueError,
         r"granularity='row'", id="granularity"),
    case(lambda: Q.quantize([1.0], 1.0, 0, 8, rounding="up"), ValueError, r"rounding='up'",
         id="rounding"),
    case(lambda: Q.quantize_tensor(np.ones((2, 6)), 8, granularity="group", group_size=4),
         ValueError, r"group_size=4; expected a positive int dividing in_features=6",
         id="group-size"),
    case(lambda: Q.quantize([1.0], 1.0, 0.5, 8), ValueError, r"zero point Z must hold integers",
         id="Z-fraction"),
    case(lambda: Q.quantize(np.ones((2, 3)), np.ones(2), 0, 8), ValueError,
         r"S \(2,\) and Z \(\) do not broadcast", id="S-shape"),
    case(lambda: Q.quantize([1.0, np.nan], 1.0, 0, 8), ValueError,
         r"x contains non-finite values \(nan at \[1\]\)", id="quantize-nan"),
    case(lambda: Q.dequantize([1], np.nan), ValueError, r"scale S must be finite", id="S-nan"),
    # --- observers and calibration ----------------------------------------------
    case(lambda: MinMaxObserver().observe([0.0, np.nan]), ValueError,
         r"MinMaxObserver\.observe: x contains non-finite", id="observer-nan"),
    case(lambda: PercentileObserver(p=0), ValueError, r"PercentileObserver: p=0\.0",
         id="percentile-0"),
    case(lambda: PercentileObserver(p=101.0), ValueError, r"p=101\.0", id="percentile-101"),
    case(lambda: MovingAverageMinMaxObserver(c=float("nan")), ValueError, r"c=nan",
         id="ema-c"),
    case(lambda: MSEObserver(bits=0), ValueError, r"MSEObserver: bits=0", id="mse-bits"),
    case(lambda: Q.make_observer("hist"), ValueError, r"observer='hist'", id="observer-name"),
    case(lambda: Q.quantize_mlp(net(), X_NAN), ValueError,
         r"quantize_mlp: X_calib contains non-finite values \(nan at \[2, 1\]\)",
         id="ptq-nan"),
    case(lambda: Q.quantize_mlp(net(), X[:, :3]), ValueError,
         r"X_calib has 3 features .*expected 4", id="ptq-width"),
    case(lambda: Q.quantize_mlp(net(), X[:0]), ValueError,
         r"X_calib has shape \(0, 4\); expected a non-empty", id="ptq-empty"),
    case(lambda: Q.quantize_mlp(net(), X[0]), ValueError, r"X_calib has shape \(4,\)",
         id="ptq-1D"),
    case(lambda: Q.quantize_mlp(net(), X.astype(str)), TypeError, r"X_calib has dtype <U",
         id="ptq-strings"),
    case(lambda: Q.quantize_mlp(net(), None), TypeError, r"X_calib is None.*bits_a=None",
         id="ptq-None"),
    case(lambda: Q.quantize_mlp(net(), X, bits_a=0), ValueError, r"bits_a=0", id="bits_a"),
    case(lambda: Q.calibrate(net(), X, batch_size=0), ValueError, r"batch_size=0",
         id="calibrate-batch"),
    case(lambda: Q.QATMLP(net(), X_init=X_NAN), ValueError, r"QATMLP: X_init contains non",
         id="qat-nan"),
    # --- mixed precision ---------------------------------------------------------
    case(lambda: Q.mixed_precision(net(), X, Y, 1000, choices=(33,)), ValueError,
         r"mixed_precision: choices\[0\]=33; expected a bit width in \[2, 16\].*or 32",
         id="choices-33"),
    case(lambda: Q.mixed_precision(net(), X, Y, 1000, choices=()), ValueError,
         r"choices=\(\); expected a non-empty", id="choices-empty"),
    case(lambda: Q.mixed_precision(net(), X, Y, 1000, choices=(4, True)), TypeError,
         r"choices\[1\]=True \(bool\)", id="choices-bool"),
    case(lambda: Q.mixed_precision(net(), X, Y, -1), ValueError, r"budget=-1\.0", id="budget"),
    case(lambda: Q.mixed_precision(net(), X, Y, float("inf")), ValueError, r"budget=inf",
         id="budget-inf"),
    case(lambda: Q.mixed_precision(net(), X_NAN, Y, 1000), ValueError, r"X contains non-finite",
         id="mixed-nan"),
    case(lambda: choose_bits(np.zeros((2, 2)), [(2, 2)], (2, 4), 100), ValueError,
         r"delta has shape \(2, 2\); expected .*\(1, 2\)", id="delta-shape"),
    case(lambda: storage_bytes(net(), "int", bits=[8, 33]), ValueError, r"bits\[1\]=33",
         id="bytes-33"),
    case(lambda: storage_bytes(net(), "int", bits=[8]), ValueError, r"bits has 1 widths",
         id="bytes-len"),
    # --- fixed point, k-means, Huffman ------------------------------------------
    case(lambda: Q.fixed_point([1.0], -1, 8), ValueError, r"fixed_point: f=-1", id="f-negative"),
    case(lambda: Q.to_fixed([1.0], 8, 8), ValueError, r"f=8 fractional bits do not fit",
         id="f>=bits"),
    case(lambda: wrap_around([1.5], 8), ValueError, r"q contains 1\.5", id="wrap-float"),
    case(lambda: kmeans_1d([1.0, 2.0], 0), ValueError, r"kmeans_1d: bits=0", id="k-0"),
    case(lambda: Q.kmeans_quantize(MLP([2, 2]), bits=3), ValueError,
         r"layer 0 has 4 weights, fewer than the 2\^3 = 8 centroids", id="k>weights"),
    case(lambda: kmeans_1d([], 2), ValueError, r"w is empty", id="kmeans-empty"),
    case(lambda: Q.huffman_encode([]), ValueError, r"huffman_encode: index is empty",
         id="huffman-empty"),
    case(lambda: entropy_bits([]), ValueError, r"entropy_bits: index is empty",
         id="entropy-empty"),
    case(lambda: Q.huffman_encode([0.5, 1.0]), TypeError, r"index has dtype float64",
         id="huffman-float"),
    case(lambda: huffman_code([3, -1]), ValueError, r"counts\[1\]=-1", id="huffman-count"),
    case(lambda: Q.huffman_decode("0", {0: "0", 1: "1"}, 5), ValueError,
         r"bits hold only 1 symbols.*n=5", id="huffman-short"),
    case(lambda: Q.huffman_bytes([0, 5], 4), ValueError,
         r"symbol 5; expected symbols < num_symbols=4", id="huffman-range"),
    case(lambda: Q.huffman_decode("01", {0: "0", 1: "01"}, 1), ValueError,
         r"huffman_decode: code is not prefix-free: code\[0\]='0' is a prefix of code\[1\]='01'",
         id="huffman-not-prefix-free"),
    case(lambda: Q.huffman_decode("0", {0: "10", 1: "0", 2: "10"}, 1), ValueError,
         r"not prefix-free: code\[0\]='10' is a prefix of code\[2\]='10'",
         id="huffman-same-word"),
    case(lambda: Q.huffman_decode("0", {0: "", 1: "1"}, 1), ValueError,
         r"huffman_decode: code\[0\]=''; expected int symbols, each with a non-empty str",
         id="huffman-empty-word"),
    case(lambda: Q.huffman_decode("0", {0: "0", 1: "2"}, 1), ValueError, r"code\[1\]='2'",
         id="huffman-word-not-bits"),
    # --- zero points inside the code range of (bits, scheme) (QA #1) -------------
    case(lambda: Q.quantize([1.0, -1.0], 0.1, 300, 8), ValueError,
         r"Z=300; expected an int in \[0, 255\]", id="Z-above"),
    case(lambda: Q.quantize([1.0, -1.0], 0.1, -5, 8), ValueError,
         r"Z=-5; expected an int in \[0, 255\]", id="Z-below"),
    case(lambda: Q.fake_quantize([1.0, -1.0], 0.1, 300, 8), ValueError,
         r"Z=300; expected an int in \[0, 255\]", id="fake-Z"),
    case(lambda: Q.quantize([1.0], 0.1, 128, 8, "symmetric"), ValueError,
         r"Z=128; expected an int in \[-127, 127\].*'symmetric'", id="Z-symmetric"),
    case(lambda: Q.quantize(np.ones((3, 2)), np.ones((3, 1)), np.array([[0], [256], [3]]), 8),
         ValueError, r"Z contains 256 at \[1, 0\]; expected an int in \[0, 255\]",
         id="Z-per-channel"),
    case(lambda: Q.quantize([1.0], 0.1, 16, 4), ValueError, r"Z=16; expected an int in \[0, 15\]",
         id="Z-4-bit"),
    # --- calibration sets with a range, fine-tuning epochs named (QA #2, #10) -----
    case(lambda: Q.quantize_mlp(net(), np.zeros((24, 4))), ValueError,
         r"quantize_mlp: X_calib has all its 96 values equal to 0\.0: a zero-range calibration "
         r"set", id="ptq-zero-range"),
    case(lambda: Q.calibrate(net(), np.full((5, 4), 2.0)), ValueError,
         r"calibrate: X_calib has all its 20 values equal to 2\.0", id="calibrate-zero-range"),
    case(lambda: Q.qat_finetune(net(), X, Y, epochs=0), ValueError,
         r"qat_finetune: epochs=0; expected an int >= 1", id="qat-epochs-0"),
    case(lambda: Q.qat_finetune(net(), X, Y, epochs=1.5), TypeError,
         r"qat_finetune: epochs=1\.5 \(float\)", id="qat-epochs-float"),
    case(lambda: Q.finetune_centroids(SHARED, X, Y, epochs=0), ValueError,
         r"finetune_centroids: epochs=0; expected an int >= 1", id="centroids-epochs-0"),
    # --- k-means nets: the data's width named like any net's (QA #8) -------------
    case(lambda: fit(Q.kmeans_quantize(net(), bits=2), np.zeros((8, 5)), Y[:8], quiet=True),
         ValueError, r"fit: X has 5 features \(shape \(8, 5\)\); expected 4", id="kmeans-fit-w"),
    case(lambda: predict(SHARED, np.zeros((3, 5))), ValueError,
         r"predict: X has 5 features \(shape \(3, 5\)\); expected 4", id="kmeans-predict-w"),
    case(lambda: SHARED(np.zeros((3, 5))), ValueError,
         r"SharedDense\(4 -> 5, 4 centroids\): input of shape \(3, 5\); expected \(N, 4\)",
         id="kmeans-forward-w"),
    # --- the quantized models ---------------------------------------------------
    case(lambda: QNET(X_NAN), ValueError, r"QuantizedMLP: x contains nan at \[2, 1\]",
         id="QuantizedMLP-nan"),
    case(lambda: INET(X_NAN), ValueError, r"quantize_input: X contains nan at \[2, 1\]",
         id="integer-model-nan"),
    case(lambda: INET(X[:, :3]), ValueError, r"quantize_input: X has 3 features",
         id="integer-model-w"),
    case(lambda: to_inference(Q.quantize_mlp(net(), X, bits=4)), ValueError,
         r"qnet has bits_a=8 and weight bits \[4, 4\]; expected 8-bit", id="integer-model-bits"),
    case(lambda: fixed_point_round([1.5], 1 << 30, 31), ValueError, r"acc contains 1\.5",
         id="fixed_point_round"),
    # --- the int8 kernel computes symmetric int8 weights only (QA #1) -------------
    case(lambda: to_inference(affine()), ValueError,
         r"to_inference: layer 0 has affine weights \(zero point \d+, uint8 codes\); the int8 "
         r"kernel needs symmetric int8 weights \(zero point 0\), as quantize_mlp\(net, X_calib\)"
         r" makes them, or quantize_tensor\(W, 8, scheme='symmetric'\)", id="int8-affine"),
    case(lambda: to_inference(affine(1, granularity="tensor")), ValueError,
         r"to_inference: layer 1 has affine weights \(zero point \d+, uint8", id="int8-affine-1"),
    case(lambda: to_inference(affine(W=np.abs(net()[0].W.data))), ValueError,
         r"layer 0 has affine weights \(zero point 0, uint8 codes\)", id="int8-affine-Z0"),
    case(lambda: Q.int8_settings(affine()), ValueError,
         r"int8_settings: layer 0 has affine weights", id="int8_settings-affine"),
    case(lambda: Q.simulate_codes(affine(), X), ValueError,
         r"simulate_codes: layer 0 has affine weights", id="simulate_codes-affine"),
    # --- storage_bytes: options the format has none of, a QuantizedMLP (QA #3) ----------
    case(lambda: storage_bytes(net(), "dense", bits=8), ValueError,
         r"storage_bytes: bits=8 with fmt='dense'; expected None", id="bytes-dense-bits"),
    case(lambda: storage_bytes(net(), scheme="asym"), ValueError,
         r"storage_bytes: scheme='asym'; expected one of 'symmetric', 'affine'",
         id="bytes-dense-scheme-name"),
    case(lambda: storage_bytes(net(), granularity="row"), ValueError,
         r"storage_bytes: granularity='row'; expected one of 'tensor', 'channel', 'group'",
         id="bytes-dense-granularity-name"),
    case(lambda: storage_bytes(net(), "csr", scheme="affine"), ValueError,
         r"storage_bytes: scheme='affine' with fmt='csr'; expected None \(only fmt='int' has a "
         r"scheme\)", id="bytes-csr-scheme"),
    case(lambda: storage_bytes(SHARED, "codebook", group_size=2), ValueError,
         r"group_size=2 with fmt='codebook'; expected None", id="bytes-codebook-group"),
    case(lambda: storage_bytes(net(), "int", bits=8, group_size=2), ValueError,
         r"storage_bytes: group_size=2 with granularity='channel'; expected None",
         id="bytes-group_size-channel"),
    case(lambda: storage_bytes(net(), "int", bits=8, granularity="group"), TypeError,
         r"storage_bytes: granularity='group': group_size=None", id="bytes-group-no-size"),
    case(lambda: storage_bytes(net(), "int", bits=8.0), TypeError,
         r"storage_bytes: bits=8\.0 \(float\); expected an int", id="bytes-bits-float"),
    case(lambda: storage_bytes((4, 5), "integer", bits=8.0), TypeError,
         r"storage_bytes: bits=8\.0 \(float\)", id="bytes-integer-bits-float"),
    case(lambda: storage_bytes(net(), "int", bits=[8, True]), TypeError,
         r"storage_bytes: bits\[1\]=True \(bool\)", id="bytes-bits-bool"),
    case(lambda: storage_bytes(QNET), ValueError,
         r"storage_bytes: x is a QuantizedMLP and fmt='dense'; expected fmt='int' alone",
         id="bytes-qnet-dense"),
    case(lambda: storage_bytes(QNET, "int", bits=8), ValueError,
         r"x is a QuantizedMLP and fmt='int', bits=8; expected fmt='int' alone",
         id="bytes-qnet-bits"),
    case(lambda: storage_bytes((True, 3)), TypeError,
         r"storage_bytes: x=\(True, 3\) is not a shape \(bool, int\); expected two positive "
         r"ints \(out, in\)", id="bytes-shape-bool"),
    case(lambda: storage_bytes((4.0, 3), "int", bits=8), TypeError,
         r"x=\(4\.0, 3\) is not a shape \(float, int\); expected two positive ints",
         id="bytes-shape-float"),
]

DEPLOY = [
    case(lambda: to_inference(SMALL, masks={1: np.ones((3, 4))}), ValueError,
         r"masks key 1 names no Dense layer; expected one of \[0, '0\.weight', 2, '2\.weight'\]",
         id="mask-key"),
    case(lambda: to_inference(SMALL, masks={"0.bias": np.ones(3)}), ValueError,
         r"masks key '0\.bias'", id="mask-key-name"),
    case(lambda: to_inference(SMALL, masks={0: np.ones((3, 4)), "0.weight": np.ones((3, 4))}),
         ValueError, r"gives layer 0 a second mask", id="mask-key-twice"),
    case(lambda: to_inference(SMALL, masks={0: np.ones((4, 3))}), ValueError,
         r"masks\[0\] has shape \(4, 3\); expected \(3, 4\)", id="mask-shape"),
    case(lambda: to_inference(SMALL, masks={0: np.full((3, 4), 2.0)}), ValueError,
         r"masks\[0\] contains 2\.0 .*only 0 and 1", id="mask-values"),
    case(lambda: to_inference(SMALL, masks=[np.ones((3, 4))]), TypeError, r"masks is a list",
         id="masks-list"),
    case(lambda: to_inference(SMALL, int8=[INT8]), ValueError,
         r"int8 has 1 layer sets, net has 2 Dense layers", id="int8-count"),
    case(lambda: to_inference(SMALL, int8=[dict(INT8, relu=True), INT8_2]), ValueError,
         r"int8\[0\] is a dict with keys .*'relu'", id="int8-key"),
    case(lambda: to_inference(SMALL, int8=[dict(INT8, w_q=np.ones((3, 5), np.int8)), INT8_2]),
         ValueError, r"int8\[0\]\['w_q'\] has shape \(3, 5\); expected .*\(3, 4\)",
         id="int8-w_q-shape"),
    case(lambda: to_inference(SMALL, int8=[dict(INT8, S_x=np.nan), INT8_2]), ValueError,
         r"int8\[0\]: Int8Dense: S_x=nan; expected a finite positive", id="int8-nan-scale"),
    case(lambda: Int8Dense(**dict(INT8, Z_x=1.5)), TypeError, r"Z_x=1\.5",
         id="int8-zero-point-float"),
    case(lambda: Int8Dense(**dict(INT8, w_q=np.full((3, 4), np.nan))), TypeError,
         r"w_q is float64 of shape \(3, 4\); expected a 2-D int8", id="int8-nan-weights"),
    case(lambda: MODEL_INT8.predict(X_NAN), ValueError, r"X contains nan at \[2, 1\]",
         id="int8-model-nan"),
    case(lambda: MODEL_INT8.forward_int(X_INF), ValueError, r"X contains inf",
         id="int8-model-inf"),
    case(lambda: MODEL_INT8.predict(np.ones((2, 5))), ValueError, r"X has 5 features",
         id="int8-model-width"),
    case(lambda: MODEL_SPARSE.predict(X_NAN), ValueError, r"predict: X contains nan",
         id="sparse-model-nan"),
    case(lambda: MODEL_SPARSE.predict(np.ones((2, 5))), ValueError,
         r"predict: X has 5 features .*expected 4", id="sparse-model-width"),
    case(lambda: MODEL_SPARSE.predict(None), TypeError, r"predict: X is a NoneType",
         id="sparse-model-None"),
    case(lambda: InferenceModel([MODEL_SPARSE.layers[0], MODEL_INT8.layers[1]]), TypeError,
         r"not mixed", id="model-mixed"),
    case(lambda: InferenceModel([MODEL_SPARSE.layers[0]] * 2), ValueError,
         r"layer 0 has 3 outputs but layer 1 takes 4 inputs", id="model-chain"),
    case(lambda: SparseDense.from_dense(np.array([[np.nan, 1.0]])), ValueError,
         r"to_csr: W contains nan at \[0, 0\]; expected finite", id="sparse-nan-weights"),
    case(lambda: SparseDense.from_dense(np.eye(2), bias=[np.inf, 0]), ValueError,
         r"bias contains inf", id="sparse-nan-bias"),
    # --- NaN weights named by parameter; per-group scales named (QA #7, #9) --------
    case(lambda: to_inference(nan_at(2)), ValueError,
         r"to_inference: 2\.weight contains nan at \[2, 4\]; expected finite", id="nan-layer-2"),
    case(lambda: to_inference(nan_at(0, "b", -np.inf)), ValueError,
         r"to_inference: 0\.bias contains -inf at \[4\]", id="inf-bias-layer-0"),
    case(lambda: to_inference(nan_at(0), masks={0: np.ones((5, 4))}), ValueError,
         r"to_inference: 0\.weight contains nan", id="nan-with-masks"),
    case(lambda: SparseDense(CSR3._replace(data=np.array([np.nan, 1, 1], np.float32))),
         ValueError, r"SparseDense: csr\.data contains nan at \[0\]", id="sparse-csr-nan"),
    case(lambda: to_inference(Q.quantize_mlp(MLP([4, 6, 3], seed=0), X, granularity="group",
                                             group_size=2)),
         ValueError, r"to_inference: qnet has per-group weight scales \(granularity='group', "
         r"group_size=2, layer 0\); the int8 kernel takes one weight scale per tensor or per "
         r"output channel only", id="int8-group"),
    # --- kernels -----------------------------------------------------------------
    case(lambda: KS.to_csr(np.ones(3)), ValueError, r"W must be 2-D \(out, in\), got shape \(3,\)",
         id="csr-1D"),
    case(lambda: R.to_csr(np.ones((2, 2, 2))), ValueError, r"W must be 2-D", id="ref-csr-3D"),
    case(lambda: R.to_csr("abc"), TypeError, r"W is a str", id="ref-csr-str"),
    case(lambda: KS.sparse_linear(np.ones((1, 3), np.int64), CSR3), TypeError,
         r"X must be a float array .*got int64", id="sparse-int-X"),
    case(lambda: KS.sparse_linear(np.ones((1, 4)), CSR3), ValueError,
         r"X has 4 features, the CSR matrix expects 3", id="sparse-width"),
    case(lambda: KS.check_csr(CSR3._replace(shape=(3,))), TypeError, r"shape=\(3,\)",
         id="csr-shape"),
    case(lambda: K8.Int8Kernel(np.ones((2, 3), np.int8), None, 0, 1 << 30, 31, 0)(
        np.zeros((1, 4), np.uint8)), ValueError, r"x_q has 4 features, the layer expects 3",
         id="int8-kernel-width"),
    case(lambda: Int8Dense(np.ones((2, 3), np.int8), None, S_x=0.1, Z_x=0, S_w=np.nan, S_y=0.1,
                           Z_y=0), ValueError, r"Int8Dense: S_w=nan; expected a finite positive",
         id="int8-dense-nan-weight-scale"),
    case(lambda: K8.Int8Kernel(np.ones((2, 3), np.int8), None, 0, 1 << 30, 31, 0)([[1, 2, 3]]),
         ValueError, r"x_q must be a 2-D ndarray .*got a list", id="int8-kernel-list"),
    # --- NaN/inf weights refused by both to_csr, masked or not (QA #6) ------------
    case(lambda: KS.sparse_linear(np.ones((1, 2), np.float32),
                                  KS.to_csr([[np.nan, 1.0], [0.0, 1.0]])),
         ValueError, r"to_csr: W contains nan at \[0, 0\]; expected finite numbers",
         id="csr-nan"),
    case(lambda: R.to_csr([[0.0, 1.0], [np.inf, 1.0]]), ValueError,
         r"to_csr: W contains inf at \[1, 0\]; expected finite numbers", id="ref-csr-inf"),
    case(lambda: KS.to_csr(np.array([[-np.inf, 1.0]], np.float32), mask=[[0, 1]]), ValueError,
         r"to_csr: W contains -inf at \[0, 0\]", id="csr-masked-inf"),
]


@pytest.mark.parametrize("call, error, match", PRUNE + QUANT + DEPLOY)
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_battery_is_large_enough():
    assert len(PRUNE + QUANT + DEPLOY) >= 60


# ---- refusals leave everything as it was ----------------------------------------
def test_refused_pruning_changes_nothing():
    n = half_pruned()
    before = [(p.data.copy(), None if p.mask is None else p.mask.copy()) for p in n.parameters()]
    for call, error in ((lambda: P.prune(n, "magnitude", 0.3), ValueError),
                        (lambda: P.prune(n, "magnitude", 1.0), ValueError),
                        (lambda: P.prune(n, "obs", 0.7, X_NAN), ValueError),
                        (lambda: P.gradual(n, X, Y, 0.75, criterion="nope"), ValueError),
                        (lambda: P.gradual(n, X, Y, 0.75, criterion="taylor", mod="x"),
                         TypeError),                                  # refused before training
                        (lambda: P.lottery_ticket(n, X, Y, amount_per_round=0.9, rounds=50),
                         ValueError)):
        with pytest.raises(error):
            call()
    for p, (data, mask) in zip(n.parameters(), before):
        np.testing.assert_array_equal(p.data, data)
        assert (p.mask is None) == (mask is None)
        if mask is not None:
            np.testing.assert_array_equal(p.mask, mask)


def test_masks_returned_are_the_masks_on_the_net():
    n = half_pruned()
    masks = P.prune(n, "magnitude", 0.75)                 # 0.5 then 0.75: more zeros only
    for layer, mask in zip((n[0], n[2]), masks):
        np.testing.assert_array_equal(mask, layer.W.mask)
        assert (mask == 0).sum() == round(0.75 * mask.size)
    same = P.prune(n, "magnitude", 0.75)                  # the same level again: a no-op
    for a, b in zip(masks, same):
        np.testing.assert_array_equal(a, b)


def test_layer_scope_keeps_min_keep_like_global_scope():
    n = net()
    P.prune(n, "magnitude", 19, layers=[0])               # 20 - 1: the last one stays
    assert np.count_nonzero(n[0].W.data) == 1
    n = net()
    P.prune(n, "magnitude", 1.0, min_keep=0)              # min_keep=0 allows it explicitly
    assert P.mask.sparsity(n) == 1.0


# ---- accepted: NumPy scalars, lists, integer data -----------------------------------
def test_numpy_scalars_and_lists_are_accepted():
    masks = P.prune(net(), "wanda", np.float32(0.5), X.tolist())
    assert [int((m == 0).sum()) for m in masks] == [10, 8]
    P.prune(net(), "magnitude", np.int64(3), layers=[np.int64(0)])
    assert P.mask_from_scores([3.0, 1.0], np.float64(0.5)).tolist() == [1.0, 0.0]
    assert Q.quantize_tensor(np.ones((2, 2)), np.int64(4)).bits == 4
    assert P.cubic_sparsity(np.int64(5), np.float32(0.5), n=np.int64(2)) == 0.5
    q = Q.quantize_mlp(net(), X.tolist(), bits=np.int64(8))
    assert q(X.tolist()).data.shape == (24, 3)
    labels = Y.astype(np.float64)                         # whole floats, as read from a CSV
    P.taylor.taylor_scores(net(), X, labels)
    assert MODEL_SPARSE.predict([[0, 1, 2, 3]]).shape == (1, 2)   # ints cast to float32
    assert MODEL_INT8.predict(X.tolist()).shape == (24, 2)
    model = to_inference(SMALL, masks={np.int64(0): np.eye(3, 4), "2.weight": np.ones((2, 3))})
    assert model.layers[0].csr.nnz == 3


def test_numpy_arrays_of_ints_and_numpy_choices_are_accepted():
    by_list = P.prune(net(), "magnitude", 0.5, layers=[0, 1], min_keep=[1, 1])     # QA #15
    by_array = P.prune(net(), "magnitude", 0.5, layers=np.array([0, 1]),
                       min_keep=np.array([1, 1]))
    for a, b in zip(by_list, by_array):
        np.testing.assert_array_equal(a, b)
    P.prune(net(), "magnitude", 0.5, scope="global", min_keep=np.array([2, 2]))
    P.prune(net(), "l1", 2, layers=np.array([0], np.uint8), min_keep=np.int64(1))
    np.testing.assert_array_equal(P.norm.norm_scores(W24, p=np.int64(1)),     # QA #14
                                  P.norm.norm_scores(W24, p=1))
    assert Q.quantize_tensor(np.ones((2, 2)), 8, np.str_("symmetric")).scheme == "symmetric"
    assert Q.quantize([1.0, -1.0], 0.1, np.int64(255), 8).tolist() == [255, 245]   # Z in range
    assert Q.quantize_mlp(net(), X[:1]) is not None           # one varied row calibrates (QA #2)
    code = {0: "0", 1: "10", 2: "11"}                         # a prefix code decodes (QA #5)
    assert Q.huffman_decode("01011", code, 3).tolist() == [0, 1, 2]
    history = fit(SHARED, X, Y, epochs=1, quiet=True)         # QA #8: k-means nets train
    assert len(history.loss) == 1 and predict(SHARED, X).shape == (24, 3)


# ---- accepted next to the refusals of the QA battery -----------------------------
def test_symmetric_int8_weights_per_tensor_or_channel_still_deploy():
    for qnet in (QNET, Q.quantize_mlp(net(), X, granularity="tensor"),
                 with_weights(0, net()[0].W.data, scheme="symmetric", granularity="tensor")):
        np.testing.assert_array_equal(to_inference(qnet).forward_int(X),
                                      Q.simulate_codes(qnet, X))     # the integers, exactly
    assert Q.int8_settings(QNET)[0]["w_q"].dtype == np.int8


def test_a_criterion_registered_again_or_replaced_on_purpose():
    before = dict(P.registry.CRITERIA)
    try:
        magnitude = P.registry.CRITERIA["magnitude"]
        P.criterion("magnitude", level="connection")(magnitude.scores)   # the same function
        source = ("def cell(net, X=None, y=None, k=2.5):\n"
                  "    return [k * np.abs(b.dense.W.data) for b in dense_blocks(net)]\n")
        cell = {"np": np, "dense_blocks": dense_blocks}
        for _ in range(2):                                   # a notebook cell run twice
            exec(compile(source, "<cell>", "exec"), cell)
            P.criterion("qa_cell", level="connection")(cell["cell"])
        assert P.registry.CRITERIA["qa_cell"].scores is cell["cell"]
        first = lambda net, X=None, y=None: [np.ones(b.dense.W.shape) for b in dense_blocks(net)]
        P.criterion("qa_cell", level="connection", replace=True)(first)
        assert P.registry.CRITERIA["qa_cell"].scores is first
        masks = P.prune(net(), "qa_cell", 0.5)               # 20 -> 10 kept, 15 -> 7
        assert [int(m.sum()) for m in masks] == [10, 7]
        P.criterion("qa_bool", level="neuron", replace=np.bool_(True))(  # bool scores: numbers
            lambda net, X=None, y=None: [np.arange(b.dense.out_features) % 2 == 0
                                         for b in dense_blocks(net)])
        assert P.prune(net(), "qa_bool", 2, layers=[0])[0].tolist() == [1, 0, 1, 0, 1]
    finally:
        P.registry.CRITERIA.clear()
        P.registry.CRITERIA.update(before)


def test_storage_bytes_of_a_quantized_mlp_and_options_that_apply():
    assert storage_bytes(QNET, "int") == storage_bytes(net(), "int", bits=8)   # not 0 bytes
    assert storage_bytes(QNET, "int", bias=False) == storage_bytes(net(), "int", bits=8,
                                                                   bias=False)
    grouped = Q.quantize_mlp(net(), X, bits=4, granularity="group", group_size=1)
    assert storage_bytes(grouped, "int") == storage_bytes(net(), "int", bits=4,
                                                          granularity="group", group_size=1)
    mixed = affine(0, granularity="tensor")                 # layer 0 affine per tensor
    assert storage_bytes(mixed, "int") == (
        storage_bytes(net()[0], "int", bits=8, granularity="tensor", scheme="affine")
        + storage_bytes(net()[2], "int", bits=8))
    assert storage_bytes(net()) == storage_bytes(net(), "dense") == 4 * (20 + 5 + 15 + 3)
    assert storage_bytes((4, 5), "int", bits=np.int64(8), scheme=np.str_("affine"),
                         granularity="tensor") == 20 + 4 + 1 + 16
    assert storage_bytes((np.int64(4), np.uint8(5)), "integer", bits=8) == storage_bytes(
        (4, 5), "integer")
    assert storage_bytes(net(), "int", bits=[np.int64(8), 32]) == (20 + 5 * 4 + 5 * 4) + 4 * 18


def test_numpy_forward_in_any_float_dtype_and_csr_of_finite_weights():
    Y = numpy_forward(net(), X)
    for dtype in (np.float64, "float32", np.dtype("float64"), np.float16):
        out, inputs = numpy_forward(net(), X, dtype=dtype, inputs=np.bool_(True))
        assert out.dtype == np.dtype(dtype) and len(inputs) == 2
        np.testing.assert_allclose(out, Y, rtol=1e-2, atol=1e-2)
    W = np.array([[0, 2], [-1, 0]])                          # ints and bools are finite numbers
    for to_csr in (KS.to_csr, R.to_csr):
        assert to_csr(W).data.tolist() == [2.0, -1.0]
        assert to_csr(W.astype(bool)).nnz == 2 and to_csr(np.zeros((0, 3))).nnz == 0
    Y = KS.sparse_linear(np.array([[np.nan, 1.0]], np.float32), KS.to_csr(W))   # data: propagates
    assert np.isnan(Y[0, 1]) and Y[0, 0] == 2.0
