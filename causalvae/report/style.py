"""The report's inline stylesheet (no external fonts or resources)."""

CSS = """
:root { --ink: #1f2328; --muted: #5b6470; --line: #d8dee4; --accent: #2f5d8a; --bad: #9a2a2a;
        --bad-bg: #fbeaea; --ok: #1f6f3f; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5;
       font: 15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Arial, sans-serif; }
header { background: var(--accent); color: #fff; padding: 1.4rem 2rem 1.1rem; }
header h1 { margin: 0 0 .3rem; font-size: 1.6rem; font-weight: 600; }
header .facts { margin: 0; color: #dce6f0; font-size: .95rem; }
nav { position: sticky; top: 0; z-index: 1; background: #fff; border-bottom: 1px solid var(--line);
      padding: .45rem 2rem; font-size: .9rem; display: flex; flex-wrap: wrap; gap: .2rem 1.1rem; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
main { max-width: 1240px; margin: 0 auto; padding: 0 2rem 3rem; }
section { padding-top: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: 1.2rem; }
h2 { font-size: 1.25rem; margin: .4rem 0 .8rem; color: var(--accent); }
h3 { font-size: 1.02rem; margin: 1rem 0 .5rem; }
figure { margin: 0 0 1.4rem; }
figcaption, .note { color: var(--muted); font-size: .88rem; margin: .35rem 0 .6rem; }
img.plot { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px;
           background: #fff; }
img.traversals { max-width: 640px; }
svg.drawing { display: block; width: 100%; height: auto; margin: 0 auto; }
.drawing-box { background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: .4rem; }
.drawing-box.tall svg.drawing { max-height: 900px; }
.overlay { display: grid; grid-template-columns: minmax(260px, 420px) 1fr; gap: 1.2rem; align-items: start; }
ul.legend { list-style: none; padding: 0; margin: 0 0 .6rem; font-size: .9rem; }
ul.legend li { margin: .25rem 0; }
.swatch { display: inline-block; width: 2.2em; height: 0; border-top: 3px solid; vertical-align: middle;
          margin-right: .5em; }
.swatch.missing { border-top-style: dashed; }
.warnings { background: #fff6e5; border: 1px solid #e8b44c; border-left: 5px solid #d9730d; border-radius: 4px;
            padding: .5rem .9rem; margin: .6rem 0 1rem; }
.warnings ul { margin: .3rem 0 0; padding-left: 1.2rem; }
.warnings li { margin: .2rem 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1.2rem; }
.grid.circuits { grid-template-columns: 1fr; }
.panel p.facts { color: var(--muted); font-size: .85rem; margin: 0 0 .4rem; }
table.metrics .def { color: var(--muted); font-size: .76rem; line-height: 1.25; max-width: 300px; }
table.metrics .dir { color: var(--accent); font-weight: 600; }
.tiles { display: flex; flex-wrap: wrap; gap: .7rem; margin-bottom: 1rem; }
.tile { border: 1px solid var(--line); border-left: 4px solid var(--accent); border-radius: 4px;
        padding: .4rem .8rem; min-width: 150px; }
.tile .label { color: var(--muted); font-size: .8rem; }
.tile .value { font-size: 1.35rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .ci { color: var(--muted); font-size: .8rem; min-height: 1em; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 1rem;
         align-items: start; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .9rem .3rem; }
.card h3 { margin: .2rem 0 .4rem; color: var(--accent); }
.card table.data { width: 100%; }
.figures { display: flex; flex-wrap: wrap; gap: 0 1.6rem; align-items: flex-start; }
.figures figure { max-width: 100%; }
.figures figcaption { max-width: 560px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
.panel h3 { margin-top: 0; }
.scroll { overflow-x: auto; margin-bottom: .6rem; }
table.data { border-collapse: collapse; font-size: .88rem; font-variant-numeric: tabular-nums; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: .28rem .8rem .28rem 0;
                               text-align: left; vertical-align: top; }
table.data thead th { border-bottom: 2px solid var(--ink); }
table.data .num { text-align: right; }
table.settings td:first-child { font-family: ui-monospace, Menlo, Consolas, monospace; }
table.stages tr.ok td:nth-child(2), table.stages tr.done td:nth-child(2) { color: var(--ok); }
table.stages tr.failed td:nth-child(2), table.stages tr.partial td:nth-child(2),
table.stages tr.skipped td:nth-child(2) { color: var(--bad); font-weight: 600; }
p.missing { background: var(--bad-bg); color: var(--bad); border-left: 4px solid var(--bad);
            padding: .45rem .8rem; margin: .5rem 0; }
p.shd { font-size: 1.02rem; background: var(--panel); border-left: 4px solid var(--accent);
        padding: .5rem .8rem; }
ul.edges { font-size: .9rem; }
ul.edges li.missing strong, ul.edges li.extra strong, ul.edges li.reversed strong { color: var(--bad); }
ul.edges li.correct strong { color: var(--ok); }
details { margin: .5rem 0; }
summary { cursor: pointer; color: var(--accent); }
pre { background: var(--panel); border: 1px solid var(--line); padding: .7rem; overflow-x: auto;
      font-size: .8rem; max-height: 480px; }
footer { color: var(--muted); font-size: .8rem; text-align: center; padding: 1.2rem; }
@media (max-width: 900px) { .overlay { grid-template-columns: 1fr; } }
"""
