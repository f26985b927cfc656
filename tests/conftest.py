"""Suite-wide rules: tests marked ``browser`` or ``graphviz`` need a system tool (see system_tools)."""

from __future__ import annotations

import pytest

from system_tools import require

#: Docstring examples are collected from the package (``--doctest-modules`` over ``causalvae/``); the
#: suite's own conftest files share one basename and are plugins, not modules to collect.
collect_ignore_glob = ["conftest.py", "*/conftest.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "graphviz: needs Graphviz's `dot` command (Debian package graphviz)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    require(marker.name for marker in item.iter_markers())
