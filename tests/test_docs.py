"""Every ```python block in docs/*.md and README.md runs, in order, one namespace per page.

A page's snippets are its claims: they assert what they show, so a doc that goes stale fails here.
"""
import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def python_blocks(path):
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_runs(page, tmp_path, monkeypatch):
    blocks = python_blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no python blocks")
    monkeypatch.chdir(tmp_path)              # pages may write files: keep them out of the repo
    np.random.seed(0)
    namespace = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name}[block {i + 1}]", "exec"), namespace)
        except Exception as e:  # re-raise naming the page and block
            raise AssertionError(f"{page.name}, python block {i + 1} failed: {e!r}\n{code}") from e


def test_every_doc_page_is_collected():
    assert (ROOT / "docs" / "autograd.md") in PAGES
    assert os.path.exists(ROOT / "README.md")
