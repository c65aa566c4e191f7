"""docs/python.md's notebook-style example, run as written: every python block of its
section "A notebook-style example", in order, in one namespace, in a scratch directory."""
import contextlib
import io
import os
import re

import pwtest

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "python.md")


def example_blocks():
    text = open(DOC, encoding="utf-8").read()
    section = text.split("## A notebook-style example", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_notebook_example_runs():
    blocks = example_blocks()
    assert len(blocks) >= 3, "the example lost its blocks"
    here = os.getcwd()
    work = pwtest.tmp("docs-example")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    said = io.StringIO()
    try:
        namespace = {}
        with contextlib.redirect_stdout(said):
            for block in blocks:
                exec(compile(block, DOC, "exec"), namespace)
    finally:
        os.chdir(here)
    r = namespace["r"]
    assert r["decode"].calls == 4 and r["decode"].tokens == 4 and r["prefill"].tokens == 12
    assert namespace["w"].energy_j is not None
    assert "True" in said.getvalue().splitlines()      # load() gives the same energy


if __name__ == "__main__":
    pwtest.run(globals())
