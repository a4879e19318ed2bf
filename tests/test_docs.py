"""Every ```python block in docs/*.md and README.md runs, in order, one namespace per page.

A page's snippets are its claims: they assert what they show, so a doc that goes stale fails here.
A block that needs an optional extra says so after the language, ```` ```python requires=onnx,
onnxruntime ````; it is skipped (and so must be self-contained) when one of them is not installed.
"""
import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)
REQUIRES = re.compile(r"\brequires=([\w.,]+)")


def python_blocks(path):
    return [code for _, code in python_blocks_with_info(path)]


def python_blocks_with_info(path):
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def missing_extras(info):
    """The packages a block's ``requires=`` names that are not installed."""
    m = REQUIRES.search(info)
    names = m.group(1).split(",") if m else []
    return [n for n in names if importlib.util.find_spec(n) is None]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_runs(page, tmp_path, monkeypatch):
    blocks = python_blocks_with_info(page)
    if not blocks:
        pytest.skip(f"{page.name} has no python blocks")
    monkeypatch.chdir(tmp_path)              # pages may write files: keep them out of the repo
    np.random.seed(0)
    namespace = {"__name__": f"docs_{page.stem}"}
    skipped = []
    for i, (info, code) in enumerate(blocks):
        if missing_extras(info):
            skipped.append(f"block {i + 1} needs {', '.join(missing_extras(info))}")
            continue
        try:
            exec(compile(code, f"{page.name}[block {i + 1}]", "exec"), namespace)
        except Exception as e:  # re-raise naming the page and block
            raise AssertionError(f"{page.name}, python block {i + 1} failed: {e!r}\n{code}") from e
    if skipped and len(skipped) == len(blocks):
        pytest.skip(f"{page.name}: every block needs a missing extra ({'; '.join(skipped)})")


def test_blocks_needing_a_missing_extra_are_skipped(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("```python requires=no_such_package_xyz\nraise SystemExit\n```\n"
                    "```python requires=numpy\nx = 1\n```\n```python\ny = 2\n```\n")
    infos = [info for info, _ in python_blocks_with_info(page)]
    assert [missing_extras(i) for i in infos] == [["no_such_package_xyz"], [], []]
    assert python_blocks(page) == ["raise SystemExit\n", "x = 1\n", "y = 2\n"]


def test_every_doc_page_is_collected():
    assert (ROOT / "docs" / "autograd.md") in PAGES
    assert os.path.exists(ROOT / "README.md")


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")          # [text](target) and ![alt](image)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_local_links_and_images_exist(page):
    """A picture or page a doc points at is in the repository (web addresses are not fetched)."""
    missing = [t for t in LINK.findall(page.read_text(encoding="utf-8"))
               if not re.match(r"[a-z]+:", t) and not t.startswith("#")
               and not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


def test_link_check_catches_a_missing_picture(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("![a](images/there.png) ![b](images/gone.png) [web](https://netron.app)\n")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "there.png").write_bytes(b"")
    with pytest.raises(AssertionError, match=r"gone\.png"):
        test_local_links_and_images_exist(page)
