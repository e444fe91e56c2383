"""The README's and the docs' configuration examples are what a scenario of `make test`
deploys, and the README stays a front door (at most 250 lines).

A `yaml` block of README.md or of a page under docs/ that starts with
`# group_vars/<group>/main.yml` is a snippet users copy: a scenario in the suite's lanes
must set every one of its variables to the same value in that group (secrets by the same
vault variable, which the scenario generates), so the scenario's converge deploys the
snippet and its verify proves it.
The example environments (`inventory/example/*`) are deployed by the `fleet` scenario:
every variable they set, it sets too (values differ where they name the site's hosts).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VAULT_REFERENCE = re.compile(r"^\{\{\s*(vault_\w+)\s*\}\}$")


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme_snippets() -> list[tuple[str, dict[str, Any]]]:
    """(group, variables) of every group_vars snippet of the README and the docs."""
    snippets = []
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M):
            header = re.match(r"# group_vars/(\w+)/main\.yml\n", block)
            if header:
                snippets.append((header.group(1), yaml.safe_load(block)))
    return snippets


def lane_scenarios() -> list[str]:
    """The scenarios `make test` runs (the Makefile's LANES)."""
    makefile = (ROOT / "Makefile").read_text()
    lanes = next(line for line in makefile.splitlines() if line.startswith("LANES ?="))
    return [name for lane in shlex.split(lanes.split("=", 1)[1]) for name in lane.split()]


def scenario_group_vars(scenario: str, group: str) -> dict[str, Any]:
    """What a scenario's inventory sets for a group's hosts (its `all` group included)."""
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    group_vars = config.get("provisioner", {}).get("inventory", {}).get("group_vars", {})
    return {**group_vars.get("all", {}), **group_vars.get(group, {})}


def deploys(variables: dict[str, Any], snippet: dict[str, Any]) -> list[str]:
    """What keeps a scenario's variables from deploying a snippet (empty: nothing)."""
    problems = []
    for name, value in snippet.items():
        if name not in variables:
            problems.append(f"{name} is not set")
        elif variables[name] != value:
            problems.append(f"{name}: {variables[name]!r} instead of {value!r}")
        elif (
            isinstance(value, str)
            and (reference := VAULT_REFERENCE.match(value))
            and reference.group(1) not in variables
        ):
            problems.append(f"{reference.group(1)} (the vault's variable) is not set")
    return problems


SNIPPETS = readme_snippets()


def test_the_readme_has_snippets_to_check() -> None:
    assert SNIPPETS, "no `# group_vars/<group>/main.yml` yaml block in README.md or docs/"


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move the depth to docs/"


def test_every_page_the_readme_links_exists() -> None:
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?:docs|roles|inventory|playbooks)/[^)#]*)", text)
    assert links, "the README links no docs page"
    assert [link for link in links if not (ROOT / link).exists()] == []


@pytest.mark.parametrize(("group", "snippet"), SNIPPETS, ids=[", ".join(s) for _, s in SNIPPETS])
def test_a_scenario_of_the_suite_deploys_the_snippet(group: str, snippet: dict[str, Any]) -> None:
    why_not = {
        scenario: deploys(scenario_group_vars(scenario, group), snippet)
        for scenario in lane_scenarios()
    }
    deployed_by = [scenario for scenario, problems in why_not.items() if not problems]
    assert deployed_by, f"no scenario of the suite deploys the README's snippet: {why_not}"


@pytest.mark.parametrize(
    "environment", sorted(p.name for p in (ROOT / "inventory/example").iterdir() if p.is_dir())
)
@pytest.mark.parametrize("group", ["mlflow_servers", "mlflow_lb"])
def test_the_fleet_scenario_sets_what_an_example_environment_sets(
    environment: str, group: str
) -> None:
    assert "fleet" in lane_scenarios()
    path = ROOT / "inventory/example" / environment / "group_vars" / group / "main.yml"
    example = yaml.safe_load(path.read_text())
    fleet = scenario_group_vars("fleet", group)
    assert sorted(set(example) - set(fleet)) == []
