import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_and_config_group_folder_is_shipped():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    wanted = {"metagan_cli." + str(p.relative_to(ROOT / "metagan_cli")).replace("/", ".")
              for p in (ROOT / "metagan_cli").rglob("*") if p.is_dir() and p.name != "__pycache__"}
    wanted |= {"metagan_cli.conf." + p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "__pycache__"}
    wanted |= {"metagan_cli", "metagan_cli.conf"}
    assert wanted <= listed, f"add to pyproject.toml packages: {sorted(wanted - listed)}"
