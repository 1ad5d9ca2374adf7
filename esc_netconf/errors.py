"""The root of every error this project raises on purpose.

Each layer has its own subtree (``NetconfError`` in the protocol, ``VimError`` at the VIM boundary,
``LifecycleError`` in the core), so an adapter can catch one subtree and translate it at its edge.
"""


class EscError(Exception):
    """Base class of all esc-netconf errors."""
