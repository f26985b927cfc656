"""One public name, one thing: no two public functions or classes of causalvae share a name, and no two
modules share a name (issue #13).

A module's public names are its ``__all__``, or else its attributes not starting with ``_``; a name
collides when it refers to different objects (a re-export of the same object is fine).  Two kinds of
names are the same on purpose and exempt: the loader protocol every dataset module implements
(``load``, ``sampler``, ``factor_dag``, ``scm``) and the pipeline's stage bodies, each named after its
stage in ``STAGE_TABLE``.
"""

import importlib
import inspect
import pkgutil
import types
from collections import defaultdict

import causalvae

#: Functions every dataset module defines for :mod:`causalvae.data`'s loader registry.
LOADER_PROTOCOL = {"load", "sampler", "factor_dag", "scm"}
#: Module names each layer may have for its own: its command-line entry and its argument checks, and one
#: concept split at the torch seam (interventions measures mediation outcomes, causal estimates effects).
LAYER_ROLES = {"cli", "checks", "mediation"}
#: Collisions left to rename (each is checked to still exist, so the list only shrinks).
KNOWN: dict[str, str] = {}


def causalvae_modules() -> list[types.ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(causalvae.__path__, "causalvae.")]
    return [causalvae, *(importlib.import_module(name) for name in names)]


def _definition(obj) -> tuple[str, str] | None:
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return None
    module = getattr(obj, "__module__", None) or ""
    return (module, obj.__qualname__) if module.split(".")[0] == "causalvae" else None


def collisions(modules, exempt=frozenset()) -> dict[str, dict[tuple[str, str], list[str]]]:
    """``{name: {definition: [modules exposing it]}}`` for every name bound to two or more definitions."""
    found: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(lambda: defaultdict(list))
    for module in modules:
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        for name in names:
            definition = _definition(getattr(module, name, None))
            if definition is not None and (name, definition) not in exempt:
                found[name][definition].append(module.__name__)
    return {name: dict(defs) for name, defs in found.items() if len(defs) > 1}


def _exempt(modules) -> set[tuple[str, tuple[str, str]]]:
    from causalvae.pipeline import STAGE_TABLE

    stages = {(stage.body.__name__, _definition(stage.body)) for stage in STAGE_TABLE}
    loaders = {(name, _definition(getattr(m, name))) for m in modules if m.__name__.startswith("causalvae.data.")
               for name in LOADER_PROTOCOL if _definition(getattr(m, name, None)) == (m.__name__, name)}
    return stages | loaders


def test_no_public_name_means_two_things():
    modules = causalvae_modules()
    found = collisions(modules, exempt=_exempt(modules))
    unexpected = {name: defs for name, defs in found.items() if name not in KNOWN}
    assert not unexpected, "public names bound to different objects (rename one): " + "; ".join(
        f"{name}: " + ", ".join(f"{m}.{q} (in {', '.join(sorted(set(where)))})" for (m, q), where in defs.items())
        for name, defs in sorted(unexpected.items()))
    assert not set(KNOWN) - set(found), f"resolved, remove from KNOWN: {sorted(set(KNOWN) - set(found))}"


def test_no_two_modules_share_a_name():
    by_name = defaultdict(list)
    for info in pkgutil.walk_packages(causalvae.__path__, "causalvae."):
        by_name[info.name.rsplit(".", 1)[-1]].append(info.name)
    shared = {name: where for name, where in by_name.items() if len(where) > 1 and name not in LAYER_ROLES}
    assert not shared, f"module names used twice: {shared}"


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def test_the_detector_finds_a_planted_collision_and_accepts_reexports():
    def site_info():
        pass

    def other():
        pass

    site_info.__module__, other.__module__ = "causalvae.a", "causalvae.b"
    other.__qualname__ = "site_info"
    a = _module("causalvae.a", site_info=site_info)
    reexport = _module("causalvae.c", site_info=site_info, __all__=["site_info"])
    assert collisions([a, reexport]) == {}                                         # same object twice: fine
    b = _module("causalvae.b", site_info=other)
    assert set(collisions([a, b, reexport])) == {"site_info"}                      # different objects: found
    assert collisions([a, b], exempt={("site_info", ("causalvae.b", "site_info"))}) == {}
    private = _module("causalvae.d", _site_info=other)
    assert collisions([a, private]) == {}                                          # private names are free
