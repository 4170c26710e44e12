"""Thin interactive front ends over seqlib's pure functions, one module per notebook topic.

Every widget is an :class:`Explorer` (``seqlib/widgets/_explorer.py``): controls → a pure seqlib
function (covered by unit tests) → a figure and a one-line summary (CSS class ``seqlib-summary``).
The latest result is ``explorer.result``; a ``ValueError`` from the function (an extreme setting)
is shown as a message and kept in ``explorer.error``.
"""

from seqlib.widgets._explorer import Explorer
from seqlib.widgets.long_term import gradient_flow_explorer
from seqlib.widgets.rnn import temperature_explorer
from seqlib.widgets.sequence_models import ar_tau_explorer, ngram_explorer
from seqlib.widgets.welcome import moving_average_explorer

__all__ = ["Explorer", "moving_average_explorer"]
__all__ += ["ar_tau_explorer", "ngram_explorer"]
__all__ += ["temperature_explorer", "gradient_flow_explorer"]
