"""A wheel built from the repo holds the nsa_ops package (with nsa_ops.kernels and
nsa_ops.fakes) and no other top-level package."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_has_only_the_nsa_ops_package(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools installed")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("nsa_ops-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"nsa_ops"}, top
    for module in ("nsa_ops/kernels/forward.py", "nsa_ops/kernels/decode.py", "nsa_ops/fakes/selection.py"):
        assert module in names
