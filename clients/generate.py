"""``make openapi``: the gateway's OpenAPI document (``clients/openapi.json``) and the Python client generated from it
(``clients/python/dosewise_client``), both built from the app itself: no server is started and nothing is fetched.

Deterministic, so that ``tests/unit/test_openapi_client.py`` can run this into a temporary directory and compare the result
with the committed files byte for byte:

- the document is the app's ``/openapi.json`` built from default settings (every variable ``Settings`` reads is ignored),
  written with sorted keys and a final newline;
- the client comes from that file, by the exact openapi-python-client and ruff of ``clients/generator-requirements.txt``
  (their own venv, ``.venv/openapi-generator``, made by ``make generator``), configured by ``clients/generator.yml``; it is
  generated into a fresh temporary directory and then replaces the package, so a module of a removed route goes too.

The generator's warnings (a response or a schema it could not turn into code) fail the run: the client would silently lack
that part. Usage: ``python clients/generate.py [--out DIR] [--generator PATH]`` (default ``--out``: this directory).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GENERATOR = REPO / ".venv" / "openapi-generator" / "bin" / "openapi-python-client"
CONFIG = HERE / "generator.yml"
PACKAGE = "dosewise_client"
SPEC = "openapi.json"  # under --out
CLIENT = Path("python") / PACKAGE  # under --out


def document() -> dict[str, Any]:
    """The OpenAPI document the gateway serves, with the defaults of every setting (the environment is not read)."""
    from dosewise.settings import Settings

    for name in [f.alias or n for n, f in Settings.model_fields.items()]:  # case-insensitive, as Settings reads them
        for key in [k for k in os.environ if k.upper() == name.upper()]:
            del os.environ[key]
    from dosewise_api.app import create_app

    return create_app(Settings()).openapi()


def spec_text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate_client(spec: Path, dest: Path, generator: Path = GENERATOR) -> None:
    """Generate the client package from ``spec`` and put it at ``dest`` (replacing whatever was there)."""
    if not generator.is_file():
        raise SystemExit(f"{generator} is missing: run `make generator` (it makes the generator's venv)")
    env = os.environ | {"PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff for the hooks
    with tempfile.TemporaryDirectory(prefix="dosewise-client-") as tmp:
        out = Path(tmp) / PACKAGE
        run = subprocess.run([str(generator), "generate", "--path", str(spec), "--output-path", str(out), "--meta", "none",
                              "--config", str(CONFIG)], env=env, cwd=tmp, capture_output=True, text=True)
        log = run.stdout + run.stderr
        if run.returncode != 0 or "encountered" in log:  # "Warning(s) encountered while generating", "Error(s) …"
            raise SystemExit(f"openapi-python-client failed or warned (exit {run.returncode}):\n{log}")
        (out / "py.typed").write_text("# Marker file for PEP 561\n", encoding="utf-8")  # --meta none writes none
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out, dest)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="writes OUT/openapi.json and OUT/python/dosewise_client")
    parser.add_argument("--generator", type=Path, default=GENERATOR, help="the openapi-python-client executable")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    spec = args.out / SPEC
    spec.write_text(spec_text(document()), encoding="utf-8")
    generate_client(spec, args.out / CLIENT, args.generator)
    print(f"wrote {spec} and {args.out / CLIENT}", file=sys.stderr)


if __name__ == "__main__":
    main()
