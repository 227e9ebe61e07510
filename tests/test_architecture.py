"""Layering (docs/architecture.md): what each package may import, and the README's Python tour."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "neurosim"
#: Packages that simulate (or hold numba): analysis must import none of them.
SIMULATING = {"sim", "sweep", "plan", "kernels", "spiking"}
#: Plot modules waiting to move to neurosim/plot/ (they read sweep files); nothing else is exempt.
PLOT_MODULES = {"plots.py", "sweep_plots.py"}


def _imported_packages(path: Path) -> set:
    """First sub-package of ``neurosim`` named by every import in ``path`` (relative or absolute, any depth)."""
    rel = path.relative_to(PKG).parts[:-1]  # package of the module, e.g. ("analysis",)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[: len(rel) - (node.level - 1)]) if node.level - 1 <= len(rel) else []
                mod = base + (node.module.split(".") if node.module else [])
                if not node.module:  # "from .. import x": x may be a sub-package
                    for a in node.names:
                        found.add((mod + [a.name])[0])
                    continue
                names = ["neurosim." + ".".join(mod)]
            else:
                names = [node.module or ""]
        for n in names:
            parts = n.split(".")
            if parts[0] == "neurosim" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_import_walker_sees_relative_absolute_and_lazy_imports(tmp_path):
    # the checker itself must catch each spelling, else the layering test below cannot fail
    d = PKG / "analysis"
    probe = d / "_probe_layering.py"
    probe.write_text("from ..sim import simulate\nimport neurosim.sweep.grid\ndef f():\n    from ..plan import build_plan\n"
                     "    from .. import kernels\n", encoding="utf-8")
    try:
        assert {"sim", "sweep", "plan", "kernels"} <= _imported_packages(probe)
    finally:
        probe.unlink()


def test_analysis_imports_nothing_that_simulates():
    bad = {}
    for f in sorted((PKG / "analysis").glob("*.py")):
        if f.name in PLOT_MODULES:
            continue
        hit = _imported_packages(f) & SIMULATING
        if hit:
            bad[f.name] = sorted(hit)
    assert not bad, f"neurosim/analysis must stay pure maths; these modules import simulating layers: {bad}"


def test_lower_layers_do_not_import_upper_ones():
    # kernels <- network, faults <- chip <- sim <- sweep, plan; cli is on top of everything
    upper = {"kernels": {"network", "faults", "chip", "sim", "sweep", "plan", "analysis", "cli", "io"},
             "faults": {"chip", "sim", "sweep", "plan", "analysis", "cli"},
             "chip": {"sim", "sweep", "plan", "analysis", "cli"},
             "sim": {"sweep", "plan", "analysis", "cli"},
             "sweep": {"plan", "cli"},
             "plan": {"sweep", "cli"}}
    bad = {}
    for pkg, forbidden in upper.items():
        for f in sorted((PKG / pkg).rglob("*.py")):
            hit = _imported_packages(f) & forbidden
            if hit:
                bad[str(f.relative_to(PKG))] = sorted(hit)
    assert not bad, f"imports against the layering of docs/architecture.md: {bad}"


def test_readme_python_tour_runs_after_plain_import(tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Python\s+```python\n(.*?)```", text, re.S).group(1)
    assert block.startswith("import neurosim as ns\n") and "ns.analysis." in block
    script = block + "\nassert set(b) >= {'b1', 'b2', 'b3', 'b4'} and b['b3'].mean.shape == (450, 10)\nprint('tour ok')\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "tour ok" in out.stdout


def test_lazy_subpackages():
    code = ("import sys, neurosim as ns\nassert 'neurosim.plan' not in sys.modules\nassert ns.plan.build_plan\n"
            "assert ns.sweep.run_sweep and ns.analysis.plan_replicas(0.1, 1e-3).R >= 1\n"
            "try:\n    ns.no_such_layer\nexcept AttributeError:\n    print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
