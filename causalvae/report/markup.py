"""Small HTML building blocks for the report: escaping, numbers, tables, inline images.

Everything taken from a file passes through :func:`esc`; images are inlined as base64 data URIs
(SVGs too, so a graph file can never inject markup or make the page fetch anything).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any

MISSING_VALUE = "—"


def esc(value: Any) -> str:
    """HTML-escape ``str(value)``, quotes included."""
    return html.escape(str(value), quote=True)


def fmt_number(value: Any) -> str:
    """Format a metric value: integers as is, floats with 4 significant digits, None as a dash."""
    if value is None:
        return MISSING_VALUE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "∞" if number > 0 else "−∞"
        if number.is_integer() and abs(number) < 1e6:
            return str(int(number))
        if number != 0 and not 1e-3 <= abs(number) < 1e5:
            return f"{number:.3e}"
        return f"{number:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_number(v) for v in value) if len(value) <= 8 else f"[{len(value)} values]"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for ``data``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(data: bytes, *, mime: str, alt: str, css_class: str = "plot") -> str:
    """An ``<img>`` with ``data`` inlined as a base64 data URI."""
    return f'<img class="{esc(css_class)}" src="{data_uri(data, mime)}" alt="{esc(alt)}">'


def svg_size(data: bytes) -> tuple[float, float] | None:
    """Width and height of an SVG's root element (Graphviz writes them in pt), if stated."""
    root = re.search(rb"<svg\b[^>]*>", data[:4096])
    if root is None:
        return None
    sizes = [re.search(rb'\b%s="([\d.]+)(?:pt|px)?"' % name, root.group(0)) for name in (b"width", b"height")]
    if any(size is None for size in sizes):
        return None
    width, height = (float(size.group(1)) for size in sizes)
    return (width, height) if width > 0 and height > 0 else None


def figure(content: str, caption: str) -> str:
    """``content`` (markup) in a ``<figure>`` with an escaped caption."""
    return f"<figure>{content}<figcaption>{esc(caption)}</figcaption></figure>"


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, numeric: Sequence[bool] | None = None,
          css_class: str = "data") -> str:
    """A ``<table>``; cells are formatted with :func:`fmt_number` and escaped.

    ``numeric`` flags right-aligned columns (default: guessed from the cells' types).
    """
    rows = [list(r) for r in rows]
    if numeric is None:
        numeric = [bool(rows) and all(_is_number(r[i]) or r[i] is None for r in rows) for i in range(len(header))]
    head = "".join(f'<th{_num(n)}>{esc(h)}</th>' for h, n in zip(header, numeric))
    body = "".join("<tr>" + "".join(f"<td{_num(n)}>{esc(fmt_number(c))}</td>" for c, n in zip(r, numeric))
                   + "</tr>" for r in rows)
    return f'<div class="scroll"><table class="{esc(css_class)}"><thead><tr>{head}</tr></thead>' \
           f"<tbody>{body}</tbody></table></div>"


def frame_table(frame, *, max_rows: int = 60, source: str = "") -> str:
    """A pandas DataFrame as a table (index dropped), truncated to ``max_rows`` rows with a note."""
    shown = frame.head(max_rows)
    rows = [[None if _is_missing(v) else v for v in row] for row in shown.itertuples(index=False)]
    numeric = [str(dtype).startswith(("int", "float", "uint")) for dtype in frame.dtypes]
    out = table([str(c) for c in frame.columns], rows, numeric=numeric)
    if len(frame) > max_rows:
        out += note(f"Showing the first {max_rows} of {len(frame)} rows; the full table is {source}.")
    return out


def note(text: str) -> str:
    """An escaped explanatory paragraph."""
    return f'<p class="note">{esc(text)}</p>'


def stage_notice(stage: str, detail: str) -> str:
    """The message shown in place of an artifact whose stage did not produce it."""
    return f'<p class="missing">Stage <strong>{esc(stage)}</strong> failed or was skipped: {esc(detail)}</p>'


def section(anchor: str, title: str, body: str) -> str:
    """A ``<section id=anchor>`` with an escaped heading and ``body`` (markup)."""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def details(summary: str, body: str) -> str:
    """A collapsed ``<details>`` block (opens without JavaScript)."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def preformatted(text: str) -> str:
    """Escaped text in a ``<pre>`` block."""
    return f"<pre>{esc(text)}</pre>"


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(flag: bool) -> str:
    return ' class="num"' if flag else ""
