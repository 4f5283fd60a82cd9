"""Every verb of `clearstack`: its --help ends with examples, and an expected error (a ClearstackError)
comes out of every verb as the one line `clearstack COMMAND: MESSAGE`, exit 1, printed in one place."""

from __future__ import annotations

import argparse

import pytest

from clearstack import cli, dataset_cli
from clearstack.errors import ClearstackError


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, parser) of every runnable verb, e.g. (("datasets", "get"), parser)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, (*path, name))


LEAVES = list(_leaves(cli.build_parser()))
COMMANDS = [" ".join(words) for words, _ in LEAVES]
# A minimal valid command line of each verb, so argparse lets it through to its handler.
ARGS = {"ingest": ["s3://h:9000/b/p/", "--project", "p", "--name", "n"], "subset": ["--name", "n"],
        "init": ["dir", "--all-in-one", "box"], "images build": ["minio"]}


def test_the_registry_knows_every_verb():
    assert {"up", "check", "verify", "status", "down", "credentials", "ingest", "subset", "run", "demo-data",
            "datasets list", "datasets show", "datasets get", "init", "lab up", "lab down", "images build"} == set(COMMANDS)


@pytest.mark.parametrize("words,parser", LEAVES, ids=COMMANDS)
def test_every_verbs_help_ends_with_examples_of_itself(words, parser):
    text = parser.format_help()
    examples = text.split("\nexamples:\n", 1)
    assert len(examples) == 2, text
    lines = [line.strip() for line in examples[1].splitlines() if line.startswith("  clearstack ")]
    assert lines and all(line.startswith("clearstack " + " ".join(words)) for line in lines[:1]), lines


@pytest.mark.parametrize("words,parser", LEAVES, ids=COMMANDS)
def test_every_verbs_expected_error_is_one_line(words, parser, monkeypatch, capsys, tmp_path):
    command = " ".join(words)

    def refuse(*_args, **_kwargs):
        raise ClearstackError("what is wrong; Fix: what to do")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_run_playbook_verb", refuse)
    monkeypatch.setattr(cli, "_credentials", refuse)
    monkeypatch.setattr(dataset_cli, "run", refuse)  # every handler verb runs through it
    argv = [*words, *ARGS.get(command, []), *(["-i", str(tmp_path)] if _takes_inventory(parser) else [])]
    assert cli.main(argv) == cli.EXIT_ERROR
    out, err = capsys.readouterr()
    label = command.replace("images build", "images build minio")
    assert err == f"clearstack {label}: what is wrong; Fix: what to do\n"


def _takes_inventory(parser: argparse.ArgumentParser) -> bool:
    return any("--inventory" in a.option_strings for a in parser._actions)
