"""sandwichlab: interactive explorations of deep-learning research reports.

Compute modules (``data``, ``targets``, ``losses``, ``models``, ``training``,
``metrics``, ``device``) import no widget or plotting code; the dashboards in
``sandwichlab.ui`` import them, never the reverse.  Importing the package is
cheap: torch is imported only by the modules that need it.
"""

__version__ = "0.1.0"
