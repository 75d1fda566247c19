"""The criterion registry: a criterion defined in this file alone prunes by name."""
import importlib
import sys

import numpy as np
import pytest

from minicomp import MLP
from minicomp.blocks import dense_blocks, numpy_forward
from minicomp.prune import criteria, criterion, prune
from minicomp.prune.obs import obs_prune
from minicomp.prune.registry import CRITERIA, layer_scores
from minicomp.prune.taylor import taylor_scores

BUILTIN = {"magnitude": ("connection", ()), "random": ("connection", ()),
           "wanda": ("connection", ("X",)), "taylor": ("connection", ("X", "y")),
           "obd": ("connection", ("X",)), "obs": ("connection", ("X",)),
           "activation": ("neuron", ("X",)), "taylor_neuron": ("neuron", ("X", "y")),
           "l1": ("neuron", ()), "l2": ("neuron", ()), "random_neuron": ("neuron", ())}


@criterion("my_criterion", level="connection")
def my_criterion(net, X=None, y=None):
    """Connection (i, j) scores j: the first inputs of every layer go first."""
    return [np.broadcast_to(np.arange(b.dense.in_features, dtype=float), b.dense.W.shape)
            for b in dense_blocks(net)]                                  # (out, in) each


@pytest.fixture
def registered():
    """``criterion`` for criteria registered inside one test; the registry is restored after."""
    before = dict(CRITERIA)
    yield criterion
    CRITERIA.clear()
    CRITERIA.update(before)


def _data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 2, n)


def test_a_criterion_defined_in_this_file_prunes_by_name():
    net = MLP([4, 3, 2], seed=0)
    masks = prune(net, "my_criterion", 0.5)
    # layer 0 (3, 4): 6 of 12 go, the scores 0 and 1 (columns 0 and 1)
    np.testing.assert_array_equal(masks[0], [[0, 0, 1, 1]] * 3)
    # layer 1 (2, 3): 3 of 6 go: column 0 (score 0), then (0, 1) before (1, 1) (a tie)
    np.testing.assert_array_equal(masks[1], [[0, 0, 1], [0, 1, 1]])
    assert (net[0].W.data[:, :2] == 0).all() and (net[0].W.data[:, 2:] != 0).all()
    assert criteria()["my_criterion"].level == "connection"


