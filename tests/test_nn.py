"""Modules: parameters, state dicts (PyTorch keys, no transposes), init, modes, repr."""
import numpy as np
import pytest

from minicomp import MLP, Dense, Sequential, Tensor, manual_seed
from minicomp.nn import Dropout, Identity, Parameter, ReLU, Sigmoid, Tanh


def test_dense_computes_x_Wt_plus_b_with_W_out_by_in():
    d = Dense(3, 2, seed=0)
    assert d.W.shape == (2, 3) and d.b.shape == (2,)
    d.W.data[...] = [[1, 0, -1], [2, 1, 0]]
    d.b.data[...] = [0.5, -1]
    # row x = [1, 2, 3]: neuron 0 = 1 - 3 + 0.5 = -1.5, neuron 1 = 2 + 2 - 1 = 3
    np.testing.assert_allclose(d(np.array([[1.0, 2.0, 3.0]])).data, [[-1.5, 3.0]])


def test_dense_without_bias_and_float32_parameters():
    d = Dense(4, 3, bias=False, seed=1)
    assert d.b is None and [n for n, _ in d.named_parameters()] == ["weight"]
    assert d.W.dtype == np.float32


def test_he_and_xavier_init_statistics():
    W = Dense(1000, 500, init="he", seed=0).W.data
    assert abs(W.std() - np.sqrt(2 / 1000)) < 0.002
    W = Dense(1000, 500, init="xavier", seed=0).W.data
    limit = np.sqrt(6 / 1500)
    assert np.abs(W).max() <= limit and abs(W.std() - limit / np.sqrt(3)) < 0.002


def test_same_seed_same_weights_different_seed_different():
    a, b, c = MLP([8, 16, 4], seed=3), MLP([8, 16, 4], seed=3), MLP([8, 16, 4], seed=4)
    for (ka, va), (kb, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(),
                                           c.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
        if ka.endswith("weight"):
            assert not np.array_equal(va, vc)


def test_layers_of_one_mlp_get_different_weights():
    net = MLP([16, 16, 16, 16], seed=0)
    assert not np.array_equal(net[0].W.data, net[2].W.data)


def test_manual_seed_controls_unseeded_layers():
    manual_seed(7)
    a = Dense(5, 5).W.data.copy()
    manual_seed(7)
    np.testing.assert_array_equal(a, Dense(5, 5).W.data)


def test_mlp_layout_and_state_dict_keys_match_torch_sequential():
    net = MLP([64, 64, 64, 10])
    assert [type(m).__name__ for m in net] == ["Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias",
                                      "4.weight", "4.bias"]
    assert net.num_parameters() == 64 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10


def test_state_dict_is_a_copy_and_roundtrips():
    net = MLP([4, 3, 2], seed=0)
    state = net.state_dict()
    state["0.weight"][...] = 0                     # editing the copy does not touch the net
    assert np.any(net[0].W.data != 0)
    other = MLP([4, 3, 2], seed=99)
    other.load_state_dict(net.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(net(x).data, other(x).data)


def test_load_state_dict_errors_name_key_and_shapes():
    net = MLP([4, 3, 2])
    bad = net.state_dict()
    bad["0.weight"] = np.zeros((4, 3))             # transposed
    with pytest.raises(ValueError, match=r"'0.weight'.*\(4, 3\).*\(3, 4\)"):
        net.load_state_dict(bad)
    missing = net.state_dict()
    del missing["2.bias"]
    with pytest.raises(KeyError, match="2.bias"):
        net.load_state_dict(missing)
    net.load_state_dict(missing, strict=False)     # allowed when not strict


def test_dense_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(N, 4\)"):
        Dense(4, 3)(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(4,\).*reshape"):
        Dense(4, 3)(np.zeros(4, np.float32))


def test_identity_mlp_has_no_activation_layers():
    net = MLP([3, 4, 2], activation="identity")
    assert [type(m).__name__ for m in net] == ["Dense", "Dense"]


@pytest.mark.parametrize("args, error", [((0, 3), ValueError), ((3, -1), ValueError),
                                         ((2.5, 3), TypeError), ((True, 3), TypeError)])
def test_dense_rejects_bad_sizes(args, error):
    with pytest.raises(error, match="features"):        # a float or a bool is not an int
        Dense(*args)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="init"):
        Dense(2, 2, init="lecun")
    with pytest.raises(ValueError, match="activation"):
        MLP([2, 2], activation="gelu")
    with pytest.raises(ValueError, match="sizes"):
        MLP([2])
    with pytest.raises(TypeError, match="layer 1"):
        Sequential(Dense(2, 2), "relu")
    with pytest.raises(TypeError, match="seed"):
        Dense(2, 2, seed="zero")
    with pytest.raises(ValueError, match="p="):
        Dropout(1.0)


def test_activations_match_numpy():
    x = np.array([[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(ReLU()(x).data, [[0, 0.5, 3]])
    np.testing.assert_allclose(Sigmoid()(x).data, 1 / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(Tanh()(x).data, np.tanh(x), rtol=1e-6)
    np.testing.assert_array_equal(Identity()(Tensor(x)).data, Tensor(x).data)


def test_dropout_train_vs_eval_and_expectation():
    d = Dropout(0.25, seed=0)
    x = np.ones((200, 100), np.float32)
    y = d(x).data
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75)   # inverted dropout keeps E[y] = x
    d.eval()
    np.testing.assert_array_equal(d(x).data, x)


def test_train_eval_propagate_to_children():
    net = Sequential(Dense(2, 2), Dropout(0.5))
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_parameters():
    net = MLP([3, 4, 2], seed=0)
    net(np.ones((2, 3), np.float32)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert all(isinstance(p, Parameter) for p in net.parameters())


def test_repr_is_readable():
    text = repr(MLP([64, 32, 10]))
    assert text.splitlines() == ["MLP(", "  (0): Dense(64 -> 32, bias=True)", "  (1): ReLU()",
                                 "  (2): Dense(32 -> 10, bias=True)", ")"]


def test_parameter_mask_defaults_to_none():
    assert Parameter(np.zeros(3)).mask is None
