"""The course layer: what each notebook shows and asks, one module per notebook.

``seqlib``'s top level is the *library*: what the models are, by topic, knowing nothing of notebooks.
This package is the *course*: for notebook ``notebooks/NN_topic.ipynb``, the module
``seqlib.course.nbNN_topic`` holds the computations behind its figures and claims (returned as small
named results that unit tests also check), its widgets, and its checked exercises.  Beside them:

* :mod:`seqlib.course.explorer`: the widget core, an :class:`~seqlib.course.explorer.Explorer` ties
  controls to a pure function, a figure and a one-line summary;
* :mod:`seqlib.course.checker`: the exercise checker (``check``, ``hint``, ``solution``);
* :mod:`seqlib.course.leaderboard`: every language model of the course, scored the same way.

The library never imports this package.  In a notebook::

    from seqlib.course import check, solution
    check("02.rnn_forward", rnn_forward)
"""

from seqlib.course.checker import check, hint, solution

__all__ = ["check", "hint", "solution"]
