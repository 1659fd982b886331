"""What a packager gets: one import root, no test-only code, the data the services read.

The wheel is built for real (`uv build`) and installed, with the locked versions of its
dependencies, into an empty virtualenv that has nothing of this checkout on its path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = str(Path(sys.executable).with_name("uv"))
TEST_ONLY = {"testing.py", "synthetic.py", "builders.py", "fakes.py", "conftest.py"}


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = run(UV, "build", "--wheel", "--out-dir", str(out), "--quiet")
    assert built.returncode == 0, built.stderr
    [path] = out.glob("rarematch-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty virtualenv with the wheel and the locked runtime dependencies; its bin/."""
    where = tmp_path_factory.mktemp("venv")
    venv = where / "venv"
    requirements = where / "requirements.txt"
    steps = [
        (UV, "venv", "--quiet", "--python", sys.executable, str(venv)),
        (UV, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet",
         "--output-file", str(requirements)),
        (UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         "-r", str(requirements)),
        (UV, "pip", "install", "--quiet", "--no-deps", "--python", str(venv / "bin" / "python"),
         str(wheel)),
    ]  # fmt: skip
    for step in steps:
        done = run(*step)
        assert done.returncode == 0, f"{step}: {done.stderr}"
    return venv / "bin"


def test_the_wheel_holds_one_import_root_and_no_test_only_modules(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    roots = {name.split("/", 1)[0] for name in names if ".dist-info/" not in name}
    assert roots == {"rarematch"}
    assert not [name for name in names if Path(name).name in TEST_ONLY]
    for shipped in (
        "rarematch/py.typed",
        "rarematch/eligibility/domain/data/oncotree/SOURCE.md",
        "rarematch/notifier/templates/email.txt.j2",
        "rarematch/common/contracts/case.py",
    ):
        assert shipped in names


def test_the_wheel_declares_its_license_and_urls(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    text = archive.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text
    assert "Project-URL: Source," in text
    assert "Classifier: Typing :: Typed" in text
    licenses = [name for name in archive.namelist() if "/licenses/" in name]
    assert any(name.endswith("/LICENSE") for name in licenses)


def test_an_installed_wheel_provides_rarematch_only(installed: Path) -> None:
    python = str(installed / "python")
    elsewhere = ROOT.parent  # not the checkout: nothing of it on sys.path
    for name in ("eligibility", "notifier", "rarematch_common", "common", "tests"):
        done = run(python, "-c", f"import {name}", cwd=elsewhere)
        assert done.returncode != 0, f"`import {name}` worked in a clean install"
        assert "ModuleNotFoundError" in done.stderr
    done = run(
        python,
        "-c",
        "import rarematch.eligibility.domain.evaluate, rarematch.notifier.dispatch, "
        "rarematch.common.kafka.runner, rarematch.cli",
        cwd=elsewhere,
    )
    assert done.returncode == 0, done.stderr


def test_the_installed_command_lints_and_tests_the_shipped_rules(installed: Path) -> None:
    rules = str(ROOT / "rules")
    for command in ("lint", "test"):
        done = run(str(installed / "rarematch"), "rules", command, rules, cwd=ROOT.parent)
        assert done.returncode == 0, done.stdout + done.stderr
