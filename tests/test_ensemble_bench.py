"""Tests of ``minicomp bench ensembles`` (a tiny run and the table; the full run is a benchmark)."""
from minicomp.bench import ensembles as bench


def test_quick_run_gives_every_row_and_the_targets():
    rows = bench.run(quick=True)
    names = {r["name"] for r in rows}
    assert {"probability average", "cascade", "cascade MACs / large", "distill student",
            "soup greedy", "align naive", "align aligned", "hybrid sk_voting"} <= names
    by = {r["name"]: r for r in rows}
    # VotingClassifier(soft) on the wrapped members is our uniform average, exactly
    assert by["hybrid sk_voting"]["mean"] == by["hybrid uniform"]["mean"]
    ratio, deferred = by["cascade MACs / large"]["mean"], by["cascade deferred"]["mean"]
    assert 0 < ratio <= 1.1 and abs(ratio - deferred) < 0.1      # small net: ~5 % of large
    targets = rows[-1]["targets"]
    assert len(targets) == 7 and all(isinstance(v, bool) for v in targets.values())
    text = bench.format_table(rows)
    assert "targets:" in text and "probability average" in text
