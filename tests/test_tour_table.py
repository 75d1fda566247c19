"""The tour's table: plain text when piped, boxes and colour in a terminal; its conclusion."""
import re

import pytest

from minicomp.tour.table import conclusion, format_table

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def row(technique, label, accuracy, bytes_, b256, delta=None, choice="x"):
    return dict(technique=technique, label=label, accuracy=accuracy,
                delta_points=100 * (accuracy - 0.97) if delta is None else delta,
                nonzeros=bytes_ // 4, bytes=bytes_, ratio=35880 / bytes_,
                latency_b1_s=1e-5, latency_b256_s=b256, choice=choice)


ROWS = [row("baseline", "baseline", 0.97, 35880, 100e-6, choice="float32, dense"),
        row("magnitude", "magnitude pruning", 0.966, 5000, 60e-6, choice="sparsity 90%"),
        row("kmeans", "k-means + Huffman", 0.964, 700, 200e-6),    # -0.6 points: not within
        row("ternary", "ternary", 0.94, 3000, 50e-6),               # fastest, but -3 points
        row("pipeline", "Deep Compression pipeline", 0.968, 900, 80e-6)]


def test_plain_table_is_aligned_text_without_escapes():
    text = format_table(ROWS, terminal=False)
    lines = text.splitlines()
    assert not ANSI.search(text) and "│" not in text and "┌" not in text
    assert len(lines) == 2 + len(ROWS) + 1                  # header, rule, rows, conclusion
    assert lines[1].replace(" ", "").strip("-") == ""        # the rule under the header
    ends = [m.end() for m in re.finditer(r"-+", lines[1])]   # right-aligned columns end there
    for line in lines[2:2 + len(ROWS)]:
        assert line[ends[1] - 1] != " " and line[ends[4] - 1] != " "   # accuracy, bytes
    assert "magnitude pruning" in lines[3] and "sparsity 90%" in lines[3]
    assert "7.2x" in lines[3] and "5,000" in lines[3] and "-0.40" in lines[3]


def test_terminal_table_has_boxes_and_colours_and_the_same_cells(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    text = format_table(ROWS, terminal=True)
    assert text.splitlines()[0].startswith("┌") and "┼" in text and "└" in text
    for colour in ("\x1b[32m", "\x1b[33m", "\x1b[31m"):      # Δ: +, -0.6, -3 points
        assert colour in text
    plain = ANSI.sub("", text)
    widths = {len(line) for line in plain.splitlines()[:-1]}
    assert len(widths) == 1                                  # every box line as wide
    assert "sparsity 90%" in plain                           # wide enough for the notes
    monkeypatch.setenv("COLUMNS", "116")                     # 12 columns left: notes cut
    plain = ANSI.sub("", format_table(ROWS, terminal=True)).splitlines()[:-1]
    assert {len(line) for line in plain} == {116} and "│ float32, de… │" in plain[3]
    assert "│ sparsity 90% │" in plain[5]                     # 12 characters: whole
    monkeypatch.setenv("COLUMNS", "115")                     # under 12 columns left: dropped
    text = format_table(ROWS, terminal=True)
    assert "sparsity" not in text and "setting" not in text


def test_the_conclusion_names_the_smallest_and_fastest_within_half_a_point():
    text = conclusion(ROWS)
    # k-means is smallest (700 B) but loses 0.6 points; the pipeline (900 B) is within 0.5
    assert text.startswith("smallest within 0.5 points: Deep Compression pipeline "
                           "(39.9x fewer bytes, -0.20 points)")
    assert "fastest at batch 256 within 0.5 points: magnitude pruning (1.7x" in text
    assert "pipeline at batch 256: 80.0 µs vs float 100.0 µs (target below: met)" in text
    assert "\n" not in text


@pytest.mark.parametrize("b256, verdict", [(100e-6, "MISSED"), (99e-6, "met")])
def test_the_pipeline_target_is_strictly_below_the_float_model(b256, verdict):
    rows = [ROWS[0], row("pipeline", "Deep Compression pipeline", 0.97, 900, b256)]
    assert conclusion(rows).endswith(f"(target below: {verdict})")


def test_the_default_follows_whether_stdout_is_a_terminal(monkeypatch):
    import sys
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert format_table(ROWS) == format_table(ROWS, terminal=True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert format_table(ROWS) == format_table(ROWS, terminal=False)


def test_a_stdout_that_cannot_encode_gets_ascii_stand_ins_of_the_same_width(monkeypatch):
    from minicomp.tour.table import encodable

    class Ascii:
        encoding = "ascii"
    monkeypatch.setenv("COLUMNS", "116")
    text = format_table(ROWS, terminal=True)
    plain = ANSI.sub("", encodable(text, Ascii())).splitlines()
    assert all(line.isascii() for line in plain)        # PYTHONIOENCODING=ascii: no crash
    assert "| d points |" in plain[1] and "float32, de~" in plain[3]
    assert {len(line) for line in plain[:-1]} == {116}   # the columns still line up
    assert encodable(text, type("Utf8", (), {"encoding": "utf-8"})()) == text
