"""Tools built on the framework: they use models, they do not define maths.

summary.py    ``mt.summary``: shapes, parameters and multiply-accumulates, layer by layer
convert.py    ``mt.fc_to_conv``: a classifier's fully connected head rewritten as convolutions
viz.py        ``mt.viz``: the autograd graph as Graphviz dot
detection/    digits found in a picture: background class, one pass, tiles, pyramid, NMS
"""
