"""Unit and factor identifiers: one formatter, one parser.

A *unit* is one channel of a conv site or one neuron of a linear site, written
``"<site>[<index>]"`` (``encoder.conv2[5]``, ``latent.mu[3]``).  A *site-level*
target without an index (``recon_error``) is written as the bare site.  A
*factor* is written ``factor.<name>`` (``factor.scale``).

>>> unit_id("encoder.conv2", 5)
'encoder.conv2[5]'
>>> parse_unit("encoder.conv2[5]")
('encoder.conv2', 5)
>>> factor_id("scale"), parse_factor("factor.scale")
('factor.scale', 'scale')
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FACTOR_PREFIX = "factor."
_UNIT_RE = re.compile(r"^(?P<site>[A-Za-z_][\w.\-]*)(?:\[(?P<index>\d+)\])?$")


def unit_id(site: str, index: int | None = None) -> str:
    """Format the id of unit ``index`` of ``site`` (the bare site when ``index`` is None)."""
    if not site or "[" in site or "]" in site:
        raise ValueError(f"site must be a non-empty name without brackets, got {site!r}")
    if index is None:
        return site
    if int(index) < 0:
        raise ValueError(f"unit index must be >= 0, got {index} for site {site!r}")
    return f"{site}[{int(index)}]"


def unit_ids(site: str, n: int) -> list[str]:
    """Ids of units ``0 .. n-1`` of ``site``."""
    return [unit_id(site, i) for i in range(n)]


def parse_unit(uid: str) -> tuple[str, int | None]:
    """Split a unit id into ``(site, index)``; ``index`` is None for a bare site."""
    m = _UNIT_RE.match(uid) if isinstance(uid, str) else None
    if m is None:
        raise ValueError(f"expected a unit id like 'encoder.conv2[5]' or 'recon_error', got {uid!r}")
    index = m.group("index")
    return m.group("site"), None if index is None else int(index)


def site_of(uid: str) -> str:
    """The site part of a unit id."""
    return parse_unit(uid)[0]


def factor_id(name: str) -> str:
    """Format the node id of factor ``name``."""
    if not name or name.startswith(FACTOR_PREFIX):
        raise ValueError(f"expected a bare factor name like 'scale', got {name!r}")
    return FACTOR_PREFIX + name


def is_factor(node_id: str) -> bool:
    return isinstance(node_id, str) and node_id.startswith(FACTOR_PREFIX)


def parse_factor(node_id: str) -> str:
    """The factor name of a ``factor.<name>`` id."""
    if not is_factor(node_id) or len(node_id) == len(FACTOR_PREFIX):
        raise ValueError(f"expected a factor id like 'factor.scale', got {node_id!r}")
    return node_id[len(FACTOR_PREFIX):]


def group_by_site(uids: Iterable[str]) -> dict[str, list[int | None]]:
    """Group unit ids by site, keeping first-seen order of sites and indices."""
    out: dict[str, list[int | None]] = {}
    for uid in uids:
        site, index = parse_unit(uid)
        out.setdefault(site, []).append(index)
    return out
