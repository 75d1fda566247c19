"""Tests of exercise 02 (run in the grader; the student's code runs sandboxed).

Every expected value is computed here, in the grader: exact hand-worked
values and the grader's own forward pass for the public cases, loop
versions of the definitions (kept in the hidden block with the cases that
use them) for the hidden ones. Nothing is derived from the student's own
outputs: a compacted network is checked array by array against the
grader's, and its outputs against the original network's.
"""
import numpy as np

from minicomp.grading import case

# The exercise says "plain NumPy": the sandbox refuses these imports, with
# this reason, in the student's process (the grader itself may use them).
FORBIDDEN_IMPORTS = ("minicomp", "torch", "scipy", "sklearn")

ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh,
               "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}


def expect_array(value, shape, what):
    """Fail with a clear message unless value is a float ndarray of this shape."""
    assert isinstance(value, np.ndarray), f"{what} must be an ndarray, got {type(value).__name__}"
    assert value.shape == shape, f"{what} has shape {value.shape}, expected {shape}"
    assert value.dtype.kind == "f", f"{what} has dtype {value.dtype}, expected floats"


def expect_net(out, weights, biases, what):
    """Fail unless out is a tuple (weights, biases) shaped like the given lists; return it."""
    assert isinstance(out, tuple) and len(out) == 2, \
        f"{what} must return a tuple (new_weights, new_biases), got {type(out).__name__}"
    for got, want, name in zip(out, (weights, biases), ("new_weights", "new_biases")):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), \
            f"{what}: {name} must be a list of {len(want)} arrays"
        for k, (g, w) in enumerate(zip(got, want)):
            expect_array(g, w.shape, f"{what}: {name}[{k}]")
    return out


def forward(weights, biases, X, activation="relu"):
    """The network's outputs: f between layers, none after the last one."""
    h = X
    for k, (W, b) in enumerate(zip(weights, biases)):
        h = h @ W.T + b                                        # (N, out_k)
        if k < len(weights) - 1:
            h = ACTIVATIONS[activation](h)
    return h


@case(points=1, failure_message="APoZ_i = the fraction of the batch on which "
      "ReLU(W x + b)_i is exactly 0")
def apoz_hand_worked(ex):
    # pre-activations: neuron 0: 0, 2, -1, -1; neuron 1: 0, -2, 0, -2; neuron 2: 2.5, 2.5,
    # 1.5, -0.5 -- and ReLU(0) = 0 counts as a zero
    W = np.array([[1.0, -1.0], [0.0, 2.0], [1.0, 1.0]])
    b = np.array([0.0, -2.0, 0.5])
    X = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    a = ex.apoz(W, b, X)
    expect_array(a, (3,), "apoz(W, b, X)")
    np.testing.assert_allclose(a, [0.75, 1.0, 0.25])


# A [3, 4, 2] network; neuron 1 of layer 0 has bias -1 (ReLU(-1) = 0: nothing to
# fold), neuron 3 has no incoming weights and bias 2: it always outputs ReLU(2) = 2.
W_HAND = [np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, -1.0, 1.0], [0.0, 0.0, 0.0]]),
          np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 1.0, 0.5]])]
B_HAND = [np.array([0.0, -1.0, 0.5, 2.0]), np.array([0.1, -0.2])]


@case(points=2, failure_message="remove the rows of layer `layer` and the matching "
      "columns of layer `layer` + 1, and add W[layer+1][:, i] * f(b_i) of each removed "
      "neuron i to the next bias")
def compact_hand_worked(ex):
    keep = np.array([True, False, True, False])
    out = ex.compact(W_HAND, B_HAND, 0, keep)
    want_W = [W_HAND[0][[0, 2]], np.array([[1.0, 3.0], [-1.0, 1.0]])]
    want_b = [np.array([0.0, 0.5]), np.array([0.1 + 4.0 * 2.0, -0.2 + 0.5 * 2.0])]
    new_W, new_b = expect_net(out, want_W, want_b, "compact(weights, biases, 0, keep)")
    for got, want in zip([*new_W, *new_b], [*want_W, *want_b]):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@case(points=1, failure_message="removing neurons whose incoming weights are all zero "
      "must leave the network's outputs unchanged")
