"""Node ids: the one formatter and parser of every id kind, and the role of a site.

Four kinds of node ids, told apart by their form alone:

========  ========================  ==============================================================
kind      form                      example
========  ========================  ==============================================================
factor    ``factor.<name>``         ``factor.scale`` (a generative factor, as a source)
readout   ``readout.<name>``        ``readout.scale`` (a factor read out of the output, as a target)
unit      ``<site>[<index>]``       ``encoder.conv2[5]``, ``0[3]`` (unit 3 of an ``nn.Sequential``'s
                                    first layer), ``add_1[0]`` (a functional fx node)
site      ``<site>``                ``recon_error``, ``latent.mu`` (a site-level target)
========  ========================  ==============================================================

A *site* is a module path (any ``named_modules()`` path, digits included) or an fx node name.
Every site round-trips through :func:`unit_id` / :func:`parse_unit`; names that could not are
refused when formatted: names with brackets (they delimit the index) or whitespace (ids stay one
token in CSV, DOT and command lines), and names whose first dotted part is ``factor`` or
``readout`` (they would read as factor / read-out ids).  Indices are written in canonical form
(``a[7]``, never ``a[07]``).

>>> unit_id("encoder.conv2", 5), parse_unit("0[3]")
('encoder.conv2[5]', ('0', 3))
>>> factor_id("scale"), parse_factor("factor.scale"), readout_id("factor.scale")
('factor.scale', 'scale', 'readout.scale')
>>> parse_node("readout.scale"), parse_node("latent.mu[3]").kind
(NodeRef(kind='readout', name='scale', index=None), 'unit')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

FACTOR_PREFIX = "factor."
READOUT_PREFIX = "readout."
NODE_KINDS = ("factor", "readout", "unit", "site")
SITE_ROLES = ("input", "hidden", "latent", "output")
SITE_STAGES = ("input", "encoder", "latent", "decoder", "other")
_RESERVED = (FACTOR_PREFIX.rstrip("."), READOUT_PREFIX.rstrip("."))
_UNIT_RE = re.compile(r"^(?P<site>.+?)\[(?P<index>0|[1-9][0-9]*)\]$", re.S)
_FORBIDDEN = re.compile(r"[\[\]\s]")


class NodeRef(NamedTuple):
    """A parsed node id: ``kind`` (one of :data:`NODE_KINDS`), the factor or site ``name``, the unit ``index``."""

    kind: str
    name: str
    index: int | None


class SiteRole(NamedTuple):
    """What a site is in a VAE: ``role`` (one of :data:`SITE_ROLES`) and ``stage`` (one of :data:`SITE_STAGES`)."""

    role: str
    stage: str


def check_site(site: str) -> str:
    """Return ``site`` if unit ids of it round-trip, else raise a ``ValueError`` saying why.

    >>> check_site("encoder.0")
    'encoder.0'
    """
    if not isinstance(site, str) or not site:
        raise ValueError(f"a site must be a non-empty module path or fx node name, got {site!r}")
    bad = _FORBIDDEN.search(site)
    if bad is not None:
        raise ValueError(f"site {site!r} contains {bad.group()!r}: unit ids '<site>[<index>]' cannot hold brackets "
                         f"or whitespace in the site name; rename the module (or the ModuleDict key)")
    if site.split(".", 1)[0] in _RESERVED:
        raise ValueError(f"site {site!r} starts with {site.split('.', 1)[0]!r}, which names factor / read-out ids "
                         f"('factor.<name>', 'readout.<name>'); rename the module")
    return site


def unit_id(site: str, index: int | None = None) -> str:
    """Format the id of unit ``index`` of ``site`` (the bare site when ``index`` is None)."""
    check_site(site)
    if index is None:
        return site
    if isinstance(index, bool) or int(index) != index or int(index) < 0:
        raise ValueError(f"unit index must be an integer >= 0, got {index!r} for site {site!r}")
    return f"{site}[{int(index)}]"


def unit_ids(site: str, n: int) -> list[str]:
    """Ids of units ``0 .. n-1`` of ``site``."""
    check_site(site)
    return [f"{site}[{i}]" for i in range(n)]


def parse_unit(uid: str) -> tuple[str, int | None]:
    """Split a unit id into ``(site, index)``; ``index`` is None for a bare site.

    Factor and read-out ids are refused (parse them with :func:`parse_node`).
    """
    if not isinstance(uid, str):
        raise ValueError(f"expected a unit id like 'encoder.conv2[5]' or 'recon_error', got {uid!r}")
    m = _UNIT_RE.match(uid)
    site, index = (m.group("site"), int(m.group("index"))) if m else (uid, None)
    try:
        check_site(site)
    except ValueError as err:
        raise ValueError(f"expected a unit id like 'encoder.conv2[5]' or 'recon_error', got {uid!r}: {err}") from None
    return site, index


def site_of(uid: str) -> str:
    """The site part of a unit id."""
    return parse_unit(uid)[0]


def _check_name(name: str, kind: str) -> str:
    if not isinstance(name, str) or not name or name.startswith((FACTOR_PREFIX, READOUT_PREFIX)):
        raise ValueError(f"expected a bare {kind} name like 'scale', got {name!r}")
    return name


def factor_id(name: str) -> str:
    """Format the node id of factor ``name``."""
    return FACTOR_PREFIX + _check_name(name, "factor")


def is_factor(node_id: str) -> bool:
    """Whether ``node_id`` is a factor id."""
    return isinstance(node_id, str) and node_id.startswith(FACTOR_PREFIX)


def parse_factor(node_id: str) -> str:
    """The factor name of a ``factor.<name>`` id."""
    if not is_factor(node_id) or len(node_id) == len(FACTOR_PREFIX):
        raise ValueError(f"expected a factor id like 'factor.scale', got {node_id!r}")
    return node_id[len(FACTOR_PREFIX):]


def readout_id(factor: str) -> str:
    """Node id of the read-out of ``factor`` (a bare name or a ``factor.<name>`` id)."""
    return READOUT_PREFIX + (parse_factor(factor) if is_factor(factor) else _check_name(factor, "factor"))


def is_readout(node_id: str) -> bool:
    """Whether ``node_id`` is a read-out id."""
    return isinstance(node_id, str) and node_id.startswith(READOUT_PREFIX)


def parse_readout(node_id: str) -> str:
    """The factor name of a ``readout.<name>`` id."""
    if not is_readout(node_id) or len(node_id) == len(READOUT_PREFIX):
        raise ValueError(f"expected a read-out id like 'readout.scale', got {node_id!r}")
    return node_id[len(READOUT_PREFIX):]


def parse_node(node_id: str) -> NodeRef:
    """Parse any node id; its kind is read off its form (see the module docstring)."""
    if is_factor(node_id):
        return NodeRef("factor", parse_factor(node_id), None)
    if is_readout(node_id):
        return NodeRef("readout", parse_readout(node_id), None)
    site, index = parse_unit(node_id)
    return NodeRef("site" if index is None else "unit", site, index)


def group_by_site(uids: Iterable[str]) -> dict[str, list[int | None]]:
    """Group unit ids by site, keeping first-seen order of sites and indices."""
    out: dict[str, list[int | None]] = {}
    for uid in uids:
        site, index = parse_unit(uid)
        out.setdefault(site, []).append(index)
    return out
