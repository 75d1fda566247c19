"""The tour's table: box drawing and colour in a terminal, plain aligned text when piped.

One row per stored model: technique, test accuracy, Δ vs the baseline in
points, nonzero weights, bytes, compression ratio (float32 bytes / bytes),
latency at batch 1 and 256, and the row's setting (a "(val x%)" at its end:
chosen on the validation split, where that split scored x%). Then one
line, :func:`conclusion`: the smallest model within 0.5 points, the
fastest one at batch 256 within 0.5 points, and the full pipeline's batch-256
latency against the float model's (the issue's target: below it).

No dependency: ANSI escapes (SGR colours) and Unicode box characters,
padded before colouring so the columns line up.
"""
from __future__ import annotations

import shutil
import sys

WITHIN = 0.5                        # points: "within 0.5 points" of the conclusion
HEADERS = ("technique", "test acc %", "Δ points", "nonzeros", "bytes", "ratio",
           "B=1 µs", "B=256 µs", "setting")
RIGHT = (False, True, True, True, True, True, True, True, False)   # numbers align right
GREEN, YELLOW, RED, BOLD, DIM, RESET = ("\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[1m",
                                        "\x1b[2m", "\x1b[0m")


def cells(row) -> list:
    """The table's texts for one row dict of :func:`minicomp.tour.run`."""
    return [row["label"], f"{100 * row['accuracy']:.2f}", f"{row['delta_points']:+.2f}",
            f"{row['nonzeros']:,}", f"{row['bytes']:,}", f"{row['ratio']:.1f}x",
            f"{1e6 * row['latency_b1_s']:,.1f}", f"{1e6 * row['latency_b256_s']:,.1f}",
            row["choice"]]


def _colour(row, k: int, text: str) -> str:
    if k == 2:                                             # Δ: green, yellow, red
        d = row["delta_points"]
        return (GREEN if d >= -WITHIN else YELLOW if d >= -2 else RED) + text + RESET
    if k == 5 and row["ratio"] >= 10:
        return BOLD + text + RESET
    if k == 8 or row["technique"] == "baseline":
        return DIM + text + RESET
    return text


def format_table(rows, terminal: bool | None = None) -> str:
    """The table and its conclusion; ``terminal`` None: whether stdout is a terminal.

    >>> row = dict(technique="baseline", label="baseline", accuracy=0.9689, delta_points=0.0,
    ...            nonzeros=8960, bytes=35880, ratio=1.0, latency_b1_s=1e-5,
    ...            latency_b256_s=5e-5, choice="float32")
    >>> header, rule, line, end = format_table([row], terminal=False).splitlines()
    >>> line.split()
    ['baseline', '96.89', '+0.00', '8,960', '35,880', '1.0x', '10.0', '50.0', 'float32']
    >>> rule.split()[:3], "\\x1b" in header     # plain: no box, no colour
    (['---------', '----------', '--------'], False)
    >>> end[:61]
    'smallest within 0.5 points: baseline (1.0x fewer bytes, +0.00'
    """
    terminal = sys.stdout.isatty() if terminal is None else bool(terminal)
    table = [cells(r) for r in rows]
    headers = list(HEADERS)
    if terminal:                          # too wide: the settings cut with "…", or dropped
        widths = [max(len(t[k]) for t in [headers, *table]) for k in range(len(headers))]
        room = shutil.get_terminal_size((120, 24)).columns - (sum(widths[:-1])
                                                               + 3 * len(widths) + 1)
        if room < widths[-1]:
            keep = room >= 12
            headers = headers[:-1] + [headers[-1]] * keep
            table = [t[:-1] + [t[-1] if len(t[-1]) <= room else t[-1][:room - 1] + "…"] * keep
                     for t in table]
    widths = [max(len(t[k]) for t in [headers, *table]) for k in range(len(headers))]

    def line(texts, row=None):
        padded = [t.rjust(w) if RIGHT[k] else t.ljust(w)
                  for k, (t, w) in enumerate(zip(texts, widths))]
        if not terminal:
            return "  ".join(padded).rstrip()
        if row is not None:
            padded = [_colour(row, k, p) for k, p in enumerate(padded)]
        else:
            padded = [BOLD + p + RESET for p in padded]
        return "│ " + " │ ".join(padded) + " │"

    if not terminal:
        out = [line(headers), line(["-" * w for w in widths])]
        out += [line(t, r) for t, r in zip(table, rows)]
    else:
        rule = lambda a, b, c: a + b.join("─" * (w + 2) for w in widths) + c   # noqa: E731
        out = [rule("┌", "┬", "┐"), line(headers), rule("├", "┼", "┤")]
        for k, (t, r) in enumerate(zip(table, rows)):
            out.append(line(t, r))
            if k == 0 and len(rows) > 1:                   # the baseline, then the rest
                out.append(rule("├", "┼", "┤"))
        out.append(rule("└", "┴", "┘"))
    return "\n".join(out + [conclusion(rows)])


ASCII = str.maketrans("Δµ…─│┌┬┐├┼┤└┴┘", "du~-|+++++++++")   # one column for one


def encodable(text: str, stream=None) -> str:
    """``text`` with ASCII stand-ins (same widths) if ``stream`` (default stdout)
    cannot encode it, e.g. ``PYTHONIOENCODING=ascii``.

    >>> import io
    >>> encodable("Δ points │ B=1 µs", io.StringIO()) == "Δ points │ B=1 µs"
    True
    >>> class Ascii: encoding = "ascii"
    >>> encodable("Δ points │ B=1 µs", Ascii())
    'd points | B=1 us'
    """
    encoding = getattr(sys.stdout if stream is None else stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        return text.translate(ASCII).encode("ascii", "replace").decode("ascii")


def conclusion(rows) -> str:
    """One line: the smallest and the fastest model within 0.5 points; the pipeline's target."""
    close = [r for r in rows if r["delta_points"] >= -WITHIN] or rows[:1]
    small = min(close, key=lambda r: (r["bytes"], -r["accuracy"]))
    fast = min(close, key=lambda r: (r["latency_b256_s"], r["bytes"]))
    base = rows[0]
    text = (f"smallest within {WITHIN} points: {small['label']} ({small['ratio']:.1f}x fewer "
            f"bytes, {small['delta_points']:+.2f} points); fastest at batch 256 within "
            f"{WITHIN} points: {fast['label']} "
            f"({base['latency_b256_s'] / fast['latency_b256_s']:.1f}x the baseline's speed)")
    for r in rows:
        if r["technique"] == "pipeline":
            below = r["latency_b256_s"] < base["latency_b256_s"]
            text += (f"; pipeline at batch 256: {1e6 * r['latency_b256_s']:,.1f} µs vs float "
                     f"{1e6 * base['latency_b256_s']:,.1f} µs (target below: "
                     f"{'met' if below else 'MISSED'})")
    return text
