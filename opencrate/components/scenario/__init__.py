"""Scenarios: a building described in TOML, loaded into the node model and simulated.

* :mod:`.format`: the records a scenario file becomes (sites, spaces,
  equipment, points, signals);
* :mod:`.parse`: reading and checking a file (``load_scenario``), errors naming
  file, line and key;
* :mod:`.build`: records to :class:`~opencrate.model.node.Node` objects, with
  auto-tags and Haystack refs;
* :mod:`.loader`: ``load_scenario_into(path, nodes)``, idempotent;
* :mod:`.signals` and :mod:`.simulate`: the :class:`~.simulate.Simulator` that
  drives the points from their signals.

``examples/office.toml`` in this package is the demo building
(``opencrate serve --demo``); the repository's ``examples/office.toml`` is the
same file.
"""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(__name__, "component:build")
