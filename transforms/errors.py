"""The base class of every expected, user-facing failure of the product.

It lives here, at the bottom of the import graph, so the pure transforms (which depend on nothing in
``warehouse``) and the warehouse raise the same kind of error; ``warehouse.foundation.errors`` builds its specific
errors on it and the command line reports any of them as one clear line instead of a traceback.
"""


class CrmwhError(Exception):
    """Base class for expected, user-facing failures."""