def test_layer_scores_by_name_are_what_prune_ranks():
    net = MLP([4, 3, 2], seed=3)
    S = layer_scores(net, "random", seed=0)
    np.testing.assert_array_equal(S[0], np.random.default_rng(0).random((3, 4)))  # layer 0 first
    masks = prune(net, "random", 0.5, seed=0)
    for s, mask in zip(S, masks):                        # the lower half of each layer went
        assert set(np.flatnonzero(mask == 0)) == set(np.argsort(s, axis=None)[:s.size // 2])
    with pytest.raises(ValueError, match="layer_scores: criterion='wanda' needs calibration "
                       "inputs X"):
        layer_scores(net, "wanda")


def test_criteria_lists_every_builtin_with_level_and_needs():
    listed = {name: (c.level, c.needs) for name, c in criteria().items()}
    assert {name: listed[name] for name in BUILTIN} == BUILTIN
    assert "my_criterion" in listed
    assert set(criteria("neuron")) == {n for n, (level, _) in BUILTIN.items()
                                       if level == "neuron"}
    assert criteria()["obs"].options == ("damp",) and criteria()["random"].options == ("seed",)


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"prune: criterion='nope'; expected one of the "
                       r"registered criteria: magnitude \(connection\), .*wanda \(connection; "
                       r"needs X\), .*taylor_neuron \(neuron; needs X, y\).*my_criterion"):
        prune(MLP([4, 3, 2]), "nope", 0.5)


def test_missing_data_names_the_criterion_and_the_argument():
    X, _ = _data()
    with pytest.raises(ValueError, match="criterion='taylor' needs the targets y"):
        prune(MLP([4, 3, 2]), "taylor", 0.5, X)
    with pytest.raises(ValueError, match="criterion='obd' needs calibration inputs X"):
        prune(MLP([4, 3, 2]), "obd", 0.5)


def test_options_reach_the_criterion_and_unknown_ones_are_refused():
    X, y = _data()
    net = MLP([4, 3, 2], seed=1)
    want = [np.argsort(S, axis=None)[:S.size // 2]           # the half with lowest |w g|
            for S in taylor_scores(net, X, y, mode="first_order")]
    masks = prune(net, "taylor", 0.5, X, y, mode="first_order")
    for mask, lowest in zip(masks, want):
        assert set(np.flatnonzero(mask == 0)) == set(lowest)
    with pytest.raises(TypeError, match="criterion='magnitude' has no option 'mode'; "
                       "expected one of its options: none"):
        prune(MLP([4, 3, 2]), "magnitude", 0.5, mode="abs")


def test_bad_registrations_are_refused(registered):
    with pytest.raises(ValueError, match="level='row'"):
        registered("x1", level="row")
    with pytest.raises(ValueError, match=r"needs=\('Z',\)"):
        registered("x2", level="neuron", needs=("Z",))
    with pytest.raises(TypeError, match=r"takes \(W\); expected \(net, X=None, y=None"):
        registered("x3", level="neuron")(lambda W: W)
    with pytest.raises(ValueError, match="name='magnitude' is already registered by "
                       "minicomp.prune.magnitude.magnitude"):
        registered("magnitude", level="connection")(my_criterion)
    assert "x3" not in CRITERIA


def test_scores_of_the_wrong_shape_or_count_are_refused(registered):
    registered("rows_only", level="connection")(lambda net, X=None, y=None: [
        np.ones(b.dense.out_features) for b in dense_blocks(net)])
    with pytest.raises(ValueError, match=r"criterion 'rows_only' scored Dense layer 0 with "
                       r"shape \(3,\); expected \(3, 4\) \(connection level\)"):
        prune(MLP([4, 3, 2]), "rows_only", 0.5)
    registered("one", level="neuron")(lambda net, X=None, y=None: [np.ones(3)])
    with pytest.raises(ValueError, match=r"returned 1 arrays; expected .* \(2\)"):
        prune(MLP([4, 3, 2]), "one", 0.5)


def test_an_update_runs_with_the_masks_before_they_are_applied(registered):
    seen = []

    def update(net, X, masks):
        seen.append({i: (m.copy(), net[2 * i].W.data.copy()) for i, m in masks.items()})

    registered("with_update", level="connection", needs=("X",), update=update)(
        lambda net, X, y=None: [np.abs(b.dense.W.data) for b in dense_blocks(net)])
    net = MLP([4, 3, 2], seed=0)
    W0 = net[2].W.data.copy()
    masks = prune(net, "with_update", 0.5, _data()[0], layers=[1])
    (mask, W_seen), = seen[0].values()
    assert list(seen[0]) == [1]                          # Dense index -> its new mask
    np.testing.assert_array_equal(mask, masks[0])
    np.testing.assert_array_equal(W_seen, W0)            # not yet zeroed
    assert (net[2].W.data[mask == 0] == 0).all()


def test_obs_through_the_registry_is_greedy_obs_layer_by_layer():
    X, _ = _data(60)
    net = MLP([4, 6, 3], seed=2)
    inputs = numpy_forward(net, X, inputs=True)[1]           # before any change
    want = [obs_prune(b.dense, x, 0.6) for b, x in zip(dense_blocks(net), inputs)]
    masks = prune(net, "obs", 0.6, X)
    for b, mask, (W_obs, mask_obs) in zip(dense_blocks(net), masks, want):
        np.testing.assert_array_equal(mask, mask_obs)        # the same weights go
        np.testing.assert_allclose(b.dense.W.data, W_obs, rtol=1e-4, atol=1e-6)   # same update
    with pytest.raises(ValueError, match="scope='global' with criterion='obs'.*scope='layer'"):
        prune(MLP([4, 6, 3]), "obs", 0.5, X, scope="global")


def test_a_reloaded_module_registers_its_criterion_again(registered, tmp_path, monkeypatch):
    (tmp_path / "qa_reloaded.py").write_text(
        "import numpy as np\nfrom minicomp.prune import criterion\n\n\n"
        "@criterion('qa_reloaded', level='neuron')\n"
        "def scores(net, X=None, y=None, damp=1e-4):\n"
        "    return [np.ones(m.out_features) for m in net.layers[::2]]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("qa_reloaded")
        first = module.scores
        importlib.reload(module)                    # a new function object, the same source
        assert module.scores is not first and CRITERIA["qa_reloaded"].scores is module.scores
    finally:
        sys.modules.pop("qa_reloaded", None)


def test_closures_of_one_factory_are_different_functions(registered):
    def factory(k):
        return lambda net, X=None, y=None: [k * np.ones(b.dense.out_features)
                                            for b in dense_blocks(net)]
    registered("qa_k", level="neuron")(factory(1))
    with pytest.raises(ValueError, match=r"name='qa_k' is already registered by .*<lambda> "
                       r"\(line (\d+)\), a function other than .*<lambda> \(line \1\); "
                       r"expected a new name, or replace=True"):
        registered("qa_k", level="neuron")(factory(2))
    registered("qa_k", level="neuron", replace=True)(factory(2))
    assert layer_scores(MLP([4, 3, 2]), "qa_k")[0].tolist() == [2.0] * 3
