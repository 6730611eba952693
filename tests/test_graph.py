"""The DVC graph is exact, so `dvc repro` neither skips work it should redo nor redoes work
it need not:

* every project module a stage imports (statically, plus its task package, which the
  registry imports by name) is among the stage's deps, and every code dep is imported;
* every params key a stage reads is declared, and every declared key is read (each stage
  records what it read when FTPIPE_PARAMS_AUDIT is set; see ftpipe.config.Audit);
* the data directory a task's params name is a dependency of its prepare stage.
"""

from __future__ import annotations

import ast
import json
import shlex
from pathlib import Path

import pytest

from conftest import REPO, repo_params


def module_file(root: Path, name: str) -> Path | None:
    p = root / Path(*name.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def imported_modules(root: Path, path: Path) -> list[str]:
    """Every module an import statement of ``path`` names (anywhere in the file)."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            names += [mod] + [f"{mod}.{a.name}" for a in node.names]
    return names


def import_closure(root: Path, starts: list[Path]) -> set[str]:
    """Project files (ftpipe/, stages/) reachable from ``starts`` through imports."""
    seen: set[Path] = set()
    todo = list(starts)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(root, path):
            parts = name.split(".")
            if parts[0] not in ("ftpipe", "stages"):
                continue
            for i in range(1, len(parts) + 1):  # a.b.c imports a, a.b and a.b.c
                f = module_file(root, ".".join(parts[:i]))
                if f is not None and f not in seen:
                    todo.append(f)
    return {str(p.relative_to(root)) for p in seen}


def dvc_stages(root: Path = REPO) -> list[dict]:
    """Every stage of dvc.yaml (foreach resolved): name, cmd, deps and declared params."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    out = []
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            params = [k for d in stage.deps if isinstance(d, ParamsDependency) for k in d.params]
            deps = [str(Path(d.def_path)) for d in stage.deps if not isinstance(d, ParamsDependency)]
            out.append({"name": stage.name, "cmd": stage.cmd, "deps": deps, "params": params})
    return out


def stage_code(stage: dict, params: dict, root: Path = REPO) -> set[str]:
    """The stage script's import closure, plus its task's package (imported by name)."""
    argv = shlex.split(stage["cmd"])
    script = root / "stages" / (argv[argv.index("-m") + 1].split(".")[1] + ".py")
    starts = [script]
    if "--task" in argv:
        task = params[argv[argv.index("--task") + 1]]["task"]
        starts += sorted((root / "ftpipe" / "tasks" / task).rglob("*.py"))
    if script.stem == "validate":  # validates every section: imports every task of the registry
        starts += sorted((root / "ftpipe" / "tasks").rglob("*.py"))
    return import_closure(root, starts)


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


STAGES = dvc_stages()
PARAMS = repo_params()


@pytest.mark.parametrize("stage", STAGES, ids=[s["name"] for s in STAGES])
def test_deps_hold_every_imported_module(stage):
    code = stage_code(stage, PARAMS)
    missing = sorted(f for f in code if not covered(f, stage["deps"]))
    assert not missing, f"{stage['name']}: dvc.yaml deps miss {missing}"
    # One deps list serves every task of a verb (foreach): it is the union of their imports.
    verb = stage["name"].split("@")[0]
    union = set().union(*(stage_code(s, PARAMS) for s in STAGES if s["name"].split("@")[0] == verb))
    code_deps = [d for d in stage["deps"] if d.startswith(("ftpipe", "stages"))]
    stale = [d for d in code_deps if not any(covered(f, [d]) for f in union)]
    assert not stale, f"{stage['name']}: deps {stale} are imported by no {verb} stage"


def test_the_closure_finds_lazy_and_relative_imports(tmp_path):
    """The scan itself: an import inside a function and a relative import count."""
    (tmp_path / "stages").mkdir()
    (tmp_path / "ftpipe" / "sub").mkdir(parents=True)
    (tmp_path / "ftpipe" / "__init__.py").write_text("")
    (tmp_path / "ftpipe" / "sub" / "__init__.py").write_text("from . import deep\n")
    (tmp_path / "ftpipe" / "sub" / "deep.py").write_text("from ..leaf import x\n")
    (tmp_path / "ftpipe" / "leaf.py").write_text("x = 1\n")
    (tmp_path / "ftpipe" / "unused.py").write_text("")
    (tmp_path / "stages" / "s.py").write_text("def main():\n    from ftpipe.sub import deep\n")
    assert import_closure(tmp_path, [tmp_path / "stages" / "s.py"]) == {
        "stages/s.py", "ftpipe/__init__.py", "ftpipe/sub/__init__.py", "ftpipe/sub/deep.py", "ftpipe/leaf.py"}


def test_prepare_depends_on_the_data_dir_its_params_name():
    for stage in STAGES:
        if stage["name"].startswith("prepare@"):
            section = stage["name"].split("@")[1]
            assert PARAMS[section]["data"]["dir"] in stage["deps"], stage


def declared_covers(declared: str, key: str, section: str | None) -> bool:
    if key == declared or key.startswith(declared + "."):
        return True
    # a task's train section overrides the shared one: the stage reads the merged keys
    return section is not None and declared == f"{section}.train" and key.startswith("train.")


def _value(params: dict, key: str):
    node = params
    for p in key.split("."):
        node = node[p]
    return node


@pytest.mark.slow
@pytest.mark.xdist_group("repro_project")
def test_stages_declare_exactly_the_params_they_read(repro_project):
    project, _, audit = repro_project
    params = json.loads(json.dumps(__import__("yaml").safe_load((project / "params.yaml").read_text())))
    for stage in dvc_stages(project):
        name = stage["name"]
        argv = shlex.split(stage["cmd"])
        # named as ftpipe.cli names it: the script, then the section its --task (chain: --qa) gives
        given = next((argv[argv.index(f) + 1] for f in ("--task", "--qa") if f in argv), None)
        section = name.split("@")[1] if "@" in name else given
        record = audit / f"{name.split('@')[0]}{'@' + given if given else ''}.json"
        assert record.is_file(), f"{name}: no record of the params it read ({record.name})"
        read = json.loads(record.read_text())
        if not stage["params"] and name == "validate":
            continue  # declares the whole file (and reads it whole)
        undeclared = [k for k in read if not any(declared_covers(d, k, section) for d in stage["params"])]
        assert not undeclared, f"{name} reads params it does not declare in dvc.yaml: {undeclared}"
        unread = [d for d in stage["params"] if _value(params, d) != {}
                  and not any(declared_covers(d, k, section) for k in read)]
        assert not unread, f"{name} declares params it never reads: {unread}"
