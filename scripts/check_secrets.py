#!/usr/bin/env python3
"""Fail when the repository holds a secret (run by `make lint`).

scripts/check_secrets.py [--root DIR]          # check the files git tracks in DIR
scripts/check_secrets.py --update-baseline     # after reviewing new placeholders

Three rules over the tracked files:
- detect-secrets (Yelp's scanner) finds nothing beyond `.secrets.baseline`, the reviewed
  list of plainly fake example values (CHANGE-ME placeholders, test fakes);
- every `vault.yml` is encrypted (starts with `$ANSIBLE_VAULT;`);
- no file is named like a key or secret (`*.key`, `*secret-key*`, `id_rsa`, ...),
  whatever its content: a generated key has no pattern a scanner could see.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

BASELINE = ".secrets.baseline"
KEY_FILE_NAME = re.compile(
    r"(^|/)([^/]*secret[-_]?key[^/]*|[^/]+\.(key|p12|pfx|jks)|id_(rsa|dsa|ecdsa|ed25519)"
    r"|[^/]*vault[-_]?pass(word)?[^/]*)$",
    re.IGNORECASE,
)


def tracked(root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, text=True
    ).stdout
    return [name for name in listed.split("\0") if name and (root / name).is_file()]


def scanner(root: Path, files: list[str]) -> list[str]:
    """What detect-secrets finds beyond the baseline (its own report lines)."""
    hook = Path(sys.executable).with_name("detect-secrets-hook")
    result = subprocess.run(
        [str(hook), "--baseline", BASELINE, *files], cwd=root, capture_output=True, text=True
    )
    if result.returncode == 0:
        return []
    # The hook also exits 3 when it only refreshed line numbers in the baseline.
    report = (result.stdout + result.stderr).strip()
    return [report] if "Secret Type" in report or "ERROR" in report else []


def plaintext_vaults(root: Path, files: list[str]) -> list[str]:
    return [
        f"{name}: an unencrypted vault (run `ansible-vault encrypt {name}`)"
        for name in files
        if Path(name).name == "vault.yml"
        and not (root / name).read_text(errors="replace").startswith("$ANSIBLE_VAULT;")
    ]


def key_files(files: list[str]) -> list[str]:
    return [
        f"{name}: named like a key or secret file; keep it out of git (.gitignore)"
        for name in files
        if KEY_FILE_NAME.search(name) and not name.endswith(".example")
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--update-baseline", action="store_true")
    args = parser.parse_args()
    root = args.root.resolve()
    files = [name for name in tracked(root) if name != BASELINE]
    if args.update_baseline:
        scan = Path(sys.executable).with_name("detect-secrets")
        baseline = subprocess.run(
            [str(scan), "scan", *files], cwd=root, capture_output=True, check=True, text=True
        ).stdout
        (root / BASELINE).write_text(baseline)
        return 0
    problems = scanner(root, files) + plaintext_vaults(root, files) + key_files(files)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check_secrets: {len(problems)} problem(s); a real secret must leave git "
              "(and be rotated); a reviewed fake value goes into the baseline with "
              "`scripts/check_secrets.py --update-baseline`", file=sys.stderr)  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
