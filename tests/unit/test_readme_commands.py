"""What the README check takes for a command, and which commands it leaves alone."""

from __future__ import annotations

import textwrap

import pytest

from tests.readme_commands import Marker, commands, strip_comment


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def test_shell_blocks_give_one_command_per_logical_line():
    found = commands(
        doc(
            """
            Intro.

            ```bash
            # a comment line is not a command
            scripts/demo     # install and run

            FOO=1 tool --a \\
                --b          # continued
            ```
            """
        )
    )
    assert [(c.line, c.code) for c in found] == [
        (5, "scripts/demo"),
        (7, "FOO=1 tool --a \\\n    --b"),
    ]
    assert {c.marker for c in found} == {Marker.RUN}


def test_blocks_of_other_languages_and_plain_blocks_are_not_commands():
    text = doc(
        """
        ```json
        {"a": 1}
        ```

        ```
        Config error in 'end_date': ...
        ```

        ```yaml
        plugins: []
        ```

        ```sh
        echo yes
        ```
        """
    )
    assert [c.code for c in commands(text)] == ["echo yes"]


@pytest.mark.parametrize(
    ("line", "marker"),
    [
        ("tap-spinvoices --config config.json > out.jsonl   # needs Amazon", Marker.NEEDS_AMAZON),
        ("bash .ci/run     # CI runs this: ruff, mypy, every test", Marker.CI_RUNS_THIS),
        ("meltano run tap-spinvoices target-jsonl   # output/emulator/", Marker.RUN),
        ("echo '# needs Amazon' is quoted, not a comment", Marker.RUN),
    ],
)
def test_markers_live_in_the_trailing_comment(line: str, marker: Marker):
    (command,) = commands(f"```bash\n{line}\n```\n")
    assert command.marker is marker


def test_a_marker_on_a_continuation_line_marks_the_whole_command():
    (command,) = commands("```bash\nA=1 \\\n  meltano run x y   # needs Amazon\n```\n")
    assert command.marker is Marker.NEEDS_AMAZON


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("a b # c", "a b"),
        ("a 'b # c'", "a 'b # c'"),
        ('a "#b" # c', 'a "#b"'),
        ("url=http://x/#frag", "url=http://x/#frag"),
    ],
)
def test_strip_comment_follows_shell_quoting(line: str, code: str):
    assert strip_comment(line) == code
