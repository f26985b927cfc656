"""The documentation runs and stays complete.

- the ``python`` blocks of README.md's quickstart and of docs/quickstart.md execute, in order;
- every sub-command of ``causalvae --help`` and every option of each is in docs/cli.md, whose
  reference part is generated from the ``--help`` outputs (``python tests/test_docs.py`` rewrites it);
- relative links of the docs pages point at files that exist.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
GENERATED_MARK = "<!-- generated from the --help outputs by `python tests/test_docs.py`; do not edit below -->"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def python_blocks(markdown: str, *, section: str | None = None) -> list[str]:
    """The ``python`` fenced blocks of ``markdown``, or of its ``## section`` only."""
    if section is not None:
        match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
        if match is None:
            raise ValueError(f"no section '## {section}' found")
        markdown = match.group(1)
    return PYTHON_BLOCK.findall(markdown)


def run_blocks(blocks: list[str], where: Path, name: str) -> dict:
    """Execute ``blocks`` in one namespace with ``where`` as working directory."""
    assert blocks, f"{name} has no python code block"
    namespace: dict = {"__name__": "__docs__"}
    cwd = os.getcwd()
    os.chdir(where)
    try:
        for i, code in enumerate(blocks):
            exec(compile(code, f"{name}[block {i}]", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def subcommands() -> dict[str, argparse.ArgumentParser]:
    from causalvae.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def cli_reference() -> str:
    """The generated part of docs/cli.md: each sub-command's help line and ``--help`` text."""
    from causalvae.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in action._choices_actions}
    os.environ["COLUMNS"] = "100"
    parts = ["## `causalvae`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in action.choices.items():
        parts += [f"## `causalvae {name}`", "", f"{helps.get(name, '')}.", "", "```text",
                  sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def test_readme_quickstart_runs(tmp_path):
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"), section="Quickstart (Python)")
    ns = run_blocks(blocks, tmp_path, "README quickstart")
    written = tmp_path / "runs" / "quickstart" / "unit_graph.graphml"
    assert written.is_file()
    from causalvae.graph import read_graphml

    G = read_graphml(written)
    assert G.graph["kind"] == "unit"
    assert G.number_of_edges() == ns["G"].number_of_edges() > 0
    assert any(n.startswith("factor.") for n in G)


def test_docs_quickstart_runs(tmp_path):
    blocks = python_blocks((DOCS / "quickstart.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    ns = run_blocks(blocks, tmp_path, "docs/quickstart.md")
    for name in ("unit.graphml", "unit.json"):
        assert (tmp_path / "runs" / "quickstart" / name).is_file(), name
    assert ns["G"].graph["min_effect"] == 0.1 and ns["G"].graph["n_tested"] > 0
    assert ns["report"].n_latents == 6


def test_every_subcommand_and_option_is_documented():
    text = CLI_DOC.read_text(encoding="utf-8")
    for name, sub in subcommands().items():
        assert f"## `causalvae {name}`" in text, f"sub-command {name!r} missing from docs/cli.md"
        section = text.split(f"## `causalvae {name}`", 1)[1].split("\n## ", 1)[0]
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in section, f"option {flag} of 'causalvae {name}' missing from docs/cli.md"


def test_cli_reference_is_current():
    text = CLI_DOC.read_text(encoding="utf-8")
    assert GENERATED_MARK in text
    documented = text.split(GENERATED_MARK, 1)[1].strip()
    normalise = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731 - wrapping may differ by terminal
    assert normalise(documented) == normalise(cli_reference()), "docs/cli.md is stale: run python tests/test_docs.py"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")) + ["../README.md"])
def test_relative_links_resolve(page):
    path = DOCS / page
    text = path.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        if target == "results.md" and not (DOCS / "results.md").exists():
            continue  # written by the paper comparison (`causalvae compare`), not by the docs
        assert (path.parent / target).exists(), f"{page} links to missing {target}"


def test_every_stage_page_is_linked_from_index():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in ("quickstart.md", "cli.md", "data.md", "models.md", "graph.md", "interventions.md", "causal.md",
                 "metrics.md", "pipeline.md", "results.md", "../graphs/README.md"):
        assert f"]({page})" in index, f"docs/index.md does not link {page}"


def test_pipeline_defaults_table_matches_run_config():
    from causalvae.pipeline.config import DATASET_DEFAULTS, QUICK_OVERRIDES, RunConfig

    text = (DOCS / "pipeline.md").read_text(encoding="utf-8")
    for dataset, d in DATASET_DEFAULTS.items():
        row = next((line for line in text.splitlines() if line.startswith("|") and dataset in line), None)
        assert row is not None, f"docs/pipeline.md has no defaults row for {dataset}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        expected = [str(d["latent_dim"]), str(d["steps"]), f"{d['n']:,}", str(d["batch_size"])]
        assert cells[1:5] == expected, f"{dataset}: documented {cells[1:5]}, RunConfig has {expected}"
        assert float(cells[5]) == d["lr"], f"{dataset}: documented lr {cells[5]}, RunConfig has {d['lr']}"
    quick = next(line for line in text.splitlines() if line.startswith("| `--quick`"))
    assert f"| {QUICK_OVERRIDES['steps']} | {QUICK_OVERRIDES['n']} |" in quick
    assert f"n_analysis = n_pairs = {QUICK_OVERRIDES['n_analysis']}" in quick
    assert f"`n_analysis` (default {RunConfig.n_analysis})" in text


def test_python_blocks_helper_finds_sections():
    text = "# t\n## A\n```python\na = 1\n```\n## B\n```python\nb = 2\n```\n"
    assert python_blocks(text, section="B") == ["b = 2\n"]
    assert len(python_blocks(text)) == 2
    with pytest.raises(ValueError, match="no section"):
        python_blocks(text, section="C")


if __name__ == "__main__":
    head = CLI_DOC.read_text(encoding="utf-8").split(GENERATED_MARK, 1)[0] if CLI_DOC.exists() else ""
    sys.path.insert(0, str(ROOT))
    from causalvae.io import write_text

    write_text(CLI_DOC, head.rstrip() + "\n\n" + GENERATED_MARK + "\n\n" + cli_reference())
    print(f"wrote {CLI_DOC}")
