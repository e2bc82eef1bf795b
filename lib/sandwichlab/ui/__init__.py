"""Dashboards: ipywidgets + plotly FigureWidgets over the compute modules.

This subpackage imports the compute modules; they never import it.
"""
