"""Analyses computed from what the edges and the coordinator answer (the client's typed models):
`tca.py` transaction cost analysis of a deployment's orders, `intel.py` a symbol's market structure,
`report_html.py` the self-contained HTML report with inline SVG plots (`svg.py`)."""
