"""Every bad input is one line and an exit code before anything is built (issue 33): the table of docs/errors.md
is this test's data, each row run as written (its example command, in a folder holding `a-file`, `a-folder` and
`results.json`) and its exit code and message checked. `<...>` in a message matches any text."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from diffbench.face import cli
from diffbench.pytest_plugin import options, paths
from fake_results import write_results

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "errors.md"


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (`\\|` is a pipe inside a cell), without their backticks."""
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [cell.strip().replace("\\|", "|").strip("`") for cell in cells]


def rows() -> list[tuple[str, str, int, str]]:
    """(bad input, example command, exit code, message) per row of the page's table."""
    lines = [line for line in PAGE.read_text().splitlines() if line.startswith("| ")]
    assert _cells(lines[0]) == ["bad input", "example", "exit", "message"]
    return [(what, example, int(code), message) for what, example, code, message in map(_cells, lines[1:])]


def _pattern(message: str) -> re.Pattern:
    return re.compile(".+".join(re.escape(part) for part in re.split(r"<[^>]*>", message)))


def _folder(path: Path) -> None:
    (path / "a-file").write_text("not a folder")
    (path / "a-folder").mkdir()
    write_results(path / "results.json", {"flux-dev-bf16-eager-nofuse-bs1": [1.0, 1.1, 1.2]}, gpu=None,
                  weights="tiny")


def _needs(example: str) -> None:
    if "/sys/" in example and (sys.platform != "linux" or paths.unwritable(Path("/sys")) is None):
        pytest.skip("needs /sys, a folder no file can be made in (Linux)")


SUITE_ROWS = [row for row in rows() if " pytest " in f" {row[1]} "]
COMMAND_ROWS = [row for row in rows() if shlex.split(row[1])[0] == "diffbench"]


def test_every_row_is_run_and_every_path_option_has_one():
    assert len(SUITE_ROWS) + len(COMMAND_ROWS) == len(rows())
    path_options = [flag for flag, kwargs in options.declared() if kwargs.get("metavar") in ("DIR", "PATH", "FILE")]
    covered = " ".join(example for _, example, _, _ in rows())
    missing = [flag for flag in [*path_options, "--weights", "--benchmark-json"] if f"{flag} " not in covered]
    assert missing == [], f"path options without a row in {PAGE.name}: {missing}"


@pytest.mark.parametrize(("what", "example", "code", "message"), SUITE_ROWS, ids=[r[0] for r in SUITE_ROWS])
def test_the_suite_says_it_in_one_line_before_building(suite, monkeypatch, what, example, code, message):
    _needs(example)
    _folder(suite.path)
    words = shlex.split(example)
    while "=" in words[0]:  # NAME=value before the command: its environment
        name, _, value = words.pop(0).partition("=")
        monkeypatch.setenv(name, value)
    assert words[0] == "pytest"
    result = suite.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *words[1:])
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == code, output
    errors = [line for line in result.stderr.lines if line.startswith("ERROR: ")]
    assert len(errors) == 1 and _pattern(message).fullmatch(errors[0].removeprefix("ERROR: ")), output
    assert "Traceback" not in output and "diffbench: [" not in output  # no scenario started


@pytest.mark.parametrize(("what", "example", "code", "message"), COMMAND_ROWS, ids=[r[0] for r in COMMAND_ROWS])
def test_the_commands_say_it_in_one_line(tmp_path, monkeypatch, capsys, what, example, code, message):
    _needs(example)
    _folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(shlex.split(example)[1:]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err and _pattern(message).fullmatch(err[-1]), err
    assert not any(line.startswith("Traceback") for line in err)


def test_diffbench_help_says_its_whole_first_paragraph(capsys):
    assert cli.main(["--help"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    first = " ".join(cli.__doc__.partition("\n\n")[0].split())
    assert first in said and first.endswith(".")  # never cut mid-sentence


@pytest.mark.parametrize(("raised", "said"), [
    (ConnectionError("Name or service not known"), "the hub cannot be reached (ConnectionError: Name or service "
                                                   "not known), so it cannot be downloaded; use --weights "
                                                   "tiny|synthetic|proxy or a local folder"),
    ("not found", "no such model on the hub (or private: log in with hf auth login), and no such folder; or "
                  "--weights tiny|synthetic|proxy"),
])
def test_a_hub_id_is_checked_with_one_quick_request(monkeypatch, tmp_path, raised, said):
    """Online, one request with a timeout (never a hang) tells a typo or an unreachable hub from a model."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import RepositoryNotFoundError

    asked = []

    def model_info(self, repo_id, timeout=None, **kwargs):
        asked.append(timeout)
        if raised == "not found":
            raise _not_found(RepositoryNotFoundError)
        raise raised

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(paths.UsageError) as error:
        paths.check_weights("example-org/no-such-model")
    assert str(error.value) == f"--weights example-org/no-such-model: {said}"
    assert asked == [paths.HUB_TIMEOUT_S]


def _not_found(cls):
    """A RepositoryNotFoundError as huggingface_hub raises it (its constructor wants an HTTP response)."""
    error = cls.__new__(cls)
    Exception.__init__(error, "404 Repository Not Found")
    return error
