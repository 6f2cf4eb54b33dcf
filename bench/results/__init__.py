"""The run directory: the results store, its writer (``store``), the tables' columns (``schema``), one
writer at a time (``runlock``) and a generated paper-size store (``rehearsal``)."""
