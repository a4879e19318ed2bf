"""``mt.viz``: draw the autograd graph behind a tensor.

    dot = mt.viz.to_dot(loss, params=dict(model.named_parameters()))   # Graphviz DOT text
    mt.viz.draw(loss, "graph.svg", params=dict(model.named_parameters()))

The graph is the one ``backward`` will walk (see autograd.py): every op that produced a tensor is
a *node* (``tensor._ctx``) and its inputs are ``ctx.parents``.  ``to_dot`` writes

* one box per op: the op's name and its output's shape and dtype;
* one ellipse per leaf: the parameter's name when ``params`` names it, else "input"/"leaf",
  with its shape and dtype; leaves that require grad are filled;
* one edge per (input -> op) in data-flow order; an input that needs no gradient (the image, a
  label, a constant) is drawn dashed, so one sees where backward stops.

``to_dot`` needs nothing but this package; ``draw`` renders the text with the optional ``graphviz``
Python package and Graphviz's ``dot`` program (``pip install minitorch_cnn[viz]`` plus the system
package ``graphviz``).  Call them before ``backward`` (or after ``backward(retain_graph=True)``):
a plain backward frees the graph as it goes.
"""
import os
import shutil

from ..io.fileio import atomic_write_bytes, atomic_write_text
from ..autograd import GraphFreedError, topological_order
from ..tensor import Tensor


def _quote(*lines):
    """A DOT string literal, one label line per argument (DOT's own line break is \\n)."""
    esc = [str(s).replace("\\", "\\\\").replace('"', '\\"') for s in lines]
    return '"' + "\\n".join(esc) + '"'


def _describe(t):
    return f"{tuple(t.shape)} {t.dtype}"


def _graph_order(root):
    """Tensors of ``root``'s graph, inputs before their users: ``autograd.topological_order``
    following *every* tensor input (also those that need no gradient), since a picture should
    show the image and the labels too."""
    try:
        return topological_order(root, every_input=True)
    except GraphFreedError:
        raise ValueError(
            "viz: this graph was freed by backward() (each node drops its links once its "
            "gradient is passed on); call to_dot/draw before backward, or use "
            "backward(retain_graph=True)") from None


def to_dot(tensor, params=None, name="graph"):
    """Graphviz DOT text of the graph that produced ``tensor``.

    ``params``: optional ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``) used to
    label leaves.  Returns a ``str``; no dependency needed.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"viz.to_dot: expected a Tensor, got {type(tensor).__name__}")
    names = {id(p): n for n, p in (params or {}).items()}
    ids = {}
    lines = [f"digraph {_quote(name)} {{", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=11];']
    edges = []
    for t in _graph_order(tensor):
        nid = ids[id(t)] = f"n{len(ids)}"
        ctx = t._ctx
        if ctx is None:
            label = names.get(id(t), "leaf" if t.requires_grad else "input")
            style = ', style=filled, fillcolor="#cfe2f3"' if t.requires_grad else ""
            lines.append(f"  {nid} [shape=ellipse, label={_quote(label, _describe(t))}"
                         f"{style}];")
            continue
        extra = ', penwidth=2' if t is tensor else ""
        lines.append(f"  {nid} [shape=box, label="
                     f"{_quote(type(ctx).__name__, _describe(t))}{extra}];")
        for p, need in zip(ctx.parents, ctx.needs_input_grad):
            if isinstance(p, Tensor):
                edges.append(f"  {ids[id(p)]} -> {nid}" + ("" if need else " [style=dashed]")
                             + ";")
    return "\n".join(lines + edges + ["}"]) + "\n"


_INSTALL = ("mt.viz.draw needs the optional extra 'viz': the graphviz Python package "
            "(pip install 'minitorch_cnn[viz]' or pip install graphviz) and Graphviz's dot "
            "program (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz). "
            "mt.viz.to_dot(tensor) gives the DOT text without either.")


def draw(tensor, path, params=None):
    """Render ``tensor``'s graph to ``path``; the format comes from its extension (.svg, .png,
    .pdf), or ``.dot``/``.gv`` for the DOT text itself.  Returns ``path``."""
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    dot = to_dot(tensor, params=params)
    if fmt in ("dot", "gv"):
        atomic_write_text(path, dot)
        return path
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"viz.draw: cannot tell the format from {path!r}; use a name ending "
                         f"in .svg, .png, .pdf or .dot")
    try:
        import graphviz
    except ImportError:
        raise ImportError(_INSTALL) from None
    if shutil.which("dot") is None:
        raise RuntimeError("the dot program was not found on PATH. " + _INSTALL)
    atomic_write_bytes(path, graphviz.Source(dot).pipe(format=fmt))
    return path