def compact_same_function(ex):
    # a [4, 5, 5, 3] network whose layer 1 has two constant neurons (rows 0 and 3 zero)
    rng = np.random.default_rng(20)
    weights = [rng.normal(size=(5, 4)), rng.normal(size=(5, 5)), rng.normal(size=(3, 5))]
    biases = [rng.normal(size=5), np.array([0.7, 0.1, -0.3, -0.4, 0.2]), rng.normal(size=3)]
    weights[1][[0, 3]] = 0.0
    keep = np.array([False, True, True, False, True])
    out = ex.compact(weights, biases, 1, keep)
    shapes_W = [weights[0], weights[1][keep], weights[2][:, keep]]
    new_W, new_b = expect_net(out, shapes_W, [biases[0], biases[1][keep], biases[2]],
                              "compact(weights, biases, 1, keep)")
    X = rng.normal(size=(50, 4))
    np.testing.assert_allclose(forward(new_W, new_b, X), forward(weights, biases, X),
                               rtol=1e-9, atol=1e-12)


### BEGIN HIDDEN TESTS
def reference_apoz(W, b, X):
    """APoZ from its definition, one input and one neuron at a time."""
    zeros = np.zeros(len(W))
    for x in X:
        for i in range(len(W)):
            zeros[i] += max(sum(W[i, j] * x[j] for j in range(len(x))) + b[i], 0.0) == 0.0
    return zeros / len(X)


def reference_compact(weights, biases, layer, keep, activation):
    """compact from its definition: neuron by neuron, entry by entry."""
    f = ACTIVATIONS[activation]
    keep = [bool(k) for k in keep]
    W_next, b_next = weights[layer + 1], biases[layer + 1].copy()
    for i, kept in enumerate(keep):
        if not kept:
            for o in range(len(W_next)):
                b_next[o] += W_next[o, i] * f(biases[layer][i])
    rows = [i for i, kept in enumerate(keep) if kept]
    new_W, new_b = [w.copy() for w in weights], [v.copy() for v in biases]
    new_W[layer] = np.array([weights[layer][i] for i in rows]).reshape(len(rows), -1)
    new_b[layer] = np.array([biases[layer][i] for i in rows], dtype=np.float64)
    new_W[layer + 1] = np.array([[W_next[o, i] for i in rows] for o in range(len(W_next))])
    new_W[layer + 1] = new_W[layer + 1].reshape(len(W_next), len(rows))
    new_b[layer + 1] = b_next
    return new_W, new_b


def random_net(rng, sizes, zero_rows=0.0):
    """Weights and biases of an MLP with these sizes; a fraction of rows set to zero."""
    weights = [rng.normal(size=(o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=o) for o in sizes[1:]]
    for W in weights[:-1]:
        W[rng.random(len(W)) < zero_rows] = 0.0
    return weights, biases


def check_compact(ex, weights, biases, layer, keep, activation="relu", same_function=False):
    """The student's compact against the reference, array by array (and outputs)."""
    want_W, want_b = reference_compact(weights, biases, layer, keep, activation)
    args = (weights, biases, layer, keep) + ((activation,) if activation != "relu" else ())
    out = ex.compact(*args)
    what = f"compact(layer={layer}, {len(weights)} layers, {activation})"
    new_W, new_b = expect_net(out, want_W, want_b, what)
    for got, want in zip([*new_W, *new_b], [*want_W, *want_b]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if same_function:
        X = np.random.default_rng(0).normal(size=(40, weights[0].shape[1]))
        np.testing.assert_allclose(forward(new_W, new_b, X, activation),
                                   forward(weights, biases, X, activation),
                                   rtol=1e-9, atol=1e-12)


@case(points=1, hidden=True, failure_message="APoZ of random layers: the fraction (not "
      "the count) of the batch where the output is 0, bias included")
def apoz_random(ex):
    rng = np.random.default_rng(21)
    for out, inp, n in ((6, 4, 13), (1, 3, 1), (9, 2, 40)):
        W, b, X = rng.normal(size=(out, inp)), rng.normal(size=out), rng.normal(size=(n, inp))
        a = ex.apoz(W, b, X)
        expect_array(a, (out,), "apoz(W, b, X)")
        np.testing.assert_allclose(a, reference_apoz(W, b, X), rtol=1e-12)


@case(points=1, hidden=True, failure_message="a pre-activation of exactly 0 gives an "
      "output of exactly 0: it counts")
def apoz_exact_zeros(ex):
    # small integers make many pre-activations exactly 0; neuron 3 has no weights and
    # bias 0 (always 0: APoZ 1), neuron 4 no weights and bias 1 (never 0: APoZ 0)
    rng = np.random.default_rng(22)
    W = rng.integers(-2, 3, size=(5, 3)).astype(np.float64)
    W[3:] = 0.0
    b = np.array([0.0, 1.0, -1.0, 0.0, 1.0])
    X = rng.integers(-2, 3, size=(30, 3)).astype(np.float64)
    a = ex.apoz(W, b, X)
    expect_array(a, (5,), "apoz(W, b, X)")
    np.testing.assert_allclose(a, reference_apoz(W, b, X), rtol=1e-12)


@case(points=2, hidden=True, failure_message="random networks, several layers: rows of "
      "`layer`, columns of `layer` + 1, the constants folded into bias `layer` + 1, "
      "every other array unchanged")
def compact_random(ex):
    rng = np.random.default_rng(23)
    for sizes, layer in (((4, 6, 6, 6, 3), 0), ((4, 6, 6, 6, 3), 1), ((5, 7, 3, 2), 1),
                         ((3, 8, 8, 4), 0)):
        weights, biases = random_net(rng, sizes, zero_rows=0.3)
        keep = rng.random(sizes[layer + 1]) < 0.6
        keep[0] = True
        check_compact(ex, weights, biases, layer, keep)
    weights, biases = random_net(rng, (4, 6, 6, 3))                # keep as 0.0 / 1.0
    check_compact(ex, weights, biases, 1, np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0]))


