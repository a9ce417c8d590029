from sequence.toml_lines import LineIndex

DOC = """\
[project]
name = "p"

[venue.kraken]
feed = { kind = "sim", sim = { seed = 3 } }
external = [
  "a:1",
  "b:2",
]
[deploy.maker]
venue = "kraken"
risk.max_loss = 5
"quoted.key" = 1
text = '''
[not.a.header]
'''
after = 1

[[graph.g.edges]]
from = "a"
[[graph.g.edges]]
from = "b"
"""


def test_lines_of_tables_keys_and_arrays() -> None:
    idx = LineIndex(DOC)
    assert idx.line_of(("project", "name")) == 2
    assert idx.line_of(("venue", "kraken")) == 4
    assert idx.line_of(("venue", "kraken", "feed", "kind")) == 5
    assert idx.line_of(("venue", "kraken", "feed", "sim", "seed")) == 5
    assert idx.line_of(("venue", "kraken", "external", 1)) == 6  # falls back to the key
    assert idx.line_of(("deploy", "maker", "risk", "max_loss")) == 12
    assert idx.line_of(("deploy", "maker", "quoted.key")) == 13
    assert idx.line_of(("not", "a", "header")) is None  # inside a multi-line string
    assert idx.line_of(("deploy", "maker", "after")) == 17
    assert idx.line_of(("graph", "g", "edges", 0, "from")) == 20
    assert idx.line_of(("graph", "g", "edges", 1, "from")) == 22
