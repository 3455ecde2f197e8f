"""Unit tests of the pure core, ``replay`` and the ``parse``/``replay`` commands (no broker)."""