@case(points=2, hidden=True, failure_message="neurons with no incoming weights output "
      "the constant f(b_i) (not 0, not b_i): removing them must not change the outputs")
def compact_constant_neurons(ex):
    rng = np.random.default_rng(24)
    weights, biases = random_net(rng, (5, 8, 8, 8, 4), zero_rows=0.4)
    for layer in range(3):
        biases[layer][::2] = np.abs(biases[layer][::2]) + 0.5      # some constants > 0
        biases[layer][1::2] = -np.abs(biases[layer][1::2])         # some ReLU(b) = 0
        weights[layer][[1, 2]] = 0.0                               # one of each sign
        constant = ~weights[layer].any(axis=1)
        check_compact(ex, weights, biases, layer, ~constant, same_function=True)


@case(points=1, hidden=True, failure_message="the last hidden layer feeds the output "
      "layer: its columns go and the output bias absorbs the constants")
def compact_last_hidden_layer(ex):
    rng = np.random.default_rng(25)
    weights, biases = random_net(rng, (4, 5, 5, 5, 3))
    biases[2] = np.array([1.5, -0.5, 0.8, 2.0, -1.0])
    check_compact(ex, weights, biases, 2, np.array([True, True, False, False, True]))


@case(points=1, hidden=True, failure_message="edge cases of the mask: all kept (nothing "
      "changes), all but one removed (one neuron left)")
def compact_edge_masks(ex):
    rng = np.random.default_rng(26)
    weights, biases = random_net(rng, (3, 6, 6, 2))
    biases[1] = np.abs(biases[1]) + 0.1
    check_compact(ex, weights, biases, 1, np.ones(6, dtype=bool))
    only = np.zeros(6, dtype=bool)
    only[4] = True
    check_compact(ex, weights, biases, 1, only)


@case(points=2, hidden=True, failure_message="with sigmoid or tanh, the constant is "
      "f(b_i): sigmoid(0) = 1/2 is not 0")
def compact_other_activations(ex):
    rng = np.random.default_rng(27)
    for activation in ("sigmoid", "tanh"):
        weights, biases = random_net(rng, (4, 6, 5, 3), zero_rows=0.3)
        biases[0][:2] = 0.0
        keep = np.array([False, False, True, True, False, True])
        check_compact(ex, weights, biases, 0, keep, activation)
        weights[1][[0, 4]] = 0.0
        check_compact(ex, weights, biases, 1, np.array([False, True, True, True, False]),
                      activation, same_function=True)
### END HIDDEN TESTS
