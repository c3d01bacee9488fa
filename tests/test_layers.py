"""Dependencies go one way: audit's packages by layer (reports, review, oversight and
people, trail), streams never into audit (import-linter's contracts in pyproject.toml), and
no import circle anywhere in the product, imports inside functions included."""

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PRODUCT = ("assistgov", "streams", "audit", "perf")
ROOT = Path(__file__).resolve().parent.parent


def circles(*packages: str) -> list[tuple[str, str]]:
    """Pairs of modules that import each other, directly or through others."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    found = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module) - {module}:
            if graph.find_shortest_chain(importer=imported, imported=module, as_packages=False):
                found.add(tuple(sorted((module, imported))))
    return sorted(found)


def lint(extra_import: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
    """import-linter's contracts over the product, in a process of its own (in this one,
    Twisted's zope.interface confuses its option checks); with `extra_import`, as if that
    module imported the other."""
    script = (
        "import sys, grimp\n"
        "from importlinter.application import use_cases\n"
        "from importlinter.cli import lint_imports\n"
        f"extra = {extra_import!r}\n"
        "build = use_cases._build_graph\n"
        "def patched(*args, **kwargs):\n"
        "    graph = build(*args, **kwargs)\n"
        "    if extra:\n"
        "        graph.add_import(importer=extra[0], imported=extra[1], line_number=1,"
        " line_contents='')\n"
        "    return graph\n"
        "use_cases._build_graph = patched\n"
        "sys.exit(lint_imports(no_cache=True, no_logo=True))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_the_layer_contracts_hold():
    result = lint()
    assert result.returncode == 0, result.stdout


def test_no_module_of_the_product_imports_itself_round_a_circle():
    assert circles(*PRODUCT) == []


def test_the_circle_check_finds_a_circle(tmp_path, monkeypatch):
    """The check itself: two modules that import each other (one inside a function, as a
    circle is usually hidden) are found."""
    package = tmp_path / "circled"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from circled import second\n")
    (package / "second.py").write_text("def later():\n    from circled import first\n")
    (package / "third.py").write_text("from circled import first\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert circles("circled") == [("circled.first", "circled.second")]
    finally:
        for name in [name for name in sys.modules if name.startswith("circled")]:
            del sys.modules[name]


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("audit.trail.record", "audit.review.kinds", "depend one way"),  # the floor reaching up
        ("audit.oversight.blind", "audit.review.services", "depend one way"),
        ("audit.review.queue", "audit.models", "only gather them"),
        ("streams.models", "audit.trail.models", "streams never imports audit"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(importer, imported, contract):
    """The contracts are not vacuous: the product with one import across a line fails."""
    result = lint((importer, imported))
    assert result.returncode == 1
    broken = result.stdout[result.stdout.index("Broken contracts") :]
    assert contract in broken and f"{importer} -> {imported}" in broken
