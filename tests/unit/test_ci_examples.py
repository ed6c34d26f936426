"""The shipped CI examples are valid YAML and every `farm` command in them parses with this CLI."""

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from farm.cli.main import app

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "ci").glob("*.yml"))
SUBSTITUTIONS = {
    r"\$\{\{ matrix\.browser \}\}": "chrome",
    r"\$\{\{ matrix\.shard \}\}": "1/3",
    r'"\$BROWSER"': "chrome",
    r"\$CI_JOB_ID": "7",
    r'"\$FARM_FAIL_UNDER"': "95",
    r'"\$\{FARM_FAIL_UNDER:-95\}"': "95",
}


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def farm_commands(document) -> list[list[str]]:
    """Every `.venv/bin/farm ...` line in the workflow's scripts (YAML has already folded `>` blocks)."""
    commands = []
    for text in strings(document):
        for line in text.splitlines():
            match = re.search(r"\.venv/bin/farm (.+)", line)
            if not match:
                continue
            command = re.split(r"\s(?:\|\||&&|;)\s", match.group(1))[0]  # the farm command, not the shell around it
            for pattern, value in SUBSTITUTIONS.items():
                command = re.sub(pattern, value, command)
            commands.append(shlex.split(command.replace("results/*/", "results/chrome")))
    return commands


def test_there_are_github_and_gitlab_examples():
    assert {p.name for p in EXAMPLES} == {"github-actions.yml", "gitlab-ci.yml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_yaml_and_its_farm_commands_parse(path):
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    commands = farm_commands(document)
    assert {c[0] for c in commands} >= {"up", "test", "report", "down"}
    for args in commands:
        command = app
        while isinstance(command, click.Group):
            command, args = command.commands[args[0]], args[1:]
        command.make_context(command.name, list(args))  # raises on an unknown option or a bad value
