"""mt.viz: the DOT text of known graphs (structure, labels, no recursion) and one rendering."""
import re
import shutil

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F


def nodes(dot):
    return re.findall(r'^  (n\d+) \[shape=(\w+), label="([^"]*)"(.*)\];$', dot, re.M)


def edges(dot):
    return re.findall(r"^  (n\d+) -> (n\d+)( \[style=dashed\])?;$", dot, re.M)


def test_small_network_loss():
    model = mt.nn.Sequential(mt.nn.Linear(3, 4), mt.nn.ReLU(), mt.nn.Linear(4, 2))
    x = mt.randn(5, 3)
    loss = F.cross_entropy(model(x), mt.tensor(np.array([0, 1, 0, 1, 1])))
    dot = mt.viz.to_dot(loss, params=dict(model.named_parameters()))
    ns, es = nodes(dot), edges(dot)
    labels = {nid: label for nid, _, label, _ in ns}
    leaves = sorted(label.split("\\n")[0] for _, shape, label, _ in ns if shape == "ellipse")
    assert leaves == ["0.bias", "0.weight", "2.bias", "2.weight", "input"]
    ops = [label.split("\\n")[0] for _, shape, label, _ in ns if shape == "box"]
    assert len(ops) == len(ns) - 5 and ops[-1] != "Linear"
    assert "0.weight\\n(4, 3) float32" in labels.values()
    assert len(es) == 3 + 3 + (len(ops) - 2)          # two Linear(x, W, b), the rest a chain
    # data-flow order: every edge goes from an earlier node to a later one
    order = [nid for nid, *_ in ns]
    assert all(order.index(a) < order.index(b) for a, b, _ in es)
    # the input image needs no gradient: its one edge is dashed, the parameters' are not
    dashed = [a for a, _, d in es if d]
    assert [labels[a].split("\\n")[0] for a in dashed] == ["input"]
    # the loss node is the output (drawn bold) and is last
    assert ns[-1][3] == ", penwidth=2" and ns[-1][2].endswith("() float32")


def test_shared_input_is_one_node_and_leaves_requiring_grad_are_filled():
    a = mt.tensor(np.ones(3), requires_grad=True)
    y = a * a + a                                  # a used three times: one node, 3 edges
    dot = mt.viz.to_dot(y)
    ns = nodes(dot)
    assert [label.split("\\n")[0] for _, _, label, _ in ns] == ["leaf", "Mul", "Add"]
    assert "filled" in ns[0][3]
    assert len(edges(dot)) == 3 + 1               # a->Mul twice, a->Add, Mul->Add


def test_hundred_thousand_node_chain_without_recursion():
    x = mt.tensor(np.zeros(1), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    dot = mt.viz.to_dot(y)
    assert len(nodes(dot)) == 100_001 and len(edges(dot)) == 100_000


def test_freed_graph_and_bad_arguments_are_explained():
    x = mt.tensor(np.ones(2), requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(ValueError, match="freed by backward"):
        mt.viz.to_dot(y)
    with pytest.raises(TypeError, match="expected a Tensor"):
        mt.viz.to_dot(np.ones(2))
    with pytest.raises(ValueError, match=r"\.svg"):
        mt.viz.draw(x * 2, "graph.jpeg")


def test_draw_dot_text_needs_nothing(tmp_path):
    x = mt.tensor(np.ones(2), requires_grad=True)
    y = (x * 2).sum()
    mt.viz.draw(y, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == mt.viz.to_dot(y)


def test_missing_graphviz_says_what_to_install(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("No module named 'graphviz'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    x = mt.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ImportError, match=r"minitorch_cnn\[viz\].*apt-get install graphviz"):
        mt.viz.draw(x * 2, tmp_path / "g.svg")


def test_render_when_dot_exists(tmp_path):
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    model = mt.nn.Sequential(mt.nn.Conv2d(1, 2, 3), mt.nn.ReLU())
    loss = model(mt.randn(1, 1, 5, 5)).sum()
    mt.viz.draw(loss, tmp_path / "g.svg", params=dict(model.named_parameters()))
    svg = (tmp_path / "g.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "0.weight" in svg and "Conv2d" in svg
    mt.viz.draw(loss, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
